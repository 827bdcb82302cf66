"""jaxtrain.nn's norm layers as drop-ins for flax.nnx's and flax.linen's (issue 15).

What a user switching over relies on: every constructor argument of flax.nnx (names, order,
defaults; ``use_fast_variance`` defaults to ``False`` here on purpose), ``mask=`` in the call, and
with ``use_fast_variance=True`` the same numbers as flax.nnx bit for bit, outputs and running
statistics, under ``jax.jit``. Complex inputs come out with unit variance, as in Flax.
"""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen, nnx

import jaxtrain.nn as jnn

NAMES = ("BatchNorm", "LayerNorm", "GroupNorm", "InstanceNorm")
# flax 0.11 has no nnx.InstanceNorm; linen's is the reference there.
NNX_NAMES = tuple(name for name in NAMES if hasattr(nnx, name))
# flax ≥ 0.12 promotes input and variables to one dtype first (promote_dtype=); jaxtrain does too.
FLAX_PROMOTES = "promote_dtype" in inspect.signature(nnx.BatchNorm).parameters


@pytest.mark.parametrize("name", NNX_NAMES)
def test_constructor_takes_every_nnx_argument_in_order_with_its_default(name):
    ours = inspect.signature(getattr(jnn, name)).parameters
    theirs = inspect.signature(getattr(nnx, name)).parameters
    # Every nnx argument, in nnx's order, of the same kind; on flax 0.11 (fewer arguments) the
    # nnx ones form an ordered subsequence of ours.
    assert [p for p in ours if p in theirs] == list(theirs)
    for arg, p in theirs.items():
        assert ours[arg].kind == p.kind, arg
        if arg == "use_fast_variance":
            # The one deliberate difference: two-pass by default (README conventions).
            assert (p.default, ours[arg].default) == (True, False)
        elif arg != "promote_dtype":
            assert ours[arg].default is p.default or ours[arg].default == p.default, arg
    if "promote_dtype" in theirs:
        assert ours["promote_dtype"].default is theirs["promote_dtype"].default
    call = inspect.signature(getattr(jnn, name).__call__).parameters
    assert call["mask"].kind == inspect.Parameter.KEYWORD_ONLY and call["mask"].default is None


X = jax.random.normal(jax.random.key(0), (5, 4, 6)) * 3.0 + 1.0
X2 = jax.random.normal(jax.random.key(1), (10, 6)) * 2.0 - 1.0
XC = X2 * jnp.array([6.0, 3, 2, 1, 1, 1]) + 1j * jax.random.normal(jax.random.key(2), (10, 6))
MASK = jnp.asarray(np.random.default_rng(0).random((5, 4, 6)) > 0.3)
NORMAL = jax.nn.initializers.normal(1.0)

# (layer, constructor arguments, input, mask). γ, β drawn from a normal so their order counts.
CASES = [
    ("BatchNorm", {"num_features": 6, "momentum": 0.9}, X, None),
    ("BatchNorm", {"num_features": 6}, X, MASK),
    ("BatchNorm", {"num_features": 4, "axis": 1, "epsilon": 1e-3, "use_bias": False}, X, None),
    ("BatchNorm", {"num_features": 6, "dtype": jnp.bfloat16, "param_dtype": jnp.bfloat16}, X, None),
    ("BatchNorm", {"num_features": 6}, XC, None),
    ("LayerNorm", {"num_features": 6, "reduction_axes": (1, 2), "feature_axes": -1}, X, None),
    ("LayerNorm", {"num_features": 6, "use_scale": False}, X, MASK),
    ("LayerNorm", {"num_features": 6, "dtype": jnp.float16}, X, None),
    ("GroupNorm", {"num_features": 6, "num_groups": 3}, X, MASK),
    ("GroupNorm", {"num_features": 6, "num_groups": None, "group_size": 3}, X2, None),
    ("GroupNorm", {"num_features": 6, "num_groups": 2, "reduction_axes": (1, 2)}, X, None),
    ("GroupNorm", {"num_features": 6, "num_groups": 2}, XC, None),
    ("InstanceNorm", {"num_features": 6}, X2, None),
    ("InstanceNorm", {"num_features": 4, "feature_axes": 1}, X, MASK),
    ("InstanceNorm", {"num_features": 6, "epsilon": 1e-3}, XC, None),
]
IDS = [f"{name}-{i}" for i, (name, *_) in enumerate(CASES)]


