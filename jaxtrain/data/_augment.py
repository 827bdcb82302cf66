"""Data augmentation: pure per-example functions of a PRNG key, composed and vmapped.

The lecture (§1) fights overfitting with more data, and when no more data can be collected it
makes new examples from the old ones with what we know about the task: a cat flipped left to
right is still a cat, a cat cropped or zoomed a little is still a cat. Turning the picture
upside down is *not* a good augmentation for natural images — the model would learn to
recognise scenes that never occur — which is why ``vertical_flip`` is here too: to show it.

Every factory returns ``aug(key, x) -> x`` for ONE example ``x`` of shape ``(H, W, C)`` or
``(H, W)``; the output has the same shape and dtype. Images are channels-last: an example of
shape (C, H, W) with C in {1, 3, 4}, fewer than H and W, and W > 4 is refused (transpose an
NCHW batch with ``x.transpose(0, 2, 3, 1)``). The function is pure: the same key gives
the same result. :func:`compose` chains augmentations, :func:`augment_batch` splits a key per
example and vmaps, so a whole batch is one jitted XLA computation (no Python per example).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxtrain._numbers import is_int, pair_of, real_number, real_pair

Augmentation = Callable[[jax.Array, jax.Array], jax.Array]

_CROP_MODES = ("constant", "reflect", "edge")
_ZOOM_METHODS = ("linear", "cubic")


def _check_probability(p: float, name: str = "p") -> float:
    value = real_number(p)
    if value is None:
        raise ValueError(
            f"`{name}` must be a number, a probability in [0, 1]; got {p!r}: pass a float "
            f"such as {name}=0.5."
        )
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"`{name}` must be a probability in [0, 1]; got {p!r}.")
    return value


def looks_channels_first(shape: tuple[int, ...]) -> bool:
    """Whether one example's shape reads as (C, H, W) rather than (H, W, C): 1, 3 or 4 first
    (grey, RGB, RGBA), fewer than its rows and columns, and more than 4 last. An image has
    fewer channels than rows and columns, so a (4, 4, 8) feature map (as many rows as its
    first axis) passes as channels-last."""
    return len(shape) == 3 and shape[0] in (1, 3, 4) and shape[0] < min(shape[1:]) and shape[-1] > 4


def _as_image(x: jax.Array, who: str) -> jax.Array:
    x = jnp.asarray(x)
    if x.ndim not in (2, 3):
        raise ValueError(
            f"{who} augments ONE example of shape (H, W, C) or (H, W); got shape {x.shape}. "
            "To augment a batch, call jaxtrain.data.augment_batch(aug, key, batch)."
        )
    if looks_channels_first(x.shape):
        # A (C, H, W) example read as (H, W, C) is no image: a crop pads the colour planes
        # away and a horizontal flip flips rows, and shape and dtype still come out right.
        raise ValueError(
            f"{who} got an example of shape {x.shape}, which looks channels-first (C, H, W); "
            "augmentations take channels-last images (H, W, C): transpose a batch with "
            "x.transpose(0, 2, 3, 1) (one example: x.transpose(1, 2, 0))."
        )
    return x


def _check_real_valued(x: jax.Array, who: str) -> None:
    """Refuses what an augmentation that computes new pixel values cannot compute on: a mask
    has no values to add noise to or interpolate between (noise turned an all-False mask all
    True), and a complex image would lose its imaginary part to the float computation."""
    if not (jnp.issubdtype(x.dtype, jnp.floating) or jnp.issubdtype(x.dtype, jnp.integer)):
        raise ValueError(
            f"{who} computes new pixel values, so it augments real-valued images (float or "
            f"integer pixels); got {x.dtype}."
        )


def _compute_dtype(dtype: jnp.dtype) -> jnp.dtype:
    # Interpolation and noise need a float; half precision would lose pixels, so widen to f32.
    if dtype in (jnp.float32, jnp.float64):
        return dtype
    return jnp.dtype(jnp.float32)


def _cast_back(y: jax.Array, dtype: jnp.dtype) -> jax.Array:
    # Integer images (uint8 pixels) round and saturate instead of wrapping around.
    if jnp.issubdtype(dtype, jnp.integer):
        info = jnp.iinfo(dtype)
        # The bounds as floats of y's dtype (jnp.clip refuses the Python int 2**32 - 1);
        # float32 rounds that up to 2**32, which uint32 cannot hold, so step below it.
        low, high = np.array([info.min, info.max], y.dtype)
        if int(high) > info.max:
            high = np.nextafter(high, low)
        y = jnp.clip(jnp.round(y), jnp.asarray(low), jnp.asarray(high))
    return y.astype(dtype)


def _fill_for(fill: float, dtype: jnp.dtype) -> jax.Array:
    """A border value ``fill`` in an image's ``dtype``; rounded for integers, refused where
    the dtype cannot hold it (a float16 border of 1e5 would be inf, a uint8 one of 300 wraps)."""
    if jnp.issubdtype(dtype, jnp.integer):
        info = jnp.iinfo(dtype)
        value, low, high = round(fill), int(info.min), int(info.max)
        limits = f"{low} to {high}"
    elif jnp.issubdtype(dtype, jnp.inexact):
        high = float(jnp.finfo(dtype).max)
        value, low, limits = fill, -high, f"±{high:.5g}"
    else:
        return jnp.asarray(fill, dtype)  # a mask: any fill is True or False
    if not low <= value <= high:
        raise ValueError(
            f"random_crop: `fill` {fill!r} is outside the range of the image's dtype "
            f"{jnp.dtype(dtype).name} ({limits}); pass a fill the image can hold, or convert "
            "the image first (x.astype(jnp.float32))."
        )
    return jnp.asarray(value, dtype)


def horizontal_flip(p: float = 0.5) -> Augmentation:
    """Mirrors an image left to right with probability ``p``.

    The most common augmentation for natural images: a mirrored cat is still a cat, so the
    flipped copy is a new, correctly labelled example. For one example x of shape (H, W[, C])
    the output is ``x[:, ::-1]`` if b = 1 and x if b = 0, with b ~ Bernoulli(p) drawn from
    the key.

    Args:
      p: probability of flipping, in [0, 1].

    Returns:
      ``aug(key, x) -> x`` for ONE example of shape (H, W, C) or (H, W); shape and dtype kept.

    Raises:
      ValueError: if ``p`` is not a number in [0, 1] (a bool or a string is none); at call
        time for a channels-first example (C, H, W).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jaxtrain.data import horizontal_flip
      >>> x = jnp.arange(6).reshape(2, 3)
      >>> horizontal_flip(p=1.0)(jax.random.key(0), x).tolist()
      [[2, 1, 0], [5, 4, 3]]

    References:
      He et al., *Deep Residual Learning for Image Recognition*, 2015 (flip + crop on
      CIFAR-10), https://arxiv.org/abs/1512.03385
    """
    p = _check_probability(p)

    def aug(key: jax.Array, x: jax.Array) -> jax.Array:
        x = _as_image(x, "horizontal_flip")
        return jnp.where(jax.random.bernoulli(key, p), jnp.flip(x, axis=1), x)

    return aug


def vertical_flip(p: float = 0.5) -> Augmentation:
    """Turns an image upside down with probability ``p`` — usually a *bad* augmentation.

    The lecture's counter-example: augmentations must keep the label *and* produce inputs the
    model will meet. Upside-down photographs of cats rarely occur, so training on them spends
    capacity on a distribution the test set does not have. Fine for satellite or microscope
    images, which have no "up". Output ``x[::-1]`` if b = 1, x if b = 0, b ~ Bernoulli(p).

    Args:
      p: probability of flipping, in [0, 1].

    Returns:
      ``aug(key, x) -> x`` for ONE example of shape (H, W, C) or (H, W); shape and dtype kept.

    Raises:
      ValueError: if ``p`` is not a number in [0, 1] (a bool or a string is none); at call
        time for a channels-first example (C, H, W).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jaxtrain.data import vertical_flip
      >>> x = jnp.arange(6).reshape(2, 3)
      >>> vertical_flip(p=1.0)(jax.random.key(0), x).tolist()
      [[3, 4, 5], [0, 1, 2]]

    References:
      Shorten and Khoshgoftaar, *A survey on Image Data Augmentation for Deep Learning*, 2019
      (label-preserving transformations), https://doi.org/10.1186/s40537-019-0197-0
    """
    p = _check_probability(p)

    def aug(key: jax.Array, x: jax.Array) -> jax.Array:
        x = _as_image(x, "vertical_flip")
        return jnp.where(jax.random.bernoulli(key, p), jnp.flip(x, axis=0), x)

    return aug


def _check_padding(padding: int | Sequence[int]) -> tuple[int, int]:
    values = (
        (padding, padding)
        if is_int(padding)
        else pair_of(padding, lambda item: item if is_int(item) else None)
    )
    if values is None:
        raise ValueError(
            f"`padding` must be an int or a pair of ints (pad_h, pad_w); got {padding!r}: "
            "pass e.g. padding=4 or padding=(4, 2)."
        )
    if min(values) < 0:
        raise ValueError(f"`padding` must be non-negative; got {padding!r}.")
    return int(values[0]), int(values[1])


def random_crop(
    padding: int | Sequence[int] = 4,
    *,
    mode: str = "constant",
    fill: float = 0.0,
) -> Augmentation:
    """Pads an image and crops it back to its size at a random offset: a random translation.

    The standard CIFAR augmentation: pad by P pixels on every side, then cut an (H, W) window
    at an offset (o_h, o_w) drawn uniformly from {0, …, 2P}. The result is the image shifted
    by (P − o_h, P − o_w) pixels, with the uncovered border filled by ``mode``.

    Args:
      padding: P, an int or a pair (P_h, P_w) of non-negative ints.
      mode: how the border is filled: ``"constant"`` (``fill``), ``"reflect"`` (mirror
        without repeating the edge pixel; needs P smaller than the image side) or ``"edge"``
        (repeat the edge pixel).
      fill: the value of the border for ``mode="constant"`` (rounded for an integer image);
        it must lie in the range of the image's dtype.

    Returns:
      ``aug(key, x) -> x`` for ONE example of shape (H, W, C) or (H, W); shape and dtype kept.

    Raises:
      ValueError: if ``padding`` is negative or not int(s), ``mode`` is unknown or ``fill``
        is not finite; at call time if ``mode="reflect"`` and the padding is not smaller than
        the image, if ``fill`` is outside the range of the image's dtype (300 for uint8, 1e5
        for float16), or for a channels-first example (C, H, W).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jaxtrain.data import random_crop
      >>> x = jnp.ones((4, 4, 1))
      >>> y = random_crop(padding=2)(jax.random.key(1), x)
      >>> y.shape, float(y.sum()) <= 16.0
      ((4, 4, 1), True)

    References:
      He et al., *Deep Residual Learning for Image Recognition*, 2015 (pad 4, random 32×32
      crop), https://arxiv.org/abs/1512.03385
    """
    pad_h, pad_w = _check_padding(padding)
    if mode not in _CROP_MODES:
        raise ValueError(f"`mode` must be one of {_CROP_MODES}; got {mode!r}.")
    fill_value = real_number(fill)
    if fill_value is None or not math.isfinite(fill_value):
        raise ValueError(f"`fill` must be a finite number; got {fill!r}.")

    def aug(key: jax.Array, x: jax.Array) -> jax.Array:
        x = _as_image(x, "random_crop")
        H, W = x.shape[:2]
        if mode == "reflect" and (pad_h >= H or pad_w >= W):
            raise ValueError(
                f"`padding` {(pad_h, pad_w)} must be smaller than the image size {(H, W)} "
                'for mode="reflect"; use mode="edge" or a smaller padding.'
            )
        widths = [(pad_h, pad_h), (pad_w, pad_w)] + [(0, 0)] * (x.ndim - 2)
        if mode == "constant":
            # Rounded for an integer image, as its pixels are; in Python's float64, which
            # holds int32 fills exactly (float32 does not).
            border = _fill_for(fill_value, x.dtype)
            padded = jnp.pad(x, widths, constant_values=border)
        else:
            padded = jnp.pad(x, widths, mode=mode)
        # One draw for both offsets: o_h ∈ {0..2P_h}, o_w ∈ {0..2P_w}.
        offsets = jax.random.randint(key, (2,), 0, jnp.array([2 * pad_h + 1, 2 * pad_w + 1]))
        zero = jnp.zeros((), offsets.dtype)
        start = (offsets[0], offsets[1]) + (zero,) * (x.ndim - 2)
        return lax.dynamic_slice(padded, start, x.shape)

    return aug


def _zoom_window(
    x: jax.Array, s: jax.Array, o_h: jax.Array, o_w: jax.Array, method: str
) -> jax.Array:
    """Resamples the window of relative size ``s`` at pixel offset (o_h, o_w) to x's size."""
    dtype = _compute_dtype(x.dtype)
    inv = (1.0 / s).astype(dtype)
    # scale_and_translate maps input coordinate u to u * scale + translation, so the window
    # [o, o + s·H) lands on [0, H). It takes traced scales, unlike jax.image.resize whose
    # output of a random-size crop would need a data-dependent (non-static) shape.
    y = jax.image.scale_and_translate(
        x.astype(dtype),
        x.shape,
        spatial_dims=(0, 1),
        scale=jnp.stack([inv, inv]),
        translation=jnp.stack([-o_h * inv, -o_w * inv]).astype(dtype),
        method=method,
        antialias=False,
    )
    return _cast_back(y, x.dtype)


