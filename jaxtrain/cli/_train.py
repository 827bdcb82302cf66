"""``jaxtrain train``: train an MLP or CNN on built-in or .npz data; checkpoint to inspect."""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import shlex
import sys
from typing import Any

from jaxtrain._arg_types import (
    fraction,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    random_seed,
)
from jaxtrain._json import to_jsonable
from jaxtrain._output_dir import folder_name
from jaxtrain._text import counted, listed
from jaxtrain.cli._args import add_model_arguments, spec_from_args
from jaxtrain.cli._data_ref import BUILTIN
from jaxtrain.cli._errors import CommandError, UsageError

__all__ = ["OPTIMIZERS", "SCHEDULES", "add_optimizer_arguments", "register", "run"]

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw", "radam")
SCHEDULES = ("constant", "cosine", "warmup-cosine", "exponential")

_DESCRIPTION = f"""\
Train a model with jaxtrain.train.fit and print its per-epoch losses.

--data is a built-in set ({", ".join(BUILTIN)}: scikit-learn's 8x8 digits, three noisy
spirals, four Gaussian blobs) or an .npz file with x_train, y_train (and x_val, y_val; without
them --val-fraction of the training data is held out). With --checkpoint-dir the final state
is saved with everything `jaxtrain hessian` needs to rebuild the model and its data.
"""

_EPILOG = """\
examples:
  # an MLP on the 8x8 digits, saved for `jaxtrain hessian run`: validation accuracy ~0.95
  jaxtrain train --data digits --epochs 10 --checkpoint-dir run
  # SGD with linear warmup then cosine decay learns the three spirals: accuracy above 0.95
  jaxtrain train --data spirals --depth 3 --width 64 --optimizer sgd --learning-rate 0.1 \\
      --schedule warmup-cosine --warmup-steps 100 --batch-size 32 --epochs 30
  # a CNN with BatchNorm on the digit images: validation accuracy above 0.95
  jaxtrain train --data digits --model cnn --width 8 --norm batch --optimizer adamw \\
      --learning-rate 3e-3 --epochs 20 --json
"""


def register(subparsers: Any) -> None:
    """Adds the ``train`` subcommand."""
    parser = subparsers.add_parser(
        "train",
        help="train a model on built-in or .npz data, optionally saving a checkpoint",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--data",
        default="digits",
        metavar="NAME|FILE.npz",
        help=f"a built-in set ({', '.join(BUILTIN)}) or an .npz file (default: %(default)s)",
    )
    add_model_arguments(parser, depth=2, width=64)
    opt = parser.add_argument_group("optimization")
    add_optimizer_arguments(opt, ("--learning-rate",), "η, the peak (default: %(default)s)")
    opt.add_argument(
        "--schedule", choices=SCHEDULES, default="constant", help="η(t) (default: %(default)s)"
    )
    opt.add_argument(
        "--warmup-steps",
        type=non_negative_int,
        default=None,
        help="warmup length of warmup-cosine (default: 5%% of the steps)",
    )
    opt.add_argument("--batch-size", type=positive_int, default=64, help="(default: %(default)s)")
    opt.add_argument("--epochs", type=positive_int, default=10, help="(default: %(default)s)")
    parser.add_argument(
        "--seed",
        type=random_seed,
        default=0,
        help="data split, init and batches (default: %(default)s)",
    )
    parser.add_argument(
        "--val-fraction",
        type=fraction,
        default=0.2,
        help="held out when the data have no validation split (default: %(default)s)",
    )
    parser.add_argument(
        "--standardize", action="store_true", help="standardize inputs with training statistics"
    )
    parser.add_argument(
        "--checkpoint-dir",
        metavar="DIR",
        type=folder_name,
        help="save the trained state here (default: none, nothing saved)",
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue from the newest checkpoint in DIR"
    )
    parser.add_argument("--json", action="store_true", help="print a JSON summary")
    parser.set_defaults(func=run)


def add_optimizer_arguments(group: Any, learning_rate_flags: tuple[str, ...], help: str) -> None:
    """The arguments :func:`make_optimizer` reads: optimizer, η, momentum, weight decay."""
    group.add_argument(
        "--optimizer", choices=OPTIMIZERS, default="adam", help="(default: %(default)s)"
    )
    group.add_argument(
        *learning_rate_flags, dest="learning_rate", type=positive_float, default=1e-3, help=help
    )
    group.add_argument(
        "--momentum",
        type=fraction,
        default=0.9,
        help="λ of momentum and nesterov (default: %(default)s)",
    )
    group.add_argument(
        "--weight-decay",
        type=non_negative_float,
        default=1e-4,
        help="adamw's; 0 turns it off (default: %(default)s)",
    )


