"""BatchNorm: equal to flax.nnx and flax.linen, PyTorch's convention, modes, statistics."""

import re
import warnings

import flax.linen as linen
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxtrain.nn import BatchNorm, functional

RTOL, ATOL = 1e-6, 1e-6


def _batches(n=20, shape=(16, 5), seed=0):
    keys = jax.random.split(jax.random.key(seed), n)
    return [2.0 + 3.0 * jax.random.normal(k, shape) for k in keys]


def _assert_same_stats(ours, theirs):
    np.testing.assert_allclose(ours.mean[...], theirs.mean[...], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(ours.var[...], theirs.var[...], rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("momentum", [0.9, 0.99])
@pytest.mark.parametrize("shape", [(16, 5), (4, 3, 3, 5)])
def test_equals_nnx_batchnorm_over_many_updates(momentum, shape):
    ours = BatchNorm(5, momentum=momentum, rngs=nnx.Rngs(0))
    theirs = nnx.BatchNorm(5, momentum=momentum, use_fast_variance=False, rngs=nnx.Rngs(0))
    for x in _batches(shape=shape):
        np.testing.assert_allclose(ours(x), theirs(x), rtol=RTOL, atol=ATOL)
    _assert_same_stats(ours, theirs)
    ours.eval()
    theirs.eval()
    x = _batches(1, shape, seed=9)[0]
    np.testing.assert_allclose(ours(x), theirs(x), rtol=RTOL, atol=ATOL)


def test_equals_nnx_without_scale_and_bias_and_with_fast_variance():
    kwargs = {"use_scale": False, "use_bias": False, "epsilon": 1e-3, "rngs": nnx.Rngs(0)}
    ours = BatchNorm(5, use_fast_variance=True, **kwargs)
    theirs = nnx.BatchNorm(5, use_fast_variance=True, **kwargs)
    assert nnx.state(ours, nnx.Param) == nnx.state(theirs, nnx.Param)
    for x in _batches(5):
        np.testing.assert_allclose(ours(x), theirs(x), rtol=RTOL, atol=ATOL)
    _assert_same_stats(ours, theirs)


def test_equals_linen_batchnorm_in_both_modes():
    ours = BatchNorm(5, momentum=0.9, rngs=nnx.Rngs(0))
    net = linen.BatchNorm(momentum=0.9, use_fast_variance=False)
    variables = net.init(jax.random.key(0), _batches(1)[0], use_running_average=False)
    for x in _batches(10):
        y, updates = net.apply(variables, x, use_running_average=False, mutable=["batch_stats"])
        variables = {"params": variables["params"], **updates}
        np.testing.assert_allclose(ours(x), y, rtol=RTOL, atol=ATOL)
    stats = variables["batch_stats"]
    np.testing.assert_allclose(ours.mean[...], stats["mean"], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(ours.var[...], stats["var"], rtol=RTOL, atol=ATOL)
    x = _batches(1, seed=7)[0]
    np.testing.assert_allclose(
        ours(x, use_running_average=True),
        net.apply(variables, x, use_running_average=True),
        rtol=RTOL,
        atol=ATOL,
    )


def _torch_batchnorm_reference(batches, momentum_torch, eps):
    """PyTorch's BatchNorm1d training-mode formulas in float64 NumPy (torch may be absent)."""
    running_mean = np.zeros(batches[0].shape[-1])
    running_var = np.ones(batches[0].shape[-1])
    outputs = []
    for x in batches:
        x = np.asarray(x, np.float64)
        n = x.shape[0]
        mean, var = x.mean(0), x.var(0)  # normalizes with the biased variance
        outputs.append((x - mean) / np.sqrt(var + eps))
        running_mean = (1 - momentum_torch) * running_mean + momentum_torch * mean
        # ...but stores the unbiased one.
        running_var = (1 - momentum_torch) * running_var + momentum_torch * var * n / (n - 1)
    return outputs, running_mean, running_var


def test_pytorch_convention_under_the_documented_mapping():
    momentum_torch, eps = 0.1, 1e-5
    batches = _batches(15)
    outputs, torch_mean, torch_var = _torch_batchnorm_reference(batches, momentum_torch, eps)
    ours = BatchNorm(5, momentum=1 - momentum_torch, epsilon=eps, rngs=nnx.Rngs(0))
    for x, expected in zip(batches, outputs, strict=True):
        np.testing.assert_allclose(ours(x), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ours.mean[...], torch_mean, rtol=1e-5)
    # Same running mean; the variances differ exactly by PyTorch's n/(n−1) Bessel factor,
    # applied to every batch's contribution (the initial 1 decays identically).
    n = batches[0].shape[0]
    initial = (1 - momentum_torch) ** len(batches)
    np.testing.assert_allclose(
        (torch_var - initial) * (n - 1) / n, ours.var[...] - initial, rtol=1e-5, atol=1e-6
    )


def test_pytorch_itself_when_installed():
    torch = pytest.importorskip("torch")
    momentum_torch, eps = 0.1, 1e-5
    batches = _batches(10)
    theirs = torch.nn.BatchNorm1d(5, momentum=momentum_torch, eps=eps, dtype=torch.float64)
    ours = BatchNorm(5, momentum=1 - momentum_torch, epsilon=eps, rngs=nnx.Rngs(0))
    n = batches[0].shape[0]
    ours_unbiased_var = np.ones(5)
    for x in batches:
        expected = theirs(torch.from_numpy(np.asarray(x, np.float64))).detach().numpy()
        np.testing.assert_allclose(ours(x), expected, rtol=1e-5, atol=1e-5)
        # PyTorch's running variance is ours fed with σ²·n/(n−1) instead of σ².
        batch_var = np.asarray(x, np.float64).var(0) * n / (n - 1)
        ours_unbiased_var = (1 - momentum_torch) * ours_unbiased_var + momentum_torch * batch_var
    np.testing.assert_allclose(ours.mean[...], theirs.running_mean.numpy(), rtol=1e-5)
    np.testing.assert_allclose(ours_unbiased_var, theirs.running_var.numpy(), rtol=1e-5)


def test_large_mean_small_spread_keeps_its_variance():
    """Flax's default fast variance E[x²]−E[x]² collapses here; two-pass does not."""
    x = 1e3 + 0.1 * jax.random.normal(jax.random.key(0), (256, 4))
    exact = (np.asarray(x, np.float64) - np.asarray(x, np.float64).mean(0)) / np.sqrt(
        np.asarray(x, np.float64).var(0) + 1e-5
    )
    ours = BatchNorm(4, rngs=nnx.Rngs(0))(x)
    flax_default = nnx.BatchNorm(4, rngs=nnx.Rngs(0))(x)
    assert float(np.abs(ours - exact).max()) < 1e-2
    assert float(np.abs(flax_default - exact).max()) > 100 * float(np.abs(ours - exact).max())


def test_parameters_start_at_identity_and_state_is_batchstat():
    bn = BatchNorm(4, rngs=nnx.Rngs(0))
    np.testing.assert_array_equal(bn.scale[...], jnp.ones(4))
    np.testing.assert_array_equal(bn.bias[...], jnp.zeros(4))
    assert set(nnx.state(bn, nnx.BatchStat)) == {"mean", "var"}
    assert set(nnx.state(bn, nnx.Param)) == {"scale", "bias"}


def test_eval_and_train_switch_use_running_average():
    bn = BatchNorm(3, rngs=nnx.Rngs(0))
    bn.eval()
    assert bn.use_running_average is True
    x = 5.0 + jax.random.normal(jax.random.key(0), (8, 3))
    # Fresh running statistics (0, 1): eval is nearly the identity and nothing moves.
    np.testing.assert_allclose(bn(x), x / np.sqrt(1 + 1e-5), rtol=1e-6)
    np.testing.assert_array_equal(bn.mean[...], jnp.zeros(3))
    bn.train()
    assert bn.use_running_average is False
    bn(x)
    assert float(jnp.abs(bn.mean[...]).min()) > 0
    constructed_eval = BatchNorm(3, use_running_average=True, rngs=nnx.Rngs(0))
    np.testing.assert_allclose(constructed_eval(x), x / np.sqrt(1 + 1e-5), rtol=1e-6)


def test_batch_of_one_with_batch_statistics_outputs_beta():
    bn = BatchNorm(3, rngs=nnx.Rngs(0))
    np.testing.assert_allclose(bn(jnp.array([[1.0, -2.0, 7.0]])), jnp.zeros((1, 3)), atol=1e-6)


def test_axis_name_gives_global_statistics_under_vmap():
    x = _batches(1, (32, 5))[0]
    global_bn = BatchNorm(5, rngs=nnx.Rngs(0))
    expected = global_bn(x)
    apply, params, state = functional(BatchNorm(5, axis_name="data", rngs=nnx.Rngs(0)))
    y, new_state = jax.vmap(lambda xb: apply(params, state, xb, train=True), axis_name="data")(
        x.reshape(4, 8, 5)
    )
    np.testing.assert_allclose(y.reshape(32, 5), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(new_state["mean"][0], global_bn.mean[...], rtol=1e-5)
    np.testing.assert_allclose(new_state["var"][2], global_bn.var[...], rtol=1e-5)


def test_axis_name_outside_a_mapped_context_fails_loudly():
    with pytest.raises(NameError):
        BatchNorm(5, axis_name="data", rngs=nnx.Rngs(0))(jnp.ones((4, 5)))


def test_jit_through_nnx_transform_updates_statistics():
    bn = BatchNorm(5, momentum=0.5, rngs=nnx.Rngs(0))

    @nnx.jit
    def call(module, x):
        return module(x)

    x = _batches(1)[0]
    call(bn, x)
    np.testing.assert_allclose(bn.mean[...], 0.5 * x.mean(0), rtol=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_features": 0}, "num_features"),
        ({"num_features": 3, "momentum": 1.5}, "momentum"),
        ({"num_features": 3, "epsilon": -1.0}, "epsilon"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BatchNorm(**kwargs, rngs=nnx.Rngs(0))


def test_wrong_feature_count():
    with pytest.raises(ValueError, match="expected 3 features"):
        BatchNorm(3, rngs=nnx.Rngs(0))(jnp.ones((4, 5)))


@pytest.mark.multidevice
def test_sharded_batch_under_plain_jit_uses_global_statistics(multi_device):
    out = multi_device(
        """
        import jax, jax.numpy as jnp, numpy as np
        from flax import nnx
        from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
        from jaxtrain.nn import BatchNorm, functional
        assert jax.device_count() == 8
        apply, params, state = functional(BatchNorm(5, momentum=0.9, rngs=nnx.Rngs(0)))
        x = 3.0 + jax.random.normal(jax.random.key(0), (64, 5))
        mesh = Mesh(np.array(jax.devices()), ("data",))
        xs = jax.device_put(x, NamedSharding(mesh, P("data")))
        step = jax.jit(lambda p, s, x: apply(p, s, x, train=True))
        y_sharded, s_sharded = step(params, state, xs)
        y_single, s_single = step(params, state, x)
        assert len(y_sharded.sharding.device_set) == 8
        np.testing.assert_allclose(y_sharded, y_single, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(s_sharded["mean"], s_single["mean"], rtol=1e-5)
        np.testing.assert_allclose(s_sharded["var"], s_single["var"], rtol=1e-5)
        from jax import shard_map
        apply_named, params_named, _ = functional(
            BatchNorm(5, momentum=0.9, axis_name="data", rngs=nnx.Rngs(0))
        )
        mapped = shard_map(
            lambda x: apply_named(params_named, state, x, train=True),
            mesh=mesh, in_specs=P("data"), out_specs=(P("data"), P()),
        )
        y_map, s_map = jax.jit(mapped)(xs)
        np.testing.assert_allclose(y_map, y_single, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(s_map["var"], s_single["var"], rtol=1e-5)
        print("ok")
        """
    )
    assert out.strip().endswith("ok")


def test_float64_inputs_keep_float32_running_statistics_with_x64():
    # Before: with x64 on, a float64 batch turned the float32 running statistics float64
    # (flax 0.12 keeps them float32; 0.11 turned them too), so the state changed dtype after
    # one step and a lax.scan carrying it failed.
    from jax_modes import x64_enabled

    with x64_enabled():
        layer = BatchNorm(4, rngs=nnx.Rngs(0))
        reference = nnx.BatchNorm(4, rngs=nnx.Rngs(0))
        x = jnp.arange(32.0, dtype=jnp.float64).reshape(8, 4)
        layer(x)
        with warnings.catch_warnings():
            # Flax's own layer warns on its float64-into-float32 write (a future error).
            warnings.simplefilter("ignore", FutureWarning)
            reference(x)
        assert layer.mean[...].dtype == layer.var[...].dtype == jnp.float32
        np.testing.assert_allclose(layer.var[...], reference.var[...], rtol=1e-6)


def _pooled_batchnorm_reference(x, mask, eps):
    """Batch μ, σ² over every kept row of all replicas, and the normalized x, in float64."""
    x = np.asarray(x, np.float64)
    kept = np.broadcast_to(mask, x.shape)
    count = kept.sum((0, 1))
    mean = (x * kept).sum((0, 1)) / count
    var = (kept * (x - mean) ** 2).sum((0, 1)) / count
    return mean, var, (x - mean) / np.sqrt(var + eps)


@pytest.mark.parametrize("use_fast_variance", [False, True])
def test_axis_name_with_mask_normalizes_with_the_pooled_kept_entries(use_fast_variance):
    # Before: each replica's masked μ and σ² were averaged with equal weight (as flax.nnx does),
    # so replica 0's single kept row weighed as much as replica 1's four.
    x = 2.0 + 3.0 * jax.random.normal(jax.random.key(3), (2, 5, 3))
    mask = jnp.array([[True, False, False, False, False], [True] * 4 + [False]])[..., None]
    bn = BatchNorm(
        3, momentum=0.0, axis_name="r", use_fast_variance=use_fast_variance, rngs=nnx.Rngs(0)
    )

    @nnx.jit
    @nnx.vmap(in_axes=(None, 0, 0), out_axes=0, axis_name="r")
    def train_step(module, x, mask):
        return module(x, mask=mask)

    y = train_step(bn, x, mask)
    mean, var, expected = _pooled_batchnorm_reference(x, mask, bn.epsilon)
    np.testing.assert_allclose(bn.mean[...], mean, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(bn.var[...], var, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    # The same as one device holding the pooled batch.
    single = BatchNorm(3, momentum=0.0, use_fast_variance=use_fast_variance, rngs=nnx.Rngs(0))
    y_single = nnx.jit(lambda m, x, k: m(x, mask=k))(single, x.reshape(10, 3), mask.reshape(10, 1))
    np.testing.assert_allclose(y.reshape(10, 3), y_single, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(bn.var[...], single.var[...], rtol=1e-5, atol=1e-5)


def test_axis_name_without_mask_still_equals_nnx_bit_for_bit():
    x = 2.0 + 3.0 * jax.random.normal(jax.random.key(4), (2, 8, 3))
    ours = BatchNorm(3, momentum=0.9, axis_name="r", use_fast_variance=True, rngs=nnx.Rngs(0))
    theirs = nnx.BatchNorm(3, momentum=0.9, axis_name="r", rngs=nnx.Rngs(0))

    @nnx.jit
    @nnx.vmap(in_axes=(None, 0), out_axes=0, axis_name="r")
    def train_step(module, x):
        return module(x)

    np.testing.assert_array_equal(train_step(ours, x), train_step(theirs, x))
    np.testing.assert_array_equal(ours.mean[...], theirs.mean[...])
    np.testing.assert_array_equal(ours.var[...], theirs.var[...])


@pytest.mark.parametrize("shape", [(0, 3), (0, 4, 4, 3), (2, 0, 4, 3)])
def test_empty_batch_in_training_mode_raises_and_keeps_the_running_statistics(shape):
    # Before: the batch statistics of no entries, 0/0 = NaN, became the running mean and
    # variance for good, and every later eval output was NaN.
    bn = BatchNorm(3, momentum=0.9, rngs=nnx.Rngs(0))
    bn(2.0 + jax.random.normal(jax.random.key(0), (8, 3)))
    before = (np.asarray(bn.mean[...]), np.asarray(bn.var[...]))
    empty = jnp.zeros(shape)
    message = re.escape(f"input of shape {shape}")
    with pytest.raises(ValueError, match=message):
        bn(empty)
    with pytest.raises(ValueError, match=message):
        nnx.jit(lambda m, x: m(x))(bn, empty)
    apply, params, state = functional(bn)
    with pytest.raises(ValueError, match=message):
        apply(params, state, empty, train=True)
    np.testing.assert_array_equal(bn.mean[...], before[0])
    np.testing.assert_array_equal(bn.var[...], before[1])
    # Eval mode takes no batch statistics: an empty batch is simply an empty output.
    assert bn(empty, use_running_average=True).shape == shape


def test_a_feature_the_mask_keeps_no_entry_of_keeps_its_running_statistics():
    # Its batch μ and σ² were 0/0: NaN outputs, and NaN running statistics for good (every
    # later eval output of that feature NaN), what the empty-batch refusal guards against.
    x = jax.random.normal(jax.random.key(0), (16, 4))
    mask = jnp.ones((16, 4), bool).at[:, 2].set(False)
    bn = BatchNorm(4, momentum=0.9, rngs=nnx.Rngs(0))
    y = bn(x, mask=mask)
    assert bool(jnp.isfinite(y).all())
    np.testing.assert_array_equal(np.asarray(bn.mean[...])[2], 0.0)
    np.testing.assert_array_equal(np.asarray(bn.var[...])[2], 1.0)
    # The features it keeps entries of are those of flax.nnx, bit for bit.
    theirs = nnx.BatchNorm(4, momentum=0.9, use_fast_variance=False, rngs=nnx.Rngs(0))
    y_theirs = theirs(x, mask=mask)
    kept = np.array([0, 1, 3])
    np.testing.assert_array_equal(np.asarray(y)[:, kept], np.asarray(y_theirs)[:, kept])
    np.testing.assert_array_equal(np.asarray(bn.var[...])[kept], np.asarray(theirs.var[...])[kept])
    bn.eval()
    assert bool(jnp.isfinite(bn(x)).all())


@pytest.mark.parametrize("use_fast_variance", [False, True])
@pytest.mark.parametrize(
    "mask",
    [jnp.ones((8, 3), bool).at[:, 0].set(False), jnp.zeros((8, 1), bool)],
    ids=["a feature never kept", "a batch of padding"],
)
def test_gradients_through_a_feature_the_mask_keeps_no_entry_of_are_finite(use_fast_variance, mask):
    # The forward pass fell back on the running statistics, but the two-pass variance
    # centred x on the batch mean 0/0 = NaN, and |x − NaN|²'s derivative times the masked
    # entries' zero cotangent is NaN: every parameter below the layer got a NaN gradient, so
    # one such step ruined the model the fallback was there to protect.
    class Net(nnx.Module):
        def __init__(self, rngs):
            self.linear = nnx.Linear(4, 3, rngs=rngs)
            self.bn = BatchNorm(3, use_fast_variance=use_fast_variance, rngs=rngs)

        def __call__(self, x):
            return self.bn(self.linear(x), mask=mask)

    x = jax.random.normal(jax.random.key(0), (8, 4))
    net = Net(nnx.Rngs(0))

    def loss(net):
        return jnp.mean((net(x) - 1.0) ** 2)

    grads = nnx.grad(loss)(net)
    for leaf in jax.tree.leaves(grads):
        assert bool(jnp.isfinite(leaf).all())
