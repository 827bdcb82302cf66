"""|g|², the squared magnitude every adaptive optimizer accumulates (real and complex g)."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def abs_sq(g: jax.Array) -> jax.Array:
    """|g|² = g·conj(g), real-valued (``optax``'s ``numerics.abs_sq``).

    For real g it is g²; for complex g = a + ib it is a² + b², where g² = a² − b² + 2iab would
    make σ complex and the adaptive step point away from −g.
    """
    if jnp.iscomplexobj(g):
        return jnp.real(g * jnp.conj(g))
    return g * g
