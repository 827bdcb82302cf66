"""The saddle-escape transforms against Jin et al. 2017, Dauphin et al. 2014 and the optax
conventions: the negative-curvature line search, perturbed gradient descent's perturbation
schedule and ball, and saddle-free Newton's Krylov step, each checked against the paper or a
NumPy reference.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.flatten_util import ravel_pytree
from jax_modes import x64_enabled

from jaxtrain import optim

RHO = 4.0


def _step(opt, loss, params, state=None):
    """One jitted update at ``params`` from the raw gradient, as the transforms expect."""
    state = opt.init(params) if state is None else state
    update = jax.jit(lambda g, s, p: opt.update(g, s, p, obj_fn=loss))
    return update(jax.grad(loss)(params), state, params)


def _krylov_basis(a, g, k):
    """An orthonormal basis of span{g, Hg, …, H^{k−1}g}, H = ``a``, in NumPy float64.

    Each new vector is H times the last one, orthogonalized twice against all the earlier ones
    (Arnoldi with full reorthogonalization). The same space as the QR of the powers
    [g, Hg, …], but the powers lose the small-curvature directions to rounding once H's
    spectrum is wide (10⁷ against 10⁻¹⁹ for H = diag(10, 2e-3) and k = 8).
    """
    basis = [g / np.linalg.norm(g)]
    for _ in range(k - 1):
        w = a @ basis[-1]
        for _ in range(2):
            q = np.stack(basis, axis=1)
            w = w - q @ (q.T @ w)
        basis.append(w / np.linalg.norm(w))
    return np.stack(basis, axis=1)


def _krylov_sfn_reference(a, g, k, damping):
    """Dauphin et al.'s damped −|H|⁻¹g restricted to span{g, Hg, …, H^{k−1}g}, in NumPy."""
    basis = _krylov_basis(a, g, k)
    ritz_values, s = np.linalg.eigh(basis.T @ a @ basis)
    y = basis @ s
    return -y @ ((y.T @ g) / (np.abs(ritz_values) + damping))


# --- A NaN trial on one side does not hide the descent on the other ---------------------------
# The loss is NaN for w₀ > 0 (a log barrier, a sqrt domain…), a saddle at 0 with λmin = −2
# along e₀. L(θ − t·e₀) = −t² < L(θ) = 0, so the sign that lowers the loss is −, and the step
# is −(|λ|/ρ)·e₀ = (−0.5, 0). A NaN is not a lower loss: the line search counts a NaN trial as
# +inf, so it loses the comparison and the sign is taken from the finite side. (Comparing with
# jnp.minimum(plus, minus) would give NaN, reject every trial and leave the update at 0.)
def _one_sided_nan(w):
    return w[1] ** 2 - w[0] ** 2 + jnp.where(w[0] > 0, jnp.nan, 0.0)


@pytest.mark.parametrize(
    "factory",
    [
        lambda: optim.negative_curvature_descent(optim.sgd(0.1), hessian_lipschitz=RHO),
        lambda: optim.saddle_free_newton(2, hessian_lipschitz=RHO),
    ],
    ids=["negative_curvature_descent", "saddle_free_newton"],
)
def test_negative_curvature_step_takes_the_finite_side_when_the_other_is_nan(factory):
    w = jnp.zeros(2)
    updates, state = _step(factory(), _one_sided_nan, w)
    assert float(state.eigenvalue) == pytest.approx(-2.0, abs=1e-5)
    np.testing.assert_allclose(np.asarray(updates), [-2.0 / RHO, 0.0], atol=1e-5)
    assert float(_one_sided_nan(w + updates)) < float(_one_sided_nan(w))


