"""Planted saddles and the race out of them: steps and cost until the loss falls below a target.

Shared by the lecture's claim (``critical_points.saddle_escapes``) and ``benchmarks/escape.py``:
one definition of each start point, method and count, so the table and the figure agree.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "METHODS",
    "TRANSFORMS",
    "EscapeRun",
    "PlantedSaddle",
    "escape_run",
    "meets_target",
    "perturbation_settings",
    "planted_saddles",
    "race",
    "start_curvature",
]

# Every method in the order the tables list them.
METHODS = (
    "gradient descent",
    "GD + small noise",
    "perturbed GD",
    "negative-curvature descent",
    "saddle-free Newton",
)
# The three transforms of issue 16, held to the target of :func:`meets_target`.
TRANSFORMS = METHODS[2:]
# A transform meets the target when it needs at most this fraction of gradient descent's steps.
_SPEEDUP = 5
# Lanczos steps for negative-curvature descent; the Krylov dimension k of saddle-free Newton.
_NUM_ITERS, _KRYLOV = 10, 8


@dataclasses.dataclass(frozen=True)
class PlantedSaddle:
    """A loss and a start point at (or next to) a saddle, with the race's settings.

    Attributes:
      name: a short description for the tables.
      loss_fn: ``loss_fn(params) -> scalar``, the full-batch training loss.
      start: the planted start, a pytree.
      target: the loss to fall below: half the loss at the start.
      learning_rate: η of every method's gradient step.
      budget: the most steps of each run.
      noise: the expected norm of the Gaussian noise that noisy gradient descent adds to θ
        every step.
      hessian_lipschitz: ρ, how fast H changes near the start (a problem constant): the
        negative-curvature step |λ|/ρ (negative-curvature descent's, and saddle-free Newton's
        where it steps along negative curvature) and perturbed GD's settings
        (:func:`perturbation_settings`) use it.
    """

    name: str
    loss_fn: Callable[[Any], Any]
    start: Any
    target: float
    learning_rate: float
    budget: int
    noise: float
    hessian_lipschitz: float


@dataclasses.dataclass(frozen=True)
class EscapeRun:
    """One method's run from one planted saddle.

    Attributes:
      steps: the first step after which the loss is below the target (``None``: not within
        the budget).
      cost: ``gradients + hessian_vector_products`` (each product counted as one gradient),
        until then, or over the whole budget when it never got there.
      gradients: gradients of the loss over the same steps: one per step (the g every method
        is given) and one per Lanczos run of the escape transforms, which linearizes ∇L at θ
        (a forward and backward pass that its Hessian-vector products then reuse).
      hessian_vector_products: the escape transforms' Hessian-vector products over the same
        steps (0 for the other methods).
      loss_evaluations: losses evaluated by the method's line searches, over the same steps.
      perturbations: perturbed GD's random kicks over the same steps (0 for other methods).
      final_loss: the loss at the end of the run.
      losses: the loss before each step and after the last (length steps + 1 or budget + 1).
    """

    steps: int | None
    cost: int
    gradients: int
    hessian_vector_products: int
    loss_evaluations: int
    perturbations: int
    final_loss: float
    losses: np.ndarray


def _toy() -> PlantedSaddle:
    import jax.numpy as jnp

    def loss_fn(w):
        return (1.0 - w[0] * w[1]) ** 2

    return PlantedSaddle(
        "toy L = (1 − w₁w₂)², from 0", loss_fn, jnp.zeros(2), 0.5, 0.1, 400, 1e-3, 4.0
    )


def _deep_linear(config: Any, seed: int) -> PlantedSaddle:
    """Saxe et al.'s three-layer linear network (input, hidden, output) at W₁ = W₂ = 0.

    With whitened inputs (the d unit vectors) the loss is ‖Σ − W₂W₁‖²_F/(2d), Σ the
    input-output correlation, here with singular values 3, 2, 1 and 0.5 in random bases; at 0
    the gradient vanishes and H has eigenvalues ±sᵢ/d.
    """
    import jax
    import jax.numpy as jnp

    d = 4
    hidden = config.size(quick=4, full=8)
    key_u, key_v = jax.random.split(jax.random.key(seed))
    u = jnp.linalg.qr(jax.random.normal(key_u, (d, d)))[0]
    v = jnp.linalg.qr(jax.random.normal(key_v, (d, d)))[0]
    sigma = u @ jnp.diag(jnp.array([3.0, 2.0, 1.0, 0.5])) @ v.T

    def loss_fn(p):
        return 0.5 * jnp.sum((sigma - p["w2"] @ p["w1"]) ** 2) / d

    start = {"w1": jnp.zeros((hidden, d)), "w2": jnp.zeros((d, hidden))}
    target = 0.5 * float(loss_fn(start))
    name = f"deep linear {d}-{hidden}-{d}, from 0"
    return PlantedSaddle(name, loss_fn, start, target, 0.5, 400, 1e-3, 1.0)


def _xor(config: Any) -> PlantedSaddle:
    """A 2-h-1 tanh network on XOR (inputs and targets ±1, squared error) from a symmetric start.

    Every hidden unit is the same: input weights 0, bias b = ½, output weight a = ½, and the
    output bias makes the mean prediction 0, the mean target. The gradient is 0 there, since
    XOR's target is uncorrelated with each input, and gradient descent keeps the units equal
    forever. Yet it is a saddle: along directions that move the units' input weights apart
    (summing to zero over the units) H's eigenvalues are ±a·tanh″(b)·E[y x₁x₂] = ±0.36, so
    the way down breaks the units' symmetry.
    """
    import jax.numpy as jnp

    x = jnp.array([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]])
    y = jnp.array([-1.0, 1.0, 1.0, -1.0])
    hidden = 4

    def loss_fn(p):
        out = jnp.tanh(x @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]
        return 0.5 * jnp.mean((out - y) ** 2)

    bias, weight = 0.5, 0.5
    start = {
        "w1": jnp.zeros((2, hidden)),
        "b1": jnp.full(hidden, bias),
        "w2": jnp.full(hidden, weight),
        "b2": -hidden * weight * jnp.tanh(jnp.asarray(bias)),
    }
    budget = config.size(quick=1000, full=3000)
    name = f"tanh 2-{hidden}-1 on XOR, equal units"
    return PlantedSaddle(name, loss_fn, start, 0.25, 0.5, budget, 1e-2, 1.0)


def _digits(config: Any, seed: int) -> PlantedSaddle:
    """A 64-h-h-10 sigmoid MLP on the digits (softmax cross-entropy), initialized tiny.

    Weights N(0, 10⁻⁴) (standard deviation 0.01), biases 0: every hidden unit outputs about ½
    for every image, so the network predicts the class prior (loss ≈ ln 10). The saddle is at
    weights 0, where the output cannot depend on the image; the image-dependent part of the
    output is a product of the three weight matrices, so this saddle is of higher order: its
    negative curvature grows with the weights (λmin ≈ −0.005 here) and gradient descent's time
    to leave it falls as the inverse of the initialization's scale, not its logarithm.
    """
    import jax
    import jax.numpy as jnp
    import optax

    from jaxtrain.lecture._digits import digits_splits

    (x, y), _ = digits_splits(seed)
    count = config.size(quick=256, full=x.shape[0])
    x, y = jnp.asarray(x[:count], jnp.float32), jnp.asarray(y[:count])
    hidden = config.size(quick=16, full=32)
    sizes = (x.shape[1], hidden, hidden, 10)
    keys = jax.random.split(jax.random.key(seed), len(sizes) - 1)
    start = [
        {"w": _DIGITS_SCALE * jax.random.normal(key, (fan_in, fan_out)), "b": jnp.zeros(fan_out)}
        for key, fan_in, fan_out in zip(keys, sizes[:-1], sizes[1:], strict=True)
    ]

    def loss_fn(layers):
        h = x
        for layer in layers[:-1]:
            h = jax.nn.sigmoid(h @ layer["w"] + layer["b"])
        logits = h @ layers[-1]["w"] + layers[-1]["b"]
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, y))

    target = 0.5 * float(loss_fn(start))
    name = f"sigmoid {'-'.join(map(str, sizes))} on {count} digits, tiny init"
    budget = config.size(quick=1500, full=5000)
    return PlantedSaddle(name, loss_fn, start, target, 1.0, budget, 1e-2, _DIGITS_RHO)


_DIGITS_SCALE, _DIGITS_RHO = 1e-2, 1e-3


def planted_saddles(config: Any, seed: int = 0) -> tuple[PlantedSaddle, ...]:
    """The planted saddles of issue 16: the toy alone at the quick size (each method and case
    compiles a program of its own), all four at full size."""
    if config.quick:
        return (_toy(),)
    return (_toy(), _deep_linear(config, seed), _xor(config), _digits(config, seed))


def start_curvature(case: PlantedSaddle, seed: int = 0) -> tuple[float, float]:
    """(λmin, λmax) of H = ∇²L at the start, by one Lanczos run (``which="both"``)."""
    import jax

    from jaxtrain.curvature import eigenvalues, hvp

    result = eigenvalues(
        hvp(case.loss_fn, case.start), case.start, k=1, which="both", key=jax.random.key(seed)
    )
    lowest, highest = (float(value) for value in result.eigenvalues)
    return lowest, highest


def perturbation_settings(
    case: PlantedSaddle, curvature: tuple[float, float]
) -> dict[str, float | int]:
    """Perturbed GD's ε_g, r and T for ``case``: one rule, Jin et al.'s, for every case.

    :func:`~jaxtrain.optim.perturbed_gd_hyperparameters` with the case's η and ρ, ℓ the
    largest |λ| at the start (the gradient's Lipschitz constant there), d the number of
    parameters, Δ_L = L(θ₀) (every loss here is >= 0), δ = 0.1,
    and ε = λmin²/ρ, the boundary: the guarantee covers saddles with λmin < −√(ρε), so every
    smaller ε covers this one. Nothing is tuned to a case.

    Raises:
      ValueError: when the start has no negative curvature (λmin >= 0): no saddle to escape.
    """
    import jax

    from jaxtrain import optim

    lowest, highest = curvature
    if lowest >= 0:
        raise ValueError(f"{case.name}: λmin = {lowest} >= 0 at the start, not a saddle.")
    return optim.perturbed_gd_hyperparameters(
        case.learning_rate,
        smoothness=max(highest, -lowest),
        hessian_lipschitz=case.hessian_lipschitz,
        epsilon=lowest**2 / case.hessian_lipschitz,
        dimension=sum(int(np.size(leaf)) for leaf in jax.tree.leaves(case.start)),
        loss_gap=float(case.loss_fn(case.start)),
    )


def meets_target(runs: dict[str, EscapeRun], method: str) -> bool:
    """Whether ``method`` fell below the target in at most a fifth of gradient descent's steps,
    or at all where gradient descent never did within the budget."""
    steps, descent = runs[method].steps, runs["gradient descent"].steps
    if steps is None:
        return False
    return descent is None or _SPEEDUP * steps <= descent


def _optimizer(method: str, case: PlantedSaddle, seed: int, curvature: tuple[float, float]) -> Any:
    import jax
    import optax

    from jaxtrain import optim

    rate = case.learning_rate
    if method == "gradient descent":
        return optim.sgd(rate)
    if method == "GD + small noise":
        # Gaussian noise on θ of norm about `noise` every step, the size of perturbed GD's
        # kick: standard deviation noise/√n per coordinate on θ, so noise/(η√n) on g.
        n = sum(np.size(leaf) for leaf in jax.tree.leaves(case.start))
        deviation = case.noise / (rate * np.sqrt(n))
        return optax.chain(optax.add_noise(deviation**2, 0.0, key=seed), optim.sgd(rate))
    if method == "perturbed GD":
        return optim.perturbed_gd(rate, **perturbation_settings(case, curvature), seed=seed)
    if method == "negative-curvature descent":
        return optim.negative_curvature_descent(
            optim.sgd(rate),
            hessian_lipschitz=case.hessian_lipschitz,
            num_iters=_NUM_ITERS,
            seed=seed,
        )
    if method == "saddle-free Newton":
        return optim.saddle_free_newton(
            _KRYLOV, hessian_lipschitz=case.hessian_lipschitz, seed=seed
        )
    raise ValueError(f"method must be one of {METHODS}, got {method!r}")


def escape_run(optimizer: Any, case: PlantedSaddle) -> EscapeRun:
    """Runs ``optimizer`` (given ``obj_fn=case.loss_fn``) from the case's start, compiled once,
    until the loss falls below the target or the budget is spent."""
    import jax
    import jax.numpy as jnp
    import optax

    budget = case.budget

    def counter(state: Any, name: str) -> jax.Array:
        # The escape transforms keep their Hessian-vector products, their own gradients (one
        # linearization of ∇L per Lanczos run) and their loss evaluations in their state; the
        # other methods use none of them.
        return jnp.int32(getattr(state, name, 0))

    @jax.jit
    def program(start):
        state = optimizer.init(start)
        loss = case.loss_fn(start)
        losses = jnp.full(budget + 1, jnp.nan, loss.dtype).at[0].set(loss)

        def cond(carry):
            step, _, _, loss, _ = carry
            return (step < budget) & (loss >= case.target)

        def body(carry):
            step, params, state, _, losses = carry
            grads = jax.grad(case.loss_fn)(params)
            updates, state = optimizer.update(grads, state, params, obj_fn=case.loss_fn)
            params = optax.apply_updates(params, updates)
            loss = case.loss_fn(params)
            return step + 1, params, state, loss, losses.at[step + 1].set(loss)

        step, _, state, loss, losses = jax.lax.while_loop(
            cond, body, (jnp.int32(0), start, state, loss, losses)
        )
        names = ("matvecs", "gradient_evaluations", "loss_evaluations", "perturbations")
        return step, loss, losses, [counter(state, name) for name in names]

    step, loss, losses, counts = jax.device_get(program(case.start))
    matvecs, own_gradients, evaluations, perturbations = (int(count) for count in counts)
    step, loss = int(step), float(loss)
    return EscapeRun(
        steps=step if loss < case.target else None,
        cost=step + own_gradients + matvecs,
        gradients=step + own_gradients,
        hessian_vector_products=matvecs,
        loss_evaluations=evaluations,
        perturbations=perturbations,
        final_loss=loss,
        losses=np.asarray(losses[: step + 1]),
    )


def race(
    cases: tuple[PlantedSaddle, ...],
    curvatures: dict[str, tuple[float, float]],
    seed: int = 0,
    methods: tuple[str, ...] = METHODS,
) -> dict[str, dict[str, EscapeRun]]:
    """Runs every method from every planted saddle: ``{case name: {method: EscapeRun}}``.

    ``curvatures`` maps each case's name to its :func:`start_curvature`, which perturbed GD's
    settings are computed from.
    """
    return {
        case.name: {
            method: escape_run(_optimizer(method, case, seed, curvatures[case.name]), case)
            for method in methods
        }
        for case in cases
    }