def _check_scale(scale: float | Sequence[float]) -> tuple[float, float]:
    single = real_number(scale)
    values = (single, single) if single is not None else real_pair(scale)
    if values is None:
        raise ValueError(
            f"`scale` must be a float or a pair (low, high) of floats; got {scale!r}: pass "
            "e.g. scale=0.8 or scale=(0.8, 1.0)."
        )
    low, high = values
    if not (0.0 < low <= high <= 1.0):
        raise ValueError(
            f"`scale` must satisfy 0 < low <= high <= 1 (the window's side relative to the "
            f"image); got {scale!r}."
        )
    return low, high


def random_zoom(
    scale: float | Sequence[float] = (0.8, 1.0), *, method: str = "linear"
) -> Augmentation:
    """Zooms in: crops a random window and resizes it back to the image size.

    A side fraction s ~ U(low, high) and an offset (o_h, o_w) ~ U([0, (1−s)H] × [0, (1−s)W])
    choose the window [o_h, o_h + sH) × [o_w, o_w + sW); it is resampled to (H, W) with
    ``method`` interpolation. The interior equals cropping the window and calling
    ``jax.image.resize`` on it; at the window's border the interpolation uses the real
    neighbouring pixels instead of clamping to the crop's edge. ``scale=1`` is the identity.

    Args:
      scale: the window's side relative to the image: a float or a pair (low, high) with
        0 < low <= high <= 1.
      method: interpolation, ``"linear"`` or ``"cubic"``.

    Returns:
      ``aug(key, x) -> x`` for ONE example of shape (H, W, C) or (H, W); shape and dtype kept
      (integer images are rounded and clipped to their range; they are resampled in float32,
      exact up to 2**24, so ``scale=1`` returns them untouched).

    Raises:
      ValueError: if ``scale`` is not a number or a pair of numbers (a bool or a string is
        none), is outside (0, 1] or not ordered, or ``method`` is unknown; at call time for a
        channels-first example (C, H, W).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jaxtrain.data import random_zoom
      >>> x = jnp.arange(16.0).reshape(4, 4)
      >>> y = random_zoom(scale=(0.5, 0.9))(jax.random.key(0), x)
      >>> y.shape, bool(jnp.all((y >= 0) & (y <= 15)))
      ((4, 4), True)

    References:
      Szegedy et al., *Going Deeper with Convolutions*, 2014 (random-size crops resized
      back), https://arxiv.org/abs/1409.4842
    """
    low, high = _check_scale(scale)
    if method not in _ZOOM_METHODS:
        raise ValueError(f"`method` must be one of {_ZOOM_METHODS}; got {method!r}.")

    def aug(key: jax.Array, x: jax.Array) -> jax.Array:
        x = _as_image(x, "random_zoom")
        _check_real_valued(x, "random_zoom")
        if low == 1.0:
            return x  # exactly: a float32 round trip rounds integer pixels above 2**24
        H, W = x.shape[:2]
        dtype = _compute_dtype(x.dtype)
        # One draw of three uniforms: the side fraction and the two relative offsets.
        u = jax.random.uniform(key, (3,), dtype)
        s = low + (high - low) * u[0]
        o_h = u[1] * (1 - s) * H
        o_w = u[2] * (1 - s) * W
        return _zoom_window(x, s, o_h, o_w, method)

    return aug


