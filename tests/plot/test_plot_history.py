"""plot_history draws what a history holds at the right x positions, notes what it lacks and
refuses, with a message that says so, what it cannot place."""

import types

import matplotlib.pyplot as plt
import numpy as np
import pytest

from jaxtrain.plot import plot_history
from jaxtrain.train import History


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _lines(ax):
    return {line.get_label(): np.asarray(line.get_xdata(), float) for line in ax.get_lines()}


def _notes(ax):
    return [text.get_text() for text in ax.texts]


def test_a_validation_only_epoch_log_is_drawn_at_its_epochs():
    # No "epoch" and no "train_loss": the epochs were counted from train_loss (none), and
    # matplotlib refused x of shape (0,) against y of shape (3,).
    history = History({}, {"val_loss": [1.2, 0.9, 0.8], "val_accuracy": [0.5, 0.6, 0.7]})
    axes = plot_history(history)
    np.testing.assert_array_equal(_lines(axes[0])["val loss"], [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(_lines(axes[1])["val accuracy"], [1.0, 2.0, 3.0])
    assert axes[0].get_xlabel() == "epoch"


def test_gradient_norms_without_a_loss_are_drawn_at_their_steps():
    # The steps were counted from per_step["loss"] (none): x of shape (0,) against (4,).
    axes = plot_history(History({"grad_norm": [3.0, 2.0, 1.0, 0.5]}, {}))
    (line,) = axes[2].get_lines()
    np.testing.assert_array_equal(line.get_xdata(), [1.0, 2.0, 3.0, 4.0])
    assert axes[2].get_xlabel() == "step"
    assert _notes(axes[0]) == ["no loss recorded"]


def test_without_epoch_ends_the_steps_are_spread_evenly_over_the_epochs():
    # 40 steps, 2 epochs, no "step": the axis was in steps (1 … 40) and the epoch means sat
    # at x = 1 and 2, inside the first epoch's first steps.
    history = History(
        {"loss": np.linspace(2.0, 0.5, 40)},
        {"epoch": [1.0, 2.0], "train_loss": [1.5, 0.8], "val_loss": [1.4, 0.9]},
    )
    axes = plot_history(history)
    lines = _lines(axes[0])
    np.testing.assert_allclose(lines["step loss"][[19, 39]], [1.0, 2.0])  # each epoch's end
    np.testing.assert_array_equal(lines["train loss"], [1.0, 2.0])
    np.testing.assert_array_equal(lines["val loss"], [1.0, 2.0])
    assert axes[0].get_xlabel() == "epoch (steps spread evenly)"


def test_epoch_ends_place_the_steps_without_an_epoch_record():
    # "step" without "epoch": the epochs are 1, 2 and the steps fall where each one ended.
    history = History({"loss": np.ones(6)}, {"step": [2, 6], "train_loss": [1.0, 1.0]})
    axes = plot_history(history)
    lines = _lines(axes[0])
    np.testing.assert_allclose(lines["step loss"][[1, 5]], [1.0, 2.0])
    np.testing.assert_array_equal(lines["train loss"], [1.0, 2.0])
    assert axes[0].get_xlabel() == "epoch"


def test_a_run_without_validation_data_says_so_in_its_loss_panel():
    # The docstring promised the note; the panel showed the training curves alone.
    per_step = {"loss": np.array([2.0, 1.0, 0.8, 0.7])}
    per_epoch = {"epoch": [1.0, 2.0], "step": [2, 4], "train_loss": [1.5, 0.75]}
    assert _notes(plot_history(History(per_step, per_epoch))[0]) == ["no validation data"]
    per_epoch["val_loss"] = [1.6, 0.9]
    assert _notes(plot_history(History(per_step, per_epoch))[0]) == []


@pytest.mark.parametrize(
    ("per_step", "per_epoch", "message"),
    [
        (
            {"loss": np.ones(4), "grad_norm": np.ones(3)},
            {},
            r"per_step records must .* \{'loss': 4, 'grad_norm': 3\}",
        ),
        (
            {},
            {"epoch": [1.0, 2.0], "val_loss": [1.0]},
            r"per_epoch records must .* \{'epoch': 2, 'val_loss': 1\}",
        ),
    ],
)
def test_records_of_different_lengths_are_refused(per_step, per_epoch, message):
    # History refuses them when it is made; plot_history also takes any object with the two
    # record mappings, and refuses them there.
    with pytest.raises(ValueError, match=message):
        History(per_step, per_epoch)
    with pytest.raises(ValueError, match=message):
        plot_history(types.SimpleNamespace(per_step=per_step, per_epoch=per_epoch))


def test_records_with_no_finite_value_are_noted_not_drawn_empty():
    # An all-NaN validation loss turned the loss axis linear, drew an empty legend entry and
    # hid the "no validation data" note; an all-NaN gradient norm drew an empty panel.
    nan = float("nan")
    per_step = {"loss": np.array([2.0, 1.0, 0.8, 0.7]), "grad_norm": np.full(4, nan)}
    per_epoch = {"epoch": [1.0, 2.0], "step": [2, 4], "train_loss": [1.5, 0.75]}
    per_epoch["val_loss"] = [nan, nan]
    axes = plot_history(History(per_step, per_epoch))
    assert axes[0].get_yscale() == "log" and "val loss" not in _lines(axes[0])
    assert _notes(axes[0]) == ["no validation data"]
    assert _notes(axes[2]) == ["no finite gradient norm"] and not axes[2].get_lines()


def test_a_partial_last_batch_does_not_comb_the_batch_size_line():
    # Review (2026-12-07): 1,438 examples in batches of 64 end each epoch with 30; the per-step
    # batch sizes alternated and their dotted line was drawn as a dense comb under B_simple.
    # The line is the batch size of most steps, and the legend names it.
    batch = np.tile([64.0] * 22 + [30.0], 3)
    noise = np.linspace(10.0, 200.0, batch.size)
    history = History({"loss": np.ones(batch.size), "noise_scale": noise, "batch_size": batch}, {})
    axes = plot_history(history)
    (panel,) = [ax for ax in axes if ax.get_title() == "gradient noise scale B_simple"]
    (line,) = [line for line in panel.get_lines() if line.get_label().startswith("batch size")]
    assert line.get_label() == "batch size B = 64 (30 at 3 of 69 steps)"
    np.testing.assert_array_equal(np.unique(line.get_ydata()), [64.0])


def test_a_tie_of_batch_sizes_draws_the_full_batch():
    # Review (2026-12-07): B < N < 2B gives one full and one partial batch an epoch, a tie the
    # partial size won: "batch size B = 30 (64 at 3 of 6 steps)".
    batch = np.tile([64.0, 30.0], 3)
    history = History({"loss": np.ones(6), "noise_scale": np.ones(6), "batch_size": batch}, {})
    (panel,) = [ax for ax in plot_history(history) if ax.get_title().startswith("gradient noise")]
    labels = [line.get_label() for line in panel.get_lines()]
    assert "batch size B = 64 (30 at 3 of 6 steps)" in labels
