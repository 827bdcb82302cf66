"""History: arrays in, strict JSON out and back, and its pictures."""

import json

import jax
import matplotlib.pyplot as plt
import numpy as np
import optax
import pytest
from train_problems import LOSS, METRICS, SGD, blobs, linear_triple

from jaxtrain.plot import plot_history
from jaxtrain.train import History, fit


def _history():
    return History(
        {
            "loss": np.array([2.0, np.nan, 1.0], np.float32),
            "grad_norm": np.array([1.0, np.inf, 0.5], np.float32),
            "learning_rate": np.array([0.1, 0.1, 0.05], np.float32),
            "batch_size": np.array([4, 4, 2], np.int32),
            "skipped": np.array([False, True, False]),
        },
        {"epoch": np.array([1.0]), "step": np.array([3]), "train_loss": np.array([1.5])},
    )


def test_json_round_trip_keeps_values_dtypes_and_nan(tmp_path):
    history = _history()
    text = history.to_json()
    # Strict JSON: no bare NaN or Infinity tokens (json.loads calls parse_constant on them).
    json.loads(text, parse_constant=lambda token: pytest.fail(f"non-strict JSON: {token}"))
    back = History.load(history.save(tmp_path / "history.json"))
    assert not (tmp_path / "history.json.tmp").exists()
    for name, values in history.per_step.items():
        got = back.per_step[name]
        assert got.dtype == values.dtype, name
        np.testing.assert_array_equal(got, values)  # NaN and ±inf included
    np.testing.assert_array_equal(back.per_epoch["train_loss"], [1.5])
    assert back.num_steps == 3 and back.num_epochs == 1


def test_appending_blocks_and_epochs():
    history = History()
    history.append_steps({"loss": np.array([1.0, 2.0])})
    history.append_steps({"loss": np.array([3.0])})
    history.append_epoch({"train_loss": 1.0})
    history.append_epoch({"train_loss": 2.0, "val_loss": 0.5})
    np.testing.assert_array_equal(history.per_step["loss"], [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(history.per_epoch["val_loss"], [np.nan, 0.5])
    with pytest.raises(ValueError, match="unequal lengths"):
        history.append_steps({"loss": np.zeros(2), "grad_norm": np.zeros(3)})
    # A float record new in a later block (a monitor added on resume) is NaN before it; an
    # integer one has no NaN to stand for the missing steps.
    with pytest.raises(ValueError, match="appeared after 3 steps"):
        history.append_steps({"loss": np.zeros(1), "new": np.zeros(1, np.int32)})
    with pytest.raises(ValueError, match="not a jaxtrain History"):
        History.from_json('{"format": "other"}')
    assert "3 steps" in repr(history)


def test_a_record_missing_from_a_block_is_nan_there():
    # A run resumed without its monitors: their columns stop, the others go on.
    history = History()
    history.append_steps({"loss": np.array([1.0, 2.0]), "sharpness": np.array([5.0, np.nan])})
    history.append_steps({"loss": np.array([3.0])})
    np.testing.assert_array_equal(history.per_step["sharpness"], [5.0, np.nan, np.nan])
    assert history.num_steps == 3


def test_a_record_new_in_a_later_block_is_nan_before_it():
    # A run resumed with a monitor added: its column starts there, NaN before.
    history = History()
    history.append_steps({"loss": np.array([1.0, 2.0])})
    history.append_steps({"loss": np.array([3.0]), "update_ratio": np.array([0.5], np.float32)})
    np.testing.assert_array_equal(history.per_step["update_ratio"], [np.nan, np.nan, 0.5])
    assert history.per_step["update_ratio"].dtype == np.float32 and history.num_steps == 3


def test_fit_history_plots_four_panels(tmp_path):
    xv, yv = blobs(9, seed=2)
    _, history = fit(
        linear_triple(),
        SGD,
        blobs(30),
        loss=LOSS,
        epochs=2,
        batch_size=8,
        val_data=(xv, yv),
        metrics=METRICS,
        progress=False,
    )
    axes = history.plot(title="linear model")
    assert [ax.get_title() for ax in axes] == [
        "loss",
        "metrics",
        "gradient norm ‖g‖",
        "learning rate η",
    ]
    labels = [line.get_label() for line in axes[1].get_lines()]
    assert labels == ["train accuracy", "val accuracy"]
    assert axes[0].get_xlabel() == "epoch"
    # η read from the plain optax optimizer's scale(−η)
    np.testing.assert_allclose(axes[3].get_lines()[0].get_ydata(), 0.5)
    _, scheduled = fit(
        linear_triple(),
        optax.sgd(lambda count: 0.5),  # an optax schedule: η read from its closure
        blobs(30),
        loss=LOSS,
        steps=2,
        batch_size=8,
        progress=False,
    )
    np.testing.assert_allclose(scheduled.plot()[3].get_lines()[0].get_ydata(), 0.5)
    opaque = optax.GradientTransformation(
        lambda params: optax.EmptyState(),
        lambda updates, state, params=None: (
            jax.tree.map(lambda g: -0.5 * g, updates),
            state,
        ),
    )
    _, unrecorded = fit(
        linear_triple(), opaque, blobs(30), loss=LOSS, steps=2, batch_size=8, progress=False
    )
    # η in no closure jaxtrain can read: a note instead of a curve
    assert "not recorded" in unrecorded.plot()[3].texts[0].get_text()
    axes[0].figure.savefig(tmp_path / "history.png")
    assert (tmp_path / "history.png").stat().st_size > 0
    plt.close("all")


def test_plot_history_on_given_axes_and_rejects_others():
    _, grid = plt.subplots(1, 4)
    axes = plot_history(_history(), grid)
    assert list(axes) == list(grid)
    assert "no metrics" in axes[1].texts[0].get_text()
    with pytest.raises(ValueError, match="4 panels"):
        plot_history(_history(), grid[:2])
    plt.close("all")


@pytest.mark.parametrize(
    "per_step, per_epoch, match",
    [
        ({"loss": [1.0, 2.0], "grad_norm": [1.0]}, {}, r"per_step.*'loss': 2, 'grad_norm': 1"),
        ({"loss": [1.0]}, {"train_loss": [1.0], "step": [1, 2]}, r"per_epoch.*'train_loss': 1"),
    ],
)
def test_columns_of_different_lengths_are_refused(per_step, per_epoch, match):
    # Accepted: num_epochs counted the first column, and appends kept the columns out of step.
    with pytest.raises(ValueError, match=match):
        History(per_step, per_epoch)
    saved = {**History().to_dict(), "per_step": per_step, "per_epoch": per_epoch}
    with pytest.raises(ValueError, match=match):
        History.from_dict(saved)
