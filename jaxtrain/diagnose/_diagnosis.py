"""The result of :func:`jaxtrain.diagnose.diagnose`: verdict, evidence, remedies, pictures."""

from __future__ import annotations

import dataclasses
import json
import math
import pathlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from jaxtrain._json import to_jsonable
from jaxtrain._output_dir import OutputDir
from jaxtrain._text import beside, counted
from jaxtrain.diagnose._candidates import distinct_names
from jaxtrain.diagnose._causes import Cause, top_cause
from jaxtrain.diagnose._results import CandidateResult
from jaxtrain.diagnose._stall import StallReport
from jaxtrain.diagnose._thresholds import CauseThresholds, Thresholds

__all__ = ["COMMAND", "HEADLINES", "Diagnosis"]

# Who wrote the files of Diagnosis.save, in the folder's manifest: `jaxtrain diagnose`, which
# may then rerun into a folder a script saved into (and the other way round).
COMMAND = "jaxtrain diagnose"

# One sentence per verdict, true on every branch of the flowchart that reaches it (the
# reasons give the branch and its numbers).
HEADLINES: Mapping[str, str] = {
    "model_bias": (
        "Model bias: the training loss stays large and no simpler model trains lower, so the "
        "first suspect is a model too simple for the data."
    ),
    "optimization": (
        "Optimization issue: the training loss is large although the model can do better (a "
        "simpler model trains lower, or the run diverged): the optimizer does not find good "
        "parameters."
    ),
    "overfitting": (
        "Overfitting: the training loss is small, but data the model was not trained on get a "
        "much larger loss."
    ),
    "mismatch": (
        "Mismatch: the model generalizes within its training distribution, but the "
        "validation/test data come from a different one."
    ),
    "ok": "OK: the training loss is small and the model generalizes to the validation data.",
}
"""The report's first sentence for each verdict of :data:`VERDICTS`: one sentence, true on
every branch of the flowchart that reaches that verdict (the reasons give the branch)."""


def _cell(value: float, baseline: float, threshold: float | None = None) -> str:
    """A mean loss and its ratio to B, the ratio with the digits that place it against the
    ``threshold`` it was compared with; "–" for a mean that is not finite."""
    if not math.isfinite(value):
        return "–"
    relative = value / baseline
    shown = f"{relative:.3g}" if threshold is None else beside(relative, threshold)
    return f"{value:.4g} ({shown}×B)"


def _diverged_note(candidate: Any) -> str | None:
    """Which of a candidate's seeds diverged, for the "–" its means show; ``None`` if none."""
    losses = np.asarray(candidate.train_loss, dtype=np.float64)
    bad = int(np.sum(~np.isfinite(losses)))
    if not bad:
        return None
    where = "in every seed" if bad == losses.size else f"in {bad} of {counted(losses.size, 'seed')}"
    return (
        f"{candidate.name} diverged {where} (a non-finite loss), so its means are not finite (–)."
    )


def stall_reading(
    stall: StallReport, train_relative: float, seeds: int, large_train_loss: float, baseline: float
) -> str:
    """Which loss the stall section reads and which the verdict reads, and whether the two
    disagree on "large".

    The verdict reads the full-batch, evaluation-mode training loss, mean over seeds
    (``train_relative``, × B); the stall analysis one seed's smoothed mini-batch loss, in
    training mode, as the optimizer saw it. Dropout and BatchNorm's batch statistics make
    the two differ, and so does a seed unlike the others: then "converged as it should"
    could stand beside "model bias" (or an oscillating η beside "ok") without a word.
    """
    which = "the run's" if stall.seed is None or seeds == 1 else f"seed {stall.seed}'s"
    text = f"This section reads {which} smoothed mini-batch training loss (training mode)"
    if stall.loss_end is None:  # diverged: no level to compare
        return text + "; the verdict reads the full-batch, evaluation-mode loss."
    stall_relative = stall.loss_end / baseline
    verdict = (
        f"{beside(train_relative, large_train_loss)} × B"
        if math.isfinite(train_relative)
        else "not finite (a seed diverged)"
    )
    text += (
        f", which ended at {beside(stall_relative, large_train_loss)} × B; the verdict reads "
        f"the full-batch, evaluation-mode loss, mean over {counted(seeds, 'seed')}: {verdict}."
    )
    stall_large = not stall_relative <= large_train_loss
    train_large = not train_relative <= large_train_loss
    if stall_large != train_large:
        text += (
            f" The two disagree on whether the training loss is large (above "
            f"{large_train_loss:g} × B): dropout or BatchNorm behave differently in training "
            "mode, or this seed is unlike the others. The verdict stands on the "
            "evaluation-mode mean; read this section as one run's curve."
        )
    return text


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "candidate"


