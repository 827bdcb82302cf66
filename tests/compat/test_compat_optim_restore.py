"""An optax adam state saved with orbax restores into jaxtrain's adam, and the reverse.

The two states have the same tree (optax's ``ScaleByAdamState`` and ``EmptyState``), so
``StandardCheckpointer.restore`` with the other library's state as the target works, and the
run continues to bit-equal float32 parameters: the same operations in the same order.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
import pytest

import jaxtrain.optim as jt

STEPS_BEFORE, STEPS_AFTER = 3, 5


def _params():
    rng = np.random.default_rng(0)
    return {
        "w": jnp.asarray(rng.standard_normal((3, 2)), jnp.float32),
        "b": jnp.asarray(rng.standard_normal(2), jnp.float32),
    }


def _loss(params):
    return jnp.sum(jnp.sin(params["w"]) ** 2) + jnp.sum((params["b"] - 1.0) ** 2)


def _train(optimizer, params, state, steps):
    @jax.jit
    def run(params, state):
        def step(carry, _):
            params, state = carry
            updates, state = optimizer.update(jax.grad(_loss)(carry[0]), state, params)
            return (optax.apply_updates(params, updates), state), None

        return jax.lax.scan(step, (params, state), None, steps)[0]

    return run(params, state)


@pytest.mark.parametrize(
    ("saver", "restorer"),
    [(optax.adam(0.05), jt.adam(0.05)), (jt.adam(0.05), optax.adam(0.05))],
    ids=["optax_to_jaxtrain", "jaxtrain_to_optax"],
)
def test_adam_state_restores_across_libraries(tmp_path, saver, restorer):
    params, state = _train(saver, _params(), saver.init(_params()), STEPS_BEFORE)
    checkpointer = ocp.StandardCheckpointer()
    checkpointer.save(tmp_path / "state", {"params": params, "opt_state": state})
    checkpointer.wait_until_finished()
    target = {"params": params, "opt_state": restorer.init(params)}
    restored = checkpointer.restore(tmp_path / "state", target)
    assert jax.tree.structure(restored["opt_state"]) == jax.tree.structure(target["opt_state"])
    assert isinstance(restored["opt_state"][0], optax.ScaleByAdamState)
    assert int(restored["opt_state"][0].count) == STEPS_BEFORE

    continued, _ = _train(restorer, restored["params"], restored["opt_state"], STEPS_AFTER)
    reference, _ = _train(saver, params, state, STEPS_AFTER)
    for got, want in zip(jax.tree.leaves(continued), jax.tree.leaves(reference), strict=True):
        np.testing.assert_array_equal(got, want)
