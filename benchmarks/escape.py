"""Steps and cost out of planted saddles: gradient descent, noise and the escape transforms.

From each planted saddle of issue 16 (the lecture's toy L = (1 − w₁w₂)² at 0, a three-layer
linear network at 0, a tanh network on XOR with all hidden units equal, a sigmoid MLP on the
digits from a tiny initialization) every method runs until the loss falls below half its
start value, or for the case's budget of steps. The first table counts steps, the second the
cost: gradients plus Hessian-vector products (each counted as one gradient), with the loss
evaluations of line searches beside it. The gradients are one per step and one per Lanczos
run of the curvature methods: each run linearizes ∇L at θ (a forward and backward pass)
before its products. A transform meets the target when it needs at most a fifth of gradient
descent's steps, or escapes at all where gradient descent does not.

A third table gives perturbed GD's settings, all from one rule (Jin et al.'s, with ℓ = max |λ|
at the start and ε = λmin²/ρ: ``perturbation_settings``), and its kicks. Where perturbed GD
misses the target, a last table asks what a kick would have to be: one kick of radius r at step 0,
then gradient descent, for radii from the rule's up to several times ‖θ₀‖, with the gradient
norm along gradient descent's run for comparison with ε_g.

The cases and methods are the lecture's (``jaxtrain.lecture._saddle_escapes``), so these tables
and the figure of ``lecture.critical_points.saddle_escapes`` come from the same runs.

    python benchmarks/escape.py            # the four planted saddles (a minute or two on CPU)
    python benchmarks/escape.py --quick    # the toy only
"""

from __future__ import annotations

import argparse
import math

from jaxtrain.lecture import LectureConfig
from jaxtrain.lecture._saddle_escapes import (
    METHODS,
    TRANSFORMS,
    EscapeRun,
    PlantedSaddle,
    escape_run,
    meets_target,
    perturbation_settings,
    planted_saddles,
    race,
    start_curvature,
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
                " where it was not reached); gradients: one per step, and one per Lanczos run"
                " (its linearization of ∇L at θ); evals: loss evaluations of NCD/SFN's line"
                " searches",
                cost_rows,
            ),
        ]
    )


def settings_table(cases, curvatures, results) -> str:
    """Perturbed GD's ε_g, r and T by the rule, its kicks and its steps against GD's."""
    rows = [["case", "ℓ=max|λ|", "ρ", "ε=λmin²/ρ", "ε_g", "r", "T", "kicks", "PGD/GD steps"]]
    for case in cases:
        lowest, highest = curvatures[case.name]
        settings = perturbation_settings(case, curvatures[case.name])
        runs = results[case.name]
        pgd, gd = runs["perturbed GD"].steps, runs["gradient descent"].steps
        ratio = f"{pgd / gd:.2f}" if pgd is not None and gd is not None else "GD never"
        rows.append(
            [
                case.name,
                # perturbation_settings' ℓ: the gradient's Lipschitz constant at the start.
                f"{max(highest, -lowest):.3g}",
                f"{case.hessian_lipschitz:g}",
                f"{lowest**2 / case.hessian_lipschitz:.3g}",
                f"{settings['gradient_threshold']:.2g}",
                f"{settings['radius']:.2g}",
                str(settings["escape_steps"]),
                str(runs["perturbed GD"].perturbations),
                ratio,
            ]
        )
    return _table(
        "Perturbed GD by Jin et al.'s rule (ℓ = max |λ| at the start, ε = λmin²/ρ, δ = 0.1,"
        " Δ_L = L(θ₀), c = ηℓ)",
        rows,
    )


def _gradient_norms(case: PlantedSaddle, steps: int):
    """‖g‖ at each of gradient descent's first ``steps`` steps."""
    import jax
    import optax

    @jax.jit
    def norms(start):
        def body(params, _):
            grads = jax.grad(case.loss_fn)(params)
            step = jax.tree.map(lambda g: -case.learning_rate * g, grads)
            return optax.apply_updates(params, step), optax.global_norm(grads)

        return jax.lax.scan(body, start, None, length=steps)[1]

    return jax.device_get(norms(case.start))


def kick_table(case: PlantedSaddle, curvature, gd_steps: int, seed: int) -> str:
    """What a kick would have to be: one kick of radius r at step 0, then gradient descent.

    Each run is perturbed GD with ε_g = ‖g(θ₀)‖ and T = the budget: it kicks once, at step 0.
    Where the saddle is of higher order (the digits: negative curvature grows with the
    weights), descent's time falls as the inverse of the offset from the saddle, so the last
    column, steps × √(‖θ₀‖² + r²), stays roughly constant.
    """
    import numpy as np
    import optax

    from jaxtrain import optim

    norms = _gradient_norms(case, gd_steps)
    start_norm = float(optax.global_norm(case.start))
    first_gradient = float(norms[0])
    rule = perturbation_settings(case, curvature)["radius"]
    plateau = int(np.argmin(norms))
    lines = [
        f"{case.name}: ‖g‖ along gradient descent's run: {first_gradient:.2g} at step 0, "
        f"lowest {float(norms[plateau]):.2g} (step {plateau}) against the rule's ε_g = "
        f"{perturbation_settings(case, curvature)['gradient_threshold']:.2g}; ‖θ₀‖ = "
        f"{start_norm:.3g}; 1/(η|λmin|) = {1 / (case.learning_rate * abs(curvature[0])):.0f} "
        f"steps per e-folding; gradient descent: {gd_steps} steps, the target ≤ {gd_steps / 5:.0f}"
    ]
    rows = [["r", "r/‖θ₀‖", "steps", "steps/GD", "steps·√(‖θ₀‖²+r²)"]]
    for radius in (rule, 0.01, 0.1, 1.0, 3.0, 5.0):
        optimizer = optim.perturbed_gd(
            case.learning_rate,
            # ‖g(θ₀)‖ itself, so that it kicks at step 0 (a floor where g = 0 exactly).
            gradient_threshold=max(first_gradient, 1e-30),
            radius=radius,
            escape_steps=case.budget,
            seed=seed,
        )
        steps = escape_run(optimizer, case).steps
        shown = "never" if steps is None else str(steps)
        rows.append(
            [
                f"{radius:.2g}",
                f"{radius / start_norm:.2g}" if start_norm > 0 else "-",
                shown,
                "-" if steps is None else f"{steps / gd_steps:.2f}",
                "-" if steps is None else f"{steps * math.hypot(start_norm, radius):.0f}",
            ]
        )
    lines.append(_table("One kick of radius r at step 0, then gradient descent", rows))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, dict[str, EscapeRun]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the toy saddle only")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    cases = planted_saddles(LectureConfig(quick=args.quick), args.seed)
    curvatures = {case.name: start_curvature(case, args.seed) for case in cases}
    results = race(cases, curvatures, args.seed)
    budgets = {case.name: case.budget for case in cases}
    lows = {name: lowest for name, (lowest, _) in curvatures.items()}
    print(tables(results, budgets, lows))
    print()
    print(settings_table(cases, curvatures, results))
    for case in cases:
        runs = results[case.name]
        if meets_target(runs, "perturbed GD") or runs["gradient descent"].steps is None:
            continue
        print()
        print(kick_table(case, curvatures[case.name], runs["gradient descent"].steps, args.seed))
    return results


if __name__ == "__main__":
    main()