def additive_noise(stddev: float, *, clip: tuple[float, float] | None = None) -> Augmentation:
    """Adds Gaussian noise: x + σ·ε with ε ~ N(0, I).

    Small input noise says "nearby inputs have the same label"; for small σ, training with
    it is equivalent to a Tikhonov (smoothness) penalty on the model.

    Args:
      stddev: σ, the noise's standard deviation (non-negative, in the input's units).
      clip: optional (low, high) to keep the result in the valid range (e.g. (0, 1) pixels).

    Returns:
      ``aug(key, x) -> x`` for ONE example (any shape is accepted; images are (H, W, C) or
      (H, W)); shape and dtype kept (integer inputs are rounded and clipped; they are computed
      in float32, exact up to 2**24, so ``stddev=0`` without ``clip`` returns them untouched).

    Raises:
      ValueError: if ``stddev`` is negative or not finite, or ``clip`` is not ordered.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jaxtrain.data import additive_noise
      >>> y = additive_noise(0.1, clip=(0.0, 1.0))(jax.random.key(0), jnp.full((3,), 0.5))
      >>> y.shape, bool(jnp.all((y >= 0) & (y <= 1)))
      ((3,), True)

    References:
      Bishop, *Training with Noise is Equivalent to Tikhonov Regularization*, Neural
      Computation 7(1), 1995, https://doi.org/10.1162/neco.1995.7.1.108
    """
    sigma = real_number(stddev)
    if sigma is None:
        raise ValueError(
            f"`stddev` must be a non-negative float; got {stddev!r}: pass e.g. stddev=0.1."
        )
    if not (sigma >= 0.0 and sigma < float("inf")):
        raise ValueError(f"`stddev` must be a non-negative finite float; got {stddev!r}.")
    if clip is not None:
        bounds = real_pair(clip)
        if bounds is None or not bounds[0] <= bounds[1]:
            raise ValueError(
                f"`clip` must be a pair (low, high) of numbers with low <= high; got {clip!r}."
            )
        clip = bounds

    def aug(key: jax.Array, x: jax.Array) -> jax.Array:
        x = jnp.asarray(x)
        _check_real_valued(x, "additive_noise")
        if sigma == 0.0 and clip is None:
            return x  # exactly: a float32 round trip rounds integer pixels above 2**24
        dtype = _compute_dtype(x.dtype)
        y = x.astype(dtype) + jnp.asarray(sigma, dtype) * jax.random.normal(key, x.shape, dtype)
        if clip is not None:
            y = jnp.clip(y, jnp.asarray(clip[0], dtype), jnp.asarray(clip[1], dtype))
        return _cast_back(y, x.dtype)

    return aug


