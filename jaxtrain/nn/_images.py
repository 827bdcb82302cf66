"""Input handling shared by the convolutional families (NHWC images)."""

import jax


def as_nhwc(x: jax.Array, in_channels: int, name: str) -> jax.Array:
    """``x`` as ``[N, H, W, C]``; a ``[N, H, W]`` batch of one-channel images gains its axis."""
    if x.ndim == 3 and in_channels == 1:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] != in_channels:
        raise ValueError(
            f"{name} expects images of shape [batch, height, width, {in_channels}] (NHWC), "
            f"got {x.shape}"
        )
    return x
