"""``jaxtrain explain DATA.npz``: train the user's run with the monitors on and name its cause."""

from __future__ import annotations

import argparse
import pathlib
import sys
from typing import Any

from jaxtrain._arg_types import non_negative_int, positive_int, random_seed
from jaxtrain._output_dir import add_output_arguments, claim_output_dir
from jaxtrain._text import counted
from jaxtrain.cli._args import add_model_arguments, shape_inputs, spec_from_args
from jaxtrain.cli._errors import CommandError, UsageError

__all__ = ["register", "run"]

_DESCRIPTION = """\
Explain why one training run fails: the lecture's causes (§2-§6), ranked by evidence.

Trains the model described by --model/--width/--depth with the given optimizer, learning
rate, batch size and steps (one run, one seed), measuring inside the loop the sharpness
against the optimizer's stability threshold, the gradient noise scale and the update size.
Then probes what it needs: the Hessian at the end and a step along its lowest eigenvector
(saddle or minimum?), a re-run at η/10 or lower (chosen from the measured sharpness) when
the learning rate is suspect, the input features' scales and the saturation of wrong
predictions. Prints the causes (saddle_point, local_minimum, learning_rate_too_high,
ill_conditioned, saturated_loss, batch_size, learning_rate_too_low) with their numbers and
remedies, and writes explanation.json, explanation.md and explanation.png into --out. A
healthy run gets none.

DATA.npz holds x_train, y_train (x_val, y_val optional); integer labels mean classification
(softmax cross-entropy), float targets regression (MSE).
"""

_EPILOG = """\
examples:
  # digits.npz: made by the first example of `jaxtrain diagnose --help`
  # learning_rate_too_high: λmax·η/2 far above 1, SGD's stability limit; a lower η does better
  jaxtrain explain digits.npz --optimizer sgd --lr 10 --standardize --activation tanh --steps 200
  # healthy: a small training loss and no cause
  jaxtrain explain digits.npz --optimizer adam --lr 3e-3 --steps 200 --json
  # learning_rate_too_low: still falling at the end, near the baseline, with λmax·η/2 ≪ 1
  jaxtrain explain digits.npz --optimizer sgd --lr 1e-3 --steps 400 --out why
"""


