"""A grid of original images next to augmented copies: check an augmentation by eye."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np

from jaxtrain._numbers import is_int


def _display_range(images: np.ndarray) -> tuple[float, float]:
    if images.dtype == np.uint8:
        return 0.0, 255.0
    finite = images[np.isfinite(images)]  # one NaN pixel made the shared range NaN
    if finite.size == 0:
        return 0.0, 1.0
    low, high = float(finite.min()), float(finite.max())
    if low >= 0.0 and high <= 1.0:
        return 0.0, 1.0
    return low, high if high > low else low + 1.0


def plot_augmentations(
    aug: Callable[[jax.Array, jax.Array], jax.Array],
    images: Any,
    key: jax.Array,
    *,
    num_augmented: int = 4,
    labels: Sequence[Any] | None = None,
    axes: Any = None,
    cell_size: float = 1.6,
) -> tuple[Any, np.ndarray]:
    """Draws each image in a row: the original, then ``num_augmented`` augmented copies.

    An augmentation is only as good as the examples it makes (§1): a flipped digit "2" or
    an upside-down cat is a new input the model will never meet. This grid shows what the
    model will actually train on. Column j > 0 uses key j − 1 of ``jax.random.split(key,
    num_augmented)`` (``keys[j - 1]``) through :func:`jaxtrain.data.augment_batch`, so the
    picture is reproducible. Every cell of a figure shares one intensity range (0–255 for uint8, 0–1
    when the originals lie in it, otherwise their min–max): brightness changes stay visible.

    Args:
      aug: an augmentation ``aug(key, x) -> x`` for ONE example (``jaxtrain.data``).
      images: N examples of shape (N, H, W) or (N, H, W, C) with C in {1, 3, 4}.
      key: a ``jax.random`` key.
      num_augmented: augmented copies per image (columns after the original).
      labels: optional N row labels (class names or numbers) shown left of each row.
      axes: optional existing array of Axes of shape (N, 1 + num_augmented) to draw into,
        or a flat sequence of as many, taken row by row.
      cell_size: the side of one cell in inches when a new figure is made.

    Returns:
      ``(fig, axes)``: the matplotlib Figure and the (N, 1 + num_augmented) array of Axes.

    Raises:
      ValueError: for images of the wrong rank or channel count, ``num_augmented < 1``,
        ``labels`` of the wrong length, or ``axes`` of the wrong shape.

    Examples:
      >>> import jax
      >>> from jaxtrain.data import load_digits, random_crop
      >>> from jaxtrain.plot import plot_augmentations
      >>> x, y = load_digits(flatten=False)
      >>> fig, axes = plot_augmentations(random_crop(1), x[:2], jax.random.key(0), labels=y[:2])
      >>> axes.shape
      (2, 5)
      >>> import matplotlib.pyplot as plt; plt.close(fig)

    References:
      Shorten and Khoshgoftaar, *A survey on Image Data Augmentation for Deep Learning*,
      2019, https://doi.org/10.1186/s40537-019-0197-0
    """
    import matplotlib.pyplot as plt

    from jaxtrain.data import augment_batch

    images = np.asarray(images)
    if images.ndim not in (3, 4) or len(images) == 0:
        raise ValueError(
            f"`images` must be N >= 1 examples of shape (N, H, W) or (N, H, W, C); got shape "
            f"{images.shape}. Add a batch axis for a single image: images[None]."
        )
    if images.ndim == 4 and images.shape[-1] not in (1, 3, 4):
        raise ValueError(
            f"`images` must have 1 (grey), 3 (RGB) or 4 (RGBA) channels last; got shape "
            f"{images.shape}. Channels-first data need images.transpose(0, 2, 3, 1)."
        )
    if not is_int(num_augmented) or num_augmented < 1:
        raise ValueError(f"`num_augmented` must be an int >= 1; got {num_augmented!r}.")
    n, columns = len(images), 1 + int(num_augmented)
    if labels is not None and len(labels) != n:
        raise ValueError(f"`labels` has {len(labels)} entries for {n} images; give one per row.")

    keys = jax.random.split(key, num_augmented)
    copies = [np.asarray(augment_batch(aug, k, images)) for k in keys]
    grid = np.stack([images, *copies], axis=1)  # (N, columns, H, W[, C])

    if axes is None:
        fig, axes = plt.subplots(
            n, columns, figsize=(cell_size * columns, cell_size * n), squeeze=False
        )
    else:
        axes = np.asarray(axes, dtype=object)
        # A flat sequence is laid out row by row; a grid must be the grid's own shape, or an
        # image's copies would spread over the caller's rows.
        if axes.size != n * columns or (axes.ndim > 1 and axes.shape != (n, columns)):
            raise ValueError(
                f"`axes` holds {axes.size} Axes in shape {axes.shape}; the grid needs {n} × "
                f"{columns} = {n * columns} (a flat sequence, or that shape)."
            )
        axes = axes.reshape(n, columns)
        fig = axes[0, 0].figure

    low, high = _display_range(images)
    for row in range(n):
        for col in range(columns):
            ax = axes[row, col]
            picture = grid[row, col].astype(np.float64)
            if picture.ndim == 3 and picture.shape[-1] == 1:
                picture = picture[..., 0]
            if picture.ndim == 2:
                ax.imshow(picture, cmap="gray", vmin=low, vmax=high, interpolation="nearest")
            else:
                scaled = np.clip((picture - low) / (high - low), 0.0, 1.0)
                ax.imshow(scaled, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title("original" if col == 0 else f"augmented {col}", fontsize=8)
        if labels is not None:
            axes[row, 0].set_ylabel(str(labels[row]), fontsize=8)
    return fig, axes
