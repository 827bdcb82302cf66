"""The dtype that sums, norms and linear algebra over half-precision arrays run in."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

__all__ = ["INT32_MAX", "working_dtype"]

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
