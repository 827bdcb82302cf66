"""jaxtrain.monitor and how fit runs it, against dense NumPy or analytic references: the noise
scale's batch sizes, thresholds under inject_hyperparams and schedules, stale warm starts,
preconditioners, float64, and argument checks."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax_modes import x64_enabled
from monitor_problems import half_squared_error, hessian, linear_apply, regression

from jaxtrain import monitor, optim, train
from jaxtrain.monitor import RunSetup, SharpnessState, StepView


def _view(*, params=None, half_grads=None, batch_size=2, probe_loss=None, opt_state=()):
    return StepView(
        step=jnp.int32(0),
        params=params,
        new_params=params,
        opt_state=opt_state,
        learning_rate=jnp.float32(0.1),
        grads=None,
        half_grads=half_grads,
        batch_size=batch_size,
        probe_loss=probe_loss,
        key=jax.random.key(0),
    )


# --- gradient noise scale -------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [2, 3], ids=["even", "odd"])
def test_noise_terms_are_unbiased_over_every_batch_fit_can_draw(batch_size):
    # For an odd batch, fit's halves are the first 2·(B//2) examples, so the "big" gradient
    # (g_a + g_b)/2 averages B_big = 2·(B//2) examples, not B. McCandlish et al. (2018,
    # app. A) need the true sizes: E|G_B|² = |G|² + c·tr(Σ)(1/B − 1/N). With B = 3, taking
    # B_big = 3 (1/1 − 1/3 instead of 1/1 − 1/2) makes tr(Σ) 0.75× and |G|² biased.
    # Exact check: average the estimates over every ordered pair of examples (each half is
    # one example, as fit draws them without replacement from N = 6).
    n, rng = 6, np.random.default_rng(0)
    per_example = rng.standard_normal((n, 2)) + 0.5
    mean = per_example.mean(0)
    exact_trace = np.mean(np.sum((per_example - mean) ** 2, 1))  # Σ over the N examples
    setup = RunSetup(optax.sgd(0.1), (), {"w": jnp.zeros(2)}, n, batch_size)
    noise = monitor.gradient_noise_scale(ema=0.0).prepare(setup)  # ema 0: the raw estimate

    @jax.jit
    def estimate(halves):
        view = _view(half_grads={"w": halves}, batch_size=batch_size)
        state, _ = noise.measure(noise.init(None), view)
        return state.trace, state.squared_norm

    pairs = [per_example[[i, j]] for i, j in itertools.permutations(range(n), 2)]
    trace, squared_norm = np.mean([estimate(jnp.asarray(p, jnp.float32)) for p in pairs], 0)
    assert trace == pytest.approx(exact_trace, rel=1e-5)
    assert squared_norm == pytest.approx(mean @ mean, rel=1e-5)


# --- stability thresholds -------------------------------------------------------------


def test_injected_rmsprop_keeps_its_nesterov_threshold():
    # inject_hyperparams(optax.rmsprop) with Nesterov momentum keeps Nesterov's threshold:
    # its momentum is the same optax.trace(nesterov=True) as the un-injected optax.rmsprop's,
    # (2+2β)/((1+2β)η) (Cohen et al. 2021, appendix; = 13.57/η at β = 0.9), not the heavy
    # ball's (2+2β)/η = 38/η.
    params, eta = jnp.zeros(3), 0.1
    plain = optax.rmsprop(eta, momentum=0.9, nesterov=True)
    injected = optax.inject_hyperparams(optax.rmsprop)(
        learning_rate=eta, momentum=0.9, nesterov=True
    )
    expected = 3.8 / 2.8 / eta
    for opt in (plain, injected):
        rule = monitor.stability_threshold(opt, opt.init(params), preconditioned=True)
        assert float(rule(eta)) == pytest.approx(expected, rel=1e-6), rule.rule


@pytest.mark.parametrize(
    "make",
    [
        lambda s: optax.sgd(s, momentum=0.5),
        lambda s: optax.inject_hyperparams(optax.sgd)(learning_rate=s, momentum=0.5),
        lambda s: optim.sgd(s, momentum=0.5),
    ],
    ids=["optax", "inject", "jaxtrain"],
)
def test_a_schedule_gives_each_step_the_threshold_of_its_own_eta(make):
    # The step t is stable iff λmax < (2+2β)/ηₜ with ηₜ = schedule(t) (optax applies fn(count)
    # before incrementing): the record must use the η of step t's update, not of t + 1.
    x, y, theta0 = regression(n=64, d=3)
    schedule = optax.linear_schedule(0.1, 0.02, 4)
    _, history = train.fit(
        (linear_apply, theta0, {}),
        make(schedule),
        (x, y),
        loss=half_squared_error,
        steps=6,
        batch_size=32,
        monitors=[monitor.sharpness(every=1)],
        progress=False,
    )
    etas = np.array([schedule(t) for t in range(6)], np.float64)
    np.testing.assert_allclose(history.per_step["learning_rate"], etas, rtol=1e-6)
    np.testing.assert_allclose(history.per_step["stability_threshold"], 3 / etas, rtol=1e-6)
    top = np.linalg.eigvalsh(hessian(x))[-1]  # the probe is all 64 examples
    np.testing.assert_allclose(history.per_step["sharpness"], top, rtol=1e-4)


# --- sharpness ------------------------------------------------------------------------


def _spectrum(n=400, top=10.0, second=5.0):
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    eig = np.concatenate([[top, second], rng.uniform(0.0, 2.0, n - 2)])
    return (q * eig) @ q.T, q


@pytest.mark.parametrize("start", ["nan", "old-top"])
def test_a_warm_started_measurement_finds_the_current_top_eigenvalue(start):
    # The warm start is the last top eigenvector u plus 10% noise. When the top direction
    # changes (eigenvalues cross, or a new direction sharpens, as in progressive sharpening)
    # u is now the 2nd eigenvector (λ₂ = 5, λmax = 10). After 3 products the top Ritz value
    # is ≈ 5 with residual r ≈ 0.025, and r²/gap, the gap taken to the Ritz value below, is
    # tiny: Kato–Temple would call λ₂ converged, 50% off where tol = 1e-3. The outermost
    # Ritz value's bound is r itself, so the run goes on until λmax appears. A NaN state
    # (from a non-finite probe) falls back to a fresh start.
    h, q = _spectrum()
    h32 = jnp.asarray(h, jnp.float32)
    params = {"w": jnp.zeros(h.shape[0], jnp.float32)}
    setup = RunSetup(optax.sgd(0.1), (), params, 64, 8)
    sharp = monitor.sharpness(every=1).prepare(setup)
    vector = np.full(h.shape[0], np.nan) if start == "nan" else q[:, 1]
    state = SharpnessState(jnp.asarray(vector, jnp.float32), jnp.int32(3), jnp.int32(3))

    @jax.jit
    def measure(key):
        view = _view(params=params, probe_loss=lambda p: 0.5 * p["w"] @ (h32 @ p["w"]))
        return sharp.measure(state, view._replace(key=key))

    for seed in range(3):  # the steps' keys draw the fresh part
        new_state, records = measure(jax.random.key(seed))
        assert float(records["sharpness"]) == pytest.approx(10.0, rel=1e-3), seed
        assert abs(float(new_state.vector @ q[:, 0])) == pytest.approx(1.0, abs=1e-2)


def test_a_warm_start_on_the_old_top_direction_finds_a_new_larger_eigenvalue_at_scale():
    # At 200,000 parameters the fresh 10% gives the new top direction a component of about
    # 0.1/√n = 2e-4, so the old direction (now λ₂ = 5) is an eigenvector to within that:
    # its residual passed the stop after 4 products, and every later measurement started
    # from it again (a run recorded 5.0 while λmax rose to 6.0). A warm start now runs at
    # least the steps the cold start took, which a new direction needs to enter.
    n = 200_000
    rng = np.random.default_rng(0)
    d = jnp.asarray(np.concatenate([[5.5, 5.0], rng.uniform(0.0, 2.0, n - 2)]), jnp.float32)
    params = {"w": jnp.zeros(n, jnp.float32)}
    sharp = monitor.sharpness(every=1).prepare(RunSetup(optax.sgd(0.1), (), params, 64, 8))

    @jax.jit
    def measure(state, key):
        view = _view(params=params, probe_loss=lambda p: 0.5 * jnp.sum(d * p["w"] ** 2))
        return sharp.measure(state, view._replace(key=key))

    state, records = measure(sharp.init(params), jax.random.key(0))
    assert float(records["sharpness"]) == pytest.approx(5.5, rel=1e-3)
    old_top = jnp.zeros(n, jnp.float32).at[1].set(1.0)
    state = state._replace(vector=old_top)
    for seed in range(1, 4):
        state, records = measure(state, jax.random.key(seed))
        # Within 2·tol: the 20-step cap can end a run just short of tol (jax 0.7: 1.07e-3).
        assert float(records["sharpness"]) == pytest.approx(5.5, rel=2e-3), seed


def test_sharpness_is_the_largest_algebraic_eigenvalue_and_the_trace_is_exact():
    # Cohen et al.'s sharpness is λmax (scipy eigsh 'LA'), not the largest |λ|: with
    # H = diag(−10, 1, 2) it is 2; Hutchinson on a diagonal H is exact: tr = −7.
    d = jnp.array([-10.0, 1.0, 2.0])

    def apply(p, s, x, *, train, rng=None):
        return jnp.broadcast_to(p["t"], (x.shape[0], 3)), s

    def loss(pred, target):
        return 0.5 * jnp.mean(jnp.sum(pred**2 * d, -1))

    x = np.zeros((8, 1), np.float32)
    _, history = train.fit(
        (apply, {"t": jnp.ones(3)}, {}),
        optax.sgd(0.0),
        (x, x),
        loss=loss,
        steps=2,
        batch_size=8,
        monitors=[monitor.sharpness(every=1), monitor.hessian_trace(every=1)],
        progress=False,
    )
    np.testing.assert_allclose(history.per_step["sharpness"], 2.0, rtol=1e-5)
    np.testing.assert_allclose(history.per_step["hessian_trace"], -7.0, rtol=1e-6)


def test_adam_preconditioner_uses_the_bias_correction_of_the_update_it_measures():
    # Measured at t = 3 (every=3, 4 steps): Cohen et al. 2022's P = (1 − β₁⁴)(√(v/(1 − β₂⁴)) + ε),
    # the count after step 3's update (t + 1 = 4), as optax's Adam divides by; β₂ = 0.9 makes
    # t vs t + 1 visible.
    x, y, theta0 = regression(d=5, scales=[0.1, 0.5, 1.0, 3.0, 10.0])
    state, history = train.fit(
        (linear_apply, theta0, {}),
        optim.adam(0.05, b2=0.9),
        (x, y),
        loss=half_squared_error,
        steps=4,
        batch_size=32,
        monitors=[monitor.sharpness(every=3, preconditioned=True)],
        progress=False,
    )
    (nu,) = [
        np.asarray(s.nu["w"], np.float64).ravel()
        for s in jax.tree.leaves(state.opt_state, is_leaf=lambda s: hasattr(s, "nu"))
        if hasattr(s, "nu")
    ]

    def top(count):
        b1, b2 = 0.9, 0.9
        scale = 1 / np.sqrt((1 - b1**count) * (np.sqrt(nu / (1 - b2**count)) + 1e-8))
        return np.linalg.eigvalsh(scale[:, None] * hessian(x) * scale[None, :])[-1]

    assert abs(top(4) / top(3) - 1) > 0.05  # the two counts are distinguishable
    assert history.per_step["sharpness"][3] == pytest.approx(top(4), rel=1e-3)
    assert history.per_step["stability_threshold"][3] == pytest.approx(38 / 0.05, rel=1e-5)


def test_float64_runs_measure_in_float64_and_record_float32():
    with x64_enabled():
        x, y, _ = regression(n=64, d=3)
        x, y = x.astype(np.float64), y.astype(np.float64)
        theta = {"w": jnp.full((3, 1), 0.3, jnp.float64)}
        state, history = train.fit(
            (linear_apply, theta, {}),
            optax.sgd(0.01),
            (x, y),
            loss=half_squared_error,
            steps=3,
            batch_size=32,
            monitors=[monitor.sharpness(every=2), monitor.gradient_noise_scale()],
            progress=False,
        )
        assert state.params["w"].dtype == jnp.float64
        assert state.monitor_state["sharpness"].vector.dtype == jnp.float64
    measured = history.per_step["sharpness"]
    assert measured.dtype == np.float32 and np.isnan(measured[1])
    np.testing.assert_allclose(measured[[0, 2]], np.linalg.eigvalsh(hessian(x))[-1], rtol=1e-6)
    assert np.isfinite(history.per_step["noise_scale"]).all()


# --- argument checks ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "kwargs"),
    [(monitor.sharpness, {"threshold": True}), (monitor.gradient_noise_scale, {"ema": False})],
    ids=["threshold", "ema"],
)
def test_booleans_are_refused_as_numbers_like_every_other_argument(make, kwargs):
    # every, num_iters, probe_size and num_samples refuse bools, and so do the numbers: True
    # would otherwise read as a constant threshold of 1.0, False as an ema of 0, both in their
    # valid ranges (audit, 2026-12-07: tol=True, refused by its range anyway, tested nothing).
    (value,) = kwargs.values()
    with pytest.raises(ValueError, match=f"got {value}$"):
        make(every=1, **kwargs)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        # Each was accepted: as True, as a tolerance that accepts anything, as no threshold
        # at all, as ema 0; every=2**31 failed inside the compiled step (OverflowError).
        (lambda: monitor.sharpness(5, preconditioned="no"), "preconditioned must be True or"),
        (lambda: monitor.sharpness(5, tol=2.0), r"tol must be a finite number in \(0, 1\)"),
        (lambda: monitor.sharpness(5, tol=float("inf")), "tol must be a finite number"),
        (lambda: monitor.sharpness(5, threshold=float("inf")), "threshold must be a finite"),
        (lambda: monitor.gradient_noise_scale(ema=False), "ema must be a finite number"),
        (lambda: monitor.update_ratio(every=2**31), r"every must be an int ≥ 1 \(at most"),
    ],
)
def test_arguments_that_mean_nothing_are_refused(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_numpy_scalars_are_numbers_like_python_ones():
    # Before: every=np.int64(3) passed while num_iters, probe_size and num_samples refused
    # NumPy ints, and ema and threshold NumPy floats ("must be a number").
    counted = monitor.sharpness(np.int64(5), num_iters=np.int64(10), probe_size=np.int64(32))
    assert (counted.every, counted.num_iters, counted.probe_size) == (5, 10, 32)
    scaled = monitor.sharpness(5, threshold=np.float32(20.0), tol=np.float64(1e-3))
    assert (scaled.threshold, scaled.tol) == (20.0, 1e-3)
    assert monitor.hessian_trace(5, num_samples=np.int32(4)).num_samples == 4
    assert monitor.gradient_noise_scale(ema=np.float32(0.9)).ema == pytest.approx(0.9)


def test_numpy_counts_reach_the_measurement_and_0_or_1_is_a_flag():
    # Before: hessian_trace(num_samples=np.int64(4)) was accepted, then curvature.trace
    # refused it inside fit; preconditioned=1 (accepted before as True) was refused.
    assert monitor.sharpness(5, preconditioned=1).preconditioned is True
    assert monitor.sharpness(5, preconditioned=np.bool_(False)).preconditioned is False
    x, y, theta0 = regression(n=64)
    _, history = train.fit(
        (linear_apply, theta0, {}), optim.sgd(0.01), (x, y), loss=half_squared_error,
        steps=2, batch_size=32, progress=False,
        monitors=[monitor.hessian_trace(1, num_samples=np.int64(4))],
    )  # fmt: skip
    assert np.isfinite(history.per_step["hessian_trace"]).all()