def compose(*augs: Augmentation) -> Augmentation:
    """Chains augmentations, applied left to right, each with its own key.

    ``compose(a, b, c)(key, x) = c(k₃, b(k₂, a(k₁, x)))`` with (k₁, k₂, k₃) =
    ``jax.random.split(key, 3)``: independent randomness per stage, still one key in.
    ``compose()`` is the identity.

    Args:
      *augs: augmentations ``aug(key, x) -> x``.

    Returns:
      ``aug(key, x) -> x`` running every stage in order.

    Raises:
      TypeError: if a stage is not callable (e.g. a list passed instead of ``*augs``).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jaxtrain.data import compose, horizontal_flip, vertical_flip
      >>> aug = compose(horizontal_flip(p=1.0), vertical_flip(p=1.0))
      >>> aug(jax.random.key(0), jnp.arange(4).reshape(2, 2)).tolist()
      [[3, 2], [1, 0]]

    References:
      He et al., *Deep Residual Learning for Image Recognition*, 2015 (crop then flip),
      https://arxiv.org/abs/1512.03385
    """
    for index, stage in enumerate(augs):
        if not callable(stage):
            raise TypeError(
                f"compose: argument {index} is {type(stage).__name__}, not an augmentation "
                "aug(key, x) -> x; pass stages as separate arguments: compose(a, b)."
            )
    stages = tuple(augs)

    def aug(key: jax.Array, x: jax.Array) -> jax.Array:
        if not stages:
            return x
        keys = jax.random.split(key, len(stages))
        for stage_key, stage in zip(keys, stages, strict=True):
            x = stage(stage_key, x)
        return x

    return aug


