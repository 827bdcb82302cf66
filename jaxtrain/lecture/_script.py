"""The examples' command line: run a section's experiments and save each claim's figure."""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Iterator, Sequence

from jaxtrain._arg_types import random_seed
from jaxtrain._fast_compile import prefer_fast_compilation
from jaxtrain._output_dir import OutputDirError, add_output_arguments, claim_output_dir
from jaxtrain.lecture._claim import EXAMPLES, Claim, LectureConfig
from jaxtrain.lecture._section import Section

__all__ = ["run_example"]


def run_example(section: Section, argv: Sequence[str] | None = None) -> list[Claim]:
    """``python examples/<section>.py [--quick] [--out DIR] [--overwrite] [--seed N]``.

    Runs the section's experiments in order, writes each figure to ``DIR/<section>-<id>.png``
    and prints each claim's title, caption and file. ``DIR`` is checked first: new, empty or
    an earlier output of the examples (any section's), unless ``--overwrite``; else the script
    exits 2 with one line, as for a bad argument. So it does for a folder the system refuses
    (one it may not search or list) and for a figure's file there that the examples did not
    write; a figure that cannot be written once the work has run (a full disk) exits 1, with
    one line too.

    Args:
      section: the lecture section to run.
      argv: the command-line arguments (default: ``sys.argv[1:]``).

    Returns:
      The claims, their figures closed.
    """
    parser = argparse.ArgumentParser(description=f"{section.title}: {section.summary}")
    add_output_arguments(
        parser, default="jaxtrain-out", help="folder for the figures (default: %(default)s)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sizes: seconds instead of minutes"
    )
    parser.add_argument("--seed", type=random_seed, default=0, help="root random seed (default: 0)")
    args = parser.parse_args(argv)
    # The tour's compiler settings (jaxtrain tour, cli/_tour.py), so that an example shows the
    # numbers the tour and the tests show for the same seed, rounding included.
    prefer_fast_compilation(elemental_emitters=args.quick)
    with _one_line_errors(parser, args.out):
        out = claim_output_dir(args.out, EXAMPLES, overwrite=args.overwrite)

    import matplotlib

    matplotlib.use("Agg")  # a script writes files; it never opens a window
    claims = []
    print(section.title)
    for claim in section.claims(LectureConfig(quick=args.quick), args.seed):
        with _one_line_errors(parser, out):
            path = claim.save(out, overwrite=args.overwrite)
        claim.close()
        print(f"\n{claim.title}\n  {claim.caption}\n  wrote {path}")
        claims.append(claim)
    return claims


@contextlib.contextmanager
def _one_line_errors(parser: argparse.ArgumentParser, out: str | os.PathLike) -> Iterator[None]:
    """Ends the script with one line, as the ``jaxtrain`` command does, where ``--out`` is
    refused (exit 2, a bad argument) or cannot be written (exit 1), not with a traceback."""
    try:
        yield
    except OutputDirError as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    except OSError as error:
        parser.exit(1, f"{parser.prog}: error: cannot write to {out}: {error.strerror or error}\n")
