"""functional(): the (apply, params, state) contract for NNX, Linen, functions and triples.

Each Flax trap from REFERENCES.md gets a test that shows it closed.
"""

import functools

import chex
import flax.linen as linen
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from jax.flatten_util import ravel_pytree

from jaxtrain.losses import softmax_cross_entropy
from jaxtrain.nn import MLP, BatchNorm, functional

# NumPy's generator: building the data compiles nothing while pytest collects the module.
_RNG = np.random.default_rng(0)
X = jnp.asarray(_RNG.standard_normal((32, 6)), jnp.float32)
Y = jnp.asarray(_RNG.integers(0, 3, 32), jnp.int32)


def _bn_mlp(**kwargs):
    return MLP(6, 8, 3, depth=2, norm="batch", rngs=nnx.Rngs(0), **kwargs)


@functools.cache
def _bn_model():
    """One model and triple for the whole module, built on first use, not at collection: its
    jitted apply compiles once per mode and input shape. Tests only read the model
    (functional never modifies its module; one test checks that)."""
    model = _bn_mlp()
    return model, functional(model)


def _loss(apply, train=True):
    def loss(params, state, x, y, rng=None):
        logits, new_state = apply(params, state, x, train=train, rng=rng)
        return softmax_cross_entropy(logits, y), new_state

    return loss


def test_nnx_params_and_state_are_plain_dicts():
    _apply, params, state = _bn_model()[1]
    assert set(params) == {"layers", "head"}
    assert set(params["layers"]["0"]) == {"linear", "norm"}
    assert set(params["layers"]["0"]["norm"]) == {"scale", "bias"}
    assert set(state["layers"]["0"]["norm"]) == {"mean", "var"}
    for tree in (params, state):
        assert all(type(node) is dict for node in _dict_nodes(tree))
        assert all(isinstance(leaf, jax.Array) for leaf in jax.tree.leaves(tree))
    flat, unravel = ravel_pytree(params)
    assert flat.ndim == 1
    chex.assert_trees_all_equal(unravel(flat), params)


def _dict_nodes(tree):
    if isinstance(tree, dict):
        yield tree
        for value in tree.values():
            yield from _dict_nodes(value)


def test_nnx_matches_module_in_both_modes():
    model = _bn_model()[0]
    apply, params, state = _bn_model()[1]
    y, new_state = apply(params, state, X, train=True)
    reference = _bn_mlp()
    np.testing.assert_allclose(y, reference(X), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(
        new_state["layers"]["1"]["norm"]["var"],
        reference.layers[1].norm.var[...],
        rtol=1e-6,
    )
    reference.eval()
    y_eval, same = apply(params, new_state, X, train=False)
    assert same is new_state
    np.testing.assert_allclose(y_eval, reference(X), rtol=1e-6, atol=1e-6)
    # The source module is never modified by apply.
    np.testing.assert_array_equal(model.layers[0].norm.mean[...], jnp.zeros(8))
    assert model.layers[0].norm.use_running_average is False


def test_statistics_update_survives_jit_and_grad():
    """Trap: an NNX module through plain jit/grad silently loses its running-stat update."""
    apply, params, state = _bn_model()[1]
    grad_fn = jax.jit(jax.value_and_grad(_loss(apply), has_aux=True))
    (_, new_state), _ = grad_fn(params, state, X, Y)
    _, eager_state = apply(params, state, X, train=True)
    chex.assert_trees_all_close(new_state, eager_state, rtol=1e-6)
    moved = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), new_state, state)
    assert all(jax.tree.leaves(moved))


def test_running_statistics_get_no_gradient():
    """Trap: jax.grad over a whole module in eval mode differentiates the running statistics."""
    model = _bn_model()[0]
    apply, params, state = _bn_model()[1]
    _, state = apply(params, state, X, train=True)

    # The trap, for contrast: every variable of an eval-mode module is a gradient target.
    eval_model = nnx.clone(model)
    eval_model.eval()
    graphdef, everything = nnx.split(eval_model)
    trap_grads = jax.grad(lambda s: softmax_cross_entropy(nnx.merge(graphdef, s, copy=True)(X), Y))(
        everything
    )
    assert float(jnp.abs(trap_grads["layers"][0]["norm"]["mean"][...]).max()) > 0

    # Closed: gradients are taken with respect to params only, which hold no statistics.
    grads = jax.grad(lambda p: _loss(apply, train=False)(p, state, X, Y)[0])(params)
    chex.assert_trees_all_equal_structs(grads, params)
    paths = [
        jax.tree_util.keystr(path) for path, _ in jax.tree_util.tree_flatten_with_path(grads)[0]
    ]
    assert not [p for p in paths if "'mean'" in p or "'var'" in p]
    # And the returned new_state is cut from the graph even in training mode.
    tangent = jax.jvp(
        lambda p: apply(p, state, X, train=True)[1],
        (params,),
        (jax.tree.map(jnp.ones_like, params),),
    )[1]
    assert all(float(jnp.abs(t).max()) == 0.0 for t in jax.tree.leaves(tangent))


