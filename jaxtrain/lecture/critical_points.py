"""§2 Critical points: saddle or minimum, the way down, and the minimum ratio.

Where the gradient g = ∇L(θ) vanishes training stalls, but not necessarily at a local minimum.
Near a point θ′ the loss is its second-order Taylor expansion

    L(θ) ≈ L(θ′) + (θ − θ′)ᵀg + ½ (θ − θ′)ᵀH(θ − θ′),    H = ∇²L(θ′),

so at a critical point (g = 0) the Hessian H decides: for an eigenvector u of H with eigenvalue
λ, L(θ′ + t·u) ≈ L(θ′) + ½λt². All λ > 0: a local minimum; both signs: a saddle point, and the
eigenvector of a negative λ is a way down; a zero λ leaves the decision to higher orders. The
lecture's *minimum ratio* is the share of positive eigenvalues, (number of λ > 0)/n.

Experiments:

- :func:`toy_saddle`: the lecture's one-example network ŷ = w₁w₂x, whose origin is a saddle
  with eigenvalues ±2 and escape direction (1, 1)/√2;
- :func:`escaping_a_saddle`: gradient descent started at that saddle never moves; a step along
  the escape direction, or a tiny random nudge (what gradient noise supplies), gets it out;
- :func:`saddle_escapes`: from planted saddles, steps until the loss halves for gradient
  descent, noise and the optimizers that escape by curvature or perturbation
  (:func:`~jaxtrain.optim.negative_curvature_descent`, :func:`~jaxtrain.optim.perturbed_gd`,
  :func:`~jaxtrain.optim.saddle_free_newton`);
- :func:`trained_spectrum`: a trained network's dense Hessian spectrum at a point where ‖g‖ was
  driven down, the stochastic Lanczos density that scales to large models, and the loss along
  its steepest and flattest eigenvectors;
- :func:`minimum_ratio_vs_loss`: the lecture's scatter of minimum ratio against training loss,
  measured where ‖g‖ is small, with how many of those points are saddles;
- :func:`hessian_vs_gauss_newton`: at one of those saddles, the Hessian's negative eigenvalues,
  which the Gauss–Newton matrix (positive semi-definite) does not have.

Critical points are found by minimizing ½‖g‖² (Levenberg–Marquardt on the gradient), as the
lecture's minimum ratios are taken where ‖g‖ ≈ 0; such a search converges to saddles as readily
as to minima, and a small ‖g‖ can also mark a gradient-flat region (Frye et al. 2021), so every
ratio is reported with its ‖g‖.

References:
  Dauphin et al., "Identifying and attacking the saddle point problem in high-dimensional
  non-convex optimization", 2014, https://arxiv.org/abs/1406.2572

  Frye et al., "Critical Point-Finding Methods Reveal Gradient-Flat Regions of Deep Network
  Losses", 2021, https://arxiv.org/abs/2003.10397
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from jaxtrain._text import beside, counted, side_by_side
from jaxtrain.lecture._claim import Claim, LectureConfig
from jaxtrain.lecture._section import Section

__all__ = [
    "SECTION",
    "escaping_a_saddle",
    "hessian_vs_gauss_newton",
    "minimum_ratio_vs_loss",
    "saddle_escapes",
    "toy_saddle",
    "trained_spectrum",
]

_ID = "critical_points"
# ‖g‖ at or below this counts as a critical point (losses here are of order 0.01 to 1).
_GRAD_TOL = 1e-3
_ESCAPE_STEP = 0.5  # t, the distance moved along the escape direction u


def _toy_loss(w: Any) -> Any:
    # ŷ = w₁·w₂·x with x = 1 and target ŷ = 1, squared error: the lecture's one-example network.
    return (1.0 - w[0] * w[1]) ** 2


def toy_saddle(config: LectureConfig, seed: int = 0) -> Claim:
    """The lecture's toy network at θ = 0: g = 0, H's eigenvalues ±2, a saddle, and the way down.

    L(w₁, w₂) = (1 − w₁w₂)² has H = [[0, −2], [−2, 0]] at the origin. Along the eigenvector
    u = (1, 1)/√2 of λ = −2 the loss falls as ½λt² to second order; on the valley w₁w₂ = 1
    (every point a global minimum, L = 0) the eigenvalues are 0 and 4.

    Returns:
      A claim whose numbers hold the Hessian, its eigenvalues, the escape direction, the
      measured and predicted loss change of a step along it, the valley's eigenvalues, and the
      surface and slices the figure draws.
    """
    del config, seed  # the toy is exact: no size, no randomness
    import jax.numpy as jnp

    from jaxtrain.curvature import analyze_critical_point, hessian
    from jaxtrain.landscape import loss_slice_1d, loss_surface_2d

    saddle = analyze_critical_point(_toy_loss, jnp.zeros(2))
    valley = analyze_critical_point(_toy_loss, jnp.ones(2))
    u = np.asarray(saddle.escape_direction)
    across = np.array([u[1], -u[0]])  # the other eigenvector (λ = +2), orthogonal to u
    _, measured = saddle.escape(_ESCAPE_STEP)
    ticks = jnp.linspace(-2.0, 2.0, 41)
    e1, e2 = jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0])
    t = jnp.linspace(-1.6, 1.6, 81)
    numbers: dict[str, Any] = {
        "kind": saddle.kind,
        "grad_norm": saddle.grad_norm,
        "loss": saddle.loss,
        "hessian": np.asarray(hessian(_toy_loss, jnp.zeros(2))),
        "eigenvalues": np.asarray(saddle.eigenvalues),
        "escape_direction": u,
        "escape_eigenvalue": saddle.escape_eigenvalue,
        "escape_step": _ESCAPE_STEP,
        "measured_loss_change": measured,
        "predicted_loss_change": saddle.predict(_ESCAPE_STEP),
        "valley_loss": valley.loss,
        "valley_eigenvalues": np.asarray(valley.eigenvalues),
        "valley_kind": valley.kind,
        "surface_ticks": np.asarray(ticks),
        "surface": np.asarray(loss_surface_2d(_toy_loss, jnp.zeros(2), e1, e2, ticks, ticks)),
        "slice_t": np.asarray(t),
        "slice_along_escape": np.asarray(loss_slice_1d(_toy_loss, jnp.zeros(2), u, t)),
        "slice_across": np.asarray(loss_slice_1d(_toy_loss, jnp.zeros(2), across, t)),
    }
    return Claim(
        section=_ID,
        id="toy_saddle",
        title="The toy network's saddle point",
        numbers=numbers,
        figure=_toy_saddle_figure(numbers),
        caption=_toy_saddle_caption(numbers),
    )


def _toy_saddle_figure(numbers: dict[str, Any]) -> Any:
    import matplotlib.pyplot as plt

    from jaxtrain.plot import plot_loss_slice_1d, plot_loss_surface_2d

    fig, (ax_surface, ax_slice) = plt.subplots(1, 2, figsize=(10.5, 4.2))
    ticks = numbers["surface_ticks"]
    plot_loss_surface_2d(
        ticks,
        ticks,
        np.minimum(numbers["surface"], 4.0),  # clipped, so the valley and the saddle show
        ax_surface,
        levels=16,
        xlabel="w₁",
        ylabel="w₂",
    )
    branch = np.linspace(0.5, 2.0, 50)
    for sign in (1.0, -1.0):
        ax_surface.plot(sign * branch, sign / branch, color="gold", lw=1.5)
    ax_surface.plot([], [], color="gold", label="w₁w₂ = 1: minima (L = 0)")
    u = numbers["escape_direction"]
    for sign in (1.0, -1.0):
        ax_surface.annotate(
            "",
            xy=(sign * 1.2 * u[0], sign * 1.2 * u[1]),
            xytext=(0.0, 0.0),
            arrowprops={"arrowstyle": "->", "color": "white", "lw": 2},
        )
    low, high = numbers["eigenvalues"]
    ax_surface.set(title=f"L = (1 − w₁w₂)²: saddle at 0, λ = {low:.0f}, {high:+.0f}")
    ax_surface.set_aspect("equal")
    ax_surface.legend(loc="lower left", fontsize=8)

    t = numbers["slice_t"]
    lam = numbers["escape_eigenvalue"]
    plot_loss_slice_1d(t, numbers["slice_along_escape"], ax_slice, label=f"along u (λ = {lam:.0f})")
    plot_loss_slice_1d(
        t, numbers["slice_across"], ax_slice, label=f"across (λ = {high:+.0f})", xlabel="t"
    )
    for value, color in ((lam, "C0"), (high, "C1")):
        ax_slice.plot(t, numbers["loss"] + 0.5 * value * t**2, "--", color=color, lw=1)
    ax_slice.plot([], [], "k--", lw=1, label="second order: L + ½λt²")
    ax_slice.axvline(numbers["escape_step"], color="gray", lw=0.8)
    ax_slice.set(ylim=(0.0, 3.0), title="through the saddle")
    ax_slice.legend(fontsize=8)
    fig.set_layout_engine("tight")
    return fig


def _toy_saddle_caption(numbers: dict[str, Any]) -> str:
    low, high = numbers["eigenvalues"]
    if numbers["kind"] == "saddle":
        verdict = "both signs: a saddle point, not a minimum"
    else:
        verdict = f"classified {numbers['kind']}"
    u = numbers["escape_direction"]
    measured, predicted = numbers["measured_loss_change"], numbers["predicted_loss_change"]
    valley_low, valley_high = numbers["valley_eigenvalues"]
    if numbers["valley_kind"] == "degenerate":
        valley = (
            "the zero eigenvalue is the flat direction along the valley, so the Hessian alone "
            f"cannot prove a minimum (degenerate) although L = {numbers['valley_loss']:.1g} there"
        )
    else:
        valley = f"the Hessian calls it {numbers['valley_kind']}"
    return (
        f"At θ = (0, 0) of L = (1 − w₁w₂)² the gradient is 0 (‖g‖ = {numbers['grad_norm']:.1g}) "
        f"and H's eigenvalues are {low:.2f} and {high:.2f}: {verdict}. A step t = "
        f"{numbers['escape_step']} along the eigenvector u = ({u[0]:.3f}, {u[1]:.3f}) of "
        f"λ = {numbers['escape_eigenvalue']:.2f} changes the loss by {measured:.3f}; ½λt² "
        f"predicts {predicted:.3f} (the rest, {measured - predicted:+.3f}, is the higher-order "
        f"term the expansion drops). On the valley w₁w₂ = 1 the eigenvalues are "
        f"{valley_low:.2f} and {valley_high:.2f}: {valley}."
    )


_TOY_LEARNING_RATE, _TOY_STEPS, _NUDGE, _TOY_MOMENTUM = 0.1, 80, 1e-3, 0.9
_GROWTH_WINDOW = (5, 15)  # steps over which the nudge's growth is measured, while it is small
_STARTS = (
    "gradient descent from the saddle",
    "escape step along u, then gradient descent",
    "random nudge, then gradient descent",
    "random nudge, then momentum",
)


def escaping_a_saddle(config: LectureConfig, seed: int = 0) -> Claim:
    """Gradient descent at the toy's saddle: stuck at g = 0; out after an escape step or a nudge.

    The lecture escapes a saddle along the eigenvector u of a negative λ, and remarks that this
    is rarely done in practice: H has n² entries for n parameters. Four runs of gradient
    descent (η = 0.1) on L = (1 − w₁w₂)²: from exactly θ = 0; after one step t·u; after a random
    nudge of norm 10⁻³, the kind of perturbation minibatch noise or a random start supplies;
    and the same nudge with momentum 0.9. Near the saddle each step multiplies the component
    along u by 1 − ηλ = 1 + η|λ|, so descent itself amplifies any offset along the way down.

    Returns:
      A claim whose numbers hold each run's losses, the step at which it leaves the saddle
      (L below half the saddle's loss; ``None`` if never), its final loss, and the measured and
      predicted growth per step of the nudge along u.
    """
    del config  # the toy is exact; the seed picks the nudge's direction
    import jax
    import jax.numpy as jnp

    from jaxtrain.curvature import analyze_critical_point
    from jaxtrain.optim import optimize_trajectory, sgd

    saddle = analyze_critical_point(_toy_loss, jnp.zeros(2))
    escaped, _ = saddle.escape(_ESCAPE_STEP)
    nudge = jax.random.normal(jax.random.key(seed), (2,))
    nudge = _NUDGE * nudge / jnp.linalg.norm(nudge)
    descent = sgd(_TOY_LEARNING_RATE)  # one object, so its three runs share one compiled scan
    runs = (
        (descent, jnp.zeros(2)),
        (descent, escaped),
        (descent, nudge),
        (sgd(_TOY_LEARNING_RATE, momentum=_TOY_MOMENTUM), nudge),
    )
    numbers: dict[str, Any] = {
        "learning_rate": _TOY_LEARNING_RATE,
        "momentum": _TOY_MOMENTUM,
        "steps": _TOY_STEPS,
        "saddle_loss": saddle.loss,
        "escape_step": _ESCAPE_STEP,
        "nudge_norm": _NUDGE,
        "nudge": np.asarray(nudge),
        "losses": {},
        "steps_to_leave": {},
        "final_loss": {},
    }
    paths = {}
    for name, (optimizer, start) in zip(_STARTS, runs, strict=True):
        paths[name], losses = optimize_trajectory(optimizer, _toy_loss, start, _TOY_STEPS)
        losses = np.asarray(losses)
        below = np.flatnonzero(losses < 0.5 * saddle.loss)
        numbers["losses"][name] = losses
        numbers["steps_to_leave"][name] = int(below[0]) if below.size else None
        numbers["final_loss"][name] = float(losses[-1])
    along_u = np.asarray(paths[_STARTS[2]]) @ np.asarray(saddle.escape_direction)
    first, last = _GROWTH_WINDOW
    numbers["growth_per_step"] = float((along_u[last] / along_u[first]) ** (1 / (last - first)))
    numbers["predicted_growth_per_step"] = 1.0 - _TOY_LEARNING_RATE * saddle.escape_eigenvalue
    return Claim(
        section=_ID,
        id="escaping_a_saddle",
        title="Escaping the saddle",
        numbers=numbers,
        figure=_escape_figure(numbers),
        caption=_escape_caption(numbers),
    )


def _escape_figure(numbers: dict[str, Any]) -> Any:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9.0, 3.8))
    for (name, losses), style in zip(numbers["losses"].items(), ("-", "-", "--", ":"), strict=True):
        ax.plot(losses, style, label=name)
    ax.axhline(0.5 * numbers["saddle_loss"], color="gray", lw=0.8, label="half the saddle's loss")
    ax.set(
        xlabel="step",
        ylabel="loss (log)",
        yscale="log",
        title=f"L = (1 − w₁w₂)², η = {numbers['learning_rate']}",
    )
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.set_layout_engine("tight")
    return fig


def _escape_caption(numbers: dict[str, Any]) -> str:
    stuck = numbers["losses"][_STARTS[0]]
    total = numbers["steps"]
    if np.all(stuck == stuck[0]):
        at_saddle = f"never moves: g = 0, so the loss stays {stuck[0]:.3f} for {total} steps"
    else:
        first, last = side_by_side([stuck[0], stuck[-1]], decimals=3)
        at_saddle = f"moves: its loss goes from {first} to {last} in {total} steps"

    def leaves(name: str) -> str:
        steps = numbers["steps_to_leave"][name]
        count = str(steps) if steps is not None else f"none within {total}"
        return f"{count} (final L = {numbers['final_loss'][name]:.1e})"

    return (
        f"Gradient descent (η = {numbers['learning_rate']}) started exactly at the saddle "
        f"{at_saddle}. Steps to fall below half the saddle's loss: {leaves(_STARTS[1])} after "
        f"one step t = {numbers['escape_step']} along H's escape direction u; "
        f"{leaves(_STARTS[2])} after a random nudge of norm {numbers['nudge_norm']:.0e} "
        f"instead; {leaves(_STARTS[3])} after the nudge with momentum {numbers['momentum']}. "
        f"{_growth_text(numbers['growth_per_step'], numbers['predicted_growth_per_step'])} "
        "(The lecture's remark: "
        "escaping along H's eigenvectors is rarely used in practice, since H has n² entries for "
        "n parameters; training relies on what it already has, the noise of small batches and "
        "momentum of §3, to leave points where g = 0.)"
    )


def _growth_text(growth: float, predicted: float) -> str:
    """The nudge's measured growth per step along u beside 1 − ηλ's: "as predicted" only where
    the two print alike, the growth printed on its side of 1 (growing or shrinking)."""
    if not math.isfinite(growth):
        return (
            f"The nudge's growth along u was not measured (n/a); 1 − ηλ predicts {predicted:.3f}×."
        )
    measured = beside(growth, 1.0, 3, fixed=True)
    # The prediction in the measured value's digits: equal numbers print alike.
    expected = f"{predicted:.{len(measured.partition('.')[2])}f}"
    if growth > 1:
        change = f"grows {measured}× per step"
    elif growth < 1:
        change = f"shrinks, by {measured}× per step"
    else:
        change = f"keeps its size ({measured}× per step)"
    if float(measured) == float(expected):
        return f"The nudge's component along u {change}, as 1 − ηλ = {expected} predicts."
    return f"The nudge's component along u {change}, not the {expected}× that 1 − ηλ predicts."


# ---- small tanh MLPs fitting a 1-D curve: trained_spectrum and minimum_ratio_vs_loss ----

_N_EXAMPLES, _WIDTH, _DEPTH, _ADAM_LEARNING_RATE = 64, 8, 2, 0.01
_CURVE = "sin(2x) + 0.3x"


def _curve_fn(x: np.ndarray) -> np.ndarray:
    return np.sin(2.0 * x) + 0.3 * x


def _regression_net(seed: int) -> tuple[Any, Any, Any, Any]:
    """``(apply, params, state, (x, y))``: a 1-8-8-1 tanh MLP initialized from ``seed`` and
    the curve's points (drawn from ``seed`` too)."""
    import jax.numpy as jnp
    from flax import nnx

    from jaxtrain.data import make_regression_curve
    from jaxtrain.nn import MLP, functional

    x, y = make_regression_curve(
        _N_EXAMPLES, noise=0.0, seed=seed, fn=_curve_fn, x_range=(-2.0, 2.0)
    )
    model = MLP(1, _WIDTH, 1, depth=_DEPTH, activation="tanh", rngs=nnx.Rngs(seed))
    return (*functional(model), (jnp.asarray(x), jnp.asarray(y)))


def _regression_nets(count: int, seed: int) -> tuple[Any, Any]:
    """``(loss_fn, params)``: the MSE of 1-8-8-1 tanh MLPs on the curve, ``count`` inits.

    ``params`` stacks the ``count`` initializations (seeds ``seed``, ``seed + 1``, …) along a
    leading axis; one ``loss_fn`` serves them all, so every run shares one compiled program.
    """
    import jax

    from jaxtrain.curvature import loss_from_model
    from jaxtrain.losses import mse

    apply, _, state, data = _regression_net(seed)
    loss_fn = loss_from_model(apply, state, [data], mse)
    inits = [_regression_net(seed + run)[1] for run in range(count)]
    # Stacked on the host: on the device each leaf shape would compile a stacking program.
    return loss_fn, jax.tree.map(lambda *leaves: np.stack(leaves), *inits)


def _minimize_gradient_norm(loss_fn: Any, params: Any, num_steps: int) -> tuple[Any, Any]:
    """Drives ‖g‖ toward 0 by Levenberg–Marquardt on ½‖g‖²: ``(params, ‖g‖ per step)``.

    The Jacobian of g = ∇L is H, so the Gauss–Newton step for ½‖g‖² with damping μ is
    Δθ = −(H² + μI)⁻¹Hg (μ → 0 is Newton's method on g = 0). A step is kept only if it lowers
    ‖g‖; μ shrinks 3× after a kept step and grows 4× after a refused one. Nothing here prefers
    a low loss, so the search stops at saddles as readily as at minima. ``params`` stacks
    several runs along a leading axis; they run vmapped in one program. The norms returned
    start with ‖g‖ at the starting point.
    """
    import jax
    from jax.tree_util import Partial

    # A jitted program takes the loss as a pytree: its data are leaves, the function is static.
    loss_fn = loss_fn if isinstance(loss_fn, Partial) else Partial(loss_fn)
    with jax.default_matmul_precision("highest"):
        return _gradient_norm_program()(loss_fn, params, num_steps)


@functools.cache
def _gradient_norm_program() -> Any:
    import jax
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree

    def one_run(loss_fn: Any, params: Any, num_steps: int) -> tuple[Any, Any]:
        v0, unravel = ravel_pytree(params)

        def flat_loss(v: Any) -> Any:
            return loss_fn(unravel(v))

        def grad_norm(v: Any) -> Any:
            return jnp.linalg.norm(jax.grad(flat_loss)(v))

        def step(carry: Any, _: Any) -> Any:
            v, mu = carry
            g = jax.grad(flat_loss)(v)
            # Dense forward-over-reverse: these models have under a hundred parameters, and
            # this compiles faster inside the loop than jaxtrain.curvature.hessian's chunks.
            H = jax.hessian(flat_loss)(v)
            A = H @ H + mu * jnp.eye(v.size, dtype=v.dtype)
            candidate = v - jnp.linalg.solve(A, H @ g)
            norm = jnp.linalg.norm(g)
            # A refused step (also a non-finite one: NaN < x is False) keeps θ and raises μ.
            kept = grad_norm(candidate) < norm
            v = jnp.where(kept, candidate, v)
            mu = jnp.clip(jnp.where(kept, mu / 3.0, mu * 4.0), 1e-10, 1e10)
            return (v, mu), norm

        carry = (v0, jnp.asarray(1.0, v0.dtype))
        (v, _), norms = jax.lax.scan(step, carry, None, length=num_steps)
        return unravel(v), jnp.concatenate([norms, grad_norm(v)[None]])

    def runs(loss_fn: Any, params: Any, num_steps: int) -> tuple[Any, Any]:
        return jax.vmap(lambda p: one_run(loss_fn, p, num_steps))(params)

    return jax.jit(runs, static_argnames="num_steps")


def _unstack(stacked: Any, index: int) -> Any:
    import jax

    # Read on the host: indexing on the device compiles a slice per leaf shape.
    return jax.tree.map(lambda leaf: np.asarray(leaf)[index], stacked)


@functools.lru_cache(maxsize=2)
def _critical_points(config: LectureConfig, seed: int) -> dict[str, Any]:
    """Many small MLPs, each stopped partway through training, then driven to ‖g‖ ≈ 0.

    Run r of R stops Adam after k_r = r·K/(R − 1) steps, from 0 (the initialization) to K
    (trained), so the points span high and low losses; then ½‖g‖² is minimized and the dense
    Hessian test is run at the point reached. ``trained_spectrum`` reads the last run (fully
    trained), ``minimum_ratio_vs_loss`` all of them.
    """
    import jax

    from jaxtrain.curvature import analyze_critical_point
    from jaxtrain.optim import adam, optimize_trajectory

    runs = config.size(quick=16, full=48)
    adam_steps = config.size(quick=400, full=1000)
    gradient_steps = config.size(quick=40, full=150)
    loss_fn, inits = _regression_nets(runs, seed)
    optimizer = adam(_ADAM_LEARNING_RATE)
    paths, path_losses = jax.vmap(lambda p: optimize_trajectory(optimizer, loss_fn, p, adam_steps))(
        inits
    )
    stops = np.linspace(0, adam_steps, runs).round().astype(int)
    starts = jax.tree.map(lambda leaf: np.asarray(leaf)[np.arange(runs), stops], paths)
    points, norms = _minimize_gradient_norm(loss_fn, starts, gradient_steps)
    return {
        "loss_fn": loss_fn,
        "runs": runs,
        "adam_steps": adam_steps,
        "gradient_steps": gradient_steps,
        "stops": stops,
        "start_losses": np.asarray(path_losses)[np.arange(runs), stops],
        "start_grad_norms": np.asarray(norms[:, 0]),
        "points": points,
        "reports": [
            analyze_critical_point(loss_fn, _unstack(points, r), grad_tol=_GRAD_TOL)
            for r in range(runs)
        ],
    }


_SLICE_REACH = 0.1  # t at the ends of trained_spectrum's slices


def trained_spectrum(config: LectureConfig, seed: int = 0) -> Claim:
    """The Hessian spectrum of a trained network where ‖g‖ was driven down.

    A 1-8-8-1 tanh MLP fits 64 points of sin(2x) + 0.3x with Adam, then minimizes ½‖g‖² so the
    Hessian test applies (g ≈ 0). The dense eigenvalues are compared with stochastic Lanczos
    quadrature, which needs only Hessian-vector products (the route for large models), and the
    loss is traced along the eigenvectors of the largest and the smallest |λ|.

    Returns:
      A claim whose numbers hold ‖g‖ before and after, the eigenvalues and their counts, the
      Lanczos density and its minimum-ratio estimate, and the two slices.
    """
    import jax
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree

    from jaxtrain.curvature import hessian, hvp, minimum_ratio_estimate, spectral_density
    from jaxtrain.landscape import loss_slice_1d

    runs = _critical_points(config, seed)
    loss_fn, report = runs["loss_fn"], runs["reports"][-1]
    params = _unstack(runs["points"], runs["runs"] - 1)
    num_probes, num_iters = config.size(quick=(4, 40), full=(16, 60))

    _, unravel = ravel_pytree(params)
    _, vectors = jnp.linalg.eigh(hessian(loss_fn, params))
    eigenvalues = np.asarray(report.eigenvalues)
    flattest = int(np.argmin(np.abs(eigenvalues)))
    t = jnp.linspace(-_SLICE_REACH, _SLICE_REACH, 61)

    def slice_along(index: int) -> np.ndarray:
        return np.asarray(loss_slice_1d(loss_fn, params, unravel(vectors[:, index]), t))

    density = spectral_density(
        hvp(loss_fn, params),
        params,
        num_probes=num_probes,
        num_iters=num_iters,
        key=jax.random.key(seed),
    )
    nodes = np.asarray(density.nodes)
    numbers: dict[str, Any] = {
        "width": _WIDTH,
        "n_params": eigenvalues.size,
        "n_examples": _N_EXAMPLES,
        "adam_steps": int(runs["stops"][-1]),
        "gradient_steps": runs["gradient_steps"],
        "grad_norm_after_adam": float(runs["start_grad_norms"][-1]),
        "loss_after_adam": float(runs["start_losses"][-1]),
        "loss": report.loss,
        "grad_norm": report.grad_norm,
        "grad_tol": _GRAD_TOL,
        "kind": report.kind,
        "eigenvalues": eigenvalues,
        "eig_tol": report.eig_tol,
        "num_positive": report.num_positive,
        "num_negative": report.num_negative,
        "num_zero": report.num_zero,
        "minimum_ratio": report.minimum_ratio,
        "lanczos_probes": num_probes,
        "lanczos_iters": num_iters,
        "lanczos_nodes": nodes,
        "lanczos_weights": np.asarray(density.weights),
        "density_grid": np.asarray(density.grid),
        "density": np.asarray(density.density),
        "density_sigma": float(density.sigma),
        "lanczos_min": float(nodes.min()),
        "lanczos_max": float(nodes.max()),
        "lanczos_minimum_ratio": float(minimum_ratio_estimate(density, tol=report.eig_tol)),
        "slice_t": np.asarray(t),
        "steepest_eigenvalue": float(eigenvalues[-1]),
        "slice_steepest": slice_along(eigenvalues.size - 1),
        "flattest_eigenvalue": float(eigenvalues[flattest]),
        "slice_flattest": slice_along(flattest),
    }
    return Claim(
        section=_ID,
        id="trained_spectrum",
        title="The Hessian spectrum of a trained network",
        numbers=numbers,
        figure=_spectrum_figure(numbers),
        caption=_spectrum_caption(numbers),
    )


def _spectrum_figure(numbers: dict[str, Any]) -> Any:
    import matplotlib.pyplot as plt

    from jaxtrain.curvature import SpectralDensity
    from jaxtrain.plot import plot_density, plot_spectrum

    fig, (ax_hist, ax_density, ax_slice) = plt.subplots(1, 3, figsize=(15, 3.9))
    plot_spectrum(numbers["eigenvalues"], ax_hist, eig_tol=numbers["eig_tol"])
    ax_hist.set_title(f"dense Hessian, n = {numbers['n_params']}, ‖g‖ = {numbers['grad_norm']:.0e}")
    density = SpectralDensity(
        nodes=numbers["lanczos_nodes"],
        weights=numbers["lanczos_weights"],
        grid=numbers["density_grid"],
        density=numbers["density"],
        sigma=numbers["density_sigma"],
    )
    plot_density(density, ax_density, label="stochastic Lanczos quadrature")
    ax_density.set_title(f"Lanczos density ({numbers['lanczos_iters']} products per probe)")

    t = numbers["slice_t"]
    loss = numbers["loss"]
    for key, color in (("steepest", "C3"), ("flattest", "C0")):
        lam = numbers[f"{key}_eigenvalue"]
        change = numbers[f"slice_{key}"] - loss
        ax_slice.plot(t, change, color=color, label=f"along u of λ = {lam:.2g}")
        ax_slice.plot(t, 0.5 * lam * t**2, "--", color=color, lw=1)
    ax_slice.plot([], [], "k--", lw=1, label="½λt²")
    ax_slice.set(
        xlabel="t along the eigenvector u",
        ylabel="L(θ + t·u) − L(θ)",
        title="steepest and flattest directions",
    )
    # Linear through 0 (the changes can be negative), logarithmic above 10⁻¹⁰.
    ax_slice.set_yscale("symlog", linthresh=1e-10)
    ax_slice.locator_params(axis="x", nbins=5)
    ax_slice.legend(fontsize=8)
    fig.set_layout_engine("tight")
    return fig


def _spectrum_caption(numbers: dict[str, Any]) -> str:
    n, tol = numbers["n_params"], numbers["eig_tol"]
    eigenvalues = numbers["eigenvalues"]
    if numbers["grad_norm"] <= numbers["grad_tol"]:
        reached = f"a critical point by the test ‖g‖ ≤ {numbers['grad_tol']:.0e}"
    else:
        reached = f"still above the critical-point test ‖g‖ ≤ {numbers['grad_tol']:.0e}"
    # λmin beside −tol with the digits that show on which side of it λmin was counted.
    lowest_text, minus_tol = side_by_side([eigenvalues[0], -tol], decimals=3, significant=True)
    if numbers["num_negative"] > 0:
        verdict = (
            f"{counted(numbers['num_negative'], 'negative eigenvalue')} down to "
            f"{lowest_text}: a way down exists, so this is no minimum"
        )
    elif numbers["num_zero"] > 0:
        verdict = (
            "no negative curvature, but the near-zero eigenvalues leave the Hessian unable to "
            "prove a minimum (degenerate): along them higher-order terms decide"
        )
    elif numbers["grad_norm"] <= numbers["grad_tol"]:
        verdict = "every eigenvalue positive: a strict local minimum"
    else:
        verdict = (
            "every eigenvalue positive, but ‖g‖ is above the test, so the Hessian test for a "
            "minimum does not apply yet"
        )
    t = numbers["slice_t"][-1]
    steep, flat = numbers["steepest_eigenvalue"], numbers["flattest_eigenvalue"]
    steep_change = numbers["slice_steepest"][-1] - numbers["loss"]
    tol_text = minus_tol.lstrip("-")
    flat_change = numbers["slice_flattest"][-1] - numbers["loss"]
    return (
        f"A 1-{numbers['width']}-{numbers['width']}-1 tanh MLP ({n} parameters) fitting "
        f"{numbers['n_examples']} points of {_CURVE}: {numbers['adam_steps']} Adam steps leave "
        f"‖g‖ = {numbers['grad_norm_after_adam']:.1e}; {numbers['gradient_steps']} steps "
        f"minimizing ½‖g‖² bring it to {beside(numbers['grad_norm'], numbers['grad_tol'], 2)} "
        f"(loss {numbers['loss']:.2e}), "
        f"{reached}. Its Hessian has {numbers['num_positive']} positive, "
        f"{numbers['num_negative']} negative and {numbers['num_zero']} near-zero "
        f"(|λ| ≤ {tol_text}) eigenvalues, from {lowest_text} to {eigenvalues[-1]:.3g}: "
        f"{verdict}; minimum ratio {numbers['minimum_ratio']:.3f}. Moving t = {t:g} along the "
        f"eigenvector of λ = {steep:.3g} changes the loss by {steep_change:+.3g} (½λt² = "
        f"{0.5 * steep * t**2:+.3g}); along that of λ = {flat:.1e}, by "
        f"{flat_change:+.1e}. Lanczos quadrature with {numbers['lanczos_iters']} Hessian-vector "
        f"products per probe, the route for models too large for the dense matrix, spans "
        f"{numbers['lanczos_min']:.3g} to {numbers['lanczos_max']:.3g} and estimates the "
        f"minimum ratio at {numbers['lanczos_minimum_ratio']:.3f}."
    )


def minimum_ratio_vs_loss(config: LectureConfig, seed: int = 0) -> Claim:
    """The lecture's scatter: minimum ratio against training loss, where ‖g‖ is small.

    Many 1-8-8-1 tanh MLPs fit the curve. Run r stops Adam after k_r steps, k spread evenly
    from 0 (the initialization) to the end of training, so the points span high and low losses;
    from there ½‖g‖² is minimized, which stops at saddles as readily as at minima. At each
    point the dense Hessian counts positive, negative and near-zero eigenvalues.

    Returns:
      A claim whose numbers hold, per run, the loss, ‖g‖, eigenvalue counts, minimum ratio (with
      and without the tolerance) and kind; how many points are critical and how many of those
      are saddles; and the rank correlation and slope of the ratio against the loss.
    """
    runs = _critical_points(config, seed)
    reports = runs["reports"]
    losses = np.array([r.loss for r in reports])
    ratios = np.array([r.minimum_ratio for r in reports])
    negative = np.array([r.num_negative for r in reports])
    zero = np.array([r.num_zero for r in reports])
    critical = np.array([r.grad_norm <= _GRAD_TOL for r in reports])
    numbers: dict[str, Any] = {
        "runs": runs["runs"],
        "width": _WIDTH,
        "n_params": reports[0].eigenvalues.size,
        "n_examples": _N_EXAMPLES,
        "adam_steps": runs["adam_steps"],
        "stop_steps": runs["stops"],
        "gradient_steps": runs["gradient_steps"],
        "grad_tol": _GRAD_TOL,
        "start_losses": runs["start_losses"],
        "start_grad_norms": runs["start_grad_norms"],
        "losses": losses,
        "grad_norms": np.array([r.grad_norm for r in reports]),
        "minimum_ratios": ratios,
        "ratios_without_tolerance": np.array([(r.eigenvalues > 0).mean() for r in reports]),
        "eig_tols": np.array([r.eig_tol for r in reports]),
        "num_positive": np.array([r.num_positive for r in reports]),
        "num_negative": negative,
        "num_zero": zero,
        "kinds": [r.kind for r in reports],
        "critical": critical,
        "num_critical": int(critical.sum()),
        "num_saddles": int((critical & (negative > 0)).sum()),
        "num_without_negative": int((critical & (negative == 0)).sum()),
        # Every eigenvalue above tol, at a point that counts as critical here (‖g‖ ≤ 1e-3).
        "num_strict_minima": int((critical & (negative == 0) & (zero == 0)).sum()),
    }
    numbers.update(_trend(losses[critical], ratios[critical]))
    return Claim(
        section=_ID,
        id="minimum_ratio_vs_loss",
        title="Minimum ratio against training loss",
        numbers=numbers,
        figure=_ratio_figure(numbers),
        caption=_ratio_caption(numbers),
    )


def _trend(losses: np.ndarray, ratios: np.ndarray) -> dict[str, Any]:
    """The correlation r of the ratio with log₁₀ loss and the least-squares slope (same sign)."""
    if losses.size < 3 or np.ptp(ratios) == 0 or np.ptp(losses) == 0:
        return {"correlation": None, "slope_per_decade": None}
    log_losses = np.log10(np.maximum(losses, np.finfo(np.float32).tiny))
    return {
        "correlation": float(np.corrcoef(log_losses, ratios)[0, 1]),
        "slope_per_decade": float(np.polyfit(log_losses, ratios, 1)[0]),
    }


# The most runs the eigenvalue-count panel labels one by one.
_LABELLED_ROWS = 16


def _labelled_rows(critical: np.ndarray) -> list[int]:
    """The rows of the eigenvalue-count panel that get a label, at least a few rows apart
    past _LABELLED_ROWS runs: every run whose ‖g‖ is above the tolerance (its note is in the
    label), then the others wherever they keep that distance."""
    every = max(1, math.ceil(critical.size / _LABELLED_ROWS))
    shown = [int(row) for row in np.flatnonzero(~critical)]
    for row in range(critical.size):
        if all(abs(row - other) >= every for other in shown):
            shown.append(row)
    return sorted(shown)


def _ratio_figure(numbers: dict[str, Any]) -> Any:
    import matplotlib.pyplot as plt

    fig, (ax, ax_counts) = plt.subplots(
        1, 2, figsize=(11.5, 4.2), gridspec_kw={"width_ratios": [1.2, 1]}
    )
    losses, ratios = numbers["losses"], numbers["minimum_ratios"]
    critical, negative = numbers["critical"], numbers["num_negative"] > 0
    groups = (
        (critical & negative, "v", "C3", "saddle (some λ < −tol)"),
        (critical & ~negative, "o", "C0", "no λ < −tol"),
    )
    for mask, marker, color, label in groups:
        ax.scatter(ratios[mask], losses[mask], marker=marker, color=color, label=label, zorder=3)
    ax.scatter(
        ratios[~critical],
        losses[~critical],
        marker="o",
        facecolors="none",
        edgecolors="0.5",
        label=f"‖g‖ > {numbers['grad_tol']:.0e} (not critical)",
    )
    ax.scatter(
        numbers["ratios_without_tolerance"][critical],
        losses[critical],
        marker="x",
        color="0.6",
        s=14,
        label="same points, λ > 0 without tolerance",
    )
    ax.set(
        xlim=(0.0, 1.0),
        xlabel="minimum ratio: share of λ > tol",
        ylabel="training loss (log)",
        yscale="log",
        title=f"{numbers['runs']} runs, 1-{numbers['width']}-{numbers['width']}-1 tanh MLP",
    )
    ax.legend(fontsize=7, loc="upper right")

    order = np.argsort(losses)
    rows = np.arange(order.size)
    left = np.zeros(order.size)
    for key, color, label in (
        ("num_negative", "C3", "λ < −tol"),
        ("num_zero", "0.6", "|λ| ≤ tol"),
        ("num_positive", "C0", "λ > tol"),
    ):
        counts = numbers[key][order]
        ax_counts.barh(rows, counts, left=left, color=color, label=label)
        left = left + counts
    labels = [f"{losses[i]:.1e}" + ("" if critical[i] else ", ‖g‖ > tol") for i in order]
    # 7-pt labels need ~10 px a row: past _LABELLED_ROWS runs, a label every few rows.
    shown = _labelled_rows(critical[order])
    ax_counts.set_yticks(shown, [labels[row] for row in shown], fontsize=7)
    ax_counts.set(
        xlim=(0, numbers["n_params"]),
        xlabel=f"eigenvalues (of n = {numbers['n_params']})",
        ylabel="run, by training loss",
        title="where the ratio's missing share goes",
    )
    ax_counts.legend(fontsize=7, loc="lower right")
    fig.set_layout_engine("tight")
    return fig


def _span(low: str, high: str) -> str:
    return low if low == high else f"{low} to {high}"


def _loss_spans(*groups: np.ndarray) -> list[str]:
    """Each group's losses, lowest to highest ("" for none), in as many significant digits
    (from 2) as print every end in its order against every other: the caption compares the
    groups ("every saddle has a higher loss"), so no end may print equal to another's."""
    ends = [end for group in groups if group.size for end in (group.min(), group.max())]
    shown = iter(side_by_side(ends, significant=True))
    return [_span(next(shown), next(shown)) if group.size else "" for group in groups]


def _ratio_caption(numbers: dict[str, Any]) -> str:
    critical = numbers["critical"]
    losses, ratios = numbers["losses"], numbers["minimum_ratios"]
    n, count = numbers["n_params"], numbers["num_critical"]
    setup = (
        f"{numbers['runs']} runs of a 1-{numbers['width']}-{numbers['width']}-1 tanh MLP ({n} "
        f"parameters) on {numbers['n_examples']} points of {_CURVE}, each stopped after 0 to "
        f"{numbers['adam_steps']} Adam steps and then minimizing ½‖g‖², which finds saddles as "
        f"readily as minima: {count} {'reaches' if count == 1 else 'reach'} ‖g‖ ≤ "
        f"{numbers['grad_tol']:.0e}."
    )
    if count == 0:
        return f"{setup} No critical point was found, so there is no ratio to compare."
    saddles = critical & (numbers["num_negative"] > 0)
    flat = critical & (numbers["num_negative"] == 0)
    saddle_span, flat_span = _loss_spans(losses[saddles], losses[flat])
    parts = []
    if saddles.any():
        count_saddles = int(saddles.sum())
        parts.append(
            f"{count_saddles} {'is a saddle' if count_saddles == 1 else 'are saddles'} (a λ < "
            f"−tol; loss {saddle_span})"
        )
    else:
        parts.append("none is a saddle")
    if flat.any():
        zeros = numbers["num_zero"][flat]
        count_flat = int(flat.sum())
        text = (
            f"{count_flat} {'has' if count_flat == 1 else 'have'} no negative eigenvalue (loss "
            f"{flat_span})"
        )
        if np.any(zeros > 0):  # a strict minimum's ratio is 1
            counts = zeros[zeros > 0]
            near_zero = _span(str(counts.min()), str(counts.max()))
            text += (
                f", the ratio below 1 where {near_zero} of the {n} eigenvalues are near zero "
                "(|λ| ≤ tol): flat directions, not ways down"
            )
        parts.append(text)
    strict = numbers["num_strict_minima"]
    if strict == 0:
        strict_text = "none is a strict local minimum (every λ > tol)"
    else:
        strict_text = (
            f"{strict} {'is a strict local minimum' if strict == 1 else 'are strict local minima'}"
        )
    kinds = f"Of these, {' and '.join(parts)}; {strict_text}."
    if saddles.any() and flat.any():
        if losses[saddles].min() > losses[flat].max():
            kinds += " Every saddle has a higher loss than every point without negative curvature."
        elif losses[saddles].max() < losses[flat].min():
            # Apart, but the other way round from the lecture's picture of saddles above minima.
            kinds += " Every saddle has a lower loss than every point without negative curvature."
        else:
            kinds += " Saddles and points without negative curvature overlap in loss."
    ratio_range = (
        f"The minimum ratio (tol = √ε·max(max|λ|, 1)) runs from {ratios[critical].min():.2f} to "
        f"{ratios[critical].max():.2f} (without a tolerance, counting float32 noise by its sign: "
        f"{numbers['ratios_without_tolerance'][critical].min():.2f} to "
        f"{numbers['ratios_without_tolerance'][critical].max():.2f})."
    )
    r, slope = numbers["correlation"], numbers["slope_per_decade"]
    if r is None:
        trend = "Too few distinct points to measure a trend."
    else:
        measured = (
            f"Correlation of the ratio with log₁₀ loss r = {r:+.2f}, slope {slope:+.3f} per "
            f"tenfold loss (one eigenvalue is 1/{n} = {1 / n:.3f} of the ratio)"
        )
        r = round(r, 2)  # read as printed
        if r <= -0.3:
            reading = "lower loss goes with a higher ratio, the lecture's trend"
        elif r >= 0.3:
            reading = "lower loss goes with a lower ratio, the opposite of the lecture's trend"
        else:
            reading = "no clear trend either way (|r| < 0.3), so the lecture's trend is not shown"
        trend = f"{measured}: {reading}."
    return f"{setup} {kinds} {ratio_range} {trend}"


def hessian_vs_gauss_newton(config: LectureConfig, seed: int = 0) -> Claim:
    """At a saddle, the Hessian's negative eigenvalues next to the Gauss–Newton matrix's.

    For L(θ) = ℓ(ŷ(θ)) the Hessian splits as H = JᵀH_ℓJ + Σⱼ (∂ℓ/∂ŷⱼ)∇²ŷⱼ, J = ∂ŷ/∂θ. The
    Gauss–Newton matrix G = JᵀH_ℓJ, which many curvature tools report instead of H, keeps the
    first term; for the mean squared error H_ℓ ⪰ 0, so G has no negative eigenvalue. Of the
    critical points that :func:`minimum_ratio_vs_loss` finds (½‖g‖² minimized from several
    stops of Adam), the saddle of lowest loss is taken (without a saddle, the point of lowest
    λmin(H)), and H, G (from :func:`~jaxtrain.curvature.ggn`'s products) and H − G are
    compared there.

    Returns:
      A claim whose numbers hold the point's loss, ‖g‖ and kind, all eigenvalues of H, of G and
      of H − G, and the counts of each below −tol and above tol.
    """
    import jax
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree
    from jax.tree_util import Partial

    from jaxtrain.curvature import ggn, hessian
    from jaxtrain.losses import mse

    runs = _critical_points(config, seed)
    reports = runs["reports"]
    critical = [r for r in range(runs["runs"]) if reports[r].grad_norm <= _GRAD_TOL]
    saddles = [r for r in critical if reports[r].num_negative > 0]
    if saddles:
        # The lowest-loss saddle: a network partly fit, not a collapsed constant one.
        pick = min(saddles, key=lambda r: reports[r].loss)
    else:
        pick = min(critical or range(runs["runs"]), key=lambda r: reports[r].eigenvalues[0])
    report, params = reports[pick], _unstack(runs["points"], pick)
    apply, _, state, (x, y) = _regression_net(seed)
    flat, unravel = ravel_pytree(params)
    product = ggn(Partial(_outputs, Partial(apply), state), mse, params, x, y)
    # G column by column from its matrix-vector products: n products, one compiled program.
    columns = jax.jit(jax.vmap(lambda e: ravel_pytree(product(unravel(e)))[0]))
    G = np.asarray(columns(jnp.eye(flat.size, dtype=flat.dtype)), np.float64)
    H = np.asarray(hessian(runs["loss_fn"], params), np.float64)
    G = 0.5 * (G + G.T)  # symmetric up to float32 round-off; eigvalsh reads one triangle
    tol = report.eig_tol
    spectra = {
        "hessian": np.linalg.eigvalsh(H),
        "gauss_newton": np.linalg.eigvalsh(G),
        "difference": np.linalg.eigvalsh(H - G),
    }
    numbers: dict[str, Any] = {
        "width": _WIDTH,
        "n_params": int(flat.size),
        "n_examples": _N_EXAMPLES,
        "run": pick,
        "adam_steps": int(runs["stops"][pick]),
        "loss": report.loss,
        "grad_norm": report.grad_norm,
        "grad_tol": _GRAD_TOL,
        "kind": report.kind,
        "eig_tol": tol,
        "eigenvalues": spectra,
        "num_negative": {name: int(np.sum(v < -tol)) for name, v in spectra.items()},
        "num_positive": {name: int(np.sum(v > tol)) for name, v in spectra.items()},
        "lowest": {name: float(v[0]) for name, v in spectra.items()},
        "highest": {name: float(v[-1]) for name, v in spectra.items()},
    }
    return Claim(
        section=_ID,
        id="hessian_vs_gauss_newton",
        title="Hessian and Gauss–Newton at a saddle",
        numbers=numbers,
        figure=_gauss_newton_figure(numbers),
        caption=_gauss_newton_caption(numbers),
    )


def _outputs(apply: Any, state: Any, params: Any, x: Any) -> Any:
    return apply(params, state, x, train=False)[0]


_GAUSS_NEWTON_LABELS = {
    "hessian": "Hessian H",
    "gauss_newton": "Gauss–Newton G = JᵀH_ℓJ",
    "difference": "H − G = Σ (∂ℓ/∂ŷ)∇²ŷ",
}


def _gauss_newton_figure(numbers: dict[str, Any]) -> Any:
    import matplotlib.pyplot as plt

    fig, (ax_all, ax_low) = plt.subplots(1, 2, figsize=(11.5, 4.0))
    for (name, values), style in zip(numbers["eigenvalues"].items(), ("o", "s", "x"), strict=True):
        label = _GAUSS_NEWTON_LABELS[name]
        ax_all.plot(values, style, ms=3, label=label)
        ax_low.plot(values[:10], style + "-", ms=5, label=label)
    tol = numbers["eig_tol"]
    for ax in (ax_all, ax_low):
        ax.axhline(0.0, color="gray", lw=0.8)
        ax.axhspan(-tol, tol, color="0.9", label="|λ| ≤ tol")
    ax_all.set_yscale("symlog", linthresh=max(tol, 1e-8))
    ax_all.set(
        xlabel="index (ascending)",
        ylabel="eigenvalue (symlog)",
        title=f"all {numbers['n_params']} eigenvalues at a point with ‖g‖ = "
        f"{numbers['grad_norm']:.0e}",
    )
    ax_low.set(xlabel="index", ylabel="eigenvalue", title="the 10 smallest")
    ax_all.legend(fontsize=8)
    fig.set_layout_engine("tight")
    return fig


def _gauss_newton_caption(numbers: dict[str, Any]) -> str:
    negative, lowest, highest = numbers["num_negative"], numbers["lowest"], numbers["highest"]
    tol = numbers["eig_tol"]
    if numbers["grad_norm"] <= numbers["grad_tol"]:
        point = f"a critical point (‖g‖ = {numbers['grad_norm']:.1e}), classified {numbers['kind']}"
    else:
        point = (
            f"a point above the critical test ‖g‖ ≤ {numbers['grad_tol']:.0e} "
            f"(‖g‖ = {beside(numbers['grad_norm'], numbers['grad_tol'], 2)}, {numbers['kind']})"
        )

    # Both lowest eigenvalues beside −tol, with the digits that show their side of it.
    low_h, low_g, minus_tol = side_by_side(
        [lowest["hessian"], lowest["gauss_newton"], -tol], decimals=3, significant=True
    )
    shown, tol_text = {"hessian": low_h, "gauss_newton": low_g}, minus_tol.lstrip("-")

    def counts(name: str) -> str:
        if negative[name] == 0:
            return f"none (its smallest is {shown[name]})"
        return f"{negative[name]}, down to {shown[name]}"

    if negative["hessian"] > 0:
        conclusion = (
            "here G has negative eigenvalues too."
            if negative["gauss_newton"] > 0
            else "a curvature computed as G cannot show this point's ways down."
        )
    elif negative["gauss_newton"] > 0:
        # JᵀH_ℓJ ⪰ 0 in exact arithmetic: its values below −tol are stated, not read as a way
        # down (H, the loss's own curvature, shows none).
        conclusion = (
            "here G has eigenvalues below −tol where H has none, although JᵀH_ℓJ is positive "
            "semi-definite in exact arithmetic."
        )
    else:
        conclusion = "here neither shows a way down."
    return (
        f"A 1-{numbers['width']}-{numbers['width']}-1 tanh MLP ({numbers['n_params']} "
        f"parameters, MSE on {numbers['n_examples']} points of {_CURVE}) at {point}, loss "
        f"{numbers['loss']:.3g}. Eigenvalues below −tol = −{tol_text}: the Hessian has "
        f"{counts('hessian')}; the Gauss–Newton matrix G = JᵀH_ℓJ at the same point has "
        f"{counts('gauss_newton')}. The largest: {highest['hessian']:.3g} for H, "
        f"{highest['gauss_newton']:.3g} for G. The difference H − G, the term weighted by the "
        f"residuals ∂ℓ/∂ŷ, spans {lowest['difference']:.3g} to {highest['difference']:.3g}: "
        f"{conclusion}"
    )


def saddle_escapes(config: LectureConfig, seed: int = 0) -> Claim:
    """Steps out of planted saddles: gradient descent, noise, and the three escape transforms.

    From each planted start (the toy's origin; at full size also a three-layer linear network
    at 0, a tanh network on XOR with all hidden units equal, a sigmoid MLP on digits from a
    tiny initialization) five methods run until the loss falls below half its start value:
    gradient descent, gradient descent with small Gaussian noise, and
    :func:`~jaxtrain.optim.perturbed_gd`, :func:`~jaxtrain.optim.negative_curvature_descent`
    and :func:`~jaxtrain.optim.saddle_free_newton`. Each run also counts its cost in gradients,
    with every Hessian-vector product counted as one more.

    Returns:
      A claim whose numbers hold, per case, the start's loss, λmin and λmax, perturbed GD's
      settings by Jin et al.'s rule (:func:`~jaxtrain.optim.perturbed_gd_hyperparameters`
      with ℓ = max(λmax, |λmin|) and ε = λmin²/ρ), the target and the budget, and per method
      the steps to the target (``None``: not within the budget), the cost, the loss
      evaluations of line searches, perturbed GD's kicks, whether a transform met issue 16's
      target (at most a fifth of gradient descent's steps, or gradient descent never got
      there), and the loss curves the figure draws.
    """
    from jaxtrain.lecture._saddle_escapes import (
        METHODS,
        TRANSFORMS,
        meets_target,
        perturbation_settings,
        planted_saddles,
        race,
        start_curvature,
    )

    cases = planted_saddles(config, seed)
    curvatures = {case.name: start_curvature(case, seed) for case in cases}
    runs = race(cases, curvatures, seed)
    numbers: dict[str, Any] = {
        "cases": [case.name for case in cases],
        "methods": list(METHODS),
        "start_loss": {case.name: float(runs[case.name][METHODS[0]].losses[0]) for case in cases},
        "lambda_min": {name: lowest for name, (lowest, _) in curvatures.items()},
        "lambda_max": {name: highest for name, (_, highest) in curvatures.items()},
        "perturbation_settings": {
            case.name: perturbation_settings(case, curvatures[case.name]) for case in cases
        },
        "target": {case.name: case.target for case in cases},
        "budget": {case.name: case.budget for case in cases},
        "learning_rate": {case.name: case.learning_rate for case in cases},
    }
    for key in ("steps", "cost", "loss_evaluations", "perturbations", "final_loss", "losses"):
        numbers[key] = {
            name: {method: getattr(run, key) for method, run in by_method.items()}
            for name, by_method in runs.items()
        }
    numbers["meets_target"] = {
        name: {method: meets_target(by_method, method) for method in TRANSFORMS}
        for name, by_method in runs.items()
    }
    return Claim(
        section=_ID,
        id="saddle_escapes",
        title="Escaping planted saddles",
        numbers=numbers,
        figure=_saddle_escapes_figure(numbers),
        caption=_saddle_escapes_caption(numbers),
    )


def _saddle_escapes_figure(numbers: dict[str, Any]) -> Any:
    import matplotlib.pyplot as plt

    cases = numbers["cases"]
    cols = min(2, len(cases))
    rows = -(-len(cases) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.5 * cols, 3.8 * rows), squeeze=False)
    styles = ("-", "--", ":", "-", "-")
    for ax, name in zip(axes.flat, cases, strict=False):
        for (method, losses), style in zip(numbers["losses"][name].items(), styles, strict=True):
            steps = numbers["steps"][name][method]
            label = f"{method}: {steps if steps is not None else 'never'}"
            ax.plot(np.arange(losses.size), losses, style, label=label, lw=1.5)
        ax.axhline(numbers["target"][name], color="gray", lw=0.8)
        ax.set_xlim(left=0)
        ax.set(
            xscale="symlog",
            xlabel="step (log beyond 1)",
            ylabel="loss",
            title=f"{name}\nλmin at start = {numbers['lambda_min'][name]:.2g}",
        )
        ax.title.set_fontsize(9)
        ax.legend(fontsize=7, title="steps to the grey line", title_fontsize=7)
    fig.set_layout_engine("tight")
    return fig