# --- perturbed_gd gives descent T steps between two kicks -------------------------------------
# Jin et al. 2017, Algorithm 2: t_noise ← −t_thres − 1 and a perturbation only when
# t − t_noise > t_thres (strict), and each iteration also takes a gradient step, so t_thres + 1
# gradient steps follow each perturbation (the escape test is made at t − t_noise = t_thres).
# Here the kick is a step of its own, so descent gets T steps to carry the perturbation away
# before another is drawn: a kick only when count − last_perturbation > T, with t_noise = −T − 1
# at init, so kicks are >= T + 1 steps apart and step 0 may perturb. (With >= instead, descent
# would get T − 1 steps, and with T = 1 every update would be a kick.) A zero gradient (a flat
# region) keeps ‖g‖ ≤ ε_g at every step.
@pytest.mark.parametrize("escape_steps", [1, 2, 5])
def test_perturbed_gd_leaves_t_thres_descent_steps_between_kicks(escape_steps):
    opt = optim.perturbed_gd(0.1, gradient_threshold=1.0, escape_steps=escape_steps)
    step = jax.jit(opt.update)
    w, state, kicks = jnp.zeros(3), opt.init(jnp.zeros(3)), []
    for t in range(3 * (escape_steps + 2)):
        updates, state = step(jnp.zeros(3), state, w)
        if np.any(np.asarray(updates) != 0):
            kicks.append(t)
    assert kicks[0] == 0  # t_noise = −T − 1: the first step may perturb
    assert min(np.diff(kicks)) >= escape_steps + 1, kicks


# --- The kick schedule does not wrap in int32 near the end of the counter ----------------------
# The counters saturate at 2³¹ − 1 so that long runs stay correct. The difference
# count − last_perturbation would overflow once count > 2³¹ − 1 − T while last_perturbation is
# still its initial value, wrap negative and never draw a kick again. The test is therefore
# count − T > last_perturbation, which cannot overflow (0 ≤ count, T ≤ 2³⁰): with ‖g‖ ≤ ε_g and
# no perturbation in the last T steps, a kick is drawn at count = 2³¹ − 3.
def test_perturbed_gd_is_due_a_kick_near_the_end_of_the_int32_counter():
    opt = optim.perturbed_gd(0.1, gradient_threshold=1.0, escape_steps=10)
    state = opt.init(jnp.zeros(2))._replace(count=jnp.int32(2**31 - 3))
    updates, state = jax.jit(opt.update)(jnp.zeros(2), state, jnp.zeros(2))
    assert int(state.perturbations) == 1
    assert 0 < np.linalg.norm(np.asarray(updates)) <= 1e-2 * (1 + 1e-6)


# --- perturbed_gd accepts parameters with no entries -------------------------------------------
# optax.sgd (and the gradient step here) handle a (0, 3) leaf, e.g. a layer over an empty
# batch/width: there is nothing to perturb, so the update is the (empty) gradient step. The
# kick radius r·U^{1/n} uses 1/max(n, 1), since 1/n with n = 0 would raise ZeroDivisionError
# while tracing (the kick is empty anyway).
def test_perturbed_gd_accepts_params_with_zero_entries():
    params = {"w": jnp.zeros((0, 3))}
    opt = optim.perturbed_gd(0.1)
    updates, _ = jax.jit(opt.update)(params, opt.init(params), params)
    assert updates["w"].shape == (0, 3)


# --- saddle_free_newton takes its Newton step in the Krylov space of g ------------------------
# Dauphin et al. 2014 (and the docstring's step 1) build the subspace from g: span{g, Hg, …}.
# Where ‖g‖ < ε_g Lanczos is warm-started from the stored eigenvector to look for
# λmin < −ε_H; when it finds no negative curvature, the step −|H|⁻¹g is taken from the Krylov
# space of g, not from the warm-started subspace. That subspace's projection of g can be small,
# so near a minimum (exactly where ‖g‖ < ε_g) a step from it would lose most of the decrease:
# on this 20-dim convex quadratic with k = 4 the Krylov step of g removes 99.9% of the loss, a
# step from the warm-started subspace about 40%.
def test_saddle_free_newton_uses_the_krylov_space_of_g_below_the_threshold():
    rng = np.random.default_rng(2)
    n, k, damping = 20, 4, 1e-2
    q = np.linalg.qr(rng.normal(size=(n, n)))[0]
    a = q @ np.diag(np.linspace(0.5, 3.0, n)) @ q.T
    theta = 1e-4 * rng.normal(size=n)
    g = a @ theta
    assert np.linalg.norm(g) < 1e-3  # below the default ε_g
    with x64_enabled():
        aj = jnp.asarray(a)
        loss = lambda t: 0.5 * t @ (aj @ t)  # noqa: E731
        opt = optim.saddle_free_newton(k, damping=damping)
        updates, state = _step(opt, loss, jnp.asarray(theta))
        assert float(state.eigenvalue) > 0  # no negative curvature: the Newton branch
        reference = _krylov_sfn_reference(a, g, k, damping)
        np.testing.assert_allclose(np.asarray(updates), reference, rtol=1e-6, atol=1e-12)


