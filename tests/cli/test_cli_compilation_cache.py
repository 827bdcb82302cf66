"""The command line's persistent compilation cache: where it goes, and how to turn it off."""

import pathlib
import sys

import jax
import pytest

from jaxtrain.cli._main import CACHE_ENV, enable_compilation_cache, main


@pytest.fixture
def jax_cache_config():
    """Restores the JAX options that ``enable_compilation_cache`` sets."""
    saved = (
        jax.config.jax_compilation_cache_dir,
        jax.config.jax_persistent_cache_min_compile_time_secs,
    )
    yield
    jax.config.update("jax_compilation_cache_dir", saved[0])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", saved[1])


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"XDG_CACHE_HOME": "{tmp}"}, "{tmp}/jaxtrain/xla"),
        ({"XDG_CACHE_HOME": "{tmp}", CACHE_ENV: "{tmp}/mine"}, "{tmp}/mine"),
        ({}, "{tmp}/.cache/jaxtrain/xla"),
    ],
    ids=["xdg", "env-path", "home"],
)
def test_the_cache_directory(environ, expected, tmp_path, monkeypatch, jax_cache_config):
    environ = {name: value.format(tmp=tmp_path) for name, value in environ.items()}
    monkeypatch.setenv("HOME", str(tmp_path))  # what ~ means when XDG_CACHE_HOME is unset
    jax.config.update("jax_compilation_cache_dir", None)
    directory = enable_compilation_cache(environ)
    assert directory == pathlib.Path(expected.format(tmp=tmp_path))
    assert jax.config.jax_compilation_cache_dir == str(directory)
    assert jax.config.jax_persistent_cache_min_compile_time_secs == 0.0


@pytest.mark.parametrize("value", ["off", "0", "OFF", ""])
def test_the_opt_out_leaves_jax_alone(value, tmp_path, jax_cache_config):
    jax.config.update("jax_compilation_cache_dir", None)
    assert enable_compilation_cache({CACHE_ENV: value, "XDG_CACHE_HOME": str(tmp_path)}) is None
    assert jax.config.jax_compilation_cache_dir is None


def test_a_directory_already_configured_for_jax_is_kept(tmp_path, jax_cache_config):
    jax.config.update("jax_compilation_cache_dir", str(tmp_path / "theirs"))
    assert enable_compilation_cache({CACHE_ENV: str(tmp_path / "mine")}) == tmp_path / "theirs"
    assert jax.config.jax_compilation_cache_dir == str(tmp_path / "theirs")


def test_only_the_program_turns_the_cache_on(tmp_path, monkeypatch, jax_cache_config, capsys):
    # A missing checkpoint fails before any JAX work: the cache is set, nothing is compiled.
    jax.config.update("jax_compilation_cache_dir", None)
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "xla"))
    argv = ["hessian", str(tmp_path / "missing")]
    assert main(argv) == 1  # called from Python: the caller's JAX configuration stays
    assert jax.config.jax_compilation_cache_dir is None
    monkeypatch.setattr(sys, "argv", ["jaxtrain", *argv])
    assert main() == 1  # run as the program
    assert jax.config.jax_compilation_cache_dir == str(tmp_path / "xla")
    assert "no such directory" in capsys.readouterr().err


def test_a_cache_path_that_cannot_be_a_folder_turns_the_cache_off(
    tmp_path, jax_cache_config, capsys
):
    # A file in its place gave JAX's own warning and traceback text on every compilation.
    (tmp_path / "a-file").write_text("")
    jax.config.update("jax_compilation_cache_dir", None)
    assert enable_compilation_cache({CACHE_ENV: str(tmp_path / "a-file")}) is None
    assert jax.config.jax_compilation_cache_dir is None
    err = capsys.readouterr().err
    assert err.startswith("jaxtrain: compiled programs are not cached: cannot use ")
    assert err.count("\n") == 1 and CACHE_ENV in err


def test_a_home_that_cannot_be_found_turns_the_cache_off(jax_cache_config, capsys):
    # "~nosuchuser/x" raised RuntimeError ("Could not determine home directory") before the
    # command's own error handling: a Python traceback.
    jax.config.update("jax_compilation_cache_dir", None)
    assert enable_compilation_cache({CACHE_ENV: "~jaxtrain-no-such-user/xla"}) is None
    assert jax.config.jax_compilation_cache_dir is None
    err = capsys.readouterr().err
    assert err.startswith("jaxtrain: compiled programs are not cached: cannot use ")
    assert err.count("\n") == 1 and "~jaxtrain-no-such-user/xla" in err


def test_a_home_relative_path_and_a_url_are_not_made_as_local_names(
    tmp_path, monkeypatch, jax_cache_config
):
    # "~/x" was made as a folder named "~" in the working folder, "gs://b/c" as "gs:/b/c".
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    jax.config.update("jax_compilation_cache_dir", None)
    assert enable_compilation_cache({CACHE_ENV: "~/xla"}) == tmp_path / "home" / "xla"
    assert (tmp_path / "home" / "xla").is_dir() and not (tmp_path / "~").exists()
    jax.config.update("jax_compilation_cache_dir", None)
    assert enable_compilation_cache({CACHE_ENV: "gs://bucket/xla"}) == "gs://bucket/xla"
    assert jax.config.jax_compilation_cache_dir == "gs://bucket/xla"
    assert not (tmp_path / "gs:").exists()
