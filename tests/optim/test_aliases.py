"""The six optimizers: optax parity per case × dtype, convergence, jit behaviour, dtypes."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from optim_cases import (
    CASES,
    TraceCounter,
    assert_trees_close,
    case_by_name,
    grads_like_params,
    mixed_params,
    narrow_parabola,
    rosenbrock,
    run,
    run_pair,
    x64_enabled,
)

from jaxtrain import optim

CASE_IDS = [case.name for case in CASES]


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_float32_matches_optax_after_100_jitted_steps(case):
    params = mixed_params(jnp.float32)
    (ours, state), (theirs, _) = run_pair(case.ours(), case.theirs(), params)
    assert_trees_close(ours, theirs, rtol=1e-6, atol=1e-7)
    # The state keeps its structure, shapes and dtypes across the 100 steps.
    chex.assert_trees_all_equal_shapes_and_dtypes(state, case.ours().init(params))


DTYPE_CASES = [case for case in CASES if case.all_dtypes]
DTYPE_IDS = [case.name for case in DTYPE_CASES]


@pytest.mark.parametrize("case", DTYPE_CASES, ids=DTYPE_IDS)
def test_float64_matches_optax(case):
    with x64_enabled():
        params = mixed_params(jnp.float64)
        (ours, state), (theirs, _) = run_pair(case.ours(), case.theirs(), params)
        assert all(leaf.dtype == jnp.float64 for leaf in jax.tree.leaves(ours))
        assert_trees_close(ours, theirs, rtol=1e-12, atol=1e-14)
        chex.assert_trees_all_equal_shapes_and_dtypes(state, case.ours().init(params))


@pytest.mark.parametrize("case", DTYPE_CASES, ids=DTYPE_IDS)
def test_bfloat16_matches_optax(case):
    params = mixed_params(jnp.bfloat16)
    (ours, state), (theirs, _) = run_pair(case.ours(), case.theirs(), params)
    # Same operations in the same order; allow one bfloat16 rounding (2⁻⁸ relative).
    assert_trees_close(ours, theirs, rtol=2**-8, atol=1e-3)
    assert all(leaf.dtype == jnp.bfloat16 for leaf in jax.tree.leaves(ours))
    chex.assert_trees_all_equal_shapes_and_dtypes(state, case.ours().init(params))


@pytest.mark.parametrize("name", ["sgd_nesterov", "rmsprop_centered_nesterov", "adamw", "radam"])
def test_jit_and_eager_agree(name):
    case = case_by_name(name)
    params = mixed_params(jnp.float32, seed=3)
    jitted, _ = run(case.ours(), params, num_steps=8)
    eager, _ = run(case.ours(), params, num_steps=8, use_jit=False)
    # RAdam's ρₜ cancels ~3 digits in float32, so eager and compiled differ by ~1e-5.
    assert_trees_close(jitted, eager, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["sgd_momentum", "rmsprop", "adam_schedule", "adamw", "radam"])
def test_no_retrace_on_second_call(name):
    opt = case_by_name(name).ours()
    counted = TraceCounter(opt.update)
    update = jax.jit(counted)
    params = mixed_params()
    state = opt.init(params)
    for _ in range(3):
        updates, state = update(grads_like_params(params), state, params)
        params = optax.apply_updates(params, updates)
    assert counted.count == 1


def test_donated_step_matches_undonated():
    opt = optim.adam(0.01)
    expected, _ = run(optim.adam(0.01), mixed_params(), num_steps=3)

    def step(p, s):
        updates, s = opt.update(grads_like_params(p), s, p)
        return optax.apply_updates(p, updates), s

    donated = jax.jit(step, donate_argnums=(0, 1))
    params = mixed_params()
    state = opt.init(params)
    for _ in range(3):
        params, state = donated(params, state)
    assert_trees_close(params, expected, rtol=1e-6)


CONVERGENCE = [
    # (name, optimizer for the narrow parabola, optimizer for Rosenbrock's valley)
    ("sgd", lambda: optim.sgd(0.015), lambda: optim.sgd(1e-3)),
    ("momentum", lambda: optim.sgd(0.01, 0.9), lambda: optim.sgd(1e-3, 0.9)),
    (
        "nesterov",
        lambda: optim.sgd(0.01, 0.9, nesterov=True),
        lambda: optim.sgd(1e-3, 0.9, nesterov=True),
    ),
    ("adagrad", lambda: optim.adagrad(1.0), lambda: optim.adagrad(0.5)),
    ("rmsprop", lambda: optim.rmsprop(0.01), lambda: optim.rmsprop(1e-3)),
    ("adam", lambda: optim.adam(0.05), lambda: optim.adam(0.02)),
    (
        "adamw",
        lambda: optim.adamw(0.05, weight_decay=0.0),
        lambda: optim.adamw(0.02, weight_decay=0.0),
    ),
    # RAdam's first steps are plain momentum steps of size η·|g| (|g| ≈ 200 at the start of
    # Rosenbrock's valley): clipping keeps them bounded, as it would in a real run.
    (
        "radam",
        lambda: optim.radam(0.05),
        lambda: optax.chain(optim.clip_by_global_norm(10.0), optim.radam(0.02)),
    ),
]


@pytest.mark.parametrize("name,parabola_opt,_", CONVERGENCE, ids=[c[0] for c in CONVERGENCE])
def test_converges_on_narrow_parabola(name, parabola_opt, _):
    start = jnp.array([3.0, 1.0])
    path, losses = optim.optimize_trajectory(parabola_opt(), narrow_parabola, start, 1500)
    assert float(losses[-1]) < 1e-3 * float(losses[0]), name
    np.testing.assert_allclose(path[-1], [0.0, 0.0], atol=0.05)


@pytest.mark.parametrize("name,_,rosen_opt", CONVERGENCE, ids=[c[0] for c in CONVERGENCE])
def test_converges_on_rosenbrock(name, _, rosen_opt):
    start = jnp.array([-1.2, 1.0])
    steps = 20000 if name == "sgd" else 5000
    path, losses = optim.optimize_trajectory(rosen_opt(), rosenbrock, start, steps)
    assert float(losses[-1]) < 1e-2, (name, float(losses[-1]))
    np.testing.assert_allclose(path[-1], [1.0, 1.0], atol=0.15)