def test_optimizer_step_never_touches_running_statistics():
    """Trap: optax over the whole nnx.state applies weight decay to the running variance."""
    model = _bn_model()[0]
    apply, params, state = _bn_model()[1]
    optimizer = optax.adamw(1e-2, weight_decay=0.5)
    opt_state = optimizer.init(params)
    loss = _loss(apply)

    @jax.jit
    def step(params, state, opt_state):
        (value, new_state), grads = jax.value_and_grad(loss, has_aux=True)(params, state, X, Y)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), new_state, opt_state, value

    new_params, new_state, _, _ = step(params, state, opt_state)
    _, expected_state = apply(params, state, X, train=True)
    chex.assert_trees_all_close(new_state, expected_state, rtol=1e-6)
    # The trap itself, for contrast: decaying every variable moves the running variance.
    everything = nnx.state(model)
    decayed = optax.apply_updates(
        everything,
        optax.adamw(1e-2, weight_decay=0.5).update(
            jax.tree.map(jnp.zeros_like, everything),
            optax.adamw(1e-2, weight_decay=0.5).init(everything),
            everything,
        )[0],
    )
    assert float(jnp.abs(decayed["layers"][0]["norm"]["var"][...] - 1.0).max()) > 0
    assert jax.tree.structure(new_params) == jax.tree.structure(params)


def test_no_retrace_on_second_call():
    apply, params, state = _bn_model()[1]
    loss = _loss(apply)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def step(params, state, x, y):
        (value, new_state), grads = jax.value_and_grad(loss, has_aux=True)(params, state, x, y)
        return jax.tree.map(lambda p, g: p - 0.1 * g, params, grads), new_state, value

    p, s, _ = step(params, state, X, Y)
    p, s, _ = step(p, s, X + 1.0, Y)
    assert jax.tree.structure(s) == jax.tree.structure(state)


def test_state_threads_through_scan():
    apply, params, state = _bn_model()[1]

    def body(state, x):
        _, state = apply(params, state, x, train=True)
        return state, None

    batches = jnp.stack([X, 2.0 * X, X - 1.0])
    final_state, _ = jax.jit(lambda s: jax.lax.scan(body, s, batches))(state)
    expected = state
    for x in batches:
        _, expected = apply(params, expected, x, train=True)
    chex.assert_trees_all_close(final_state, expected, rtol=1e-5, atol=1e-6)


def test_hessian_through_params_matches_ravelled_hessian():
    model = MLP(3, 4, 2, depth=1, activation="tanh", norm="batch", rngs=nnx.Rngs(2))
    apply, params, state = functional(model)
    x, y = X[:8, :3], Y[:8] % 2
    flat, unravel = ravel_pytree(params)

    def flat_loss(theta):
        logits, _ = apply(unravel(theta), state, x, train=True)
        return softmax_cross_entropy(logits, y)

    H = jax.jit(jax.hessian(flat_loss))(flat)
    assert H.shape == (flat.size, flat.size)
    np.testing.assert_allclose(H, H.T, atol=1e-5)
    v = jax.random.normal(jax.random.key(3), flat.shape)
    hvp = jax.jvp(jax.grad(flat_loss), (flat,), (v,))[1]
    np.testing.assert_allclose(H @ v, hvp, rtol=1e-4, atol=1e-5)


