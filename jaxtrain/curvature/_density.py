"""The whole Hessian spectrum at once: stochastic Lanczos quadrature (SLQ)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxtrain._batched_map import map_in_batches
from jaxtrain._numbers import is_int
from jaxtrain.curvature._lanczos import (
    _check_num_iters,
    basis_rows,
    check_basis_memory,
    lanczos_loop,
    ritz,
)
from jaxtrain.curvature._memory import DEFAULT_MAX_BYTES
from jaxtrain.curvature._operators import (
    as_pytree_callable,
    check_key,
    flat_operator,
    flat_space,
    highest_precision,
    linearized,
)

__all__ = ["SpectralDensity", "minimum_ratio_estimate", "spectral_density"]


class SpectralDensity(NamedTuple):
    """An estimate of the eigenvalue density of H from :func:`spectral_density`.

    Attributes:
        nodes: the Ritz values θ of each probe's Lanczos run, shape (num_probes, num_iters).
        weights: their quadrature weights τ (squared first entries of T's eigenvectors),
            shape (num_probes, num_iters); each probe's weights sum to 1.
        grid: the points t where ``density`` is evaluated.
        density: φ(t) = (1/P) Σₚ Σⱼ τₚⱼ 𝒩(t; θₚⱼ, σ²). Its trapezoid integral over the
            grid is 1 when σ is at least the grid spacing (the default σ is ~3 spacings of
            the default grid); below that it is not (see :func:`spectral_density`).
        sigma: the standard deviation σ of the Gaussian smoothing used.
    """

    nodes: jax.Array
    weights: jax.Array
    grid: jax.Array
    density: jax.Array
    sigma: jax.Array


def gauss_quadrature(
    alphas: jax.Array, betas: jax.Array, steps: jax.Array, m: int
) -> tuple[jax.Array, jax.Array]:
    """The nodes θ and weights τ of one probe from its first ``steps`` Lanczos steps.

    Gauss quadrature of v₀ᵀ g(H) v₀ = Σⱼ τⱼ g(θⱼ), τⱼ the squared first entry of sⱼ; the
    padding rows (j ≥ steps) carry no weight because their first entry is zero.
    """
    theta, S, _ = ritz(alphas, betas, steps, m)
    return theta[:m], S[0, :m] ** 2


def slq_probes(
    f: Callable[[jax.Array], jax.Array],
    like: jax.ShapeDtypeStruct,
    keys: jax.Array,
    num_iters: jax.Array,
    *,
    m: int,
    probe_batch_size: int,
) -> tuple[jax.Array, jax.Array]:
    """``(nodes, weights)``, each (len(keys), m): one Lanczos probe per key, traceable."""

    def one_probe(probe_key):
        v0 = jax.random.normal(probe_key, like.shape, like.dtype)
        alphas, betas, _, steps, _ = lanczos_loop(f, v0, num_iters, m)
        return gauss_quadrature(alphas, betas, steps, m)

    return map_in_batches(one_probe, keys, probe_batch_size)


@functools.partial(jax.jit, static_argnames=("num_probes", "m", "probe_batch_size"))
def _slq_program(matvec, like, key, num_iters, *, num_probes, m, probe_batch_size):
    f, flat_like, _ = flat_operator(linearized(matvec), like)
    keys = jax.random.split(key, num_probes)
    return slq_probes(f, flat_like, keys, num_iters, m=m, probe_batch_size=probe_batch_size)


@jax.jit
def _smooth(nodes, weights, grid, sigma):
    z = (grid[:, None, None] - nodes[None]) / sigma
    kernel = jnp.exp(-0.5 * z**2) / (sigma * math.sqrt(2 * math.pi))
    return jnp.sum(kernel * weights[None], axis=(1, 2)) / nodes.shape[0]


def spectral_density(
    matvec: Callable[[Any], Any],
    like: Any,
    *,
    num_probes: int,
    num_iters: int,
    key: jax.Array,
    sigma_squared: float = 1e-5,
    grid: jax.Array | int = 1000,
    probe_batch_size: int = 1,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> SpectralDensity:
    """Estimates the eigenvalue density of H by stochastic Lanczos quadrature.

    The density φ(t) = (1/n) Σᵢ δ(t − λᵢ) smoothed by a Gaussian 𝒩(0, σ²) satisfies
    φ(t) = E_v[vᵀ g_t(H) v] for random unit v, with g_t(λ) = 𝒩(t; λ, σ²). For each of P =
    ``num_probes`` random unit vectors v, m = ``num_iters`` Lanczos steps from v give Gauss
    quadrature nodes θⱼ (Ritz values) and weights τⱼ (squared first entries of the
    eigenvectors of T), and vᵀg(H)v ≈ Σⱼ τⱼ g(θⱼ). Averaging over probes gives
    φ(t) ≈ (1/P) Σₚ Σⱼ τₚⱼ 𝒩(t; θₚⱼ, σ²).

    Smoothing convention (stated exactly): σ² = ``sigma_squared`` × (λ_max − λ_min)², the
    range taken over all nodes, so σ is a fixed fraction √``sigma_squared`` of the spectrum's
    width (0.32% at the default 10⁻⁵, the value Ghorbani et al. 2019 use on a normalized
    spectrum). Nodes that agree to within √ε · max|θ| (ε the dtype's machine epsilon) are one
    eigenvalue up to rounding, as for H = cI: there the width is max(max|θ|, 1) instead. The
    default grid has 1,000 points from λ_min − 5σ − 1%·range to λ_max + 5σ + 1%·range.

    When the density integrates to 1 on the grid: the trapezoid sum of one Gaussian over
    points h apart is 1 to within 2·exp(−2π²σ²/h²) (Poisson summation), so to 10⁻⁸ once σ is
    at least the grid spacing h, to 1.5% at σ = h/2, to 22% at σ = h/3, and not at all
    further down, where the points sample each Gaussian once or miss it. On the default grid
    h ≈ range/980, so σ/h ≈ 1000·√``sigma_squared``: 3 at the default 10⁻⁵, 1 at 10⁻⁶; on a
    spectrum of 20 eigenvalues the integral measured 0.16 at 10⁻⁸ and 1.13 at 10⁻⁹. A
    sharper σ needs a finer grid (pass one, spaced at most σ, reaching 5σ past the extreme
    nodes).

    Args:
        matvec: v ↦ Hv on pytrees like ``like``.
        like: a pytree fixing the vector space, e.g. ``params``.
        num_probes: P, the number of random starting vectors.
        num_iters: m, the Lanczos steps per probe (quadrature nodes; capped at n).
        key: ``jax.random`` key for the probes.
        sigma_squared: the smoothing variance relative to the squared spectral range;
            below ~10⁻⁶ σ falls under the default grid's spacing (see above).
        grid: an array of at least 2 points t, or the number of points of the default grid.
        probe_batch_size: probes run together (vmapped); each holds an (m, n) basis.
        max_bytes: the largest memory the ``probe_batch_size`` bases together may take.

    Returns:
        A :class:`SpectralDensity` ``(nodes, weights, grid, density, sigma)``.

    Raises:
        ValueError: for non-positive counts, a ``sigma_squared`` not finite and > 0, or a grid
            of fewer than 2 points.
        MemoryLimitError: if ``probe_batch_size`` bases of m × n exceed ``max_bytes``.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from jaxtrain.curvature import spectral_density
        >>> H = jnp.diag(jnp.array([-1.0, 1.0, 2.0, 3.0]))
        >>> d = spectral_density(lambda v: H @ v, jnp.zeros(4), num_probes=4, num_iters=4,
        ...                      key=jax.random.key(0))
        >>> print(round(float(jnp.trapezoid(d.density, d.grid)), 4))
        1.0

    References:
        Ghorbani, Krishnan, Xiao, "An Investigation into Neural Net Optimization via Hessian
        Eigenvalue Density", 2019, https://arxiv.org/abs/1901.10159

        Lin, Saad, Yang, "Approximating spectral densities of large matrices", SIAM Review
        58 (2016), https://arxiv.org/abs/1308.5467
    """
    key = check_key(key)
    check_density_arguments(num_probes, probe_batch_size, sigma_squared, grid)
    # NumPy ints pass the check; the jitted program takes both counts as static arguments.
    num_probes, probe_batch_size = int(num_probes), int(probe_batch_size)
    flat_like = flat_space(like)
    n = int(flat_like.size)
    num_iters = _check_num_iters(num_iters, n)
    probe_batch_size = min(probe_batch_size, num_probes)
    check_basis_memory(basis_rows(num_iters, n), flat_like, max_bytes, copies=probe_batch_size)
    with highest_precision():
        nodes, weights = _slq_program(
            as_pytree_callable(matvec, (like,)),
            like,
            key,
            np.int32(num_iters),
            num_probes=num_probes,
            m=basis_rows(num_iters, n),
            probe_batch_size=probe_batch_size,
        )
    return density_from_quadrature(nodes, weights, num_iters, sigma_squared, grid)


def check_density_arguments(
    num_probes: Any, probe_batch_size: Any, sigma_squared: Any, grid: Any
) -> None:
    """Raises :func:`spectral_density`'s ``ValueError`` for a bad count, variance or grid."""
    for name, value in (("num_probes", num_probes), ("probe_batch_size", probe_batch_size)):
        if not is_int(value) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    # ∞ (and NaN, which fails every comparison) would smooth the density into all NaN.
    if not 0 < sigma_squared < math.inf:
        raise ValueError(f"sigma_squared must be > 0 and finite, got {sigma_squared}")
    if not is_int(grid):
        if jnp.ndim(grid) != 1:
            raise ValueError(f"grid must be 1-D, got shape {jnp.shape(grid)}")
        grid = jnp.size(grid)
    if grid < 2:
        raise ValueError(f"a grid needs at least 2 points, got {grid}")


def _spectral_width(lo: jax.Array, hi: jax.Array) -> jax.Array:
    """The range λ_max − λ_min that σ is a fraction of, or max(max|θ|, 1) for one eigenvalue.

    Lanczos on H = cI returns nodes that differ by a few ulps of c, not by exactly 0: a σ
    that small leaves a grid of a handful of distinct floats and a density that integrates to
    ~18. A spread within √ε · max|θ| is taken as rounding, the error
    :func:`~jaxtrain.curvature.eigenvalue_tolerance` also allows a Hessian's eigenvalues.
    """
    scale = jnp.maximum(jnp.abs(lo), jnp.abs(hi))
    rounding = jnp.sqrt(jnp.finfo(scale.dtype).eps) * scale
    return jnp.where(hi - lo > rounding, hi - lo, jnp.maximum(scale, 1.0))


def density_from_quadrature(
    nodes: jax.Array,
    weights: jax.Array,
    num_iters: int,
    sigma_squared: float,
    grid: jax.Array | int,
) -> SpectralDensity:
    """The smoothed density of probes' quadrature ``(nodes, weights)``, as documented in
    :func:`spectral_density`; only the first ``num_iters`` nodes of each probe are kept."""
    nodes, weights = nodes[:, :num_iters], weights[:, :num_iters]
    lo, hi = jnp.min(nodes), jnp.max(nodes)
    width = _spectral_width(lo, hi)
    sigma = jnp.sqrt(sigma_squared) * width
    if is_int(grid):
        margin = 5 * sigma + 0.01 * width
        grid = jnp.linspace(lo - margin, hi + margin, grid, dtype=nodes.dtype)
    else:
        grid = jnp.asarray(grid, nodes.dtype)
    density = _smooth(nodes, weights, grid, sigma)
    return SpectralDensity(nodes, weights, grid, density, sigma)


def minimum_ratio_estimate(density: SpectralDensity, *, tol: float = 0.0) -> jax.Array:
    """The fraction of eigenvalues above ``tol``, from a spectral density: the minimum ratio.

    The lecture's minimum ratio is (number of λ > 0)/n. For a model too large for the dense
    Hessian, the SLQ measure (1/P) Σₚ Σⱼ τₚⱼ δ(t − θₚⱼ) estimates the spectral distribution,
    and its mass above ``tol`` estimates the ratio. The quadrature nodes are used directly
    (not the smoothed curve), so no mass leaks across ``tol`` through the smoothing. A run
    with few Lanczos steps lumps the many near-zero eigenvalues into a few nodes, so prefer a
    small positive ``tol`` (zero curvature is not positive curvature) and read the result
    with its gradient norm.

    Args:
        density: a :class:`SpectralDensity` from :func:`spectral_density`.
        tol: eigenvalues above this count as positive (absolute).

    Returns:
        The estimated ratio in [0, 1] (a scalar array).

    Raises:
        ValueError: if ``tol`` is not finite.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from jaxtrain.curvature import minimum_ratio_estimate, spectral_density
        >>> H = jnp.diag(jnp.array([-2.0, -1.0, 1.0, 2.0]))  # minimum ratio 0.5
        >>> d = spectral_density(lambda v: H @ v, jnp.zeros(4), num_probes=400, num_iters=4,
        ...                      key=jax.random.key(0), probe_batch_size=400)
        >>> print(round(float(minimum_ratio_estimate(d)), 1))
        0.5
    """
    # NaN fails every comparison: no node would be above it, and the ratio would read 0.
    if not math.isfinite(tol):
        raise ValueError(f"tol must be finite, got {tol}")
    mass = jnp.sum(jnp.where(density.nodes > tol, density.weights, 0.0))
    return mass / density.nodes.shape[0]
