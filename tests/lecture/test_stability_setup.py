"""The setting shared by §3's critical batch size and §4's edge of stability."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxtrain.lecture import _stability_setup as setup
from jaxtrain.losses import mse


def test_half_squared_error_is_half_the_sum_over_classes():
    rng = np.random.default_rng(0)
    predictions = jnp.asarray(rng.normal(size=(7, 10)), jnp.float32)
    labels = jnp.asarray(rng.integers(0, 10, size=7), jnp.int32)
    one_hot = np.eye(10)[np.asarray(labels)]
    expected = 0.5 * np.mean(np.sum((np.asarray(predictions) - one_hot) ** 2, axis=-1))
    assert float(setup.half_squared_error(predictions, labels)) == pytest.approx(expected, rel=1e-6)
    # five times jaxtrain.losses.mse, which also averages over the 10 outputs
    assert float(setup.half_squared_error(predictions, labels)) == pytest.approx(
        5 * float(mse(predictions, labels)), rel=1e-6
    )


def test_stability_digits_are_the_first_n_standardized_and_read_only():
    x, y = setup.stability_digits(300)
    assert x.shape == (300, 64) and y.shape == (300,) and x.dtype == np.float32
    assert np.abs(x.mean(axis=0)).max() < 1e-5
    spread = x.std(axis=0)
    assert np.all((np.abs(spread - 1) < 1e-3) | (spread == 0))  # constant pixels map to 0
    assert not x.flags.writeable and not y.flags.writeable
    with pytest.raises(ValueError, match="num_examples"):
        setup.stability_digits(5000)


def test_runs_with_equal_settings_share_one_model_and_optimizer():
    assert setup.stability_model(0) is setup.stability_model(0)
    assert setup.stability_optimizer("sgd", 0.5) is setup.stability_optimizer("sgd", 0.5)
    assert setup.stability_optimizer("adam", 0.5) is not setup.stability_optimizer("sgd", 0.5)
