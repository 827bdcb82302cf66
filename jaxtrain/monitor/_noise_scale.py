"""The gradient noise scale B_simple = tr(Σ)/|G|², which predicts the critical batch size."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxtrain.monitor._monitor import Monitor, RunSetup, StepView, check_number

__all__ = ["GradientNoiseScale", "GradientNoiseScaleState", "gradient_noise_scale", "noise_terms"]


class GradientNoiseScaleState(NamedTuple):
    """State of :func:`gradient_noise_scale`: the two moving averages and their count.

    Attributes:
      squared_norm: the EMA of the unbiased estimates of |G|².
      trace: the EMA of the unbiased estimates of tr(Σ).
      count: how many steps were averaged (int32).
    """

    squared_norm: jax.Array
    trace: jax.Array
    count: jax.Array


def _check_sizes(b_small: float, b_big: float, num_examples: float | None) -> None:
    if not 0 < b_small < b_big:
        raise ValueError(f"noise_terms needs 0 < b_small < b_big, got {b_small} and {b_big}")
    if num_examples is not None and num_examples < max(2, b_big):
        raise ValueError(
            f"noise_terms needs num_examples ≥ 2 and ≥ b_big = {b_big} (batches drawn without "
            f"replacement from them), got {num_examples}"
        )


def noise_terms(
    small: jax.Array,
    big: jax.Array,
    b_small: float,
    b_big: float,
    num_examples: float | None = None,
) -> tuple[jax.Array, jax.Array]:
    r"""Unbiased estimates of |G|² and tr(Σ) from squared gradient norms at two batch sizes.

    A batch of B independent examples has E|G_B|² = |G|² + tr(Σ)/B (Σ the per-example
    gradient covariance), so two batch sizes give two equations (McCandlish et al. 2018,
    app. A):

        |G|²  ≈ (B_big|G_big|² − B_small|G_small|²) / (B_big − B_small),
        tr(Σ) ≈ (|G_small|² − |G_big|²) / (1/B_small − 1/B_big).

    A batch drawn *without replacement* from N examples (as ``fit`` draws them) varies less:
    E|G_B|² = |G|² + c·tr(Σ)·(1/B − 1/N) with c = N/(N − 1) and Σ the covariance over the N
    examples, whence tr(Σ) = (|G_small|² − |G_big|²)/(c(1/B_small − 1/B_big)) and
    |G|² = |G_big|² − c·tr(Σ)(1/B_big − 1/N). Without it, |G|² is underestimated by about
    tr(Σ)/N, which matters once |G|² is that small (near a minimum of a small data set).

    Args:
      small: |G_small|², the squared norm of a B_small-example gradient.
      big: |G_big|², the squared norm of a B_big-example gradient.
      b_small: B_small.
      b_big: B_big > B_small.
      num_examples: N, when the batches are drawn without replacement from N examples;
        ``None`` for independent draws (N → ∞).

    Returns:
      ``(squared_norm, trace)``.

    Raises:
      ValueError: unless 0 < B_small < B_big (and B_big ≤ N with N ≥ 2): swapped sizes gave
        a negative tr(Σ), equal ones or N = 1 a division by zero.

    Examples:
      >>> from jaxtrain.monitor import noise_terms
      >>> print(noise_terms(3.0, 2.0, 32.0, 64.0))  # |G|² + tr(Σ)/B at B=32, 64
      (1.0, 64.0)
    """
    sizes = (b_small, b_big, num_examples)
    if not any(isinstance(size, jax.core.Tracer) for size in sizes):  # checked when known
        _check_sizes(b_small, b_big, num_examples)
    finite = 1.0 if num_examples is None else num_examples / (num_examples - 1)
    over_n = 0.0 if num_examples is None else 1 / num_examples
    trace = (small - big) / (finite * (1 / b_small - 1 / b_big))
    squared_norm = big - finite * trace * (1 / b_big - over_n)
    return squared_norm, trace


def _squared_norm(leaves: list[jax.Array]) -> jax.Array:
    return sum(jnp.sum(jnp.square(leaf.astype(jnp.float32))) for leaf in leaves)


@dataclasses.dataclass(frozen=True)
class GradientNoiseScale(Monitor):
    """The monitor :func:`gradient_noise_scale` returns."""

    ema: float = 0.95
    coupled_batch: bool = False
    num_examples: int | None = None

    name: ClassVar[str] = "noise_scale"
    uses_half_gradients: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        check_number("ema", self.ema, "in [0, 1)", lambda ema: 0 <= ema < 1)
        if not isinstance(self.coupled_batch, bool | np.bool_):
            raise ValueError(f"coupled_batch must be True or False; got {self.coupled_batch!r}")

    @property
    def needs_whole_batch_gradient(self) -> bool:
        return bool(self.coupled_batch)

    def prepare(self, setup: RunSetup) -> GradientNoiseScale:
        """Takes N from the run: ``fit`` draws each epoch's batches without replacement."""
        return dataclasses.replace(self, num_examples=setup.num_examples)

    def record_names(self, params: Any) -> tuple[str, ...]:
        del params
        return ("noise_scale",)

    def init(self, params: Any) -> GradientNoiseScaleState:
        del params
        zero = jnp.zeros([], jnp.float32)
        return GradientNoiseScaleState(zero, zero, jnp.zeros([], jnp.int32))

    def measure(self, state: GradientNoiseScaleState, view: StepView):
        # The halves hold B//2 examples each (fit leaves an odd batch's last one out of them), so
        # the big batch they make is 2·(B//2): for an odd B, one fewer than the step's batch.
        b_small = view.batch_size // 2
        b_big = 2 * b_small
        if view.half_grads is None or b_small < 1:
            return state, {"noise_scale": jnp.float32(jnp.nan)}
        # The big batch is the two halves together, G_big = (g_a + g_b)/2: with BatchNorm, the
        # step's own gradient comes from other statistics, so the halves alone are consistent.
        # mean(|g_a|², |g_b|²) = |G_big|² + |g_a − g_b|²/4: one read of the halves, and no
        # cancellation between two large, nearly equal norms.
        halves = jax.tree.leaves(view.half_grads)
        big = _squared_norm([(h[0] + h[1]) / 2 for h in halves])
        small = big + _squared_norm([h[0] - h[1] for h in halves]) / 4
        n = None if self.num_examples is None or self.num_examples < 2 else self.num_examples
        squared_norm, trace = noise_terms(small, big, float(b_small), float(b_big), n)
        a = jnp.float32(self.ema)
        new = GradientNoiseScaleState(
            a * state.squared_norm + (1 - a) * squared_norm,
            a * state.trace + (1 - a) * trace,
            state.count + 1,
        )
        # Both averages start at 0 with the same decay, so their bias factors 1 − aᵗ cancel
        # in the ratio. An average |G|² ≤ 0 (unbiased estimates can be negative) under
        # positive noise means the signal is lost in the noise: B_simple is beyond
        # resolution, +inf. With no noise either (every gradient 0) there is no ratio: NaN.
        signal, noise = new.squared_norm, new.trace
        lost = jnp.where(noise > 0, jnp.inf, jnp.nan)
        ratio = jnp.where(signal > 0, noise / signal, lost)
        return new, {"noise_scale": ratio}


