"""Every construction-time ValueError names its argument; tracers are let through."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxtrain import optim
from jaxtrain.optim import schedules

NAN, INF = float("nan"), float("inf")
OPTIMIZERS = ["sgd", "adagrad", "rmsprop", "adam", "adamw", "radam"]


@pytest.mark.parametrize("name", OPTIMIZERS)
@pytest.mark.parametrize("learning_rate", [-0.1, NAN, INF, np.float32(-1.0), jnp.array(-1.0)])
def test_negative_or_nonfinite_learning_rate(name, learning_rate):
    with pytest.raises(ValueError, match="`learning_rate` must be finite and >= 0"):
        getattr(optim, name)(learning_rate)


def test_learning_rate_none_and_array_shapes():
    with pytest.raises(ValueError, match="`learning_rate` must be a number or a schedule"):
        optim.scale_by_learning_rate(None)
    with pytest.raises(ValueError, match="scalar"):
        optim.sgd(jnp.ones(2))


@pytest.mark.parametrize("value", [-0.1, 1.0, 1.5, NAN])
@pytest.mark.parametrize(
    "factory,name",
    [
        (lambda v: optim.adam(0.1, b1=v), "b1"),
        (lambda v: optim.adam(0.1, b2=v), "b2"),
        (lambda v: optim.adamw(0.1, b1=v), "b1"),
        (lambda v: optim.radam(0.1, b2=v), "b2"),
        (lambda v: optim.scale_by_adam(b2=v), "b2"),
        (lambda v: optim.rmsprop(0.1, decay=v), "decay"),
        (lambda v: optim.rmsprop(0.1, momentum=v), "momentum"),
        (lambda v: optim.scale_by_rms(momentum=v), "momentum"),
        (lambda v: optim.scale_by_momentum(v), "decay"),
        (lambda v: optim.sgd(0.1, momentum=v), "momentum"),
    ],
)
def test_decay_rates_outside_unit_interval(factory, name, value):
    with pytest.raises(ValueError, match=rf"`{name}` must lie in \[0, 1\)"):
        factory(value)


@pytest.mark.parametrize("value", [0.0, -1e-8, NAN])
@pytest.mark.parametrize(
    "factory",
    [
        lambda v: optim.adam(0.1, eps=v),
        lambda v: optim.radam(0.1, eps=v),
        lambda v: optim.adagrad(0.1, eps=v),
        lambda v: optim.rmsprop(0.1, eps=v),
        lambda v: optim.scale_by_root_mean_square_history(eps=v),
    ],
)
def test_eps_must_be_positive(factory, value):
    with pytest.raises(ValueError, match="`eps` must be finite and > 0"):
        factory(value)


@pytest.mark.parametrize(
    "factory,name",
    [
        (lambda: optim.adam(0.1, eps_root=-1.0), "eps_root"),
        (lambda: optim.adagrad(0.1, initial_accumulator_value=-0.1), "initial_accumulator_value"),
        (lambda: optim.rmsprop(0.1, initial_scale=-0.1), "initial_scale"),
        (lambda: optim.adamw(0.1, weight_decay=-1e-4), "weight_decay"),
        (lambda: optim.add_decayed_weights(NAN), "weight_decay"),
    ],
)
def test_other_non_negative_hyperparameters(factory, name):
    with pytest.raises(ValueError, match=f"`{name}` must be finite and >= 0"):
        factory()


@pytest.mark.parametrize("max_norm", [0.0, -1.0, INF])
def test_clip_max_norm(max_norm):
    with pytest.raises(ValueError, match="`max_norm` must be finite and > 0"):
        optim.clip_by_global_norm(max_norm)


@pytest.mark.parametrize("value", [-1, 1.5, True])
def test_skip_nonfinite_max_consecutive_errors(value):
    with pytest.raises(ValueError, match="`max_consecutive_errors`"):
        optim.skip_nonfinite(optim.sgd(0.1), value)


@pytest.mark.parametrize("num_steps", [-1, 2.5])
def test_trajectory_num_steps(num_steps):
    with pytest.raises(ValueError, match="`num_steps`"):
        optim.optimize_trajectory(optim.sgd(0.1), jnp.sum, jnp.zeros(2), num_steps)


@pytest.mark.parametrize(
    "factory,name",
    [
        (lambda: schedules.warmup_cosine_decay(0.0, 1.0, -1, 10), "warmup_steps"),
        (lambda: schedules.warmup_cosine_decay(0.0, 1.0, 5, -10), "decay_steps"),
        (lambda: schedules.warmup_constant(0.0, 1.0, -3), "warmup_steps"),
        (lambda: schedules.inverse_sqrt(512, -1), "warmup_steps"),
        (lambda: schedules.cosine_decay(1.0, -5), "decay_steps"),
        (lambda: schedules.linear(1.0, 0.0, -5), "transition_steps"),
        (lambda: schedules.linear(1.0, 0.0, 5, transition_begin=-1), "transition_begin"),
        (lambda: schedules.exponential_decay(1.0, -2, 0.5), "transition_steps"),
        (lambda: schedules.exponential_decay(1.0, 2, 0.5, transition_begin=-1), "transition_begin"),
        (lambda: schedules.exponential_decay(1.0, 2.5, 0.5), "transition_steps"),
        (lambda: schedules.piecewise_constant(1.0, {-1: 0.5}), "boundaries_and_scales"),
        (lambda: schedules.join([schedules.constant(1.0)] * 2, [-1]), "boundaries"),
    ],
)
def test_negative_or_fractional_steps(factory, name):
    with pytest.raises(ValueError, match=f"`{name}` must be an integer >= 0"):
        factory()


@pytest.mark.parametrize(
    "factory,message",
    [
        (lambda: schedules.cosine_decay(1.0, 0), "`decay_steps` must be finite and > 0"),
        (lambda: schedules.warmup_cosine_decay(0.0, 1.0, 10, 10), "must exceed `warmup_steps`"),
        (lambda: schedules.exponential_decay(1.0, 2, -0.5), "`decay_rate` must be finite"),
        (lambda: schedules.piecewise_constant(1.0, {5: -0.5}), "`boundaries_and_scales` must"),
        (lambda: schedules.join([schedules.constant(1.0)] * 2, []), "len\\(schedules\\) - 1"),
        (lambda: schedules.join([], []), "at least one schedule"),
        (lambda: schedules.join([schedules.constant(1.0)] * 3, [5, 2]), "must not decrease"),
        (lambda: schedules.inverse_sqrt(0, 10), "`model_dim` must be finite and > 0"),
        (lambda: schedules.inverse_sqrt(64, 10, scale=-1.0), "`scale` must be finite and > 0"),
        (lambda: schedules.constant(NAN), "`value` must be finite"),
        (lambda: schedules.linear(INF, 0.0, 5), "`init_value` must be finite"),
    ],
)
def test_other_schedule_errors(factory, message):
    with pytest.raises(ValueError, match=message):
        factory()


def test_validators_skip_tracers():
    # Inside jit, a factory called with traced hyperparameters builds without checking.
    @jax.jit
    def build_and_step(lr, b1):
        opt = optim.adam(lr, b1=b1)
        updates, _ = opt.update(jnp.ones(2), opt.init(jnp.zeros(2)))
        return updates

    assert build_and_step(0.1, 0.9).shape == (2,)
    schedule_value = jax.jit(lambda w: schedules.linear(0.0, 1.0, 4)(w))(2)
    np.testing.assert_allclose(schedule_value, 0.5)
