"""ResNet: depth 6n+2, plain vs residual, switchable norm, the contract, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.flatten_util import ravel_pytree

from jaxtrain.nn import ResNet, functional
from jaxtrain.nn._resnet import _BasicBlock

X = jax.random.normal(jax.random.key(0), (4, 8, 8, 1))


def _conv_layers(params):
    flat = jax.tree_util.tree_flatten_with_path(params)[0]
    return [path for path, leaf in flat if leaf.ndim == 4 and "project" not in str(path)]


@pytest.mark.parametrize("depth", [8, 20, 56])
def test_depth_counts_weight_layers(depth):
    # Abstract construction and evaluation: structure and shapes without any compute.
    def make():
        return ResNet(1, 10, depth=depth, width=2, residual=False, rngs=nnx.Rngs(0))

    model = nnx.eval_shape(make)
    params = nnx.to_pure_dict(nnx.state(model, nnx.Param))
    # 6n convolutions in the blocks + the stem + the linear head.
    assert len(_conv_layers(params)) + 1 == depth
    assert nnx.eval_shape(lambda m: m(X), model).shape == (4, 10)


def test_plain_and_residual_differ_only_by_skips():
    plain = nnx.eval_shape(
        lambda: ResNet(1, 10, depth=14, width=4, residual=False, rngs=nnx.Rngs(0))
    )
    assert all(block.project is None for block in plain.blocks)
    deep = nnx.eval_shape(lambda: ResNet(1, 10, depth=14, width=4, rngs=nnx.Rngs(0)))
    # Projections appear exactly where the stage changes width and resolution.
    assert [block.project is not None for block in deep.blocks] == [
        False,
        False,
        True,
        False,
        True,
        False,
    ]
    # One block of the first stage, built alone (two kernels of one shape: cheap to build).
    block = _BasicBlock(
        4,
        4,
        1,
        residual=True,
        activation=jax.nn.relu,
        kernel_init=jax.nn.initializers.variance_scaling(2.0, "fan_in", "normal"),
        norm="batch",
        rngs=nnx.Rngs(0),
    )
    h = jax.random.normal(jax.random.key(1), (2, 8, 8, 4))

    @nnx.jit
    def both(block, h):
        inner = block.norm2(block.conv2(jax.nn.relu(block.norm1(block.conv1(h)))))
        return block(h), jax.nn.relu(inner + h)

    out, expected = both(block, h)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("norm", [None, "batch", "group", "layer", "instance"])
def test_norm_switch_through_the_contract(norm):
    def make():
        return ResNet(1, 3, depth=8, width=4, norm=norm, rngs=nnx.Rngs(0))

    # Abstract (shape-only) model unless values are needed: the contract works on it too.
    apply, params, state = functional(make() if norm == "batch" else nnx.eval_shape(make))
    y, new_state = jax.eval_shape(lambda p, s: apply(p, s, X, train=True), params, state)
    assert y.shape == (4, 3)
    assert (state != {}) == (norm == "batch")
    assert jax.tree.structure(new_state) == jax.tree.structure(state)
    if norm == "batch":
        assert (
            ravel_pytree(params)[0].size > 0
        )  # one compiled run: running statistics move, eval output is finite
        _, new_state = apply(params, state, X, train=True)
        y_eval, _ = apply(params, new_state, X, train=False)
        assert np.all(np.isfinite(np.asarray(y_eval)))
        assert float(jnp.abs(new_state["stem_norm"]["mean"]).max()) > 0


def test_gradients_reach_the_stem_through_every_stage():
    apply, params, state = functional(ResNet(1, 3, depth=8, width=2, rngs=nnx.Rngs(0)))

    def loss(p):
        return jnp.sum(apply(p, state, X, train=True)[0] ** 2)

    grads = jax.jit(jax.grad(loss))(params)
    assert float(jnp.abs(grads["stem"]["kernel"]).max()) > 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"depth": 18}, "6n"), ({"depth": 2}, "6n"), ({"width": 0}, "width must be an int ≥ 1")],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ResNet(1, 10, **kwargs, rngs=nnx.Rngs(0))