@functools.partial(jax.jit, static_argnums=0)
def _augment_batch_jit(aug: Augmentation, key: jax.Array, batch: jax.Array) -> jax.Array:
    return jax.vmap(aug)(jax.random.split(key, batch.shape[0]), batch)


def augment_batch(aug: Augmentation, key: jax.Array, batch: jax.Array) -> jax.Array:
    """Applies a per-example augmentation to every example of a batch, each with its own key.

    The key is split into N keys, one per example, and ``aug`` is vmapped over the leading
    axis: the batch becomes one XLA computation, jit-compiled once per (aug, shape, dtype) and
    reused — so build ``aug`` once, outside the training loop (a new ``compose(...)`` per step
    is a new function and compiles again). It can also be called inside a jitted step.

    Args:
      aug: an augmentation ``aug(key, x) -> x`` for ONE example.
      key: a ``jax.random`` key; the same key gives the same batch.
      batch: N examples stacked on axis 0, e.g. (N, H, W, C) or (N, H, W).

    Returns:
      The augmented batch as a ``jax.Array`` of the same shape and dtype.

    Raises:
      ValueError: if ``batch`` is a scalar or has no examples.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jaxtrain.data import augment_batch, horizontal_flip
      >>> xb = jnp.arange(12).reshape(2, 2, 3)
      >>> augment_batch(horizontal_flip(p=1.0), jax.random.key(0), xb)[0].tolist()
      [[2, 1, 0], [5, 4, 3]]

    References:
      Krizhevsky, Sutskever and Hinton, *ImageNet Classification with Deep Convolutional
      Neural Networks*, NeurIPS 2012 (augmentation computed on the fly per batch),
      https://papers.nips.cc/paper/4824
    """
    batch = jnp.asarray(batch)
    if batch.ndim == 0 or batch.shape[0] == 0:
        raise ValueError(
            f"`batch` must stack at least one example on axis 0; got shape {batch.shape}."
        )
    try:
        hash(aug)
    except TypeError:
        # An unhashable callable cannot be a static jit argument; vmap alone is still batched.
        return jax.vmap(aug)(jax.random.split(key, batch.shape[0]), batch)
    return _augment_batch_jit(aug, key, batch)