def _apply(modules, x, mask, linen_models=(), linen_variables=()):
    """Each module's output and, for BatchNorm, running statistics after one training step;
    then each linen model's output and updated batch_stats: all in one jitted program."""

    @nnx.jit
    def step(modules, linen_variables, x, mask):
        out = []
        for module in modules:
            y = module(x, mask=mask)
            out.append((y, (module.mean[...], module.var[...]) if hasattr(module, "mean") else ()))
        for model, variables in zip(linen_models, linen_variables, strict=True):
            y, updated = model.apply(variables, x, mask=mask, mutable=["batch_stats"])
            stats = updated.get("batch_stats", {})
            out.append((y, (stats["mean"], stats["var"]) if stats else ()))
        return out

    return step(tuple(modules), tuple(linen_variables), x, mask)


def _build(cls, kwargs, **extra):
    return cls(**kwargs, scale_init=NORMAL, bias_init=NORMAL, rngs=nnx.Rngs(3), **extra)


# flax.nnx's complex BatchNorm warns as it drops the running mean's imaginary part (its own).
@pytest.mark.filterwarnings("ignore:scatter inputs have incompatible types:FutureWarning")
@pytest.mark.filterwarnings("ignore:Casting complex values to real")
@pytest.mark.parametrize(("name", "kwargs", "x", "mask"), CASES, ids=IDS)
def test_fast_variance_is_flax_nnx_bit_for_bit(name, kwargs, x, mask):
    if not hasattr(nnx, name):
        pytest.skip(f"flax.nnx.{name} does not exist in this flax")
    ours = _build(getattr(jnn, name), kwargs, use_fast_variance=True)
    ours, theirs = _apply((ours, _build(getattr(nnx, name), kwargs)), x, mask)
    if jnp.iscomplexobj(x) and name == "BatchNorm":
        # flax.nnx drops the running mean's imaginary part (see the test below); compare σ̄².
        ours, theirs = (ours[0], ours[1][1]), (theirs[0], theirs[1][1])
    assert ours[0].dtype == theirs[0].dtype
    if FLAX_PROMOTES or jnp.finfo(ours[0].dtype).bits == 32:
        jax.tree.map(np.testing.assert_array_equal, ours, theirs)
    else:  # flax 0.11's nnx normalizes half precision in another order (as linen does)
        eps = 2 * float(jnp.finfo(ours[0].dtype).eps)
        close = lambda a, b: np.testing.assert_allclose(a, b, rtol=eps, atol=eps)  # noqa: E731
        jax.tree.map(close, ours, theirs)


def _linen(name, kwargs, **extra):
    args = {k: v for k, v in kwargs.items() if k != "num_features"}
    if name == "BatchNorm":
        args["use_running_average"] = False
    return getattr(linen, name)(**args, **extra)


@pytest.mark.parametrize(
    ("name", "kwargs", "x", "mask"),
    [case for case in CASES if case[2] is not XC],
    ids=[i for i, case in zip(IDS, CASES, strict=True) if case[2] is not XC],
)
def test_equals_flax_linen_with_the_same_variance_form(name, kwargs, x, mask):
    ours = [_build(getattr(jnn, name), kwargs, use_fast_variance=f) for f in (True, False)]
    affine = {k: getattr(ours[0], k) for k in ("scale", "bias")}
    variables = {"params": {k: v[...] for k, v in affine.items() if v is not None}}
    if name == "BatchNorm":
        n = kwargs["num_features"]
        variables["batch_stats"] = {"mean": jnp.zeros(n), "var": jnp.ones(n)}
    models = [_linen(name, kwargs, use_fast_variance=f) for f in (True, False)]
    fast, two_pass, fast_linen, two_pass_linen = _apply(ours, x, mask, models, [variables] * 2)
    # Half precision: flax.nnx and flax.linen themselves differ by a rounding of the output.
    bits = jnp.finfo(fast[0].dtype).bits
    tol = 1e-6 if bits == 32 else 2 * float(jnp.finfo(fast[0].dtype).eps)
    close = lambda a, b: np.testing.assert_allclose(a, b, rtol=tol, atol=tol)  # noqa: E731
    jax.tree.map(close, fast, fast_linen)
    jax.tree.map(close, two_pass, two_pass_linen)