def _steps_to_target(
    numbers: dict[str, Any], name: str, method: str, *, with_cost: bool = True
) -> str:
    """A run's steps to the target, with its cost where Hessian products add to it and the
    loss evaluations of its line searches."""
    steps, cost = numbers["steps"][name][method], numbers["cost"][name][method]
    if steps is None:
        return f"never in {numbers['budget'][name]}"
    evaluations = numbers.get("loss_evaluations", {}).get(name, {}).get(method, 0)
    extra = [f"cost {cost}"] if cost != steps else []
    if evaluations:
        extra.append(counted(evaluations, "loss evaluation"))
    return f"{steps}" + (f" ({'; '.join(extra)})" if with_cost and extra else "")


def _saddle_escapes_caption(numbers: dict[str, Any]) -> str:
    from jaxtrain.lecture._saddle_escapes import METHODS

    parts = [
        f"{name} (λmin = {numbers['lambda_min'][name]:.2g}): "
        + ", ".join(
            f"{method} {_steps_to_target(numbers, name, method)}" for method in numbers["methods"]
        )
        for name in numbers["cases"]
    ]
    missed = [
        f"{method} on {name} ({_steps_to_target(numbers, name, method, with_cost=False)} "
        f"{'step' if numbers['steps'][name][method] == 1 else 'steps'} vs gradient descent's "
        f"{_steps_to_target(numbers, name, METHODS[0], with_cost=False)})"
        for name in numbers["cases"]
        for method, met in numbers["meets_target"][name].items()
        if not met
    ]
    if missed:
        verdict = f"Target missed by {'; '.join(missed)}."
    elif len(numbers["cases"]) == 1:
        verdict = f"Each transform met the target on {numbers['cases'][0]}, the one case run."
    else:
        verdict = "Each transform met the target on every case."
    return (
        "Steps until the loss falls below half its value at the planted saddle (cost: "
        "gradients plus Hessian-vector products, where they differ; the line searches' loss "
        "evaluations beside it): "
        + "; ".join(parts)
        + ". Target of each transform: at most a fifth of gradient descent's steps, or any "
        "escape where gradient descent has none within the budget. "
        + verdict
        + _against_the_noisy_baseline(numbers)
        + " "
        + _perturbed_gd_caption(numbers)
    )


