"""chunked_mean: the exact mean over a data set, computed a chunk at a time."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxtrain.losses import _chunked, chunked_mean

W = np.array([0.5, -1.0, 2.0])


def _per_batch(x, y):
    """A pytree of batch means: squared error and the share of positive residuals."""
    residual = x @ jnp.asarray(W, x.dtype) - y
    return {"mse": jnp.mean(residual**2), "positive": jnp.mean((residual > 0).astype(x.dtype))}


def _reference(x, y):
    # NumPy float64, all examples at once: what the chunks must add up to.
    residual = np.asarray(x, np.float64) @ W - np.asarray(y, np.float64)
    return {"mse": np.mean(residual**2), "positive": np.mean(residual > 0)}


def _data(n, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    y = rng.normal(size=(n,)).astype(np.float32)
    return jnp.asarray(x), jnp.asarray(y)


@pytest.mark.parametrize(
    ("n", "chunk_size"),
    # Equal chunks only, chunks plus a remainder, a chunk larger than the data, one example.
    [(12, 4), (23, 5), (23, 1), (7, 50), (1, 3), (100, 7)],
)
def test_matches_the_float64_mean_for_any_chunk_size(n, chunk_size):
    x, y = _data(n)
    expected = _reference(x, y)
    eager = chunked_mean(_per_batch, (x, y), chunk_size=chunk_size)
    jitted = jax.jit(lambda x, y: chunked_mean(_per_batch, (x, y), chunk_size=chunk_size))(x, y)
    for out in (eager, jitted):
        assert set(out) == {"mse", "positive"}
        assert out["mse"].dtype == jnp.float32 and out["mse"].shape == ()
        np.testing.assert_allclose(out["mse"], expected["mse"], rtol=2e-6)
        np.testing.assert_allclose(out["positive"], expected["positive"], rtol=2e-6)


def test_each_example_is_counted_once():
    # The mean of the example index itself: any example dropped or repeated would show.
    n = 23
    index = jnp.arange(n, dtype=jnp.float32)
    out = chunked_mean(lambda i: (jnp.mean(i), jnp.mean(i**2)), (index,), chunk_size=5)
    expected = np.arange(n, dtype=np.float64)
    np.testing.assert_allclose(out, (expected.mean(), np.mean(expected**2)), rtol=1e-6)


def test_chunks_are_equal_sized_plus_one_remainder():
    sizes = []

    def record(x, y):
        sizes.append(x.shape[0])
        return jnp.mean(x)

    x, y = _data(103)
    chunked_mean(record, (x, y), chunk_size=5)
    # Traced for the 20 equal chunks together and once for the remainder of 3, not per chunk.
    assert set(sizes) == {5, 3} and len(sizes) <= 3


def test_differentiable_and_equal_to_the_full_batch_gradient():
    x, y = _data(23)

    def loss(w, chunk):
        def per_batch(xb, yb):
            return jnp.mean((xb @ w - yb) ** 2)

        return chunked_mean(per_batch, (x, y), chunk_size=chunk)

    w = jnp.asarray(W, jnp.float32)
    full = jax.grad(lambda w: jnp.mean((x @ w - y) ** 2))(w)
    np.testing.assert_allclose(jax.grad(loss)(w, 6), full, rtol=1e-5)
    np.testing.assert_allclose(jax.jit(jax.grad(loss), static_argnums=1)(w, 6), full, rtol=1e-5)


def test_the_same_function_and_shapes_compile_once():
    def per_batch(x, y):
        return jnp.mean(x @ jnp.ones(3) - y)

    x, y = _data(23)
    first = chunked_mean(per_batch, (x, y), chunk_size=5)
    compiled = _chunked._chunked_mean._cache_size()
    second = chunked_mean(per_batch, (x + 1.0, y), chunk_size=5)
    assert _chunked._chunked_mean._cache_size() == compiled, "new data, the same program"
    np.testing.assert_allclose(second, first + 3.0, rtol=1e-5)  # x·(1, 1, 1) grows by 3


def test_what_the_function_closes_over_is_read_at_each_call():
    # The function was compiled with what it held at its first call: a changed Python number,
    # or an NNX model an optimizer updated in place, gave the first call's mean forever.
    x, y = _data(23)
    scale = 1.0

    def scaled(xb, yb):
        return jnp.mean((scale * xb) ** 2)

    for scale in (1.0, 2.0):  # noqa: B007 (read by `scaled`)
        np.testing.assert_allclose(
            chunked_mean(scaled, (x, y), chunk_size=5), scaled(x, y), rtol=1e-5
        )

    model = nnx.Linear(3, 1, rngs=nnx.Rngs(0))

    def model_loss(xb, yb):
        return jnp.mean((model(xb)[:, 0] - yb) ** 2)

    before = chunked_mean(model_loss, (x, y), chunk_size=5)
    compiled = _chunked._chunked_mean._cache_size()
    model.kernel[...] = model.kernel[...] * 5.0
    after = chunked_mean(model_loss, (x, y), chunk_size=5)
    np.testing.assert_allclose(after, model_loss(x, y), rtol=1e-5)
    assert not np.isclose(after, before)
    # The model's arrays are arguments of the program, not constants in it: no recompiling.
    assert _chunked._chunked_mean._cache_size() == compiled


def test_bad_arguments_say_what_to_pass():
    x, y = _data(4)
    with pytest.raises(ValueError, match="chunk_size must be a positive int"):
        chunked_mean(_per_batch, (x, y), chunk_size=0)
    with pytest.raises(ValueError, match="chunk_size must be a positive int"):
        chunked_mean(_per_batch, (x, y), chunk_size=True)
    with pytest.raises(ValueError, match="same number of examples"):
        chunked_mean(_per_batch, (x, y[:3]), chunk_size=2)
    with pytest.raises(ValueError, match="no examples"):
        chunked_mean(_per_batch, (x[:0], y[:0]), chunk_size=2)
    with pytest.raises(ValueError, match="no examples"):
        chunked_mean(_per_batch, (jnp.float32(1.0),), chunk_size=2)
    with pytest.raises(ValueError, match="holds no arrays"):
        chunked_mean(_per_batch, (), chunk_size=2)


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_half_precision_losses_are_summed_in_float32(dtype):
    # Before: the running sum was kept in the loss's dtype: bfloat16 rounded later chunks
    # away (0.50 for a mean of 2.74 at chunk_size=1) and float16 overflowed to inf.
    values = jnp.asarray(np.random.default_rng(0).uniform(2.0, 3.5, 20_000), dtype)
    expected = float(jnp.mean(values.astype(jnp.float32)))
    for chunk_size in (1, 16, 4096):
        got = chunked_mean(jnp.mean, (values,), chunk_size=chunk_size)
        assert got.dtype == dtype
        assert float(got) == pytest.approx(expected, rel=1e-2), chunk_size


def test_integer_and_boolean_outputs_average_to_fractions():
    # Before the float32 sum they did; its first version cast the mean back to int32 (3 for
    # 3.2) and bool (True for 0.2). They average as their float32 values do.
    x = jnp.arange(10)
    for fn in (lambda xb: xb.sum(), lambda xb: jnp.all(xb % 3 == 0)):
        got = chunked_mean(fn, (x,), chunk_size=3)
        expected = chunked_mean(lambda xb, fn=fn: fn(xb).astype(jnp.float32), (x,), chunk_size=3)
        assert jnp.issubdtype(got.dtype, jnp.floating) and float(got) == pytest.approx(
            float(expected)
        )
        assert float(got) != round(float(got))  # a fraction, not truncated


def test_boolean_flags_are_counted_not_ored():
    # bool + bool is OR: per-chunk flags False, True, True averaged to 1/3 instead of 2/3.
    x = jnp.array([1.0, 1, 1, -1, 1, 1])  # chunk_size=2: chunks {x0, x3}, {x1, x4}, {x2, x5}
    got = chunked_mean(lambda xb: jnp.all(xb > 0), (x,), chunk_size=2)
    assert got.dtype == jnp.float32
    np.testing.assert_allclose(got, 2 / 3, rtol=1e-6)
    # Four in one chunk (a negative among them) and a remainder of two: (4·0 + 2·1)/6.
    np.testing.assert_allclose(
        chunked_mean(lambda xb: jnp.all(xb > 0), (x,), chunk_size=4), 1 / 3, rtol=1e-6
    )


def test_integer_outputs_are_summed_in_float32_without_overflow():
    # Three chunks of 2³⁰ each: an int32 running sum wraps past 2³¹ − 1.
    x = jnp.full((3,), 2**30, jnp.int32)
    got = chunked_mean(lambda xb: xb.sum(), (x,), chunk_size=1)
    assert got.dtype == jnp.float32
    np.testing.assert_allclose(got, 2**30, rtol=1e-6)