def _schedule(args: argparse.Namespace, total_steps: int) -> Any:
    from jaxtrain.optim import schedules

    eta = args.learning_rate
    if args.schedule == "constant":
        return eta
    if args.schedule == "cosine":
        return schedules.cosine_decay(eta, total_steps)
    if args.schedule == "exponential":
        # η falls by 10× over the run.
        return schedules.exponential_decay(eta, total_steps, 0.1)
    warmup = args.warmup_steps if args.warmup_steps is not None else max(1, total_steps // 20)
    if warmup >= total_steps:
        given = (
            f"--warmup-steps {warmup}"
            if args.warmup_steps is not None
            else f"the default warmup of {counted(warmup, 'step')} (5% of the run, at least 1)"
        )
        raise UsageError(
            f"{given} leaves no steps to decay over: the run has "
            f"{counted(total_steps, 'step')} (epochs × batches per epoch)"
        )
    return schedules.warmup_cosine_decay(0.0, eta, warmup, total_steps)


# The option beyond η that make_optimizer passes, by optimizer (every one is recorded).
TUNED = {"momentum": "momentum", "nesterov": "momentum", "adamw": "weight_decay"}


def make_optimizer(args: argparse.Namespace, total_steps: int) -> Any:
    """The optimizer the options describe, with its learning-rate schedule."""
    from jaxtrain import optim

    lr = _schedule(args, total_steps)
    name = args.optimizer
    if name == "sgd":
        return optim.sgd(lr)
    if name in ("momentum", "nesterov"):
        return optim.sgd(lr, momentum=args.momentum, nesterov=name == "nesterov")
    if name == "rmsprop":
        return optim.rmsprop(lr)
    if name == "adamw":
        return optim.adamw(lr, weight_decay=args.weight_decay)
    return getattr(optim, name)(lr)


def optimizer_config(args: argparse.Namespace) -> dict[str, Any]:
    """The optimizer options as plain JSON values (stored in the checkpoint)."""
    return {
        "name": args.optimizer,
        "learning_rate": args.learning_rate,
        "momentum": args.momentum,
        "weight_decay": args.weight_decay,
        "schedule": args.schedule,
        "warmup_steps": args.warmup_steps,
        "batch_size": args.batch_size,
        "epochs": args.epochs,
    }


def _epoch_columns(per_epoch: dict[str, Any]) -> dict[str, list[float]]:
    """The per-epoch curves the command reports (the text's table, the JSON's ``per_epoch``)."""
    names = [k for k in ("train_loss", "val_loss", "val_accuracy") if k in per_epoch]
    return {name: [float(v) for v in per_epoch[name]] for name in names}


def _table(columns: dict[str, list[float]]) -> str:
    lines = ["epoch  " + "  ".join(f"{n:>12}" for n in columns)]
    for i, row in enumerate(zip(*columns.values(), strict=True)):
        lines.append(f"{i + 1:>5}  " + "  ".join(f"{v:12.4f}" for v in row))
    return "\n".join(lines)


def _changed_settings(
    saved: dict[str, Any], current: dict[str, Any], section: str
) -> list[tuple[str, Any, Any]]:
    """``(section.key, checkpoint's, this run's)`` for every setting of the metadata's
    ``section`` that differs (``epochs`` aside: training longer is what resuming is for)."""
    before, now = saved.get(section) or {}, current[section]
    return [
        (f"{section}.{key}", before.get(key), now.get(key))
        for key in sorted(set(before) | set(now))
        if key != "epochs"
        and not _same_file_moved(section, key, before, now)
        and not _unused_by_a_linear_model(section, key, before, now)
        and not _unused_by_the_optimizers(section, key, before, now)
        and before.get(key) != now.get(key)
    ]


def _unused_by_the_optimizers(section: str, key: str, before: dict, now: dict) -> bool:
    """A --momentum or --weight-decay that neither run's optimizer reads (Adam's momentum is
    its own β₁) changes nothing, and is no setting to report as changed."""
    if section != "optimizer" or key not in TUNED.values():
        return False
    return all(TUNED.get(run.get("name")) != key for run in (before, now))


def _same_file_moved(section: str, key: str, before: dict, now: dict) -> bool:
    """A data file at another path with the same SHA-256 holds the same data."""
    sha = before.get("sha256")
    return (section, key) == ("data", "path") and sha is not None and sha == now.get("sha256")


def _unused_by_a_linear_model(section: str, key: str, before: dict, now: dict) -> bool:
    """A linear model (an MLP of depth 0) has no hidden layer: its recorded --width (the
    command's default) says nothing of the model, nor its --activation and --norm, which
    checkpoints written before they were refused for it recorded."""
    return (
        section == "model"
        and key in ("width", "activation", "norm")
        and all(spec.get("family") == "mlp" and spec.get("depth") == 0 for spec in (before, now))
    )


def _as_recorded_now(saved: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint's data reference as :func:`load_data` records it now. Older checkpoints
    kept ``val_fraction`` where the file's own validation split left it unused, and
    ``num_classes`` only when given; an inferred count is the model's outputs."""
    reference = dict(saved.get("data") or {})
    if "val_fraction" not in data:
        reference.pop("val_fraction", None)
    if "num_classes" in data and "num_classes" not in reference:
        reference["num_classes"] = (saved.get("model") or {}).get("out_features")
    return reference


def _refusal(
    directory: str, why: str, changed: list[tuple[str, Any, Any]], fix: str
) -> CommandError:
    details = "; ".join(f"{name}: checkpoint {was}, this run {now}" for name, was, now in changed)
    return CommandError(
        f"cannot resume from {directory}: {why} ({details}). {fix}, or choose another "
        "--checkpoint-dir"
    )


def _total_steps(args: argparse.Namespace, num_examples: int) -> int:
    return args.epochs * math.ceil(num_examples / args.batch_size)


# ``optimizer_config``'s keys that are not the option's own name.
_OPTION_OF = {"name": "optimizer"}


def _checkpoints_options(args: argparse.Namespace, saved: dict[str, Any]) -> argparse.Namespace:
    """This run's options with the checkpoint's optimizer settings in their place."""
    return argparse.Namespace(
        **{**vars(args), **{_OPTION_OF.get(k, k): v for k, v in saved.items()}}
    )


def _state_layout(optimizer: Any) -> str:
    """What ``fit`` compares of an optimizer's state on resume (every leaf's path, shape and
    dtype, and the node types above it), taken on a one-number parameter: the optimizer
    options shape the state alike for every model."""
    import jax.numpy as jnp

    from jaxtrain.train._checkpoint import fingerprint, node_types

    state = optimizer.init({"w": jnp.zeros(1)})
    return json.dumps([fingerprint(state), node_types(state)])


# The flags that give back a checkpoint's settings ``fit`` cannot resume with another value
# of (those that shape the optimizer's state, and the batches); --warmup-steps goes with
# --schedule. In the order a command line gives them.
_FLAGS = {
    "name": "--optimizer",
    "schedule": "--schedule",
    "warmup_steps": "--warmup-steps",
    "batch_size": "--batch-size",
}


def _refuse_unfitting(
    args: argparse.Namespace,
    before: argparse.Namespace,
    retuned: list[tuple[str, Any, Any]],
    optimizer: Any,
    num_examples: int,
) -> None:
    """Refuses, in flags, the optimizer settings ``fit`` would refuse after a notice that
    it resumes: another batch size (the batches would differ), or an optimizer or schedule
    whose state has another structure. Momentum → nesterov or cosine → exponential keep
    the structure, and are taken."""
    keys = {name.removeprefix("optimizer.") for name, _, _ in retuned}
    refused, why = [], []
    if keys & {"name", "schedule"} and _state_layout(optimizer) != _state_layout(
        make_optimizer(before, _total_steps(before, num_examples))
    ):
        refused += [key for key in ("name", "schedule") if key in keys]
        if "schedule" in refused and before.warmup_steps is not None:
            refused.append("warmup_steps")
        why.append("the optimizer's state would not fit")
    if "batch_size" in keys:
        refused.append("batch_size")
        why.append("the batches would differ")
    if not refused:
        return
    flags = " ".join(
        f"{flag} {getattr(before, _OPTION_OF.get(key, key))}"
        for key, flag in _FLAGS.items()
        if key in refused
    )
    raise _refusal(
        args.checkpoint_dir,
        " and ".join(why),
        [change for change in retuned if change[0].removeprefix("optimizer.") in refused],
        f"Resume with {flags}",
    )


def _learning_rate_jump(
    args: argparse.Namespace, before: argparse.Namespace, num_examples: int, step: int
) -> str | None:
    """What other settings do to η where the run resumes: the η of the checkpoint's last step
    and of the next, when the next is not the one the checkpoint's run planned (another
    schedule or η, or other ``--epochs`` re-planning a schedule over the run's length);
    ``None`` where it is, between two constant η, or with no step left to run."""
    total = _total_steps(args, num_examples)
    if not 0 < step < total:
        return None
    planned = _schedule(before, _total_steps(before, num_examples))
    now = _schedule(args, total)
    # Between constants, the changed --learning-rate already says it all.
    if _eta(planned, step) == _eta(now, step) or not (callable(planned) or callable(now)):
        return None
    jump = (
        f"η {_eta(planned, step - 1):.1e} at step {step} → {_eta(now, step):.1e} at step {step + 1}"
    )
    if before.epochs == args.epochs or args.schedule == "constant":
        return jump
    return (
        f"optimizer.epochs {before.epochs} → {args.epochs} re-plans the {args.schedule} "
        f"schedule over {counted(total, 'step')}: {jump}"
    )


def _eta(schedule: Any, step: int) -> float:
    """η at ``step`` (from 0) of a schedule or a constant."""
    return float(schedule(step) if callable(schedule) else schedule)


def _check_same_run(
    args: argparse.Namespace, metadata: dict[str, Any], optimizer: Any, num_examples: int
) -> int | None:
    """The newest checkpoint's step (``None`` without one, said on stderr: a mistyped
    folder would otherwise start a new run unnoticed).

    Refuses ``--resume`` with other data or another model than the newest checkpoint's,
    or with optimizer settings ``fit`` would refuse (see :func:`_refuse_unfitting`); says on
    stderr which optimizer settings differ (a smaller --learning-rate after a divergence is
    a reason to resume). ``fit`` checks that the shapes fit, not that the data and model are
    the same, and the checkpoint's metadata would then name data the state was not trained
    on."""
    from jaxtrain.train._checkpoint import read_metadata

    directory = args.checkpoint_dir
    try:
        step, saved = read_metadata(directory)
    except FileNotFoundError:
        print(
            f"jaxtrain train: --resume: no checkpoint in {directory} yet, so a new run starts",
            file=sys.stderr,
        )
        return None
    except ValueError:
        return None  # fit says what is wrong
    total = _total_steps(args, num_examples)
    if step > total:
        per_epoch = math.ceil(num_examples / args.batch_size)
        raise UsageError(
            f"--epochs {args.epochs} is fewer than the checkpoint in {directory} has run: it "
            f"is at step {step}, past the {counted(total, 'step')} of "
            f"{counted(args.epochs, 'epoch')}; give --epochs {math.ceil(step / per_epoch)} or "
            "more to go on from it, or choose another --checkpoint-dir"
        )
    saved = {**saved, "data": _as_recorded_now(saved, metadata["data"])}
    changed = [
        change
        for section in ("data", "model")
        for change in _changed_settings(saved, metadata, section)
    ]
    if changed:
        raise _refusal(
            directory,
            "its run had other data or another model",
            changed,
            "Resume with the same data and model options",
        )
    retuned = _changed_settings(saved, metadata, "optimizer")
    notes = [f"{name} {was} → {now}" for name, was, now in retuned]
    if saved.get("optimizer"):
        before = _checkpoints_options(args, saved["optimizer"])
        _refuse_unfitting(args, before, retuned, optimizer, num_examples)
        jump = _learning_rate_jump(args, before, num_examples, step)
        if jump:
            notes.append(jump)
    if notes:
        print(f"jaxtrain train: resuming with other settings: {'; '.join(notes)}", file=sys.stderr)
    return step


def run(args: argparse.Namespace) -> int:
    """Runs ``jaxtrain train``; returns the exit status."""
    from jaxtrain.cli._data_ref import load_data

    if args.resume and not args.checkpoint_dir:
        raise UsageError("--resume needs --checkpoint-dir")
    if args.warmup_steps is not None and args.schedule != "warmup-cosine":
        raise UsageError(
            f"--warmup-steps needs --schedule warmup-cosine (the only schedule with a warmup), "
            f"not {args.schedule}"
        )
    reference, (x_train, y_train), (x_val, y_val), task, num_outputs = load_data(
        args.data,
        seed=args.seed,
        val_fraction=args.val_fraction,
        standardize=args.standardize,
        num_classes=args.num_classes,
        family=args.model,
    )
    spec = spec_from_args(args, x_train.shape, num_outputs)
    if args.batch_size > x_train.shape[0]:
        raise UsageError(
            f"--batch-size {args.batch_size} is larger than the {x_train.shape[0]} training "
            "examples"
        )

    from flax import nnx

    from jaxtrain import losses, nn, train

    loss = losses.softmax_cross_entropy if task == "classification" else losses.mse
    metrics = [losses.accuracy] if task == "classification" else []
    optimizer = make_optimizer(args, _total_steps(args, x_train.shape[0]))
    metadata = {
        "jaxtrain": "train",
        "model": spec.to_dict(),
        "data": reference,
        "task": task,
        "loss": loss.__name__,
        "optimizer": optimizer_config(args),
    }
    resumed_at = None
    if args.resume:
        resumed_at = _check_same_run(args, metadata, optimizer, x_train.shape[0])
    try:
        state, history = train.fit(
            nn.functional(spec.build(nnx.Rngs(args.seed))),
            optimizer,
            (x_train, y_train),
            loss=loss,
            epochs=args.epochs,
            batch_size=args.batch_size,
            val_data=(x_val, y_val),
            metrics=metrics,
            seed=args.seed,
            checkpoint_dir=args.checkpoint_dir,
            resume=args.resume,
            metadata=metadata,
            progress=sys.stderr.isatty(),
        )
    except train.NonFiniteLossError as error:
        kept = (
            f"; the last good checkpoint (step {error.last_checkpoint}) in "
            f"{args.checkpoint_dir} is kept"
            if error.last_checkpoint is not None
            else ""
        )
        raise CommandError(
            f"{error.reason}{kept}. Try a 10x smaller --learning-rate, --schedule "
            "warmup-cosine, or --standardize the inputs"
        ) from None
    except train.CheckpointDirectoryError as error:
        if not error.steps:
            raise CommandError(str(error)) from None
        raise CommandError(
            f"{args.checkpoint_dir} already holds checkpoints ({listed(error.steps, 'step')}): "
            "add --resume to continue that run, or choose another --checkpoint-dir"
        ) from None
    except (ValueError, FileNotFoundError) as error:
        raise CommandError(str(error)) from None
    if resumed_at is not None and int(state.step) == resumed_at:
        print(
            f"jaxtrain train: --resume: the checkpoint is at step {resumed_at}, the last of "
            f"{counted(args.epochs, 'epoch')}, so nothing was trained (raise --epochs to train on)",
            file=sys.stderr,
        )
    final = train.evaluate(state, (x_val, y_val), loss=loss, metrics=metrics)
    summary = {
        "model": spec.name,
        "data": reference,
        "task": task,
        "steps": int(state.step),
        "epochs": args.epochs,
        "optimizer": optimizer_config(args),
        "per_epoch": _epoch_columns(history.per_epoch),
        "final_train_loss": float(history.per_epoch["train_loss"][-1]),
        "val": final,
        "checkpoint": str(pathlib.Path(args.checkpoint_dir).absolute())
        if args.checkpoint_dir
        else None,
    }
    if args.json:
        print(json.dumps(to_jsonable(summary), indent=2, allow_nan=False))
        return 0
    print(
        f"{spec.name} on {args.data} ({task}), {counted(summary['steps'], 'step')}, "
        f"optimizer {args.optimizer}"
    )
    print(_table(summary["per_epoch"]))
    scores = ", ".join(f"{k} {v:.4f}" for k, v in final.items())
    print(f"validation: {scores}")
    if args.checkpoint_dir:
        print(f"checkpoint: {summary['checkpoint']}")
        print(f"inspect it with: jaxtrain hessian {shlex.quote(args.checkpoint_dir)}")
    return 0
