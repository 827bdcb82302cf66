"""Diagnosis: JSON, Markdown and PNG renderings of a verdict and its evidence."""

import dataclasses
import json

import jax
import jax.numpy as jnp
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest

from jaxtrain._output_dir import MANIFEST, OutputDir
from jaxtrain.diagnose import (
    HEADLINES,
    CandidateResult,
    Diagnosis,
    Thresholds,
    analyze_stall,
    decide,
    remedies,
)
from jaxtrain.diagnose._critical_point import curvature_check


def make_diagnosis():
    steps = np.arange(1, 101)
    shallow = CandidateResult(
        "shallow",
        50,
        [0.10, 0.12],
        [0.15, 0.16],
        [0.15, 0.17],
        seeds=[0, 1],
        curves=[2.0 / steps, 2.1 / steps],
        grad_norms=[np.ones(100), np.ones(100)],
        heldout_curves=[[1.0, 0.5, 0.2], [1.0, 0.6, 0.2]],
    )
    deep = CandidateResult(
        "deep/12 layers",
        900,
        [0.95, float("nan")],
        [1.0, 1.0],
        [1.0, 1.0],
        test_loss=[1.1, 1.2],
        seeds=[0, 1],
        curves=[np.full(100, 2.0), np.full(100, 2.1)],
    )
    decision = decide([shallow, deep], baseline=2.0)
    stall = analyze_stall(np.full(100, 2.0), initial_grad_norm=1.0, final_grad_norm=1e-4)
    saddle = curvature_check(
        lambda w: (1.0 - w[0] * w[1]) ** 2, jnp.zeros(2), dense_max_params=10, key=jax.random.key(0)
    )
    stall = dataclasses.replace(stall, seed=0, curvature=saddle)
    return Diagnosis(
        verdict=decision.verdict,
        reasons=decision.reasons,
        remedies=tuple(remedies(decision.verdict, stall=stall)),
        candidates=(shallow, deep),
        primary="deep/12 layers",
        baseline=2.0,
        task="classification",
        numbers=decision.numbers,
        stall=stall,
        thresholds=Thresholds(),
        budget={"steps": 100, "seeds": [0, 1]},
        seconds=1.5,
    )


def test_to_json_is_strict_json_and_matches_to_dict():
    d = make_diagnosis()
    text = d.to_json()
    assert "NaN" not in text
    loaded = json.loads(text)
    assert loaded == d.to_dict()
    assert loaded["verdict"] == "optimization"
    assert loaded["headline"] == HEADLINES["optimization"]
    deep = loaded["candidates"][1]
    assert deep["train_loss"] == [0.95, None]
    assert deep["test_loss"] == [1.1, 1.2]
    assert len(deep["curves"]) == 2 and len(deep["curves"][0]) == 100
    assert loaded["numbers"]["comparisons"][0]["candidate"] == "shallow"
    assert loaded["thresholds"]["large_gap"] == 0.1
    assert loaded["stall"]["curvature"]["kind"] == "saddle"
    assert loaded["stall"]["seed"] == 0 and loaded["stall"]["stalled"] is True
    assert loaded["stall"]["curvature"]["extreme_eigenvalues"] == [-2.0, 2.0]


def test_markdown_has_verdict_reasons_table_stall_and_remedies():
    md = make_diagnosis().to_markdown()
    assert md.startswith("# Diagnosis: optimization\n")
    assert "## Why" in md and "## Remedies" in md and "## Settings" in md
    assert "| shallow | 50 | 0.11 (0.055×B) |" in md
    assert "| deep/12 layers ★ | 900 |" in md
    assert "| test |" in md
    assert "| shallow | simpler |" in md
    assert "Hessian (dense, 2 parameters): 1 negative eigenvalue (" in md
    assert "a saddle point" in md
    assert "## Where training stalled (deep/12 layers, seed 0)\n\nTraining stalled at step 0" in md
    assert "1. Training sits at a saddle point" in md  # its remedy comes first
    assert "Baseline B = 2 (cross-entropy of predicting the class prior)" in md


def test_plot_curves_draws_one_median_line_per_candidate():
    matplotlib.use("Agg")
    d = make_diagnosis()
    ax = d.plot_curves()
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels[:2] == ["shallow (50 params)", "deep/12 layers (900 params) ★"]
    np.testing.assert_allclose(
        ax.get_lines()[0].get_ydata(), np.median([2.0, 2.1]) / 2.0 / np.arange(1, 101)
    )
    assert ax.get_yscale() == "log"
    ax = d.plot_candidate("shallow")
    assert len(ax.get_lines()) == 4  # two seeds: a training line and held-out dots each


