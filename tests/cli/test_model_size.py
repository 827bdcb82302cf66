"""The model's size is counted from its spec, exactly, and a too-large one refused at once."""

import jax
import numpy as np
import pytest
from flax import nnx

from jaxtrain.cli._errors import CommandError
from jaxtrain.cli._model_size import MAX_DEPTH, check_model_size, variable_count
from jaxtrain.diagnose import ModelSpec

SPECS = [
    ModelSpec("mlp", (5,), 3, width=4, depth=0),
    ModelSpec("mlp", (5,), 3, width=4, depth=1),
    ModelSpec("mlp", (5,), 3, width=4, depth=3, norm="batch"),
    ModelSpec("mlp", (5,), 3, width=6, depth=2, norm="layer", residual=True),
    ModelSpec("cnn", (8, 8, 2), 3, width=4, depth=1),
    ModelSpec("cnn", (8, 8, 1), 10, width=2, depth=3, norm="batch"),
    ModelSpec("cnn", (4, 4, 3), 2, width=3, depth=2, norm="layer"),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_the_count_is_the_built_models_own(spec):
    # Shapes only: the count is what the model would allocate, without allocating it.
    model = nnx.eval_shape(lambda: spec.build(nnx.Rngs(0)))
    built = sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(nnx.state(model)))
    assert variable_count(spec) == built


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        # Was killed by the kernel's OOM killer at 19.4 GB.
        (
            ModelSpec("mlp", (64,), 10, width=100_000_000),
            r"--width 100000000 --depth 2: the model \(mlp-2x100000000-relu\) has 1e\+16 "
            r"variables \(4e\+16 bytes of float32\), above the limit of 1,073,741,824 bytes",
        ),
        # Printed nothing for 600 s.
        (ModelSpec("mlp", (64,), 10, depth=100_000), "at most 1,000 layers"),
        (ModelSpec("cnn", (8, 8, 1), 10, width=8, depth=40), r"1\.16e\+26 variables"),
        (ModelSpec("cnn", (8, 8, 1), 10, width=8, depth=900), r"about 10\^543 variables"),
        (
            ModelSpec("mlp", (64,), 10, width=20_000),
            r"has 401,520,010 variables \(1,606,080,040 bytes",
        ),
    ],
)
def test_a_model_too_large_or_too_deep_is_refused_with_its_numbers(spec, match):
    with pytest.raises(CommandError, match=match) as info:
        check_model_size(spec)
    assert "\n" not in str(info.value)


def test_diagnose_checks_the_wider_variant_it_trains():
    spec = ModelSpec("mlp", (64,), 10, width=8_000)  # 64M variables; 4x wider is 1G
    check_model_size(spec)
    with pytest.raises(CommandError, match=r"the variant diagnose compares it with \(mlp-2x32000"):
        check_model_size(spec, variants=True)
    check_model_size(ModelSpec("mlp", (64,), 10, depth=MAX_DEPTH, width=1))


def test_a_model_too_large_for_its_outputs_names_them():
    # Before: --num-classes 3,000,000,000 was blamed on --width 8 --depth 2.
    with pytest.raises(CommandError, match=r"3,000,000,000 outputs .*--num-classes") as info:
        check_model_size(ModelSpec("mlp", (4,), 3_000_000_000, width=8))
    assert "--width or --depth" not in str(info.value)
    # Ten outputs of a hidden layer too wide: the width is to blame, not the outputs.
    with pytest.raises(CommandError, match=r"choose a smaller --width or --depth"):
        check_model_size(ModelSpec("mlp", (4,), 10, width=20_000_000, depth=1))
