"""``jaxtrain diagnose DATA.npz``: the lecture's flowchart on the user's data."""

from __future__ import annotations

import argparse
from typing import Any

from jaxtrain._arg_types import checked_number, positive_float, positive_int
from jaxtrain._output_dir import add_output_arguments, claim_output_dir
from jaxtrain.cli._args import add_model_arguments, shape_inputs, spec_from_args
from jaxtrain.cli._errors import CommandError

__all__ = ["register", "run"]

# diagnose's Budget refuses more: half the training data is the most a held-out gap may cost.
_holdout_fraction = checked_number(
    float, lambda v: 0 < v <= 0.5, "a number in (0, 0.5]", "A float in (0, 0.5]."
)

_DESCRIPTION = """\
Diagnose why a model fails: model bias, optimization issue, overfitting or mismatch.

Trains the model described by --model/--width/--depth together with a shallower and a wider
variant of it, with the same budget over several seeds, and runs the lecture's flowchart:
a large training loss is model bias or an optimization issue (does a shallower model train
better?), a small training loss with a large validation loss is overfitting or mismatch (is
a held-out split of the training data fine?). Prints the verdict with the evidence and the
remedies, and writes diagnosis.json, diagnosis.md and the training-curve PNGs into --out.

DATA.npz holds x_train, y_train, x_val, y_val (and optionally x_test, y_test); integer
labels mean classification (softmax cross-entropy), float targets regression (MSE).
"""

_EPILOG = """\
examples:
  # the 8x8 digits split at random (digits.npz), and the same split with the validation
  # digits' ink inverted, white on black (inverted.npz): another distribution
  python -c "import numpy as np; from sklearn.datasets import load_digits; \\
x, y = load_digits(return_X_y=True); i = np.random.default_rng(0).permutation(len(y)); \\
x, y = x[i] / 16, y[i]; train = dict(x_train=x[:1000], y_train=y[:1000]); \\
np.savez('digits.npz', **train, x_val=x[1000:], y_val=y[1000:]); \\
np.savez('inverted.npz', **train, x_val=1 - x[1000:], y_val=y[1000:])"
  # ok: a small training loss, and the validation loss close to it
  jaxtrain diagnose digits.npz --out diagnosis
  # mismatch: held-out digits are fine, the inverted validation digits are not
  jaxtrain diagnose inverted.npz --out inverted
  # optimization: 8 sigmoid layers train worse than 1 layer of the same width
  jaxtrain diagnose digits.npz --depth 8 --width 32 --activation sigmoid --seeds 2 --json
"""


def register(subparsers: Any) -> None:
    """Adds the ``diagnose`` subcommand."""
    parser = subparsers.add_parser(
        "diagnose",
        help="model bias, optimization, overfitting or mismatch? (lecture §1)",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("data", metavar="DATA.npz", help="x_train, y_train, x_val, y_val arrays")
    parser.add_argument(
        "--test",
        metavar="TEST.npz",
        help="test data: x_test, y_test (or x, y) (default: none)",
    )
    add_output_arguments(
        parser, default="jaxtrain-diagnose", help="output folder (default: %(default)s)"
    )
    parser.add_argument(
        "--json", action="store_true", help="print the diagnosis as JSON instead of Markdown"
    )
    add_model_arguments(parser, depth=2, width=64)
    budget = parser.add_argument_group("budget (the same for every candidate)")
    budget.add_argument("--steps", type=positive_int, default=300, help="(default: %(default)s)")
    budget.add_argument(
        "--batch-size",
        type=positive_int,
        default=64,
        help="(default: %(default)s; capped at the examples a candidate trains on)",
    )
    budget.add_argument(
        "--learning-rate", type=positive_float, default=3e-3, help="Adam's (default: %(default)s)"
    )
    budget.add_argument(
        "--seeds", type=positive_int, default=3, help="runs per candidate (default: %(default)s)"
    )
    budget.add_argument(
        "--holdout",
        type=_holdout_fraction,
        default=0.2,
        help="share of the training data held out in-distribution, at most 0.5 "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--standardize",
        action="store_true",
        help="standardize inputs with the training data's mean and std (all splits alike)",
    )
    parser.add_argument(
        "--train-all",
        action="store_true",
        help="train the shallower and wider variants even when the training loss is small "
        "(slower; more curves to compare)",
    )
    parser.add_argument(
        "--no-curvature", action="store_true", help="skip the Hessian check at a critical point"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Runs ``jaxtrain diagnose``; returns the exit status."""
    from jaxtrain.cli._npz import load_splits
    from jaxtrain.cli._progress import progress
    from jaxtrain.diagnose._diagnosis import COMMAND

    splits = load_splits(args.data, test_path=args.test, num_classes=args.num_classes)
    # Refuse a bad --out before minutes of training, not after; create it once the other
    # arguments passed, so that a refused one leaves no empty folder behind.
    claim_output_dir(args.out, COMMAND, overwrite=args.overwrite, create=False)
    pairs = {}
    for split in ("train", "val", "test"):
        pair = splits.pair(split)
        if pair is not None:
            pairs[split] = (shape_inputs(pair[0], args.model, f"x_{split}"), pair[1])
    if args.standardize:
        from jaxtrain import data

        mean, std = data.fit_standardizer(pairs["train"][0])
        pairs = {k: (data.standardize(x, mean, std), y) for k, (x, y) in pairs.items()}
    spec = spec_from_args(args, pairs["train"][0].shape, splits.num_outputs, variants=True)

    from jaxtrain.diagnose import Budget, diagnose

    try:
        budget = Budget(
            steps=args.steps,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            seeds=args.seeds,
            holdout_fraction=args.holdout,
        )
        diagnosis = diagnose(
            spec,
            pairs["train"],
            pairs["val"],
            test_data=pairs.get("test"),
            budget=budget,
            train_all=args.train_all,
            curvature=not args.no_curvature,
            progress=progress("diagnose"),
        )
    except ValueError as error:
        raise CommandError(str(error)) from None
    import matplotlib

    matplotlib.use("Agg")  # files only: no window, no display needed
    # Made only now: data the run itself refuses (constant targets) leave no empty folder.
    out = claim_output_dir(args.out, COMMAND, overwrite=args.overwrite)
    try:
        written = diagnosis.save(out, overwrite=args.overwrite)
    except OSError as error:
        raise CommandError(f"cannot write to {out}: {error.strerror or error}") from None
    if args.json:
        print(diagnosis.to_json())
    else:
        print(diagnosis.to_markdown())
        print("wrote " + ", ".join(str(path) for path in written))
    return 0
