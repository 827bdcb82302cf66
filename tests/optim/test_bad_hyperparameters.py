"""Every construction-time ValueError names its argument; tracers are let through."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
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


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_an_optimizer_needs_its_learning_rate(name):
    with pytest.raises(ValueError, match="`learning_rate` must be a number or a schedule"):
        getattr(optim, name)(None)


def test_learning_rate_array_shapes():
    with pytest.raises(ValueError, match="scalar"):
        optim.sgd(jnp.ones(2))


def test_scale_by_learning_rate_none_scales_by_nothing_as_in_optax():
    # optax's own optimizers pass None where another part sets the step (L-BFGS's line
    # search); refusing it failed 20 of optax's alias tests with jaxtrain's in its place.
    grads = jnp.array([1.0, -2.0])
    for tx in (optim.scale_by_learning_rate(None), optim.scale_by_learning_rate()):
        updates, state = jax.jit(tx.update)(grads, tx.init(grads))
        np.testing.assert_array_equal(updates, grads)
        assert state == optax.scale_by_learning_rate(None).init(grads)


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
        lambda v: optim.adagrad(0.1, eps=v),
        lambda v: optim.rmsprop(0.1, eps=v),
        lambda v: optim.scale_by_root_mean_square_history(eps=v),
    ],
)
def test_eps_must_be_positive(factory, value):
    with pytest.raises(ValueError, match="`eps` must be finite and > 0"):
        factory(value)


@pytest.mark.parametrize("factory", [optim.adam, optim.radam], ids=["adam", "radam"])
def test_adams_eps_may_be_zero_with_eps_root_as_in_optax(factory):
    # optax's way to put all of Adam's ε inside the square root (differentiable through the
    # update): eps=0, eps_root > 0. Both 0 would divide 0 by 0 at a zero gradient.
    params, grads = jnp.zeros(3), jnp.array([1e-3, 0.0, -2.0])
    theirs = getattr(optax, factory.__name__)(0.1, eps=0.0, eps_root=1e-8)
    ours = factory(0.1, eps=0.0, eps_root=1e-8)
    expected, _ = theirs.update(grads, theirs.init(params), params)
    got, _ = ours.update(grads, ours.init(params), params)
    np.testing.assert_array_equal(got, expected)
    with pytest.raises(ValueError, match="`eps` and `eps_root` cannot both be 0"):
        factory(0.1, eps=0.0, eps_root=0.0)
    for value in (-1e-8, NAN):
        with pytest.raises(ValueError, match="`eps` must be finite and >= 0"):
            factory(0.1, eps=value)


@pytest.mark.parametrize(
    "factory,name",
    [
        (lambda: optim.adam(0.1, eps_root=-1.0), "eps_root"),
        (lambda: optim.adagrad(0.1, initial_accumulator_value=-0.1), "initial_accumulator_value"),
        (lambda: optim.rmsprop(0.1, initial_scale=-0.1), "initial_scale"),
        (lambda: optim.adamw(0.1, weight_decay=-1e-4), "weight_decay"),
    ],
)
def test_other_non_negative_hyperparameters(factory, name):
    with pytest.raises(ValueError, match=f"`{name}` must be finite and >= 0"):
        factory()


@pytest.mark.parametrize("weight_decay", [NAN, INF])
def test_a_weight_decay_must_be_finite(weight_decay):
    with pytest.raises(ValueError, match="`weight_decay` must be finite"):
        optim.add_decayed_weights(weight_decay)


def test_a_negative_weight_decay_is_optaxs():
    # optax's fromage rescales θ through add_decayed_weights(1/√(1 + η²) − 1) < 0.
    params, grads = jnp.array([1.0, -3.0]), jnp.array([0.5, 0.25])
    ours, theirs = optim.add_decayed_weights(-0.3), optax.add_decayed_weights(-0.3)
    got, _ = jax.jit(ours.update)(grads, ours.init(params), params)
    expected, _ = theirs.update(grads, theirs.init(params), params)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("max_norm", [0.0, -1.0, NAN, -INF, jnp.array(NAN)])
def test_clip_max_norm(max_norm):
    with pytest.raises(ValueError, match=r"`max_norm` must be > 0 \(or \+inf"):
        optim.clip_by_global_norm(max_norm)


@pytest.mark.parametrize("max_norm", [INF, np.float32(INF), jnp.array(INF)])
def test_clip_max_norm_inf_switches_clipping_off_as_in_optax(max_norm):
    # Before: refused as "`max_norm` must be finite and > 0, got inf"; optax accepts it, and
    # passes every gradient through unchanged.
    ours, theirs = optim.clip_by_global_norm(max_norm), optax.clip_by_global_norm(max_norm)
    grads = {"w": jnp.array([3.0e3, -4.0e3]), "b": jnp.array([1e-3])}
    got, _ = jax.jit(ours.update)(grads, ours.init(grads))
    expected, _ = theirs.update(grads, theirs.init(grads))
    jax.tree.map(np.testing.assert_array_equal, got, expected)
    jax.tree.map(np.testing.assert_array_equal, got, grads)


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


# Issue 13, case 15.
@pytest.mark.parametrize("threshold", [-5.0, 3.9, NAN, INF])
def test_radam_threshold_below_four_or_not_finite(threshold):
    with pytest.raises(ValueError, match=r"`threshold` must be finite and >= 4"):
        optim.radam(0.1, threshold=threshold)
    with pytest.raises(ValueError, match=r"`threshold` must be finite and >= 4"):
        optim.scale_by_radam(threshold=threshold)


def _directions(tx, steps=6):
    state = tx.init(jnp.zeros(1))
    out = []
    for _ in range(steps):
        direction, state = tx.update(jnp.ones(1), state)
        out.append(float(direction[0]))
    return np.array(out)


def test_radam_below_four_would_take_a_nan_step_and_four_does_not():
    # Why 4: ρₜ passes through (2, 4) in steps 3-4 (β₂ = 0.999), where the rectification
    # √((ρ−4)(ρ−2)…) is NaN; from 4 on it is a real number. (optax's own is unchecked.)
    assert np.isnan(_directions(optax.scale_by_radam(threshold=3.0))).any()
    at_four = _directions(optim.scale_by_radam(threshold=4.0))
    assert np.isfinite(at_four).all()
    np.testing.assert_allclose(at_four, _directions(optax.scale_by_radam(threshold=4.0)), rtol=1e-5)


def test_a_schedule_returning_a_negative_learning_rate_is_refused_when_called():
    tx = optim.sgd(lambda count: -0.1)
    with pytest.raises(ValueError, match=r"`learning_rate` schedule returned -0.1 at step 0"):
        tx.init(jnp.zeros(2))
    # A schedule returning a Python number is concrete inside jit too: refused when traced.
    with pytest.raises(ValueError, match=r"`learning_rate` schedule returned -0.1"):
        jax.jit(tx.init)(jnp.zeros(2))
    # Outside jit the count is concrete: a schedule that turns negative at step 3.
    tx = optim.sgd(lambda count: 0.1 - 0.05 * count)
    state = tx.init(jnp.zeros(2))
    for _ in range(3):  # steps 0, 1, 2: η = 0.1, 0.05, 0
        _, state = tx.update(jnp.ones(2), state)
    with pytest.raises(ValueError, match=r"schedule returned -0.05\d* at step 3"):
        tx.update(jnp.ones(2), state)


@pytest.mark.parametrize("value", [-0.1, NAN, INF])
def test_adamw_refuses_a_schedule_returning_a_negative_or_nonfinite_weight_decay(value):
    # Before: a scheduled λ was never looked at; NaN gave NaN updates even in eager updates.
    params = jnp.ones(2)
    tx = optim.adamw(0.1, weight_decay=lambda count: value)
    with pytest.raises(ValueError, match=r"`weight_decay` schedule returned \S+ at step 0"):
        tx.init(params)
    # A schedule returning a Python number is concrete inside jit too: refused when traced.
    with pytest.raises(ValueError, match=r"`weight_decay` schedule returned"):
        jax.jit(tx.init)(params)


def test_adamw_refuses_a_scheduled_weight_decay_turning_negative_in_an_eager_update():
    params = jnp.ones(2)
    tx = optim.adamw(0.1, weight_decay=lambda count: 0.1 - 0.05 * count)
    state = tx.init(params)
    for _ in range(3):  # steps 0, 1, 2: λ = 0.1, 0.05, 0
        _, state = tx.update(jnp.ones(2), state, params)
    with pytest.raises(ValueError, match=r"`weight_decay` schedule returned -0.05\d* at step 3"):
        tx.update(jnp.ones(2), state, params)


def test_add_decayed_weights_refuses_a_nonfinite_scheduled_decay_but_takes_a_negative_one():
    # A λ < 0 is optax's (fromage); a NaN or infinite one only ever gives NaN updates.
    params = jnp.array([1.0, -3.0])
    for value in (NAN, INF):
        with pytest.raises(ValueError, match=r"`weight_decay` schedule returned \S+ at step 0"):
            optim.add_decayed_weights(lambda count, value=value: value).init(params)
    tx = optim.add_decayed_weights(lambda count: jnp.where(count < 2, -0.3, jnp.nan))
    state = tx.init(params)
    expected = optax.add_decayed_weights(-0.3).update(jnp.ones(2), optax.EmptyState(), params)[0]
    for _ in range(2):  # steps 0, 1: λ = -0.3
        updates, state = tx.update(jnp.ones(2), state, params)
        np.testing.assert_array_equal(updates, expected)
    with pytest.raises(ValueError, match=r"`weight_decay` schedule returned nan at step 2"):
        tx.update(jnp.ones(2), state, params)


@pytest.mark.parametrize("name", ["learning_rate", "b1", "eps"])
def test_a_non_numeric_hyperparameter_names_its_argument(name):
    kwargs = {"learning_rate": 0.1, name: "abc"}
    with pytest.raises(TypeError, match=rf"`{name}` must be a number, got 'abc' \(str\)"):
        optim.adam(**kwargs)


@pytest.mark.parametrize(
    "build",
    [
        lambda v: optim.sgd(v),
        lambda v: optim.adam(0.1, b1=v),
        lambda v: optim.clip_by_global_norm(v),
        lambda v: schedules.constant(v),
    ],
)
def test_bfloat16_and_float16_hyperparameters_are_numbers(build):
    # Before: NumPy does not count ml_dtypes' bfloat16 as a number, and a bfloat16 η was
    # refused as "must be a number, got Array(0.100098, dtype=bfloat16)".
    for dtype in (jnp.bfloat16, jnp.float16):
        build(jnp.asarray(0.5, dtype))


@pytest.mark.parametrize(
    "factory,name",
    [(lambda v: optim.adam(0.1, b2=v), "b2"), (lambda v: optim.rmsprop(0.1, eps=v), "eps")],
)
def test_a_non_scalar_hyperparameter_names_its_argument(factory, name):
    with pytest.raises(ValueError, match=rf"`{name}` must be a scalar, got an array of shape"):
        factory(np.full(3, 0.5))


@pytest.mark.parametrize("name", ["adam", "adamw", "radam", "rmsprop"])
def test_an_eps_rounded_to_zero_by_inject_hyperparams_says_how_to_keep_it(name):
    # optax.inject_hyperparams casts every hyperparameter to the parameters' dtype: in float16
    # the default eps=1e-8 becomes 0. Before, the message blamed an eps the user never set.
    params = jnp.ones(3, jnp.float16)
    tx = optax.inject_hyperparams(getattr(optim, name))(learning_rate=0.1)
    with pytest.raises(ValueError, match=r"float16.*hyperparam_dtype=jnp\.float32"):
        tx.init(params)
    kept = optax.inject_hyperparams(getattr(optim, name), hyperparam_dtype=jnp.float32)(0.1)
    updates, _ = kept.update(params, kept.init(params), params)
    assert np.isfinite(np.asarray(updates, np.float32)).all()


@pytest.mark.parametrize("name", ["adam", "adamw", "radam"])
def test_a_b2_rounded_to_one_by_inject_hyperparams_says_how_to_keep_it(name):
    # In bfloat16 the default b2 = 0.999 rounds to 1.0; before, the refusal only read
    # "`b2` must lie in [0, 1), got 1.0".
    params = jnp.ones(3, jnp.bfloat16)
    tx = optax.inject_hyperparams(getattr(optim, name))(learning_rate=0.1)
    with pytest.raises(ValueError, match=r"`b2` must lie in \[0, 1\).*bfloat16.*hyperparam_dtype"):
        tx.init(params)


def test_the_half_precision_note_only_where_rounding_explains_the_value():
    # Before: any half-precision value out of range got "0.999 rounds to 1 (bfloat16)".
    with pytest.raises(ValueError) as error:
        optim.adam(0.1, b1=jnp.bfloat16(-0.5))
    assert "hyperparam_dtype" not in str(error.value)
