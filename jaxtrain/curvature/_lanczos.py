"""Lanczos iteration with full reorthogonalization, and extreme eigenvalues from it.

Everything runs inside one compiled program: the Krylov basis is preallocated with a static
number of rows, the iteration count is a runtime bound of a ``lax.while_loop``, and the
convergence test (Ritz residuals |βₘ sₘ|) runs inside the loop. The number of basis rows is
the requested iteration count rounded up to a size class (16, 32, 64, then multiples of 128,
at most n), so calls whose counts fall in one class share a compilation.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxtrain._numbers import is_int
from jaxtrain.curvature._memory import DEFAULT_MAX_BYTES, check_memory
from jaxtrain.curvature._operators import (
    as_pytree_callable,
    check_key,
    dot,
    flat_operator,
    flat_space,
    highest_precision,
    linearized,
)

__all__ = ["EigenResult", "LanczosResult", "eigenvalues", "extreme_ritz_pairs", "lanczos"]

_WHICH = ("largest", "smallest", "both")
# A residual bound below this many ulps of ‖T‖ counts as converged (see _floor).
_FLOOR_ULPS = 100.0


class LanczosResult(NamedTuple):
    """The tridiagonal matrix T = VᵀHV that Lanczos builds, and optionally V.

    Attributes:
        alphas: diagonal of T, α₁..αₘ, shape (m,).
        betas: β₁..βₘ, shape (m,). ``betas[:-1]`` is the off-diagonal of T; ``betas[-1]``
            is the norm of the next residual, which bounds the Ritz residuals |βₘ sₘ|. A zero
            inside marks a restart after an invariant subspace was found.
        basis: the orthonormal Lanczos vectors as rows, shape (m, n) over the flattened
            parameters (``ravel_pytree`` order), or ``None`` unless requested.
    """

    alphas: jax.Array
    betas: jax.Array
    basis: jax.Array | None


class EigenResult(NamedTuple):
    """Extreme eigenvalues of a symmetric operator from :func:`eigenvalues`.

    Attributes:
        eigenvalues: the Ritz values. ``which="largest"``: descending (λ_max first);
            ``"smallest"``: ascending (λ_min first); ``"both"``: the k smallest ascending then
            the k largest ascending, i.e. all 2k ascending.
        eigenvectors: the Ritz vectors as one pytree like ``like`` with a leading axis of the
            same length (``jax.tree.map(lambda x: x[i], ...)`` picks one), or ``None``.
        residuals: the residual |βₘ sₘ| = ‖Hy − θy‖ of each Ritz pair (an eigenvalue lies
            within it; see :func:`eigenvalues` for the sharper bound used to stop).
        num_matvecs: the number of operator applications (Lanczos steps) used.
        converged: whether every wanted Ritz value met the tolerance before the budget ran out
            (each is then an eigenvalue of H; a repeated eigenvalue appears once, see
            :func:`eigenvalues`).
    """

    eigenvalues: jax.Array
    eigenvectors: Any
    residuals: jax.Array
    num_matvecs: int
    converged: bool


def wanted_count(k: int, which: str, n: int) -> int:
    """How many eigenvalues a request for ``k`` at the ``which`` end(s) asks for.

    Args:
      k: eigenvalues at each wanted end, an int >= 1.
      which: ``"largest"``, ``"smallest"`` or ``"both"``.
      n: the operator's dimension.

    Returns:
      k, or 2k for ``"both"``.

    Raises:
      ValueError: for a bad ``which``, a ``k`` that is not an int >= 1, or more than n.
    """
    if which not in _WHICH:
        raise ValueError(f"which must be one of {_WHICH}, got {which!r}")
    check_k(k)
    wanted = 2 * k if which == "both" else k
    if wanted > n:
        raise ValueError(f"asked for {wanted} eigenvalues of a {n}-dimensional operator")
    return wanted


def check_k(k: Any) -> None:
    """Refuses a ``k`` (eigenvalues at each wanted end) that is not an int >= 1.

    Args:
      k: the count asked for; NumPy integers count, bools do not
        (:func:`jaxtrain._numbers.is_int`).

    Raises:
      ValueError: for anything else, or k < 1.
    """
    if not is_int(k) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")


def extremes(ascending: jax.Array, k: int, which: str) -> jax.Array:
    """The ``k`` eigenvalues at the ``which`` end(s) of whole spectra, as :func:`eigenvalues`
    orders them (see :class:`EigenResult`).

    Args:
      ascending: every eigenvalue, ascending along the last axis (``eigvalsh``'s output).
      k: eigenvalues at each wanted end.
      which: ``"largest"``, ``"smallest"`` or ``"both"``.

    Returns:
      The last axis cut to k (2k for ``"both"``) values.

    Raises:
      ValueError: as :func:`wanted_count`, for more values than the spectrum holds.
    """
    n = ascending.shape[-1]
    wanted_count(k, which, n)
    return jnp.take(ascending, _wanted(jnp.asarray(n), k, which), axis=-1)


def basis_rows(num_iters: int, n: int) -> int:
    """The preallocated basis size for ``num_iters`` steps: a size class, at most ``n``."""
    for size in (16, 32, 64):
        if num_iters <= size:
            return min(size, n)
    return min(-(-num_iters // 128) * 128, n)


def check_basis_memory(rows: int, flat: jax.Array, max_bytes: int, *, copies: int = 1) -> None:
    """Refuses, before allocation, ``copies`` Lanczos bases of ``rows`` × n over ``max_bytes``.

    Full reorthogonalization keeps every Lanczos vector, so the basis, not the matvec, is what
    grows with the number of steps: rows × n × itemsize bytes per basis held at once. ``flat``
    is the flattened vector space (:func:`flat_space`), for its size and dtype.
    """
    check_memory(
        f"{'a' if copies == 1 else copies} Lanczos bas{'is' if copies == 1 else 'es'} of"
        f" {rows:,} × {flat.size:,} {flat.dtype} numbers",
        copies * rows * flat.size * flat.dtype.itemsize,
        max_bytes,
        "Ask for fewer eigenvalues or Lanczos steps, or raise max_bytes.",
    )


def _check_num_iters(num_iters: Any, n: int) -> int:
    if not is_int(num_iters):
        raise ValueError(f"num_iters must be a Python int, got {num_iters!r}")
    if num_iters < 1:
        raise ValueError(f"num_iters must be >= 1, got {num_iters}")
    # More than n orthonormal vectors do not exist in n dimensions; n steps already give the
    # exact spectrum (in exact arithmetic), so the count is capped rather than rejected.
    return min(int(num_iters), n)


def scaled_norm(x: jax.Array, size: jax.Array | None = None) -> jax.Array:
    """‖x‖ as s·‖x/s‖, so its squares neither underflow nor overflow; 0 when s = 0.

    A plain norm squares each entry: in float32 an operator of scale 10⁻²⁰ gives squares
    below the smallest float (‖w‖ = 0, every step a breakdown) and one of 10²⁰ squares past
    the largest (‖w‖ = ∞). Divided by s the entries are O(1) and only s carries the scale.

    Args:
      x: a vector.
      size: s; ``None`` computes max|xᵢ| (one reduction). Several norms of one scale can
        share one s: the Lanczos step takes w's norms before and after orthogonalization
        with max|wᵢ| from before, as removing components only shrinks w, and ‖x/s‖
        underflows only when ‖x‖ < ~10⁻¹⁹·s, far inside what counts as a breakdown.

    Returns:
      The Euclidean norm of x, a scalar.
    """
    if size is None:
        size = jnp.max(jnp.abs(x))
    return size * jnp.linalg.norm(x / jnp.where(size > 0, size, 1))


def _orthogonalize(
    V: jax.Array, w: jax.Array, filled: jax.Array, m: int, size: jax.Array
) -> jax.Array:
    """Removes from the vector w its components along the first ``filled`` (≤ m) rows of V.

    Classical Gram-Schmidt against every stored vector: this is what keeps the Ritz values
    free of the ghost copies plain three-term Lanczos produces in floating point. A second
    pass runs only when the first removed much of w (its norm fell below 1/√2 of what it
    was, the Daniel–Gragg–Kaufman–Stewart test), where one pass can leave components
    behind; otherwise one pass is already orthogonal to working precision. Reading the basis
    is the cost (two matrix-vector products per pass, memory-bound), so only the smallest
    size class of rows holding the ``filled`` vectors is read: a run that stops after 20
    steps in a 128-row basis reads 32 rows, not 128. ``size`` is max|wᵢ|, the scale both
    norms of the test are taken at (:func:`scaled_norm`).
    """
    sizes = _size_classes(m)

    def against(size_class):
        def project(w):
            one_pass = functools.partial(_remove_components, V[:size_class])
            once = one_pass(w)
            shrunk = scaled_norm(once, size) < jnp.sqrt(0.5) * scaled_norm(w, size)
            return lax.cond(shrunk, one_pass, lambda w: w, once)

        return project

    index = jnp.searchsorted(jnp.asarray(sizes), filled)
    return lax.switch(index, [against(size_class) for size_class in sizes], w)


def _remove_components(rows: jax.Array, w: jax.Array) -> jax.Array:
    """One classical Gram-Schmidt pass: w minus its projection on the (orthonormal) rows."""
    return w - dot(dot(rows, w), rows)


def _hashed_vector(n: int, salt: jax.Array, dtype: Any) -> jax.Array:
    """Entries in [−1, 1) from an integer hash of (index, salt): an unstructured vector with
    no random-number generator (a multiply-xorshift mix, as in MurmurHash3's finalizer)."""
    h = jnp.arange(n, dtype=jnp.uint32) + jnp.asarray(salt, jnp.uint32) * jnp.uint32(0x9E3779B9)
    for shift, multiplier in ((16, 0x85EBCA6B), (13, 0xC2B2AE35)):
        h = (h ^ (h >> shift)) * jnp.uint32(multiplier)
    h = h ^ (h >> 16)
    return (h >> 8).astype(dtype) / jnp.asarray(2.0**23, dtype) - 1


def lanczos_loop(
    f: Callable[[jax.Array], jax.Array],
    v0: jax.Array,
    num_iters: jax.Array,
    m: int,
    check: Callable[[jax.Array, jax.Array, jax.Array], tuple[jax.Array, Any]] | None = None,
    min_iters: int = 1,
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array, Any]:
    """Runs at most ``num_iters`` (≤ m) Lanczos steps; ``check`` may end them early.

    ``v0`` is a random vector (any norm). ``check(alphas, betas, j) -> (done, report)`` runs
    on a geometric schedule from ``min_iters`` steps on and always after the last step, so the
    last report describes the final state: callers need no solve of their own after the loop.
    Returns ``(alphas, betas, V, steps, report)`` (``report`` is ``None`` without a check).
    """
    n = v0.shape[0]
    dtype = v0.dtype
    eps = jnp.finfo(dtype).eps
    # One spare row: step m writes its (unused) next vector in bounds, so every write is an
    # in-place dynamic_update_slice.
    V = jnp.zeros((m + 1, n), dtype).at[0].set(v0 / scaled_norm(v0))
    zeros = jnp.zeros((m,), dtype)
    # Convergence is checked on a geometric schedule: each check costs an eigh of the current
    # tridiagonal, so checking every step would cost O(m⁴) for long runs.
    report = None
    if check is not None:
        shapes = jax.eval_shape(check, zeros, zeros, jnp.int32(0))[1]
        report = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
    init = (
        jnp.int32(0),
        V,
        zeros,
        zeros,
        jnp.asarray(False),
        jnp.int32(min_iters),
        zeros[0],
        report,
    )

    def cond(state):
        j, _, _, _, done, _, _, _ = state
        return (j < num_iters) & ~done

    def body(state):
        j, V, alphas, betas, _, next_check, scale, report = state
        v = V[j]
        w = f(v)
        alpha = jnp.vdot(v, w)
        beta_prev = jnp.where(j > 0, betas[j - 1], 0.0)
        w = w - alpha * v - beta_prev * V[jnp.maximum(j - 1, 0)]
        # The step's one extra reduction: every norm below is taken at this scale of w.
        size = jnp.max(jnp.abs(w))
        w = _orthogonalize(V, w, j + 1, m, size)
        beta = scaled_norm(w, size)
        scale = jnp.maximum(scale, jnp.abs(alpha) + beta + beta_prev)
        # w ≈ 0: the Krylov space is invariant. Continue from a restart direction made
        # orthogonal to the basis, and record β = 0, which splits T into independent blocks.
        breakdown = beta <= jnp.sqrt(n) * eps * jnp.maximum(scale, jnp.finfo(dtype).tiny)

        def restart():
            # The random start vector with its entries rotated: as random as v₀, and no
            # random-number generator in the loop. Built only on breakdown (doing it every
            # step would double the reads of the basis), so two plain passes against the
            # whole basis (unfilled rows are zero) serve, with no size-class branches to
            # compile.
            basis = V[:m]

            def new_part(r):
                for _ in range(2):
                    r = _remove_components(basis, r)
                return r

            rotated = jnp.roll(v0, j + 1)
            r = new_part(rotated)
            # A v₀ that is its own rotation (a constant vector: the gradient at a symmetric
            # start) has nothing new to give: a fixed unstructured vector instead.
            # (Scaled norms here too: a warm-start v₀ may be of any scale. Restarts are rare,
            # so their extra reductions cost nothing measurable.)
            spent = scaled_norm(r) <= jnp.sqrt(n) * eps * scaled_norm(rotated)
            r = lax.cond(spent, lambda: new_part(_hashed_vector(n, j, dtype)), lambda: r)
            # Round-off only once all n directions are in the basis (the last step of an
            # n-step run): that vector goes to the spare row, which nothing reads.
            r_norm = scaled_norm(r)
            return r / jnp.where(r_norm > 0, r_norm, 1.0)

        v_next = lax.cond(breakdown, restart, lambda: w / jnp.where(beta > 0, beta, 1.0))
        beta = jnp.where(breakdown, 0.0, beta)
        V = lax.dynamic_update_slice(V, v_next[None], (j + 1, jnp.zeros_like(j)))
        alphas = alphas.at[j].set(alpha)
        betas = betas.at[j].set(beta)
        j = j + 1
        done = jnp.asarray(False)
        if check is not None:
            due = (j >= next_check) | (j >= num_iters)
            done, report = lax.cond(
                due, lambda: check(alphas, betas, j), lambda: (jnp.asarray(False), report)
            )
            next_check = jnp.where(due, j + jnp.maximum(1, j // 16), next_check)
        return j, V, alphas, betas, done, next_check, scale, report

    j, V, alphas, betas, _, _, _, report = lax.while_loop(cond, body, init)
    return alphas, betas, V[:m], j, report


def ritz(alphas: jax.Array, betas: jax.Array, j: jax.Array, size: int) -> tuple[jax.Array, ...]:
    """Eigen-decomposition of the leading j × j block of T, computed at a static ``size`` ≥ j.

    Rows and columns from j on are decoupled and filled with a value above every Ritz value
    (three times a Gershgorin bound), so the j Ritz values come first in ascending order.

    Returns ``(theta, S, residuals)``: all ``size`` eigenvalues ascending, eigenvectors as
    columns (rows ≥ j zeroed), and |β_j s_{j,i}| for each.
    """
    a, b = alphas[:size], betas[:size]
    idx = jnp.arange(size)
    off = jnp.where(idx < j - 1, b, 0.0)[: size - 1]
    off_prev = jnp.concatenate([jnp.zeros((1,), b.dtype), off])
    off_next = jnp.concatenate([off, jnp.zeros((1,), b.dtype)])
    bound = jnp.max(jnp.where(idx < j, jnp.abs(a) + jnp.abs(off_prev) + jnp.abs(off_next), 0.0))
    pad = jnp.where(bound > 0, 3.0 * bound, 1.0)
    diag = jnp.where(idx < j, a, pad)
    T = jnp.diag(diag) + jnp.diag(off, 1) + jnp.diag(off, -1)
    theta, S = jnp.linalg.eigh(T, symmetrize_input=False)
    S = jnp.where((idx < j)[:, None], S, 0.0)
    residuals = jnp.abs(betas[jnp.maximum(j - 1, 0)] * S[jnp.maximum(j - 1, 0)])
    return theta, S, residuals


def _wanted(j: jax.Array, k: int, which: str) -> jax.Array:
    """Positions of the wanted Ritz values in the ascending list of the first j."""
    t = jnp.arange(k)
    smallest = jnp.minimum(t, j - 1)
    largest = jnp.maximum(j - 1 - t, 0)
    if which == "largest":
        return largest
    if which == "smallest":
        return smallest
    return jnp.concatenate([smallest, largest[::-1]])


def _size_classes(m: int) -> list[int]:
    sizes = sorted({basis_rows(s, m) for s in (16, 32, 64)} | set(range(128, m, 128)) | {m})
    return [s for s in sizes if s <= m]


def error_bounds(theta: jax.Array, residuals: jax.Array, j: jax.Array) -> jax.Array:
    """Bounds on |θᵢ − λ| for the first j (ascending) Ritz values: min(rᵢ, rᵢ²/gapᵢ), and rᵢ
    for the outermost two.

    Some eigenvalue λ of H lies within the residual rᵢ = ‖Hy − θᵢy‖ of θᵢ, and within
    rᵢ²/gapᵢ when θᵢ is separated by gapᵢ from the rest of the spectrum (Kato–Temple; the gap
    is measured, as usual, to the neighbouring Ritz values). The lowest and highest Ritz
    values keep the plain residual: their inner Ritz neighbour stands in for an eigenvalue
    that may not have entered the Krylov space yet. A start close to an inner eigenvector (a
    warm start from a top eigenvector that has since become the second) gives that
    eigenvector's value with a tiny r²/gap after a few steps, while λmax is still missing;
    r ≤ tol·|θ| waits until the rest of the start vector is accounted for.
    """
    idx = jnp.arange(theta.shape[0])
    big = jnp.asarray(jnp.inf, theta.dtype)
    above = jnp.where(idx + 1 < j, jnp.roll(theta, -1) - theta, big)
    below = jnp.where((idx > 0) & (idx < j), theta - jnp.roll(theta, 1), big)
    gap = jnp.minimum(above, below)
    kato_temple = jnp.minimum(residuals, residuals**2 / jnp.where(gap > 0, gap, big))
    return jnp.where((idx == 0) | (idx == j - 1), residuals, kato_temple)


def _converged(theta, residuals, j, pos, tol, floor):
    bounds = error_bounds(theta, residuals, j)[pos]
    return jnp.all(bounds <= jnp.maximum(tol * jnp.abs(theta[pos]), floor))


def _floor(theta: jax.Array, j: jax.Array) -> jax.Array:
    # Below ~ε·‖H‖ a residual cannot be resolved in this dtype: values that small count as
    # converged, so eigenvalues near zero do not run the budget out chasing round-off. Not
    # √n·ε·‖H‖: at a million float32 parameters that was 1.2e-3·‖H‖, and a λmin of −5e-4
    # passed as converged at +2e-4, where full reorthogonalization resolves it to ~1e-7.
    eps = jnp.finfo(theta.dtype).eps
    norm = jnp.max(jnp.where(jnp.arange(theta.shape[0]) < j, jnp.abs(theta), 0.0))
    return _FLOOR_ULPS * eps * norm


@functools.partial(jax.jit, static_argnames=("m", "return_basis"))
def _lanczos_program(matvec, like, key, num_iters, *, m, return_basis):
    f, flat_like, _ = flat_operator(linearized(matvec), like)
    v0 = jax.random.normal(key, flat_like.shape, flat_like.dtype)
    alphas, betas, V, _, _ = lanczos_loop(f, v0, num_iters, m)
    return alphas, betas, (V if return_basis else None)


def lanczos(
    matvec: Callable[[Any], Any],
    like: Any,
    num_iters: int,
    key: jax.Array,
    *,
    return_basis: bool = False,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> LanczosResult:
    """Runs ``num_iters`` Lanczos steps on a symmetric operator, fully reorthogonalized.

    From a random unit vector v₁, each step applies H once and orthogonalizes:
    w = Hvⱼ − αⱼvⱼ − βⱼ₋₁vⱼ₋₁ with αⱼ = vⱼᵀHvⱼ, then w is orthogonalized against every
    earlier v (a second pass when the first removed much of it), βⱼ = ‖w‖ and
    vⱼ₊₁ = w/βⱼ. In the basis V = [v₁..vₘ] the operator is the tridiagonal T = VᵀHV
    (diagonal α, off-diagonal β), whose eigenvalues (Ritz values) approach H's extreme
    eigenvalues first. H is ``matvec``; the vectors live in the flattened space of ``like``.

    The loop is a ``lax.while_loop`` over a preallocated basis, so a new ``num_iters`` in the
    same size class (16, 32, 64, then multiples of 128) does not recompile; ``matvec`` is
    taken as a pytree argument, so a new :func:`~jaxtrain.curvature.hvp` at the same loss
    function does not recompile either. Products run at ``precision=HIGHEST``.

    Args:
        matvec: v ↦ Hv on pytrees like ``like``; H must be symmetric.
        like: a pytree fixing the vector space (structure, shapes, dtype), e.g. ``params``.
        num_iters: m, the number of steps (capped at n, the dimension).
        key: ``jax.random`` key for the starting vector.
        return_basis: also return the (m, n) matrix of Lanczos vectors.
        max_bytes: the largest basis allowed, in bytes (default 2 GiB).

    Returns:
        A :class:`LanczosResult` ``(alphas, betas, basis)``.

    Raises:
        ValueError: for a non-integer or non-positive ``num_iters``, or a missing key.
        MemoryLimitError: if the basis (size class of ``num_iters``) × n × itemsize exceeds
            ``max_bytes``, checked before anything is allocated.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from jaxtrain.curvature import lanczos
        >>> H = jnp.diag(jnp.arange(1.0, 6.0))
        >>> alphas, betas, _ = lanczos(lambda v: H @ v, jnp.zeros(5), 5, jax.random.key(0))
        >>> T = jnp.diag(alphas) + jnp.diag(betas[:-1], 1) + jnp.diag(betas[:-1], -1)
        >>> print([round(float(x), 3) for x in jnp.linalg.eigvalsh(T)])
        [1.0, 2.0, 3.0, 4.0, 5.0]

    References:
        Lanczos, "An iteration method for the solution of the eigenvalue problem of linear
        differential and integral operators", J. Res. Nat. Bur. Standards 45 (1950).

        Ghorbani, Krishnan, Xiao, "An Investigation into Neural Net Optimization via Hessian
        Eigenvalue Density", 2019, https://arxiv.org/abs/1901.10159
    """
    key = check_key(key)
    flat = flat_space(like)
    n = int(flat.size)
    num_iters = _check_num_iters(num_iters, n)
    m = basis_rows(num_iters, n)
    check_basis_memory(m, flat, max_bytes)
    with highest_precision():
        alphas, betas, V = _lanczos_program(
            as_pytree_callable(matvec, (like,)),
            like,
            key,
            np.int32(num_iters),
            m=m,
            return_basis=return_basis,
        )
    return LanczosResult(
        alphas[:num_iters], betas[:num_iters], None if V is None else V[:num_iters]
    )


def converging_lanczos(
    f: Callable[[jax.Array], jax.Array],
    v0: jax.Array,
    num_iters: jax.Array,
    tol: jax.Array,
    *,
    m: int,
    k: int,
    which: str,
    min_iters: int,
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array, Any]:
    """Lanczos from ``v0`` on the flat operator ``f`` until the wanted Ritz pairs converge.

    Traceable (no jit of its own). Returns ``(alphas, betas, V, steps, report)``: the
    tridiagonal and basis of :func:`lanczos_loop`, and the last check's ``(values,
    residuals, converged, S)`` with S the wanted pairs' vectors in the Lanczos basis.
    """
    sizes = _size_classes(m)

    def check(alphas, betas, j):
        # Solve at the smallest size class that holds j: a solve costs O(j³), not O(m³).
        branches = [
            functools.partial(_wanted_ritz_pairs, size=s, m=m, k=k, which=which) for s in sizes
        ]
        index = jnp.searchsorted(jnp.asarray(sizes), j)
        report = lax.switch(index, branches, alphas, betas, j, tol)
        return report[2], report

    return lanczos_loop(f, v0, num_iters, m, check=check, min_iters=min_iters)


def extreme_ritz_pairs(
    f: Callable[[jax.Array], jax.Array],
    v0: jax.Array,
    num_iters: jax.Array,
    tol: jax.Array,
    *,
    m: int,
    k: int,
    which: str,
    min_iters: int,
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array, jax.Array]:
    """Lanczos from ``v0`` on the flat operator ``f`` until the wanted Ritz pairs converge.

    Traceable (no jit of its own), so it runs inside :func:`eigenvalues`'s program and inside
    a training step (``jaxtrain.monitor.sharpness`` warm-starts it from the last top
    eigenvector). Returns ``(values, vectors, residuals, steps, converged)`` with the Ritz
    vectors as rows of a (k or 2k, n) matrix in the flat space.
    """
    _, _, V, steps, report = converging_lanczos(
        f, v0, num_iters, tol, m=m, k=k, which=which, min_iters=min_iters
    )
    # The loop's last check ran at the final step: its Ritz pairs are the answer.
    values, residuals, converged, S = report
    return values, dot(S.T, V), residuals, steps, converged


@functools.partial(jax.jit, static_argnames=("m", "k", "which", "min_iters", "return_vectors"))
def _eigen_program(matvec, like, key, num_iters, tol, *, m, k, which, min_iters, return_vectors):
    f, flat_like, unravel = flat_operator(linearized(matvec), like)
    v0 = jax.random.normal(key, flat_like.shape, flat_like.dtype)
    values, flat_vectors, res, steps, converged = extreme_ritz_pairs(
        f, v0, num_iters, tol, m=m, k=k, which=which, min_iters=min_iters
    )
    vectors = jax.vmap(unravel)(flat_vectors) if return_vectors else None
    return values, vectors, res, steps, converged


def _wanted_ritz_pairs(alphas, betas, j, tol, *, size, m, k, which):
    """The wanted Ritz pairs of T's leading j × j block, solved at the static ``size`` ≥ j.

    Returns ``(values, residuals, converged, S)``: S holds the pairs' vectors in the Lanczos
    basis as columns, zero-padded to m rows, so ``S.T @ V`` gives them in parameter space.
    """
    theta, S, residuals = ritz(alphas, betas, j, size)
    pos = _wanted(j, k, which)
    converged = _converged(theta, residuals, j, pos, tol, _floor(theta, j))
    vectors = jnp.zeros((m, pos.shape[0]), S.dtype).at[:size].set(S[:, pos])
    return theta[pos], residuals[pos], converged, vectors


def eigenvalues(
    matvec: Callable[[Any], Any],
    like: Any,
    *,
    k: int,
    key: jax.Array,
    which: str = "largest",
    num_iters: int | None = None,
    return_vectors: bool = False,
    tol: float = 1e-4,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> EigenResult:
    """The k largest and/or smallest eigenvalues of a symmetric operator, by Lanczos.

    Runs :func:`lanczos` steps and stops as soon as the wanted Ritz values have converged,
    not after a fixed count. For a Ritz pair (θ, y = Vs) of T the residual is exactly
    r = ‖Hy − θy‖ = |βₘ sₘ| (sₘ the last entry of s); some eigenvalue of H lies within r of
    θ, and within r²/gap when θ is separated by gap from the rest of the spectrum
    (Kato–Temple; the gap is measured to the neighbouring Ritz values, the usual practice;
    the lowest and highest Ritz values keep r, see :func:`error_bounds`).
    A value counts as converged when its bound ≤ max(``tol``·|θ|, 100·ε·‖T‖): ``tol``
    is a relative tolerance on the eigenvalue, and the second term is about what the dtype
    can resolve (1.2e-5·‖H‖ in float32), so values near 0 do not chase round-off. Checks
    happen on a geometric schedule (every max(1, j/16) steps), so at most ~6% extra steps
    are taken. ``num_iters`` is the budget; ``num_matvecs`` in the result says what was used.

    A repeated eigenvalue comes out once: one start vector's Krylov space holds a single
    direction of each eigenspace, so the k values are the k largest *distinct* ones (H =
    diag(5, 5, 4, …) gives 5, 4 for k = 2, converged). Each returned value is an eigenvalue
    of H to the tolerance; a second copy is seen only when a breakdown restarts the
    recursion in the rest of the space. Likewise, eigenvalues closer together than the
    tolerance, or inside a dense bulk, can be passed over: ``converged`` says that each
    returned value is an eigenvalue to the tolerance, not that none between them was missed
    (a top cluster of ten values 10⁻³ apart, k = 5 at tol 10⁻²: the fifth value returned lay
    51% from the true fifth). Where multiplicities or clusters matter, use the dense
    :func:`~jaxtrain.curvature.hessian` and ``eigh`` for small models.

    Memory: full reorthogonalization keeps the whole basis, (size class of ``num_iters``) × n
    numbers: 128 × 10⁷ float32 parameters is 5 GB, so give large models a small budget. It is
    checked against ``max_bytes`` before anything is allocated.

    Args:
        matvec: v ↦ Hv on pytrees like ``like`` (e.g. :func:`~jaxtrain.curvature.hvp`).
        like: a pytree fixing the vector space, e.g. ``params``.
        k: how many eigenvalues at each wanted end.
        key: ``jax.random`` key for the starting vector.
        which: ``"largest"``, ``"smallest"`` or ``"both"`` (see :class:`EigenResult` for
            the order).
        num_iters: the most Lanczos steps; ``None`` is ``min(n, max(100, 4·k))`` (per end).
        return_vectors: also return the Ritz vectors as pytrees.
        tol: relative tolerance on the eigenvalue error bound min(r, r²/gap).
        max_bytes: the largest basis allowed, in bytes (default 2 GiB, as the dense
            Hessian's limit).

    Returns:
        An :class:`EigenResult`.

    Raises:
        ValueError: for a bad ``which``, ``k`` or ``tol``, or ``k`` larger than the budget.
        MemoryLimitError: if the basis (and the Ritz vectors, when asked for) would exceed
            ``max_bytes``.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from jaxtrain.curvature import eigenvalues
        >>> H = jnp.diag(jnp.linspace(-1.0, 10.0, 50))
        >>> top = eigenvalues(lambda v: H @ v, jnp.zeros(50), k=2, key=jax.random.key(0))
        >>> print([round(float(x), 2) for x in top.eigenvalues], top.converged)
        [10.0, 9.78] True

    References:
        Paige, "Computational variants of the Lanczos method for the eigenproblem",
        IMA J. Appl. Math. 10 (1972) (the residual bound).

        Ghorbani, Krishnan, Xiao, 2019, https://arxiv.org/abs/1901.10159
    """
    key = check_key(key)
    budget = eigen_budget(like, k=k, which=which, num_iters=num_iters, tol=tol)
    flat = budget.flat
    m = basis_rows(budget.num_iters, int(flat.size))
    check_basis_memory(m + (budget.wanted if return_vectors else 0), flat, max_bytes)
    with highest_precision():
        values, vectors, residuals, steps, converged = _eigen_program(
            as_pytree_callable(matvec, (like,)),
            like,
            key,
            np.int32(budget.num_iters),
            np.asarray(tol, flat.dtype),
            m=m,
            k=k,
            which=which,
            min_iters=budget.min_iters,
            return_vectors=return_vectors,
        )
    return EigenResult(values, vectors, residuals, int(steps), bool(converged))


class EigenBudget(NamedTuple):
    """What :func:`eigenvalues` settles before its first step (see :func:`eigen_budget`).

    Attributes:
        flat: the shape and dtype of the flat vector space.
        wanted: the Ritz values wanted (k, or 2k for ``"both"``).
        num_iters: the most Lanczos steps.
        min_iters: the steps before the first convergence check.
    """

    flat: jax.ShapeDtypeStruct
    wanted: int
    num_iters: int
    min_iters: int


def eigen_budget(
    like: Any, *, k: int, which: str, num_iters: int | None, tol: float
) -> EigenBudget:
    """Checks :func:`eigenvalues`' arguments and settles its step budget.

    Raises:
        ValueError: as :func:`eigenvalues` documents.
    """
    if not tol > 0:
        raise ValueError(f"tol must be > 0, got {tol}")
    flat = flat_space(like)
    n = int(flat.size)
    wanted = wanted_count(k, which, n)
    if num_iters is None:
        num_iters = min(n, max(100, 4 * wanted))
    num_iters = _check_num_iters(num_iters, n)
    if num_iters < wanted:
        raise ValueError(
            f"num_iters={num_iters} Lanczos steps cannot give {wanted} Ritz values;"
            f" use num_iters >= {wanted}"
        )
    # Early Ritz values can look converged before the outer spectrum has been seen, so no
    # check happens before a few steps beyond the number of values wanted.
    min_iters = min(num_iters, max(2 * wanted, wanted + 5))
    return EigenBudget(flat, wanted, num_iters, min_iters)
