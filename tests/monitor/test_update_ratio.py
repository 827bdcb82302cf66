"""‖Δθ‖/‖θ‖ overall and per layer, against NumPy."""

import numpy as np
from flax import nnx

from jaxtrain import losses, monitor, nn, optim, train
from jaxtrain.data import load_digits


def test_update_ratios_match_numpy_overall_and_per_layer():
    x, y = load_digits()
    x, y = x[:64], y[:64]
    triple = nn.functional(nn.MLP(64, 16, 10, depth=1, rngs=nnx.Rngs(0)))
    mon = monitor.update_ratio()
    state, history = train.fit(
        triple,
        optim.sgd(0.1),
        (x, y),
        loss=losses.softmax_cross_entropy,
        steps=1,
        batch_size=None,
        monitors=[mon],
        progress=False,
    )
    before, after = triple[1], state.params
    names = mon.record_names(before)
    assert names[0] == "update_ratio" and len(names) == 3
    assert set(names) <= set(history.per_step)

    def ratio(old, new):
        old = [np.asarray(a, np.float64) for a in old]
        delta = [np.asarray(b, np.float64) - a for a, b in zip(old, new, strict=True)]
        norm = lambda arrays: np.sqrt(sum(np.sum(a**2) for a in arrays))  # noqa: E731
        return norm(delta) / norm(old)

    import jax

    expected = ratio(jax.tree.leaves(before), jax.tree.leaves(after))
    np.testing.assert_allclose(history.per_step["update_ratio"][0], expected, rtol=1e-5)
    head = names[1] if "head" in names[1] else names[2]
    layer = head.split("/", 1)[1].split("/")
    np.testing.assert_allclose(
        history.per_step[head][0],
        ratio(jax.tree.leaves(_get(before, layer)), jax.tree.leaves(_get(after, layer))),
        rtol=1e-5,
    )


def _get(tree, path):
    for key in path:
        tree = tree[key] if key in tree else tree[int(key)]
    return tree