def test_group_norm_keeping_an_axis_matches_linen_where_nnx_scrambles():
    # reduction_axes=(2,) keeps axis 1: statistics per (example, position, group). flax.linen
    # and jaxtrain spread each group's statistics over its channels; flax.nnx 0.12 repeats them
    # on axis 1 instead (a deliberate difference: nnx's result is not group normalization).
    kwargs = {"num_features": 6, "num_groups": 2, "reduction_axes": (2,)}
    ours = _build(jnn.GroupNorm, kwargs)
    params = {"params": {"scale": ours.scale[...], "bias": ours.bias[...]}}
    y_linen = jax.jit(_linen("GroupNorm", kwargs, use_fast_variance=False).apply)(params, X)
    np.testing.assert_allclose(_apply([ours], X, None)[0][0], y_linen, rtol=1e-6, atol=1e-6)
    grouped = np.asarray(X, np.float64).reshape(5, 4, 2, 3)
    mean, var = grouped.mean(-1, keepdims=True), grouped.var(-1, keepdims=True)
    expected = ((grouped - mean) / np.sqrt(var + 1e-6)).reshape(5, 4, 6)
    expected = expected * np.asarray(ours.scale[...]) + np.asarray(ours.bias[...])
    np.testing.assert_allclose(y_linen, expected, rtol=1e-4, atol=1e-5)


XC3 = jax.random.normal(jax.random.key(4), (10, 8, 6)) * jnp.array([6.0, 3, 2, 1, 1, 1]) + 1j * (
    jax.random.normal(jax.random.key(5), (10, 8, 6)) + 2.0
)


@pytest.mark.parametrize(
    ("make", "axes"),
    [
        (lambda: jnn.BatchNorm(6, rngs=nnx.Rngs(0)), (0, 1)),
        (lambda: jnn.LayerNorm(6, rngs=nnx.Rngs(0)), (2,)),
        (lambda: jnn.GroupNorm(6, num_groups=2, rngs=nnx.Rngs(0)), None),
        (lambda: jnn.InstanceNorm(6, rngs=nnx.Rngs(0)), (1,)),
    ],
    ids=NAMES,
)
def test_complex_inputs_come_out_with_unit_variance(make, axes):
    # The repro: complex BatchNorm gave variances [35.2, 12.8, 4.6] (x² where |x|² is due).
    y = jax.jit(lambda x: make()(x))(XC3)
    if axes is None:  # GroupNorm: per example and group of 3 channels
        y, axes = y.reshape(10, 8, 2, 3), (1, 3)
    centred = y - y.mean(axes, keepdims=True)
    np.testing.assert_allclose(jnp.mean(jnp.abs(centred) ** 2, axes), 1.0, rtol=1e-4)


def test_complex_running_mean_keeps_its_imaginary_part():
    # Deliberate difference: flax.nnx writes the complex batch mean into its float32 BatchStat
    # (imaginary part dropped, a FutureWarning); here the running mean becomes complex.
    bn = jnn.BatchNorm(6, momentum=0.5, rngs=nnx.Rngs(0))
    _apply([bn], XC, None)
    expected = 0.5 * XC.mean(0)
    np.testing.assert_allclose(bn.mean[...], expected, rtol=1e-5, atol=1e-6)
    bn.eval()
    assert jnp.iscomplexobj(bn(XC))


def test_metadata_promote_dtype_and_axis_index_groups_reach_flax():
    calls = []

    def promote(args, *, dtype=None):
        calls.append(len(args))
        return tuple(None if a is None else jnp.asarray(a, jnp.float16) for a in args)

    bn = jnn.BatchNorm(6, promote_dtype=promote, scale_metadata={"note": "γ"}, rngs=nnx.Rngs(0))
    gn = jnn.GroupNorm(6, num_groups=2, bias_metadata={"note": "β"}, rngs=nnx.Rngs(0))
    assert (bn.scale.note, gn.bias.note) == ("γ", "β")
    assert bn(X2).dtype == jnp.float16 and calls == [5]  # (x, mean, var, scale, bias), as nnx
    ln = jnn.LayerNorm(6, axis_name="i", axis_index_groups=[[0, 1]], rngs=nnx.Rngs(0))
    # Forwarded to lax.pmean, which refuses groups under vmap for nnx.LayerNorm alike.
    with pytest.raises(NotImplementedError, match="axis_index_groups"):
        jax.vmap(ln, axis_name="i")(X2[:2])


def test_mode_missing_everywhere_is_a_clear_error():
    bn = jnn.BatchNorm(6, use_running_average=None, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="use_running_average is None"):
        bn(X2)
    assert bn(X2, use_running_average=True).shape == X2.shape


@pytest.mark.skipif(not hasattr(nnx, "view"), reason="nnx.view is new in flax 0.12")
def test_nnx_view_switches_batchnorm_to_running_statistics():
    bn = jnn.BatchNorm(6, rngs=nnx.Rngs(0))
    view = nnx.view(bn, use_running_average=True)
    assert (view.use_running_average, bn.use_running_average) == (True, False)
    np.testing.assert_array_equal(
        view(X2), nnx.view(nnx.BatchNorm(6, rngs=nnx.Rngs(0)), use_running_average=True)(X2)
    )
