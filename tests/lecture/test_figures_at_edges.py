"""Figures drawn from hand-built numbers at their edges (a diverged run's NaN, a target no run
reached): each draws, and draws what its caption says. No training runs."""

import math

import numpy as np

from jaxtrain.lecture import batch_and_momentum as bm
from jaxtrain.lecture import task_strategy as ts
from jaxtrain.lecture._claim import png_bytes

NAN = math.nan


def _bar_labels(ax):
    return [text.get_text() for text in ax.texts]


def test_the_overfitting_figure_and_caption_of_a_diverged_run():
    # diagnose records a diverged run's losses as NaN. The figure's y-limit came from max(),
    # NaN there, and set_ylim raised; the caption's max(0.002, NaN) = 0.002 read "Both models
    # fit their training data (training loss 0.00 B and n/a B)".
    numbers = {
        "seeds": 1,
        "few": 80,
        "noise": 0.2,
        "large_train_loss": 0.2,
        "large_gap": 0.1,
        "overfitting_case_verdict": "overfitting",
        "overfitting_case_loss_over_baseline": {"train": 0.002, "heldout": 3.6, "val": 3.6},
        "mismatch_case_verdict": "optimization",
        "mismatch_case_loss_over_baseline": {"train": NAN, "heldout": NAN, "val": NAN},
    }
    figure = ts._overfitting_figure(numbers)
    assert png_bytes(figure)
    spirals, digits = figure.axes
    assert _bar_labels(digits) == ["n/a"] * 3 and _bar_labels(spirals) == ["0.00", "3.60", "3.60"]
    assert spirals.get_ylim() == (0.0, 1.15 * 3.6)
    caption = ts._overfitting_caption(numbers)
    assert caption.startswith("Not both models fit their training data"), caption


def test_the_flowchart_figure_of_a_diverged_first_candidate():
    # The linear model (the first candidate) diverged: max() started at its NaN.
    numbers = {
        "verdict": "optimization",
        "primary": "linear",
        "candidates": ["linear", "mlp"],
        "n_params": {"linear": 9, "mlp": 771},
        "large_train_loss": 0.2,
        "train_loss_over_baseline": {"linear": NAN, "mlp": 0.13},
        "val_loss_over_baseline": {"linear": NAN, "mlp": 1.6},
        "curves": {
            "mlp": np.linspace(1, 0.13, 153)[None],
            "linear": np.r_[np.linspace(1, 0.9, 100), np.full(53, NAN)][None],
        },
    }
    figure = ts._model_bias_figure(numbers)
    assert png_bytes(figure)
    bars = figure.axes[1]
    assert _bar_labels(bars) == ["n/a", "n/a", "0.13", "1.60"]
    assert bars.get_ylim() == (0.0, 1.15 * 1.6)


def test_the_critical_batch_figure_when_no_size_reached_the_target():
    # The caption says the target "was not reached at any batch size"; the steps panel kept a
    # log y-axis with nothing on it, and drawing raised "Data cannot be log-scaled".
    sizes = np.array([1, 16, 1000])
    curve = {
        "loss_step": np.arange(5),
        "loss": np.linspace(1.0, 0.5, 5),
        "noise_step": np.arange(5),
        "noise_scale": np.full(5, 50.0),
    }
    numbers = {
        "batch_size": sizes,
        "target_loss": 0.2,
        "learning_rate": 0.05,
        "num_examples": 1000,
        "window": 200,
        "curves": {f"B={b}": curve for b in sizes},
        "steps": np.full(3, NAN),
        "run_steps": np.array([1000, 992, 1000]),
        "noise_scale": np.array([NAN, 60.0, 90.0]),
        "s_min": NAN,
        "b_crit": NAN,
        "b_simple": 90.0,
    }
    assert bm._critical_caption(numbers).endswith("not reached at any batch size.")
    figure = bm._critical_figure(numbers)
    assert png_bytes(figure)
    steps_panel = figure.axes[1]
    assert "not reached at any batch size" in " ".join(_bar_labels(steps_panel))
