"""``jaxtrain tour``: the whole lecture, run on built-in data, as one report.

The tour only renders: every claim is an experiment of :mod:`jaxtrain.lecture`, a pure function
``(config, seed) -> Claim``. The runner shows one tqdm progress bar per section (one line per
figure where stderr is no terminal), times each section and writes ``report.html`` +
``report.json`` (see :mod:`jaxtrain.cli._report`).

A run that stops part way (a failing section, Ctrl-C) leaves ``report.partial.html`` and
``report.partial.json`` with the sections it finished; the whole report of an earlier run, if
any, is kept until a run finishes.

``--quick`` runs the lecture's quick configuration, so the whole tour finishes in about a minute
on a 2-core CPU; the default finishes in a few minutes. Nothing is device specific: the same run
works on CPU, GPU or TPU.
"""

from __future__ import annotations

import argparse
import pathlib
import platform
import time
from collections.abc import Callable, Sequence
from typing import Any

from jaxtrain._arg_types import random_seed
from jaxtrain._fast_compile import prefer_fast_compilation
from jaxtrain._output_dir import add_output_arguments, claim_output_dir
from jaxtrain.cli._progress import progress as command_progress

__all__ = ["SECTIONS", "register", "run_tour"]

# The ids of jaxtrain.lecture.SECTIONS, in lecture order (a test keeps them equal). Spelled out
# here so that `jaxtrain --help` does not import the lecture, and with it jax and matplotlib.
SECTIONS = (
    "task_strategy",
    "critical_points",
    "batch_and_momentum",
    "adaptive_learning_rate",
    "loss_functions",
    "batch_normalization",
)


def _meta(quick: bool) -> dict[str, Any]:
    import flax
    import jax
    import optax

    import jaxtrain

    return {
        "jaxtrain": jaxtrain.__version__,
        "jax": jax.__version__,
        "flax": flax.__version__,
        "optax": optax.__version__,
        "python": platform.python_version(),
        "backend": jax.default_backend(),
        "devices": f"{jax.device_count()} × {jax.devices()[0].device_kind}",
        "quick": quick,
    }


