"""MLP: shapes, options, initialization per activation, errors."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxtrain.nn import CNN, MLP, BatchNorm, LayerNorm, ResNet, functional

X = jax.random.normal(jax.random.key(0), (16, 10))


@pytest.mark.parametrize(
    ("activation", "norm"),
    [
        ("relu", None),
        ("tanh", None),
        ("sigmoid", "batch"),
        ("gelu", "layer"),
        ("identity", "batch"),
        (jnp.sin, "layer"),
    ],
)
def test_shapes_for_every_activation_and_norm(activation, norm):
    model = MLP(10, 12, 4, depth=2, activation=activation, norm=norm, rngs=nnx.Rngs(0))
    apply, params, state = functional(model)
    # Traced, not compiled: the structure and shapes are what is checked here.
    y, new_state = jax.eval_shape(lambda p, s: apply(p, s, X, train=True), params, state)
    assert y.shape == (16, 4)
    assert jax.tree.structure(new_state) == jax.tree.structure(state)
    assert ("norm" in params["layers"]["0"]) == (norm is not None)
    # BatchNorm subtracts each feature's mean, which cancels the linear layer's bias, so that
    # bias is left out; LayerNorm subtracts one mean over the features, and a bias survives.
    assert ("bias" in params["layers"]["0"]["linear"]) == (norm != "batch")


@pytest.mark.parametrize(
    ("norm", "bias"),
    [
        (None, True),
        ("batch", False),
        ("layer", True),
        (BatchNorm, False),
        (functools.partial(nnx.BatchNorm, momentum=0.9), False),
        (nnx.LayerNorm, True),
        (nnx.RMSNorm, True),
    ],
    ids=["none", "batch", "layer", "BatchNorm", "partial_nnx_BatchNorm", "nnx_LayerNorm", "RMS"],
)
def test_a_bias_is_left_out_only_where_the_norm_cancels_it(norm, bias):
    # With LayerNorm the bias's differences between features survive, with RMSNorm all of
    # it: leaving it out there would change the model, not just save parameters.
    model = MLP(10, 8, 3, depth=1, norm=norm, rngs=nnx.Rngs(0))
    assert (model.layers[0].linear.bias is not None) == bias


def test_norm_modules_and_factory():
    model = MLP(10, 8, 3, depth=2, norm="batch", rngs=nnx.Rngs(0))
    assert isinstance(model.layers[0].norm, BatchNorm)
    assert isinstance(MLP(10, 8, 3, norm="layer", rngs=nnx.Rngs(0)).layers[1].norm, LayerNorm)
    flax_bn = functools.partial(nnx.BatchNorm, use_fast_variance=False)
    theirs = MLP(10, 8, 3, depth=2, norm=flax_bn, rngs=nnx.Rngs(0))
    assert isinstance(theirs.layers[0].norm, nnx.BatchNorm)
    # Same rng consumption: swapping the norm class keeps every weight identical.
    np.testing.assert_array_equal(theirs.head.kernel[...], model.head.kernel[...])
    np.testing.assert_allclose(theirs(X), model(X), rtol=1e-6, atol=1e-6)


def test_depth_zero_is_linear_and_residual_skips_hidden_layers():
    linear = MLP(10, 8, 3, depth=0, rngs=nnx.Rngs(0))
    assert len(linear.layers) == 0
    np.testing.assert_allclose(linear(X), X @ linear.head.kernel[...] + linear.head.bias[...])
    res = MLP(10, 8, 3, depth=3, residual=True, rngs=nnx.Rngs(0))
    assert [layer.residual for layer in res.layers] == [False, True, True]
    h = res.layers[0](X)
    np.testing.assert_allclose(res.layers[1](h), h + jax.nn.relu(res.layers[1].linear(h)))


@pytest.mark.parametrize(
    ("activation", "expected_var"),
    [("relu", 2.0 / 256), ("tanh", 2.0 / (256 + 256)), ("identity", 1.0 / 256)],
)
def test_initialization_follows_activation(activation, expected_var):
    model = MLP(256, 256, 2, depth=2, activation=activation, rngs=nnx.Rngs(0))
    var = float(jnp.var(model.layers[1].linear.kernel[...]))
    np.testing.assert_allclose(var, expected_var, rtol=0.05)


def test_relu_he_init_keeps_signal_scale_through_depth():
    model = MLP(256, 256, 2, depth=10, rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(1), (512, 256))
    h = x
    for layer in model.layers:
        h = layer(h)
    ratio = float(jnp.mean(h**2) / jnp.mean(jax.nn.relu(model.layers[0].linear(x)) ** 2))
    assert 0.3 < ratio < 3.0


def test_dropout_only_in_training():
    model = MLP(10, 64, 3, depth=1, dropout=0.5, rngs=nnx.Rngs(0))
    apply, params, state = functional(model)
    y_train, _ = apply(params, state, X, train=True, rng=jax.random.key(0))
    y_eval, _ = apply(params, state, X, train=False)
    model.eval()
    np.testing.assert_allclose(y_eval, model(X), rtol=1e-6)
    assert float(jnp.abs(y_train - y_eval).max()) > 1e-3


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"activation": "swish"}, "unknown activation"),
        ({"norm": "group"}, "unknown norm"),
        ({"depth": -1}, "depth"),
        ({"dropout": 1.0}, "dropout"),
        ({"hidden": 0}, "hidden must be an int ≥ 1"),
    ],
)
def test_bad_arguments(kwargs, match):
    args = {"in_features": 10, "hidden": 8, "out_features": 3, **kwargs}
    with pytest.raises(ValueError, match=match):
        MLP(**args, rngs=nnx.Rngs(0))


@pytest.mark.parametrize(
    ("make", "match"),
    [
        # Each failed deep in the layers: TypeError from range, ZeroDivisionError, MLIRError.
        (lambda: MLP(4, 8, 2, depth=2.0, rngs=nnx.Rngs(0)), r"depth must be an int ≥ 0, got 2.0"),
        (lambda: CNN(1, 10, kernel_size=0, rngs=nnx.Rngs(0)), r"kernel_size must be an int ≥ 1"),
        (lambda: CNN(1, 10, kernel_size=-1, rngs=nnx.Rngs(0)), r"kernel_size must be an int ≥ 1"),
        (lambda: ResNet(3, 10, depth=20.0, rngs=nnx.Rngs(0)), r"depth must be an int ≥ 1"),
        (lambda: CNN(1, 10, channels=(4, 0), rngs=nnx.Rngs(0)), r"channels\[1\] must be"),
    ],
)
def test_sizes_that_are_no_counts_are_refused_by_name(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("norm", ["instance", "InstanceNorm"])
def test_instance_normalization_is_refused_where_there_are_no_positions(norm):
    # Before: the InstanceNorm factory was taken, normalized each hidden feature over its one
    # value, set every activation to β, and the MLP stayed at chance without a word.
    from jaxtrain.nn import InstanceNorm

    chosen = InstanceNorm if norm == "InstanceNorm" else norm
    with pytest.raises(ValueError, match=r"instance normalization .* needs image positions"):
        MLP(10, 8, 3, depth=1, norm=chosen, rngs=nnx.Rngs(0))


@pytest.mark.parametrize("group_norm", ["jaxtrain", "flax"])
def test_group_normalization_of_one_feature_per_group_is_refused_too(group_norm):
    # Group norm with as many groups as features normalizes each feature alone, as instance
    # normalization does: the MLP's output was the same for every input.
    from jaxtrain.nn import GroupNorm

    layer = GroupNorm if group_norm == "jaxtrain" else nnx.GroupNorm
    with pytest.raises(ValueError, match="normalizes each feature alone"):
        MLP(10, 8, 3, depth=1, norm=functools.partial(layer, num_groups=8), rngs=nnx.Rngs(0))
    MLP(10, 8, 3, depth=1, norm=functools.partial(layer, num_groups=2), rngs=nnx.Rngs(0))


def test_a_layer_that_only_looks_like_group_norm_is_not_refused():
    # The refusal went by a `num_groups` attribute alone: a user's module that is no norm,
    # and jaxtrain's GroupNorm normalizing each feature over the batch (reduction over the
    # batch axis too: a BatchNorm-like layer), were refused.
    from jaxtrain.nn import GroupNorm

    class Gate(nnx.Module):
        def __init__(self, num_features, *, rngs):
            self.num_groups = num_features  # a name, not a normalization

        def __call__(self, x):
            return x

    over_batch = functools.partial(GroupNorm, num_groups=None, group_size=1, reduction_axes=(0, 1))
    for norm in (Gate, over_batch):
        model = MLP(10, 8, 3, depth=1, norm=norm, rngs=nnx.Rngs(0))
        assert model(jnp.ones((4, 10))).shape == (4, 3)
