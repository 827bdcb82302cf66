"""The cost of watching a run: ``fit`` with ``jaxtrain.monitor`` monitors against ``fit`` without.

The same MLP (``jaxtrain.nn.MLP`` 64-128-128-10, ReLU) on the same data (scikit-learn's
digits, 1,797 × 64, standardized), SGD with momentum 0.9 at batch 64, trained for the same
steps with each set of monitors:

- ``issue set``: ``sharpness(every=50)`` + ``gradient_noise_scale(every=1)`` +
  ``hessian_trace(every=100)`` (the set the target of ≤ 1.10× is stated for);
- ``sharpness/16`` and ``sharpness/1``: the sharpness alone (Cockpit's published overheads
  are for tracking every 16 steps and every step);
- ``noise scale/1``, ``update ratio/1``: the nearly free monitors alone;
- ``issue set, probe 256``: the issue set on a 256-example probe batch instead of the
  default min(N, 2,048) = 1,797.

Everything runs in one process and compiles first; then each round trains once with every
set in turn (``fit``'s own ``epoch_time``, compilation excluded), so load from other
processes falls on all of them alike. Printed: the median and best time ratio to the
unmonitored run over the rounds, and what one Hessian measurement (sharpness or trace) costs
in training steps: the extra time, less what the set's every-step monitors (the noise scale)
cost when run alone, divided by (measurements × one unmonitored step). A sharpness
measurement is one linearization of the probe batch's gradient plus the Lanczos steps it
took (printed: Hessian-vector products of the last measurement); on a CPU its cost grows with
the probe size, while a training step's is set by the batch.

For comparison, Cockpit (Schneider et al. 2021, CIFAR-10 3C3D on one GPU) published 1.06×
(economy) to 2.26× (full, with λmax) when tracking every 16 steps, and up to 21× every step.

    python benchmarks/monitor.py            # 7 rounds of 400 steps
    python benchmarks/monitor.py --quick    # a few seconds
"""

from __future__ import annotations

import argparse
import statistics

import jax
import numpy as np
import optax
from flax import nnx

from jaxtrain import monitor
from jaxtrain.data import load_digits
from jaxtrain.losses import softmax_cross_entropy
from jaxtrain.nn import MLP, functional
from jaxtrain.train import fit

LEARNING_RATE, MOMENTUM, BATCH = 0.05, 0.9, 64


def monitor_sets(quick: bool) -> dict[str, list]:
    sets = {
        "none": [],
        "issue set": [
            monitor.sharpness(every=50),
            monitor.gradient_noise_scale(every=1),
            monitor.hessian_trace(every=100),
        ],
        "issue set, probe 256": [
            monitor.sharpness(every=50, probe_size=256),
            monitor.gradient_noise_scale(every=1),
            monitor.hessian_trace(every=100, probe_size=256),
        ],
        "sharpness/16": [monitor.sharpness(every=16)],
        "noise scale/1": [monitor.gradient_noise_scale(every=1)],
        "update ratio/1": [monitor.update_ratio(every=1)],
    }
    if quick:  # each set compiles its own epoch: keep the smoke run to two
        return {name: sets[name] for name in ("none", "issue set")}
    sets["sharpness/1"] = [monitor.sharpness(every=1)]
    return sets


def measurements(monitors: list, steps: int) -> int:
    """How many Hessian measurements (sharpness or trace) a run of ``steps`` makes."""
    return sum(-(-steps // m.every) for m in monitors if m.uses_probe)


def every_step_cost(monitors: list, sets: dict[str, list], extra: dict[str, float]) -> float:
    """The extra time of ``monitors``' probe-free monitors (the noise scale, the update
    ratio), each as measured in the set that runs it alone, where there is one (the quick run
    has none: there the Hessian measurements carry it)."""
    alone = {tuple(chosen): name for name, chosen in sets.items() if len(chosen) == 1}
    return sum(extra.get(alone.get((m,), ""), 0.0) for m in monitors if not m.uses_probe)


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, a few seconds")
    args = parser.parse_args(argv)
    hidden, steps, rounds = (8, 20, 1) if args.quick else (128, 400, 7)
    x, y = load_digits()
    if args.quick:
        # Whole batches only: a partial last batch would compile the monitored step twice.
        x, y = x[: steps * BATCH], y[: steps * BATCH]
    x = (x - x.mean(0)) / (x.std(0) + 1e-6)
    triple = functional(MLP(64, hidden, 10, depth=2, rngs=nnx.Rngs(0)))
    optimizer = optax.sgd(LEARNING_RATE, momentum=MOMENTUM)
    sets = monitor_sets(args.quick)

    def run(monitors):
        state, history = fit(
            triple,
            optimizer,
            (x, y),
            loss=softmax_cross_entropy,
            steps=steps,
            batch_size=BATCH,
            monitors=monitors,
            learning_rate=LEARNING_RATE,
            progress=False,
        )
        return float(np.sum(history.per_epoch["epoch_time"])), state

    matvecs = {}
    for name, monitors in sets.items():  # compile every variant once
        _, state = run(monitors)
        if "sharpness" in state.monitor_state:
            matvecs[name] = int(state.monitor_state["sharpness"].matvecs)
    seconds: dict[str, list[float]] = {name: [] for name in sets}
    for _ in range(rounds):
        for name, monitors in sets.items():
            seconds[name].append(run(monitors)[0])

    base = np.asarray(seconds["none"])
    step_seconds = statistics.median(base) / steps
    print(
        f"jax {jax.__version__} on {jax.devices()[0].platform}; MLP 64-{hidden}x2-10, digits "
        f"N={len(x)}, batch {BATCH}, {steps} steps, {rounds} interleaved rounds; one "
        f"unmonitored step {1e3 * step_seconds:.3f} ms\n"
    )
    header = (
        f"{'monitors':>22} {'ms/run':>8} {'ratio median':>13} {'best':>6} "
        f"{'HVPs/meas.':>11} {'steps/meas.':>12}"
    )
    print(header)
    print("-" * len(header))
    results = {}
    extra = {
        name: statistics.median(times) - statistics.median(base) for name, times in seconds.items()
    }
    for name, times in seconds.items():
        ratios = np.asarray(times) / base
        median, best = float(np.median(ratios)), float(np.min(ratios))
        count = measurements(sets[name], steps)
        per_measurement = ""
        if count:
            hessian = extra[name] - every_step_cost(sets[name], sets, extra)
            per_measurement = f"{hessian / count / step_seconds:.0f}"
        results[name] = {"ratio_median": median, "ratio_best": best}
        print(
            f"{name:>22} {1e3 * statistics.median(times):>8.1f} {median:>13.2f} {best:>6.2f} "
            f"{matvecs.get(name, ''):>11} {per_measurement:>12}"
        )
    print(
        "\nCockpit (CIFAR-10 3C3D, one GPU): every 16 steps 1.06x economy, 1.09x business "
        "(trace), 2.26x full (λmax); every step 1.51x / 2.02x / 21x."
    )
    return results


if __name__ == "__main__":
    main()
