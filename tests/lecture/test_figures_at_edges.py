"""Figures drawn from hand-built numbers at their edges (a diverged run's NaN, a target no run
reached): each draws, and draws what its caption says. No training runs."""

import math

import numpy as np

from jaxtrain.diagnose._cross_validate import lowest_finite
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


_NAMES = ["linear", "mlp-1x16-relu", "mlp-2x128-relu"]


def _selection_numbers(fold, test, choice):
    return dict(
        candidates=_NAMES, points=120, test_points=2000, noise=0.2, folds=3, steps=300,
        learning_rate=0.01, fold_val_loss=dict(zip(_NAMES, fold, strict=True)),
        fold_val_loss_std={
            n: (0.1 if math.isfinite(f) else NAN) for n, f in zip(_NAMES, fold, strict=True)
        },
        train_loss=dict(zip(_NAMES, (0.66, 0.47, 0.2), strict=True)),
        test_loss=dict(zip(_NAMES, test, strict=True)), choice=choice,
        test_best=lowest_finite(dict(zip(_NAMES, test, strict=True))),
    )  # fmt: skip


def test_model_selection_when_every_candidate_diverged_in_a_fold():
    # Before: "3-fold cross-validation chooses linear ... folds n/a ± nan", and the test losses
    # compared against that "choice".
    caption = ts._selection_caption(_selection_numbers((NAN,) * 3, (0.65, 0.5, 0.79), "linear"))
    assert "makes no choice" in caption and "chooses" not in caption, caption
    assert "nan" not in caption and "disagrees" not in caption and "agrees" not in caption


def test_model_selection_never_calls_a_nan_test_loss_the_lowest():
    # Before: min() kept a NaN that came first: "linear has the lowest test loss (n/a ...)".
    numbers = _selection_numbers((0.66, 0.61, 1.98), (NAN, 0.5, 0.79), "mlp-1x16-relu")
    assert numbers["test_best"] == "mlp-1x16-relu"
    caption = ts._selection_caption(numbers)
    assert "The fresh test agrees: mlp-1x16-relu" in caption, caption
    assert lowest_finite({"a": NAN, "b": NAN}) is None


def test_the_two_class_caption_calls_a_nan_loss_nan_not_an_overflow():
    from jaxtrain.lecture import loss_functions as lf

    numbers = dict(
        tolerance=1e-5, num_pairs=2000, logit_scale=10.0, probability_max_difference=1e-7,
        loss_max_relative_difference=NAN, gradient_max_difference=1e-7, gradient_sum_max=1e-7,
        largest_loss=NAN,
    )  # fmt: skip
    caption = lf._two_class_caption(numbers)
    assert "losses up to n/a" in caption and "(a loss is NaN)" in caption, caption
    assert "overflowed" not in caption and "∞" not in caption
    caption = lf._two_class_caption({**numbers, "largest_loss": math.inf})
    assert "losses up to ∞" in caption and "(a loss overflowed)" in caption, caption


def test_the_spectrum_caption_prints_lambda_min_with_the_digits_that_place_it():
    # Before: "down to -0.0001" (3 significant digits), which reads as −tol, a near-zero
    # eigenvalue, where the same sentence had just printed -0.00010004.
    from jaxtrain.lecture import critical_points as cp

    numbers = dict(
        n_params=4, eig_tol=1e-4, eigenvalues=np.array([-1.0004e-4, 0.0, 0.5, 40.7]),
        grad_norm=1e-4, grad_tol=1e-3, num_negative=1, num_zero=1, num_positive=2,
        minimum_ratio=0.5, slice_t=np.array([-0.1, 0.1]), steepest_eigenvalue=40.7,
        flattest_eigenvalue=0.0, slice_steepest=np.array([0.2, 0.2]),
        slice_flattest=np.array([0.0, 0.0]), loss=0.0, width=8, n_examples=64, adam_steps=400,
        grad_norm_after_adam=1e-3, gradient_steps=40, lanczos_iters=40, lanczos_min=-1e-4,
        lanczos_max=40.7, lanczos_minimum_ratio=0.5,
    )  # fmt: skip
    caption = cp._spectrum_caption(numbers)
    assert "1 negative eigenvalue down to -0.00010004:" in caption, caption
