"""Filter-normalized random directions (Li et al. 2018)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxtrain.landscape import filter_normalize, random_direction


def _params():
    rng = np.random.default_rng(0)
    return {
        "conv": jnp.asarray(rng.standard_normal((3, 3, 2, 4)), jnp.float32),  # (H, W, in, out)
        "dense": jnp.asarray(rng.standard_normal((5, 3)), jnp.float32),
        "bias": jnp.asarray(rng.standard_normal(3), jnp.float32),
        "scale": jnp.asarray(2.0, jnp.float32),
    }


def _filter_norms(x, axis=-1):
    axes = tuple(i for i in range(x.ndim) if i != axis % x.ndim)
    return np.sqrt(np.sum(np.asarray(x) ** 2, axis=axes))


def test_each_filter_matches_the_parameters_norm():
    params = _params()
    d = random_direction(jax.random.key(0), params)
    assert jax.tree.structure(d) == jax.tree.structure(params)
    for name in ("conv", "dense"):
        assert d[name].shape == params[name].shape and d[name].dtype == params[name].dtype
        np.testing.assert_allclose(_filter_norms(d[name]), _filter_norms(params[name]), rtol=1e-5)
    # Biases and other 1-D or scalar leaves are not perturbed (the paper's choice).
    np.testing.assert_array_equal(np.asarray(d["bias"]), 0.0)
    assert float(d["scale"]) == 0.0


def test_one_d_leaves_normalized_as_a_whole_when_asked():
    params = _params()
    d = random_direction(jax.random.key(0), params, zero_1d=False)
    np.testing.assert_allclose(
        float(jnp.linalg.norm(d["bias"])), float(jnp.linalg.norm(params["bias"])), rtol=1e-5
    )
    np.testing.assert_allclose(abs(float(d["scale"])), 2.0, rtol=1e-5)


def test_filter_axis_for_pytorch_layouts():
    params = {"w": jnp.asarray(np.random.default_rng(1).standard_normal((4, 6)), jnp.float32)}
    d = random_direction(jax.random.key(1), params, filter_axis=0)  # (out, in) rows
    np.testing.assert_allclose(
        _filter_norms(d["w"], axis=0), _filter_norms(params["w"], axis=0), rtol=1e-5
    )


def test_same_key_same_direction_and_different_keys_nearly_orthogonal():
    params = {"w": jnp.ones((200, 50))}
    a = random_direction(jax.random.key(0), params)
    b = random_direction(jax.random.key(0), params)
    c = random_direction(jax.random.key(1), params)
    np.testing.assert_array_equal(np.asarray(a["w"]), np.asarray(b["w"]))
    cosine = float(jnp.vdot(a["w"], c["w"]) / (jnp.linalg.norm(a["w"]) * jnp.linalg.norm(c["w"])))
    assert abs(cosine) < 0.05


def test_unnormalized_direction_is_standard_normal():
    params = {"w": jnp.zeros((100, 100))}
    d = random_direction(jax.random.key(2), params, filter_normalize=False)
    assert abs(float(jnp.std(d["w"])) - 1.0) < 0.02


def test_zero_filters_stay_finite():
    params = {"w": jnp.zeros((3, 2))}  # zero-initialized layer: the direction is zero too
    d = random_direction(jax.random.key(0), params)
    np.testing.assert_array_equal(np.asarray(d["w"]), 0.0)
    d = filter_normalize({"w": jnp.zeros((3, 2))}, {"w": jnp.ones((3, 2))})
    np.testing.assert_array_equal(np.asarray(d["w"]), 0.0)


def test_mismatched_structures_are_refused():
    with pytest.raises(ValueError, match="same pytree structure"):
        filter_normalize({"a": jnp.ones(2)}, {"b": jnp.ones(2)})
    with pytest.raises(ValueError, match="does not match parameter"):
        filter_normalize({"a": jnp.ones((2, 2))}, {"a": jnp.ones((2, 3))})


@pytest.mark.parametrize(
    ("scale", "fan_in"),
    [(1e-4, 1000), (0.01, 70_000)],  # float16 squares underflow to 0 / sums overflow to inf
)
def test_half_precision_filters_get_the_norm_of_theirs(scale, fan_in):
    params = {"w": jnp.full((fan_in, 2), scale, jnp.float16)}
    d = random_direction(jax.random.key(0), params)
    assert d["w"].dtype == jnp.float16
    expected = scale * np.sqrt(fan_in)
    np.testing.assert_allclose(_filter_norms(d["w"].astype(jnp.float32)), expected, rtol=1e-2)


def test_a_bias_is_told_by_its_number_of_dimensions():
    # Attention's (heads, head_dim) bias is 2-D: normalized per filter, not zeroed.
    params = {"bias": jnp.ones((2, 4)), "b": jnp.ones(4)}
    d = random_direction(jax.random.key(0), params)
    np.testing.assert_allclose(_filter_norms(d["bias"]), np.sqrt(2.0), rtol=1e-5)
    np.testing.assert_array_equal(np.asarray(d["b"]), 0.0)


def test_python_float_leaves_are_scalars():
    d = filter_normalize({"w": 3.0, "k": jnp.ones((2, 2))}, {"w": 2.0, "k": jnp.ones((2, 2))})
    assert float(d["w"]) == 0.0
    d = filter_normalize({"w": 3.0}, {"w": -2.0}, zero_1d=False)
    assert float(d["w"]) == 2.0


@pytest.mark.parametrize("filter_axis", [2, -3])
def test_a_filter_axis_outside_the_leaf_is_refused(filter_axis):
    with pytest.raises(ValueError, match="filter_axis"):
        random_direction(jax.random.key(0), {"w": jnp.ones((3, 2))}, filter_axis=filter_axis)


def test_integer_leaves_are_refused_by_name():
    params = {"w": jnp.ones((3, 2)), "count": jnp.zeros((), jnp.int32)}
    with pytest.raises(ValueError, match=r"\['count'\].*int32"):
        random_direction(jax.random.key(0), params)
    with pytest.raises(ValueError, match=r"\['count'\].*int32"):
        filter_normalize(params, params)


def test_an_integer_direction_is_normalized_in_floating_point():
    # The result was cast to the direction's dtype: integer directions came back truncated.
    d = filter_normalize({"w": jnp.array([[1, 0], [0, 2]])}, {"w": jnp.ones((2, 2))})
    np.testing.assert_allclose(np.asarray(d["w"]), np.sqrt(2.0) * np.eye(2), rtol=1e-6)


def test_float8_parameters_get_directions():
    params = {"w": jnp.ones((4, 2), jnp.float8_e4m3fn)}
    d = random_direction(jax.random.key(0), params)
    assert d["w"].dtype == jnp.float8_e4m3fn
    np.testing.assert_allclose(_filter_norms(d["w"].astype(jnp.float32)), 2.0, rtol=0.1)


def test_complex_filters_get_the_norm_of_theirs():
    # The norms summed d², not |d|²: for d = [[i], [1]] that is 0, and a filter of θ of norm
    # √2 came back as [[i], [1]] · √2 / 1 (the zero-norm guard) or complex garbage.
    params = {"w": jnp.asarray([[1 + 1j], [1 - 1j]], jnp.complex64)}
    d = jax.jit(filter_normalize)({"w": jnp.asarray([[1j], [1.0]], jnp.complex64)}, params)
    assert d["w"].dtype == jnp.complex64
    np.testing.assert_allclose(np.linalg.norm(np.asarray(d["w"]), axis=0), [2.0], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(d["w"]), [[np.sqrt(2) * 1j], [np.sqrt(2)]], rtol=1e-6)
