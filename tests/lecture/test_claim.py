"""The lecture's records and the examples' runner, on stand-in experiments (no training)."""

import dataclasses
import os

import matplotlib.pyplot as plt
import numpy as np
import pytest

from jaxtrain import lecture
from jaxtrain.lecture._claim import rounded_apart


def _experiment(section_id, claim_id):
    def experiment(config, seed=0):
        fig, ax = plt.subplots(figsize=(3, 2))
        ax.plot([0, 1], [seed, config.size(quick=1, full=2)])
        numbers = {"seed": seed, "size": config.size(quick=1, full=2)}
        return lecture.Claim(
            section_id, claim_id, "A title", numbers, fig, f"size {numbers['size']}"
        )

    experiment.__name__ = claim_id
    return experiment


SECTION = lecture.Section(
    id="stand_in",
    title="0. A stand-in",
    summary="Nothing is trained.",
    experiments=(_experiment("stand_in", "first"), _experiment("stand_in", "second")),
)


def test_config_sizes_and_is_hashable():
    assert lecture.LectureConfig(quick=True).size(quick=8, full=30) == 8
    assert lecture.LectureConfig().size(quick=8, full=30) == 30
    assert hash(lecture.LectureConfig(quick=True)) == hash(lecture.LectureConfig(quick=True))
    with pytest.raises(dataclasses.FrozenInstanceError):
        lecture.LectureConfig().quick = True


def test_section_runs_its_experiments_in_order():
    claims = list(SECTION.claims(lecture.LectureConfig(quick=True), seed=5))
    assert [claim.id for claim in claims] == ["first", "second"]
    assert claims[0].numbers == {"seed": 5, "size": 1}
    assert claims[0].name == "stand_in-first"
    plt.close("all")


def test_section_refuses_a_claim_of_another_section():
    wrong = lecture.Section("stand_in", "t", "s", (_experiment("elsewhere", "first"),))
    with pytest.raises(ValueError, match="made a claim of section 'elsewhere', not 'stand_in'"):
        list(wrong.claims(lecture.LectureConfig()))
    plt.close("all")


def test_claim_saves_a_png_and_shows_in_a_notebook(tmp_path):
    claim = _experiment("stand_in", "first")(lecture.LectureConfig(), 0)
    path = claim.save(tmp_path / "new")
    assert path == tmp_path / "new" / "stand_in-first.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = claim._repr_html_()
    assert page.count('<img src="data:image/png;base64,') == 1
    assert "<figcaption><b>A title.</b> size 2</figcaption>" in page
    # Shown once: the figure is closed for pyplot, and it still saves.
    assert claim.figure.number not in plt.get_fignums()
    assert claim.save(tmp_path).stat().st_size > 0


def test_sections_are_the_lectures_six_in_order():
    ids = [section.id for section in lecture.SECTIONS]
    assert ids == [
        "task_strategy",
        "critical_points",
        "batch_and_momentum",
        "adaptive_learning_rate",
        "loss_functions",
        "batch_normalization",
    ]
    assert [section.title[0] for section in lecture.SECTIONS] == list("123456")
    assert lecture.section("loss_functions").id == "loss_functions"
    with pytest.raises(ValueError, match="no lecture section 'nope'; choose from"):
        lecture.section("nope")


def test_run_example_writes_into_the_folder_itself(tmp_path, capsys):
    claims = lecture.run_example(SECTION, ["--quick", "--out", str(tmp_path), "--seed", "2"])
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".jaxtrain-output.json",  # the manifest: the folder is the examples' own output
        "stand_in-first.png",
        "stand_in-second.png",
    ]
    assert [claim.numbers["seed"] for claim in claims] == [2, 2]
    out = capsys.readouterr().out
    assert out.startswith("0. A stand-in\n") and out.count("size 1") == 2
    assert f"wrote {tmp_path / 'stand_in-second.png'}" in out
    assert not plt.get_fignums()
    assert np.isfinite(claims[0].numbers["size"])


def test_claim_save_replaces_a_link_and_never_writes_through_it(tmp_path):
    victim = tmp_path / "victim.png"
    victim.write_bytes(b"keep")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "stand_in-first.png").symlink_to(victim)
    path = _experiment("stand_in", "first")(lecture.LectureConfig(), 0).save(tmp_path / "out")
    plt.close("all")
    assert victim.read_bytes() == b"keep"
    assert not path.is_symlink() and path.read_bytes()[:4] == b"\x89PNG"


def _no_experiment(config, seed=0):
    raise AssertionError("an experiment ran before --out was checked")


