"""LayerNorm, GroupNorm, InstanceNorm: equal to Flax (nnx, linen) and to NumPy."""

import flax.linen as linen
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxtrain.nn import GroupNorm, InstanceNorm, LayerNorm

RTOL, ATOL = 1e-5, 1e-5
X_DENSE = 1.0 + 2.0 * jax.random.normal(jax.random.key(0), (6, 8))
X_IMAGE = -1.0 + 3.0 * jax.random.normal(jax.random.key(1), (3, 5, 4, 8))


def _perturb_affine(ours, theirs):
    """Non-trivial γ, β in both, so the comparison covers scale and shift too."""
    for name, offset in (("scale", 1.5), ("bias", 0.3)):
        value = offset + jax.random.normal(jax.random.key(len(name)), (8,))
        getattr(ours, name)[...] = value
        getattr(theirs, name)[...] = value


def _numpy_norm(x, axes, eps):
    x = np.asarray(x, np.float64)
    mean = x.mean(axes, keepdims=True)
    return (x - mean) / np.sqrt(x.var(axes, keepdims=True) + eps)


@pytest.mark.parametrize("x", [X_DENSE, X_IMAGE])
def test_layer_norm_equals_nnx(x):
    ours = LayerNorm(8, rngs=nnx.Rngs(0))
    theirs = nnx.LayerNorm(8, use_fast_variance=False, rngs=nnx.Rngs(0))
    _perturb_affine(ours, theirs)
    np.testing.assert_allclose(ours(x), theirs(x), rtol=RTOL, atol=ATOL)


def test_layer_norm_over_several_axes_equals_nnx_and_numpy():
    ours = LayerNorm(8, reduction_axes=(1, 2, 3), rngs=nnx.Rngs(0))
    theirs = nnx.LayerNorm(8, reduction_axes=(1, 2, 3), use_fast_variance=False, rngs=nnx.Rngs(0))
    np.testing.assert_allclose(ours(X_IMAGE), theirs(X_IMAGE), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(
        ours(X_IMAGE), _numpy_norm(X_IMAGE, (1, 2, 3), 1e-6), rtol=RTOL, atol=ATOL
    )


@pytest.mark.parametrize(("num_groups", "group_size"), [(1, None), (2, None), (None, 1)])
def test_group_norm_equals_nnx_and_linen(num_groups, group_size):
    kwargs = {"num_groups": num_groups, "group_size": group_size}
    ours = GroupNorm(8, **kwargs, rngs=nnx.Rngs(0))
    theirs = nnx.GroupNorm(8, **kwargs, use_fast_variance=False, rngs=nnx.Rngs(0))
    _perturb_affine(ours, theirs)
    np.testing.assert_allclose(ours(X_IMAGE), theirs(X_IMAGE), rtol=RTOL, atol=ATOL)
    net = linen.GroupNorm(**kwargs, use_fast_variance=False)
    variables = {"params": {"scale": ours.scale[...], "bias": ours.bias[...]}}
    np.testing.assert_allclose(ours(X_IMAGE), net.apply(variables, X_IMAGE), rtol=RTOL, atol=ATOL)


def test_group_norm_one_group_is_layer_norm_over_image():
    y = GroupNorm(8, num_groups=1, rngs=nnx.Rngs(0))(X_IMAGE)
    np.testing.assert_allclose(y, _numpy_norm(X_IMAGE, (1, 2, 3), 1e-6), rtol=RTOL, atol=ATOL)


def test_instance_norm_equals_flax_and_numpy():
    ours = InstanceNorm(8, rngs=nnx.Rngs(0))
    expected = _numpy_norm(X_IMAGE, (1, 2), 1e-6)
    np.testing.assert_allclose(ours(X_IMAGE), expected, rtol=RTOL, atol=ATOL)
    # Linen's InstanceNorm exists in both supported flax versions; nnx's only from 0.12.0.
    net = linen.InstanceNorm(use_fast_variance=False)
    variables = net.init(jax.random.key(0), X_IMAGE)
    np.testing.assert_allclose(ours(X_IMAGE), net.apply(variables, X_IMAGE), rtol=RTOL, atol=ATOL)
    if hasattr(nnx, "InstanceNorm"):
        theirs = nnx.InstanceNorm(8, use_fast_variance=False, rngs=nnx.Rngs(0))
        _perturb_affine(ours, theirs)
        np.testing.assert_allclose(ours(X_IMAGE), theirs(X_IMAGE), rtol=RTOL, atol=ATOL)


def test_instance_norm_is_group_norm_with_one_channel_per_group():
    np.testing.assert_allclose(
        InstanceNorm(8, rngs=nnx.Rngs(0))(X_IMAGE),
        GroupNorm(8, num_groups=None, group_size=1, rngs=nnx.Rngs(0))(X_IMAGE),
        rtol=RTOL,
        atol=ATOL,
    )


@pytest.mark.parametrize(
    ("make", "x"),
    [
        (lambda: LayerNorm(8, rngs=nnx.Rngs(0)), X_IMAGE),
        (lambda: GroupNorm(8, num_groups=4, rngs=nnx.Rngs(0)), X_IMAGE),
        (lambda: InstanceNorm(8, rngs=nnx.Rngs(0)), X_IMAGE),
    ],
)
def test_per_example_norms_ignore_the_rest_of_the_batch(make, x):
    norm = make()
    np.testing.assert_allclose(norm(x)[:1], norm(x[:1]), rtol=RTOL, atol=ATOL)
    assert nnx.state(norm, nnx.BatchStat) == nnx.State({})


def test_large_mean_small_spread_two_pass():
    x = 1e3 + 0.1 * jax.random.normal(jax.random.key(2), (4, 256))
    exact = _numpy_norm(x, (1,), 1e-6)
    ours = LayerNorm(256, rngs=nnx.Rngs(0))(x)
    flax_default = nnx.LayerNorm(256, rngs=nnx.Rngs(0))(x)
    assert float(np.abs(ours - exact).max()) < 1e-2
    assert float(np.abs(flax_default - exact).max()) > 1.0


def test_no_scale_no_bias_and_jit():
    norm = GroupNorm(8, num_groups=2, use_scale=False, use_bias=False, rngs=nnx.Rngs(0))
    assert nnx.state(norm, nnx.Param) == nnx.State({})
    y = nnx.jit(lambda m, x: m(x))(norm, X_IMAGE)
    assert y.dtype == jnp.float32 and y.shape == X_IMAGE.shape


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: GroupNorm(8, num_groups=3, rngs=nnx.Rngs(0)), "does not divide"),
        (lambda: GroupNorm(8, num_groups=None, group_size=3, rngs=nnx.Rngs(0)), "does not divide"),
        (lambda: GroupNorm(8, num_groups=2, group_size=4, rngs=nnx.Rngs(0)), "exactly one"),
        (lambda: LayerNorm(0, rngs=nnx.Rngs(0)), "positive"),
        (lambda: LayerNorm(5, rngs=nnx.Rngs(0))(X_DENSE), "expected 5 features"),
        (lambda: InstanceNorm(8, feature_axes=0, rngs=nnx.Rngs(0))(X_DENSE), "batch axis"),
        (
            lambda: GroupNorm(8, num_groups=2, reduction_axes=(1, 2), rngs=nnx.Rngs(0))(X_IMAGE),
            "channel axis",
        ),
        (lambda: GroupNorm(4, num_groups=2, rngs=nnx.Rngs(0))(X_IMAGE), "expected 4 features"),
        (lambda: LayerNorm(8, reduction_axes=5, rngs=nnx.Rngs(0))(X_DENSE), "out of range"),
    ],
)
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def _masked_norm(x, mask, axes, eps):
    """(x − μ)/√(σ² + ε) with μ, σ² over the kept entries of ``axes``, in float64 NumPy."""
    x = np.asarray(x, np.float64)
    mask = np.broadcast_to(mask, x.shape)
    count = mask.sum(axes, keepdims=True)
    mean = (x * mask).sum(axes, keepdims=True) / count
    var = (mask * (x - mean) ** 2).sum(axes, keepdims=True) / count
    return (x - mean) / np.sqrt(var + eps)


