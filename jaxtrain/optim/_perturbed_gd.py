"""Perturbed gradient descent (Jin et al. 2017): a random kick where the gradient is small."""

from __future__ import annotations

import math
import operator
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from jaxtrain._dtypes import working_dtype
from jaxtrain.optim._escape_step import check_count, check_seed, saturating_add
from jaxtrain.optim._validation import check_positive

__all__ = ["PerturbedGDState", "perturbed_gd", "perturbed_gd_hyperparameters"]

# escape_steps is an int32 in the state (t_noise starts at −T − 1): a larger T means "never
# again" within any budget that fits the int32 step counter.
_MAX_ESCAPE_STEPS = 2**30


class PerturbedGDState(NamedTuple):
    """State of :func:`perturbed_gd`.

    Attributes:
      count: steps taken, t (int32, saturating).
      key: the PRNG key of the perturbations, split every step.
      last_perturbation: t_noise, the step of the last perturbation (int32; −T − 1 before any).
      perturbations: how many perturbations were made (int32).
    """

    count: jax.Array
    key: jax.Array
    last_perturbation: jax.Array
    perturbations: jax.Array


def perturbed_gd(
    learning_rate: float,
    *,
    gradient_threshold: float = 1e-3,
    radius: float = 1e-2,
    escape_steps: int = 10,
    seed: int = 0,
) -> optax.GradientTransformationExtraArgs:
    r"""Gradient descent that adds a small random perturbation where the gradient is small.

    Lecture §2: gradient descent started exactly at a saddle never moves (g = 0), but any
    offset along a negative-curvature direction u grows by 1 + η|λ| per step. Perturbed
    gradient descent supplies that offset, and only where it is needed: at step t,

    - if ‖g‖ ≤ ε_g and t − t_noise > T: the update is ξ, drawn uniformly from the ball of
      radius r, and t_noise ← t (t_noise starts at −T − 1, so step 0 may perturb);
    - otherwise the gradient step −ηg.

    ε_g is ``gradient_threshold``, r ``radius``, T ``escape_steps`` (Jin et al.'s t_thres:
    descent gets T steps to carry the perturbation away before another is drawn) and η
    ``learning_rate``. Jin et al. perturb θ and take the gradient step from the perturbed
    point within one iteration; here the perturbation is a step of its own, so the gradient
    step that follows is taken at the perturbed point, as theirs, one step later. Their
    theory sets r, T and ε_g from ℓ, ρ and the target accuracy (that rule is
    :func:`perturbed_gd_hyperparameters`), and stops when a perturbation fails to lower the
    loss; this transform takes them as hyperparameters and never stops, the training loop
    does. It needs no Hessian and no loss evaluations: extra arguments
    (``obj_fn``) are accepted and ignored, so it chains beside transforms that need them.

    Args:
      learning_rate: η > 0.
      gradient_threshold: ε_g > 0.
      radius: r > 0, the radius of the perturbation ball.
      escape_steps: T >= 1, the gradient steps at least between two perturbations.
      seed: seeds the PRNG key of the perturbations.

    Returns:
      An ``optax.GradientTransformationExtraArgs`` (the whole optimizer: the learning rate
      is applied) whose state is a :class:`PerturbedGDState`.

    Raises:
      ValueError: for a non-positive ``learning_rate``, ``gradient_threshold`` or
        ``radius``, or an ``escape_steps`` that is not a Python int in [1, 2³⁰].

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jaxtrain import optim
      >>> loss = lambda w: (1.0 - w[0] * w[1]) ** 2  # the lecture's toy: a saddle at 0
      >>> opt = optim.perturbed_gd(0.1, radius=0.01)
      >>> w = jnp.zeros(2)
      >>> state = opt.init(w)
      >>> updates, state = opt.update(jax.grad(loss)(w), state, w)
      >>> print(round(float(jnp.linalg.norm(updates)), 4) <= 0.01, int(state.perturbations))
      True 1

    References:
      Jin, Ge, Netrapalli, Kakade, Jordan, "How to Escape Saddle Points Efficiently", 2017,
      https://arxiv.org/abs/1703.00887 (Algorithm 2, PGD).
    """
    check_positive("learning_rate", learning_rate)
    check_positive("gradient_threshold", gradient_threshold)
    check_positive("radius", radius)
    check_count("escape_steps", escape_steps, maximum=_MAX_ESCAPE_STEPS)
    check_seed(seed)

    def init_fn(params: Any) -> PerturbedGDState:
        del params
        zero = jnp.zeros([], jnp.int32)
        return PerturbedGDState(
            count=zero,
            key=jax.random.key(seed),
            last_perturbation=jnp.full([], -escape_steps - 1, jnp.int32),
            perturbations=zero,
        )

    def update_fn(
        updates: Any, state: PerturbedGDState, params: Any = None, **extra_args: Any
    ) -> tuple[Any, PerturbedGDState]:
        del params, extra_args
        flat_grad, unravel = ravel_pytree(updates)
        work = working_dtype(flat_grad.dtype)
        key, direction_key, radius_key = jax.random.split(state.key, 3)
        n = flat_grad.size
        # Uniform in the ball: a uniform direction and a radius r·U^{1/d}, d the real
        # dimension (2n for complex parameters: a ball in ℂⁿ is one in ℝ²ⁿ).
        d = 2 * n if jnp.issubdtype(work, jnp.complexfloating) else n
        direction = jax.random.normal(direction_key, (n,), work)
        unit = jax.random.uniform(radius_key, (), jnp.finfo(work).dtype)
        scale = radius * unit ** (1.0 / max(d, 1))
        kick = scale * direction / jnp.linalg.norm(direction)
        # Written as count − T > t_noise, not count − t_noise > T: the difference of two
        # counters would wrap around in int32 near the end of the saturating count.
        due = (jnp.linalg.norm(flat_grad.astype(work)) <= gradient_threshold) & (
            state.count - escape_steps > state.last_perturbation
        )
        # In the working dtype, then the gradient's: a float32 η (optax.inject_hyperparams'
        # hyperparam_dtype, as jaxtrain recommends for half precision) would otherwise promote
        # a bfloat16 or float16 step to float32.
        descent = (-learning_rate * flat_grad.astype(work)).astype(flat_grad.dtype)
        step = jnp.where(due, kick.astype(flat_grad.dtype), descent)
        return unravel(step), PerturbedGDState(
            count=saturating_add(state.count, 1),
            key=key,
            last_perturbation=jnp.where(due, state.count, state.last_perturbation),
            perturbations=saturating_add(state.perturbations, due.astype(jnp.int32)),
        )

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def perturbed_gd_hyperparameters(
    learning_rate: float,
    *,
    smoothness: float,
    hessian_lipschitz: float,
    epsilon: float,
    dimension: int,
    loss_gap: float,
    failure_probability: float = 0.1,
) -> dict[str, float | int]:
    r"""ε_g, r and T of :func:`perturbed_gd` from the problem's constants (Jin et al. 2017).

    Jin et al.'s Algorithm 2 takes ℓ (the gradient's Lipschitz constant, the largest |λ| of
    H), ρ (the Hessian's Lipschitz constant), the target ε (an ε-second-order stationary
    point: ‖g‖ ≤ ε and λmin ≥ −√(ρε), so it escapes every saddle with λmin < −√(ρε)), the
    dimension d, the loss gap Δ_L = L(θ₀) − L*, a failure probability δ and a constant c, and
    sets η = c/ℓ and

    .. math::
        χ = 3\max\{\ln(dℓΔ_L/(cε^2δ)), 4\},\quad
        ε_g = \frac{\sqrt{c}}{χ^2}ε,\quad r = \frac{ε_g}{ℓ},\quad
        T = \Big\lceil\frac{χ}{c^2}\frac{ℓ}{\sqrt{ρε}}\Big\rceil.

    Here η is given (the step shared with plain gradient descent), so c = ηℓ. The theorem
    needs c at most an absolute constant below 1; for 1 ≤ c < 2 the formulas still give
    settings, outside its guarantee, and c ≥ 2 is refused: gradient descent itself diverges
    along the top eigenvector there (|1 − ηℓ| > 1). T is the escape time the theory allows
    for a saddle of curvature −√(ρε): along its eigenvector an offset grows by about η√(ρε)
    per step, and T of them are χ/c >= 12/c e-foldings. T is capped at 2³⁰ (it sits in the
    int32 state).

    Args:
      learning_rate: η > 0.
      smoothness: ℓ > 0.
      hessian_lipschitz: ρ > 0.
      epsilon: ε > 0.
      dimension: d >= 1, the number of parameters (any integer, NumPy's included).
      loss_gap: Δ_L > 0, e.g. L(θ₀) for a loss bounded below by 0.
      failure_probability: δ in (0, 1).

    Returns:
      ``{"gradient_threshold": ε_g, "radius": r, "escape_steps": T}``, the keyword arguments
      of :func:`perturbed_gd`.

    Raises:
      ValueError: for a non-positive constant, a ``dimension`` that is not an integer >= 1
        (a Python or NumPy integer, of any size: it only enters a logarithm), a
        ``failure_probability`` outside (0, 1), or ηℓ >= 2.

    Examples:
      >>> from jaxtrain import optim
      >>> settings = optim.perturbed_gd_hyperparameters(
      ...     0.1, smoothness=2.0, hessian_lipschitz=4.0, epsilon=1.0, dimension=2, loss_gap=1.0
      ... )
      >>> print(f"{settings['radius']:.2e}", settings["escape_steps"])
      8.85e-04 398
      >>> opt = optim.perturbed_gd(0.1, **settings)

    References:
      Jin, Ge, Netrapalli, Kakade, Jordan, "How to Escape Saddle Points Efficiently", 2017,
      https://arxiv.org/abs/1703.00887 (Algorithm 2 and Theorem 3).
    """
    for name, value in (
        ("learning_rate", learning_rate),
        ("smoothness", smoothness),
        ("hessian_lipschitz", hessian_lipschitz),
        ("epsilon", epsilon),
        ("loss_gap", loss_gap),
    ):
        check_positive(name, value)
    dimension = _check_dimension(dimension)
    if not 0.0 < failure_probability < 1.0:
        raise ValueError(f"`failure_probability` must be in (0, 1), got {failure_probability}.")
    c = learning_rate * smoothness
    if c >= 2.0:
        raise ValueError(
            f"learning_rate · smoothness = {c:.4g} >= 2: gradient descent with this step diverges "
            "along the Hessian's top eigenvector, so no perturbation schedule applies."
        )
    # ln(dℓΔ_L/(cε²δ)) as a sum of logarithms: d is an integer of any size (math.log takes
    # a Python int beyond float range), and no product of the constants can overflow.
    log_term = (
        math.log(dimension)
        + math.log(smoothness)
        + math.log(loss_gap)
        - math.log(c)
        - 2.0 * math.log(epsilon)
        - math.log(failure_probability)
    )
    chi = 3.0 * max(log_term, 4.0)
    threshold = math.sqrt(c) * epsilon / chi**2
    steps = math.ceil(chi * smoothness / (c**2 * math.sqrt(hessian_lipschitz * epsilon)))
    return {
        "gradient_threshold": threshold,
        "radius": threshold / smoothness,
        "escape_steps": min(max(steps, 1), _MAX_ESCAPE_STEPS),
    }


def _check_dimension(dimension: Any) -> int:
    """``dimension`` as a Python int >= 1: any integer, NumPy's too, and of any size (d only
    enters a logarithm, so no int32 bound applies); bools and floats are refused."""
    if isinstance(dimension, bool | np.bool_):
        index = None
    else:
        try:
            index = operator.index(dimension)
        except TypeError:
            index = None
    if index is None or index < 1:
        shown = index if index is not None else repr(dimension)
        raise ValueError(f"`dimension` must be an integer >= 1, got {shown}.")
    return index