def _against_the_noisy_baseline(numbers: dict[str, Any]) -> str:
    """Where gradient descent never escapes, the target asks only for an escape: each
    transform's steps beside GD + small noise's there, which escapes without the Hessian."""
    from jaxtrain.lecture._saddle_escapes import METHODS, TRANSFORMS

    descent, noise = METHODS[:2]
    steps = numbers["steps"]
    cases = [
        name
        for name in numbers["cases"]
        if steps[name][descent] is None and steps[name][noise] is not None
    ]
    if not cases:
        return ""

    def listed_steps(method: str) -> str:
        return ", ".join(
            "never" if steps[n][method] is None else str(steps[n][method]) for n in cases
        )

    base = [steps[name][noise] for name in cases]
    verdicts = []
    for method in (m for m in TRANSFORMS if m in numbers["methods"]):
        own = [steps[name][method] for name in cases]
        never = sum(o is None for o in own)
        fewer = sum(o is not None and o < b for o, b in zip(own, base, strict=True))
        more = sum(o is not None and o > b for o, b in zip(own, base, strict=True))
        counts = [
            (fewer, "took fewer steps"),
            (more, "took more steps"),
            (len(cases) - never - fewer - more, "took as many steps"),
            (never, "never escaped"),
        ]
        whole = [words for count, words in counts if count == len(cases)]
        if whole:
            said = whole[0] + ("" if len(cases) == 1 else f" on all {len(cases)}")
        else:
            said = " and ".join(f"{words} on {count}" for count, words in counts if count)
            said += f" of the {len(cases)}"
        verdicts.append(f"{method} {said} ({listed_steps(method)})")
    return (
        f" Where gradient descent never escapes ({', '.join(cases)}) any escape meets the "
        f"target, so compare with {noise}, which escapes there in {listed_steps(noise)} "
        f"{'step' if len(cases) == 1 and steps[cases[0]][noise] == 1 else 'steps'}: "
        + ", ".join(verdicts)
        + "."
    )