# --- Line search, perturbation and Krylov step on reference problems --------------------------
def test_negative_curvature_sign_and_halving_follow_the_loss():
    # L = −w₀² + w₀³ + w₁²: λmin = −2 along ±e₀, and the cubic makes −e₀ the way down whatever
    # sign Lanczos returns. t = |λ|/ρ = 0.5: L(−0.5·e₀) = −0.375 < L(+0.5·e₀) = −0.125.
    cubic = lambda w: -(w[0] ** 2) + w[0] ** 3 + w[1] ** 2  # noqa: E731
    opt = optim.negative_curvature_descent(optim.sgd(0.1), hessian_lipschitz=RHO)
    updates, state = _step(opt, cubic, jnp.zeros(2))
    np.testing.assert_allclose(np.asarray(updates), [-0.5, 0.0], atol=1e-5)
    assert int(state.loss_evaluations) == 3
    # ρ too small: t = 2/0.1 = 20, halved while L(±t·e₀) = −t² + t⁴ >= 0, i.e. t >= 1:
    # 20·2⁻⁵ = 0.625 is the first that lowers L, after 6 trials of 2 evaluations (+ L(θ)).
    quartic = lambda w: -(w[0] ** 2) + w[0] ** 4 + w[1] ** 2  # noqa: E731
    opt = optim.negative_curvature_descent(optim.sgd(0.1), hessian_lipschitz=0.1)
    updates, state = _step(opt, quartic, jnp.zeros(2))
    assert abs(float(updates[0])) == pytest.approx(20 * 2.0**-5, rel=1e-5)
    assert float(updates[1]) == pytest.approx(0.0, abs=1e-5)
    assert int(state.loss_evaluations) == 1 + 2 * 6


def test_negative_curvature_descent_on_a_float64_pytree_in_a_chain_at_an_exact_saddle():
    rng = np.random.default_rng(3)
    q = np.linalg.qr(rng.normal(size=(8, 8)))[0]
    lam = np.array([-1.5, -0.2, 0.3, 0.5, 1.0, 2.0, 3.0, 4.0])
    a = q @ np.diag(lam) @ q.T
    with x64_enabled():
        params = {"w": jnp.zeros((2, 3)), "b": jnp.zeros(2)}
        aj = jnp.asarray(a)

        def loss(p):
            flat = ravel_pytree(p)[0]
            return 0.5 * flat @ (aj @ flat)

        opt = optax.chain(
            optim.negative_curvature_descent(
                optim.sgd(0.1), hessian_lipschitz=RHO, num_iters=8, tol=1e-12
            ),
            optax.scale(1.0),
        )
        updates, state = _step(opt, loss, params)  # g = 0 exactly
        assert jax.tree.map(lambda x: (x.shape, x.dtype), updates) == jax.tree.map(
            lambda x: (x.shape, x.dtype), params
        )
        step = np.asarray(ravel_pytree(updates)[0])
        assert float(state[0].eigenvalue) == pytest.approx(-1.5, abs=1e-10)
        assert np.linalg.norm(step) == pytest.approx(1.5 / RHO, rel=1e-10)
        assert abs(step @ q[:, 0]) == pytest.approx(1.5 / RHO, rel=1e-8)  # along u_min
        new = optax.apply_updates(params, updates)  # updates are added
        assert float(loss(new)) == pytest.approx(-0.5 * 1.5**3 / RHO**2, rel=1e-8)