def test_vmap_eval_equals_batch_and_train_needs_axis_name():
    """Trap: vmap over single examples with training-mode BatchNorm normalizes each alone."""
    apply, params, state = _bn_model()[1]
    batched, _ = apply(params, state, X, train=False)
    per_example = jax.vmap(lambda x: apply(params, state, x[None], train=False)[0][0])(X)
    np.testing.assert_allclose(per_example, batched, rtol=1e-5, atol=1e-6)
    # Training mode under vmap without axis_name: every example is its own batch (output = head
    # of zeros), which is why the batch axis must stay inside apply or be named.
    alone = jax.vmap(lambda x: apply(params, state, x[None], train=True)[0][0])(X)
    assert float(jnp.std(alone, axis=0).max()) < 1e-5

    named = MLP(
        6,
        8,
        3,
        depth=2,
        norm=lambda n, rngs: BatchNorm(n, axis_name="b", rngs=rngs),
        rngs=nnx.Rngs(0),
    )
    apply_named, params_named, state_named = functional(named)
    chunks = X.reshape(4, 8, 6)
    y_named, s_named = jax.vmap(
        lambda x: apply_named(params_named, state_named, x, train=True), axis_name="b"
    )(chunks)
    y_full, s_full = apply(params, state, X, train=True)
    np.testing.assert_allclose(y_named.reshape(32, 3), y_full, rtol=1e-5, atol=1e-5)
    chex.assert_trees_all_close(jax.tree.map(lambda a: a[0], s_named), s_full, rtol=1e-5)


def test_dropout_rng():
    model = MLP(6, 64, 3, depth=1, dropout=0.5, rngs=nnx.Rngs(0))
    apply, params, state = functional(model)
    assert state == {}
    key_a, key_b = jax.random.key(1), jax.random.key(2)
    y_a, _ = apply(params, state, X, train=True, rng=key_a)
    y_a2, _ = apply(params, state, X, train=True, rng=key_a)
    y_b, _ = apply(params, state, X, train=True, rng=key_b)
    np.testing.assert_array_equal(y_a, y_a2)
    assert float(jnp.abs(y_a - y_b).max()) > 1e-3
    # A raw uint32 key works too, and eval mode ignores dropout entirely.
    y_raw, _ = apply(params, state, X, train=True, rng=jax.random.PRNGKey(1))
    assert y_raw.shape == y_a.shape
    y_eval, _ = apply(params, state, X, train=False, rng=key_a)
    y_eval2, _ = apply(params, state, X, train=False)
    np.testing.assert_array_equal(y_eval, y_eval2)
    # Without rng, the module's stored streams are used: deterministic, the same each call.
    y_none, _ = apply(params, state, X, train=True)
    y_none2, _ = apply(params, state, X, train=True)
    np.testing.assert_array_equal(y_none, y_none2)


class _LinenNet(linen.Module):
    @linen.compact
    def __call__(self, x, train: bool):
        x = linen.Dense(8)(x)
        x = linen.BatchNorm(use_running_average=not train, momentum=0.9, use_fast_variance=False)(x)
        x = linen.Dropout(0.5, deterministic=not train)(linen.relu(x))
        return linen.Dense(3)(x)


def test_linen_module_with_batch_stats():
    net = _LinenNet()
    variables = net.init(jax.random.key(0), X, train=False)
    apply, params, state = functional(net, variables)
    assert set(state) == {"batch_stats"}
    y, new_state = jax.jit(lambda p, s, x, k: apply(p, s, x, train=True, rng=k))(
        params, state, X, jax.random.key(5)
    )
    y_ref, updates = net.apply(
        variables, X, train=True, rngs={"dropout": jax.random.key(5)}, mutable=["batch_stats"]
    )
    # jit against eager Flax: float32 rounding of O(1) outputs, so an absolute floor near 0.
    np.testing.assert_allclose(y, y_ref, rtol=1e-6, atol=1e-7)
    chex.assert_trees_all_close(
        new_state["batch_stats"], updates["batch_stats"], rtol=1e-6, atol=1e-7
    )
    y_eval, same = apply(params, new_state, X, train=False)
    assert same is new_state
    np.testing.assert_allclose(
        y_eval, net.apply({"params": params, **new_state}, X, train=False), rtol=1e-6, atol=1e-7
    )


