"""Error bars for spectra: the same eigenvalues on several batches, and on all of them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxtrain.curvature._hessian import hessian, hessian_dtype
from jaxtrain.curvature._hvp import hvp
from jaxtrain.curvature._lanczos import eigenvalues, extremes, wanted_count
from jaxtrain.curvature._memory import DEFAULT_MAX_BYTES
from jaxtrain.curvature._model_loss import _batch_size
from jaxtrain.curvature._operators import check_key, flat_space

__all__ = ["BatchEigenvalues", "eigenvalues_over_batches"]

_METHODS = ("lanczos", "dense")
# method="dense": the batches' Hessians decomposed per eigvalsh call. XLA's eigvalsh rather
# than NumPy's multithreaded LAPACK, which measured 1.4 s per 371 × 371 call beside XLA's busy
# threads on a loaded 2-core machine; eight at a time took 0.2 s (one alone 0.15 s), and never
# all B at once (B · n² floats would not fit where B is large).
_EIGH_GROUP = 8


class BatchEigenvalues(NamedTuple):
    """Extreme eigenvalues per batch, their mean and standard error, and the full-data value.

    Attributes:
        per_batch: shape (B, k) (2k for ``which="both"``): row b holds batch b's eigenvalues
            in :class:`~jaxtrain.curvature.EigenResult`'s order, so column i is the i-th
            value (by rank) of every batch.
        mean: the mean of each column, shape (k,) (2k for ``which="both"``).
        stderr: its standard error s/√B, s the sample standard deviation (ddof = 1) of the
            column; one batch's value scatters by s = stderr·√B.
        full: the same eigenvalues of the operator on all the batches' examples together.
        converged: whether every one of the B + 1 runs met its tolerance.
    """

    per_batch: jax.Array
    mean: jax.Array
    stderr: jax.Array
    full: jax.Array
    converged: bool


def eigenvalues_over_batches(
    loss_fn: Callable[..., jax.Array],
    params: Any,
    batches: Sequence[Any],
    *,
    key: jax.Array,
    k: int = 1,
    which: str = "largest",
    operator: Callable[..., Any] = hvp,
    method: str = "lanczos",
    num_iters: int | None = None,
    tol: float = 1e-4,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> BatchEigenvalues:
    """The k extreme eigenvalues on each of B batches, with mean ± standard error.

    A spectrum measured on one batch is a random quantity: PyHessian users report the top
    eigenvalue of one network anywhere from 159 to 1,587 over ten batches of 128. For batches
    b = 1..B this computes λᵢ(H_b), H_b the curvature of ``loss_fn`` on batch b alone,
    their mean λ̄ᵢ = (1/B) Σ_b λᵢ(H_b), the standard error sᵢ/√B with
    sᵢ² = Σ_b (λᵢ(H_b) − λ̄ᵢ)²/(B − 1), and λᵢ(H) on all the examples together. The
    batches share one compiled Lanczos program when they share their shapes. For a small
    model ``method="dense"`` builds each H_b (and H) with :func:`~jaxtrain.curvature.hessian`
    and takes its exact eigenvalues instead.

    The mean is not an unbiased estimate of the full-data value: λmax (and the sum of the top
    k) is convex in H, so for B equal batches, whose mean H_b is H, λmax(H) ≤ λ̄₁ always
    (Jensen), while λ₂, λ₃, … alone may fall on either side.

    Args:
        loss_fn: ``loss_fn(params, *batch) -> scalar``, the mean loss of one batch.
        params: the point θ.
        batches: B ≥ 2 batches, each a tuple (or list) of arrays sharing their leading
            (example) dimension, e.g. ``[(x1, y1), (x2, y2)]``, of one structure; batch b
            is passed as ``loss_fn(params, *batch_b)``, and any other batch (one array, a
            dict) as the one argument ``loss_fn(params, batch_b)``.
        key: ``jax.random`` key; batch b starts Lanczos from ``fold_in(key, b)``, the full
            data from ``fold_in(key, B)``.
        k: how many eigenvalues at each wanted end.
        which: ``"largest"``, ``"smallest"`` or ``"both"``.
        operator: ``operator(loss_fn, params, *batch) -> matvec``: the curvature to measure,
            :func:`~jaxtrain.curvature.hvp` (the Hessian) by default, or
            :func:`~jaxtrain.curvature.empirical_fisher`. ``method="dense"`` takes the
            Hessian only.
        method: ``"lanczos"`` (matrix-free) or ``"dense"`` (n × n Hessians, exact).
        num_iters: the most Lanczos steps per run (unused by ``"dense"``).
        tol: relative tolerance on each eigenvalue (unused by ``"dense"``, which is exact).
        max_bytes: the most memory of the Lanczos basis, or of the dense Hessians
            decomposed at once (up to eight batches per ``eigvalsh`` call), in bytes.

    Returns:
        A :class:`BatchEigenvalues`.

    Raises:
        ValueError: for fewer than two batches, a malformed batch, batches of different
            structures, a bad ``k``, ``which`` or ``tol`` (see
            :func:`~jaxtrain.curvature.eigenvalues`), an unknown ``method``, or
            ``method="dense"`` with another operator than the Hessian's.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from jaxtrain.curvature import eigenvalues_over_batches
        >>> loss = lambda w, x: jnp.mean((x @ w) ** 2)  # H_b = 2 x_bᵀx_b / n_b
        >>> x = jnp.array([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0], [0.0, 0.0]])
        >>> out = eigenvalues_over_batches(
        ...     loss, jnp.zeros(2), [(x[:2],), (x[2:],)], key=jax.random.key(0)
        ... )
        >>> for values in (out.per_batch[:, 0], out.mean, out.stderr, out.full):  # H: 2.5, 0.5
        ...     print(values.round(4))
        [1. 4.]
        [2.5]
        [1.5]
        [2.5]

    References:
        Yao, Gholami, Keutzer, Mahoney, "PyHessian: Neural Networks Through the Lens of the
        Hessian", 2020, https://arxiv.org/abs/1912.07145 (issue #5 there: the batch spread).
    """
    key = check_key(key)
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    if method == "dense" and operator is not hvp:
        raise ValueError("method='dense' builds the Hessian itself: leave operator as hvp")
    if not tol > 0:
        raise ValueError(f"tol must be > 0, got {tol}")
    batches = _checked_batches(batches)
    everything = jax.tree.map(lambda *parts: jnp.concatenate(parts), *batches)
    if method == "dense":
        per_batch, full, converged = _dense_spectra(
            loss_fn, params, batches, everything, k=k, which=which, max_bytes=max_bytes
        )
    else:
        per_batch, full, converged = _lanczos_spectra(
            loss_fn,
            params,
            [*batches, everything],
            key=key,
            k=k,
            which=which,
            operator=operator,
            num_iters=num_iters,
            tol=tol,
            max_bytes=max_bytes,
        )
    count = per_batch.shape[0]
    return BatchEigenvalues(
        per_batch=per_batch,
        mean=jnp.mean(per_batch, axis=0),
        stderr=jnp.std(per_batch, axis=0, ddof=1) / count**0.5,
        full=full,
        converged=converged,
    )


def _checked_batches(batches: Sequence[Any]) -> list[tuple[Any, ...]]:
    """``batches`` as tuples of arrays, after checking there are two or more of one structure,
    each with one leading (example) dimension.

    A list is taken as a tuple: ``[x, y]`` means the arguments x and y, as ``(x, y)`` does
    (the batches of a data loader often come as lists); anything else is one argument."""
    if isinstance(batches, (str, bytes)) or not isinstance(batches, Sequence) or len(batches) < 2:
        count = len(batches) if isinstance(batches, Sequence) else type(batches).__name__
        raise ValueError(
            f"batches must be a sequence of at least 2 batches for a standard error, got {count}"
        )
    batches = [tuple(batch) if isinstance(batch, tuple | list) else (batch,) for batch in batches]
    structures = set()
    for index, batch in enumerate(batches):
        _batch_size(batch, index)
        structures.add(jax.tree.structure(batch))
    if len(structures) != 1:
        raise ValueError(
            f"batches: every batch needs one structure, got {sorted(map(str, structures))}"
        )
    return batches


def _lanczos_spectra(
    loss_fn: Callable[..., jax.Array],
    params: Any,
    datasets: Sequence[tuple[Any, ...]],
    *,
    key: jax.Array,
    k: int,
    which: str,
    operator: Callable[..., Any],
    num_iters: int | None,
    tol: float,
    max_bytes: int,
) -> tuple[jax.Array, jax.Array, bool]:
    """``(per batch, full, converged)`` by Lanczos: ``datasets`` are the B batches, then all
    their examples together; run b starts from ``fold_in(key, b)``."""
    runs = [
        eigenvalues(
            operator(loss_fn, params, *data),
            params,
            k=k,
            key=jax.random.fold_in(key, number),
            which=which,
            num_iters=num_iters,
            tol=tol,
            max_bytes=max_bytes,
        )
        for number, data in enumerate(datasets)
    ]
    per_batch = jnp.stack([run.eigenvalues for run in runs[:-1]])
    return per_batch, runs[-1].eigenvalues, all(run.converged for run in runs)


def _dense_spectra(
    loss_fn: Callable[..., jax.Array],
    params: Any,
    batches: Sequence[tuple[Any, ...]],
    everything: tuple[Any, ...],
    *,
    k: int,
    which: str,
    max_bytes: int,
) -> tuple[jax.Array, jax.Array, bool]:
    """``(per batch, full, True)`` from dense Hessians and their exact eigenvalues, as many per
    ``eigvalsh`` call as fit in ``max_bytes`` together, at most eight (``hessian`` refuses a
    single one that does not fit)."""
    flat = flat_space(params)
    n = int(flat.size)
    wanted_count(k, which, n)  # before any Hessian is built
    itemsize = jnp.dtype(hessian_dtype(flat)).itemsize  # float64 under x64
    group_size = max(1, min(_EIGH_GROUP, max_bytes // max(1, n * n * itemsize)))

    def extremes_of(group: Sequence[tuple[Any, ...]]) -> jax.Array:
        hessians = jnp.stack(
            [hessian(loss_fn, params, *data, max_bytes=max_bytes) for data in group]
        )
        return extremes(jnp.linalg.eigvalsh(hessians), k, which)

    groups = range(0, len(batches), group_size)
    per_batch = jnp.concatenate([extremes_of(batches[i : i + group_size]) for i in groups])
    return per_batch, extremes_of([everything])[0], True
