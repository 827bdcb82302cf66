"""The lecture's task-strategy flowchart on five small problems, one per verdict.

Each case is built so that one answer is right, and ``jaxtrain.diagnose.diagnose`` finds it:

- optimization: a deep plain sigmoid MLP trains *worse* than a shallow one (He et al. 2016);
- model bias: a linear model cannot separate spirals, a one-hidden-layer MLP can;
- overfitting: a large MLP on 30 handwritten digits;
- mismatch: a good MLP, validated on digits with inverted contrast (1 − x);
- ok: a well-sized MLP with enough digits.

Writes ``<out>/<case>/diagnosis.{json,md}`` with the training-curve PNGs of every case and
``<out>/flowchart.png``, the five training-curve panels side by side, and prints a table.

    python examples/diagnose_flowchart.py --out jaxtrain-out --quick
"""

from __future__ import annotations

import argparse
import pathlib
import time

import matplotlib
import numpy as np

from jaxtrain import data
from jaxtrain.diagnose import Budget, ModelSpec, diagnose

CASES = ("optimization", "model_bias", "overfitting", "mismatch", "ok")


def _digits(seed: int, n_train: int, n_val: int):
    x, y = data.load_digits()
    order = np.random.default_rng(seed).permutation(len(x))
    train, val = order[:n_train], order[n_train : n_train + n_val]
    return (x[train], y[train]), (x[val], y[val])


def run_case(case: str, *, quick: bool, seed: int = 0):
    """Builds the data and candidates of ``case`` and returns its diagnosis."""
    seeds = 2 if quick else 3
    if case == "optimization":
        train, val = _digits(seed, 450, 150)
        shallow = ModelSpec("mlp", (64,), 10, width=32, depth=1, activation="sigmoid")
        deep = ModelSpec("mlp", (64,), 10, width=32, depth=10, activation="sigmoid")
        budget = Budget(steps=150 if quick else 300, learning_rate=1e-2, seeds=seeds)
        return diagnose([shallow, deep], train, val, budget=budget, curvature=not quick)
    if case == "model_bias":
        x, y = data.make_spirals(600, classes=3, noise=0.05, seed=seed)
        linear = ModelSpec("mlp", (2,), 3, width=64, depth=0)
        budget = Budget(steps=200 if quick else 400, learning_rate=1e-2, seeds=seeds)
        return diagnose(linear, (x[:450], y[:450]), (x[450:], y[450:]), budget=budget)
    if case in ("overfitting", "mismatch", "ok"):
        n_train = 30 if case == "overfitting" else 1000
        train, val = _digits(seed, n_train, 400)
        if case == "mismatch":
            val = (1.0 - val[0], val[1])
        width = 128 if case == "overfitting" else 64
        spec = ModelSpec("mlp", (64,), 10, width=width, depth=2)
        budget = Budget(steps=150 if quick else 300, learning_rate=3e-3, seeds=seeds)
        return diagnose([spec], train, val, budget=budget, curvature=not quick)
    raise ValueError(f"unknown case {case!r}; choose from {CASES}")


def main(argv=None) -> dict[str, str]:
    """Runs the chosen cases; returns ``{case: verdict}``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="jaxtrain-out", help="output folder")
    parser.add_argument("--quick", action="store_true", help="fewer steps and seeds")
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    args = parser.parse_args(argv)
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = pathlib.Path(args.out) / "diagnose_flowchart"
    fig, axes = plt.subplots(1, len(args.cases), figsize=(4.2 * len(args.cases), 3.6))
    axes = np.atleast_1d(axes)
    print(f"{'case':<14}{'verdict':<14}{'seconds':>8}")
    verdicts = {}
    for case, ax in zip(args.cases, axes, strict=True):
        start = time.perf_counter()
        diagnosis = run_case(case, quick=args.quick)
        diagnosis.save(out / case)
        diagnosis.plot_curves(ax)
        ax.set_title(f"built for {case}\nverdict: {diagnosis.verdict}", fontsize=9)
        verdicts[case] = diagnosis.verdict
        print(f"{case:<14}{diagnosis.verdict:<14}{time.perf_counter() - start:8.1f}")
    fig.tight_layout()
    fig.savefig(out / "flowchart.png", dpi=100)
    plt.close(fig)
    print(f"wrote {out}")
    return verdicts


if __name__ == "__main__":
    main()