def test_linen_mode_by_attribute():
    bn = linen.BatchNorm(momentum=0.9, use_fast_variance=False)
    variables = bn.init(jax.random.key(0), X, use_running_average=False)
    apply, params, state = functional(bn, variables)
    y, new_state = apply(params, state, 3.0 + X, train=True)
    np.testing.assert_allclose(y.mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(new_state["batch_stats"]["mean"], 0.1 * (3.0 + X).mean(0), rtol=1e-5)


def test_plain_function():
    def linear(params, x):
        return x @ params["w"] + params["b"]

    params = {"w": jnp.ones((6, 3)), "b": jnp.zeros(3)}
    apply, p, state = functional(linear, params)
    assert p is params and state == {}
    y, new_state = apply(p, state, X, train=True)
    np.testing.assert_allclose(y, linear(params, X), rtol=1e-6)
    assert new_state == {}

    def noisy(params, x, *, train, rng=None):
        return linear(params, x) + (jax.random.normal(rng, (x.shape[0], 3)) if train else 0.0)

    apply_noisy, _, _ = functional(noisy, params)
    y_train, _ = apply_noisy(params, {}, X, train=True, rng=jax.random.key(0))
    y_eval, _ = apply_noisy(params, {}, X, train=False)
    assert float(jnp.abs(y_train - y_eval).max()) > 0


def test_triple_passes_through_unchanged():
    triple = functional(_bn_mlp())
    assert functional(triple) is triple


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ((lambda p, x: x,), ValueError, "parameters"),
        ((_LinenNet(),), ValueError, "variables"),
        ((_LinenNet(), {"batch_stats": {}}), ValueError, "'params'"),
        ((MLP(2, 2, 2, rngs=nnx.Rngs(0)), {"params": {}}), ValueError, "own variables"),
        ((42,), TypeError, "functional"),
    ],
)
def test_bad_input(args, error, match):
    with pytest.raises(error, match=match):
        functional(*args)


def test_bad_train_flag_and_structure():
    apply, params, state = _bn_model()[1]
    with pytest.raises(ValueError, match="train must be True or False"):
        apply(params, state, X, train=jnp.bool_(True))
    with pytest.raises(ValueError, match="structure"):
        apply({"head": params["head"]}, state, X, train=False)


def test_flax_batchnorm_inside_the_model_works_the_same():
    ours = _bn_model()[1]
    theirs = functional(
        MLP(
            6,
            8,
            3,
            depth=2,
            norm=lambda n, rngs: nnx.BatchNorm(n, use_fast_variance=False, rngs=rngs),
            rngs=nnx.Rngs(0),
        )
    )
    for train in (True, False):
        y_ours, s_ours = ours[0](ours[1], ours[2], X, train=train)
        y_theirs, s_theirs = theirs[0](theirs[1], theirs[2], X, train=train)
        np.testing.assert_allclose(y_ours, y_theirs, rtol=1e-5, atol=1e-6)
        chex.assert_trees_all_close(s_ours, s_theirs, rtol=1e-6)


def test_nested_transforms_need_no_copies_from_the_caller():
    """Trap: nnx.merge of a transformed function's arguments without copy=True reuses Variables
    from the outer trace; mutating them under an inner grad fails (or leaks tracers). apply
    builds fresh Variables, so any nesting of jit, grad, vmap and hessian just works."""
    apply, params, state = functional(_bn_mlp(dropout=0.1))
    loss = _loss(apply)

    @jax.jit
    def nested(params, state, key):
        grads, new_state = jax.grad(loss, has_aux=True)(params, state, X, Y, key)
        per_example = jax.vmap(lambda x: apply(params, new_state, x[None], train=False)[0])(X)
        return grads, new_state, per_example

    for seed in range(2):  # a second call reuses the compiled function and no stale tracer
        grads, new_state, per_example = nested(params, state, jax.random.key(seed))
    assert per_example.shape == (32, 1, 3)
    assert float(jnp.abs(new_state["layers"]["0"]["norm"]["mean"]).max()) > 0
    assert all(np.isfinite(np.asarray(g)).all() for g in jax.tree.leaves(grads))
    y_first, _ = apply(params, state, X, train=True, rng=jax.random.key(0))
    y_again, _ = apply(params, state, X, train=True, rng=jax.random.key(0))
    np.testing.assert_array_equal(y_first, y_again)


def test_models_of_one_architecture_share_one_apply_and_keep_their_own_weights():
    # One apply per architecture: fit and jit reuse its compilations across seeds.
    first, second = (MLP(4, 8, 3, depth=2, norm="batch", rngs=nnx.Rngs(s)) for s in (0, 1))
    apply_a, params_a, state_a = functional(first)
    apply_b, params_b, state_b = functional(second)
    assert apply_a is apply_b
    x = jax.random.normal(jax.random.key(2), (5, 4))
    for model, params, state in ((first, params_a, state_a), (second, params_b, state_b)):
        model.eval()
        np.testing.assert_allclose(
            apply_a(params, state, x, train=False)[0], model(x), rtol=1e-6, atol=1e-6
        )
    assert functional(MLP(4, 8, 3, depth=3, rngs=nnx.Rngs(0)))[0] is not apply_a


