"""Tour §1 card: what went wrong in *this* run, from ``explain_run`` on a planted failure."""

from __future__ import annotations

from jaxtrain.cli._tour import TourContext
from jaxtrain.cli._tour_data import digits_splits

# The planted failure: plain SGD with a step far too large for a tanh MLP's curvature.
_ETA = 10.0
_DEPTH, _WIDTH = 2, 32


def what_went_wrong(ctx: TourContext) -> None:
    """explain_run on SGD at η = 10: the sharpness, the threshold and the lower-η re-run."""
    import matplotlib.pyplot as plt
    from flax import nnx

    from jaxtrain import data, nn, optim
    from jaxtrain.diagnose import explain_run

    (x, y), _ = digits_splits(ctx.seed)
    mean, std = data.fit_standardizer(x)
    x = data.standardize(x, mean, std)
    steps = ctx.size(200, 400)
    model = nn.MLP(64, _WIDTH, 10, depth=_DEPTH, activation="tanh", rngs=nnx.Rngs(ctx.seed))
    # The card's claim is about η, so the quick tour skips the Hessian at the end.
    explanation = explain_run(
        model,
        optim.sgd(_ETA),
        (x, y),
        steps=steps,
        batch_size=64,
        seed=ctx.seed,
        curvature=not ctx.quick,
    )
    fig = plt.figure(figsize=(12, 3.8))
    explanation.plot(fig)
    e, top = explanation.evidence, explanation.top
    numbers = {
        "learning_rate": _ETA,
        "steps": steps,
        "top_cause": top.name if top else "none",
        "top_score": top.score if top else 0.0,
        "loss_over_baseline": e.loss_ratio,
        "causes": {c.name: c.score for c in explanation.causes},
    }
    measured = {
        "sharpness_over_threshold": e.sharpness_ratio,
        "lambda_eta_over_2": e.lambda_eta_over_2,
        "loss_rise": e.loss_rise,
        "probe_gain": e.probe_gain,
        "probe_factor": e.probe_factor,
    }
    numbers.update({k: v for k, v in measured.items() if v == v and abs(v) != float("inf")})
    run = (
        f"jaxtrain.diagnose.explain_run on a user's run: plain SGD at η = {_ETA:g} on a "
        f"{_DEPTH}-hidden-layer tanh MLP, standardized digits, {steps} steps of batch 64. "
        f"The training loss ends at {e.loss_ratio:.2f} × the baseline B."
    )
    if top is not None and top.name == "learning_rate_too_high":
        caption = (
            f"{run} Top cause: {top.name} (§4, score {top.score:.2f}). The sharpness sat at a "
            f"median {e.sharpness_ratio:.2f} × the stability threshold 2/η (λmax·η/2 = "
            f"{e.lambda_eta_over_2:.2f}), the smoothed loss climbed back to "
            f"{1 + e.loss_rise:.2f} × its lowest value, and the same run at "
            f"{e.probe_factor:.2g}·η (where the median λmax sits at half the threshold) on the "
            f"same batches ended with a {e.probe_gain:.2f} × lower loss."
        )
    elif top is not None:
        caption = f"{run} Top cause: {top.name} ({top.section}, score {top.score:.2f})."
    else:
        caption = f"{run} No cause reached the report score (0.50)."
    ctx.add_figure("what_went_wrong", fig, caption, numbers)