def register(subparsers: Any) -> None:
    """Adds the ``explain`` subcommand."""
    from jaxtrain.cli._train import add_optimizer_arguments

    parser = subparsers.add_parser(
        "explain",
        help="why does this run fail? saddle, learning rate, batch, loss, scales (§2-§6)",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("data", metavar="DATA.npz", help="x_train, y_train (x_val, y_val)")
    add_output_arguments(
        parser, default="jaxtrain-explain", help="output folder (default: %(default)s)"
    )
    parser.add_argument(
        "--json", action="store_true", help="print the explanation as JSON instead of Markdown"
    )
    add_model_arguments(parser, depth=2, width=64)
    opt = parser.add_argument_group("the run")
    add_optimizer_arguments(opt, ("--lr", "--learning-rate"), "η (default: %(default)s)")
    opt.add_argument(
        "--batch-size",
        type=non_negative_int,
        default=64,
        help="examples per step; 0 for the whole training set (default: %(default)s)",
    )
    opt.add_argument("--steps", type=positive_int, default=1000, help="(default: %(default)s)")
    parser.add_argument(
        "--seed",
        type=random_seed,
        default=0,
        help="initialization and batches (default: %(default)s)",
    )
    parser.add_argument(
        "--standardize",
        action="store_true",
        help="standardize inputs with the training data's mean and std",
    )
    parser.add_argument(
        "--no-curvature", action="store_true", help="skip the Hessian at the end of the run"
    )
    parser.add_argument(
        "--no-probe", action="store_true", help="skip the re-run at a lower learning rate"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Runs ``jaxtrain explain``; returns the exit status."""
    from jaxtrain.cli._npz import file_digest, load_splits
    from jaxtrain.cli._train import make_optimizer, optimizer_config
    from jaxtrain.diagnose._explanation import COMMAND

    splits = load_splits(args.data, require_val=False, num_classes=args.num_classes)
    # A bad --out is refused first; the folder is made once the other arguments passed.
    claim_output_dir(args.out, COMMAND, overwrite=args.overwrite, create=False)
    pairs = {}
    for split in ("train", "val"):
        pair = splits.pair(split)
        if pair is not None:
            pairs[split] = (shape_inputs(pair[0], args.model, f"x_{split}"), pair[1])
    x_train = pairs["train"][0]
    if args.batch_size > x_train.shape[0]:
        raise UsageError(
            f"--batch-size {args.batch_size} is larger than the "
            f"{counted(x_train.shape[0], 'training example')} (0 means the whole set)"
        )
    if args.standardize:
        from jaxtrain import data

        mean, std = data.fit_standardizer(x_train)
        pairs = {k: (data.standardize(x, mean, std), y) for k, (x, y) in pairs.items()}
    spec = spec_from_args(args, pairs["train"][0].shape, splits.num_outputs)
    # explain trains --steps at a constant η: no schedule, no warmup and no epochs, which
    # train's record of an optimizer (optimizer_config) holds too.
    args.schedule, args.warmup_steps, args.epochs = "constant", None, None
    optimizer = make_optimizer(args, args.steps)
    # What explain_run cannot know and the folder must show to tell two runs apart: recorded
    # as `train` records them in its checkpoint, the batch size 0 as the size it stands for.
    settings = {
        "optimizer": {**optimizer_config(args), "batch_size": args.batch_size or x_train.shape[0]},
        "model": spec.to_dict(),
        "data": {
            "path": str(pathlib.Path(args.data).resolve()),
            "sha256": file_digest(args.data, f"--data {args.data}"),
            "standardize": args.standardize,
        },
    }
    settings["run"] = _run_line(settings, args.seed)

    from flax import nnx

    from jaxtrain.diagnose import explain_run

    try:
        explanation = explain_run(
            spec.build(nnx.Rngs(args.seed)),
            optimizer,
            pairs["train"],
            steps=args.steps,
            batch_size=args.batch_size or None,
            val_data=pairs.get("val"),
            seed=args.seed,
            curvature=not args.no_curvature,
            probe=not args.no_probe,
            settings=settings,
            progress=sys.stderr.isatty(),
        )
    except ValueError as error:
        raise CommandError(str(error)) from None
    import matplotlib

    matplotlib.use("Agg")  # files only: no window, no display needed
    # Made only now: data the run itself refuses (constant targets) leave no empty folder.
    out = claim_output_dir(args.out, COMMAND, overwrite=args.overwrite)
    try:
        written = explanation.save(out, overwrite=args.overwrite)
    except OSError as error:
        raise CommandError(f"cannot write to {out}: {error.strerror or error}") from None
    if args.json:
        print(explanation.to_json())
    else:
        print(explanation.to_markdown())
        print("wrote " + ", ".join(str(path) for path in written))
    return 0


def _run_line(settings: dict[str, Any], seed: int) -> str:
    """The run in one line, which opens the Markdown's "The run": model, optimizer, η, data
    file, standardization, seed."""
    from jaxtrain.cli._train import TUNED
    from jaxtrain.diagnose import ModelSpec

    optimizer, data = settings["optimizer"], settings["data"]
    # The Markdown names the option beyond η that the optimizer reads.
    tuned = TUNED.get(optimizer["name"])
    extra = f" ({tuned.replace('_', ' ')} {optimizer[tuned]:g})" if tuned else ""
    return (
        f"{ModelSpec.from_dict(settings['model']).name} trained by {optimizer['name']} "
        f"at η = {optimizer['learning_rate']:g}{extra} on {data['path']} "
        f"(SHA-256 {data['sha256'][:12]}…)"
        + (", inputs standardized" if data["standardize"] else "")
        + f", seed {seed}"
    )
