"""The ``jaxtrain`` entry point: one argparse parser, one subcommand per module.

Each module named in :data:`COMMANDS` exposes ``register(subparsers)``, which adds its
subparser and sets ``func=`` to a ``run(args) -> int``. Modules import jax, flax and the rest
inside ``run``, so ``jaxtrain --help`` answers at once.

Run as a program, the command line keeps JAX's compiled programs in a persistent cache
(:func:`enable_compilation_cache`), so the second ``jaxtrain hessian`` in a fresh process
loads its Lanczos programs instead of compiling them again.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import pathlib
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence

from jaxtrain._output_dir import OutputDirError
from jaxtrain.cli._errors import CommandError, UsageError

__all__ = ["CACHE_ENV", "COMMANDS", "build_parser", "enable_compilation_cache", "main"]

# Unset: the default cache directory; "off" (or "0", "false", "no", empty): no cache; anything
# else: the cache directory to use.
CACHE_ENV = "JAXTRAIN_COMPILATION_CACHE"
_OFF = ("", "0", "off", "false", "no")
# Every program is cached, however fast it compiles: JAX's default (1 s) leaves out the many
# small programs of a command (a ``jaxtrain hessian`` compiles ~50, ~30 ms each on a CPU),
# which a warm second process reads back in a fraction of that.
_MIN_COMPILE_SECONDS = 0.0

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


def _default_cache_dir(environ: Mapping[str, str]) -> pathlib.Path:
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "jaxtrain" / "xla"


def enable_compilation_cache(
    environ: Mapping[str, str] | None = None,
) -> pathlib.Path | str | None:
    """Turns on JAX's persistent compilation cache for this process; returns its directory.

    The directory is ``$JAXTRAIN_COMPILATION_CACHE`` when set to a path,
    ``$XDG_CACHE_HOME/jaxtrain/xla`` otherwise (``~/.cache/jaxtrain/xla`` without
    ``XDG_CACHE_HOME``). ``JAXTRAIN_COMPILATION_CACHE=off`` turns the cache off, and a cache
    directory already configured for JAX (``JAX_COMPILATION_CACHE_DIR``) is kept as it is.
    Every program is cached, not only those compiling in over JAX's default of 1 s.

    Args:
      environ: the environment to read (default: ``os.environ``).

    Returns:
      The cache directory in use (``~`` expanded; a URL such as ``gs://...`` as given, for
      JAX to open), or ``None`` when the cache is off (also when the folder cannot be made:
      a file in its place; said on stderr).
    """
    import jax

    environ = os.environ if environ is None else environ
    setting = environ.get(CACHE_ENV)
    if setting is not None and setting.strip().lower() in _OFF:
        return None
    configured = jax.config.jax_compilation_cache_dir
    if configured:
        return pathlib.Path(configured)
    # A URL (gs://...) is JAX's to open: as a local path it would be made as "gs:/...".
    directory: pathlib.Path | str | None = setting if setting and "://" in setting else None
    if directory is None:
        try:
            # expanduser raises RuntimeError for a ~user (or a ~) that has no home.
            directory = (
                pathlib.Path(setting).expanduser() if setting else _default_cache_dir(environ)
            )
            directory.mkdir(parents=True, exist_ok=True)
        except (OSError, RuntimeError) as error:
            # Compiling anew costs time, not results: the command runs on without the cache.
            reason = error.strerror if isinstance(error, OSError) else None
            print(
                f"jaxtrain: compiled programs are not cached: cannot use "
                f"{directory or setting or '~/.cache/jaxtrain/xla'} as the cache folder "
                f"({reason or error}); set {CACHE_ENV} to a folder, or to off",
                file=sys.stderr,
            )
            return None
    jax.config.update("jax_compilation_cache_dir", str(directory))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", _MIN_COMPILE_SECONDS)
    return directory


def _traceback_when_debugging() -> None:
    """The failure's traceback on stderr where ``JAXTRAIN_DEBUG`` is set, before its line."""
    if os.environ.get("JAXTRAIN_DEBUG"):
        traceback.print_exc()


def _print_any_path() -> Callable[[], None]:
    """Lets stdout print a path whose bytes are not UTF-8 (lone surrogates in Python) as
    those bytes, as ``ls`` does, where its strict encoding would fail the command after its
    work (stderr escapes them already). Returns what puts stdout back as it was."""
    stdout = sys.stdout
    reconfigure = getattr(stdout, "reconfigure", None)
    if reconfigure is None or getattr(stdout, "errors", None) != "strict":
        return lambda: None
    reconfigure(errors="surrogateescape")

    def restore() -> None:
        with contextlib.suppress(ValueError):  # a stream closed meanwhile
            stdout.reconfigure(errors="strict")

    return restore


def _silence_stdout() -> None:
    """Points stdout at the null device, so that the interpreter's last flush of what could
    not be written to a closed pipe raises nothing."""
    try:
        fileno = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a file (a test's capture)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fileno)
    os.close(devnull)


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text or type(error).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the ``jaxtrain`` command line and returns its exit status.

    Run as a program (``argv`` is ``None``), it first turns on the persistent compilation
    cache (:func:`enable_compilation_cache`); called with arguments from Python, it leaves
    the caller's JAX configuration alone.

    Args:
      argv: the arguments after the program name (default: ``sys.argv[1:]``).

    Returns:
      0 on success, 2 for bad arguments (argparse's convention, an ``--out`` refused by
      :func:`jaxtrain._output_dir.claim_output_dir`, and flags found not to fit after
      parsing), 1 for a failure, whose reason is printed as one line on stderr; 141 when the
      reader of stdout closed it (``| head``), quietly.

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
    if argv is None:
        enable_compilation_cache()
    restore_stdout = _print_any_path()
    try:
        status = func(args)
    except (OutputDirError, UsageError) as error:
        # A refused --out, or flags found not to fit after parsing, are bad arguments: exit
        # 2, as argparse's.
        _traceback_when_debugging()
        print(f"jaxtrain {command}: error: {_one_line(error)}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader stopped reading (`jaxtrain ... --json | head`): end quietly, as a Unix
        # tool does, with the status of a process SIGPIPE ended (128 + 13).
        _silence_stdout()
        return 141
    except CommandError as error:
        _traceback_when_debugging()
        print(f"jaxtrain {command}: error: {_one_line(error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"jaxtrain {command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # the CLI promises one line, never a traceback
        _traceback_when_debugging()
        print(
            f"jaxtrain {command}: error: {type(error).__name__}: {_one_line(error)}",
            file=sys.stderr,
        )
        return 1
    finally:
        restore_stdout()
    return 0 if status is None else int(status)
