"""The edge of stability and the critical batch size (lecture §3–§4), measured during training.

Part 1, the edge of stability. On a quadratic, gradient descent θ ← θ − ηg is stable only
while the sharpness λmax (the Hessian's largest eigenvalue) stays below 2/η. Cohen et al.
(2021) found that full-batch training of a network *sharpens* until λmax ≈ 2/η and then
hovers there, λmax·η/2 ≈ 1, while the loss keeps falling, not monotonically. Here a tanh MLP
(three hidden layers of 64) trains on the first 1,000 standardized digits with squared error
½Σₖ(ŷₖ − yₖ)² on one-hot targets; ``jaxtrain.monitor.sharpness`` measures λmax inside the
compiled training loop. The full run adds Adam, whose preconditioned sharpness
λmax(P^{-1/2} H P^{-1/2}) meets (2 + 2β₁)/((1 − β₁)η) = 38/η instead (Cohen et al. 2022).

Part 2, the critical batch size. The steps S(B) to reach a training loss fall as the batch
size B grows, until B passes the critical batch size (McCandlish et al. 2018 model
S = S_min(1 + B_crit/B)). ``jaxtrain.monitor.gradient_noise_scale`` records the noise scale
B_simple = tr(Σ)/|G|² during the same runs, for comparison with the fitted knee. SGD uses one
η at every B.

The experiments are the functions of ``jaxtrain.cli._tour_stability``, which the tour's
report (``jaxtrain tour``) and notebook 04 run too.

    python examples/edge_of_stability.py --out jaxtrain-out
    python examples/edge_of_stability.py --quick     # seconds: one η, three batch sizes
"""

from __future__ import annotations

import argparse
import math
import pathlib

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from jaxtrain.cli._tour_stability import (
    ADAM_SETTINGS,
    BATCH_SETTINGS,
    EDGE_SETTINGS,
    critical_batch_size,
    critical_batch_size_caption,
    edge_of_stability,
    edge_of_stability_caption,
    edge_summary,
    plot_critical_batch_size,
    plot_edge_of_stability,
)


def _save(fig, path: pathlib.Path) -> None:
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="./jaxtrain-out", help="folder for the PNGs")
    parser.add_argument("--quick", action="store_true", help="a few seconds, for smoke tests")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out) / "edge_of_stability"
    out.mkdir(parents=True, exist_ok=True)
    size = 0 if args.quick else 1
    num_examples = 1000

    runs = edge_of_stability(**EDGE_SETTINGS[size], num_examples=num_examples, seed=args.seed)
    adam_runs = None
    if not args.quick:
        adam_runs = edge_of_stability(
            **ADAM_SETTINGS, optimizer="adam", num_examples=num_examples, seed=args.seed
        )
    _save(plot_edge_of_stability(runs, adam_runs), out / "edge_of_stability.png")
    summaries = {
        (name, eta): edge_summary(run)
        for name, group in (("GD", runs), ("Adam", adam_runs or {}))
        for eta, run in group.items()
    }
    print(f"full-batch training on {num_examples} digits; ratio = λmax / threshold")
    print(
        f"{'run':>14} {'threshold':>10} {'λmax at 0':>10} {'ratio ≥ 0.95 at':>16} "
        f"{'last half: ratio min–max':>25} {'loss':>17}"
    )
    for (name, eta), s in summaries.items():
        edge = "never" if s["edge_step"] is None else f"step {s['edge_step']}"
        print(
            f"{name + f' η={eta:g}':>14} {s['threshold']:>10.4g} {s['sharpness_start']:>10.2f} "
            f"{edge:>16} {s['hover_min']:>8.3f}–{s['hover_max']:.3f} "
            f"(steps {s['hover_from']}–{s['hover_to']}) {s['loss_start']:.3f} → "
            f"{s['loss_end']:.4f}"
        )
    print(edge_of_stability_caption(runs, adam_runs, num_examples=num_examples))

    batches = critical_batch_size(**BATCH_SETTINGS[size], num_examples=num_examples, seed=args.seed)
    _save(plot_critical_batch_size(batches), out / "critical_batch_size.png")
    print(
        f"\nSGD η = {batches['learning_rate']:g}: steps to training loss "
        f"{batches['target_loss']:g} (B_simple: median of the monitor's records up to it)"
    )
    print(f"{'B':>6} {'steps':>8} {'trained':>8} {'B_simple':>9}")
    for b, steps, trained, noise in zip(
        batches["batch_size"],
        batches["steps"],
        batches["run_steps"],
        batches["noise_scale"],
        strict=True,
    ):
        shown = "—" if not math.isfinite(steps) else f"{int(steps)}"
        noise_shown = "—" if math.isnan(noise) else f"{noise:.1f}"
        print(f"{b:>6} {shown:>8} {trained:>8} {noise_shown:>9}")
    print(critical_batch_size_caption(batches))
    return {
        "edge": runs,
        "adam": adam_runs,
        "summaries": summaries,
        "batches": batches,
        "out": out,
    }


if __name__ == "__main__":
    main()
