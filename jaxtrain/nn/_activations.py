"""Activations by name, and the initialization that keeps each one's signal scale (§6)."""

from collections.abc import Callable

import jax
import jax.numpy as jnp

Activation = Callable[[jax.Array], jax.Array]
Initializer = Callable[..., jax.Array]

_ACTIVATIONS: dict[str, Activation] = {
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "gelu": jax.nn.gelu,
    "identity": lambda x: x,
}

# Var(w) = scale / fan: He (scale 2, fan_in) keeps ReLU's second moment through a layer, which
# halves it; Glorot (scale 1, fan_avg) keeps tanh/sigmoid near their linear range both ways;
# LeCun (scale 1, fan_in) is the neutral choice for a linear or unknown activation.
_INITIALIZERS: dict[str, Initializer] = {
    "relu": jax.nn.initializers.he_normal(),
    "gelu": jax.nn.initializers.he_normal(),
    "tanh": jax.nn.initializers.glorot_normal(),
    "sigmoid": jax.nn.initializers.glorot_normal(),
    "identity": jax.nn.initializers.lecun_normal(),
}


def resolve_activation(activation: str | Activation) -> tuple[Activation, Initializer]:
    """The activation function and its matching kernel initializer.

    Names are ``"relu"``, ``"tanh"``, ``"sigmoid"``, ``"gelu"`` and ``"identity"``; a callable is
    used as given with LeCun-normal initialization.
    """
    if callable(activation):
        return activation, jax.nn.initializers.lecun_normal()
    if activation not in _ACTIVATIONS:
        raise ValueError(
            f"unknown activation {activation!r}; use one of {sorted(_ACTIVATIONS)} or a callable"
        )
    return _ACTIVATIONS[activation], _INITIALIZERS[activation]
