"""Steps and cost out of planted saddles: gradient descent, noise and the escape transforms.

From each planted saddle of issue 16 (the lecture's toy L = (1 − w₁w₂)² at 0, a three-layer
linear network at 0, a tanh network on XOR with all hidden units equal, a sigmoid MLP on the
digits from a tiny initialization) every method runs until the loss falls below half its
start value, or for the case's budget of steps. The first table counts steps, the second the
cost: gradients plus Hessian-vector products (each counted as one gradient), with the loss
evaluations of line searches beside it. A transform meets the target when it needs at most a
fifth of gradient descent's steps, or escapes at all where gradient descent does not.

The cases and methods are the lecture's (``jaxtrain.lecture._saddle_escapes``), so these tables
and the figure of ``lecture.critical_points.saddle_escapes`` come from the same runs.

    python benchmarks/escape.py            # the four planted saddles (a minute or two on CPU)
    python benchmarks/escape.py --quick    # the toy only
"""

from __future__ import annotations

import argparse

from jaxtrain.lecture import LectureConfig
from jaxtrain.lecture._saddle_escapes import (
    METHODS,
    TRANSFORMS,
    EscapeRun,
    lowest_eigenvalue,
    meets_target,
    planted_saddles,
    race,
)

_SHORT = {
    "gradient descent": "GD",
    "GD + small noise": "GD+noise",
    "perturbed GD": "PGD",
    "negative-curvature descent": "NCD",
    "saddle-free Newton": "SFN",
}


def _table(title: str, rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [title]
    for index, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells))
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def tables(results: dict[str, dict[str, EscapeRun]], budgets: dict[str, int], lows) -> str:
    """The steps table (with λmin and each transform's verdict) and the cost table."""
    header = ["case", "λmin"] + [_SHORT[m] for m in METHODS] + ["target met"]
    steps_rows, cost_rows = [header], [["case"] + [_SHORT[m] for m in METHODS] + ["evals"]]
    for name, runs in results.items():

        def steps(method: str, runs=runs, name=name) -> str:
            count = runs[method].steps
            return str(count) if count is not None else f">{budgets[name]}"

        verdict = " ".join(
            f"{_SHORT[m]}:{'yes' if meets_target(runs, m) else 'NO'}" for m in TRANSFORMS
        )
        steps_rows.append([name, f"{lows[name]:.3g}"] + [steps(m) for m in METHODS] + [verdict])
        evaluations = "/".join(str(runs[m].loss_evaluations) for m in TRANSFORMS[1:])
        cost_rows.append([name] + [str(runs[m].cost) for m in METHODS] + [evaluations])
    return "\n\n".join(
        [
            _table(
                "Steps until the loss is below half its start value (>N: not within N)", steps_rows
            ),
            _table(
                "Cost: gradients + Hessian-vector products to the same point (the whole budget"
                " where it was not reached); evals: loss evaluations of NCD/SFN's line searches",
                cost_rows,
            ),
        ]
    )


def main(argv: list[str] | None = None) -> dict[str, dict[str, EscapeRun]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the toy saddle only")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    cases = planted_saddles(LectureConfig(quick=args.quick), args.seed)
    results = race(cases, args.seed)
    budgets = {case.name: case.budget for case in cases}
    lows = {case.name: lowest_eigenvalue(case, args.seed) for case in cases}
    print(tables(results, budgets, lows))
    return results


if __name__ == "__main__":
    main()