def run_tour(
    out_dir: str | pathlib.Path,
    *,
    quick: bool = False,
    sections: Sequence[str] | None = None,
    seed: int = 0,
    progress: bool | Callable[[str, int, int], None] = True,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Runs the lecture's sections and writes ``report.html`` and ``report.json`` to ``out_dir``.

    Until the last section is done the report is written after each section as
    ``report.partial.html`` and ``report.partial.json``, so a run stopped part way keeps the
    sections it finished, and a whole ``report.html`` of an earlier run is not replaced by a
    part of one; ``meta["sections"]`` says how many of the chosen ones it holds ("2 of 6").
    Writing the whole report removes the partial one. The figures (``figures/*.png``) are
    written as their sections finish.

    ``out_dir`` is checked before any section runs (a minute or more of work): it must be new,
    empty or an earlier output of the tour, unless ``overwrite``.

    Args:
      out_dir: folder for the report (created if missing).
      quick: small sizes, for a smoke run in about a minute on a 2-core CPU.
      sections: ids from :data:`SECTIONS` to run, or one id (default: all, in lecture order).
      seed: the root seed of every computation.
      progress: ``True``: one tqdm bar per section, on a terminal or in a notebook; ``False``:
        nothing; or ``progress(stage, index, total)``, called as each figure starts (the
        command line prints it as one line where a bar's carriage returns would garble a log).
      overwrite: write into ``out_dir`` even if it holds files the tour did not write (files
        of the same names are replaced; none of them is deleted).

    Returns:
      The content of ``report.json``.

    Raises:
      ValueError: an unknown section.
      jaxtrain._output_dir.OutputDirError: ``out_dir`` is refused (a ``ValueError`` too).
    """
    from tqdm.auto import tqdm

    from jaxtrain import lecture
    from jaxtrain.cli._report import COMMAND, Report
    from jaxtrain.train._progress import interactive

    if isinstance(sections, str):
        sections = (sections,)  # one id, not its characters
    chosen = SECTIONS if sections is None else tuple(sections)
    if not chosen:
        raise ValueError("no tour sections chosen; choose from " + str(list(SECTIONS)))
    unknown = sorted(set(chosen) - set(SECTIONS))
    if unknown:
        raise ValueError(f"unknown tour sections {unknown}; choose from {list(SECTIONS)}")
    claim_output_dir(out_dir, COMMAND, overwrite=overwrite, subfolders=("figures",))
    config = lecture.LectureConfig(quick=quick)
    start = time.perf_counter()
    report = Report("jaxtrain tour: why a neural network fails to train", _meta(quick))
    specs = [spec for spec in lecture.SECTIONS if spec.id in chosen]
    figures = sum(len(spec.experiments) for spec in specs)
    started = 0
    bars = progress is True and interactive()
    for written, spec in enumerate(specs):
        section = report.section(spec.id, spec.title, spec.summary)
        section_start = time.perf_counter()
        with tqdm(
            total=len(spec.experiments), desc=spec.title, unit="figure", disable=not bars
        ) as bar:
            claims = spec.claims(config, seed)
            for experiment in spec.experiments:
                started += 1
                if callable(progress):
                    progress(f"{spec.title}: {experiment.__name__}", started, figures)
                bar.set_postfix_str(experiment.__name__)  # the claim being measured
                section.add_claim(next(claims))
                bar.update(1)
        section.seconds = time.perf_counter() - section_start
        # Written after every section: a later one failing (or Ctrl-C) loses no finished
        # work, and the report says how many of the sections it holds. Only a whole report
        # replaces report.html: a rerun that fails must not replace a whole one by a part.
        report.meta["sections"] = f"{written + 1} of {len(specs)}"
        report.meta["seconds"] = round(time.perf_counter() - start, 1)
        report.write(out_dir, partial=written + 1 < len(specs), overwrite=overwrite)
    return report.to_json()


def _main(args: argparse.Namespace) -> int:
    # The tour trains dozens of small models once each: compiling dominates its run time. At
    # the full size the fusion emitters' faster code repays their longer compiles.
    prefer_fast_compilation(elemental_emitters=args.quick)
    out = pathlib.Path(args.out)
    result = run_tour(
        out,
        quick=args.quick,
        sections=args.sections,
        seed=args.seed,
        overwrite=args.overwrite,
        progress=command_progress("tour"),
    )
    print(f"wrote {out / 'report.html'} and {out / 'report.json'} in {result['meta']['seconds']} s")
    return 0


_EPILOG = """\
examples:
  # the whole lecture, as the README's first command: open tour-report/report.html
  jaxtrain tour --out tour-report
  # every section at small sizes, about a minute on a laptop
  jaxtrain tour --quick --out tour-quick
  # two sections only: the Hessian at critical points and batch normalization
  jaxtrain tour --sections critical_points batch_normalization --out tour-hessian-bn
"""


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Adds the ``tour`` subcommand to the ``jaxtrain`` command line."""
    parser = subparsers.add_parser(
        "tour",
        help="run the whole lecture on built-in data and write report.html + report.json",
        description=(
            "Runs every lecture section (task strategy, critical points, batch and momentum, "
            "adaptive learning rates, loss functions, batch normalization) on scikit-learn's "
            "digits and synthetic data, and writes a self-contained report.html with a "
            "captioned figure per claim plus report.json with the numbers behind them."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_output_arguments(
        parser, default="jaxtrain-tour", help="output folder (default: %(default)s)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sizes: about a minute on a 2-core CPU"
    )
    parser.add_argument(
        "--sections",
        nargs="+",
        choices=SECTIONS,
        metavar="SECTION",
        help=f"run only these sections ({', '.join(SECTIONS)}; default: all)",
    )
    parser.add_argument("--seed", type=random_seed, default=0, help="root random seed (default: 0)")
    parser.set_defaults(func=_main)
    return parser
