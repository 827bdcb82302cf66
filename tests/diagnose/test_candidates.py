"""ModelSpec, Candidate and as_candidates: the ways of naming candidate models."""

import dataclasses

import jax.numpy as jnp
import pytest
from flax import nnx

from jaxtrain import nn
from jaxtrain.diagnose import Candidate, ModelSpec, as_candidates


def test_an_mlp_spec_builds_the_jaxtrain_mlp():
    spec = ModelSpec("mlp", (5,), 3, width=16, depth=2, activation="tanh", norm="layer")
    model = spec(nnx.Rngs(0))
    assert isinstance(model, nn.MLP)
    assert model(jnp.ones((4, 5))).shape == (4, 3)
    _, params, _ = nn.functional(model)
    reference = nn.MLP(5, 16, 3, depth=2, activation="tanh", norm="layer", rngs=nnx.Rngs(0))
    _, ref_params, _ = nn.functional(reference)
    assert jnp.allclose(params["head"]["kernel"], ref_params["head"]["kernel"])


def test_a_cnn_spec_doubles_filters_per_block():
    spec = ModelSpec("cnn", (8, 8, 1), 10, width=4, depth=2)
    assert spec.channels == (4, 8)
    model = spec.build(nnx.Rngs(0))
    assert isinstance(model, nn.CNN)
    assert model(jnp.ones((2, 8, 8, 1))).shape == (2, 10)
    assert spec.shallower().channels == (4,) and spec.shallower().shallower() is None
    assert spec.wider().channels == (16, 32)


def test_derived_variants_of_an_mlp():
    deep = ModelSpec("mlp", (2,), 3, width=32, depth=6, activation="sigmoid", norm="batch")
    assert deep.shallower() == dataclasses.replace(deep, depth=1)
    assert deep.wider(2) == dataclasses.replace(deep, width=64)
    one = dataclasses.replace(deep, depth=1)
    assert one.shallower().depth == 0 and one.shallower().name == "linear"
    linear = ModelSpec("mlp", (2,), 3, depth=0)
    assert linear.shallower() is None
    assert linear.wider().depth == 1 and linear.wider().width == linear.width
    assert deep.name == "mlp-6x32-sigmoid-batchnorm"
    assert ModelSpec("mlp", (2,), 3, depth=2, residual=True).name == "mlp-2x64-relu-residual"


def test_round_trip_through_a_dict():
    spec = ModelSpec("cnn", (8, 8, 1), 10, width=4, depth=2, norm="batch")
    assert ModelSpec.from_dict(spec.to_dict()) == spec
    assert spec.to_dict()["in_shape"] == [8, 8, 1]
    with pytest.raises(ValueError, match="unknown ModelSpec fields"):
        ModelSpec.from_dict({**spec.to_dict(), "layers": 3})


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"family": "rnn"}, "family"),
        ({"in_shape": (8, 8)}, "flat inputs"),
        ({"family": "cnn", "in_shape": (8,)}, r"\(H, W, C\)"),
        ({"width": 0}, "width"),
        ({"out_features": True}, "out_features"),
        ({"depth": -1}, "depth"),
        ({"family": "cnn", "in_shape": (8, 8, 1), "depth": 0}, "depth"),
        ({"family": "cnn", "in_shape": (8, 8, 1), "residual": True}, "residual"),
        ({"in_shape": (0,)}, "positive"),
    ],
)
def test_bad_specs_raise(kwargs, match):
    args = {"family": "mlp", "in_shape": (4,), "out_features": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        ModelSpec(**args)


def test_as_candidates_forms():
    spec = ModelSpec("mlp", (4,), 2, depth=3)
    cands, p = as_candidates(spec)
    assert [c.name for c in cands] == ["mlp-1x64-relu", "mlp-3x64-relu", "mlp-3x256-relu"]
    assert p == 1 and cands[1].factory is spec

    def my_model(rngs):
        return nnx.Linear(4, 2, rngs=rngs)

    assert as_candidates(my_model) == ([Candidate("my_model", my_model)], 0)
    assert as_candidates(("lin", my_model))[0][0].name == "lin"
    cands, p = as_candidates([spec, lambda rngs: None, ("lin", my_model), Candidate("c", my_model)])
    assert [c.name for c in cands] == ["mlp-3x64-relu", "candidate_1", "lin", "c"] and p == 3
    cands, p = as_candidates([spec, spec], primary=0)
    assert [c.name for c in cands] == ["mlp-3x64-relu", "mlp-3x64-relu#2"] and p == 0
    assert as_candidates([spec, my_model], primary="my_model")[1] == 1
    assert as_candidates([spec, my_model], primary=-2)[1] == 0


def test_as_candidates_errors():
    with pytest.raises(ValueError, match="empty"):
        as_candidates([])
    with pytest.raises(TypeError, match="candidate 1 is a str"):
        as_candidates([lambda rngs: None, "mlp"])
    with pytest.raises(TypeError, match="`models` is a int"):
        as_candidates(3)
    built = nn.MLP(2, 4, 2, depth=1, rngs=nnx.Rngs(0))
    with pytest.raises(TypeError, match="candidate 0 is a built MLP module; give a factory"):
        as_candidates(built)
    with pytest.raises(TypeError, match="candidate 1 is a built MLP module"):
        as_candidates([lambda rngs: None, built])
    with pytest.raises(ValueError, match="not a candidate name"):
        as_candidates([lambda rngs: None], primary="x")
    with pytest.raises(ValueError, match="out of range"):
        as_candidates([lambda rngs: None], primary=2)


def test_duplicate_names_never_collide_with_a_name_the_user_gave():
    # Before: ["x", "x", "x#2"] became ["x", "x#2", "x#2"]: two candidates under one name,
    # and `primary="x#2"` picked the wrong one.
    def f(rngs):
        return nnx.Linear(2, 2, rngs=rngs)

    cands, p = as_candidates([("x", f), ("x", f), ("x#2", f)], primary="x#2")
    names = [c.name for c in cands]
    assert len(set(names)) == 3 and names[0] == "x" and names[2] == "x#2", names
    assert p == 2
    names = [c.name for c in as_candidates([("x#2", f), ("x", f), ("x", f), ("x", f)])[0]]
    assert len(set(names)) == 4 and names[:2] == ["x#2", "x"], names


@pytest.mark.parametrize("primary", [1.7, True, 0.0])
def test_a_primary_that_is_neither_a_name_nor_an_int_is_refused(primary):
    # 1.7 was truncated to candidate 1 and True read as 1.
    spec = ModelSpec("mlp", (2,), 2, depth=3)
    with pytest.raises(TypeError, match="primary"):
        as_candidates(spec, primary=primary)


def test_numpy_ints_are_spec_sizes():
    import numpy as np

    spec = ModelSpec("mlp", (2,), np.int64(2), depth=np.int64(3))
    assert spec.out_features == 2 and spec.depth == 3


def test_a_shallower_variant_with_more_parameters_is_left_out():
    # A 1x4 MLP on 64 features has 310 parameters, the linear model 650: not a simpler model,
    # and diagnose then refused the ladder it had derived itself ("increasing capacity").
    narrow = ModelSpec("mlp", (64,), 10, width=4, depth=1)
    specs, index = narrow.variants()
    assert [s.name for s in specs] == ["mlp-1x4-relu", "mlp-1x16-relu"] and index == 0
    assert narrow.num_params == 64 * 4 + 4 + 4 * 10 + 10
    wide = ModelSpec("mlp", (64,), 10, width=64, depth=1)
    assert [s.name for s in wide.variants()[0]] == ["linear", "mlp-1x64-relu", "mlp-1x256-relu"]
