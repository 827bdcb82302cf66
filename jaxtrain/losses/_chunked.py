"""The mean of a per-batch quantity over a whole data set, computed a chunk at a time."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxtrain._dtypes import working_dtype
from jaxtrain._hoisted import hoisted

__all__ = ["chunked_mean"]


def _num_examples(data: tuple[Any, ...]) -> int:
    leaves = jax.tree.leaves(data)
    if not leaves:
        raise ValueError(
            "data holds no arrays: pass a tuple of arrays with the examples on axis 0, e.g. (x, y)"
        )
    shapes = [jnp.shape(leaf) for leaf in leaves]
    if any(len(shape) == 0 or shape[0] == 0 for shape in shapes):
        raise ValueError(
            f"data has no examples: every array needs at least one example on axis 0, got"
            f" shapes {shapes}"
        )
    if len({shape[0] for shape in shapes}) != 1:
        raise ValueError(
            f"every array of data needs the same number of examples on axis 0, got shapes {shapes}"
        )
    return int(shapes[0][0])


@functools.partial(jax.jit, static_argnames=("chunk_size",))
def _chunked_mean(fn: Any, data: tuple[Any, ...], chunk_size: int) -> Any:
    n = jax.tree.leaves(data)[0].shape[0]
    k, r = divmod(n, chunk_size)
    total = None
    if k:
        c = chunk_size
        # Chunk j holds examples j, j + k, j + 2k, …: in the (c, k) view below a data set
        # sharded over devices along its examples stays where it is, and every chunk takes the
        # same share from every device instead of living on one of them. The mean is the same.
        grid = jax.tree.map(lambda a: a[: k * c].reshape(c, k, *a.shape[1:]), data)

        def chunk(j: jax.Array) -> tuple[Any, ...]:
            return jax.tree.map(
                lambda a: lax.dynamic_index_in_dim(a, j, axis=1, keepdims=False), grid
            )

        like = jax.tree.map(lambda a: jax.ShapeDtypeStruct((c, *a.shape[2:]), a.dtype), grid)
        out = jax.eval_shape(lambda batch: fn(*batch), like)

        def add(acc: Any, j: jax.Array) -> tuple[Any, None]:
            return jax.tree.map(lambda a, v: a + v.astype(a.dtype), acc, fn(*chunk(j))), None

        # The sum in float32 at least: in a half-precision sum later chunks round away
        # (bfloat16) or it overflows (float16). The mean goes back to fn's dtype.
        zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, _sum_dtype(s.dtype)), out)
        # One compiled body for all k chunks; the sum stays on the device, no host sync.
        total, _ = lax.scan(add, zeros, jnp.arange(k))
        total = jax.tree.map(lambda t: t * (c / n), total)
    if r:
        out = fn(*jax.tree.map(lambda a: a[n - r :], data))
        rest = jax.tree.map(lambda v: v.astype(_sum_dtype(v.dtype)) * (r / n), out)
        total = rest if total is None else jax.tree.map(jnp.add, total, rest)
    # Back to fn's dtype where it is a float; a count or a flag's mean stays a fraction.
    return jax.tree.map(
        lambda t, s: t.astype(s.dtype) if jnp.issubdtype(s.dtype, jnp.inexact) else t, total, out
    )


def _sum_dtype(dtype: Any) -> Any:
    """The running sum's dtype: float32 at least for floats; float32 for counts and flags.

    bool + bool is a logical or, not a count (flags False, True, True averaged to 1/3), and an
    int32 sum wraps past 2³¹ − 1; their mean is a fraction anyway.
    """
    return working_dtype(dtype) if jnp.issubdtype(dtype, jnp.inexact) else jnp.float32


def chunked_mean(fn: Callable[..., Any], data: tuple[Any, ...] | Any, *, chunk_size: int) -> Any:
    """The mean of a per-batch mean over all N examples of a data set, a chunk at a time.

    The loss of a data set is L = (1/N) Σₙ ℓₙ. Evaluated at once, its activations for all N
    examples must fit in memory; evaluated in chunks, each chunk's mean L_c = (1/n_c) Σ_{n∈c} ℓₙ
    is weighted by its size, L = Σ_c (n_c/N)·L_c, which is the same number. The data are cut
    into k = ⌊N/b⌋ chunks of b = ``chunk_size`` examples, run by one ``lax.scan`` (one compiled
    body, the running sum kept on the device), plus one remainder chunk of N − k·b examples:
    ``fn`` is traced at most twice, however many chunks there are.

    Exact for anything that is a mean over examples: a loss with mean reduction, accuracy, or a
    pytree of them. For a quantity that is not (a maximum, BatchNorm's batch statistics in
    training mode) the result depends on how the examples are grouped. Chunk j holds examples
    j, j + k, j + 2k, … (and the remainder the last ones), so that data sharded over devices
    along axis 0 stay in place.

    The function is jitted and differentiable: inside ``jax.grad``, ``jax.hessian`` or
    another ``jit`` it is traced into the caller's program. ``fn`` is read at each call: traced
    at its chunk shapes, with the arrays it closes over (an NNX model's, updated in place since
    the last call) made arguments of the compiled program, so the same function on data of
    the same shapes reuses the compilation, and a changed number it closes over compiles
    anew. A ``jax.tree_util.Partial`` is read the same way (its function may close over
    arrays too). Keep the function: a new one (a ``lambda`` written in a loop) compiles anew,
    as for ``jax.jit``.

    Args:
      fn: ``fn(*batch) -> pytree`` of arrays, the mean over the batch; e.g.
        ``lambda x, y: loss(model(x), y)``. Integer and bool outputs (counts, flags) are
        summed and averaged in float32, so their mean is a fraction.
      data: a tuple of arrays (or pytrees of arrays) sharing the example axis 0, e.g.
        ``(x, y)``; ``fn`` receives the chunks of its elements as positional arguments. A
        single array is taken as ``(data,)``.
      chunk_size: b, the examples per chunk (``min(b, N)`` when b > N).

    Returns:
      The pytree ``fn`` returns, averaged over all N examples.

    Raises:
      ValueError: for a ``chunk_size`` that is not a positive int, data without arrays or
        examples, or arrays with different numbers of examples.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxtrain.losses import chunked_mean, mse
      >>> x, y = jnp.arange(5.0), jnp.array([0.0, 1.0, 2.0, 3.0, 9.0])
      >>> print(chunked_mean(lambda xb, yb: mse(xb, yb), (x, y), chunk_size=2))  # 25/5
      5.0
    """
    if (
        isinstance(chunk_size, bool)
        or not isinstance(chunk_size, int | np.integer)
        or chunk_size < 1
    ):
        raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")
    data = data if isinstance(data, tuple) else (data,)
    n = _num_examples(data)
    size = min(int(chunk_size), n)
    rest = n % size
    # Traced now at the chunk's and the remainder's shapes, the arrays it closes over (an NNX
    # model's, updated since the last call) arguments of the compiled program.
    fn = hoisted(fn, *(_chunk_like(data, rows) for rows in (size, rest) if rows))
    return _chunked_mean(fn, data, chunk_size=size)


def _chunk_like(data: tuple[Any, ...], rows: int) -> tuple[Any, ...]:
    return jax.tree.map(lambda a: jax.ShapeDtypeStruct((rows, *jnp.shape(a)[1:]), a.dtype), data)
