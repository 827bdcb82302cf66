"""The dtype that sums, norms and linear algebra over half-precision arrays run in."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxtrain._text import counted

__all__ = [
    "INT32_MAX",
    "check_float_leaves",
    "check_integers_fit_the_device",
    "first_flagged_example",
    "first_non_float_leaf",
    "working_dtype",
]

INT32_MAX = 2**31 - 1
"""The largest count an int32 state or a comparison with the int32 step can hold."""


def working_dtype(dtype: Any) -> Any:
    """``dtype`` promoted to float32 at least (float64 stays float64).

    A norm of many half-precision entries overflows (float16 squares sum past 65504) or
    underflows (squares below 6e-8 are 0); LAPACK has no float16 or bfloat16 eigensolver, and
    half precision cannot keep a Lanczos basis orthogonal. Results go back to the arrays'
    own dtype afterwards.

    Examples:
        >>> import jax.numpy as jnp
        >>> working_dtype(jnp.float16), working_dtype(jnp.float64)
        (dtype('float32'), dtype('float64'))
    """
    dtype = jnp.dtype(dtype)
    if jnp.issubdtype(dtype, jnp.complexfloating):
        return jnp.promote_types(dtype, jnp.complex64)
    # float8 and the like have no promotion with float32 in JAX's lattice: name it.
    return dtype if jnp.finfo(dtype).bits >= 32 else jnp.dtype(jnp.float32)


def first_non_float_leaf(tree: Any, *, complex_ok: bool = True) -> tuple[str, Any] | None:
    """``(path, dtype)`` of the first leaf of ``tree`` that is not floating-point (integer or
    boolean, or complex unless ``complex_ok``), its path as ``jax.tree_util.keystr`` writes
    it; ``None`` if every leaf is.

    Such a leaf cannot be differentiated or stepped along: the callers refuse it with their
    own reason.

    Examples:
        >>> import jax.numpy as jnp
        >>> first_non_float_leaf({"w": jnp.ones(2), "n": jnp.int32(3)})
        ("['n']", dtype('int32'))
    """
    for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
        dtype = jnp.result_type(leaf)
        if not jnp.issubdtype(dtype, jnp.inexact if complex_ok else jnp.floating):
            return jax.tree_util.keystr(path), dtype
    return None


def check_float_leaves(
    tree: Any, reason: str, name: str = "params", *, complex_ok: bool = True
) -> None:
    """Refuses a tree with an integer or boolean leaf (or a complex one unless
    ``complex_ok``), naming its path and dtype and, in ``reason``, why the caller needs
    floating-point leaves.

    Raises:
        ValueError: ``"<name><path> is of dtype <dtype>: <reason>"``.

    Examples:
        >>> import jax.numpy as jnp
        >>> try:
        ...     check_float_leaves({"n": jnp.int32(3)}, "slices move floats only")
        ... except ValueError as error:
        ...     print(error)
        params['n'] is of dtype int32: slices move floats only
    """
    found = first_non_float_leaf(tree, complex_ok=complex_ok)
    if found is not None:
        path, dtype = found
        raise ValueError(f"{name}{path} is of dtype {dtype}: {reason}")


def first_flagged_example(mask: np.ndarray) -> int:
    """The index along the first axis of the first example (row) ``mask`` flags anywhere."""
    return int(np.flatnonzero(mask.reshape(len(mask), -1).any(axis=1))[0])


def check_integers_fit_the_device(values: np.ndarray, what: str) -> None:
    """Refuses integers beyond the range of the dtype JAX stores them in: without x64, int64
    becomes int32 (uint64 uint32), and 2**31 + 5 silently wraps to -2**31 + 5. ``what``
    names them, plural ("training inputs x hold ...")."""
    values = np.atleast_1d(values)
    stored = np.dtype(jax.dtypes.canonicalize_dtype(values.dtype))
    if stored == values.dtype:
        return
    limits = np.iinfo(stored)
    beyond = (values < limits.min) | (values > limits.max)
    if beyond.any():
        first = first_flagged_example(beyond)
        raise ValueError(
            f"{what} hold {counted(int(beyond.sum()), 'value')} beyond {stored}'s range "
            f"({limits.min}..{limits.max}), first in example {first}, which JAX would "
            f"wrap (x64 is off, so it stores {values.dtype} as {stored}); enable "
            "jax_enable_x64, or rescale them or cast them to float (x.astype(np.float32))."
        )
