"""§1 Task strategy: why does training fail? The lecture's flowchart, measured.

Training minimizes the average loss over the N training examples,
L(θ) = (1/N) Σₙ e(f_θ(xₙ), ŷₙ). Look at the training loss first. Large: **model bias** (no θ in
the model's family fits: make it more flexible) or an **optimization** issue (a simpler model
trains better, so gradient descent missed a good θ). Small, but the validation loss is large:
**overfitting** (a held-out split of the training distribution fails too: more data,
augmentation, constraints) or **mismatch** (it does not: the validation data come from another
distribution). "Large" is relative to the baseline B, the loss of the best constant prediction
(the class prior for a classifier).

The flowchart's experiments run :func:`jaxtrain.diagnose.diagnose` (the same budget and seeds for
every candidate, losses over B); what went wrong in one run is
:func:`jaxtrain.diagnose.explain_run`; the augmentation experiment trains with
:func:`jaxtrain.train.fit`'s ``augment=``; choosing among models of growing flexibility uses
k-fold :func:`jaxtrain.diagnose.cross_validate` on the training data alone, checked on fresh
test data.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from jaxtrain._text import beside, counted, printed, side_by_side, signed
from jaxtrain.lecture._claim import Claim, LectureConfig
from jaxtrain.lecture._digits import digits_splits
from jaxtrain.lecture._section import Section

__all__ = [
    "SECTION",
    "augmentation",
    "deep_vs_shallow",
    "model_bias",
    "model_selection",
    "overfitting_and_mismatch",
    "what_went_wrong",
]

_ID = "task_strategy"
_SPLITS = ("train", "heldout", "val")


def _seeds(config: LectureConfig, seed: int) -> tuple[int, ...]:
    """The seeds of a repeated experiment: one at the quick size, three at the full size."""
    return tuple(seed + i for i in range(config.size(quick=1, full=3)))


def _diagnosis_numbers(diagnosis: Any) -> dict[str, Any]:
    """What a flowchart figure and caption need from a :class:`~jaxtrain.diagnose.Diagnosis`.

    Losses are relative to the baseline B (means over seeds); ``curves`` are every seed's
    per-step training loss over B, one (seeds, steps) array per candidate.
    """
    baseline = diagnosis.baseline
    candidates = [c.name for c in diagnosis.candidates]
    numbers: dict[str, Any] = {
        "verdict": diagnosis.verdict,
        "primary": diagnosis.primary,
        "candidates": candidates,
        "n_params": {c.name: int(c.n_params) for c in diagnosis.candidates},
        "baseline": float(baseline),
        "large_train_loss": float(diagnosis.thresholds.large_train_loss),
        "large_gap": float(diagnosis.thresholds.large_gap),
        "seeds": len(diagnosis.candidates[0].train_loss),
    }
    for split in _SPLITS:
        numbers[f"{split}_loss_over_baseline"] = {
            c.name: float(c.mean(split) / baseline) for c in diagnosis.candidates
        }
    numbers["curves"] = {
        c.name: np.stack([curve[: min(map(len, c.curves))] for curve in c.curves]) / baseline
        for c in diagnosis.candidates
    }
    # The flowchart's paired comparison of the primary with each other candidate (large
    # training loss only): the mean difference over B and its standard error over seeds.
    numbers["comparisons"] = {
        c["candidate"]: {
            "difference": float("nan") if c["difference"] is None else float(c["difference"]),
            "standard_error": (
                float("nan") if c["standard_error"] is None else float(c["standard_error"])
            ),
            "better": bool(c["better"]),
        }
        for c in diagnosis.numbers.get("comparisons", [])
    }
    return numbers


def _flowchart_figure(numbers: dict[str, Any], title: str, labels: dict[str, str]) -> Any:
    """Training curves over B (median over seeds, range shaded) and the final losses over B."""
    import matplotlib.pyplot as plt

    fig, (ax_curves, ax_bars) = plt.subplots(
        1, 2, figsize=(11, 3.9), gridspec_kw={"width_ratios": (1.5, 1)}
    )
    names = numbers["candidates"]
    for name in names:
        curves = numbers["curves"][name]
        steps = np.arange(1, curves.shape[1] + 1)
        style = "-" if name == numbers["primary"] else "--"
        label = f"{labels[name]} ({numbers['n_params'][name]:,} params)"
        (line,) = ax_curves.plot(steps, np.median(curves, axis=0), style, lw=1.5, label=label)
        ax_curves.fill_between(
            steps, curves.min(axis=0), curves.max(axis=0), color=line.get_color(), alpha=0.2
        )
    ax_curves.axhline(
        numbers["large_train_loss"], color="gray", ls=":", lw=1, label="'large' threshold"
    )
    ax_curves.set(xlabel="step", ylabel="training loss / B", yscale="log", title="training curves")
    ax_curves.legend(fontsize=8)

    width = 0.8 / len(names)
    positions = np.arange(2)
    for i, name in enumerate(names):
        values = [numbers[f"{split}_loss_over_baseline"][name] for split in ("train", "val")]
        offset = (i - (len(names) - 1) / 2) * width
        bars = _loss_bars(ax_bars, positions + offset, values, width, fontsize=8)
        bars.set_label(labels[name])
    ax_bars.axhline(1.0, color="gray", ls="--", lw=1, label="baseline B")
    ax_bars.set_xticks(positions, ["training", "validation"])
    every = [v for s in ("train", "val") for v in numbers[f"{s}_loss_over_baseline"].values()]
    ax_bars.set(ylim=_loss_bars_limits(every), ylabel="loss / B", title="after the budget")
    ax_bars.legend(fontsize=8)
    fig.suptitle(f"{title} — verdict: {numbers['verdict']}", fontsize=10)
    fig.set_layout_engine("tight")
    return fig


def _loss_bars(
    ax: Any, positions: Any, values: list[float], width: float = 0.8, fontsize: float | None = None
) -> Any:
    """Bars of losses over the baseline, each labelled with its value; a run that diverged
    (a non-finite loss, as diagnose records it) gets no bar and the label "n/a"."""
    bars = ax.bar(positions, [v if math.isfinite(v) else 0.0 for v in values], width)
    for bar, value in zip(bars, values, strict=True):
        label = f"{value:.2f}" if math.isfinite(value) else "n/a"
        x = bar.get_x() + bar.get_width() / 2
        ax.annotate(label, (x, bar.get_height()), ha="center", va="bottom", fontsize=fontsize)
    return bars


def _loss_bars_limits(values: list[float]) -> tuple[float, float]:
    """The y-range of :func:`_loss_bars`: from 0 to above the baseline and every finite bar."""
    return 0.0, 1.15 * max([1.0, *(v for v in values if math.isfinite(v))])


def _budget_words(numbers: dict[str, Any]) -> str:
    seeds = numbers["seeds"]
    return (
        f"{numbers['steps']} Adam steps at η = {numbers['learning_rate']:g}, "
        f"{counted(seeds, 'seed')}"
    )


_SPIRAL_CLASSES = 3


def model_bias(config: LectureConfig, seed: int = 0) -> Claim:
    """A linear model on three interleaved spirals, against a one-hidden-layer MLP.

    The flowchart's first branch, large training loss, with the model bias answer: the more
    flexible model gets the training loss down with the same budget, the linear one cannot.

    Returns:
      A claim whose numbers hold the verdict, each model's training and validation loss over
      the baseline B, their paired difference and the training curves.
    """
    from jaxtrain.data import make_spirals
    from jaxtrain.diagnose import Budget, ModelSpec, diagnose

    x, y = make_spirals(600, classes=_SPIRAL_CLASSES, noise=0.05, seed=seed)
    linear = ModelSpec("mlp", (2,), _SPIRAL_CLASSES, depth=0)
    mlp = ModelSpec("mlp", (2,), _SPIRAL_CLASSES, width=128, depth=1)
    budget = Budget(
        steps=config.size(quick=200, full=400), learning_rate=3e-2, seeds=_seeds(config, seed)
    )
    diagnosis = diagnose(
        [linear, mlp],
        (x[:450], y[:450]),
        (x[450:], y[450:]),
        budget=budget,
        primary=0,
        train_all=True,
        curvature=False,
    )
    numbers = {**_diagnosis_numbers(diagnosis), "steps": budget.steps, "points": 600}
    numbers["learning_rate"] = budget.learning_rate
    return Claim(
        section=_ID,
        id="model_bias",
        title="Model bias: a linear model on spirals",
        numbers=numbers,
        figure=_model_bias_figure(numbers),
        caption=_model_bias_caption(numbers),
    )


def _model_bias_labels(numbers: dict[str, Any]) -> dict[str, str]:
    linear, mlp = numbers["candidates"]
    return {linear: "linear", mlp: "1 hidden layer"}


def _model_bias_figure(numbers: dict[str, Any]) -> Any:
    labels = _model_bias_labels(numbers)
    return _flowchart_figure(numbers, "three spirals, linear model vs MLP", labels)


def _model_bias_caption(numbers: dict[str, Any]) -> str:
    linear, mlp = numbers["candidates"]
    train = numbers["train_loss_over_baseline"]
    large = numbers["large_train_loss"]
    verdict = numbers["verdict"]
    # As many decimals as keep the two apart and each on its side of the threshold.
    shown = dict(
        zip((linear, mlp), side_by_side([train[linear], train[mlp]], [large]), strict=True)
    )
    text = (
        f"jaxtrain.diagnose on {_SPIRAL_CLASSES} interleaved spirals ({numbers['points']} points) "
        f"with the same budget ({_budget_words(numbers)}) for a linear model and a "
        f"one-hidden-layer MLP. Training loss relative to the baseline B: linear "
        f"{shown[linear]}, MLP {shown[mlp]} ('large' above {large:g}). "
    )
    if verdict != "model_bias":
        return text + (
            f"Verdict “{verdict}”: the case built for model bias does not show it at this size."
        )
    if train[mlp] <= large:
        outcome = "the more flexible model gets it below the threshold with the same budget"
    elif train[mlp] < train[linear]:
        outcome = (
            "the more flexible model gets it lower with the same budget, though not below the "
            "threshold"
        )
    else:
        outcome = (
            f"the more flexible model does not get it lower either ({shown[mlp]}): no "
            "candidate fits, model bias by elimination"
        )
    return text + (
        f"The linear model's training loss stays large and {outcome}: verdict “model_bias”, "
        "so the remedy is a more flexible model, not more training. (The lecture's reading: "
        "no θ of the linear family separates the spirals.)"
    )


def deep_vs_shallow(config: LectureConfig, seed: int = 0) -> Claim:
    """A deep plain sigmoid MLP against a shallow one on digits, with the same budget.

    The flowchart's other answer to a large training loss: the deeper model could represent
    the shallow one's function yet fits the training data worse, so the optimizer is to blame
    (He et al. 2016's 56- vs 20-layer plain networks).

    Returns:
      A claim whose numbers hold the verdict, each model's training and validation loss over
      the baseline B, their paired difference and the training curves.
    """
    from jaxtrain.diagnose import Budget, ModelSpec, diagnose

    train, val = digits_splits(seed)
    depth = 6
    shallow = ModelSpec("mlp", (64,), 10, width=32, depth=1, activation="sigmoid")
    deep = ModelSpec("mlp", (64,), 10, width=32, depth=depth, activation="sigmoid")
    # Whole epochs of diagnose's 1,150 training digits (17 batches of 64): one compiled segment
    # per run, none for a shorter last one.
    budget = Budget(
        steps=config.size(quick=153, full=408), learning_rate=3e-3, seeds=_seeds(config, seed)
    )
    diagnosis = diagnose(
        [shallow, deep], train, val, budget=budget, train_all=True, curvature=False
    )
    numbers = {**_diagnosis_numbers(diagnosis), "steps": budget.steps, "depth": depth}
    numbers["learning_rate"] = budget.learning_rate
    return Claim(
        section=_ID,
        id="deep_vs_shallow",
        title="Optimization issue: a deep plain net vs a shallow one",
        numbers=numbers,
        figure=_deep_vs_shallow_figure(numbers),
        caption=_deep_vs_shallow_caption(numbers),
    )


def _deep_vs_shallow_figure(numbers: dict[str, Any]) -> Any:
    shallow, deep = numbers["candidates"]
    labels = {shallow: "1 layer", deep: f"{numbers['depth']} layers"}
    return _flowchart_figure(numbers, "digits, plain sigmoid MLPs", labels)


def _deep_vs_shallow_caption(numbers: dict[str, Any]) -> str:
    shallow, deep = numbers["candidates"]
    train = numbers["train_loss_over_baseline"]
    verdict = numbers["verdict"]
    shown = side_by_side([train[shallow], train[deep]], [numbers["large_train_loss"]])
    text = (
        f"jaxtrain.diagnose on digits with the same budget ({_budget_words(numbers)}) for a "
        f"1-layer and a {numbers['depth']}-layer plain sigmoid MLP. Training loss relative to "
        f"the baseline B: shallow {shown[0]}, deep {shown[1]}. "
    )
    if verdict == "optimization":
        return text + (
            "The deep net fits the training data worse than the shallow one: verdict "
            "“optimization”, not model bias. (The lecture's argument, after He et al. 2016: "
            "the deeper net could represent the shallow one's function, so gradient descent "
            "missed a good θ.)"
        )
    if train[deep] > train[shallow] and train[deep] <= numbers["large_train_loss"]:
        return text + (
            f"Both training losses are small (at most {numbers['large_train_loss']:g} B), so the "
            f"flowchart does not compare them; the deep net trains worse here: verdict "
            f"“{verdict}”, not the optimization issue the case was built for."
        )
    if train[deep] > train[shallow]:
        return text + (
            f"The deep net trains worse, but not beyond the flowchart's margin: verdict "
            f"“{verdict}”, not the optimization issue the case was built for."
        )
    return text + (
        f"Here the deep net trains as well as the shallow one or better: verdict “{verdict}”, "
        "and the lecture's optimization issue does not show at this size."
    )


# The planted failure of what_went_wrong: plain SGD with a step far too large for a tanh
# MLP's curvature.
_ETA, _DEPTH, _WIDTH = 10.0, 2, 32


def what_went_wrong(config: LectureConfig, seed: int = 0) -> Claim:
    """explain_run on one run of plain SGD at η = 10: which of the lecture's causes it finds.

    The run is trained with the monitors on (the sharpness λmax against the stability
    threshold 2/η, the gradient norm), then re-run at a lower η from the same start on the same
    batches; the causes are ranked by that evidence. The quick size skips the Hessian at the
    end (the claim is about η).

    Returns:
      A claim whose numbers hold the ranked causes' scores, the evidence behind the top one and
      the run's per-step curves.
    """
    from flax import nnx

    from jaxtrain import data, nn, optim
    from jaxtrain.diagnose import explain_run

    (x, y), _ = digits_splits(seed)
    mean, std = data.fit_standardizer(x)
    x = data.standardize(x, mean, std)
    # Multiples of the 22 steps of an epoch: no second compilation for a shorter last segment.
    steps = config.size(quick=198, full=396)
    model = nn.MLP(64, _WIDTH, 10, depth=_DEPTH, activation="tanh", rngs=nnx.Rngs(seed))
    explanation = explain_run(
        model,
        optim.sgd(_ETA),
        (x, y),
        steps=steps,
        batch_size=64,
        seed=seed,
        curvature=not config.quick,
    )
    e, top = explanation.evidence, explanation.top
    per_step = explanation.history.per_step
    probe = explanation.probe_history
    numbers: dict[str, Any] = {
        "learning_rate": _ETA,
        "depth": _DEPTH,
        "width": _WIDTH,
        "steps": steps,
        "batch_size": 64,
        "top_cause": top.name if top else "none",
        "top_section": top.section if top else "",
        "top_score": top.score if top else 0.0,
        "report_score": explanation.thresholds.report_score,
        "causes": {c.name: c.score for c in explanation.causes},
        "baseline": e.baseline,
        "loss_over_baseline": e.loss_ratio,
        "diverged": bool(e.diverged),
        "sharpness_over_threshold": e.sharpness_ratio,
        "loss_rise": e.loss_rise,
        "probe_factor": e.probe_factor,
        "probe_gain": e.probe_gain,
        "probe_steps": e.probe_steps,
        "loss": np.asarray(per_step["loss"], dtype=np.float64),
        "grad_norm": np.asarray(per_step["grad_norm"], dtype=np.float64),
        "sharpness": np.asarray(per_step["sharpness"], dtype=np.float64),
        "stability_threshold": np.asarray(per_step["stability_threshold"], dtype=np.float64),
        "probe_loss": (
            np.asarray(probe.per_step["loss"], dtype=np.float64) if probe else np.zeros(0)
        ),
    }
    return Claim(
        section=_ID,
        id="what_went_wrong",
        title="What went wrong in this run?",
        numbers=numbers,
        figure=_what_went_wrong_figure(numbers),
        caption=_what_went_wrong_caption(numbers),
    )


def _what_went_wrong_figure(numbers: dict[str, Any]) -> Any:
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_grad, ax_sharp) = plt.subplots(1, 3, figsize=(12, 3.8))
    loss = numbers["loss"]
    ax_loss.plot(
        np.arange(loss.size), loss, lw=0.8, label=f"run at η = {numbers['learning_rate']:g}"
    )
    if numbers["probe_loss"].size:
        probe = numbers["probe_loss"]
        label = f"re-run at {numbers['probe_factor']:.2g}·η"
        ax_loss.plot(np.arange(probe.size), probe, "--", lw=1, label=label)
    ax_loss.axhline(numbers["baseline"], color="gray", ls=":", lw=1, label="baseline B")
    ax_loss.set(xlabel="step", ylabel="training loss (batch)", yscale="log", title="loss")
    ax_loss.legend(fontsize=7)
    grad = numbers["grad_norm"]
    ax_grad.plot(np.arange(grad.size), grad, lw=0.8)
    ax_grad.set(xlabel="step", ylabel="‖g‖ (batch)", yscale="log", title="gradient norm")
    sharp, limit = numbers["sharpness"], numbers["stability_threshold"]
    measured = np.flatnonzero(np.isfinite(sharp))
    if measured.size:
        ax_sharp.plot(measured, np.abs(sharp[measured]), "o-", ms=3, label="λmax")
        ax_sharp.plot(measured, limit[measured], "k--", lw=1, label="stability threshold 2/η")
        ax_sharp.set_yscale("log")
        ax_sharp.legend(fontsize=7)
    else:
        ax_sharp.text(
            0.5, 0.5, "not measured", ha="center", va="center", transform=ax_sharp.transAxes
        )
    ax_sharp.set(xlabel="step", ylabel="sharpness", title="sharpness vs the threshold")
    top = numbers["top_cause"]
    fig.suptitle(
        f"explain_run: top cause {top} (score {numbers['top_score']:.2f})"
        if top != "none"
        else "explain_run: no cause reported",
        fontsize=10,
    )
    fig.set_layout_engine("tight")
    return fig


def _what_went_wrong_caption(numbers: dict[str, Any]) -> str:
    ending = (
        "The loss diverged."
        if numbers["diverged"]
        else f"The training loss ends at {numbers['loss_over_baseline']:.2f} × the baseline B."
    )
    run = (
        f"jaxtrain.diagnose.explain_run on one run: plain SGD at η = "
        f"{numbers['learning_rate']:g} on a {numbers['depth']}-hidden-layer tanh MLP, "
        f"standardized digits, {numbers['steps']} steps of batch {numbers['batch_size']}. "
        f"{ending}"
    )
    top = numbers["top_cause"]
    if top == "learning_rate_too_high":
        # Only what was measured: a sharpness, a rise of the loss and a probe's outcome.
        signs = []
        if math.isfinite(numbers["sharpness_over_threshold"]):
            signs.append(
                f"the sharpness λmax sat at a median {numbers['sharpness_over_threshold']:.2f} × "
                "the stability threshold 2/η"
            )
        if numbers["loss_rise"] > 0 and math.isfinite(numbers["loss_rise"]):
            signs.append(
                f"the smoothed loss climbed back to {beside(1 + numbers['loss_rise'], 1.0, 2)} × "
                "its lowest "
                "value"
            )
        signs.append(_probe_sign(numbers))
        listed = ", ".join(signs[:-1]) + (", and " if len(signs) > 1 else "") + signs[-1]
        return (
            f"{run} Top cause: {top} ({numbers['top_section']}, score "
            f"{numbers['top_score']:.2f}): {listed}."
        )
    if top != "none":
        return (
            f"{run} Top cause: {top} ({numbers['top_section']}, score "
            f"{numbers['top_score']:.2f}), not the too-large learning rate this run was built "
            "for."
        )
    return (
        f"{run} No cause reached the report score ({numbers['report_score']:.2f}), although "
        "this run was built with a learning rate too large for its curvature."
    )


def _probe_sign(numbers: dict[str, Any]) -> str:
    """What the lower-η re-run showed: ``probe_gain`` is the run's mean loss over the
    re-run's, over the re-run's last tenth of steps."""
    gain, steps = numbers["probe_gain"], numbers["probe_steps"]
    if math.isnan(gain):
        return "no lower-η re-run was made"
    length = (
        f" for the first {round(steps):,} of its {numbers['steps']:,} steps"
        if math.isfinite(steps)
        else ""
    )
    probe = (
        f"the same run at {numbers['probe_factor']:.2g}·η, from the same start on the "
        f"same batches{length}, "
    )
    if gain < 0:  # a loss below 0 on one side: no ratio compares the two
        return probe + "ended with a loss of the other sign, which no ratio compares"
    where = "than the run over the last tenth of those steps"
    if math.isinf(gain):
        return probe + "did not diverge"
    if gain > 1:
        return probe + f"had a {beside(gain, 1.0, 2, fixed=True)} × lower loss {where}"
    if gain == 0:
        return probe + "diverged"
    if gain == 1:  # diagnose's "both diverged" when the run diverged, else equal losses
        if numbers["diverged"]:
            return probe + "diverged too"
        return probe + "had the run's loss over the last tenth of those steps"
    # As high or higher: said as it is, though the rule would not rank it.
    return probe + f"had a {beside(1 / gain, 1.0, 2, fixed=True)} × higher loss {where}"


def overfitting_and_mismatch(config: LectureConfig, seed: int = 0) -> Claim:
    """Small training loss, large validation loss: too few examples vs another distribution.

    A held-out split of the *training* distribution tells the two apart: an MLP on 80 noisy
    spiral points fails on it too (overfitting), a digits MLP validated on inverted ink does
    not (mismatch).

    Returns:
      A claim whose numbers hold each case's verdict and its training, held-out and validation
      losses over the baseline B.
    """
    from jaxtrain.data import make_spirals
    from jaxtrain.diagnose import Budget, ModelSpec, diagnose

    (x_train, y_train), (x_val, y_val) = digits_splits(seed)
    few, noise = 80, 0.2
    seeds = _seeds(config, seed)
    cases = {
        "overfitting_case": (
            ModelSpec("mlp", (2,), 2, width=128, depth=2),
            make_spirals(few, noise=noise, seed=seed),
            make_spirals(400, noise=noise, seed=seed + 1),
            Budget(steps=config.size(quick=300, full=600), seeds=seeds, learning_rate=0.01),
        ),
        "mismatch_case": (
            ModelSpec("mlp", (64,), 10, width=64, depth=1),
            (x_train, y_train),
            (1.0 - x_val, y_val),
            # Whole epochs of 17 batches, as in deep_vs_shallow.
            Budget(steps=config.size(quick=153, full=408), seeds=seeds, learning_rate=3e-3),
        ),
    }
    numbers: dict[str, Any] = {"seeds": len(seeds), "few": few, "noise": noise}
    for key, (spec, train, val, budget) in cases.items():
        diagnosis = diagnose(spec, train, val, budget=budget, curvature=False)
        numbers[f"{key}_verdict"] = diagnosis.verdict
        numbers[f"{key}_steps"] = budget.steps
        primary = diagnosis.candidate(diagnosis.primary)
        numbers[f"{key}_loss_over_baseline"] = {
            split: float(primary.mean(split) / diagnosis.baseline) for split in _SPLITS
        }
    numbers["large_train_loss"] = float(diagnosis.thresholds.large_train_loss)
    numbers["large_gap"] = float(diagnosis.thresholds.large_gap)
    return Claim(
        section=_ID,
        id="overfitting_and_mismatch",
        title="Overfitting or mismatch?",
        numbers=numbers,
        figure=_overfitting_figure(numbers),
        caption=_overfitting_caption(numbers),
    )


def _overfitting_figure(numbers: dict[str, Any]) -> Any:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    names = {
        "overfitting_case": f"{numbers['few']} noisy spiral points",
        "mismatch_case": "digits, validation ink inverted",
    }
    for ax, (key, name) in zip(axes, names.items(), strict=True):
        values = [numbers[f"{key}_loss_over_baseline"][split] for split in _SPLITS]
        _loss_bars(ax, np.arange(len(values)), values)
        ax.set_xticks(range(3), ["training", "held-out\n(same distribution)", "validation"])
        ax.axhline(1.0, color="gray", ls="--", lw=1, label="baseline B")
        ax.set(title=f"{name}: {numbers[f'{key}_verdict']}", ylabel="loss / baseline B")
        ax.set_ylim(*_loss_bars_limits(values))
        ax.legend(fontsize=8)
    fig.set_layout_engine("tight")
    return fig


def _overfitting_caption(numbers: dict[str, Any]) -> str:
    over = numbers["overfitting_case_loss_over_baseline"]
    mis = numbers["mismatch_case_loss_over_baseline"]
    over_verdict = numbers["overfitting_case_verdict"]
    mis_verdict = numbers["mismatch_case_verdict"]
    small = numbers["large_train_loss"]
    fits = side_by_side([over["train"], mis["train"]], [small])
    fit_words = (
        "Both models fit their training data"
        # Both at most the threshold: a diverged run (NaN) is no fit, though max() skips it.
        if over["train"] <= small and mis["train"] <= small
        else f"Not both models fit their training data (threshold {small:g} B)"
    )
    text = (
        f"{fit_words} (training loss {fits[0]} B and {fits[1]} B). "
        f"A flexible MLP on only {numbers['few']} noisy spiral points: held-out loss on unseen "
        f"points of the same distribution {over['heldout']:.2f} B, validation "
        f"{over['val']:.2f} B, verdict “{over_verdict}”. The digits model: held-out "
        f"{mis['heldout']:.2f} B, validation with inverted ink {mis['val']:.2f} B, verdict "
        f"“{mis_verdict}”."
    )
    if over_verdict == "overfitting" and mis_verdict == "mismatch":
        return text + (
            " The held-out split tells the two apart: the first fails on its own distribution "
            "too, the second only on another one. (The lecture's remedies: more data, "
            "augmentation or constraints for overfitting; for mismatch, more data of the "
            "training kind would not help.)"
        )
    return text + (
        " The cases were built for “overfitting” and “mismatch”; at this size the flowchart "
        "does not tell them apart as built."
    )


# The augmentation experiment: an MLP as in the tour's digits runs, with and without
# augmentation, over several seeds (issue 18: the gaps are a few points, one seed is noise).
_AUGMENTATIONS = ("none", "shift", "upside down")


@functools.lru_cache(maxsize=1)
def _flat_augmentations() -> dict[str, Any]:
    """The augmentations on flat 64-pixel rows; built once so repeated fits reuse their code."""
    from jaxtrain.data import random_crop, vertical_flip

    def on_flat(image_aug: Any) -> Any:
        # The MLP takes flat rows; the augmentations work on 8×8 images.
        return lambda key, x: image_aug(key, x.reshape(8, 8, 1)).reshape(x.shape)

    return {
        "none": None,
        "shift": on_flat(random_crop(1)),
        "upside down": on_flat(vertical_flip(0.5)),
    }


def augmentation(config: LectureConfig, seed: int = 0) -> Claim:
    """Training on augmented digits: a one-pixel shift and upside-down, tested two ways.

    Each augmentation trains the same MLP over several seeds; each run is tested on the
    validation digits as they are (centered, like the training digits) and on the same digits
    shifted by up to one pixel. An augmentation helps where it produces inputs the test data
    contain and costs accuracy where they do not.

    Returns:
      A claim whose numbers hold every run's accuracy on both validation sets, and example
      images of each augmentation.
    """
    import jax
    from flax import nnx

    from jaxtrain.data import augment_batch, vertical_flip
    from jaxtrain.losses import accuracy, softmax_cross_entropy
    from jaxtrain.nn import MLP
    from jaxtrain.optim import adam
    from jaxtrain.train import evaluate, fit

    epochs = config.size(quick=8, full=30)
    seeds = tuple(seed + i for i in range(config.size(quick=2, full=5)))
    augs = _flat_augmentations()
    val_accuracy: dict[str, list[float]] = {name: [] for name in _AUGMENTATIONS}
    shifted_val_accuracy: dict[str, list[float]] = {name: [] for name in _AUGMENTATIONS}
    # One optimizer object for every run: fit reuses its compiled steps across the seeds.
    optimizer = adam(3e-3)
    for run_seed in seeds:
        (x_train, y_train), (x_val, y_val) = digits_splits(run_seed)
        key = jax.random.key(run_seed)
        x_shifted = np.asarray(augment_batch(augs["shift"], key, x_val))
        for name in _AUGMENTATIONS:
            state, _ = fit(
                MLP(64, 64, 10, depth=1, rngs=nnx.Rngs(run_seed)),
                optimizer,
                (x_train, y_train),
                loss=softmax_cross_entropy,
                epochs=epochs,
                batch_size=64,
                drop_last=True,
                augment=augs[name],
                seed=run_seed,
                progress=False,
            )
            for out, x in ((val_accuracy, x_val), (shifted_val_accuracy, x_shifted)):
                scores = evaluate(state, (x, y_val), loss=softmax_cross_entropy, metrics=[accuracy])
                out[name].append(scores["accuracy"])

    # Example images: the first 6 and 9 of the training split, shifted and upside down. Of 8
    # shifted copies, the first 3 that moved (a shift of (0, 0) has probability 1/9).
    (x_train, y_train), _ = digits_splits(seed)
    images = x_train.reshape(-1, 8, 8)[[int(np.argmax(y_train == d)) for d in (6, 9)]]
    copies = augment_batch(augs["shift"], jax.random.key(seed + 1), np.repeat(images, 8, axis=0))
    copies = np.asarray(copies).reshape(2, 8, 8, 8)
    shifted = np.stack(
        [
            row[np.argsort([np.array_equal(c, image) for c in row], kind="stable")[:3]]
            for row, image in zip(copies, images, strict=True)
        ]
    )
    upside_down = augment_batch(vertical_flip(1.0), key, images[..., None])[..., 0]
    numbers: dict[str, Any] = {
        "epochs": epochs,
        "seeds": list(seeds),
        "val_accuracy": {k: np.asarray(v) for k, v in val_accuracy.items()},
        "shifted_val_accuracy": {k: np.asarray(v) for k, v in shifted_val_accuracy.items()},
        "example_labels": [6, 9],
        "example_images": images,
        "example_shifted": shifted,
        "example_upside_down": np.asarray(upside_down),
    }
    return Claim(
        section=_ID,
        id="augmentation",
        title="Data augmentation: which new examples help",
        numbers=numbers,
        figure=_augmentation_figure(numbers),
        caption=_augmentation_caption(numbers),
    )


def _augmentation_figure(numbers: dict[str, Any]) -> Any:
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(12, 3.6), layout="constrained")
    left, right = fig.subfigures(1, 2, width_ratios=(1.1, 1))
    columns = ["original", "shifted", "shifted", "shifted", "upside down"]
    grid = left.subplots(2, len(columns))
    for row, label in enumerate(numbers["example_labels"]):
        images = [
            numbers["example_images"][row],
            *numbers["example_shifted"][row],
            numbers["example_upside_down"][row],
        ]
        for col, image in enumerate(images):
            ax = grid[row, col]
            ax.imshow(image, cmap="gray_r", vmin=0.0, vmax=1.0)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(columns[col], fontsize=8)
        grid[row, 0].set_ylabel(f"a {label}")
    left.suptitle(
        "shift ≤ 1 pixel: the same digit; upside down: a 6 becomes a mirror-image 9", fontsize=9
    )

    ax = right.subplots()
    groups = (
        ("val_accuracy", "validation as is"),
        ("shifted_val_accuracy", "validation shifted ≤ 1 px"),
    )
    colors = {"none": "gray", "shift": "tab:blue", "upside down": "tab:red"}
    width = 0.8 / len(_AUGMENTATIONS)
    for g, (key, _) in enumerate(groups):
        for i, name in enumerate(_AUGMENTATIONS):
            values = numbers[key][name]
            x = g + (i - (len(_AUGMENTATIONS) - 1) / 2) * width
            mean = float(np.mean(values))
            ax.bar(x, mean, width, color=colors[name], label=name if g == 0 else None)
            ax.plot(np.full(len(values), x), values, "k.", ms=4)
            top = max(mean, float(np.max(values))) + 0.01
            ax.annotate(f"{mean:.2f}", (x, top), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(groups)), [label for _, label in groups])
    ax.set(ylim=(0, 1.08), ylabel="validation accuracy")
    ax.axhline(0.1, color="gray", ls=":", lw=1, label="chance (10 classes)")
    ax.legend(
        title="trained with",
        fontsize=8,
        title_fontsize=8,
        loc="center left",
        bbox_to_anchor=(1, 0.5),
    )
    seeds = len(numbers["seeds"])
    right.suptitle(
        f"{numbers['epochs']} epochs, {seeds} seeds (bars: mean, dots: each seed)", fontsize=9
    )
    return fig


def _seed_count(count: int, seeds: int) -> str:
    return f"on {count} of {counted(seeds, 'seed')}"


def _augmentation_caption(numbers: dict[str, Any]) -> str:
    val = {k: np.asarray(v) for k, v in numbers["val_accuracy"].items()}
    shifted = {k: np.asarray(v) for k, v in numbers["shifted_val_accuracy"].items()}
    seeds = len(numbers["seeds"])
    kinds = ("none", "shift", "upside down")
    # Each set's three mean accuracies in as many decimals (from 3) as keep them apart.
    plain = side_by_side([float(val[k].mean()) for k in kinds], decimals=3)
    shifts = side_by_side([float(shifted[k].mean()) for k in kinds], decimals=3)
    text = (
        f"A one-hidden-layer MLP trained on digits for {numbers['epochs']} epochs, {seeds} "
        "seeds: without augmentation, with every training digit shifted by up to one pixel "
        "(−1, 0 or +1 per axis), and with each turned upside down with probability ½ (top to "
        "bottom: a 6 becomes a mirror-image 9). Mean validation accuracy on the validation "
        f"digits as they are (centered, like the training digits): none {plain[0]}, "
        f"shift {plain[1]}, upside down {plain[2]}; on the same digits shifted by up to a "
        f"pixel: none {shifts[0]}, shift {shifts[1]}, upside down {shifts[2]}. "
    )
    # Differences of the means as printed, rounded to the points printed: a gain that rounds
    # to 0.0 is no gain, and a reader who subtracts the printed means gets the stated
    # difference within that rounding.
    centered = dict(zip(kinds, map(printed, plain), strict=True))
    moved = dict(zip(kinds, map(printed, shifts), strict=True))
    gain = round(100 * (moved["shift"] - moved["none"]), 1) / 100
    cost = round(100 * (centered["none"] - centered["shift"]), 1) / 100
    helps = _seed_count(int(np.sum(shifted["shift"] > shifted["none"])), seeds)
    hurts = _seed_count(int(np.sum(val["shift"] < val["none"])), seeds)
    if gain > 0 and cost > 0:
        text += (
            f"The shift helps where the test digits are shifted (+{100 * gain:.1f} points, "
            f"{helps}) and costs {100 * cost:.1f} points on centered digits (lower {hurts}). "
        )
    elif gain > 0:
        text += (
            f"The shift helps where the test digits are shifted (+{100 * gain:.1f} points, "
            f"{helps}) and costs nothing on centered digits here ({signed(-100 * cost)} points). "
        )
    else:
        text += (
            f"Here the shift does not help even on shifted digits ({signed(100 * gain)} points) "
            "and the lecture's point is not shown. "
        )
    upside = centered["none"] - centered["upside down"]
    upside_shifted = moved["none"] - moved["upside down"]
    if upside > 0 and upside_shifted >= 0:
        lower = _seed_count(int(np.sum(val["upside down"] < val["none"])), seeds)
        text += (
            f"Upside down helps on neither: {beside(100 * upside, 0.0, 1, fixed=True)} points "
            f"lower on centered digits ({lower}), "
            f"{beside(100 * upside_shifted, 0.0, 1, fixed=True)} on shifted ones. "
        )
    else:
        text += (
            f"Upside down does not lower the accuracy on both sets here ({signed(-100 * upside)} "
            f"points centered, {signed(-100 * upside_shifted)} shifted). "
        )
    return text + (
        "(The lecture's rule: augment with the variations the model will meet at test time.)"
    )


# Model selection: k-fold cross-validation on noisy spirals, checked on a large fresh test set.
_SELECTION_POINTS, _SELECTION_TEST_POINTS, _SELECTION_NOISE, _FOLDS = 120, 2000, 0.2, 3


def _selection_candidates() -> list[Any]:
    from jaxtrain.diagnose import ModelSpec

    return [
        ModelSpec("mlp", (2,), 2, depth=0),
        ModelSpec("mlp", (2,), 2, width=16, depth=1),
        ModelSpec("mlp", (2,), 2, width=128, depth=2),
    ]


def model_selection(config: LectureConfig, seed: int = 0) -> Claim:
    """k-fold cross-validation chooses a model on the training data alone.

    Three candidates of growing flexibility (linear, 1×16 and 2×128 MLPs) on 120 noisy spiral
    points. :func:`jaxtrain.diagnose.cross_validate` trains each on k − 1 of k = 3 folds and
    validates it on the k-th; the choice is the lowest mean fold loss. Then, as the lecture
    prescribes, every candidate is trained on all the training points and tested on 2,000
    fresh points of the same distribution, which the choice never saw.

    Returns:
      A claim whose numbers hold each candidate's mean and spread of the fold validation
      losses, its training and fresh-test losses after training on all the points, the
      cross-validation choice and the candidate with the lowest test loss.
    """
    from flax import nnx

    from jaxtrain.data import make_spirals
    from jaxtrain.diagnose import Budget, cross_validate
    from jaxtrain.diagnose._cross_validate import lowest_finite
    from jaxtrain.losses import softmax_cross_entropy
    from jaxtrain.train import evaluate, fit

    train = make_spirals(_SELECTION_POINTS, noise=_SELECTION_NOISE, seed=seed)
    test = make_spirals(_SELECTION_TEST_POINTS, noise=_SELECTION_NOISE, seed=seed + 1)
    candidates = _selection_candidates()
    budget = Budget(steps=config.size(quick=300, full=600), learning_rate=0.01, seeds=[seed])
    selection = cross_validate(candidates, train, k=_FOLDS, budget=budget, seed=seed)
    optimizer = budget.make_optimizer()
    train_loss, test_loss = {}, {}
    for spec in candidates:
        state, _ = fit(
            spec.build(nnx.Rngs(seed)),
            optimizer,
            train,
            loss=softmax_cross_entropy,
            steps=budget.steps,
            batch_size=budget.batch_size,
            drop_last=True,
            seed=seed,
            progress=False,
        )
        for out, data in ((train_loss, train), (test_loss, test)):
            out[spec.name] = float(evaluate(state, data, loss=softmax_cross_entropy)["loss"])
    names = [spec.name for spec in candidates]
    numbers: dict[str, Any] = {
        "candidates": names,
        "points": _SELECTION_POINTS,
        "test_points": _SELECTION_TEST_POINTS,
        "noise": _SELECTION_NOISE,
        "folds": _FOLDS,
        "steps": budget.steps,
        "learning_rate": budget.learning_rate,
        "fold_val_loss": dict(selection.mean_val_loss),
        "fold_val_loss_std": dict(selection.std_val_loss),
        "train_loss": train_loss,
        "test_loss": test_loss,
        "choice": selection.choice,
        "test_best": lowest_finite(test_loss),
    }
    return Claim(
        section=_ID,
        id="model_selection",
        title="Choosing a model by cross-validation",
        numbers=numbers,
        figure=_selection_figure(numbers),
        caption=_selection_caption(numbers),
    )


def _selection_figure(numbers: dict[str, Any]) -> Any:
    import matplotlib.pyplot as plt

    names = numbers["candidates"]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(7.5, 4.0))
    ax.plot(x, [numbers["train_loss"][n] for n in names], "o-", label="training (all points)")
    ax.errorbar(
        x,
        [numbers["fold_val_loss"][n] for n in names],
        yerr=[numbers["fold_val_loss_std"][n] for n in names],
        fmt="s-",
        capsize=4,
        label=f"{numbers['folds']}-fold validation (mean ± std over folds)",
    )
    ax.plot(
        x,
        [numbers["test_loss"][n] for n in names],
        "^-",
        label=f"fresh test ({numbers['test_points']:,} points)",
    )
    chosen = names.index(numbers["choice"])
    ax.plot(
        chosen,
        numbers["fold_val_loss"][numbers["choice"]],
        "*",
        color="red",
        ms=16,
        label="cross-validation's choice",
    )
    ax.set_xticks(x, names)
    ax.set(
        ylim=(0, None),
        xlabel="candidate, more flexible to the right",
        ylabel="cross-entropy loss",
        title=f"{numbers['points']} noisy spiral points, {numbers['steps']} Adam steps each",
    )
    ax.legend(fontsize=8)
    fig.set_layout_engine("tight")
    return fig


def _selection_caption(numbers: dict[str, Any]) -> str:
    names = numbers["candidates"]
    fold, train, test = numbers["fold_val_loss"], numbers["train_loss"], numbers["test_loss"]
    choice, best = numbers["choice"], numbers["test_best"]
    # Each kind of loss in as many decimals (from 3) as keep the candidates apart: the text
    # compares them (the choice is the lowest fold loss).
    trains, folds, tests = (
        dict(zip(names, side_by_side([losses[n] for n in names], decimals=3), strict=True))
        for losses in (train, fold, test)
    )
    spreads = {
        n: f"{spread:.3f}" if math.isfinite(spread) else "n/a"
        for n, spread in numbers["fold_val_loss_std"].items()
    }
    listing = "; ".join(
        f"{n}: training {trains[n]}, folds {folds[n]} ± {spreads[n]}, test {tests[n]}"
        for n in names
    )
    # cross_validate names the first candidate where no fold loss is finite: no choice.
    chose = math.isfinite(fold[choice])
    selection = (
        f"chooses {choice} on the training points alone"
        if chose
        else "makes no choice: every candidate diverged in a fold (no finite mean validation loss)"
    )
    text = (
        f"Three candidates on {numbers['points']} spiral points (noise {numbers['noise']}), each "
        f"trained {numbers['steps']} Adam steps at η = {numbers['learning_rate']:g}. "
        f"{numbers['folds']}-fold cross-validation {selection}. Trained on all of them and "
        f"tested on {numbers['test_points']:,} fresh points (loss per candidate: {listing}). "
    )
    if not chose or best is None:
        if best is not None:
            text += f"{best} has the lowest test loss ({tests[best]}). "
    elif choice == best:
        text += (
            f"The fresh test agrees: {best} has the lowest test loss too, although the folds "
            "never saw a test point. "
        )
    else:
        text += (
            f"The fresh test disagrees: {best} has the lowest test loss ({tests[best]} "
            f"against {tests[choice]} for the choice). "
        )
    flexible = names[-1]
    lowest_train = all(train[flexible] < train[n] for n in names[:-1])
    if lowest_train and best is not None and test[flexible] > test[best]:
        text += (
            f"The most flexible, {flexible}, has the lowest training loss and a higher test "
            f"loss than {best}: choosing by the training loss would pick the overfitting model."
        )
    return text.rstrip()


SECTION = Section(
    id=_ID,
    title="1. Task strategy",
    summary=(
        "Look at the training loss first. Large: model bias (no θ in the model fits: make it "
        "more flexible) or an optimization issue (a simpler model trains better, so gradient "
        "descent missed a good θ). Small, but the validation loss is large: overfitting (more "
        "data, augmentation, constraints) or mismatch (the validation data come from another "
        "distribution). Losses are judged against the baseline B of a constant prediction. "
        "For one run, explain_run names the cause (§2–§6) with its numbers."
    ),
    experiments=(
        model_bias,
        deep_vs_shallow,
        what_went_wrong,
        overfitting_and_mismatch,
        augmentation,
        model_selection,
    ),
)
"""§1 of the lecture: its summary and its claims, in the order the tour, the examples and
the notebooks show them (``SECTION.claims(config, seed=...)``)."""
