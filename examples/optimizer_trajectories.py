"""Momentum and adaptive learning rates (lecture §3–§4), seen on two error surfaces.

Two pictures, each printed as numbers too:

1. ``optimizer_trajectories.png``: SGD, SGD with momentum, Adagrad, RMSProp and Adam, all
   started from the same point, on

   - the lecture's long narrow valley L(θ) = ½(θ₁² + 100·θ₂²): the steep direction forces a
     small η (above 2/100 SGD diverges), with which SGD then crawls along the flat one;
     momentum builds up speed along the valley, the adaptive methods give each coordinate
     its own step η/σᵢ;
   - Rosenbrock's curved valley L(θ) = (1 − θ₁)² + 100(θ₂ − θ₁²)², minimum at (1, 1).

   Each path is one jitted ``lax.scan`` (:func:`jaxtrain.optim.optimize_trajectory`); the
   bottom row shows the losses along the paths. With a constant η, RMSProp ends in a zigzag
   of size ~η around the minimum (σ shrinks with the gradients, so η/σ does not): the
   reason to decay η, as in picture 2.
2. ``learning_rate_schedules.png``: warmup + cosine decay, exponential (staircase) decay,
   the Transformer's inverse square root and a piecewise-constant step decay, all with the
   same peak η, on a linear and a log axis.

    python examples/optimizer_trajectories.py --out jaxtrain-out --quick
"""

from __future__ import annotations

import argparse
import pathlib
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import optax

from jaxtrain import optim
from jaxtrain.optim import schedules


def narrow_valley(theta: jax.Array) -> jax.Array:
    """The lecture's long narrow error surface: L = ½(θ₁² + 100·θ₂²), minimum at 0."""
    return 0.5 * (theta[0] ** 2 + 100.0 * theta[1] ** 2)


def rosenbrock(theta: jax.Array) -> jax.Array:
    """Rosenbrock's valley: L = (1 − θ₁)² + 100(θ₂ − θ₁²)², minimum at (1, 1)."""
    return (1.0 - theta[0]) ** 2 + 100.0 * (theta[1] - theta[0] ** 2) ** 2


def optimizers(surface: str) -> dict[str, optax.GradientTransformation]:
    """Each method with a learning rate that works on ``surface`` (tuned by hand, not to win)."""
    if surface == "valley":
        return {
            "SGD (η=0.019)": optim.sgd(0.019),
            "momentum (η=0.004, λ=0.9)": optim.sgd(0.004, momentum=0.9),
            "Adagrad (η=1.0)": optim.adagrad(1.0),
            "RMSProp (η=0.05)": optim.rmsprop(0.05),
            "Adam (η=0.3)": optim.adam(0.3),
        }
    return {
        "SGD (η=1e-3)": optim.sgd(1e-3),
        "momentum (η=1e-3, λ=0.9)": optim.sgd(1e-3, momentum=0.9),
        "Adagrad (η=0.5)": optim.adagrad(0.5),
        "RMSProp (η=1e-3)": optim.rmsprop(1e-3),
        "Adam (η=0.02)": optim.adam(0.02),
    }


SURFACES: dict[str, tuple[Callable, jax.Array, tuple, tuple, tuple]] = {
    # name: (loss, start, minimum, xlim, ylim)
    "valley": (narrow_valley, jnp.array([-9.0, 0.9]), (0.0, 0.0), (-10.0, 2.0), (-1.2, 1.2)),
    "rosenbrock": (rosenbrock, jnp.array([-1.5, 2.5]), (1.0, 1.0), (-2.0, 2.0), (-1.0, 3.2)),
}