def test_saddle_free_newton_in_a_krylov_subspace_matches_numpy_far_from_critical_points():
    rng = np.random.default_rng(1)
    n, k, damping = 6, 3, 1e-2
    q = np.linalg.qr(rng.normal(size=(n, n)))[0]
    a = q @ np.diag([-2.0, -0.3, 0.2, 0.7, 1.5, 4.0]) @ q.T
    theta = rng.normal(size=n)
    with x64_enabled():
        aj = jnp.asarray(a)
        loss = lambda t: 0.5 * t @ (aj @ t)  # noqa: E731
        opt = optim.saddle_free_newton(k, damping=damping, max_halvings=0)
        updates, state = _step(opt, loss, jnp.asarray(theta))
        assert updates.dtype == jnp.float64 and int(state.matvecs) == k
        reference = _krylov_sfn_reference(a, a @ theta, k, damping)
        np.testing.assert_allclose(np.asarray(updates), reference, rtol=1e-9, atol=1e-12)
        assert float(loss(theta + updates)) < float(loss(jnp.asarray(theta)))


def test_saddle_free_newton_stays_put_at_an_exact_minimum():
    a = jnp.diag(jnp.array([0.5, 1.0, 2.0]))
    loss = lambda t: 0.5 * t @ (a @ t)  # noqa: E731
    updates, state = _step(optim.saddle_free_newton(3), loss, jnp.zeros(3))
    assert np.all(np.asarray(updates) == 0.0)
    assert float(state.eigenvalue) == pytest.approx(0.5, abs=1e-5)
    assert int(state.loss_evaluations) == 1  # only L(θ): a zero direction gets no trial


def test_perturbed_gd_is_deterministic_per_seed_and_kicks_a_whole_pytree_in_the_ball():
    params = {"a": jnp.zeros((2, 3)), "b": jnp.zeros(4), "c": jnp.zeros(())}

    def kick(seed):
        opt = optim.perturbed_gd(0.1, radius=0.05, seed=seed)
        return jax.jit(opt.update)(params, opt.init(params), params)

    (first, state), (again, _), (other, _) = kick(0), kick(0), kick(1)
    assert jax.tree.map(jnp.shape, first) == jax.tree.map(jnp.shape, params)
    flat = np.asarray(ravel_pytree(first)[0])
    np.testing.assert_array_equal(flat, np.asarray(ravel_pytree(again)[0]))
    assert not np.allclose(flat, np.asarray(ravel_pytree(other)[0]))
    assert 0 < np.linalg.norm(flat) <= 0.05 * (1 + 1e-6) and int(state.perturbations) == 1
    assert np.count_nonzero(flat) == flat.size  # every leaf is perturbed, not only one


def test_perturbed_gd_kick_radius_has_the_uniform_ball_law():
    # Uniform in the n-ball of radius r: P(‖ξ‖ <= s·r) = sⁿ. Kolmogorov–Smirnov on 4000 draws
    # at n = 3 (5% critical value 1.36/√4000 ≈ 0.0215; the keys are fixed, so deterministic).
    opt = optim.perturbed_gd(0.1, radius=2.0)
    theta = jnp.zeros(3)
    states = jax.vmap(lambda key: opt.init(theta)._replace(key=key))(
        jax.random.split(jax.random.key(7), 4000)
    )
    kicks = jax.jit(jax.vmap(opt.update, in_axes=(None, 0, None)))(theta, states, theta)[0]
    s = np.sort(np.linalg.norm(np.asarray(kicks), axis=1) / 2.0)
    empirical = np.arange(1, s.size + 1) / s.size
    assert np.max(np.abs(empirical - s**3)) < 0.0215