def test_run_example_refuses_a_foreign_folder_before_running_and_reruns_its_own(tmp_path, capsys):
    (tmp_path / "stand_in-first.png").write_bytes(b"mine")
    unrun = lecture.Section("stand_in", "0. Not run", "Refused first.", (_no_experiment,))
    with pytest.raises(SystemExit) as refused:
        lecture.run_example(unrun, ["--quick", "--out", str(tmp_path)])
    assert refused.value.code == 2 and (tmp_path / "stand_in-first.png").read_bytes() == b"mine"
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not an earlier output of the lecture examples" in err
    lecture.run_example(SECTION, ["--quick", "--out", str(tmp_path), "--overwrite"])
    lecture.run_example(SECTION, ["--quick", "--out", str(tmp_path), "--seed", "1"])
    assert (tmp_path / "stand_in-first.png").read_bytes()[:4] == b"\x89PNG"


def test_numbers_text_shows_named_numbers_rounded():
    numbers = {
        "loss": 0.123456,
        "steps": 300,
        "curve": np.linspace(1.0, 0.0, 50),
        "short": np.array([0.5, 0.25]),
        "accuracy": {"with it": 0.95, "without": 0.1},
        "a/b": 1.0,
    }
    claim = lecture.Claim("s", "c", "T", numbers, None, "")
    text = claim.numbers_text("loss", "steps", "curve", "short", "accuracy", "accuracy/without")
    assert text.splitlines() == [
        "loss = 0.1235",
        "steps = 300",
        "curve = [1, …, 0] (50 values)",
        "short = [0.5, 0.25]",
        "accuracy:",
        "  with it = 0.95",
        "  without = 0.1",
        "accuracy/without = 0.1",
    ]
    # A key that holds a slash is found as it is.
    assert claim.numbers_text("a/b") == "a/b = 1"
    with pytest.raises(KeyError, match=r"claim s-c has no number 'accuracy/test'; there: \["):
        claim.numbers_text("accuracy/test")


@pytest.mark.parametrize("seed", ["-1", str(2**32), "99999999999999999999999"])
def test_run_example_refuses_a_seed_the_tour_refuses(seed, tmp_path, capsys):
    # They ran (or half ran, with a traceback); 2**32 gave jax the key of seed 0 and NumPy
    # another seed.
    unrun = lecture.Section("stand_in", "0. Not run", "Refused first.", (_no_experiment,))
    with pytest.raises(SystemExit) as refused:
        lecture.run_example(unrun, ["--out", str(tmp_path / "out"), "--seed", seed])
    assert refused.value.code == 2 and "in [0, 2**32)" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_run_example_compiles_with_the_tours_settings(tmp_path, monkeypatch):
    # The examples compiled with XLA's defaults, the tour and the tests with the fast-compile
    # flags: the same seed gave other roundings (one caption's conclusion flipped).
    from jaxtrain._fast_compile import fast_compile_flags

    monkeypatch.setenv("XLA_FLAGS", "")
    lecture.run_example(SECTION, ["--quick", "--out", str(tmp_path)])
    flags = os.environ["XLA_FLAGS"].split()
    assert all(f"--{k}={v}" in flags for k, v in fast_compile_flags().items())


@pytest.mark.parametrize(
    ("array", "shown"),
    [
        # One diverged seed of a (seeds, steps) array hid every finite value: "from n/a to n/a".
        (
            np.array([[1.0, 0.8, 0.5], [1.0, np.nan, np.nan]]),
            "array of shape (2, 3), from 0.5 to 1 (2 of 6 not finite)",
        ),
        (
            np.array([[1.0, np.inf], [0.25, 2.0]]),
            "array of shape (2, 2), from 0.25 to 2 (1 of 4 not finite)",
        ),
        (np.array([[0.5, 1.0], [0.75, 0.5]]), "array of shape (2, 2), from 0.5 to 1"),
        (np.full((2, 2), np.nan), "array of shape (2, 2), from n/a to n/a"),
    ],
)
def test_numbers_text_of_an_array_shows_the_range_of_its_finite_values(array, shown):
    claim = lecture.Claim("s", "c", "T", {"curves": array}, None, "")
    assert claim.numbers_text("curves") == f"curves = {shown}"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        # Ragged (one seed stopped early) and empty lists raised inside every renderer.
        ([[1.0, 2.0], [3.0]], "[[1, 2], [3]]"),
        ([[[]]], "array of shape (1, 1, 0), empty"),
    ],
)
def test_numbers_text_of_ragged_or_empty_lists(value, shown):
    claim = lecture.Claim("s", "c", "T", {"curves": value}, None, "")
    assert claim.numbers_text("curves") == f"curves = {shown}"
    assert rounded_apart([value]) == [shown]