@pytest.mark.parametrize(
    ("make", "shape", "split_axis", "group_shape", "axes"),
    [
        # features split across the replicas: each example's statistics span both halves
        (lambda: LayerNorm(4, axis_name="r", rngs=nnx.Rngs(0)), (3, 4), 1, None, (1,)),
        # image rows split across the replicas
        (lambda: InstanceNorm(4, axis_name="r", rngs=nnx.Rngs(0)), (2, 3, 4), 1, None, (1,)),
        (
            lambda: GroupNorm(4, num_groups=2, axis_name="r", rngs=nnx.Rngs(0)),
            (2, 3, 4),
            1,
            (2, 6, 2, 2),
            (1, 3),
        ),
    ],
    ids=["layer", "instance", "group"],
)
def test_axis_name_with_mask_normalizes_with_the_pooled_kept_entries(
    make, shape, split_axis, group_shape, axes
):
    # Before: the replicas' masked statistics were averaged with equal weight, not pooled.
    rng = np.random.default_rng(1)
    x = (1.0 + 2.0 * rng.standard_normal((2, *shape))).astype(np.float32)
    # Replica 0 keeps about a third of its entries, replica 1 all of them (so no group is empty).
    mask = np.stack([rng.random(shape) < 0.3, np.ones(shape, bool)])
    norm = make()
    y = nnx.jit(nnx.vmap(lambda m, x, k: m(x, mask=k), in_axes=(None, 0, 0), axis_name="r"))(
        norm, jnp.asarray(x), jnp.asarray(mask)
    )
    pooled_x, pooled_mask = (np.concatenate(list(a), axis=split_axis) for a in (x, mask))
    if group_shape is not None:
        pooled_x, pooled_mask = pooled_x.reshape(group_shape), pooled_mask.reshape(group_shape)
    expected = _masked_norm(pooled_x, pooled_mask, axes, norm.epsilon).reshape(
        np.concatenate(list(x), axis=split_axis).shape
    )
    np.testing.assert_allclose(
        np.concatenate(list(y), axis=split_axis), expected, rtol=RTOL, atol=ATOL
    )