def gradient_noise_scale(
    every: int = 1, *, ema: float = 0.95, coupled_batch: bool = False
) -> GradientNoiseScale:
    r"""Tracks the gradient noise scale B_simple = tr(Σ)/|G|² (lecture §3: batch size).

    The gradient of a batch of B examples is the true gradient G plus noise of covariance
    Σ/B. B_simple = tr(Σ)/|G|² is the batch size at which the noise is as large as the
    signal: far below it a larger batch makes each step nearly B times better (perfect
    scaling), far above it extra examples are wasted. McCandlish et al. (2018) found the
    critical batch size, past which more data per step stops saving steps, near B_simple.

    Nearly free: each step's gradient is computed as the mean of the gradients of the
    batch's two halves (even and odd positions), so the squared norms at B/2 and B come from
    one forward and backward pass, and :func:`noise_terms` turns them into unbiased
    estimates of |G|² and tr(Σ), in their form for batches drawn without replacement from
    the N training examples, as ``fit`` draws them. Each is smoothed by its own exponential
    moving average (decay ``ema``) *before* the ratio, as McCandlish et al. advise, since
    the ratio of noisy estimates is biased. Recorded as ``history.per_step["noise_scale"]``;
    +inf while the averaged |G|² estimate is not positive and tr(Σ)'s is (near a minimum,
    where the gradient is all noise), NaN when neither is (every gradient zero).

    The form for N examples is exact for noise from *which* examples a batch holds. Noise
    drawn afresh at each step for each example (dropout's masks, a random augmentation)
    shrinks as 1/B with no 1/N term, and two batch sizes cannot tell the two kinds apart:
    such noise is read as if it were the examples'. Noise of this kind alone, of noise scale
    S, reads S(1 − 1/N)/(1 + S/N): close to S while S ≪ N, low on a small data set (four
    copies of one example under dropout, S = 2.15 from its masks, read 1.04 in a run).

    For models with batch-coupled state (BatchNorm), a loss that draws on the step's random
    key (dropout: the halves' masks would not be the whole batch's), or an odd batch, the
    step's gradient is the usual full-batch one and the two half-batch gradients are an
    extra pass; with
    BatchNorm each half uses its own batch statistics, so what is measured is the noise scale
    of the model normalized over B/2 examples (both estimates come from the halves, which
    keeps them consistent). A batch of one cannot be split: NaN there. Models without
    such state, whose loss is a mean of per-example losses, take the same steps as
    unmonitored training up to float rounding (the gradient is summed in two halves);
    ``fit`` checks that on two examples and refuses a loss that is not (a sum). A
    model or loss that couples a batch's examples
    without model state (statistics of the batch computed on the fly, a contrastive loss)
    would train on the mean of the halves' gradients instead: pass ``coupled_batch=True``,
    and its steps are unmonitored training's, the halves an extra pass.

    Args:
      every: measure every this many steps (the halves are computed at every step anyway).
      ema: the decay of the two moving averages.
      coupled_batch: the model or loss couples a batch's examples without model state; the
        step then takes its gradient on the whole batch.

    Returns:
      A :class:`GradientNoiseScale` monitor.

    Raises:
      ValueError: for ``every`` < 1 or ``ema`` outside [0, 1).

    Examples:
      >>> from jaxtrain.monitor import gradient_noise_scale
      >>> gradient_noise_scale(ema=0.9).ema
      0.9

    References:
      McCandlish, Kaplan, Amodei, "An Empirical Model of Large-Batch Training", 2018,
      https://arxiv.org/abs/1812.06162 (appendix A)
    """
    return GradientNoiseScale(every, ema=ema, coupled_batch=coupled_batch)