# --- Half-precision parameters ----------------------------------------------------------------
# LAPACK has no float16 or bfloat16 eigensolver, and half precision cannot hold Lanczos's
# orthogonality or a norm of many entries (squares overflow float16 above 65504 and underflow
# below 6e-8): the transforms do their linear algebra in float32 and return steps in the
# parameters' dtype.
@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
@pytest.mark.parametrize(
    "factory",
    [
        lambda: optim.negative_curvature_descent(optim.sgd(0.1), hessian_lipschitz=RHO),
        lambda: optim.saddle_free_newton(2, hessian_lipschitz=RHO),
    ],
    ids=["negative_curvature_descent", "saddle_free_newton"],
)
def test_hessian_steps_on_half_precision_params_match_float32(factory, dtype):
    def toy(w):  # the lecture's (1 − w₁w₂)², a saddle at 0 with λmin = −2 along (1, 1)/√2
        return (1.0 - w[0] * w[1]) ** 2

    opt = factory()
    half, state = _step(opt, toy, jnp.zeros(2, dtype))
    full, _ = _step(opt, toy, jnp.zeros(2, jnp.float32))
    # The step in the parameters' dtype; the eigenvector, kept for the next warm start, in
    # float32 (half precision holds neither its norm nor its orthogonality).
    assert half.dtype == dtype and state.vector.dtype == jnp.float32
    # |λ|/ρ = 0.5 along ±(1, 1)/√2: both dtypes take that step (to half precision's rounding).
    np.testing.assert_allclose(np.abs(np.asarray(half, np.float32)), np.abs(full), rtol=1e-2)
    np.testing.assert_allclose(np.abs(full), 0.5 / np.sqrt(2), rtol=1e-4)


@pytest.mark.parametrize(
    "factory",
    [
        lambda: optim.negative_curvature_descent(optim.sgd(0.1), hessian_lipschitz=4.0),
        lambda: optim.saddle_free_newton(4, hessian_lipschitz=4.0),
    ],
    ids=["negative_curvature_descent", "saddle_free_newton"],
)
def test_many_float16_parameters_still_find_the_way_down(factory):
    # Before: the warm start drew its random vector and took its norm in float16, which
    # overflows past 65,504 squares: a zero start, a NaN eigenvalue, a zero step, for good.
    def pairs(w):  # 35,000 copies of the toy (1 − w₁w₂)²: a saddle at 0 with λmin = −2
        w = w.astype(jnp.float32).reshape(-1, 2)
        return jnp.sum((1.0 - w[:, 0] * w[:, 1]) ** 2)

    opt = factory()
    w = jnp.zeros(70_000, jnp.float16)
    updates, state = _step(opt, pairs, w)
    assert float(state.eigenvalue) == pytest.approx(-2.0, rel=1e-3)
    assert updates.dtype == jnp.float16 and float(pairs(w + updates)) < float(pairs(w))


def test_perturbed_gd_measures_half_precision_gradients_without_overflow_or_underflow():
    opt = optim.perturbed_gd(0.1, gradient_threshold=1e-3, radius=0.01, escape_steps=5)
    # ‖g‖ = 3.2e-3 > ε_g: a gradient step. Each square (1e-8) underflows float16.
    small = jnp.full(1000, 1e-4, jnp.float16)
    updates, state = jax.jit(opt.update)(small, opt.init(small), small)
    assert int(state.perturbations) == 0
    np.testing.assert_allclose(np.asarray(updates, np.float32), -1e-5, rtol=1e-2)
    # A kick among 100,000 float16 parameters: ‖direction‖² ≈ 1e5 overflows float16.
    zeros = jnp.zeros(100_000, jnp.float16)
    updates, state = jax.jit(opt.update)(zeros, opt.init(zeros), zeros)
    kick = float(jnp.linalg.norm(jnp.asarray(updates, jnp.float32)))
    assert int(state.perturbations) == 1 and updates.dtype == jnp.float16
    assert 0 < kick <= 0.01 * 1.001


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_perturbed_gd_keeps_the_gradient_dtype_under_float32_injected_hyperparameters(dtype):
    # jaxtrain's half_precision_note recommends hyperparam_dtype=float32 for half-precision
    # parameters. Before: the float32 η promoted the update to float32 (both branches: the
    # kick is selected against the gradient step), unlike optax's transforms and
    # saddle_free_newton, which return the gradient's dtype.
    opt = optax.inject_hyperparams(
        optim.perturbed_gd, static_args=("escape_steps",), hyperparam_dtype=jnp.float32
    )(learning_rate=0.1, radius=0.01, escape_steps=5)
    update = jax.jit(opt.update)
    grads = jnp.asarray([1.0, -2.0, 0.5], dtype)  # ‖g‖ > ε_g: the gradient step
    updates, state = update(grads, opt.init(grads), grads)
    assert updates.dtype == dtype and int(state.inner_state.perturbations) == 0
    # −ηg in float64, to the half-precision rounding of the result (2⁻⁸ relative for bf16).
    reference = -0.1 * np.asarray(grads, np.float64)
    np.testing.assert_allclose(np.asarray(updates, np.float64), reference, rtol=2**-8)
    zeros = jnp.zeros(3, dtype)  # g = 0: the kick
    updates, state = update(zeros, opt.init(zeros), zeros)
    assert updates.dtype == dtype and int(state.inner_state.perturbations) == 1
    assert 0 < float(jnp.linalg.norm(updates.astype(jnp.float32))) <= 0.01 * 1.01


