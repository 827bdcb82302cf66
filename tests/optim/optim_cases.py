"""Shared cases for the optim tests: the optimizer table, a mixed pytree, objectives, runners."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax_modes import x64_enabled  # noqa: F401  (re-exported to the tests)

from jaxtrain import optim
from jaxtrain.optim import schedules

SHAPES = {"w": (4, 5), "b": (5,), "conv": (2, 3, 3), "scale": ()}


def mixed_params(dtype=jnp.float32, seed: int = 0) -> dict:
    """A random pytree of mixed shapes (a matrix, a vector, a 3-d block and a scalar)."""
    keys = jax.random.split(jax.random.key(seed), len(SHAPES))
    return {
        name: jax.random.normal(key, shape, dtype=jnp.float32).astype(dtype)
        for key, (name, shape) in zip(keys, SHAPES.items(), strict=True)
    }


def mixed_loss(params) -> jax.Array:
    """A smooth, non-quadratic loss: a bowl around 1 with ripples, so gradients keep changing."""
    total = 0.0
    for leaf in jax.tree.leaves(params):
        x = leaf.astype(jnp.promote_types(leaf.dtype, jnp.float32))
        total = total + jnp.sum(0.5 * (x - 1.0) ** 2 + 0.1 * jnp.cos(3.0 * x))
    return total


def grads_like_params(params):
    """∇ of :func:`mixed_loss`, cast to each parameter's dtype (as a bfloat16 model gives)."""
    return _grads_like_params(params)


@jax.jit
def _grads_like_params(params):
    grads = jax.grad(mixed_loss)(params)
    return jax.tree.map(lambda g, p: g.astype(p.dtype), grads, params)


def _step(opt):
    def step(carry, _):
        p, state = carry
        updates, state = opt.update(grads_like_params(p), state, p)
        return (optax.apply_updates(p, updates), state), None

    return step


def _scan(opt, params, num_steps):
    (p, state), _ = jax.lax.scan(_step(opt), (params, opt.init(params)), None, length=num_steps)
    return p, state


def run(opt: optax.GradientTransformation, params, num_steps: int = 100, *, use_jit=True):
    """``num_steps`` updates on :func:`mixed_loss`; returns the final (params, opt_state)."""
    if use_jit:
        return jax.jit(lambda p: _scan(opt, p, num_steps))(params)
    carry = (params, opt.init(params))
    step = _step(opt)
    for _ in range(num_steps):
        carry, _ = step(carry, None)
    return carry


def run_pair(ours, theirs, params, num_steps: int = 100):
    """Both optimizers' runs compiled as one program: ((params, state), (params, state))."""
    return jax.jit(lambda p: (_scan(ours, p, num_steps), _scan(theirs, p, num_steps)))(params)


def eager_run(opt: optax.GradientTransformation, steps: int = 30):
    """Parameters and state after ``steps`` eager (unjitted) updates on changing gradients:
    op by op, where rounding can differ from a jitted program's."""
    params = {"w": jnp.ones(3), "b": jnp.array(-0.5)}
    state = opt.init(params)
    for t in range(steps):
        grads = {"w": jnp.sin(jnp.arange(3.0) + t), "b": jnp.cos(jnp.asarray(t, jnp.float32))}
        updates, state = opt.update(grads, state, params)
        params = optax.apply_updates(params, updates)
    return params, state


def assert_trees_close(actual, expected, rtol, atol=0.0):
    """Leaf by leaf ``np.testing.assert_allclose`` in float64."""
    for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected), strict=True):
        np.testing.assert_allclose(
            np.asarray(a, np.float64), np.asarray(e, np.float64), rtol=rtol, atol=atol
        )


@dataclasses.dataclass(frozen=True)
class Case:
    """One optimizer configuration: jaxtrain's factory and optax's equivalent."""

    name: str
    ours: Callable[[], optax.GradientTransformation]
    theirs: Callable[[], optax.GradientTransformation]
    # Checked in float64 and bfloat16 too: one configuration per optimizer (compile time).
    all_dtypes: bool = False


