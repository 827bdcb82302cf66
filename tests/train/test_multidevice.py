"""Data parallelism on 8 emulated CPU devices equals the one-device run."""

import pytest

CODE = """
import jax
import numpy as np
import optax
from flax import nnx
from jax.sharding import Mesh

from jaxtrain.losses import accuracy, softmax_cross_entropy
from jaxtrain.nn import MLP, functional
from jaxtrain.train import evaluate, fit

assert jax.device_count() == 8
rng = np.random.default_rng(0)
x = rng.normal(size=(60, 4)).astype(np.float32)
y = (np.arange(60) % 3).astype(np.int32)
triple = functional(MLP(4, 8, 3, depth=1, norm="batch", rngs=nnx.Rngs(0)))
opt = optax.sgd(0.1, momentum=0.9)
# batch 16: two devices' worth each; the last batch of 12 does not split over 8 devices
kw = dict(loss=softmax_cross_entropy, epochs=2, batch_size=16, val_data=(x[:20], y[:20]),
          metrics=[accuracy], progress=False)

def close(a, b):
    for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=2e-5, atol=2e-6)

one = Mesh(np.array(jax.devices()[:1]), ("data",))
s1, h1 = fit(triple, opt, (x, y), mesh=one, **kw)
s8, h8 = fit(triple, opt, (x, y), **kw)  # default: all devices on a "data" axis
close(s1.params, s8.params)
close(s1.model_state, s8.model_state)  # BatchNorm statistics over the global batch
close(h1.per_step["loss"], h8.per_step["loss"])
close(h1.per_epoch["val_loss"], h8.per_epoch["val_loss"])
leaf = jax.tree.leaves(s8.params)[0]
assert leaf.sharding.is_fully_replicated and len(leaf.sharding.device_set) == 8

fed, hf = fit(triple, opt, (x, y), data_on_device=False, **kw)  # the multi-process path
close(s8.params, fed.params)
close(h8.per_step["loss"], hf.per_step["loss"])

grid = Mesh(np.array(jax.devices()).reshape(4, 2), ("data", "model"))
s42, _ = fit(triple, opt, (x, y), mesh=grid, **kw)
close(s1.params, s42.params)

# The README's way to choose devices: jax.make_mesh, whose axes are Explicit in newer jax
# (before: with_sharding_constraint refused them with "can only refer to Auto axes").
made = jax.make_mesh((8,), ("data",))
s_made, _ = fit(triple, opt, (x, y), mesh=made, **kw)
close(s1.params, s_made.params)
assert evaluate(s_made, (x, y), loss=softmax_cross_entropy, mesh=made)["loss"] > 0

e1 = evaluate(s1, (x, y), loss=softmax_cross_entropy, metrics=[accuracy], mesh=one)
e8 = evaluate(s8, (x, y), loss=softmax_cross_entropy, metrics=[accuracy], batch_size=24)
# the same number of correct predictions (the float means may differ in the last bit)
assert abs(e1["loss"] - e8["loss"]) < 1e-5
assert round(e1["accuracy"] * len(x)) == round(e8["accuracy"] * len(x))

# Inside jax.set_mesh (Explicit axes, as jax.make_mesh makes them in newer jax): fit and
# evaluate take the context's mesh by default and a mesh passed as given, and train as
# outside (before: the batch constraint refused Explicit axes, and the default Auto mesh
# clashed with the context's).
from jax.sharding import AxisType
explicit = (AxisType.Explicit,)
all8 = jax.make_mesh((8,), ("data",), axis_types=explicit)
half = jax.make_mesh((4,), ("data",), axis_types=explicit, devices=jax.devices()[:4])
for context, given in ((all8, all8), (all8, None), (half, None), (all8, half)):
    with jax.set_mesh(context):
        s_in, h_in = fit(triple, opt, (x, y), mesh=given, **kw)
        e_in = evaluate(s_in, (x, y), loss=softmax_cross_entropy, metrics=[accuracy], mesh=given)
    close(s1.params, s_in.params)
    close(s1.model_state, s_in.model_state)
    close(h1.per_epoch["val_loss"], h_in.per_epoch["val_loss"])
    assert abs(e1["loss"] - e_in["loss"]) < 1e-5, (e1, e_in)
    used = jax.tree.leaves(s_in.params)[0].sharding.device_set
    assert used == set((given or context).devices.flat), (context, given, used)

for bad_kw, message in (({"batch_size": 12}, "does not split over the 8 devices"),
                        ({"mesh": Mesh(np.array(jax.devices()).reshape(4, 2), ("a", "b"))},
                         "name the data-parallel one")):
    try:
        fit(triple, opt, (x, y), **{**kw, **bad_kw})
    except ValueError as error:
        assert message in str(error), str(error)
    else:
        raise AssertionError(f"no error for {bad_kw}")
print("OK")
"""


@pytest.mark.multidevice
@pytest.mark.slow
def test_eight_devices_equal_one(multi_device):
    assert multi_device(CODE).strip().endswith("OK")