def test_saddle_free_newton_takes_the_gradient_step_where_the_curvature_is_nan():
    # L = w₀² + |w₁|^1.5 at (1, 0): L and g = (2, 0) are finite, but the second derivative of
    # |w₁|^1.5 at 0 is infinite, so H·v and the Newton direction are NaN. No trial can lower
    # L along a NaN direction (none is evaluated). Before, the step was zero, and with θ and
    # the state unchanged, at every later update too; now it is the gradient step −t·g, t the
    # first of η, η/2, … that lowers L: η = 0.25 at once, L(0.5, 0) = 0.25 < 1.
    def loss(w):
        return w[0] ** 2 + jnp.abs(w[1]) ** 1.5

    opt = optim.saddle_free_newton(2, learning_rate=0.25)
    updates, state = _step(opt, loss, jnp.array([1.0, 0.0]))
    np.testing.assert_allclose(updates, [-0.5, 0.0], rtol=1e-6)
    assert int(state.loss_evaluations) == 2  # L(θ), and L at the gradient step


def test_perturbed_gd_kicks_complex_parameters_within_the_ball():
    # Before: the radius was drawn in the parameters' complex dtype, which
    # jax.random.uniform refuses, at every step (the kick is always computed).
    opt = optim.perturbed_gd(0.1, radius=0.01, escape_steps=5)
    zeros = jnp.zeros(8, jnp.complex64)
    updates, state = jax.jit(opt.update)(zeros, opt.init(zeros), zeros)
    assert updates.dtype == jnp.complex64 and int(state.perturbations) == 1
    assert 0 < float(jnp.linalg.norm(updates)) <= 0.01 * 1.001
    assert float(jnp.abs(jnp.imag(updates)).max()) > 0  # a ball in ℂ⁸, not ℝ⁸
    grads = jnp.full(8, 1 + 1j, jnp.complex64)
    updates, _ = jax.jit(opt.update)(grads, opt.init(zeros), zeros)
    np.testing.assert_allclose(updates, -0.1 * grads, rtol=1e-6)


def test_perturbed_gd_complex_kicks_are_uniform_in_the_ball_of_c_n():
    # ℂ⁸ is ℝ¹⁶: uniform in its ball of radius r, E‖ξ‖ = r·16/17 (0.941 r; drawn as in ℝ⁸,
    # 8/9 = 0.889 r). Audit, 2026-12-07: a mutant with d = n passed the escape tests.
    opt = optim.perturbed_gd(0.1, radius=0.01, escape_steps=5)
    zeros = jnp.zeros(8, jnp.complex64)
    states = jax.vmap(lambda key: opt.init(zeros)._replace(key=key))(
        jax.random.split(jax.random.key(3), 2000)
    )
    kicks = jax.jit(jax.vmap(lambda s: opt.update(zeros, s, zeros)[0]))(states)
    norms = np.linalg.norm(np.asarray(kicks), axis=1)
    assert norms.max() <= 0.01 * (1 + 1e-6)
    assert norms.mean() == pytest.approx(0.01 * 16 / 17, rel=0.01)


def test_saddle_free_newton_carries_a_nan_gradient_into_its_update():
    # Before: a NaN gradient gave a zero update (the line search's answer to a NaN
    # direction), so a loop watching updates or parameters stalled without a sign; gradient
    # descent's update carries the NaN, and optax.apply_if_finite or fit can act on it.
    def loss(w):
        return jnp.sum(w**2)

    opt = optim.saddle_free_newton(2)
    w = jnp.array([1.0, 2.0])
    update = jax.jit(lambda g, s, p: opt.update(g, s, p, obj_fn=loss))
    updates, _ = update(jnp.array([jnp.nan, 1.0]), opt.init(w), w)
    assert np.all(np.isnan(np.asarray(updates)))


