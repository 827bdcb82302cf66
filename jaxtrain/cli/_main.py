"""The ``jaxtrain`` entry point: one argparse parser, one subcommand per module.

Each module named in :data:`COMMANDS` exposes ``register(subparsers)``, which adds its
subparser and sets ``func=`` to a ``run(args) -> int``. Modules import jax, flax and the rest
inside ``run``, so ``jaxtrain --help`` answers at once.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Sequence

from jaxtrain._output_dir import OutputDirError
from jaxtrain.cli._errors import CommandError

__all__ = ["COMMANDS", "build_parser", "main"]

# Subcommand modules of jaxtrain.cli, in the order `jaxtrain --help` lists them.
COMMANDS: tuple[str, ...] = ("_diagnose", "_explain", "_train", "_hessian", "_tour")

_DESCRIPTION = """\
jaxtrain: why a neural network fails to train, and what to do about it.

examples (each command's --help shows more, and what each one shows):
  jaxtrain diagnose digits.npz --out diagnosis  # bias, optimization, overfitting or mismatch?
  jaxtrain explain digits.npz --optimizer sgd --lr 1e-3 --steps 400 --out why  # why does it fail?
  jaxtrain train --data digits --epochs 10 --checkpoint-dir run  # train and save a model
  jaxtrain hessian run                          # what kind of point did training stop at?
  jaxtrain tour --quick --out tour-report       # the whole lecture as one HTML report
"""


def _version() -> str:
    from jaxtrain import __version__

    return __version__


def build_parser() -> argparse.ArgumentParser:
    """The ``jaxtrain`` parser with every subcommand of :data:`COMMANDS` registered."""
    parser = argparse.ArgumentParser(
        prog="jaxtrain",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"jaxtrain {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"jaxtrain.cli.{name}")
        except ModuleNotFoundError as error:
            # A command whose module is not part of this installation is simply absent.
            if error.name == f"jaxtrain.cli.{name}":
                continue
            raise
        module.register(subparsers)
    return parser


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text or type(error).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the ``jaxtrain`` command line and returns its exit status.

    Args:
      argv: the arguments after the program name (default: ``sys.argv[1:]``).

    Returns:
      0 on success, 2 for bad arguments (argparse's convention, and an ``--out`` refused by
      :func:`jaxtrain._output_dir.claim_output_dir`), 1 for a failure, whose reason is printed
      as one line on stderr.

    Examples:
      >>> from jaxtrain.cli import main
      >>> main(["--version"])  # doctest: +ELLIPSIS
      jaxtrain ...
      0
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        # argparse exits 0 after --help/--version and 2 after a usage error.
        code = exit_.code
        return code if isinstance(code, int) else (0 if code is None else 2)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_usage(sys.stderr)
        print("jaxtrain: error: choose a command (see jaxtrain --help)", file=sys.stderr)
        return 2
    command = getattr(args, "command", None) or "jaxtrain"
    try:
        status = func(args)
    except OutputDirError as error:
        # A refused --out is a bad argument, found before any work: exit 2, as argparse's.
        print(f"jaxtrain {command}: error: {_one_line(error)}", file=sys.stderr)
        return 2
    except CommandError as error:
        print(f"jaxtrain {command}: error: {_one_line(error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"jaxtrain {command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # the CLI promises one line, never a traceback
        if os.environ.get("JAXTRAIN_DEBUG"):
            traceback.print_exc()
        print(
            f"jaxtrain {command}: error: {type(error).__name__}: {_one_line(error)}",
            file=sys.stderr,
        )
        return 1
    return 0 if status is None else int(status)
