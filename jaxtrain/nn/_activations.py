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
# LeCun (scale 1, fan_in) is the neutral choice for a linear or unknown activation. Plain
# Gaussians, as in the papers: the truncated variant costs a separate, slower compilation per
# kernel shape when a model is built eagerly, for no difference that matters here.
HE_NORMAL = jax.nn.initializers.variance_scaling(2.0, "fan_in", "normal")
GLOROT_NORMAL = jax.nn.initializers.variance_scaling(1.0, "fan_avg", "normal")
LECUN_NORMAL = jax.nn.initializers.variance_scaling(1.0, "fan_in", "normal")
_INITIALIZERS: dict[str, Initializer] = {
    "relu": HE_NORMAL,
    "gelu": HE_NORMAL,
    "tanh": GLOROT_NORMAL,
    "sigmoid": GLOROT_NORMAL,
    "identity": LECUN_NORMAL,
}


def resolve_activation(activation: str | Activation) -> tuple[Activation, Initializer]:
    """The activation function and its matching kernel initializer.

    Names are ``"relu"``, ``"tanh"``, ``"sigmoid"``, ``"gelu"`` and ``"identity"``; a callable is
    used as given with LeCun-normal initialization.
    """
    if callable(activation):
        return activation, LECUN_NORMAL
    if activation not in _ACTIVATIONS:
        raise ValueError(
            f"unknown activation {activation!r}; use one of {sorted(_ACTIVATIONS)} or a callable"
        )
    return _ACTIVATIONS[activation], _INITIALIZERS[activation]