# --- The Newton run from g stops early only where its Krylov space is invariant --------------
# Ritz values can meet a relative tolerance (residual ≤ tol·|θ|) long before span{g, Hg, …} is
# invariant: a part c of g along a direction of curvature ≈ 0 leaves a residual of only |θ|·c
# on the stiff Ritz pair, so with c < tol·‖g‖ the run stopped after one product. Yet that part
# is what |H|⁻¹ amplifies most, to c/δ (Dauphin et al. 2014: long steps along plateaus), and
# it was dropped. H = diag(10, 0), g = (1, 9e-4), δ = 1e-2: the step is
# −(1/10.01, 9e-4/0.01) = (−0.0999, −0.09); before, (−0.0999, −0.0000899) after 1 product.
def test_saddle_free_newton_keeps_the_part_of_g_along_a_flat_direction():
    def loss(w):  # H = diag(10, 0); g = (1, 9e-4) at w = (0.1, 0)
        return 5.0 * w[0] ** 2 + 9e-4 * w[1]

    damping = 1e-2
    opt = optim.saddle_free_newton(2, damping=damping, max_halvings=0)
    updates, state = _step(opt, loss, jnp.array([0.1, 0.0]))
    g = np.array([1.0, 9e-4])
    reference = -g / (np.array([10.0, 0.0]) + damping)  # k = n: the whole space
    # float32 Lanczos on a 2 × 2 operator of norm 10: entries to ~1e-6 relative.
    np.testing.assert_allclose(np.asarray(updates), reference, rtol=1e-5)
    assert int(state.matvecs) == 2


# The same in 50 dimensions (the review's case): one stiff direction λ = 10 holding nearly all
# of g, 49 near-flat ones (|λ| ≤ 2e-3) holding 9e-4 of it. With k = 8 the Krylov step of g in
# float64 matches NumPy's projection to 1e-9; before, Lanczos stopped after one product and the
# step was 63% off (a relative tolerance of 1e-3 on θ = 10 accepted the residual 9e-3).
@pytest.mark.parametrize("k", [2, 8])
def test_saddle_free_newton_matches_the_krylov_projection_with_a_flat_spectrum(k):
    n, damping = 50, 1e-2
    rng = np.random.default_rng(1)
    q = np.linalg.qr(np.random.default_rng(0).normal(size=(n, n)))[0]
    a = q @ np.diag(np.concatenate([[10.0], rng.uniform(-2e-3, 2e-3, n - 1)])) @ q.T
    b = q @ np.concatenate([[1.0], np.full(n - 1, 9e-4 / np.sqrt(n - 1))])
    with x64_enabled():
        aj, bj = jnp.asarray(a), jnp.asarray(b)
        loss = lambda w: 0.5 * w @ (aj @ w) + bj @ w  # noqa: E731  (g(0) = b)
        opt = optim.saddle_free_newton(k, damping=damping, max_halvings=0)
        updates, state = _step(opt, loss, jnp.zeros(n))
        reference = _krylov_sfn_reference(a, b, k, damping)
        np.testing.assert_allclose(
            np.asarray(updates), reference, rtol=1e-9, atol=1e-12 * np.linalg.norm(reference)
        )
        assert int(state.matvecs) == k


def test_saddle_free_newton_stops_lanczos_once_the_krylov_space_of_g_is_invariant():
    # g = Aθ = (2, 0, 0, 0) is an eigenvector of A: span{g} is invariant after one product, so
    # the Newton step −|H|⁻¹g is exact there and the other k − 1 products would add nothing.
    a = jnp.diag(jnp.array([2.0, 1.0, 3.0, 4.0]))
    updates, state = _step(
        optim.saddle_free_newton(3, damping=1e-2), lambda w: 0.5 * w @ (a @ w), jnp.eye(4)[0]
    )
    assert int(state.matvecs) == 1
    np.testing.assert_allclose(updates, [-2.0 / 2.01, 0.0, 0.0, 0.0], rtol=1e-5, atol=1e-7)
