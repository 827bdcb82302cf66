"""scale_by_learning_rate and reading η and t back from (nested) optimizer states."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from optim_cases import grads_like_params, mixed_params

from jaxtrain import optim
from jaxtrain.optim import (
    learning_rate_at,
    learning_rate_from_state,
    scale_by_learning_rate,
    skip_nonfinite,
    step_count_from_state,
)
from jaxtrain.optim.schedules import exponential_decay, linear, warmup_cosine_decay

SCHEDULE = warmup_cosine_decay(0.0, 0.1, warmup_steps=5, decay_steps=30)


def _run_recording(opt, num_steps=12):
    """Jitted scan that logs learning_rate_from_state and step_count_from_state per step."""
    params = mixed_params()

    def step(carry, _):
        p, state = carry
        updates, state = opt.update(grads_like_params(p), state, p)
        record = (learning_rate_from_state(state, opt), step_count_from_state(state))
        return (optax.apply_updates(p, updates), state), record

    @jax.jit
    def go(p):
        return jax.lax.scan(step, (p, opt.init(p)), None, length=num_steps)[1]

    return go(params)


def test_constant_equals_optax_scale_and_eta_is_read_from_the_optimizer():
    grads = mixed_params(seed=1)
    ours = scale_by_learning_rate(0.3)
    state = ours.init(grads)
    assert state == optax.EmptyState()
    updates, state = jax.jit(ours.update)(grads, state)
    expected, _ = optax.scale(-0.3).update(grads, optax.EmptyState())
    chex.assert_trees_all_equal(updates, expected)
    assert float(learning_rate_from_state(state, ours)) == pytest.approx(0.3)


def test_schedule_equals_optax_scale_by_schedule_and_step_zero_uses_eta_zero():
    sched = linear(1.0, 0.0, transition_steps=4)
    ours = scale_by_learning_rate(sched)
    theirs = optax.scale_by_schedule(lambda t: -sched(t))
    g = jnp.ones(3)
    s_ours, s_theirs = ours.init(g), theirs.init(g)
    assert isinstance(s_ours, optax.ScaleByScheduleState)
    np.testing.assert_allclose(learning_rate_from_state(s_ours, ours), 1.0)
    for t in range(6):
        u_ours, s_ours = jax.jit(ours.update)(g, s_ours)
        u_theirs, s_theirs = jax.jit(theirs.update)(g, s_theirs)
        chex.assert_trees_all_equal(u_ours, u_theirs)
        np.testing.assert_allclose(learning_rate_from_state(s_ours, ours), sched(t), rtol=1e-7)
    assert int(s_ours.count) == 6


def test_flip_sign_false_scales_by_plus_eta():
    tx = scale_by_learning_rate(0.5, flip_sign=False)
    updates, _ = tx.update(jnp.ones(2), tx.init(None))
    np.testing.assert_allclose(updates, 0.5)


@pytest.mark.parametrize(
    "wrap",
    [
        lambda opt: opt,
        lambda opt: optax.chain(optax.clip_by_global_norm(1.0), opt),
        lambda opt: optax.MultiSteps(opt, every_k_schedule=1),
        lambda opt: optax.masked(opt, lambda p: jax.tree.map(lambda _: True, p)),
        lambda opt: skip_nonfinite(opt, max_consecutive_errors=3),
    ],
    ids=["alone", "chain", "multisteps", "masked", "skip_nonfinite"],
)
def test_learning_rate_from_state_inside_jit_for_nested_states(wrap):
    lrs, counts = _run_recording(wrap(optim.adam(SCHEDULE)))
    np.testing.assert_array_equal(counts, np.arange(1, 13))
    # After update t (0-based) the state holds η(t), the learning rate that update used.
    np.testing.assert_allclose(lrs, learning_rate_at(SCHEDULE, np.arange(12)), rtol=1e-6)


def test_learning_rate_from_state_with_inject_hyperparams():
    injected = optax.inject_hyperparams(optim.sgd)(learning_rate=SCHEDULE, momentum=0.9)
    lrs, counts = _run_recording(injected)
    np.testing.assert_allclose(lrs, learning_rate_at(SCHEDULE, np.arange(12)), rtol=1e-6)
    np.testing.assert_array_equal(counts, np.arange(1, 13))
    # optax's own optimizers record η only through inject_hyperparams.
    lrs, _ = _run_recording(optax.inject_hyperparams(optax.adam)(learning_rate=SCHEDULE))
    np.testing.assert_allclose(lrs, learning_rate_at(SCHEDULE, np.arange(12)), rtol=1e-6)


@pytest.mark.parametrize(
    ("opt", "eta"),
    [
        # The injected 0.1 was returned as η though the step applies 0.05·g: a fit's record
        # and the monitors' 2/η threshold were 2× off.
        (
            optax.chain(optax.inject_hyperparams(optax.sgd)(learning_rate=0.1), optax.scale(0.5)),
            0.05,
        ),
        (
            optax.chain(optax.scale(2.0), optax.inject_hyperparams(optim.sgd)(learning_rate=0.1)),
            0.2,
        ),
        # A scale before a normalizing transform cancels in its ratio, an injected η too.
        (
            optax.chain(optax.inject_hyperparams(optax.sgd)(learning_rate=0.3), optim.adam(0.01)),
            0.01,
        ),
        (optax.inject_hyperparams(optax.sgd)(learning_rate=0.1), 0.1),
        # An injected Adam normalizes: the scale before it cancels in its ratio.
        (optax.chain(optax.scale(0.5), optax.inject_hyperparams(optax.adam)(0.1)), 0.1),
        # Each injected link takes its own state's η, after a normalizer as before one.
        (
            optax.chain(
                optax.inject_hyperparams(optax.sgd)(0.5),
                optax.scale_by_adam(),
                optax.inject_hyperparams(optax.sgd)(0.01),
            ),
            0.01,
        ),
        # A frozen group moves nothing: the injected η is the step's (fit crashed here).
        (
            optax.partition(
                {"a": optax.inject_hyperparams(optax.adam)(0.1), "b": optax.set_to_zero()},
                {"w": "a", "b": "b"},
            ),
            0.1,
        ),
    ],
)
def test_an_injected_learning_rate_is_one_link_of_the_chain(opt, eta):
    params = {"w": jnp.zeros(2), "b": jnp.zeros(1)}
    grads = jax.tree.map(jnp.ones_like, params)
    _, state = jax.jit(opt.update)(grads, opt.init(params), params)
    assert float(learning_rate_from_state(state, opt)) == pytest.approx(eta)


def test_learning_rate_from_state_follows_a_changed_injected_value():
    opt = optax.inject_hyperparams(optim.adam)(learning_rate=0.1)
    params = jnp.zeros(2)
    state = opt.init(params)
    state.hyperparams["learning_rate"] = jnp.asarray(0.02)
    _, state = jax.jit(opt.update)(jnp.ones(2), state, params)
    assert float(learning_rate_from_state(state)) == pytest.approx(0.02)
    assert float(learning_rate_from_state(state, opt)) == pytest.approx(0.02)


def test_before_any_update_reports_the_first_learning_rate():
    opt = optim.sgd(exponential_decay(0.5, 1, 0.5))
    state = opt.init(jnp.zeros(1))
    assert float(learning_rate_from_state(state, opt)) == pytest.approx(0.5)
    assert int(step_count_from_state(state)) == 0


def test_optax_optimizer_gives_its_learning_rate_given_the_optimizer():
    opt = optax.sgd(lambda t: 0.1 / (t + 1))
    state = opt.init(jnp.zeros(1))
    _, state = opt.update(jnp.ones(1), state)
    _, state = opt.update(jnp.ones(1), state)
    assert int(step_count_from_state(state)) == 2
    assert float(learning_rate_from_state(state, opt)) == pytest.approx(0.05)
    with pytest.raises(ValueError, match="pass the optimizer"):
        learning_rate_from_state(state)


def test_states_without_records_raise():
    opt = optim.sgd(0.1)
    state = opt.init(jnp.zeros(1))
    with pytest.raises(ValueError, match="pass the optimizer"):
        learning_rate_from_state(state)
    with pytest.raises(ValueError, match="no learning rate found"):
        learning_rate_from_state(state, optax.identity())
    # As in optax, sgd with a constant η and no momentum keeps no state to count in.
    with pytest.raises(ValueError, match="no step count is recorded"):
        step_count_from_state(state)


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_reduce_on_plateau_scales_the_learning_rate(jit):
    # Its scale multiplies every step after it; it was skipped, and η read 32× too high.
    opt = optax.chain(
        optim.sgd(0.1), optax.contrib.reduce_on_plateau(factor=0.5, patience=1, accumulation_size=1)
    )
    params = jnp.ones(3)
    state = opt.init(params)
    for _ in range(6):  # a loss that never improves
        updates, state = opt.update(jnp.ones(3), state, params, value=jnp.float32(1.0))
    read = jax.jit(learning_rate_from_state, static_argnums=1) if jit else learning_rate_from_state
    assert float(read(state, opt)) == pytest.approx(-float(updates[0]))
    assert float(read(state, opt)) == pytest.approx(0.1 * float(state[1].scale))
    # Before a normalizing transform it cancels, as a scale does.
    before_adam = optax.chain(optax.contrib.reduce_on_plateau(), optim.adam(0.01))
    state = before_adam.init(params)
    assert float(learning_rate_from_state(state, before_adam)) == pytest.approx(0.01)


@pytest.mark.parametrize(
    "search",
    [
        optax.scale_by_zoom_linesearch(max_linesearch_steps=15),
        optax.scale_by_backtracking_linesearch(max_backtracking_steps=15),
    ],
    ids=["zoom", "backtracking"],
)
def test_a_line_searchs_step_size_is_a_factor_of_the_learning_rate(search):
    # optax.lbfgs recorded η = 1 where its line search set the step (here 0.005).
    opt = optax.chain(optim.sgd(1.0), search)

    def loss(p):
        return jnp.sum((p - jnp.arange(3.0)) ** 2 * jnp.array([1.0, 10.0, 100.0]))

    params = jnp.zeros(3)
    state = opt.init(params)
    for _ in range(2):
        value, grads = jax.value_and_grad(loss)(params)
        updates, state = opt.update(grads, state, params, value=value, grad=grads, value_fn=loss)
        params = optax.apply_updates(params, updates)
    applied = float(-updates[1] / grads[1])
    assert applied < 0.5
    assert float(learning_rate_from_state(state, opt)) == pytest.approx(applied, rel=1e-5)


def test_perturbed_gradient_descent_steps_by_its_learning_rate():
    # Gradient descent between its kicks; its η was not read (NaN in fit's records).
    opt = optim.perturbed_gd(0.1)
    assert float(learning_rate_from_state(opt.init(jnp.zeros(2)), opt)) == pytest.approx(0.1)


def test_a_plateau_inside_an_injected_optimizer_is_not_paired_with_one_outside():
    # The walk does not enter inject_hyperparams, but the states were collected beneath it:
    # the outer plateau was read with the inner one's scale (0.05 read, 0.025 the step
    # without the inner plateau, which, like an injected η, is out of the walk's reach).
    def plateau(factor):
        return optax.contrib.reduce_on_plateau(
            factor=factor, patience=0, accumulation_size=1, rtol=1e-4
        )

    inner = optax.inject_hyperparams(
        lambda learning_rate: optax.chain(optax.sgd(learning_rate), plateau(0.5))
    )(learning_rate=0.1)
    opt = optax.chain(inner, plateau(0.25))
    params, grads = jnp.ones(3), jnp.array([1.0, 2.0, 3.0])
    state = opt.init(params)
    for value in (1.0, 2.0, 3.0):
        _, state = opt.update(grads, state, params, value=jnp.asarray(value))
    outer = float(state[1].scale)
    assert float(learning_rate_from_state(state, opt)) == pytest.approx(0.1 * outer)


def test_an_optimizer_without_a_readable_learning_rate_is_named():
    # It said "pass the optimizer" to a caller who had.
    opt = optim.saddle_free_newton(2)
    state = opt.init(jnp.zeros(2))
    with pytest.raises(ValueError, match="no learning rate found") as error:
        learning_rate_from_state(state, opt)
    assert "pass the optimizer" not in str(error.value)


def test_learning_rate_at_shapes_constants_and_jit():
    steps = np.arange(6).reshape(2, 3)
    sched = exponential_decay(1.0, 2, 0.5)
    values = learning_rate_at(sched, steps)
    assert values.shape == (2, 3)
    np.testing.assert_allclose(values, 0.5 ** (steps / 2), rtol=1e-6)
    np.testing.assert_allclose(learning_rate_at(0.1, steps), np.full((2, 3), 0.1))
    assert learning_rate_at(sched, 4).shape == ()
    jitted = jax.jit(lambda t: learning_rate_at(sched, t))(jnp.arange(3))
    np.testing.assert_allclose(jitted, [1.0, 0.5**0.5, 0.5], rtol=1e-6)


def test_learning_rate_at_rejects_an_optimizer():
    with pytest.raises(TypeError, match="learning_rate_from_state"):
        learning_rate_at(optim.adam(0.1), 3)


def _eta_after_two_steps(opt):
    params = jnp.zeros(3)
    state = opt.init(params)
    for _ in range(2):
        _, state = opt.update(jnp.ones(3), state, params)
    return float(jax.jit(learning_rate_from_state, static_argnums=1)(state, opt))


@pytest.mark.parametrize(
    ("opt", "expected"),
    [
        # optax's idiom: the schedule and the descent sign as two links, η = |η(t) · (−1)|.
        (
            optax.chain(
                optax.scale_by_adam(), optax.scale_by_schedule(SCHEDULE), optax.scale(-1.0)
            ),
            float(SCHEDULE(1)),
        ),
        (optax.chain(optax.trace(0.9), optax.scale(0.5), optax.scale(-0.2)), 0.1),
        # Linear links scale the step wherever they stand...
        (optax.chain(optax.scale(0.5), optim.sgd(0.1)), 0.05),
        (optax.chain(optim.sgd(0.1, momentum=0.9), optax.scale(0.5)), 0.05),
        # ...but Adam divides by the gradient's own size: a scale before it cancels (up to ε).
        (optax.chain(optax.scale(0.5), optim.adam(0.1)), 0.1),
    ],
    ids=[
        "adam_schedule_then_sign",
        "two_scales",
        "scale_before_sgd",
        "scale_after_sgd",
        "scale_before_adam",
    ],
)
def test_eta_is_the_product_of_the_scalings_that_reach_the_step(opt, expected):
    assert _eta_after_two_steps(opt) == pytest.approx(expected, rel=1e-6)


def test_eta_differing_between_multi_transform_groups_is_not_guessed():
    opt = optax.multi_transform(
        {"slow": optim.sgd(0.01), "fast": optim.sgd(1.0)}, {"a": "slow", "b": "fast"}
    )
    state = opt.init({"a": jnp.zeros(2), "b": jnp.zeros(2)})
    with pytest.raises(ValueError, match="multi_transform"):
        learning_rate_from_state(state, opt)
    same = optax.multi_transform(
        {"x": optim.sgd(0.1), "y": optim.sgd(0.1, momentum=0.9)}, {"a": "x", "b": "y"}
    )
    state = same.init({"a": jnp.zeros(2), "b": jnp.zeros(2)})
    assert float(learning_rate_from_state(state, same)) == pytest.approx(0.1)


@pytest.mark.parametrize("library", [optim, optax], ids=["jaxtrain", "optax"])
def test_one_schedule_shared_by_two_groups_is_one_learning_rate(library):
    # The decay / no-decay split: both groups step by the same schedule S. Each optimizer
    # wraps S in a closure of its own, and the groups were compared by the wrappers' ids:
    # "the learning rate differs between the groups", and fit recorded η = NaN.
    from jaxtrain.train._step import learning_rate_source

    schedule = optax.cosine_decay_schedule(0.1, 100)
    params = {"w": jnp.ones((2, 2)), "b": jnp.zeros(2)}
    labels = {"w": "decay", "b": "no_decay"}
    groups = {
        "decay": library.adamw(schedule, weight_decay=1e-2),
        "no_decay": library.adam(schedule),
    }
    opt = optax.multi_transform(groups, labels)
    state = opt.init(params)
    update = jax.jit(opt.update)
    for _ in range(10):
        _, state = update(jax.tree.map(jnp.ones_like, params), state, params)
    eta = jax.jit(optim.learning_rate_from_state, static_argnums=1)(state, opt)
    np.testing.assert_allclose(eta, schedule(9), rtol=1e-6)
    assert learning_rate_source(state, None, opt) is not None
    # Two different schedules still differ, and so do the same schedule at two scales.
    other = optax.multi_transform(
        {"decay": library.adam(schedule), "no_decay": library.adam(optax.constant_schedule(0.1))},
        labels,
    )
    with pytest.raises(ValueError, match="differs between the groups"):
        optim.learning_rate_from_state(other.init(params), other)
    scaled = optax.multi_transform(
        {
            "decay": library.sgd(schedule),
            "no_decay": optax.chain(library.sgd(schedule), optax.scale(2.0)),
        },
        labels,
    )
    with pytest.raises(ValueError, match="differs between the groups"):
        optim.learning_rate_from_state(scaled.init(params), scaled)


@pytest.mark.parametrize(
    "counter",
    [
        optax.contrib.reduce_on_plateau(accumulation_size=4),
        optax.apply_every(4),
    ],
    ids=["reduce_on_plateau", "apply_every"],
)
def test_a_count_that_is_no_step_count_is_not_read_as_one(counter):
    # reduce_on_plateau's count accumulates losses and restarts every accumulation_size
    # updates; apply_every's cycles modulo k. After 10 updates the first count read 2, and
    # fit(learning_rate=schedule) recorded the schedule at step 1 (0.1 where 0.025).
    params = jnp.ones(3)
    opt = optax.chain(optim.sgd(0.1, momentum=0.9), counter)  # momentum keeps no count
    state = opt.init(params)
    for _ in range(10):
        _, state = opt.update(jnp.ones(3), state, params, value=jnp.float32(1.0))
    with pytest.raises(ValueError, match="no step count"):
        optim.step_count_from_state(state)
    # Before Adam's count in the state, the counter's is passed over.
    adam = optax.chain(counter, optim.adam(0.1))
    state = adam.init(params)
    for _ in range(10):
        _, state = adam.update(jnp.ones(3), state, params, value=jnp.float32(1.0))
    assert int(optim.step_count_from_state(state)) == 10
