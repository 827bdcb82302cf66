"""What the saddle-escape transforms do when their own step cannot be taken.

Two failures used to freeze them for good: a negative-curvature step whose decrease is below
the loss's rounding (the update was 0, the state unchanged, so every later step repeated it),
and a Hessian-vector product that is not finite (NaN in the state, a zero step for
saddle-free Newton). Each is checked on a small loss against a NumPy reference of the step
that should be taken instead, under ``jax.jit``.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxtrain import optim
from jaxtrain.optim._finite import all_finite

RATE = 0.1
LAMBDA = -2e-3  # twice the default ε_H = 1e-3: negative curvature that counts


# --- A negative-curvature step below the loss's rounding ---------------------------------------
# L = 1 + ½x² + ½λy² + 1e-5·y at 0: ‖g‖ = 1e-5 < ε_g and λmin = λ < −ε_H, so both transforms
# try the step |λ|/ρ = 2e-3 along ±e_y. Its decrease, |λ|³/(3ρ²) ≈ 3e-9 (plus 1e-5·t = 2e-8 on
# the downhill side), is below half a float32 ulp of L = 1 (6e-8): L(θ ± t·e_y) reads as L(θ),
# no sign lowers L, and halving only makes the change smaller.
def plateau_saddle(w):
    return 1.0 + 0.5 * w[0] ** 2 + 0.5 * LAMBDA * w[1] ** 2 + 1e-5 * w[1]


def _trajectory(opt, loss, w, steps):
    """``steps`` jitted updates from ``w``: the iterates (steps + 1) and the last state."""

    @jax.jit
    def step(w, state):
        updates, state = opt.update(jax.grad(loss)(w), state, w, obj_fn=loss)
        return optax.apply_updates(w, updates), state

    state, iterates = opt.init(w), [w]
    for _ in range(steps):
        w, state = step(w, state)
        iterates.append(w)
    return np.asarray(iterates, np.float64), state


def test_negative_curvature_descent_takes_the_wrapped_step_where_no_sign_lowers_the_loss():
    # Before: w stayed at 0 for good (update 0, state unchanged) while sgd moved. Now each
    # failed line search hands the step to the wrapped optimizer, here sgd with momentum
    # (whose state must advance as it would on its own): the same iterates as it, exactly.
    inner = optim.sgd(RATE, momentum=0.9)
    opt = optim.negative_curvature_descent(inner)
    w0 = jnp.zeros(2)
    ours, state = _trajectory(opt, plateau_saddle, w0, 20)
    alone, _ = _trajectory(inner, plateau_saddle, w0, 20)
    np.testing.assert_array_equal(ours, alone)
    assert ours[-1, 1] < ours[1, 1] < 0  # it moves, downhill along y
    # Every step looked for curvature, found λ, and tried the 11 lengths of the search.
    assert float(state.eigenvalue) == pytest.approx(LAMBDA, rel=1e-3)
    assert int(state.loss_evaluations) == 20 * (1 + 2 * 11)


def test_saddle_free_newton_takes_the_newton_step_where_no_sign_lowers_the_loss():
    # Before: the zero update, forever. Now the damped Newton step −(|H| + δ)⁻¹g of g's Krylov
    # space: g = (0, 1e-5) is an eigenvector of H = diag(1, λ), so the step is −g_y/(|λ| + δ)
    # along y (Dauphin et al. 2014), accepted at η = 1 (a descent direction may leave L
    # unchanged in float32).
    damping = 1e-2
    opt = optim.saddle_free_newton(2, damping=damping)
    iterates, state = _trajectory(opt, plateau_saddle, jnp.zeros(2), 5)
    h = np.diag([1.0, LAMBDA])
    values, vectors = np.linalg.eigh(h)
    g = np.array([0.0, 1e-5])
    reference = -vectors @ ((vectors.T @ g) / (np.abs(values) + damping))
    # float32 Lanczos on a 2 × 2 operator: the step to ~1e-5 relative.
    np.testing.assert_allclose(iterates[1] - iterates[0], reference, rtol=1e-5, atol=1e-12)
    assert np.all(np.diff(iterates[:, 1]) < 0)  # and it keeps moving, downhill along y
    assert float(state.eigenvalue) == pytest.approx(LAMBDA, rel=1e-3)


# --- A Hessian-vector product that is not finite ----------------------------------------------
# L = w₀² + |w₁|^1.5 is finite with a finite gradient at w₁ = 0, but its second derivative
# there, ¾|w₁|^−½, is infinite: every Hessian-vector product, Ritz value and Ritz vector is NaN.
def kink(w):
    return w[0] ** 2 + jnp.abs(w[1]) ** 1.5


WARM = (np.array([0.6, 0.8]), -0.5)  # a finite eigenpair from an earlier step


def _with_warm_start(state):
    vector, value = WARM
    return state._replace(
        vector=jnp.asarray(vector, state.vector.dtype),
        eigenvalue=jnp.asarray(value, state.eigenvalue.dtype),
    )


def _one_update(opt, loss, w, state):
    update = jax.jit(lambda g, s, p: opt.update(g, s, p, obj_fn=loss))
    return update(jax.grad(loss)(w), state, w)


@pytest.mark.parametrize(
    ("factory", "w", "matvecs"),
    [
        # ‖g‖ < ε_g: Lanczos from the warm start (2 products in 2 dimensions) …
        (lambda: optim.negative_curvature_descent(optim.sgd(RATE)), [1e-4, 0.0], 2),
        # … and for saddle-free Newton, finding no negative curvature, a second run from g.
        (lambda: optim.saddle_free_newton(2, learning_rate=0.25), [1e-4, 0.0], 4),
        # ‖g‖ > ε_g: the run from g only.
        (lambda: optim.saddle_free_newton(2, learning_rate=0.25), [1.0, 0.0], 2),
    ],
    ids=["negative_curvature_descent", "saddle_free_newton_small_g", "saddle_free_newton_large_g"],
)
def test_a_nan_hessian_product_keeps_the_last_eigenpair_and_a_finite_state(factory, w, matvecs):
    # Before: eigenvalue and vector NaN in the state (fit's all_finite(state) then rejects
    # the step), and for saddle-free Newton a zero update.
    opt = factory()
    w = jnp.asarray(w)
    state = _with_warm_start(opt.init(w))
    updates, new_state = _one_update(opt, kink, w, state)
    assert bool(all_finite(new_state))
    np.testing.assert_array_equal(np.asarray(new_state.vector), WARM[0].astype(np.float32))
    assert float(new_state.eigenvalue) == WARM[1]
    assert int(new_state.matvecs) == matvecs  # the products were spent, and counted
    # The step instead: the wrapped sgd's −ηg, or saddle-free Newton's gradient fallback −t·g
    # with t the first of η, η/2, … that lowers L (η = 0.25 does: L(w − 0.25·g) < L(w)).
    g = np.array([2.0 * float(w[0]), 0.0])
    rate = RATE if isinstance(new_state, optim.NegativeCurvatureDescentState) else 0.25
    np.testing.assert_allclose(np.asarray(updates), -rate * g, rtol=1e-6)


def test_saddle_free_newton_descends_by_gradient_steps_while_the_hessian_is_not_finite():
    # Before: a zero step at every update (the state and the point never changed). w₁ stays
    # 0, so every Hessian-vector product stays NaN; the gradient steps halve w₀ each time.
    opt = optim.saddle_free_newton(2, learning_rate=0.25)
    iterates, state = _trajectory(opt, kink, jnp.array([1.0, 0.0]), 6)
    np.testing.assert_allclose(iterates[:, 0], 0.5 ** np.arange(7), rtol=1e-6)
    np.testing.assert_array_equal(iterates[:, 1], 0.0)
    assert bool(all_finite(state))
