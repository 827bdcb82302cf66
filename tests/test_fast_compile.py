"""``prefer_fast_compilation``: XLA's fast-compile settings, added to a user's ``XLA_FLAGS``."""

import argparse
import os
import subprocess
import sys

import pytest

from jaxtrain import _fast_compile
from jaxtrain._fast_compile import fast_compile_flags, prefer_fast_compilation


def test_the_flags_are_added_after_the_users_own():
    environ = {"XLA_FLAGS": "--xla_force_host_platform_device_count=8"}
    prefer_fast_compilation(environ)
    flags = environ["XLA_FLAGS"].split()
    assert flags[0] == "--xla_force_host_platform_device_count=8"
    assert "--xla_backend_optimization_level=0" in flags


def test_a_setting_the_user_chose_is_kept():
    environ = {"XLA_FLAGS": "--xla_backend_optimization_level=3"}
    prefer_fast_compilation(environ)
    assert "--xla_backend_optimization_level=3" in environ["XLA_FLAGS"]
    assert "xla_backend_optimization_level=0" not in environ["XLA_FLAGS"]


def test_an_empty_environment_gets_every_flag_once():
    environ: dict[str, str] = {}
    prefer_fast_compilation(environ)
    prefer_fast_compilation(environ)
    expected = [f"--{flag}={value}" for flag, value in fast_compile_flags().items()]
    assert environ["XLA_FLAGS"].split() == expected


@pytest.mark.parametrize(
    ("version", "with_cpu_flags"),
    [((0, 6), False), ((0, 7), True), ((0, 10), True), ((0, 11), False), ((), False)],
)
def test_the_cpu_flags_only_where_xla_knows_them(monkeypatch, version, with_cpu_flags):
    # XLA aborts on an unknown flag: an unchecked or unreadable jaxlib version goes without them.
    monkeypatch.setattr(_fast_compile, "_jaxlib_version", lambda: version)
    flags = fast_compile_flags()
    assert ("xla_cpu_use_fusion_emitters" in flags) == with_cpu_flags
    assert ("xla_cpu_parallel_codegen_split_count" in flags) == with_cpu_flags
    assert flags["xla_backend_optimization_level"] == "0"
    without_emitters = fast_compile_flags(elemental_emitters=False)
    assert "xla_cpu_use_fusion_emitters" not in without_emitters
    assert ("xla_cpu_parallel_codegen_split_count" in without_emitters) == with_cpu_flags


def test_the_tour_uses_the_elemental_emitters_only_at_the_quick_size(monkeypatch):
    from jaxtrain.cli import _tour

    chosen = []
    monkeypatch.setattr(_tour, "prefer_fast_compilation", lambda **kw: chosen.append(kw))
    monkeypatch.setattr(_tour, "run_tour", lambda *a, **kw: {"meta": {"seconds": 0.0}})
    for quick in (True, False):
        args = argparse.Namespace(out="unused", quick=quick, sections=None, seed=0, overwrite=False)
        assert _tour._main(args) == 0
    assert chosen == [{"elemental_emitters": True}, {"elemental_emitters": False}]


def test_the_installed_jaxlib_accepts_the_flags():
    # XLA aborts a process at its first computation on a flag it does not know.
    environ = {key: value for key, value in os.environ.items() if key != "XLA_FLAGS"}
    prefer_fast_compilation(environ)
    code = "import jax.numpy as jnp; print(float(jnp.arange(4.0).sum()))"
    done = subprocess.run(
        [sys.executable, "-c", code], env=environ, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and done.stdout.strip() == "6.0", done.stderr