def _perturbed_gd_caption(numbers: dict[str, Any]) -> str:
    """Perturbed GD's settings by the rule, and where it missed, its ratio and the time scales."""
    from jaxtrain.lecture._saddle_escapes import _SPEEDUP, METHODS

    method = "perturbed GD"
    settings = "; ".join(
        f"{name}: ε_g {s['gradient_threshold']:.2g}, r {s['radius']:.2g}, T {s['escape_steps']}, "
        f"{counted(numbers['perturbations'][name][method], 'kick')}"
        for name, s in numbers["perturbation_settings"].items()
    )
    text = (
        "Perturbed GD's threshold ε_g, radius r and escape time T follow one rule, Jin et al.'s "
        f"(ℓ = the largest |λ| at the start, ε = λmin²/ρ): {settings}."
    )
    for name in numbers["cases"]:
        steps, descent = numbers["steps"][name][method], numbers["steps"][name][METHODS[0]]
        if numbers["meets_target"][name][method] or steps is None or descent is None:
            continue
        e_fold = 1.0 / (numbers["learning_rate"][name] * abs(numbers["lambda_min"][name]))
        share = beside(steps / descent, 1 / _SPEEDUP, 2, fixed=True)
        e_folding = f"{e_fold:.0f}" if e_fold >= 10 else f"{e_fold:.2g}"
        text += (
            f" On {name} it took {share} of gradient descent's "
            f"steps (the target is at most {1 / _SPEEDUP:g}). The rule's escape time for this "
            f"saddle is T = "
            f"{numbers['perturbation_settings'][name]['escape_steps']} steps, gradient "
            f"descent took {descent}; one e-folding of growth along λmin takes 1/(η|λmin|) = "
            f"{e_folding} {'step' if e_folding == '1' else 'steps'}, so a fifth of gradient "
            f"descent's steps is {descent / 5 / e_fold:.2g} of them."
        )
        if numbers["perturbations"][name][method] == 0:
            text += " It never kicked: ‖g‖ stayed above ε_g at every step."
    return text


SECTION = Section(
    id=_ID,
    title="2. Critical points",
    summary=(
        "Where the gradient g vanishes, training stalls, but not necessarily at a local "
        "minimum. The Hessian H = ∇²L(θ) decides: near θ, L(θ + u) ≈ L(θ) + ½ uᵀHu, so all "
        "eigenvalues λ > 0 means a local minimum, mixed signs a saddle point, and the "
        "eigenvector u of a negative λ is a way down. The minimum ratio is the share of "
        "positive eigenvalues."
    ),
    experiments=(
        toy_saddle,
        escaping_a_saddle,
        saddle_escapes,
        trained_spectrum,
        minimum_ratio_vs_loss,
        hessian_vs_gauss_newton,
    ),
)
"""§2 of the lecture: its summary and its claims, in the order the tour, the examples and
the notebooks show them (``SECTION.claims(config, seed=...)``)."""