def test_plot_curves_shows_every_loss_the_verdict_reads_and_the_stall_step():
    # The verdict compares training, held-out and validation (and test) losses: all are drawn.
    matplotlib.use("Agg")
    d = make_diagnosis()
    ax = d.plot_curves()
    lines = {line.get_label(): line for line in ax.get_lines()}
    held = lines["_shallow held-out"]
    np.testing.assert_allclose(held.get_xdata(), [100 / 3, 200 / 3, 100])  # after each epoch
    np.testing.assert_allclose(
        held.get_ydata(), np.median([[1.0, 0.5, 0.2], [1.0, 0.6, 0.2]], 0) / 2
    )
    for name, split, value in [
        ("shallow", "validation", np.mean([0.15, 0.17])),
        ("deep/12 layers", "validation", 1.0),
        ("deep/12 layers", "test", 1.15),
    ]:
        marker = lines[f"_{name} {split}"]
        assert list(marker.get_xdata()) == [100]
        assert marker.get_ydata()[0] == pytest.approx(value / 2.0)
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert "held-out (same distribution), per epoch" in legend
    assert "validation, at the end" in legend and "test, at the end" in legend
    stall = lines[f"stall check: step {d.stall.stall_step}"]
    assert list(stall.get_xdata()) == [d.stall.stall_step + 1] * 2  # steps are drawn from 1
    plt.close(ax.figure)


def test_save_writes_json_markdown_and_pngs(tmp_path):
    d = make_diagnosis()
    written = d.save(tmp_path / "out")
    names = sorted(p.name for p in written)
    assert names == [
        "curves_deep_12_layers.png",
        "curves_shallow.png",
        "diagnosis.json",
        "diagnosis.md",
        "training_curves.png",
    ]
    for path in written:
        if path.suffix == ".png":
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (
        json.loads((tmp_path / "out" / "diagnosis.json").read_text())["verdict"] == "optimization"
    )
    assert (
        "![training_curves](training_curves.png)" in (tmp_path / "out" / "diagnosis.md").read_text()
    )


def test_save_replaces_a_link_in_the_folder_and_never_writes_through_it(tmp_path):
    # A link placed at a name diagnose writes let it overwrite a file outside the folder.
    victim = tmp_path / "victim.json"
    victim.write_text("keep")
    out = tmp_path / "out"
    out.mkdir()
    (out / "diagnosis.json").symlink_to(victim)
    make_diagnosis().save(out)
    assert victim.read_text() == "keep"
    assert not (out / "diagnosis.json").is_symlink()
    assert json.loads((out / "diagnosis.json").read_text())["verdict"] == "optimization"


def test_a_save_into_its_own_earlier_output_leaves_none_of_its_stale_files(tmp_path):
    # Before: the earlier save's curves_shallow.png stayed beside the new files, and the
    # manifest still listed it as jaxtrain diagnose's.
    out = tmp_path / "out"
    make_diagnosis().save(out)
    (out / "notes.txt").write_text("mine")
    OutputDir(out, "jaxtrain hessian").write_text("hessian.json", "{}")
    d = make_diagnosis()
    d = dataclasses.replace(d, candidates=d.candidates[1:])
    written = d.save(out)
    names = sorted(p.name for p in written)
    assert names == [
        "curves_deep_12_layers.png",
        "diagnosis.json",
        "diagnosis.md",
        "training_curves.png",
    ]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [MANIFEST, "hessian.json", "notes.txt", *names]
    )
    manifest = json.loads((out / MANIFEST).read_text())["written_by"]
    assert manifest == {"jaxtrain diagnose": names, "jaxtrain hessian": ["hessian.json"]}


def test_candidate_lookup():
    d = make_diagnosis()
    assert d.candidate("shallow").n_params == 50
    with pytest.raises(KeyError, match="no candidate"):
        d.candidate("wide")


def test_candidate_result_validates_seed_counts():
    with pytest.raises(ValueError, match="no training loss"):
        CandidateResult("m", 1, [], [], [])
    with pytest.raises(ValueError, match="one value per seed"):
        CandidateResult("m", 1, [0.1, 0.2], [0.1], [0.1, 0.2])


def test_json_tells_an_infinite_loss_from_an_unmeasured_one():
    # Before: the validation loss overflowed (measured, +inf) and there was no test set (not
    # measured); diagnosis.json wrote both as null. Now NaN / not measured is null and ±inf
    # is "Infinity" / "-Infinity", jaxtrain's one spelling (jaxtrain._json).
    inf = float("inf")
    r = CandidateResult("mlp", 10, [0.01, 0.01], [0.02, 0.02], [inf, inf])
    decision = decide([r], baseline=1.0)
    d = Diagnosis(
        decision.verdict, decision.reasons, (), (r,), "mlp", 1.0, "classification",
        numbers=decision.numbers,
    )  # fmt: skip
    report = json.loads(d.to_json())
    assert report["numbers"]["relative_losses"]["mlp"]["val"] == "Infinity"
    assert report["numbers"]["relative_losses"]["mlp"]["test"] is None
    assert report["numbers"]["gaps"]["val"] == "Infinity"
    assert report["candidates"][0]["val_loss"] == ["Infinity", "Infinity"]
    assert report["candidates"][0]["test_loss"] == []


def test_candidates_whose_names_clean_to_one_file_name_get_one_file_each():
    # Before: "net 1" and "net_1" both wrote curves_net_1.png, the second over the first, and
    # diagnosis.md showed one picture for both. Names that differ only in case are kept apart
    # too: a case-insensitive file system (macOS, Windows) would make them one file.
    from jaxtrain.diagnose._diagnosis import curve_file_names

    assert curve_file_names(["net 1", "net_1", "Net_1", "mlp", "net_1-2"]) == [
        "curves_net_1.png",
        "curves_net_1-3.png",
        "curves_Net_1-4.png",
        "curves_mlp.png",
        "curves_net_1-2.png",
    ]
