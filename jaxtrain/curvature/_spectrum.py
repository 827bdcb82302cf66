"""The extreme eigenvalues and the spectral density from one set of Lanczos runs."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np

from jaxtrain.curvature._density import (
    SpectralDensity,
    check_density_arguments,
    density_from_quadrature,
    gauss_quadrature,
    slq_probes,
)
from jaxtrain.curvature._lanczos import (
    EigenResult,
    _check_num_iters,
    basis_rows,
    check_basis_memory,
    converging_lanczos,
    eigen_budget,
)
from jaxtrain.curvature._memory import DEFAULT_MAX_BYTES
from jaxtrain.curvature._operators import (
    as_pytree_callable,
    check_key,
    flat_operator,
    highest_precision,
    linearized,
)

__all__ = ["Spectrum", "spectrum"]


class Spectrum(NamedTuple):
    """The ends of a spectrum and its density, from :func:`spectrum`.

    Attributes:
        extremes: the wanted extreme eigenvalues, as :func:`eigenvalues` returns them
            (without eigenvectors).
        density: the spectral density, as :func:`spectral_density` returns it.
    """

    extremes: EigenResult
    density: SpectralDensity


@functools.partial(
    jax.jit,
    static_argnames=("m_first", "m", "k", "which", "min_iters", "num_probes", "probe_batch_size"),
)
def _spectrum_program(
    matvec,
    like,
    key,
    budget,
    tol,
    num_iters,
    *,
    m_first,
    m,
    k,
    which,
    min_iters,
    num_probes,
    probe_batch_size,
):
    f, flat_like, _ = flat_operator(linearized(matvec), like)
    keys = jax.random.split(key, num_probes)
    v0 = jax.random.normal(keys[0], flat_like.shape, flat_like.dtype)
    alphas, betas, _, steps, report = converging_lanczos(
        f, v0, budget, tol, m=m_first, k=k, which=which, min_iters=min_iters
    )
    values, residuals, converged, _ = report
    # The first num_iters steps are the steps a density probe from keys[0] takes: the leading
    # block of T is the same however long the run went on after it.
    first = gauss_quadrature(alphas, betas, num_iters, m_first)
    first = jax.tree.map(lambda a: a[None, :m], first)
    if num_probes == 1:
        nodes, weights = first
    else:
        rest = slq_probes(f, flat_like, keys[1:], num_iters, m=m, probe_batch_size=probe_batch_size)
        nodes, weights = jax.tree.map(lambda a, b: jax.numpy.concatenate([a, b]), first, rest)
    return (values, residuals, steps, converged), (nodes, weights)


def spectrum(
    matvec: Callable[[Any], Any],
    like: Any,
    *,
    k: int,
    key: jax.Array,
    num_probes: int,
    num_iters: int,
    which: str = "both",
    max_iters: int | None = None,
    tol: float = 1e-4,
    sigma_squared: float = 1e-5,
    grid: jax.Array | int = 1000,
    probe_batch_size: int = 1,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Spectrum:
    """:func:`eigenvalues` and :func:`spectral_density` together, one probe cheaper.

    Both start Lanczos from a random Gaussian vector, so the run that finds the extreme
    eigenvalues is also a valid density probe: its first m = ``num_iters`` steps are exactly
    the steps a probe from the same vector takes, and the quadrature nodes and weights come
    from the leading m × m block of its tridiagonal T (the Lanczos recurrence does not look
    ahead). The first probe's run therefore goes on until the extremes converge (at least m
    steps, at most ``max_iters``), and only P − 1 further probes run. Against the two calls
    this saves min(m, the extremes' steps) products. The key is split into P probe keys as
    :func:`spectral_density` splits it, so ``density`` is what ``spectral_density(...,
    key=key)`` returns, and ``extremes`` what :func:`eigenvalues` returns with the first
    probe key, except that the run does not stop before m steps (the values can only be
    closer).

    Args:
        matvec: v ↦ Hv on pytrees like ``like`` (e.g. :func:`~jaxtrain.curvature.hvp`).
        like: a pytree fixing the vector space, e.g. ``params``.
        k: how many eigenvalues at each wanted end.
        key: ``jax.random`` key for the probes.
        num_probes: P, the density's random starting vectors.
        num_iters: m, the Lanczos steps per density probe (capped at n).
        which: ``"largest"``, ``"smallest"`` or ``"both"`` (the order of :class:`EigenResult`).
        max_iters: the most steps of the first probe's run; ``None`` is :func:`eigenvalues`'
            default budget, raised to m if below it.
        tol: relative tolerance on the extremes' error bounds, as in :func:`eigenvalues`.
        sigma_squared: the density's relative smoothing variance, as in
            :func:`spectral_density`.
        grid: the density's points, or their number.
        probe_batch_size: later probes run together (vmapped); each holds an (m, n) basis.
        max_bytes: the largest memory the bases held at once may take.

    Returns:
        A :class:`Spectrum` ``(extremes, density)``.

    Raises:
        ValueError: for the arguments :func:`eigenvalues` or :func:`spectral_density` refuse.
        MemoryLimitError: if the first run's basis and ``probe_batch_size`` probe bases
            exceed ``max_bytes``.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from jaxtrain.curvature import spectrum
        >>> H = jnp.diag(jnp.linspace(-1.0, 10.0, 50))
        >>> s = spectrum(lambda v: H @ v, jnp.zeros(50), k=1, key=jax.random.key(0),
        ...              num_probes=2, num_iters=20)
        >>> print([round(float(x), 2) for x in s.extremes.eigenvalues], s.extremes.converged)
        [-1.0, 10.0] True
        >>> print(s.density.nodes.shape, round(float(jnp.trapezoid(s.density.density,
        ...       s.density.grid)), 3))
        (2, 20) 1.0

    References:
        Ghorbani, Krishnan, Xiao, "An Investigation into Neural Net Optimization via Hessian
        Eigenvalue Density", 2019, https://arxiv.org/abs/1901.10159 (eigenvalues and density
        by Lanczos).
    """
    key = check_key(key)
    check_density_arguments(num_probes, probe_batch_size, sigma_squared, grid)
    budget = eigen_budget(like, k=k, which=which, num_iters=max_iters, tol=tol)
    flat = budget.flat
    n = int(flat.size)
    num_iters = _check_num_iters(num_iters, n)
    longest = max(budget.num_iters, num_iters)
    m_first, m = basis_rows(longest, n), basis_rows(num_iters, n)
    probe_batch_size = min(probe_batch_size, max(num_probes - 1, 1))
    later = probe_batch_size if num_probes > 1 else 0
    check_basis_memory(m_first + later * m, flat, max_bytes)
    with highest_precision():
        (values, residuals, steps, converged), (nodes, weights) = _spectrum_program(
            as_pytree_callable(matvec, (like,)),
            like,
            key,
            np.int32(longest),
            np.asarray(tol, flat.dtype),
            np.int32(num_iters),
            m_first=m_first,
            m=m,
            k=k,
            which=which,
            min_iters=max(budget.min_iters, num_iters),
            num_probes=num_probes,
            probe_batch_size=probe_batch_size,
        )
    extremes = EigenResult(values, None, residuals, int(steps), bool(converged))
    density = density_from_quadrature(nodes, weights, num_iters, sigma_squared, grid)
    return Spectrum(extremes, density)
