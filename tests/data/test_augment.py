"""Augmentations: pure per-key functions of one example, composed and vmapped over a batch."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxtrain.data import (
    additive_noise,
    augment_batch,
    compose,
    horizontal_flip,
    random_crop,
    random_zoom,
    vertical_flip,
)
from jaxtrain.data._augment import _zoom_window

zoom_window = jax.jit(_zoom_window, static_argnums=4)

KEY = jax.random.key(0)
IMAGE = jax.random.uniform(jax.random.key(42), (6, 5, 3))

ALL_AUGS = {
    "hflip": horizontal_flip(0.5),
    "vflip": vertical_flip(0.5),
    "crop_constant": random_crop(2),
    "crop_reflect": random_crop((1, 2), mode="reflect"),
    "crop_edge": random_crop(3, mode="edge"),
    "zoom": random_zoom((0.6, 1.0)),
    "zoom_cubic": random_zoom(0.7, method="cubic"),
    "noise": additive_noise(0.1),
    "composed": compose(horizontal_flip(), random_crop(1), random_zoom(), additive_noise(0.05)),
}


DTYPES = {
    "hw_f32": IMAGE[..., 0],
    "hwc_u8": (IMAGE * 255).astype(jnp.uint8),
    "hwc_f16": IMAGE.astype(jnp.float16),
}
# Every augmentation on (H, W, C) float32; every other layout and dtype through the composed
# pipeline (flip, crop, zoom and noise) and the flips: one compile per case keeps this fast.
CASES = [(name, "hwc_f32") for name in sorted(ALL_AUGS)] + [
    (name, dtype) for name in ("composed", "vflip") for dtype in sorted(DTYPES)
]


@pytest.mark.parametrize("name,dtype", CASES)
def test_shape_dtype_kept_and_deterministic_per_key(name, dtype):
    x = IMAGE if dtype == "hwc_f32" else DTYPES[dtype]
    aug = jax.jit(ALL_AUGS[name])
    y1, y2 = aug(KEY, x), aug(KEY, x)
    assert y1.shape == x.shape and y1.dtype == x.dtype
    np.testing.assert_array_equal(np.asarray(y1), np.asarray(y2))


@pytest.mark.parametrize("name", ["hflip", "crop_constant", "zoom", "noise", "composed"])
def test_different_keys_give_different_results(name):
    aug = jax.jit(ALL_AUGS[name])
    outputs = {np.asarray(aug(jax.random.key(i), IMAGE)).tobytes() for i in range(16)}
    assert len(outputs) > 1


def test_accepts_legacy_uint32_keys():
    y = horizontal_flip(1.0)(jax.random.PRNGKey(0), IMAGE)
    np.testing.assert_array_equal(np.asarray(y), np.asarray(IMAGE[:, ::-1]))


@pytest.mark.parametrize("x", [IMAGE, IMAGE[..., 0]], ids=["hwc", "hw"])
def test_flips_really_flip(x):
    np.testing.assert_array_equal(np.asarray(horizontal_flip(1.0)(KEY, x)), np.asarray(x)[:, ::-1])
    np.testing.assert_array_equal(np.asarray(vertical_flip(1.0)(KEY, x)), np.asarray(x)[::-1])
    np.testing.assert_array_equal(np.asarray(horizontal_flip(0.0)(KEY, x)), np.asarray(x))
    np.testing.assert_array_equal(np.asarray(vertical_flip(0.0)(KEY, x)), np.asarray(x))


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
@pytest.mark.parametrize("factory,flip", [(horizontal_flip, 1), (vertical_flip, 0)])
def test_flip_probability_respected(p, factory, flip):
    n = 4000
    batch = jnp.broadcast_to(IMAGE, (n, *IMAGE.shape))
    out = np.asarray(augment_batch(factory(p), KEY, batch))
    flipped = np.all(out == np.flip(np.asarray(IMAGE), axis=flip), axis=(1, 2, 3))
    unchanged = np.all(out == np.asarray(IMAGE), axis=(1, 2, 3))
    assert np.all(flipped ^ unchanged)  # every example is exactly one of the two
    # Binomial standard error: sqrt(p(1-p)/n) <= 0.008; 5 standard errors of tolerance.
    assert abs(flipped.mean() - p) < 5 * np.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
@pytest.mark.parametrize("padding", [0, 2, (1, 3)])
def test_crop_is_a_translation_of_the_padded_image(mode, padding):
    pad_h, pad_w = (padding, padding) if isinstance(padding, int) else padding
    x = np.asarray(IMAGE)
    if mode == "constant":
        padded = np.pad(x, [(pad_h, pad_h), (pad_w, pad_w), (0, 0)], constant_values=0.5)
        aug = random_crop(padding, mode=mode, fill=0.5)
    else:
        padded = np.pad(x, [(pad_h, pad_h), (pad_w, pad_w), (0, 0)], mode=mode)
        aug = random_crop(padding, mode=mode)
    aug = jax.jit(aug)
    seen = set()
    for i in range(40):
        y = np.asarray(aug(jax.random.key(i), x))
        matches = [
            (a, b)
            for a in range(2 * pad_h + 1)
            for b in range(2 * pad_w + 1)
            if np.array_equal(y, padded[a : a + x.shape[0], b : b + x.shape[1]])
        ]
        assert matches, "the crop is not a window of the padded image"
        seen.update(matches)
    # Offsets are drawn over the whole range, not stuck at one shift.
    assert len(seen) > min(3, (2 * pad_h + 1) * (2 * pad_w + 1) - 1)


def test_crop_offsets_cover_the_full_range():
    x = jnp.zeros((5, 5)).at[2, 2].set(1.0)
    out = np.asarray(augment_batch(random_crop(2), KEY, jnp.broadcast_to(x, (400, 5, 5))))
    # The bright pixel lands at every shift in {-2..2}²: offsets span all of {0, …, 2P}².
    assert np.all(out.sum(axis=(1, 2)) == 1.0)
    positions = {tuple(np.argwhere(o == 1.0)[0]) for o in out}
    assert positions == {(r, c) for r in range(5) for c in range(5)}


@pytest.mark.parametrize("x", [IMAGE, IMAGE[..., 0], (IMAGE * 255).astype(jnp.uint8)])
def test_zoom_of_scale_one_is_identity(x):
    y = jax.jit(random_zoom(1.0))(KEY, x)
    np.testing.assert_allclose(np.asarray(y, np.float32), np.asarray(x, np.float32), atol=1e-6)


@pytest.mark.parametrize("s,o_h,o_w", [(0.5, 2, 1), (0.5, 0, 0), (0.75, 4, 2), (0.5, 8, 8)])
def test_zoom_window_matches_crop_then_resize_inside(s, o_h, o_w):
    x = jax.random.uniform(jax.random.key(3), (16, 16, 2))
    size = int(16 * s)
    crop = x[o_h : o_h + size, o_w : o_w + size]
    reference = jax.image.resize(crop, x.shape, "linear")
    y = zoom_window(x, jnp.float32(s), jnp.float32(o_h), jnp.float32(o_w), "linear")
    # Border pixels differ by design (real neighbours instead of clamping); the inside is exact.
    np.testing.assert_allclose(
        np.asarray(y[2:-2, 2:-2]), np.asarray(reference[2:-2, 2:-2]), atol=1e-6
    )


def test_zoom_magnifies():
    # A centred bright square grows when zoomed in (the window is smaller than the image).
    x = jnp.zeros((16, 16)).at[6:10, 6:10].set(1.0)
    y = zoom_window(x, jnp.float32(0.5), jnp.float32(4.0), jnp.float32(4.0), "linear")
    assert float((y > 0.5).sum()) == pytest.approx(64, abs=8)


def test_noise_statistics_and_clip():
    x = jnp.zeros((200, 200))
    y = np.asarray(additive_noise(0.3)(KEY, x))
    assert abs(y.mean()) < 0.01 and abs(y.std() - 0.3) < 0.01
    clipped = np.asarray(additive_noise(1.0, clip=(-0.5, 0.5))(KEY, x))
    assert clipped.min() >= -0.5 and clipped.max() <= 0.5
    np.testing.assert_array_equal(np.asarray(additive_noise(0.0)(KEY, x)), np.asarray(x))


def test_noise_on_uint8_saturates_instead_of_wrapping():
    x = jnp.full((50, 50), 250, jnp.uint8)
    y = np.asarray(jax.jit(additive_noise(20.0))(KEY, x))
    assert y.dtype == np.uint8 and y.max() == 255 and y.min() > 150


def test_compose_order_and_keys():
    x = jnp.arange(12.0).reshape(3, 4)

    def add_one(key, v):
        del key
        return v + 1

    def double(key, v):
        del key
        return v * 2

    np.testing.assert_array_equal(np.asarray(compose(add_one, double)(KEY, x)), (x + 1) * 2)
    np.testing.assert_array_equal(np.asarray(compose(double, add_one)(KEY, x)), x * 2 + 1)
    np.testing.assert_array_equal(np.asarray(compose()(KEY, x)), x)
    # Each stage gets the matching split of the key.
    noise, crop = additive_noise(0.1), random_crop(1)
    k1, k2 = jax.random.split(KEY)
    by_hand = jax.jit(lambda x: crop(k2, noise(k1, x)))
    np.testing.assert_array_equal(
        np.asarray(jax.jit(compose(noise, crop))(KEY, IMAGE)), np.asarray(by_hand(IMAGE))
    )


def test_compose_rejects_non_callables():
    with pytest.raises(TypeError, match="argument 1"):
        compose(horizontal_flip(), [vertical_flip()])


def test_augment_batch_uses_one_key_per_example():
    aug = random_crop(2)
    batch = jax.random.uniform(jax.random.key(1), (8, 6, 5, 3))
    out = augment_batch(aug, KEY, batch)
    keys = jax.random.split(KEY, 8)
    single = jax.jit(aug)
    for i in range(8):
        np.testing.assert_array_equal(np.asarray(out[i]), np.asarray(single(keys[i], batch[i])))
    assert out.shape == batch.shape and out.dtype == batch.dtype
    # Identical examples get different augmentations (not one draw shared by the batch).
    same = augment_batch(aug, KEY, jnp.broadcast_to(IMAGE, batch.shape))
    assert len({np.asarray(o).tobytes() for o in same}) > 1


def test_augment_batch_accepts_numpy_hw_batches_and_legacy_keys():
    batch = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    flip = horizontal_flip(1.0)
    np.testing.assert_array_equal(np.asarray(augment_batch(flip, KEY, batch)), batch[:, :, ::-1])
    legacy = augment_batch(flip, jax.random.PRNGKey(3), batch)
    np.testing.assert_array_equal(np.asarray(legacy), batch[:, :, ::-1])


def test_augment_batch_inside_jit_and_no_retrace():
    traces = []

    def counting(key, x):
        traces.append(1)
        return horizontal_flip(0.5)(key, x)

    batch = jax.random.uniform(jax.random.key(1), (4, 6, 5, 3))
    first = augment_batch(counting, KEY, batch)
    second = augment_batch(counting, jax.random.key(9), batch + 1)
    assert len(traces) == 1  # compiled once, reused for a new key and new values
    assert first.shape == second.shape

    @jax.jit
    @chex.assert_max_traces(n=1)
    def step(key, xb):
        return augment_batch(random_crop(1), key, xb).mean()

    step(KEY, batch)
    step(jax.random.key(2), batch)


def test_augment_batch_with_unhashable_callable():
    class Unhashable:
        __hash__ = None

        def __call__(self, key, x):
            return horizontal_flip(1.0)(key, x)

    batch = jnp.ones((2, 3, 4)).at[:, :, 0].set(0.0)
    np.testing.assert_array_equal(
        np.asarray(augment_batch(Unhashable(), KEY, batch)), np.asarray(batch)[:, :, ::-1]
    )


def test_augment_batch_bad_batch():
    with pytest.raises(ValueError, match="batch"):
        augment_batch(horizontal_flip(), KEY, jnp.zeros((0, 4, 4)))
    with pytest.raises(ValueError, match="batch"):
        augment_batch(horizontal_flip(), KEY, jnp.float32(1.0))


def test_single_example_functions_reject_batches():
    with pytest.raises(ValueError, match="ONE example"):
        horizontal_flip()(KEY, jnp.zeros((2, 4, 4, 3)))
    with pytest.raises(ValueError, match="augment_batch"):
        random_crop(1)(KEY, jnp.zeros((4,)))


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: horizontal_flip(p=1.5), "`p`"),
        (lambda: horizontal_flip(p=-0.1), "`p`"),
        (lambda: vertical_flip(p="often"), "`p`"),
        (lambda: random_crop(-1), "`padding`"),
        (lambda: random_crop((1, -2)), "`padding`"),
        (lambda: random_crop(1.5), "`padding`"),
        (lambda: random_crop((1, 2, 3)), "`padding`"),
        (lambda: random_crop(2, mode="wrap"), "`mode`"),
        (lambda: random_zoom(0.0), "`scale`"),
        (lambda: random_zoom(1.2), "`scale`"),
        (lambda: random_zoom((0.9, 0.5)), "`scale`"),
        (lambda: random_zoom((0.5, 0.7, 0.9)), "`scale`"),
        (lambda: random_zoom(0.8, method="nearest"), "`method`"),
        (lambda: additive_noise(-0.1), "`stddev`"),
        (lambda: additive_noise(float("nan")), "`stddev`"),
        (lambda: additive_noise(0.1, clip=(1.0, 0.0)), "`clip`"),
        (lambda: random_crop(2, fill=float("nan")), "`fill`"),
        (lambda: random_crop(2, fill="white"), "`fill`"),
    ],
)
def test_bad_arguments_raise_value_error_naming_the_argument(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_reflect_padding_larger_than_image_raises():
    with pytest.raises(ValueError, match='mode="reflect"'):
        random_crop(4, mode="reflect")(KEY, jnp.zeros((3, 3)))


@pytest.mark.parametrize("dtype", [jnp.bool_, jnp.complex64])
def test_masks_and_complex_images_are_refused(dtype):
    # Before: noise made an all-False mask all True, zoom dilated a mask, and complex
    # images lost their imaginary part, each returned as if augmented. (Flips and crops
    # move values without computing new ones: a mask's flip is still a mask.)
    for aug in (additive_noise(0.01), random_zoom(0.5)):
        with pytest.raises(ValueError, match="real-valued images"):
            aug(KEY, jnp.zeros((4, 4), dtype))


def test_an_integer_images_fill_is_rounded_like_its_pixels():
    # Before: fill=0.7 on uint8 was truncated to 0.
    x = jnp.full((4, 4, 1), 100, jnp.uint8)
    for fill, border in ((0.7, 1), (-0.4, 0), (254.6, 255)):
        out = np.asarray(random_crop(2, fill=fill)(jax.random.key(3), x))
        assert set(out.ravel().tolist()) <= {100, border} and border in out, fill


def test_an_int32_fill_is_kept_exactly():
    # float32 holds 123456789 as 123456792: the fill is rounded and clipped in float64.
    x = jnp.zeros((4, 4, 1), jnp.int32)
    out = np.asarray(random_crop(2, fill=123456789)(jax.random.key(3), x))
    assert set(out.ravel().tolist()) == {0, 123456789}


@pytest.mark.parametrize(
    "aug",
    [horizontal_flip(1.0), vertical_flip(1.0), random_crop(4), random_zoom(0.9)],
    ids=["hflip", "vflip", "crop", "zoom"],
)
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_channels_first_batches_are_refused(aug, channels):
    # Before: (N, 3, 32, 32) was read as H=3, W=32, C=32: the crop blacked out whole colour
    # planes and the "horizontal" flip flipped rows, with shape and dtype kept.
    batch = jnp.ones((2, channels, 32, 32), jnp.uint8)
    with pytest.raises(ValueError, match="channels-first") as caught:
        augment_batch(aug, KEY, batch)
    assert f"({channels}, 32, 32)" in str(caught.value)
    assert "x.transpose(0, 2, 3, 1)" in str(caught.value)


def test_channels_last_images_with_few_rows_still_pass():
    # Only a first axis of 1, 3 or 4, shorter than both others, with a last axis longer than
    # 4 looks channels-first: a (4, 4, 8) feature map was refused (review).
    for shape in [(3, 4, 4), (4, 32, 3), (3, 32), (4, 4, 8), (3, 3, 16)]:
        x = jnp.arange(np.prod(shape), dtype=jnp.float32).reshape(shape)
        flipped = horizontal_flip(1.0)(KEY, x)
        np.testing.assert_array_equal(np.asarray(flipped), np.asarray(x)[:, ::-1])


# float32 is where integer pixels are computed: its spacing just below 2**32 is 256, so a
# saturated uint32 pixel lands within 256 of the exact result (a wrap would be 4e9 away).
_UINT32_TOLERANCE = 256


def test_noise_on_uint32_saturates_instead_of_crashing():
    # Before: OverflowError from jnp.clip's `max` (the Python int 2**32 - 1) while tracing.
    x = jnp.array([[0, 1000, 2**32 - 1]], jnp.uint32)
    out = np.asarray(jax.jit(additive_noise(2.0))(KEY, x))
    assert out.dtype == np.uint32
    noise = np.asarray(jax.random.normal(KEY, x.shape, jnp.float32), np.float64)
    expected = np.clip(np.round(np.asarray(x, np.float64) + 2.0 * noise), 0, 2**32 - 1)
    np.testing.assert_allclose(out.astype(np.float64), expected, rtol=0, atol=_UINT32_TOLERANCE)


def test_zoom_on_uint32_matches_the_float_zoom_rounded_and_saturated():
    x = jax.random.randint(jax.random.key(5), (6, 5), 0, 2**31 - 1).astype(jnp.uint32) * 2 + 1
    zoom = jax.jit(random_zoom(0.8))
    out = np.asarray(zoom(KEY, x))
    assert out.dtype == np.uint32
    as_float = np.asarray(zoom(KEY, x.astype(jnp.float32)), np.float64)
    expected = np.clip(np.round(as_float), 0, 2**32 - 1)
    # Both are float32 computations, compiled apart: a few ulps (2**-23 each) may differ.
    np.testing.assert_allclose(out.astype(np.float64), expected, rtol=1e-6, atol=0)


def test_noise_on_uint64_saturates_with_x64():
    from jax_modes import x64_enabled

    with x64_enabled():
        x = jnp.array([[0, 2**64 - 1]], jnp.uint64)
        out = np.asarray(additive_noise(1.0)(KEY, x))
        assert out.dtype == np.uint64
        # float32's spacing just below 2**64 is 2**40: the top pixel saturates within it.
        assert out[0, 0] <= 5 and out[0, 1] >= 2**64 - 2**40


@pytest.mark.parametrize("dtype", [jnp.uint32, jnp.int32, jnp.uint16, jnp.uint8])
def test_identity_settings_keep_integer_pixels_exactly(dtype):
    # Before: a round trip through float32 turned 16777217 into 16777216 (and 2**32 - 1
    # crashed) although noise 0 and zoom 1 change nothing.
    info = jnp.iinfo(dtype)
    values = [int(info.min), int(info.max), int(info.max) - 1, 1 + int(info.max) // 255]
    if info.max > 2**24:
        values += [2**24 + 1, 100_000_001]
    x = jnp.array([values], dtype)
    for aug in (additive_noise(0.0), random_zoom(1.0)):
        out = augment_batch(aug, KEY, x[None])[0]
        assert out.dtype == x.dtype
        np.testing.assert_array_equal(np.asarray(out), np.asarray(x))


def test_identity_settings_keep_64_bit_pixels_exactly_with_x64():
    from jax_modes import x64_enabled

    with x64_enabled():
        for dtype in (jnp.uint64, jnp.int64):
            info = jnp.iinfo(dtype)
            x = jnp.array([[int(info.min), int(info.max), 2**53 + 1]], dtype)
            for aug in (additive_noise(0.0), random_zoom(1.0)):
                np.testing.assert_array_equal(np.asarray(aug(KEY, x)), np.asarray(x))


@pytest.mark.parametrize(
    "dtype,fill",
    [
        (jnp.float16, 1e5),  # was a border of inf
        (jnp.float16, -7e4),
        (jnp.float32, 1e39),
        (jnp.uint8, 300.0),  # was clipped to 255 without a word
        (jnp.uint8, -1.0),
        (jnp.int8, 128.0),
        (jnp.uint8, 255.6),  # rounds to 256
    ],
)
def test_a_fill_the_image_cannot_hold_is_refused(dtype, fill):
    x = jnp.ones((4, 4, 1), dtype)
    with pytest.raises(ValueError, match="`fill`") as caught:
        random_crop(2, fill=fill)(KEY, x)
    assert jnp.dtype(dtype).name in str(caught.value)


def test_the_largest_fill_an_image_holds_is_kept():
    for dtype, fill in ((jnp.float16, 65504.0), (jnp.uint8, 255.0), (jnp.int8, -128.0)):
        out = np.asarray(random_crop(2, fill=fill)(jax.random.key(3), jnp.zeros((4, 4), dtype)))
        assert set(out.ravel().tolist()) == {0, fill}, dtype


@pytest.mark.parametrize(
    "make,python",
    [
        (lambda: random_crop(np.int64(2)), lambda: random_crop(2)),
        (lambda: random_crop((np.int64(2), np.int32(1))), lambda: random_crop((2, 1))),
        (lambda: random_crop(np.array([2, 1])), lambda: random_crop((2, 1))),
        (lambda: random_crop(1, fill=np.float32(0.5)), lambda: random_crop(1, fill=0.5)),
        (lambda: random_zoom(np.float32(0.5)), lambda: random_zoom(0.5)),
        (lambda: random_zoom(jnp.float32(0.5)), lambda: random_zoom(0.5)),
        (
            lambda: random_zoom((np.float64(0.5), jnp.float32(0.75))),
            lambda: random_zoom((0.5, 0.75)),
        ),
        (lambda: random_zoom(np.array([0.5, 0.75])), lambda: random_zoom((0.5, 0.75))),
        (lambda: horizontal_flip(np.float32(0.5)), lambda: horizontal_flip(0.5)),
        (lambda: vertical_flip(jnp.float32(0.5)), lambda: vertical_flip(0.5)),
        (lambda: horizontal_flip(np.int64(1)), lambda: horizontal_flip(1)),
        (lambda: additive_noise(np.float32(0.5)), lambda: additive_noise(0.5)),
        (
            lambda: additive_noise(0.5, clip=np.array([0.0, 0.75])),
            lambda: additive_noise(0.5, clip=(0.0, 0.75)),
        ),
    ],
    ids=[
        "crop_int64",
        "crop_int64_pair",
        "crop_int_array",
        "crop_fill_float32",
        "zoom_float32",
        "zoom_jax_float32",
        "zoom_mixed_pair",
        "zoom_array",
        "hflip_float32",
        "vflip_jax_float32",
        "hflip_int64",
        "noise_float32",
        "noise_clip_array",
    ],
)
def test_numpy_and_jax_numbers_are_arguments_like_python_ones(make, python):
    # Before: random_crop(np.int64(2)) was refused as "not an int", random_zoom(np.float32)
    # and jnp.float32 as "not a float", though each is one.
    np.testing.assert_array_equal(make()(KEY, IMAGE), python()(KEY, IMAGE))


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: horizontal_flip(True), r"`p` must be a number.*got True"),
        (lambda: vertical_flip("0.5"), r"`p` must be a number.*got '0\.5'"),
        (lambda: horizontal_flip(np.bool_(True)), r"`p` must be a number.*got np\.True_"),
        (lambda: horizontal_flip(np.array([0.5])), r"`p` must be a number"),
        (lambda: random_crop(True), r"`padding` must be an int.*got True"),
        (lambda: random_crop((True, 1)), r"`padding` must be an int"),
        (lambda: random_crop("2"), r"`padding` must be an int"),
        (lambda: random_crop(2, fill="1"), r"`fill` must be a finite number.*got '1'"),
        (lambda: random_zoom(True), r"`scale` must be a float or a pair.*got True"),
        (lambda: random_zoom("0.8"), r"`scale` must be a float or a pair.*got '0\.8'"),
        (lambda: random_zoom("11"), r"`scale` must be a float or a pair.*got '11'"),
        (lambda: random_zoom(("0.5", "0.9")), r"`scale` must be a float or a pair"),
        (lambda: random_zoom((True, True)), r"`scale` must be a float or a pair"),
        (lambda: additive_noise(True), r"`stddev` must be a non-negative float.*got True"),
        (lambda: additive_noise("0.1"), r"`stddev` must be a non-negative float.*got '0\.1'"),
        (lambda: additive_noise(0.1, clip=("0", "1")), r"`clip` must be a pair"),
        (lambda: additive_noise(0.1, clip=(False, True)), r"`clip` must be a pair"),
        (lambda: additive_noise(0.1, clip=(0.0, float("nan"))), r"`clip` must be a pair"),
    ],
)
def test_bools_and_strings_are_no_numbers(make, match):
    # Before: horizontal_flip(True) flipped every image, horizontal_flip("0.5") and
    # random_zoom(True) were accepted, and random_zoom("11") zoomed by (1.0, 1.0).
    with pytest.raises(ValueError, match=match):
        make()
