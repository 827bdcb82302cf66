"""Values as strict JSON: NumPy and JAX values unwrapped, NaN as null, ±inf as "Infinity"."""

import json
import math

import jax.numpy as jnp
import numpy as np
import pytest

from jaxtrain._json import from_json_float, json_float, to_jsonable


def test_to_jsonable_converts_numpy_jax_and_nested_values():
    value = {
        "a": np.float32(0.5),
        "b": jnp.arange(3),
        "c": (1, 2.5, "x"),
        "d": {"e": np.array([[1.0, 2.0]])},
        "f": jnp.bool_(True),
        "g": None,
    }
    assert to_jsonable(value) == {
        "a": 0.5,
        "b": [0, 1, 2],
        "c": [1, 2.5, "x"],
        "d": {"e": [[1.0, 2.0]]},
        "f": True,
        "g": None,
    }


def test_to_jsonable_writes_nan_as_none_and_infinities_as_strings():
    # A missing number (NaN) and a measured infinite one (a loss that overflowed) differ:
    # before, both were null in every JSON but the history's.
    assert to_jsonable([float("nan"), np.inf, jnp.float32(-jnp.inf), 1.0]) == [
        None,
        "Infinity",
        "-Infinity",
        1.0,
    ]
    assert to_jsonable(np.array([np.inf, np.nan])) == ["Infinity", None]


def test_json_floats_round_trip():
    values = [0.5, float("inf"), -float("inf"), 0.0]
    assert [from_json_float(json_float(v)) for v in values] == values
    assert math.isnan(from_json_float(json_float(float("nan"))))
    with pytest.raises(ValueError, match="not a JSON float: 'inf'"):
        from_json_float("inf")


def test_to_jsonable_rejects_unknown_objects():
    with pytest.raises(TypeError, match="cannot store object"):
        to_jsonable(object())


def test_a_fallback_stores_other_objects_and_the_result_is_strict_json():
    class Kind:
        def __str__(self):
            return "saddle"

    value = {"kind": Kind(), "losses": np.array([1.0, np.nan])}
    stored = to_jsonable(value, fallback=str)
    assert stored == {"kind": "saddle", "losses": [1.0, None]}
    assert json.loads(json.dumps(stored, allow_nan=False)) == stored


@pytest.mark.parametrize("dtype", ["bfloat16", "float8_e4m3fn", "float8_e5m2"])
def test_ml_dtypes_floats_are_numbers_too(dtype):
    # A landscape of bfloat16 parameters returns bfloat16 losses; NumPy does not call them
    # floating, so they were refused as objects.
    values = jnp.asarray([1.5, jnp.nan], dtype)
    assert to_jsonable({"curve": values, "first": values[0]}) == {
        "curve": [1.5, None],
        "first": 1.5,
    }
