"""Losses over fixed data for curvature: batches weighted by size, models, sharded devices."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from curvature_problems import make_mlp_problem, mlp_loss
from flax import nnx
from jax.flatten_util import ravel_pytree

from jaxtrain.curvature import batched_loss, eigenvalues, hessian, hvp, loss_from_model
from jaxtrain.curvature._model_loss import _group
from jaxtrain.nn import MLP, functional


def _mse(predictions, targets):
    return jnp.mean(jnp.sum((predictions - targets) ** 2, axis=-1))


def _split(x, y, sizes):
    edges = np.cumsum([0, *sizes])
    return [(x[a:b], y[a:b]) for a, b in itertools.pairwise(edges)]


def test_unequal_batches_weigh_what_they_hold(mlp_problem):
    params, x, y = mlp_problem(num_examples=40)
    batches = _split(x, y, [16, 16, 8])  # two stacked under one scan, one on its own
    loss = batched_loss(mlp_loss, batches)
    np.testing.assert_allclose(float(loss(params)), float(mlp_loss(params, x, y)), rtol=1e-6)
    H_batched = hessian(loss, params)
    H_full = hessian(mlp_loss, params, x, y)
    np.testing.assert_allclose(np.asarray(H_batched), np.asarray(H_full), rtol=1e-4, atol=1e-5)


def test_a_new_batched_loss_of_the_same_shapes_reuses_the_compilation(mlp_problem, trace_counter):
    params, x, y = mlp_problem(num_examples=32)
    counted = trace_counter(mlp_loss)
    key = jax.random.key(0)
    first = eigenvalues(
        hvp(batched_loss(counted, _split(x, y, [16, 16])), params),
        params,
        k=1,
        key=key,
        num_iters=16,
    )
    matvec = hvp(batched_loss(counted, _split(x * 2, y, [16, 16])), params)
    traces = counted.count  # hvp() linearized: that traces the loss, not the program
    second = eigenvalues(matvec, params, k=1, key=key, num_iters=16)
    assert counted.count == traces
    assert float(first.eigenvalues[0]) != float(second.eigenvalues[0])


def test_host_batches_are_joined_without_a_device_program(caplog):
    # Three batches of 4: example i of batch j at row 3i + j, as the device path stacks them.
    rng = np.random.default_rng(0)
    host = [(rng.normal(size=(4, 2)), rng.integers(0, 3, size=4)) for _ in range(3)]
    device = [jax.tree.map(jnp.asarray, batch) for batch in host]
    with jax.log_compiles(), caplog.at_level("WARNING"):
        (joined,), sizes = _group(host, None)
        (single,), _ = _group(host[:1], None)
    assert not [r for r in caplog.records if "Compiling" in r.getMessage()], caplog.text
    (expected,), _ = _group(device, None)
    assert sizes == [4] and joined[0].dtype == expected[0].dtype == jnp.float32
    for got, want in zip(joined, expected, strict=True):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    np.testing.assert_array_equal(np.asarray(joined[0][3 * 1 + 2]), np.float32(host[2][0][1]))
    np.testing.assert_array_equal(np.asarray(single[0]), host[0][0].astype(np.float32))


@pytest.mark.parametrize("bad", [[], (), "xy", None])
def test_batches_must_be_a_non_empty_sequence(bad):
    with pytest.raises(ValueError, match="non-empty sequence of batches"):
        batched_loss(mlp_loss, bad)


def test_batch_arrays_must_share_their_leading_dimension():
    with pytest.raises(ValueError, match="same leading"):
        batched_loss(mlp_loss, [(jnp.zeros((4, 2)), jnp.zeros((5, 1)))])
    with pytest.raises(ValueError, match="is empty"):
        batched_loss(mlp_loss, [(jnp.zeros((0, 2)), jnp.zeros((0, 1)))])


def test_model_batches_must_be_pairs():
    apply = lambda p, s, x, *, train, rng=None: (x, s)  # noqa: E731
    with pytest.raises(ValueError, match=r"must be an \(x, y\) pair"):
        loss_from_model(apply, {}, [(jnp.zeros(2),)], _mse)


@pytest.fixture(scope="module")
def bn_model():
    """``(apply, params, state, x, y)`` and ``apply`` jitted for the references (one
    compilation each instead of one per operation of an eager forward pass), built once for
    the BatchNorm tests (nothing mutates it: the train-mode test checks that)."""
    seed = 0
    model = MLP(4, 8, 3, depth=2, activation="tanh", norm="batch", rngs=nnx.Rngs(seed))
    apply, params, state = functional(model)
    x, y = make_mlp_problem(sizes=(4, 3), num_examples=48, seed=seed)[1:]
    reference = jax.jit(apply, static_argnames="train")
    # Move the running statistics off their initial values so eval mode is not trivial.
    _, state = reference(params, state, x * 2.0 + 1.0, train=True)
    return apply, params, state, x, y, reference


def _direction(params):
    """A fixed random direction v in parameter space, for Hessian-vector products."""
    flat, unravel = ravel_pytree(params)
    return unravel(jnp.asarray(np.random.default_rng(0).standard_normal(flat.size), jnp.float32))


# The batches of the BatchNorm tests, shared with the sharded test (every size divisible by 8):
# in eval mode three equal batches (one stacked group under a scan), in train mode unequal
# ones, two stacked and one on its own.
EVAL_SIZES, TRAIN_SIZES = [16, 16, 16], [8, 8, 32]


def test_batchnorm_eval_mode_through_jaxtrain_nn(bn_model):
    apply, params, state, x, y, reference = bn_model
    loss_fn = loss_from_model(apply, state, _split(x, y, EVAL_SIZES), _mse)
    expected = _mse(reference(params, state, x, train=False)[0], y)
    np.testing.assert_allclose(float(loss_fn(params)), float(expected), rtol=1e-6)
    # Eval-mode BatchNorm acts per example, so the batched Hessian is the full-batch one.
    full = loss_from_model(apply, state, [(x, y)], _mse)
    v = _direction(params)
    np.testing.assert_allclose(
        np.asarray(ravel_pytree(hvp(loss_fn, params)(v))[0]),
        np.asarray(ravel_pytree(hvp(full, params)(v))[0]),
        rtol=1e-4,
        atol=1e-5,
    )


def test_batchnorm_train_mode_uses_batch_statistics_and_discards_updates(bn_model):
    apply, params, state, x, y, reference = bn_model
    batches = _split(x, y, TRAIN_SIZES)
    loss_fn = loss_from_model(apply, state, batches, _mse, train=True)
    per_batch = [_mse(reference(params, state, xb, train=True)[0], yb) for xb, yb in batches]
    expected = (8 * per_batch[0] + 8 * per_batch[1] + 32 * per_batch[2]) / 48
    np.testing.assert_allclose(float(loss_fn(params)), float(expected), rtol=1e-5)
    eval_loss = loss_from_model(apply, state, batches, _mse, train=False)
    assert abs(float(loss_fn(params)) - float(eval_loss(params))) > 1e-3
    before = jax.tree.map(np.asarray, state)
    H = hessian(loss_fn, params)
    assert bool(jnp.all(jnp.isfinite(H)))
    jax.tree.map(np.testing.assert_array_equal, before, jax.tree.map(np.asarray, state))


def test_hand_written_apply_with_running_statistics():
    """The contract itself, without jaxtrain.nn: a linear layer after a hand-written BN."""

    def apply(params, state, x, *, train, rng=None):
        del rng
        if train:
            mean, var = jnp.mean(x, axis=0), jnp.var(x, axis=0)
            new_state = {
                "mean": 0.9 * state["mean"] + 0.1 * mean,
                "var": 0.9 * state["var"] + 0.1 * var,
            }
        else:
            mean, var, new_state = state["mean"], state["var"], state
        z = (x - mean) / jnp.sqrt(var + 1e-5)
        return z @ params["w"] + params["b"], new_state

    params = {"w": jnp.ones((2, 1)), "b": jnp.zeros(1)}
    state = {"mean": jnp.array([1.0, -1.0]), "var": jnp.array([4.0, 0.25])}
    x = jnp.asarray(np.random.default_rng(1).standard_normal((8, 2)), jnp.float32)
    y = jnp.zeros((8, 1))
    for train in (False, True):
        loss_fn = loss_from_model(apply, state, [(x, y)], _mse, train=train)
        # A linear model under squared error: H = 2/N · [1 z]ᵀ[1 z] exactly (ravel order b, w).
        mean, var = (jnp.mean(x, 0), jnp.var(x, 0)) if train else (state["mean"], state["var"])
        z = (x - mean) / jnp.sqrt(var + 1e-5)
        features = jnp.concatenate([jnp.ones((8, 1)), z], axis=1)
        np.testing.assert_allclose(
            np.asarray(hessian(loss_fn, params)),
            np.asarray(2.0 / 8 * features.T @ features),
            rtol=1e-5,
            atol=1e-6,
        )


@pytest.mark.multidevice
def test_hvp_with_the_batch_sharded_over_8_devices_equals_one_device(
    multi_device, bn_model, tmp_path
):
    # The BatchNorm model, data and batches of the tests above, sharded over 8 devices in a
    # subprocess (a process's device count is fixed at start-up); the one-device side is
    # computed here, where those tests compiled it.
    apply, params, state, x, y, _ = bn_model
    v = _direction(params)
    problem = tmp_path / "problem.npz"
    np.savez(problem, *map(np.asarray, jax.tree.leaves((params, state, x, y, v))))
    out = multi_device(
        f"""
        import jax, jax.numpy as jnp, numpy as np
        from jax.flatten_util import ravel_pytree
        from jax.sharding import Mesh
        from flax import nnx
        from jaxtrain.curvature import eigenvalues, hvp, loss_from_model
        from jaxtrain.nn import MLP, functional

        assert jax.device_count() == 8
        model = MLP(4, 8, 3, depth=2, activation="tanh", norm="batch", rngs=nnx.Rngs(0))
        apply, params, state = functional(model)
        treedef = jax.tree.structure((params, state, 0.0, 0.0, params))
        with np.load({str(problem)!r}) as saved:
            leaves = [jnp.asarray(saved[f"arr_{{i}}"]) for i in range(treedef.num_leaves)]
        params, state, x, y, v = jax.tree.unflatten(treedef, leaves)
        mse = lambda p, t: jnp.mean(jnp.sum((p - t) ** 2, axis=-1))
        mesh = Mesh(np.array(jax.devices()), ("batch",))
        for train, sizes in ((False, {EVAL_SIZES}), (True, {TRAIN_SIZES})):
            edges = np.cumsum([0, *sizes])
            batches = [(x[a:b], y[a:b]) for a, b in zip(edges[:-1], edges[1:])]
            sharded = loss_from_model(apply, state, batches, mse, train=train, mesh=mesh)
            for group in sharded.args[1]:  # the stacked data of each batch size
                leaf = jax.tree.leaves(group)[0]
                assert len(leaf.sharding.device_set) == 8, leaf.sharding
            hv = np.asarray(ravel_pytree(hvp(sharded, params)(v))[0])
            print("hvp", train, " ".join(map(repr, hv.tolist())))
            if not train:
                top = eigenvalues(
                    hvp(sharded, params), params, k=2, key=jax.random.key(0), num_iters=16
                ).eigenvalues
                print("top", train, " ".join(map(repr, np.asarray(top).tolist())))
        # jax.make_mesh makes Explicit axes in newer jax; before, the HVP failed on them.
        made = jax.make_mesh((8,), ("batch",))
        on_made = loss_from_model(apply, state, batches, mse, train=True, mesh=made)
        hv_made = np.asarray(ravel_pytree(hvp(on_made, params)(v))[0])
        np.testing.assert_allclose(hv_made, hv, rtol=1e-5, atol=1e-6)
        # Inside jax.set_mesh the context's axis types rule (taking the mesh Auto there made
        # every reshape refuse the Explicit context).
        with jax.set_mesh(made):
            in_context = loss_from_model(apply, state, batches, mse, train=True, mesh=made)
            hv_context = np.asarray(ravel_pytree(hvp(in_context, params)(v))[0])
        np.testing.assert_allclose(hv_context, hv, rtol=1e-5, atol=1e-6)
        print("make_mesh ok")
        try:
            loss_from_model(apply, state, [(x[:12], y[:12])], mse, mesh=mesh)
        except ValueError as e:
            assert "not divisible by the 8 devices" in str(e)
            print("indivisible batch refused")
        try:  # one example is counted in the singular
            loss_from_model(apply, state, [(x[:1], y[:1])], mse, mesh=mesh)
        except ValueError as e:
            assert "batch 0 has 1 example," in str(e), e
            print("one example refused")
        """
    )
    lines = {
        tuple(line.split(" ", 2)[:2]): np.array(line.split(" ", 2)[2].split(), np.float64)
        for line in out.splitlines()
        if line.startswith(("hvp ", "top "))
    }
    single_eval = loss_from_model(apply, state, _split(x, y, EVAL_SIZES), _mse)
    single_train = loss_from_model(apply, state, _split(x, y, TRAIN_SIZES), _mse, train=True)
    one_device = {
        "False": np.asarray(ravel_pytree(hvp(single_eval, params)(v))[0]),
        # The train-mode test's Hessian (compiled there) times v.
        "True": np.asarray(hessian(single_train, params) @ ravel_pytree(v)[0]),
    }
    for train, a in one_device.items():
        b = lines[("hvp", train)]
        err = float(np.max(np.abs(a - b)) / np.max(np.abs(a)))
        assert err < 1e-5, (train, err)
    top = eigenvalues(hvp(single_eval, params), params, k=2, key=jax.random.key(0), num_iters=16)
    np.testing.assert_allclose(np.asarray(top.eigenvalues), lines[("top", "False")], rtol=1e-4)
    assert "indivisible batch refused" in out and "one example refused" in out
    assert "make_mesh ok" in out