def run_surface(name: str, num_steps: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The path and losses of every optimizer on surface ``name``."""
    loss, start, *_ = SURFACES[name]
    results = {}
    for label, opt in optimizers(name).items():
        path, losses = optim.optimize_trajectory(opt, loss, start, num_steps)
        results[label] = (np.asarray(path), np.asarray(losses))
    return results


def trajectory_figure(runs: dict, out: pathlib.Path, *, quick: bool) -> pathlib.Path:
    import matplotlib.pyplot as plt

    from jaxtrain.plot import plot_trajectories

    fig, axes = plt.subplots(2, 2, figsize=(13.0, 9.0), height_ratios=(3, 2))
    titles = {
        "valley": "long narrow valley  L = ½(θ₁² + 100θ₂²)",
        "rosenbrock": "Rosenbrock  L = (1 − θ₁)² + 100(θ₂ − θ₁²)²",
    }
    for column, (name, results) in enumerate(runs.items()):
        loss, _, minimum, xlim, ylim = SURFACES[name]
        paths = {label: path for label, (path, _) in results.items()}
        ax = axes[0, column]
        plot_trajectories(
            loss,
            paths,
            ax,
            xlim=xlim,
            ylim=ylim,
            minimum=minimum,
            grid_size=80 if quick else 300,
        )
        ax.set_title(titles[name])
        curve_ax = axes[1, column]
        for label, (_, losses) in results.items():
            curve_ax.plot(np.maximum(losses, 1e-12), label=label)
        curve_ax.set_yscale("log")
        curve_ax.set_xlabel("step t")
        curve_ax.set_ylabel("loss L(θᵗ)")
        curve_ax.legend(fontsize="small")
    fig.tight_layout()
    path = out / "optimizer_trajectories.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def lecture_schedules(num_steps: int, peak: float = 1e-3) -> dict[str, Callable]:
    """The lecture's schedules, each reaching the same peak η."""
    warmup = max(num_steps // 10, 1)
    return {
        f"warmup {warmup} + cosine": schedules.warmup_cosine_decay(
            0.0, peak, warmup_steps=warmup, decay_steps=num_steps
        ),
        "exponential (staircase)": schedules.exponential_decay(
            peak, transition_steps=max(num_steps // 10, 1), decay_rate=0.7, staircase=True
        ),
        # Peak s/√(d·w) at t = w: choose s so that it equals `peak` (d = 1).
        f"inverse √t, warmup {warmup}": schedules.inverse_sqrt(
            model_dim=1, warmup_steps=warmup, scale=peak * warmup**0.5
        ),
        "piecewise constant": schedules.piecewise_constant(
            peak, {num_steps // 2: 0.1, (3 * num_steps) // 4: 0.1}
        ),
    }


def table_values(scheds: dict[str, Callable], num_steps: int) -> list[list[float]]:
    """η(t) of every schedule over the plotted steps."""
    steps = np.arange(num_steps)
    return [np.asarray(optim.learning_rate_at(s, steps)).tolist() for s in scheds.values()]


def schedule_figure(num_steps: int, out: pathlib.Path) -> tuple[pathlib.Path, dict]:
    import matplotlib.pyplot as plt

    from jaxtrain.plot import plot_schedules

    scheds = lecture_schedules(num_steps)
    fig, (ax_lin, ax_log) = plt.subplots(1, 2, figsize=(12.0, 4.0))
    plot_schedules(scheds, num_steps, ax_lin)
    plot_schedules(scheds, num_steps, ax_log, log_scale=True)
    ax_log.set_ylim(bottom=1e-3 * max(max(v) for v in table_values(scheds, num_steps)))
    ax_lin.set_title("learning-rate schedules η(t)")
    ax_log.set_title("the same, log scale")
    fig.tight_layout()
    path = out / "learning_rate_schedules.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    steps = np.array([0, num_steps // 10, num_steps // 2, num_steps - 1])
    table = {
        label: np.asarray(optim.learning_rate_at(s, steps)).tolist() for label, s in scheds.items()
    }
    return path, {"steps": steps.tolist(), "values": table}


def main(argv: list[str] | None = None) -> dict:
    """Runs the example; returns the final losses and the schedule values it printed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="./jaxtrain-out", help="output folder")
    parser.add_argument("--quick", action="store_true", help="fewer steps, coarser grids")
    args = parser.parse_args(argv)
    matplotlib.use("Agg")
    out = pathlib.Path(args.out) / "optimizer_trajectories"
    out.mkdir(parents=True, exist_ok=True)

    start_time = time.perf_counter()
    steps = {"valley": 300, "rosenbrock": 800 if args.quick else 5000}
    runs = {name: run_surface(name, num_steps) for name, num_steps in steps.items()}
    final = {}
    for name, results in runs.items():
        print(f"{name}: final loss after {steps[name]} steps from {SURFACES[name][1].tolist()}")
        final[name] = {}
        for label, (path, losses) in results.items():
            final[name][label] = float(losses[-1])
            print(f"  {label:28s} L = {losses[-1]:10.3e}   θ = {np.round(path[-1], 4).tolist()}")
    picture = trajectory_figure(runs, out, quick=args.quick)
    print(f"wrote {picture}")

    schedule_png, schedule_table = schedule_figure(200 if args.quick else 1000, out)
    print(f"learning rate at steps {schedule_table['steps']}:")
    for label, values in schedule_table["values"].items():
        print(f"  {label:28s} " + "  ".join(f"{v:.2e}" for v in values))
    print(f"wrote {schedule_png}")
    print(f"done in {time.perf_counter() - start_time:.1f} s")
    return {"final_loss": final, "schedules": schedule_table, "out": str(out)}


if __name__ == "__main__":
    main()
