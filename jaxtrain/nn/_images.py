"""Input handling shared by the convolutional families (NHWC images)."""

import jax


def as_nhwc(x: jax.Array, in_channels: int, name: str) -> jax.Array:
    """``x`` as ``[N, H, W, C]``; a ``[N, H, W]`` batch of one-channel images gains its axis.

    A ``[H, W, 1]`` array is refused: read as ``[N, H, W]`` it would be H images one pixel
    wide, where it is one image without its batch axis.
    """
    if x.ndim == 3 and in_channels == 1 and x.shape[-1] == 1:
        raise ValueError(
            f"{name} got {x.shape}: one image? Give a batch, [batch, height, width, 1] (x[None] "
            "for one image), or one-channel images as [batch, height, width]"
        )
    if x.ndim == 3 and in_channels == 1:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] != in_channels:
        raise ValueError(
            f"{name} expects images of shape [batch, height, width, {in_channels}] (NHWC), "
            f"got {x.shape}"
        )
    return x