class _Noisy(nnx.Module):
    """A linear layer and dropout: a module with a random stream."""

    def __init__(self, rngs):
        self.linear = nnx.Linear(4, 3, rngs=rngs)
        self.dropout = nnx.Dropout(0.5, rngs=rngs)

    def __call__(self, x):
        return self.dropout(self.linear(x))


def test_a_model_with_random_streams_keeps_its_own_apply():
    # Without ``rng`` the apply uses the module's stored stream keys, so it is not shared.
    assert functional(_Noisy(nnx.Rngs(0)))[0] is not functional(_Noisy(nnx.Rngs(1)))[0]
    # The same module (the same stored keys) shares it: fit(model, ...) called again with
    # it compiled its whole run again on every call.
    module = _Noisy(nnx.Rngs(0))
    assert functional(module)[0] is functional(module)[0]


def test_an_abstract_module_with_random_streams_gives_shapes():
    # Its stored keys are shapes (nnx.eval_shape): keying the shared applies by their bytes
    # raised "unexpected PRNG key type".
    apply, params, state = functional(nnx.eval_shape(lambda: _Noisy(nnx.Rngs(0))))
    out = jax.eval_shape(lambda p, s, x: apply(p, s, x, train=False)[0], params, state, X[:, :4])
    assert out.shape == (X.shape[0], 3)


def test_the_same_linen_module_or_function_shares_one_apply():
    # A new jitted apply on every call: fit(functional(module, variables), ...) in a loop
    # compiled the run every time.
    class Dense(linen.Module):
        @linen.compact
        def __call__(self, x):
            return linen.Dense(3)(x)

    module = Dense()
    variables = module.init(jax.random.key(0), jnp.ones((1, 4)))
    assert functional(module, variables)[0] is functional(module, variables)[0]

    def fn(params, x):
        return x @ params

    assert functional(fn, jnp.ones((4, 3)))[0] is functional(fn, jnp.zeros((4, 3)))[0]


class _Configured(nnx.Module):
    """A module keeping its configuration as a list and a plain array as data (both allowed
    by NNX: nnx.split and nnx.merge handle them). Flax 0.11 has neither nnx.List nor
    nnx.data: a plain list of modules and a bare array attribute are its spelling."""

    def __init__(self, rngs):
        self.sizes = [3, 4, 2]
        pairs = zip(self.sizes[:-1], self.sizes[1:], strict=True)
        layers = [nnx.Linear(a, b, rngs=rngs) for a, b in pairs]
        self.layers = getattr(nnx, "List", list)(layers)
        self.scale = getattr(nnx, "data", lambda array: array)(jnp.full(3, 2.0))

    def __call__(self, x):
        x = x * self.scale
        for layer in self.layers:
            x = layer(x)
        return x


def test_modules_with_list_attributes_and_plain_array_data():
    # Before: a list attribute made the graph unhashable for the shared-apply cache
    # (TypeError: unhashable type: 'list'), and a plain array in the state had no .value.
    module = _Configured(nnx.Rngs(0))
    apply, params, state = functional(module)
    x = jnp.ones((5, 3))
    out, new_state = jax.jit(apply, static_argnames="train")(params, state, x, train=False)
    np.testing.assert_allclose(out, module(x), rtol=1e-6)
    assert jax.tree.structure(new_state) == jax.tree.structure(state)


def test_a_numpy_bool_is_a_mode():
    # Before: "train must be a Python bool, got bool" for np.bool_(True).
    apply, params, state = functional(MLP(3, 4, 2, depth=1, rngs=nnx.Rngs(0)))
    x = jnp.ones((2, 3))
    np.testing.assert_array_equal(
        apply(params, state, x, train=np.bool_(False))[0], apply(params, state, x, train=False)[0]
    )


@pytest.mark.skipif(not hasattr(nnx, "data"), reason="nnx.data is new in flax 0.12")
def test_a_number_kept_as_data():
    # nnx.data(2.0) puts a bare float among the state's leaves: it had no .value either.
    class Scaled(nnx.Module):
        def __init__(self, rngs):
            self.linear = nnx.Linear(3, 2, rngs=rngs)
            self.scale = nnx.data(2.0)

        def __call__(self, x):
            return self.linear(x * self.scale)

    module = Scaled(nnx.Rngs(0))
    apply, params, state = functional(module)
    x = jnp.ones((2, 3))
    np.testing.assert_allclose(apply(params, state, x, train=False)[0], module(x), rtol=1e-6)