def _sched(lr):
    return schedules.warmup_cosine_decay(0.0, lr, warmup_steps=10, decay_steps=100)


def _optax_sched(lr):
    return optax.warmup_cosine_decay_schedule(0.0, lr, warmup_steps=10, decay_steps=100)


CASES = [
    Case("sgd", lambda: optim.sgd(0.05), lambda: optax.sgd(0.05)),
    Case("sgd_momentum", lambda: optim.sgd(0.02, 0.9), lambda: optax.sgd(0.02, 0.9), True),
    Case(
        "sgd_nesterov",
        lambda: optim.sgd(0.02, 0.9, nesterov=True),
        lambda: optax.sgd(0.02, 0.9, nesterov=True),
    ),
    Case(
        "sgd_schedule",
        lambda: optim.sgd(schedules.exponential_decay(0.05, 10, 0.5), 0.9),
        lambda: optax.sgd(optax.exponential_decay(0.05, 10, 0.5), 0.9),
    ),
    Case("adagrad", lambda: optim.adagrad(0.1), lambda: optax.adagrad(0.1), True),
    Case("rmsprop", lambda: optim.rmsprop(0.01), lambda: optax.rmsprop(0.01)),
    Case(
        "rmsprop_momentum_eps_outside",
        lambda: optim.rmsprop(0.01, momentum=0.9, eps_in_sqrt=False, initial_scale=0.5),
        lambda: optax.rmsprop(0.01, momentum=0.9, eps_in_sqrt=False, initial_scale=0.5),
        True,
    ),
    Case(
        "rmsprop_centered_nesterov",
        lambda: optim.rmsprop(0.01, centered=True, momentum=0.5, nesterov=True),
        lambda: optax.rmsprop(0.01, centered=True, momentum=0.5, nesterov=True),
    ),
    Case(
        "rmsprop_bias_corrected",
        lambda: optim.rmsprop(0.01, bias_correction=True),
        lambda: optax.rmsprop(0.01, bias_correction=True),
    ),
    Case("adam", lambda: optim.adam(0.01), lambda: optax.adam(0.01)),
    Case(
        "adam_nesterov_eps_root",
        lambda: optim.adam(0.01, eps_root=1e-8, nesterov=True),
        lambda: optax.adam(0.01, eps_root=1e-8, nesterov=True),
    ),
    Case(
        "adam_schedule",
        lambda: optim.adam(_sched(0.05)),
        lambda: optax.adam(_optax_sched(0.05)),
        True,
    ),
    Case("adamw", lambda: optim.adamw(0.01), lambda: optax.adamw(0.01)),
    Case(
        "adamw_decay_mask",
        lambda: optim.adamw(0.01, weight_decay=0.1, mask=lambda p: {k: k != "b" for k in p}),
        lambda: optax.adamw(0.01, weight_decay=0.1, mask=lambda p: {k: k != "b" for k in p}),
        True,
    ),
    Case("radam", lambda: optim.radam(0.01), lambda: optax.radam(0.01), True),
]


def case_by_name(name: str) -> Case:
    """The :data:`CASES` entry called ``name``."""
    return next(case for case in CASES if case.name == name)


def optax_factory(name: str):
    """The ``optax`` optimizer function matching jaxtrain's ``name``."""
    return getattr(optax, name)


class TraceCounter:
    """Wraps a function and counts how often JAX traces (not runs) it."""

    def __init__(self, fn):
        self.fn = fn
        self.count = 0

    def __call__(self, *args, **kwargs):
        self.count += 1
        return self.fn(*args, **kwargs)


def rosenbrock(p) -> jax.Array:
    """Rosenbrock's valley L(x, y) = (1 − x)² + 100(y − x²)², minimum at (1, 1)."""
    x, y = p[0], p[1]
    return (1 - x) ** 2 + 100.0 * (y - x**2) ** 2


def narrow_parabola(p) -> jax.Array:
    """The lecture's long narrow valley: L = ½(x² + 100y²), minimum at 0."""
    return 0.5 * (p[0] ** 2 + 100.0 * p[1] ** 2)
