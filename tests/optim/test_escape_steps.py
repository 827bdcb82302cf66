"""The saddle-escape transforms (issue 16) against NumPy float64 references of their steps.

(Their escape from the lecture's toy saddle, in a handful of steps, is checked on the lecture's
claim ``critical_points.saddle_escapes``, which runs it: tests/lecture/test_critical_points.py.)

One quadratic L(θ) = ½θᵀAθ with A = Q diag(λ) Qᵀ in 4 dimensions serves every test: with
λ = (−2, 0.5, 1, 3) the origin is a saddle whose way down is Q's first column; with
λ = (0.5, 1, 2, 3) it is a minimum. A is an argument of each compiled step, so one compilation
per transform serves both (and the no-recompilation check).
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxtrain import optim

N = 4
Q = np.linalg.qr(np.random.default_rng(0).normal(size=(N, N)))[0]
SADDLE = Q @ np.diag([-2.0, 0.5, 1.0, 3.0]) @ Q.T
MINIMUM = Q @ np.diag([0.5, 1.0, 2.0, 3.0]) @ Q.T
NEAR = 1e-4 * np.array([1.0, -2.0, 0.5, 1.5])  # ‖g‖ ≈ 4e-4: below the 1e-3 threshold
FAR = np.array([1.0, -2.0, 0.5, 1.5])
RHO, RATE, DAMPING = 4.0, 0.1, 1e-2
# float32 Lanczos on a 4 × 4 operator: eigenvectors to ~1e-6, steps of size ~0.5.
ATOL = 2e-5


def quadratic(theta, a):
    return 0.5 * theta @ (a @ theta)


def _inner_scaled_by_loss():
    """sgd(RATE) whose step is multiplied by the loss it receives as ``obj_fn``: shows that
    the extra argument reaches a wrapped optimizer."""

    def update(updates, state, params=None, *, obj_fn=None, **extra):
        del extra
        return jax.tree.map(lambda g: -RATE * obj_fn(params) * g, updates), state

    return optax.GradientTransformationExtraArgs(lambda params: optax.EmptyState(), update)


TRANSFORMS = {
    "negative_curvature_descent": lambda: optim.negative_curvature_descent(
        optim.sgd(RATE), hessian_lipschitz=RHO
    ),
    "saddle_free_newton": lambda: optim.saddle_free_newton(
        N, damping=DAMPING, hessian_lipschitz=RHO
    ),
    "perturbed_gd": lambda: optim.perturbed_gd(RATE, radius=0.01, escape_steps=3),
    # In a chain, after a scale of 1, around an optimizer that uses obj_fn itself.
    "chained": lambda: optax.chain(
        optim.negative_curvature_descent(_inner_scaled_by_loss(), hessian_lipschitz=RHO),
        optax.scale(2.0),
    ),
}


@pytest.fixture(scope="module")
def compiled():
    """``{name: (optimizer, step, traces)}``; ``step(theta, state, a)`` is jitted once."""
    out = {}
    for name, factory in TRANSFORMS.items():
        opt = factory()
        traces = []

        def step(theta, state, a, opt=opt, traces=traces):
            traces.append(1)
            grads = jax.grad(quadratic)(theta, a)
            return opt.update(grads, state, theta, obj_fn=lambda t: quadratic(t, a))

        out[name] = (opt, jax.jit(step), traces)
    return out


def run(compiled, name, theta, a, state=None):
    opt, step, _ = compiled[name]
    theta = jnp.asarray(theta, jnp.float32)
    state = opt.init(theta) if state is None else state
    updates, state = step(theta, state, jnp.asarray(a, jnp.float32))
    return np.asarray(updates, np.float64), state


def negative_curvature_reference(theta, a):
    """s·(|λmin|/ρ)·u, s the sign that lowers ½θᵀAθ: −sign(gᵀu) on a quadratic."""
    values, vectors = np.linalg.eigh(a)
    u = vectors[:, 0]
    return -np.sign((a @ theta) @ u) * abs(values[0]) / RHO * u


def test_negative_curvature_descent_steps_along_the_negative_eigenvector(compiled):
    updates, state = run(compiled, "negative_curvature_descent", NEAR, SADDLE)
    np.testing.assert_allclose(updates, negative_curvature_reference(NEAR, SADDLE), atol=ATOL)
    assert float(state.eigenvalue) == pytest.approx(-2.0, abs=1e-5)
    assert int(state.matvecs) == N and int(state.loss_evaluations) == 3  # L(θ), L(θ ± t·u)
    assert quadratic(NEAR + updates, SADDLE) < quadratic(NEAR, SADDLE)


def test_negative_curvature_descent_takes_the_base_step_elsewhere(compiled):
    # A large gradient: sgd's step, and no Hessian-vector product at all.
    updates, state = run(compiled, "negative_curvature_descent", FAR, SADDLE)
    np.testing.assert_allclose(updates, -RATE * SADDLE @ FAR, rtol=1e-5)
    assert int(state.matvecs) == 0
    # A small gradient at a minimum: Lanczos finds λmin = 0.5 > 0, so sgd's step again.
    updates, state = run(compiled, "negative_curvature_descent", NEAR, MINIMUM)
    np.testing.assert_allclose(updates, -RATE * MINIMUM @ NEAR, rtol=1e-4, atol=1e-9)
    assert float(state.eigenvalue) == pytest.approx(0.5, abs=1e-5)


def test_saddle_free_newton_is_the_damped_absolute_newton_step(compiled):
    updates, _ = run(compiled, "saddle_free_newton", FAR, SADDLE)
    values, vectors = np.linalg.eigh(SADDLE)
    absolute = vectors @ np.diag(np.abs(values) + DAMPING) @ vectors.T
    reference = -np.linalg.solve(absolute, SADDLE @ FAR)
    np.testing.assert_allclose(updates, reference, rtol=1e-4, atol=ATOL)
    # Plain Newton −H⁻¹g would go back to the saddle at 0; |H|⁻¹g goes downhill.
    assert quadratic(FAR + updates, SADDLE) < quadratic(FAR, SADDLE)


def test_saddle_free_newton_leaves_a_critical_point_by_negative_curvature(compiled):
    updates, state = run(compiled, "saddle_free_newton", NEAR, SADDLE)
    np.testing.assert_allclose(updates, negative_curvature_reference(NEAR, SADDLE), atol=ATOL)
    assert int(state.matvecs) == N


def test_perturbed_gd_kicks_only_where_the_gradient_is_small_and_not_too_often(compiled):
    updates, state = run(compiled, "perturbed_gd", FAR, SADDLE)
    np.testing.assert_allclose(updates, -RATE * SADDLE @ FAR, rtol=1e-6)
    assert int(state.perturbations) == 0
    kicks = []
    for _ in range(5):  # escape_steps = 3: a kick, three gradient steps, a kick
        updates, state = run(compiled, "perturbed_gd", NEAR, SADDLE, state)
        kicks.append(not np.allclose(updates, -RATE * SADDLE @ NEAR, rtol=1e-6))
        if kicks[-1]:
            assert 0 < np.linalg.norm(updates) <= 0.01 * (1 + 1e-6)
    assert kicks == [True, False, False, False, True] and int(state.perturbations) == 2


def test_perturbed_gd_kicks_are_uniform_in_the_ball(compiled):
    # For ξ uniform in the ball of radius r in n dimensions, E‖ξ‖ = r·n/(n + 1), E ξ = 0.
    opt, step, _ = compiled["perturbed_gd"]
    theta = jnp.zeros(N)
    states = jax.vmap(lambda key: opt.init(theta)._replace(key=key))(
        jax.random.split(jax.random.key(1), 2000)
    )
    kicks = np.asarray(
        jax.vmap(step, in_axes=(None, 0, None))(theta, states, jnp.asarray(SADDLE, jnp.float32))[0]
    )
    norms = np.linalg.norm(kicks, axis=1)
    assert norms.max() <= 0.01 * (1 + 1e-6)
    assert norms.mean() == pytest.approx(0.01 * N / (N + 1), rel=0.02)
    np.testing.assert_allclose(kicks.mean(axis=0), 0.0, atol=5e-4)


def test_extra_arguments_reach_a_chain_and_the_wrapped_optimizer(compiled):
    # Far from the saddle, the wrapped optimizer's −η·L(θ)·g, then optax.scale(2).
    updates, _ = run(compiled, "chained", FAR, SADDLE)
    loss = quadratic(FAR, SADDLE)
    np.testing.assert_allclose(updates, -2 * RATE * loss * SADDLE @ FAR, rtol=1e-5)
    updates, _ = run(compiled, "chained", NEAR, SADDLE)
    np.testing.assert_allclose(updates, 2 * negative_curvature_reference(NEAR, SADDLE), atol=ATOL)


def test_compiled_once_and_the_state_keeps_its_shapes_and_dtypes(compiled):
    for name in TRANSFORMS:
        opt, _, traces = compiled[name]
        state = opt.init(jnp.zeros(N))
        for theta in (NEAR, FAR, 2 * FAR):
            _, new_state = run(compiled, name, theta, SADDLE, state)
            before = jax.tree.map(lambda x: (x.shape, x.dtype), state)
            assert jax.tree.map(lambda x: (x.shape, x.dtype), new_state) == before, name
            state = new_state
        assert len(traces) == 1, f"{name} traced {len(traces)} times"


@pytest.mark.parametrize(
    ("factory", "kwargs", "message"),
    [
        (optim.negative_curvature_descent, {"gradient_threshold": 0.0}, "`gradient_threshold`"),
        (optim.negative_curvature_descent, {"curvature_threshold": -1.0}, "`curvature_threshold`"),
        (optim.negative_curvature_descent, {"hessian_lipschitz": float("nan")}, "`hessian_lip"),
        (optim.negative_curvature_descent, {"num_iters": 0}, "`num_iters` must be a Python int"),
        (optim.negative_curvature_descent, {"num_iters": 4.0}, "`num_iters` must be a Python int"),
        (optim.negative_curvature_descent, {"max_halvings": -1}, "`max_halvings`"),
        (optim.negative_curvature_descent, {"tol": 0.0}, "`tol`"),
        (optim.saddle_free_newton, {"k": 0}, "`k` must be a Python int >= 1, got 0"),
        (optim.saddle_free_newton, {"k": 2, "damping": 0.0}, "`damping` must be finite and > 0"),
        (optim.saddle_free_newton, {"k": 2, "learning_rate": -1.0}, "`learning_rate`"),
        (optim.perturbed_gd, {"learning_rate": 0.0}, "`learning_rate`"),
        (optim.perturbed_gd, {"learning_rate": 0.1, "radius": -0.1}, "`radius`"),
        (optim.perturbed_gd, {"learning_rate": 0.1, "escape_steps": 0}, "`escape_steps`"),
        (optim.perturbed_gd, {"learning_rate": 0.1, "escape_steps": 2**31}, "`escape_steps`"),
        # Before, each of these passed construction and failed later, or named nothing.
        (optim.saddle_free_newton, {"k": 2, "max_halvings": 2**31}, "`max_halvings` must be"),
        (optim.perturbed_gd, {"learning_rate": 0.1, "seed": 1.5}, "`seed` must be an int"),
        (optim.saddle_free_newton, {"k": 2, "seed": None}, "`seed` must be an int"),
        (optim.negative_curvature_descent, {"seed": "a"}, "`seed` must be an int"),
        (optim.perturbed_gd, {"learning_rate": 0.1, "seed": True}, "`seed` must be an int"),
    ],
)
def test_bad_hyperparameters_are_refused(factory, kwargs, message):
    if factory is optim.negative_curvature_descent:
        kwargs = {"optimizer": optim.sgd(0.1), **kwargs}
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        factory(**kwargs)


def test_saddle_free_newtons_tol_warns_that_it_has_no_effect():
    """The same program with and without ``tol``: equal jaxprs (both branches, near the saddle
    and far from it, are in the one traced update), so no compilation is needed to show it."""
    with pytest.warns(DeprecationWarning, match=r"saddle_free_newton\(tol=\.\.\.\) has no effect"):
        given = optim.saddle_free_newton(N, damping=DAMPING, hessian_lipschitz=RHO, tol=1e-8)
    plain = TRANSFORMS["saddle_free_newton"]()
    theta, a = jnp.asarray(NEAR, jnp.float32), jnp.asarray(SADDLE, jnp.float32)
    programs = [
        str(
            jax.make_jaxpr(lambda t, s, u=opt.update: u(t, s, t, obj_fn=lambda p: quadratic(p, a)))(
                theta, opt.init(theta)
            )
        )
        for opt in (given, plain)
    ]
    assert programs[0] == programs[1]


@pytest.mark.parametrize("name", ["negative_curvature_descent", "saddle_free_newton"])
def test_an_update_without_the_loss_is_refused(name):
    opt = TRANSFORMS[name]()
    theta = jnp.zeros(N)
    with pytest.raises(ValueError, match="needs the loss as an extra argument"):
        opt.update(theta, opt.init(theta), theta)
    with pytest.raises(ValueError, match="needs `params`"):
        opt.update(theta, opt.init(theta), obj_fn=jnp.sum)


def _jin_reference(eta, ell, rho, eps, d, gap, delta):
    """Jin et al. (2017), Algorithm 2, in float64: their c from η = c/ℓ."""
    c = np.float64(eta) * ell
    chi = 3.0 * max(np.log(d * ell * gap / (c * eps**2 * delta)), 4.0)
    return {
        "gradient_threshold": np.sqrt(c) / chi**2 * eps,
        "radius": np.sqrt(c) / chi**2 * eps / ell,
        "escape_steps": int(np.ceil(chi / c**2 * ell / np.sqrt(rho * eps))),
    }


@pytest.mark.parametrize(
    "constants",
    [
        # The toy's (η, ℓ, ρ, ε = λmin²/ρ, d, Δ_L): the log term, 5.3, sets χ.
        (0.1, 2.0, 4.0, 1.0, 2, 1.0, 0.1),
        # A plateau's: tiny ε, so χ = 3·ln(…) ≈ 56 and T runs to ~10⁴.
        (1.0, 0.94, 1e-3, 0.0243, 3466, 2.3, 0.1),
        # A log term below 4: χ takes its floor 12.
        (0.5, 1.0, 1.0, 10.0, 1, 1e-3, 0.5),
    ],
)
def test_perturbed_gd_hyperparameters_follow_jin_et_al(constants):
    eta, ell, rho, eps, d, gap, delta = constants
    ours = optim.perturbed_gd_hyperparameters(
        eta,
        smoothness=ell,
        hessian_lipschitz=rho,
        epsilon=eps,
        dimension=d,
        loss_gap=gap,
        failure_probability=delta,
    )
    reference = _jin_reference(*constants)
    assert set(ours) == set(reference) and isinstance(ours["escape_steps"], int)
    for name in ("gradient_threshold", "radius"):
        assert ours[name] == pytest.approx(reference[name], rel=1e-12), name
    assert ours["escape_steps"] == reference["escape_steps"]
    # r = ε_g/ℓ: the kick is the distance a step of η = 1/ℓ moves at the threshold.
    assert ours["radius"] == pytest.approx(ours["gradient_threshold"] / ell, rel=1e-12)
    optim.perturbed_gd(eta, **ours)  # the keywords perturbed_gd takes


@pytest.mark.parametrize(
    "dimension", [np.int64(1000), np.int32(7), np.uint64(2**40), 2**31, 7_000_000_000]
)
def test_perturbed_gd_hyperparameters_take_any_integer_dimension(dimension):
    # d only enters χ's logarithm. Before: NumPy integers were refused ("must be a Python
    # int") and so was any d above 2³¹ − 1, a count of parameters that large models exceed.
    constants = (0.1, 2.0, 4.0, 1.0, int(dimension), 1.0, 0.1)
    eta, ell, rho, eps, _, gap, delta = constants
    ours = optim.perturbed_gd_hyperparameters(
        eta,
        smoothness=ell,
        hessian_lipschitz=rho,
        epsilon=eps,
        dimension=dimension,
        loss_gap=gap,
        failure_probability=delta,
    )
    reference = _jin_reference(*constants)
    for name in ("gradient_threshold", "radius"):
        assert ours[name] == pytest.approx(reference[name], rel=1e-12), name
    assert ours["escape_steps"] == reference["escape_steps"]


def test_perturbed_gd_hyperparameters_take_a_dimension_beyond_float_range():
    # ln d of a Python int of any size: d = 10⁴⁰⁰ gives χ = 3·(400·ln 10 + ln(ℓΔ_L/(cε²δ))).
    ours = optim.perturbed_gd_hyperparameters(
        0.1, smoothness=2.0, hessian_lipschitz=4.0, epsilon=1.0, dimension=10**400, loss_gap=1.0
    )
    chi = 3.0 * (400 * np.log(10.0) + np.log(2.0 / (0.2 * 0.1)))
    assert ours["gradient_threshold"] == pytest.approx(np.sqrt(0.2) / chi**2, rel=1e-12)


def test_perturbed_gd_hyperparameters_cap_t_at_the_int32_state():
    settings = optim.perturbed_gd_hyperparameters(
        1e-6, smoothness=1.0, hessian_lipschitz=1e-6, epsilon=1e-6, dimension=10, loss_gap=1.0
    )
    assert settings["escape_steps"] == 2**30
    state = optim.perturbed_gd(1e-6, **settings).init(jnp.zeros(2))
    assert int(state.last_perturbation) == -(2**30) - 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"smoothness": 0.0}, "`smoothness` must be finite and > 0, got 0.0"),
        ({"hessian_lipschitz": float("nan")}, "`hessian_lipschitz`"),
        ({"epsilon": -1.0}, "`epsilon`"),
        ({"loss_gap": 0.0}, "`loss_gap`"),
        ({"dimension": 2.0}, "`dimension` must be an integer >= 1, got 2.0"),
        ({"dimension": 0}, "`dimension` must be an integer >= 1, got 0"),
        ({"dimension": np.int64(-3)}, "`dimension` must be an integer >= 1, got -3"),
        ({"dimension": True}, "`dimension` must be an integer >= 1, got True"),
        ({"dimension": "10"}, "`dimension` must be an integer >= 1, got '10'"),
        ({"failure_probability": 1.0}, "`failure_probability` must be in (0, 1), got 1.0"),
        # η = 0.1: ηℓ = 2 makes gradient descent diverge along the top eigenvector.
        ({"smoothness": 20.0}, "learning_rate · smoothness = 2 >= 2: gradient descent"),
    ],
)
def test_perturbed_gd_hyperparameters_refuse_bad_constants(kwargs, message):
    constants = {
        "smoothness": 1.0,
        "hessian_lipschitz": 1.0,
        "epsilon": 0.1,
        "dimension": 2,
        "loss_gap": 1.0,
        **kwargs,
    }
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        optim.perturbed_gd_hyperparameters(0.1, **constants)


def test_perturbed_gd_hyperparameters_take_a_step_just_below_divergence():
    # 1 <= ηℓ < 2 is outside the theorem's c < 1 but stable for gradient descent: settings.
    settings = optim.perturbed_gd_hyperparameters(
        0.1, smoothness=19.9, hessian_lipschitz=1.0, epsilon=0.1, dimension=2, loss_gap=1.0
    )
    assert settings["radius"] > 0 and settings["escape_steps"] >= 1


def test_a_learning_rate_where_the_wrapped_optimizer_belongs_is_refused():
    # Before: AttributeError: 'float' object has no attribute 'init', from inside optax.
    with pytest.raises(TypeError, match=r"`optimizer` must be an optax GradientTransformation"):
        optim.negative_curvature_descent(0.1)


@pytest.mark.parametrize("name", ["negative_curvature_descent", "saddle_free_newton"])
def test_a_loss_that_is_not_a_scalar_is_refused_when_traced(name):
    # Before: a loss of shape (1,) (a missing [0] or mean) went through unnoticed.
    opt = TRANSFORMS[name]()
    theta = jnp.zeros(N)
    with pytest.raises(ValueError, match=r"`obj_fn` must return a scalar loss; got shape \(1,\)"):
        opt.update(theta, opt.init(theta), theta, obj_fn=lambda p: jnp.sum(p)[None])


@pytest.mark.parametrize(
    ("factory", "args", "counts"),
    [
        (optim.perturbed_gd, (0.1,), ("escape_steps",)),
        (optim.saddle_free_newton, (2,), ("k", "max_halvings")),
        (optim.negative_curvature_descent, (optim.sgd(0.1),), ("num_iters", "max_halvings")),
    ],
)
def test_under_inject_hyperparams_the_counts_are_named_static(factory, args, counts):
    # optax injects every numeric argument, defaults included, as an array: a count that
    # sizes a compiled loop cannot be one. The refusal says what to do, and doing it works.
    with pytest.raises(ValueError, match=rf"static_args=\('{counts[0]}'"):
        optax.inject_hyperparams(factory)(*args).init(jnp.zeros(N))
    injected = optax.inject_hyperparams(factory, static_args=counts)(*args)
    plain = factory(*args)
    theta = jnp.asarray(FAR, jnp.float32)
    grads = jnp.asarray(SADDLE @ FAR, jnp.float32)

    def loss(p):
        return 0.5 * p @ jnp.asarray(SADDLE, jnp.float32) @ p

    step = jax.jit(lambda opt, s: opt.update(grads, s, theta, obj_fn=loss)[0], static_argnums=0)
    np.testing.assert_allclose(
        step(injected, injected.init(theta)), step(plain, plain.init(theta)), rtol=1e-6
    )


@pytest.mark.parametrize("name", ["negative_curvature_descent", "saddle_free_newton"])
def test_parameters_without_entries_have_nothing_to_escape(name):
    # Before: "`like` has no array leaves" at every update, large gradient or not (both
    # branches of the step are traced, and the Hessian's refused the empty vector).
    opt = TRANSFORMS[name]()
    empty = {"w": jnp.zeros((0, 3))}
    updates, state = jax.jit(lambda g, s, p: opt.update(g, s, p, obj_fn=lambda q: 0.0))(
        empty, opt.init(empty), empty
    )
    assert updates["w"].shape == (0, 3) and int(state.matvecs) == 0


def test_line_search_halves_until_the_loss_falls_and_stops_after_max_halvings():
    # L(x) = x(x − 0.3) from x = 0 along +1: t = 1 and 1/2 raise it, t = 1/4 lowers it, the
    # third trial, which max_halvings = 2 allows and 1 does not (mutation audit, 2026-12-07:
    # "<" for "<=" in the halving count passed this file).
    from jaxtrain.optim._escape_step import line_search

    def loss(x):
        return jnp.sum(x * (x - 0.3))

    def search(halvings, both_signs=False):
        return jax.jit(
            lambda x: line_search(
                loss, x, jnp.ones(1), 1.0, halvings, both_signs=both_signs, loss=loss(x)
            )
        )(jnp.zeros(1))

    step, evaluations, found = search(2)
    np.testing.assert_array_equal(step, [0.25])
    assert bool(found) and int(evaluations) == 3
    step, evaluations, found = search(1)
    np.testing.assert_array_equal(step, [0.0])
    assert not bool(found) and int(evaluations) == 2
    # Both signs: at t = 1 the other sign, −1, gives L = 1.3; at t = 1/4, −1/4 gives 0.1375.
    step, evaluations, found = search(2, both_signs=True)
    np.testing.assert_array_equal(step, [0.25])
    assert bool(found) and int(evaluations) == 6


def test_line_search_keeps_a_descent_direction_on_a_flat_loss_and_refuses_either_sign():
    # An unchanged loss (a decrease below rounding) is kept along a descent direction, but
    # is no reason to pick a sign of an eigenvector (audit: "<" for "<=" passed this file).
    from jaxtrain.optim._escape_step import line_search

    def flat(x):
        return jnp.sum(0.0 * x) + 1.0

    for both_signs, expected in ((False, [1.0]), (True, [0.0])):
        step, _, found = jax.jit(
            lambda x, both=both_signs: line_search(
                flat, x, jnp.ones(1), 1.0, 3, both_signs=both, loss=flat(x)
            )
        )(jnp.zeros(1))
        np.testing.assert_array_equal(step, expected)
        assert bool(found) is not both_signs
