"""The result of :func:`jaxtrain.diagnose.explain_run`: ranked causes, evidence, pictures."""

from __future__ import annotations

import dataclasses
import json
import math
import pathlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from jaxtrain._json import to_jsonable
from jaxtrain._output_dir import OutputDir
from jaxtrain._text import counted
from jaxtrain.diagnose._causes import Cause, top_cause
from jaxtrain.diagnose._evidence import RunEvidence, smooth_losses
from jaxtrain.diagnose._thresholds import CauseThresholds

__all__ = ["COMMAND", "RunExplanation"]

# Who wrote the files of RunExplanation.save, in the folder's manifest (as for Diagnosis).
COMMAND = "jaxtrain explain"


def _evidence_value(value: float) -> str:
    """An evidence table's value: a whole number in full (a batch of 1024 is not "1.02e+03"
    beside a sentence that says 1024), anything else in three significant digits."""
    value = float(value)
    if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
        return f"{int(value)}"
    return _g(value)


def _g(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    value = float(value)
    if math.isnan(value):
        return "–"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    return f"{value:.{digits}g}"


@dataclasses.dataclass(frozen=True)
class RunExplanation:
    """Why one training run failed, as the lecture's causes ranked by their evidence.

    Built by :func:`~jaxtrain.diagnose.explain_run`. Every cause of
    :data:`~jaxtrain.diagnose.CAUSES` is scored (:func:`~jaxtrain.diagnose.rank_causes`);
    those at or above ``thresholds.report_score`` are *reported*. A healthy run has none.
    Render it with :meth:`to_markdown` or :meth:`to_json`, draw it with :meth:`plot`, or
    write all of it with :meth:`save`.

    Attributes:
      causes: every cause, best first.
      evidence: the :class:`~jaxtrain.diagnose.RunEvidence` behind them.
      history: the run's :class:`~jaxtrain.train.History` (with the monitors' curves).
      probe_history: the lower-η re-run's history, or ``None`` if none was needed.
      thresholds: the :class:`~jaxtrain.diagnose.CauseThresholds` used.
      settings: what was run (steps, batch size, seed, monitors...); a ``"run"`` entry, a
        line of text naming the run, opens the Markdown's section on the run.
      seconds: wall time of the whole explanation.

    Examples:
      >>> from jaxtrain.diagnose import Cause, RunEvidence, RunExplanation
      >>> c = Cause("saddle_point", "§2", 0.9, {"lambda_min": -0.5}, "Stuck.", "Use momentum.")
      >>> r = RunExplanation((c,), RunEvidence(loss_ratio=1.0))
      >>> r.top.name, r.healthy, r.to_markdown().splitlines()[0]
      ('saddle_point', False, '# Run explanation: saddle_point')
    """

    causes: tuple[Cause, ...]
    evidence: RunEvidence
    history: Any = None
    probe_history: Any = None
    thresholds: CauseThresholds = dataclasses.field(default_factory=CauseThresholds)
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)
    seconds: float = 0.0

    @property
    def reported(self) -> tuple[Cause, ...]:
        """The causes whose score reaches ``thresholds.report_score``, best first."""
        return tuple(c for c in self.causes if c.score >= self.thresholds.report_score)

    @property
    def top(self) -> Cause | None:
        """The best-supported reported cause, or ``None`` for a healthy run; for a failed
        run a cause of the failure only (a batch far above the noise scale wastes compute
        but stops no training: reported, but not the headline of a failed run)."""
        return top_cause(self.causes, self.thresholds.report_score, failed=self.failed)

    @property
    def failed(self) -> bool:
        """Whether the run diverged or ended at or above ``thresholds.failed_loss`` × B."""
        e = self.evidence
        return e.diverged or e.loss_ratio >= self.thresholds.failed_loss

    @property
    def healthy(self) -> bool:
        """Whether the run trained and no cause reached the report score.

        A failed run (:attr:`failed`) whose evidence singles out no cause is not healthy.
        """
        return not self.reported and not self.failed

    def cause(self, name: str) -> Cause:
        """The scored cause called ``name`` (reported or not)."""
        for cause in self.causes:
            if cause.name == name:
                return cause
        raise KeyError(f"no cause {name!r}; have {[c.name for c in self.causes]}")

    @property
    def _title(self) -> str:
        top = self.top
        if top is not None:
            return top.name
        return "healthy" if self.healthy else "no cause found"

    @property
    def headline(self) -> str:
        """One sentence: the top cause, or that none reached the threshold."""
        e, top, bar = self.evidence, self.top, self.thresholds.report_score
        if top is not None:
            return f"{top.title} ({top.section}; score {top.score_text(bar)})."
        state = (
            "diverged"
            if e.diverged
            else f"reached a training loss of {_g(e.loss_ratio)} × the baseline"
        )
        if self.failed:
            besides = (
                " of failure (a batch far above the noise scale, reported below, wastes "
                "compute but stops no training)"
                if self.reported
                else ""
            )
            return (
                f"The run {state}, but no cause{besides} reached the report score "
                f"{self.thresholds.report_score:g}: the evidence below does not single one out."
            )
        return (
            f"Healthy: the run {state} and no cause reached the report score "
            f"{self.thresholds.report_score:g}."
        )

    def to_dict(self) -> dict[str, Any]:
        """Everything as JSON-ready values (NaN as ``None``, ±inf as ``"Infinity"`` and
        ``"-Infinity"``); per-step curves included."""
        curves: dict[str, Any] = {}
        if self.history is not None:
            per_step = self.history.per_step
            for name in ("loss", "grad_norm", "sharpness", "stability_threshold", "noise_scale"):
                if name in per_step:
                    curves[name] = np.asarray(per_step[name], dtype=np.float64)
        if self.probe_history is not None:
            curves["probe_loss"] = np.asarray(self.probe_history.per_step["loss"], np.float64)
        return to_jsonable(
            {
                "headline": self.headline,
                "healthy": self.healthy,
                "top": None if self.top is None else self.top.name,
                "causes": [c.to_dict() for c in self.causes],
                "reported": [c.name for c in self.reported],
                "evidence": self.evidence.to_dict(),
                "curves": curves,
                "thresholds": self.thresholds.to_dict(),
                "settings": self.settings,
                "seconds": round(float(self.seconds), 3),
            },
            fallback=str,
        )

    def to_json(self, indent: int | None = 2) -> str:
        """:meth:`to_dict` as a strict JSON string."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False, ensure_ascii=False)

    def to_markdown(self, *, images: Sequence[str] = ()) -> str:
        """A readable report: the top cause, every reported one with its numbers, the rest.

        Args:
          images: relative paths of PNGs to embed (as written by :meth:`save`).

        Returns:
          The report as Markdown text.
        """
        e, bar = self.evidence, self.thresholds.report_score
        lines = [
            f"# Run explanation: {self._title}",
            "",
            f"**{self.headline}**",
            "",
        ]
        if self.reported:
            lines += ["## Causes", ""]
            for i, cause in enumerate(self.reported, 1):
                lines += [
                    f"### {i}. {cause.name} ({cause.section}), score {cause.score_text(bar)}",
                    "",
                    cause.explanation,
                    "",
                    f"*Remedy:* {cause.remedy}",
                    "",
                    "| evidence | value |",
                    "|---|---:|",
                ]
                lines += [f"| {k} | {_evidence_value(v)} |" for k, v in cause.evidence.items()]
                lines.append("")
        else:
            lines += [
                "No cause reached the report score "
                f"{self.thresholds.report_score:g} (every condition of a rule at its threshold).",
                "",
            ]
        others = [c for c in self.causes if c not in self.reported]
        if others:
            lines += [
                "## Causes not supported",
                "",
                "| cause | section | score |",
                "|---|---|---:|",
            ]
            lines += [f"| {c.name} | {c.section} | {c.score_text(bar)} |" for c in others]
            lines.append("")
        lines += ["## The run", ""]
        if isinstance(self.settings.get("run"), str):
            lines.append(f"- run: {self.settings['run']}")
        lines += [
            f"- {counted(e.steps, 'step')} of batch {e.batch_size} on "
            f"{counted(e.num_examples, 'example')}, {counted(e.n_params, 'parameter')} "
            f"({e.task}); baseline B = {_g(e.baseline, 4)}",
            f"- final training loss {_g(e.final_loss, 4)} = {_g(e.loss_ratio)} × B"
            + (f"; diverged at step {_g(e.diverged_at, 6)}" if e.diverged else ""),
            f"- gradient norm {_g(e.grad_norm_start)} → {_g(e.grad_norm_end)}",
            f"- sharpness / stability threshold ({e.threshold_rule or 'not measured'}): median "
            f"{_g(e.sharpness_ratio)}, max {_g(e.sharpness_ratio_max)}",
            f"- gradient noise scale B_simple {_g(e.noise_scale)} (batch / B_simple "
            f"{_g(e.batch_to_noise)})",
        ]
        for image in images:
            lines += ["", f"![{pathlib.Path(image).stem}]({image})"]
        lines += ["", f"Took {self.seconds:.1f} s.", ""]
        return "\n".join(lines)

    def plot(self, fig: Any = None) -> Any:
        """Three panels: the loss (and the lower-η probe's), ‖g‖, and λmax with its threshold.

        Args:
          fig: a matplotlib ``Figure`` to draw on (default: a new one).

        Returns:
          The ``Figure``.
        """
        import matplotlib.pyplot as plt

        if fig is None:
            fig = plt.figure(figsize=(12, 3.6))
        axes = fig.subplots(1, 3)
        per_step = self.history.per_step if self.history is not None else {}
        loss = np.asarray(per_step.get("loss", []), dtype=np.float64)
        steps = np.arange(loss.size)
        ax = axes[0]
        if loss.size:
            ax.plot(steps, loss, lw=0.6, alpha=0.5, label="run (step loss)")
            smooth = smooth_losses(loss[np.isfinite(loss)]) if np.isfinite(loss).any() else []
            if len(smooth):
                offset = (loss.size - len(smooth)) // 2
                ax.plot(np.arange(len(smooth)) + offset, smooth, lw=1.5, label="run (smoothed)")
        if self.probe_history is not None:
            probe = np.asarray(self.probe_history.per_step["loss"], dtype=np.float64)
            factor = self.evidence.probe_factor
            ax.plot(np.arange(probe.size), probe, "--", lw=1, label=f"re-run at {factor:g}·η")
        if self.evidence.diverged and math.isfinite(self.evidence.diverged_at):
            ax.axvline(self.evidence.diverged_at, color="red", ls=":", label="diverged")
        ax.axhline(self.evidence.baseline, color="gray", ls=":", lw=1, label="baseline B")
        ax.set(xlabel="step", ylabel="training loss", title="loss", yscale="log")
        ax.legend(fontsize=7)
        ax = axes[1]
        grads = np.asarray(per_step.get("grad_norm", []), dtype=np.float64)
        if grads.size:
            ax.plot(np.arange(grads.size), grads, lw=0.8)
        ax.set(xlabel="step", ylabel="‖g‖ (batch)", title="gradient norm", yscale="log")
        ax = axes[2]
        sharp = np.asarray(per_step.get("sharpness", []), dtype=np.float64)
        limit = np.asarray(per_step.get("stability_threshold", []), dtype=np.float64)
        measured = np.flatnonzero(np.isfinite(sharp)) if sharp.size else np.array([], int)
        if measured.size:
            label = "λmax (preconditioned)" if self.evidence.preconditioned else "λmax"
            ax.plot(measured, np.abs(sharp[measured]), "o-", ms=3, label=label)
            ax.plot(measured, limit[measured], "k--", lw=1, label=self.evidence.threshold_rule)
            ax.set_yscale("log")
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "not measured", ha="center", va="center", transform=ax.transAxes)
        ax.set(xlabel="step", ylabel="sharpness", title="sharpness vs stability threshold")
        top, bar = self.top, self.thresholds.report_score
        fig.suptitle(
            f"top cause: {top.name} (score {top.score_text(bar)})" if top else "no cause reported",
            fontsize=10,
        )
        fig.tight_layout()
        return fig

    def save(self, out_dir: str | pathlib.Path, *, overwrite: bool = False) -> list[pathlib.Path]:
        """Writes explanation.json, explanation.md and explanation.png into ``out_dir``.

        Each file is written atomically, a link at its name is replaced (never written
        through), and the folder's manifest records the files as ``jaxtrain explain``'s (see
        :class:`jaxtrain._output_dir.OutputDir`).

        Args:
          out_dir: the output folder (created if missing).
          overwrite: replace files of these names that are not an earlier output of this
            command (the user's own; ``--overwrite``); without it they are refused.

        Returns:
          The written paths.
        """
        import matplotlib.pyplot as plt

        out = OutputDir(out_dir, COMMAND, overwrite=overwrite)
        fig = self.plot()
        png = out.write_figure("explanation.png", fig, dpi=110, bbox_inches="tight")
        plt.close(fig)
        json_path = out.write_text("explanation.json", self.to_json() + "\n")
        md_path = out.write_text("explanation.md", self.to_markdown(images=[png.name]))
        return [json_path, md_path, png]
