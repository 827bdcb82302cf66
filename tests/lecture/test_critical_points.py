"""§2's claims at the quick size: the toy's saddle and its escape, a trained network's spectrum
where ‖g‖ ≈ 0, and the minimum ratio against the loss at critical points."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxtrain import lecture, optim
from jaxtrain.lecture import critical_points
from jaxtrain.lecture._saddle_escapes import perturbation_settings, planted_saddles

QUICK = lecture.LectureConfig(quick=True)


@pytest.fixture(scope="module")
def claims():
    return {claim.id: claim for claim in critical_points.SECTION.claims(QUICK, seed=0)}


def test_the_toy_origin_is_a_saddle_with_an_escape_direction(claims):
    numbers = claims["toy_saddle"].numbers
    assert numbers["kind"] == "saddle" and numbers["grad_norm"] == 0.0
    np.testing.assert_allclose(numbers["hessian"], [[0.0, -2.0], [-2.0, 0.0]], atol=1e-6)
    np.testing.assert_allclose(numbers["eigenvalues"], [-2.0, 2.0], atol=1e-6)
    u = numbers["escape_direction"]
    assert abs(u[0]) == pytest.approx(2**-0.5, abs=1e-6) and u[0] == pytest.approx(u[1])
    # Exactly, L(t·u) = (1 − t²/2)²: the change is −t² + t⁴/4; ½λt² keeps only −t².
    t = numbers["escape_step"]
    assert numbers["measured_loss_change"] == pytest.approx(-(t**2) + t**4 / 4, abs=1e-6)
    assert numbers["predicted_loss_change"] == pytest.approx(-(t**2), abs=1e-6)
    s = numbers["slice_t"]
    np.testing.assert_allclose(numbers["slice_along_escape"], (1 - s**2 / 2) ** 2, atol=1e-5)
    np.testing.assert_allclose(numbers["slice_across"], (1 + s**2 / 2) ** 2, atol=1e-5)
    # The valley w₁w₂ = 1 is all global minima (L = 0), yet its zero eigenvalue makes the
    # Hessian test undecided.
    np.testing.assert_allclose(numbers["valley_eigenvalues"], [0.0, 4.0], atol=1e-5)
    assert numbers["valley_kind"] == "degenerate" and numbers["valley_loss"] == 0.0
    caption = claims["toy_saddle"].caption
    assert "-2.00 and 2.00: both signs: a saddle point" in caption
    assert f"{numbers['measured_loss_change']:.3f}" in caption


def test_gradient_descent_stays_at_the_saddle_until_something_moves_it(claims):
    numbers = claims["escaping_a_saddle"].numbers
    stuck, escape, nudge, momentum = critical_points._STARTS
    assert np.all(numbers["losses"][stuck] == 1.0)  # g = 0: not one step moves
    leave = numbers["steps_to_leave"]
    assert leave[stuck] is None
    # The escape step starts below the saddle; a 1e-3 nudge needs ln(500)/ln(1.2) ≈ 34 steps
    # of growth first, fewer with momentum.
    assert leave[escape] < 5 < leave[momentum] < leave[nudge] < 60
    assert numbers["final_loss"][escape] < 1e-10 and numbers["final_loss"][nudge] < 1e-10
    assert numbers["growth_per_step"] == pytest.approx(1.2, rel=1e-3)
    assert numbers["predicted_growth_per_step"] == pytest.approx(1.2, rel=1e-6)
    caption = claims["escaping_a_saddle"].caption
    assert "never moves" in caption and f"{leave[nudge]} (final L" in caption
    assert "The lecture's remark" in caption


def test_the_escape_transforms_leave_the_toy_saddle_in_a_handful_of_steps(claims):
    # Quick size: the toy L = (1 − w₁w₂)² from its saddle at 0 (issue 16's first case).
    numbers = claims["saddle_escapes"].numbers
    (toy,) = numbers["cases"]
    steps, cost = numbers["steps"][toy], numbers["cost"][toy]
    assert steps["gradient descent"] is None  # g = 0: it never moves
    assert numbers["final_loss"][toy]["gradient descent"] == 1.0
    assert numbers["lambda_min"][toy] == pytest.approx(-2.0, abs=1e-5)
    assert steps["negative-curvature descent"] <= 5 and steps["saddle-free Newton"] <= 3
    assert steps["perturbed GD"] < 100 and steps["GD + small noise"] < 100
    assert all(numbers["meets_target"][toy].values())
    # Every curve ends at the first loss below the target, at the step counted.
    for method, losses in numbers["losses"][toy].items():
        if steps[method] is not None:
            assert losses.size == steps[method] + 1 and losses[-1] < numbers["target"][toy]
            assert np.all(losses[:-1] >= numbers["target"][toy])
    # Lanczos costs Hessian-vector products: the curvature methods cost more than their steps.
    assert cost["negative-curvature descent"] > steps["negative-curvature descent"]
    assert cost["perturbed GD"] == steps["perturbed GD"]
    caption = claims["saddle_escapes"].caption
    assert "gradient descent never in 400" in caption
    assert "Each transform met the target on toy L = (1 − w₁w₂)², from 0, the one case" in caption
    # Perturbed GD's ε_g, r and T by Jin et al.'s rule: ℓ = max |λ| = 2, the toy's ρ = 4,
    # ε = λmin²/ρ = 1, d = 2, Δ_L = L(0) = 1. At 0, g = 0 <= ε_g: one kick, and T = 398
    # steps before another could come.
    assert numbers["lambda_max"][toy] == pytest.approx(2.0, abs=1e-5)
    settings = numbers["perturbation_settings"][toy]
    rule = optim.perturbed_gd_hyperparameters(
        numbers["learning_rate"][toy],
        smoothness=max(numbers["lambda_max"][toy], -numbers["lambda_min"][toy]),
        hessian_lipschitz=4.0,
        epsilon=numbers["lambda_min"][toy] ** 2 / 4.0,
        dimension=2,
        loss_gap=1.0,
    )
    assert settings == rule and settings["escape_steps"] > steps["perturbed GD"]
    assert numbers["perturbations"][toy]["perturbed GD"] == 1
    assert numbers["perturbations"][toy]["gradient descent"] == 0
    assert f"r {settings['radius']:.2g}, T {settings['escape_steps']}, 1 kick" in caption


def test_the_escape_caption_names_a_missed_target(claims):
    numbers = dict(claims["saddle_escapes"].numbers)
    (toy,) = numbers["cases"]
    numbers["meets_target"] = {toy: {"perturbed GD": False, "saddle-free Newton": True}}
    numbers["steps"] = {toy: dict(numbers["steps"][toy], **{"gradient descent": 50})}
    caption = critical_points._saddle_escapes_caption(numbers)
    perturbed = numbers["steps"][toy]["perturbed GD"]
    missed = f"Target missed by perturbed GD on {toy} ({perturbed} steps vs gradient descent's 50)"
    assert missed in caption
    assert "met the target on every case" not in caption
    # Where perturbed GD misses, its ratio and the time scales: 1/(η|λmin|) = 1/(0.1·2) = 5.
    ratio = (
        f"On {toy} it took {perturbed / 50:.2f} of gradient descent's steps "
        "(the target is at most 0.2)"
    )
    assert ratio in caption and "1/(η|λmin|) = 5 steps" in caption
    assert "It never kicked" not in caption  # one kick on the toy
    numbers["perturbations"] = {toy: dict(numbers["perturbations"][toy], **{"perturbed GD": 0})}
    caption = critical_points._saddle_escapes_caption(numbers)
    assert "It never kicked: ‖g‖ stayed above ε_g at every step." in caption


def test_perturbed_gd_settings_take_the_largest_curvature_of_either_sign():
    # ℓ, the gradient's Lipschitz constant at the start, is max |λ|: here |λmin| = 3 > λmax.
    (toy,) = planted_saddles(QUICK)
    settings = perturbation_settings(toy, (-3.0, 1.0))
    rule = optim.perturbed_gd_hyperparameters(
        toy.learning_rate,
        smoothness=3.0,
        hessian_lipschitz=toy.hessian_lipschitz,
        epsilon=9.0 / toy.hessian_lipschitz,
        dimension=2,
        loss_gap=1.0,
    )
    assert settings == rule


def test_a_narrow_miss_is_not_printed_as_the_target(claims):
    # 500 of 2,495 steps is 0.2004: two decimals would print the target, 0.20.
    numbers = dict(claims["saddle_escapes"].numbers)
    (toy,) = numbers["cases"]
    numbers["meets_target"] = {toy: {"perturbed GD": False, "saddle-free Newton": True}}
    steps = dict(numbers["steps"][toy], **{"gradient descent": 2495, "perturbed GD": 500})
    numbers["steps"] = {toy: steps}
    caption = critical_points._saddle_escapes_caption(numbers)
    assert "it took 0.2004 of gradient descent's steps (the target is at most 0.2)" in caption


def test_perturbed_gd_settings_need_a_saddle():
    (toy,) = planted_saddles(QUICK)
    with pytest.raises(ValueError, match=r"λmin = 0\.5 >= 0 at the start, not a saddle"):
        perturbation_settings(toy, (0.5, 2.0))


def test_trained_spectrum_at_a_small_gradient(claims):
    numbers = claims["trained_spectrum"].numbers
    n = numbers["n_params"]
    assert n == 97 == numbers["eigenvalues"].size
    assert numbers["num_positive"] + numbers["num_negative"] + numbers["num_zero"] == n
    # Minimizing ½‖g‖² after Adam makes the point critical, so the Hessian test applies.
    assert numbers["grad_norm"] <= numbers["grad_tol"]
    assert numbers["grad_norm"] < numbers["grad_norm_after_adam"]
    # A few large curvatures and a bulk of near-zero ones: ≥ 90% of λ within the tolerance.
    assert numbers["num_zero"] > 0.9 * n and numbers["eigenvalues"][-1] > 10.0
    assert numbers["minimum_ratio"] == pytest.approx(numbers["num_positive"] / n)
    # Lanczos quadrature (Hessian-vector products only) sees the dense extremes and ratio.
    assert numbers["lanczos_max"] == pytest.approx(numbers["eigenvalues"][-1], rel=1e-2)
    assert numbers["lanczos_minimum_ratio"] == pytest.approx(numbers["minimum_ratio"], abs=0.05)
    # Along the steepest eigenvector the loss follows ½λt²; along the flattest it barely moves.
    t = numbers["slice_t"][-1]
    steep_change = numbers["slice_steepest"][-1] - numbers["loss"]
    assert steep_change == pytest.approx(0.5 * numbers["steepest_eigenvalue"] * t**2, rel=0.15)
    flat_change = np.abs(numbers["slice_flattest"] - numbers["loss"]).max()
    assert flat_change < 1e-4 * steep_change
    caption = claims["trained_spectrum"].caption
    assert f"{numbers['num_zero']} near-zero" in caption
    assert f"{numbers['lanczos_minimum_ratio']:.3f}" in caption


def test_minimum_ratio_where_the_gradient_is_small(claims):
    numbers = claims["minimum_ratio_vs_loss"].numbers
    runs, n = numbers["runs"], numbers["n_params"]
    ratios, losses, critical = numbers["minimum_ratios"], numbers["losses"], numbers["critical"]
    np.testing.assert_allclose(ratios, numbers["num_positive"] / n)
    counts = numbers["num_positive"] + numbers["num_negative"] + numbers["num_zero"]
    assert np.all(counts == n) and len(numbers["kinds"]) == runs
    np.testing.assert_array_equal(critical, numbers["grad_norms"] <= numbers["grad_tol"])
    assert numbers["num_critical"] == critical.sum() >= runs // 2
    assert numbers["num_saddles"] + numbers["num_without_negative"] == numbers["num_critical"]
    # Both kinds occur: saddles from early stops, on a plateau of high loss; the low-loss points
    # have no way down, only flat directions, and none is a strict minimum.
    saddles = critical & (numbers["num_negative"] > 0)
    flat = critical & (numbers["num_negative"] == 0)
    assert saddles.sum() >= 2 and flat.sum() >= 2
    assert losses[saddles].min() > 10 * losses[flat].max()
    assert numbers["num_strict_minima"] == 0 and ratios.max() < 0.5
    assert np.all(numbers["num_zero"][flat] > n // 2)
    # The caption states the measured sign of the trend, whichever it is.
    r = numbers["correlation"]
    assert (r < 0) == (numbers["slope_per_decade"] < 0)
    caption = claims["minimum_ratio_vs_loss"].caption
    assert f"log₁₀ loss r = {r:+.2f}" in caption
    if r <= -0.3:
        assert "lower loss goes with a higher ratio, the lecture's trend." in caption
    elif r >= 0.3:
        assert "the opposite of the lecture's trend" in caption
    else:
        assert "so the lecture's trend is not shown" in caption
    assert "Every saddle has a higher loss than every point without negative curvature" in caption


@pytest.mark.parametrize(
    ("r", "reading"),
    [
        (-0.6, "lower loss goes with a higher ratio, the lecture's trend."),
        (0.6, "lower loss goes with a lower ratio, the opposite of the lecture's trend."),
        (0.1, "no clear trend either way (|r| < 0.3), so the lecture's trend is not shown."),
    ],
)
def test_the_ratio_caption_reads_the_trend_from_its_numbers(claims, r, reading):
    # The old card said the lecture's trend "is shown" whatever the sign (issue 12).
    numbers = dict(claims["minimum_ratio_vs_loss"].numbers, correlation=r, slope_per_decade=r / 10)
    caption = critical_points._ratio_caption(numbers)
    assert f"r = {r:+.2f}, slope {r / 10:+.3f} per tenfold loss" in caption
    assert caption.endswith(reading)


def test_minimizing_the_gradient_norm_finds_saddles_too():
    # Started near the toy's saddle, Levenberg–Marquardt on ½‖g‖² goes to the saddle, not down.
    loss_fn = critical_points._toy_loss
    start = jnp.array([[0.05, 0.02], [0.9, 1.2]])
    points, norms = critical_points._minimize_gradient_norm(loss_fn, start, 30)
    np.testing.assert_allclose(points[0], [0.0, 0.0], atol=1e-5)
    assert abs(float(points[1, 0] * points[1, 1]) - 1.0) < 1e-5  # the second, the valley
    assert norms.shape == (2, 31) and float(norms[:, -1].max()) < 1e-5


def test_claims_carry_their_section_and_a_figure(claims):
    assert list(claims) == [e.__name__ for e in critical_points.SECTION.experiments]
    for claim in claims.values():
        assert claim.section == "critical_points"
        assert claim.figure.axes


def test_the_notebook_prints_numbers_its_claims_have(claims, check_notebook_numbers):
    check_notebook_numbers("critical_points", claims)


def test_the_gauss_newton_matrix_has_none_of_the_saddles_negative_eigenvalues(claims):
    import jax
    from jax.flatten_util import ravel_pytree

    claim = claims["hessian_vs_gauss_newton"]
    numbers = claim.numbers
    assert numbers["kind"] == "saddle" and numbers["grad_norm"] <= numbers["grad_tol"]
    negative, lowest, highest = numbers["num_negative"], numbers["lowest"], numbers["highest"]
    assert negative["hessian"] > 0 and negative["gauss_newton"] == 0
    assert lowest["gauss_newton"] >= -numbers["eig_tol"] and lowest["hessian"] < -numbers["eig_tol"]
    assert highest["gauss_newton"] == pytest.approx(highest["hessian"], rel=0.05)
    # Reference: for the MSE over N outputs H_ℓ = (2/N)·I, so G = (2/N)·JᵀJ, with J from
    # jax.jacobian at the same point, in float64.
    runs = critical_points._critical_points(QUICK, 0)
    params = critical_points._unstack(runs["points"], numbers["run"])
    apply, _, state, (x, _) = critical_points._regression_net(0)
    flat, unravel = ravel_pytree(params)
    J = jax.jacobian(lambda v: apply(unravel(v), state, x, train=False)[0].ravel())(flat)
    J = np.asarray(J, np.float64)
    expected = np.linalg.eigvalsh(2.0 / J.shape[0] * J.T @ J)
    eigenvalues = numbers["eigenvalues"]
    np.testing.assert_allclose(eigenvalues["gauss_newton"], expected, atol=1e-5 * expected[-1])
    report = runs["reports"][numbers["run"]]
    np.testing.assert_allclose(eigenvalues["hessian"], report.eigenvalues, atol=1e-5)
    # Traces add: tr H = tr G + tr(H − G).
    assert eigenvalues["hessian"].sum() == pytest.approx(
        eigenvalues["gauss_newton"].sum() + eigenvalues["difference"].sum(), rel=1e-4
    )
    assert (
        f"the Hessian has {negative['hessian']}, down to {lowest['hessian']:.3g}" in claim.caption
    )
    assert "at the same point has none" in claim.caption