def curve_file_names(names: Sequence[str]) -> list[str]:
    """One ``curves_<name>.png`` per candidate, its name cleaned for a file system, and two
    names that clean to the same file (``"net 1"``, ``"net_1"``; ``"Net"``, ``"net"`` where case
    is not told apart) made distinct with ``-2``, ``-3``, …: one picture never replaces another."""
    cleaned = [_safe_name(name) for name in names]
    distinct = distinct_names(cleaned, suffixed=lambda name, k: f"{name}-{k}", fold=str.casefold)
    return [f"curves_{name}.png" for name in distinct]


@dataclasses.dataclass(frozen=True)
class Diagnosis:
    """What :func:`~jaxtrain.diagnose.diagnose` found: a verdict and everything behind it.

    Every number the flowchart compared is kept, so a reader can check the verdict and a
    program can re-decide it (:func:`~jaxtrain.diagnose.decide` with other thresholds).
    Render it with :meth:`to_markdown` or :meth:`to_json`, draw the training curves with
    :meth:`plot_curves`, or write all of it to a folder with :meth:`save`.

    Attributes:
      verdict: ``"model_bias"``, ``"optimization"``, ``"overfitting"``, ``"mismatch"`` or
        ``"ok"``.
      reasons: the flowchart's questions and answers, in words with numbers.
      remedies: what to do, most specific first.
      candidates: the measured :class:`~jaxtrain.diagnose.CandidateResult` s, in order of
        increasing capacity.
      primary: the name of the user's model among them.
      baseline: B, the loss of the best constant prediction (the unit of "large").
      task: ``"classification"`` or ``"regression"``.
      numbers: the compared quantities (relative losses, gaps, paired differences).
      stall: where the primary's training stalled and what the gradient and the Hessian said
        there (a :class:`~jaxtrain.diagnose.StallReport`, ``None`` if not analyzed): the raw
        measurements of the first seed's run, on its smoothed mini-batch loss; the verdict
        reads the full-batch evaluation-mode loss, mean over seeds (:func:`stall_reading` says
        so in the report and in ``to_dict()["stall_reading"]``, and flags a disagreement).
      causes: the lecture's causes (§2–§6) of that run, every one scored and ranked, in the
        vocabulary of :func:`~jaxtrain.diagnose.explain_run` (:data:`~jaxtrain.diagnose.CAUSES`);
        those at or above ``cause_thresholds.report_score`` are reported (:attr:`top_cause`).
      cause_thresholds: the :class:`~jaxtrain.diagnose.CauseThresholds` of the causes.
      thresholds: the :class:`~jaxtrain.diagnose.Thresholds` used.
      budget: the training budget used, as a dict.
      seconds: wall time of the whole diagnosis.

    Examples:
      >>> from jaxtrain.diagnose import CandidateResult, Diagnosis
      >>> r = CandidateResult("mlp", 10, [0.01], [0.02], [0.9], curves=[[1.0, 0.1, 0.01]])
      >>> d = Diagnosis("mismatch", ("val much worse",), ("collect target data",), (r,),
      ...               "mlp", 1.0, "classification")
      >>> d.to_dict()["verdict"], d.to_markdown().splitlines()[0]
      ('mismatch', '# Diagnosis: mismatch')
    """

    verdict: str
    reasons: tuple[str, ...]
    remedies: tuple[str, ...]
    candidates: tuple[CandidateResult, ...]
    primary: str
    baseline: float
    task: str
    numbers: dict[str, Any] = dataclasses.field(default_factory=dict)
    stall: StallReport | None = None
    thresholds: Thresholds = dataclasses.field(default_factory=Thresholds)
    budget: dict[str, Any] = dataclasses.field(default_factory=dict)
    seconds: float = 0.0
    causes: tuple[Cause, ...] = ()
    cause_thresholds: CauseThresholds = dataclasses.field(default_factory=CauseThresholds)

    @property
    def reported_causes(self) -> tuple[Cause, ...]:
        """The causes whose score reaches ``cause_thresholds.report_score``, best first."""
        limit = self.cause_thresholds.report_score
        return tuple(c for c in self.causes if c.score >= limit)

    @property
    def top_cause(self) -> Cause | None:
        """The best-supported reported cause of the primary's run, or ``None``; where the
        training loss is large (model bias, optimization), a cause of that failure only (a
        batch far above the noise scale wastes compute but stops no training)."""
        failed = self.verdict in ("optimization", "model_bias")
        return top_cause(self.causes, self.cause_thresholds.report_score, failed=failed)

    @property
    def headline(self) -> str:
        """One sentence naming the verdict and what it means."""
        return HEADLINES.get(self.verdict, self.verdict)

    def candidate(self, name: str) -> CandidateResult:
        """The measurements of the candidate called ``name``."""
        for result in self.candidates:
            if result.name == name:
                return result
        raise KeyError(f"no candidate {name!r}; have {[c.name for c in self.candidates]}")

    def to_dict(self) -> dict[str, Any]:
        """Everything as JSON-ready Python values: NaN (not measured) as ``None``, ±inf (a
        measured loss that overflowed) as ``"Infinity"``/``"-Infinity"``
        (:func:`~jaxtrain._json.to_jsonable`)."""
        return to_jsonable(
            {
                "verdict": self.verdict,
                "headline": self.headline,
                "reasons": list(self.reasons),
                "remedies": list(self.remedies),
                "task": self.task,
                "baseline": self.baseline,
                "primary": self.primary,
                "candidates": [c.to_dict() for c in self.candidates],
                "numbers": self.numbers,
                "stall": None if self.stall is None else self.stall.to_dict(),
                "stall_reading": self._stall_reading(),
                "causes": [c.to_dict() for c in self.causes],
                "top_cause": None if self.top_cause is None else self.top_cause.name,
                "thresholds": self.thresholds.to_dict(),
                "cause_thresholds": self.cause_thresholds.to_dict(),
                "budget": self.budget,
                "seconds": round(float(self.seconds), 3),
            },
            fallback=str,
        )

    def to_json(self, indent: int | None = 2) -> str:
        """:meth:`to_dict` as a JSON string (strict JSON: no NaN)."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False, ensure_ascii=False)

    def to_markdown(self, *, images: Sequence[str] = ()) -> str:
        """A readable report: verdict, reasons, the loss table, the stall, the remedies.

        Args:
          images: relative paths of PNGs to embed (as written by :meth:`save`).

        Returns:
          The report as Markdown text.
        """
        B = self.baseline
        base_what = (
            "cross-entropy of predicting the class prior"
            if self.task == "classification"
            else "loss of predicting the target mean"
        )
        seeds = len(self.candidates[0].train_loss) if self.candidates else 0
        lines = [f"# Diagnosis: {self.verdict}", "", f"**{self.headline}**", ""]
        top, run = self.top_cause, self._analyzed_run(seeds)
        bar = self.cause_thresholds.report_score
        if top is not None:
            lines += [
                f"Top cause in {run}: **{top.name}** ({top.section}, score "
                f"{top.score_text(bar)}). {top.explanation}",
                "",
            ]
        elif self.causes:
            lines += [f"No cause of §2–§6 reached the report score in {run}.", ""]
        lines += ["## Why", ""]
        lines += [f"{i}. {reason}" for i, reason in enumerate(self.reasons, 1)]
        has_test = any(c.test_loss for c in self.candidates)
        lines += [
            "",
            "## Losses",
            "",
            f"Baseline B = {B:.4g} ({base_what}). Means over {counted(seeds, 'seed')}; per-seed "
            "values are in diagnosis.json. The primary model is marked ★.",
            "",
            "| candidate | parameters | train | held-out (same distribution) | validation"
            + (" | test |" if has_test else " |"),
            "|---|---:|---:|---:|---:" + ("|---:|" if has_test else "|"),
        ]
        for c in self.candidates:
            star = " ★" if c.name == self.primary else ""
            row = (
                f"| {c.name}{star} | {c.n_params:,} | "
                f"{_cell(c.mean('train'), B, self.thresholds.large_train_loss)} | "
                f"{_cell(c.mean('heldout'), B)} | {_cell(c.mean('val'), B)} |"
            )
            if has_test:
                row += f" {_cell(c.mean('test'), B)} |"
            lines.append(row)
        notes = [note for note in map(_diverged_note, self.candidates) if note]
        if notes:
            lines += ["", *notes]
        lines += self._comparison_lines(seeds)
        gaps = self.numbers.get("gaps")
        if gaps:
            large = self.thresholds.large_gap
            parts = [
                f"{k} {beside(v, large)}"
                for k, v in gaps.items()
                if v is not None and k != "external"
            ]
            heading = f"Gaps (loss − training loss, × B; large above {large:g})"
            lines += ["", f"{heading}: {', '.join(parts)}."]
        if self.stall is not None:
            lines += ["", f"## {self._stall_heading(seeds)}", "", self.stall.summary]
            if self.stall.curvature is not None:
                lines += ["", self.stall.curvature.summary]
            reading = self._stall_reading()
            lines += ["", reading] if reading else []
        if len(self.reported_causes) > 1:
            lines += ["", f"## Other causes in {run}", ""]
            for cause in self.reported_causes[1:]:
                lines += [
                    f"- **{cause.name}** ({cause.section}, score {cause.score_text(bar)}): "
                    f"{cause.explanation}"
                ]
        lines += ["", "## Remedies", ""]
        lines += [f"{i}. {remedy}" for i, remedy in enumerate(self.remedies, 1)]
        for image in images:
            lines += ["", f"![{pathlib.Path(image).stem}]({image})"]
        budget = ", ".join(f"{k}={v}" for k, v in self.budget.items())
        thresholds = ", ".join(f"{k}={v}" for k, v in self.thresholds.to_dict().items())
        lines += [
            "",
            "## Settings",
            "",
            f"- budget: {budget or 'n/a'}",
            f"- thresholds: {thresholds}",
            f"- took {self.seconds:.1f} s",
            "",
        ]
        return "\n".join(lines)

    def _comparison_lines(self, seeds: int) -> list[str]:
        """The report's table of the candidates compared with the primary, with notes where
        there is no standard error (one seed) or no Δ (the primary diverged)."""
        comparisons = self.numbers.get("comparisons") or []
        if not comparisons:
            return []
        t = self.thresholds
        lines = [
            "",
            "## Candidates compared with the primary (training loss)",
            "",
            "Δ = mean over seeds of (primary − candidate) / B; it counts when Δ > "
            f"{t.min_difference:g} and Δ > {t.noise_factor:g} standard errors (SE).",
        ]
        if seeds == 1:
            lines.append("With one seed there is no SE: only Δ > the minimum counts.")
        if any(cmp.get("difference") is None for cmp in comparisons):
            primary = next(c for c in self.candidates if c.name == self.primary)
            if not all(math.isfinite(loss) for loss in primary.train_loss):
                lines.append(
                    f"Δ is – where {self.primary} diverged (its loss is not finite): every "
                    "candidate that trained counts as better."
                )
            else:
                lines.append(
                    "Δ is – where the candidate diverged (its loss is not finite): it does "
                    "not count as better."
                )
        lines += ["", "| candidate | role | Δ | SE | trains better |", "|---|---|---:|---:|---|"]
        for cmp in comparisons:
            diff, se = cmp.get("difference"), cmp.get("standard_error")
            diff_text = "–" if diff is None else beside(diff, t.min_difference)
            if se is None or not math.isfinite(se):
                se_text = "–"
            elif diff is None or t.noise_factor == 0:
                se_text = f"{se:.2g}"
            else:  # with the digits that show the printed Δ against noise_factor · SE
                se_text = beside(se, float(diff_text) / t.noise_factor, 2)
            better = "yes" if cmp["better"] else "no"
            lines.append(
                f"| {cmp['candidate']} | {cmp['role'].replace('_', ' ')} | {diff_text} | "
                f"{se_text} | {better} |"
            )
        return lines

    def _stall_reading(self) -> str | None:
        """:func:`stall_reading` for the primary (``None`` without a stall or candidates)."""
        primary = [c for c in self.candidates if c.name == self.primary]
        if self.stall is None or not primary:
            return None
        return stall_reading(
            self.stall,
            primary[0].mean("train") / self.baseline,
            len(primary[0].train_loss),
            self.thresholds.large_train_loss,
            self.baseline,
        )

    def _analyzed_seed(self, seeds: int) -> int | None:
        """The seed the stall and the causes were read from; ``None`` where there is only one
        run to read (one seed, or no stall analysis saying which)."""
        if seeds == 1 or self.stall is None:
            return None
        return self.stall.seed

    def _analyzed_run(self, seeds: int) -> str:
        """The run the stall and the causes were read from: "the run" for one seed, else the
        primary's run of the analyzed seed."""
        seed = self._analyzed_seed(seeds)
        if seed is None:
            return f"the run ({self.primary})" if self.stall is not None else "the run"
        return f"the run of {self.primary}, seed {seed}"

    def _stall_heading(self, seeds: int) -> str:
        """The stall section's heading: what the analyzed run did, and which run it was."""
        stall, seed = self.stall, self._analyzed_seed(seeds)
        if stall.diverged:
            what = "Where training diverged"
        elif stall.stalled:
            what = "Where training stalled"
        else:
            what = "The training curve"
        which = self.primary if seed is None else f"{self.primary}, seed {seed}"
        return f"{what} ({which})"

    def plot_curves(self, ax: Any = None) -> Any:
        """Every loss the verdict reads, / B, against the step: the figure of the diagnosis.

        Per candidate (one colour each): the training loss of every step (median over seeds,
        their range shaded), the held-out loss after every epoch (median over seeds, dots) and
        the validation and test losses at the end (mean over seeds, as the verdict compares
        them: a square and a triangle). A vertical line marks the step the stall text names.

        Args:
          ax: a matplotlib ``Axes`` to draw on (default: a new figure).

        Returns:
          The ``Axes``.
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4.2))
        drawn = [c for c in self.candidates if c.curves]
        ends: dict[str, tuple[int, str]] = {}
        # Training lines first, so that they are the first lines of the Axes, in order.
        for c in drawn:
            length = min(len(curve) for curve in c.curves)
            stack = np.stack([curve[:length] for curve in c.curves]) / self.baseline
            steps = np.arange(1, length + 1)
            style = "-" if c.name == self.primary else "--"
            label = f"{c.name} ({counted(c.n_params, 'param')})" + (
                " ★" if c.name == self.primary else ""
            )
            (line,) = ax.plot(steps, np.median(stack, axis=0), style, label=label, lw=1.5)
            ax.fill_between(
                steps, stack.min(axis=0), stack.max(axis=0), color=line.get_color(), alpha=0.2
            )
            ends[c.name] = (length, line.get_color())
        shown = set()
        for c in drawn:
            length, color = ends[c.name]
            held = [h for h in c.heldout_curves if len(h)]
            if held:
                epochs = min(len(h) for h in held)
                at = np.linspace(length / epochs, length, epochs)
                median = np.median(np.stack([h[:epochs] for h in held]), axis=0)
                # A leading "_" keeps a mark out of the legend: the grey entries explain them.
                label = f"_{c.name} held-out"
                ax.plot(at, median / self.baseline, "o:", ms=3, lw=1, color=color, label=label)
                shown.add("held-out")
            for split, marker in (("validation", "s"), ("test", "^")):
                value = c.mean("val" if split == "validation" else split)
                if math.isfinite(value):
                    y = value / self.baseline
                    label = f"_{c.name} {split}"
                    ax.plot([length], [y], marker, ms=7, color=color, mec="black", label=label)
                    shown.add(split)
        # One legend entry per kind of mark, in grey: the colours are the candidates'.
        for kind, style, text in (
            ("held-out", "o:", "held-out (same distribution), per epoch"),
            ("validation", "s", "validation, at the end"),
            ("test", "^", "test, at the end"),
        ):
            if kind in shown:
                ax.plot([], [], style, color="gray", ms=5, label=text)
        ax.axhline(
            self.thresholds.large_train_loss, color="gray", ls=":", lw=1, label="'large' threshold"
        )
        if self.stall is not None and self.stall.stall_step is not None:
            step = self.stall.stall_step
            ax.axvline(step + 1, color="black", ls="-.", lw=0.8, label=f"stall check: step {step}")
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel("loss / baseline")
        ax.set_title(f"Losses — verdict: {self.verdict}")
        ax.legend(fontsize=7)
        return ax

    def plot_candidate(self, name: str, ax: Any = None) -> Any:
        """One candidate's training loss per step for every seed, and its held-out loss per epoch.

        Args:
          name: the candidate's name.
          ax: a matplotlib ``Axes`` (default: a new figure).

        Returns:
          The ``Axes``.
        """
        import matplotlib.pyplot as plt

        c = self.candidate(name)
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3.8))
        for i, curve in enumerate(c.curves):
            seed = c.seeds[i] if i < len(c.seeds) else i
            steps = np.arange(1, len(curve) + 1)
            (line,) = ax.plot(steps, curve / self.baseline, lw=1, label=f"train, seed {seed}")
            if i < len(c.heldout_curves) and len(c.heldout_curves[i]):
                held = c.heldout_curves[i]
                at = np.linspace(len(curve) / len(held), len(curve), len(held))
                ax.plot(at, held / self.baseline, "o--", ms=3, color=line.get_color(), lw=1)
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel("loss / baseline")
        ax.set_title(f"{c.name}: training (lines) and held-out (dots) loss")
        ax.legend(fontsize=7)
        return ax

    def save(self, out_dir: str | pathlib.Path, *, overwrite: bool = False) -> list[pathlib.Path]:
        """Writes diagnosis.json, diagnosis.md and the training-curve PNGs into ``out_dir``.

        The PNGs are ``training_curves.png`` (all candidates) and ``curves_<name>.png`` (one
        per candidate with curves); the folder is created if missing. Each file is written
        atomically, a link at its name is replaced (never written through), and the folder's
        manifest records the files as ``jaxtrain diagnose``'s (see
        :class:`jaxtrain._output_dir.OutputDir`). The files of an earlier save into the folder
        that this one does not write again (the curves of other candidates) are deleted; no
        other file is.

        Args:
          out_dir: the output folder.
          overwrite: replace files of these names that are not an earlier output of this
            command (the user's own; ``--overwrite``); without it they are refused.

        Returns:
          The written paths.
        """
        import matplotlib.pyplot as plt

        out = OutputDir(out_dir, COMMAND, overwrite=overwrite)
        written: list[pathlib.Path] = []
        images: list[str] = []
        if any(c.curves for c in self.candidates):
            ax = self.plot_curves()
            path = out.write_figure("training_curves.png", ax.figure, dpi=110, bbox_inches="tight")
            plt.close(ax.figure)
            written.append(path)
            images.append(path.name)
            file_names = curve_file_names([c.name for c in self.candidates])
            for c, name in zip(self.candidates, file_names, strict=True):
                if not c.curves:
                    continue
                ax = self.plot_candidate(c.name)
                path = out.write_figure(name, ax.figure, dpi=110, bbox_inches="tight")
                plt.close(ax.figure)
                written.append(path)
                images.append(path.name)
        json_path = out.write_text("diagnosis.json", self.to_json() + "\n")
        md_path = out.write_text("diagnosis.md", self.to_markdown(images=images))
        # A save into an earlier one's folder: its curves of candidates not trained now
        # would pass for this diagnosis's.
        out.remove_stale()
        return [json_path, md_path, *written]
