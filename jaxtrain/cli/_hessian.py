"""``jaxtrain hessian CHECKPOINT``: what kind of point did training stop at? (lecture §2)"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
from collections.abc import Callable
from typing import Any

import numpy as np

from jaxtrain._arg_types import checked_number, positive_float, positive_int
from jaxtrain._json import to_jsonable
from jaxtrain._output_dir import OutputDir, add_output_arguments, claim_output_dir
from jaxtrain._text import beside, counted, listed
from jaxtrain.cli._errors import CommandError, UsageError

__all__ = ["register", "run"]

COMMAND = "jaxtrain hessian"  # who wrote hessian.json and spectrum.png, in --out's manifest
BLOCKS = ("layer", "leaf")  # --blocks: the partitions of curvature.block_labels
# _with_error prints a mean to its error's decimal place only this many digits from the point.
_MAX_PLACES = 8
# --batches: refused by argparse (exit 2) as --batches 0 is, before the checkpoint is read.
_batch_count = checked_number(
    int,
    lambda v: v >= 2,
    "an integer >= 2 (a standard error needs two batches)",
    "An int ≥ 2: the batches of a mean ± standard error.",
)

_DESCRIPTION = """\
Critical-point report and Hessian spectrum of a model trained by `jaxtrain train`.

Rebuilds the model from the checkpoint's metadata (model spec, data reference, loss),
reloads the same data split (from --data where the data file has moved since training),
and at the trained parameters θ computes the loss, the gradient norm ‖g‖ and the
eigenvalues λ of the Hessian H = ∇²L(θ): all of them with the dense Hessian for small models
(up to --dense-max-params), the extremes by Lanczos plus a spectral density by stochastic
Lanczos quadrature above. ‖g‖ ≈ 0 with every λ > 0 is a local minimum; a
negative λ makes a saddle point, and its eigenvector is a way down (L(θ + t·u) ≈ L(θ) + ½λt²).

--blocks adds each layer's own spectrum (λmin and the top eigenvalues of its diagonal block
H_bb, the curvature when only that layer moves); --batches B splits the examples into B
batches and prints each top eigenvalue as mean ± standard error across them, beside its value
on all of them: how far a spectrum measured on one batch can be trusted. Both are exact from
dense Hessians up to --dense-max-params, by Lanczos above.
"""

_EPILOG = """\
examples:
  # a small MLP that learns the three spirals (validation accuracy above 0.95)
  jaxtrain train --data spirals --depth 2 --width 16 --learning-rate 0.01 --epochs 30 \\
      --checkpoint-dir run
  # not_critical: Adam's last step leaves ‖g‖ above --grad-tol, near a minimum but not at one;
  # the dense spectrum shows many zero and a few negative eigenvalues
  jaxtrain hessian run
  # each layer alone: its block H_bb has λmin ≈ 0 (ReLU makes the output piecewise linear in
  # one layer's weights), so the whole Hessian's negative curvature couples layers
  jaxtrain hessian run --blocks layer
  # error bars: on 8 batches of 120 examples the top eigenvalue λ1 is larger than on all 960
  # together, by more than its standard error (one batch overstates the curvature)
  jaxtrain hessian run --batches 8
  # the same on 200 validation examples, into hessian/hessian.json and hessian/spectrum.png
  jaxtrain hessian run --split val --max-examples 200 --out hessian --json
"""


def register(subparsers: Any) -> None:
    """Adds the ``hessian`` subcommand."""
    parser = subparsers.add_parser(
        "hessian",
        help="saddle point or minimum? critical-point report and spectrum of a checkpoint",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("checkpoint", metavar="CHECKPOINT", help="a --checkpoint-dir of train")
    parser.add_argument("--step", type=int, help="which saved step (default: the newest)")
    parser.add_argument(
        "--data",
        metavar="FILE.npz",
        help="the data file trained on, moved or copied since: read when its SHA-256 is the "
        "one recorded at training (default: the file at its path of training time)",
    )
    parser.add_argument(
        "--split",
        choices=("train", "val"),
        default="train",
        help="data of the loss L(θ) (default: %(default)s)",
    )
    parser.add_argument(
        "--max-examples",
        type=positive_int,
        default=1000,
        help="use the first N examples of the split (default: %(default)s)",
    )
    parser.add_argument(
        "--dense-max-params",
        type=positive_int,
        default=2000,
        help="largest model for the dense Hessian; Lanczos above (default: %(default)s)",
    )
    parser.add_argument(
        "--top",
        type=positive_int,
        default=5,
        help="Lanczos: eigenvalues at each end (default: %(default)s)",
    )
    parser.add_argument(
        "--lanczos-steps",
        type=positive_int,
        default=80,
        help="Lanczos steps per probe of the density (default: %(default)s)",
    )
    parser.add_argument(
        "--probes", type=positive_int, default=2, help="density probes (default: %(default)s)"
    )
    parser.add_argument(
        "--grad-tol",
        type=positive_float,
        default=1e-3,
        help="‖g‖ at most this is a critical point (default: %(default)s)",
    )
    parser.add_argument(
        "--blocks",
        choices=BLOCKS,
        help="also the spectrum of each block's Hessian H_bb: per layer, or per array (leaf) "
        "(default: none)",
    )
    parser.add_argument(
        "--batches",
        type=_batch_count,
        help="also the --top eigenvalues on B ≥ 2 equal batches: mean ± standard error "
        "(default: none)",
    )
    add_output_arguments(
        parser,
        default=None,
        help="write hessian.json and spectrum.png here (default: none, the report is printed)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(func=run)


def _restore(directory: str, step: int | None) -> tuple[Any, Any, dict[str, Any], Any]:
    """``(spec, ckpt, metadata, apply)``: the model rebuilt and the checkpoint loaded into it."""
    from flax import nnx

    from jaxtrain import nn, train
    from jaxtrain.diagnose import ModelSpec
    from jaxtrain.train._checkpoint import read_metadata

    path = pathlib.Path(directory)
    if path.exists() and not path.is_dir():
        raise CommandError(
            f"cannot read checkpoint {directory}: it is a file, not a checkpoint directory "
            "(give the --checkpoint-dir of `jaxtrain train`)"
        )
    if not path.is_dir():
        raise CommandError(f"cannot read checkpoint {directory}: no such directory")
    try:
        # The metadata alone first: it names the model the arrays are then loaded into.
        step, metadata = read_metadata(path, step=step)
    except (FileNotFoundError, ValueError) as error:
        raise CommandError(f"cannot read checkpoint {directory}: {error}") from None
    if "model" not in metadata or "data" not in metadata:
        raise CommandError(
            f"the checkpoint {directory} carries no model spec and data reference in its "
            "metadata; it was not written by `jaxtrain train`"
        )
    try:
        spec = ModelSpec.from_dict(metadata["model"])
    except (TypeError, ValueError) as error:
        raise CommandError(f"the checkpoint's model spec is invalid: {error}") from None
    # Only the shapes: the checkpoint's arrays replace every value, and initializing the
    # model for real dispatches its random draws one operation at a time (~0.3 s here).
    apply, params, state = nn.functional(nnx.eval_shape(lambda: spec.build(nnx.Rngs(0))))
    try:
        ckpt = train.load_checkpoint(path, (apply, params, state), step=step)
    except train.CheckpointCorruptError as error:  # a ValueError too: damage, not a mismatch
        raise CommandError(f"cannot read checkpoint {directory}: {error}") from None
    except ValueError as error:
        raise CommandError(f"the checkpoint does not fit its model spec: {error}") from None
    return spec, ckpt, metadata, apply


def _data_reference(recorded: dict[str, Any], data: str | None) -> dict[str, Any]:
    """The checkpoint's data reference, its file at ``data`` (``--data``) when given.

    The file is accepted by its SHA-256, as ``train --resume`` accepts a moved one: the path
    recorded at training is absolute, and gone once the data or the checkpoint moved.
    """
    from jaxtrain.cli._npz import file_digest

    if recorded.get("source") != "file":
        if data is not None:
            raise CommandError(
                f"--data {data}: the checkpoint was trained on the built-in set "
                f"{recorded.get('name')!r}, which has no file; leave --data out"
            )
        return recorded
    if data is None:
        if not pathlib.Path(recorded["path"]).exists():
            raise CommandError(
                f"the checkpoint's data file {recorded['path']} (recorded at training) is "
                "missing; if it moved, give its new path with --data FILE.npz (its SHA-256 is "
                "checked against the recorded one)"
            )
        return recorded
    path, name = pathlib.Path(data), f"--data {data}"
    if not path.exists():
        raise CommandError(f"cannot read {name}: no such file")
    if file_digest(path, name) != recorded.get("sha256"):
        raise CommandError(
            f"--data {data} is not the data file the checkpoint was trained on: its SHA-256 "
            f"differs from the one recorded at training for {recorded['path']}; give that "
            "file, moved or copied"
        )
    # Only the path changes: the recorded seed, split and standardization rebuild the data.
    return {**recorded, "path": str(path.resolve())}


# hessian_report's stages: the loss and gradient, then the dense Hessian or the Lanczos runs.
_REPORT_STAGES = 2


def hessian_report(
    loss_fn: Any,
    params: Any,
    *,
    dense_max_params: int,
    top: int,
    lanczos_steps: int,
    probes: int,
    grad_tol: float,
    seed: int = 0,
    stage: Callable[[str], None] | None = None,
    max_bytes: int | None = None,
) -> tuple[dict[str, Any], Any]:
    """``(report, spectrum)``: the critical-point numbers and what to plot (eigenvalues or a
    spectral density).

    ``num_positive``, ``num_negative`` and ``num_zero`` count among ``num_eigenvalues``
    eigenvalues: all n of the dense Hessian (also listed as ``eigenvalues``), or the 2k
    extremes Lanczos found (``extreme_eigenvalues``), as the text says.

    ``stage(text)`` is told as each part starts: the loss and gradient, then the dense
    Hessian, or the Lanczos extremes with the spectral density (``_REPORT_STAGES``).
    ``max_bytes`` bounds the dense Hessian and the Lanczos bases (default:
    ``curvature.DEFAULT_MAX_BYTES``); either over it is refused before it is computed.
    """
    from jaxtrain import curvature
    from jaxtrain._host_tree import host_flat
    from jaxtrain.curvature._operators import value_and_gradient

    stage = stage or (lambda text: None)
    n = _parameter_count(params)
    stage(f"the loss and its gradient at θ ({n:,} parameters)")
    loss_value, grads = value_and_gradient(loss_fn, params)
    grad_norm = float(np.linalg.norm(host_flat(grads, np.float64)))
    report: dict[str, Any] = {
        "n_params": n,
        "loss": float(loss_value),
        "grad_norm": grad_norm,
        "grad_tol": grad_tol,
    }
    if not (math.isfinite(report["loss"]) and math.isfinite(grad_norm)):
        raise CommandError(
            f"the loss or its gradient is not finite at these parameters (loss "
            f"{report['loss']}, gradient norm {grad_norm}): a diverged run has no critical "
            "point to classify; try an earlier --step"
        )
    if n <= dense_max_params:
        stage(f"the dense {n:,} × {n:,} Hessian and its eigenvalues")
        try:
            return _dense_report(loss_fn, params, report, max_bytes)
        except curvature.MemoryLimitError as error:
            raise _too_large(
                error, f"--dense-max-params {dense_max_params}", _LOWER_DENSE
            ) from None
    return _lanczos_report(
        loss_fn,
        params,
        report,
        top=top,
        lanczos_steps=lanczos_steps,
        probes=probes,
        seed=seed,
        stage=stage,
        max_bytes=max_bytes,
    )


_LOWER_DENSE = "lower --dense-max-params below the parameter count, so that Lanczos runs instead"


def _too_large(error: Any, settings: str, lower: str) -> CommandError:
    """A curvature routine's memory refusal in the command's terms: the options that led to
    it and the ones that lower it (the library's advice names its Python arguments)."""
    return CommandError(f"{settings}: {error.size_text}; {lower}")


def _dense_report(
    loss_fn: Any, params: Any, report: dict[str, Any], max_bytes: int | None
) -> tuple[dict[str, Any], Any]:
    """:func:`hessian_report` by the dense Hessian: every eigenvalue, the kind and the
    explanation of :func:`curvature.analyze_critical_point`."""
    from jaxtrain import curvature

    max_bytes = curvature.DEFAULT_MAX_BYTES if max_bytes is None else max_bytes
    cp = curvature.analyze_critical_point(
        loss_fn, params, grad_tol=report["grad_tol"], max_bytes=max_bytes
    )
    eigs = np.asarray(cp.eigenvalues, dtype=np.float64)
    report.update(
        method="dense",
        kind=cp.kind,
        num_eigenvalues=int(eigs.size),
        num_negative=cp.num_negative,
        num_positive=cp.num_positive,
        num_zero=cp.num_zero,
        eig_tol=cp.eig_tol,
        minimum_ratio=cp.minimum_ratio,
        lowest=float(eigs[0]),
        highest=float(eigs[-1]),
        eigenvalues=eigs.tolist(),
        escape_eigenvalue=cp.escape_eigenvalue,
        explanation=cp.explanation,
    )
    return report, eigs


def _lanczos_report(
    loss_fn: Any,
    params: Any,
    report: dict[str, Any],
    *,
    top: int,
    lanczos_steps: int,
    probes: int,
    seed: int,
    stage: Callable[[str], None],
    max_bytes: int | None,
) -> tuple[dict[str, Any], Any]:
    """:func:`hessian_report` by Lanczos: the ``top`` lowest and highest eigenvalues and the
    spectral density from shared runs (:func:`curvature.spectrum`); the kind from the
    extremes, the minimum ratio from the density."""
    import jax

    from jaxtrain import curvature

    n, grad_norm, grad_tol = report["n_params"], report["grad_norm"], report["grad_tol"]
    k = min(top, n // 2)
    steps = min(lanczos_steps, n)
    max_bytes = curvature.DEFAULT_MAX_BYTES if max_bytes is None else max_bytes
    runs = f"{counted(probes, 'probe')} × {counted(steps, 'step')}"
    ends = (
        "the lowest and the highest eigenvalue"
        if k == 1
        else f"the {k} lowest and {k} highest eigenvalues"
    )
    stage(
        f"Lanczos: {ends}, and the spectral density ({runs}, the first run also finding the "
        "extremes)"
    )
    try:
        extremes, density = curvature.spectrum(
            curvature.hvp(loss_fn, params),
            params,
            k=k,
            key=jax.random.key(seed),
            num_probes=probes,
            num_iters=steps,
            max_bytes=max_bytes,
        )
    except curvature.MemoryLimitError as error:
        settings = f"--top {top} ({k} at each end) and --lanczos-steps {lanczos_steps}"
        raise _too_large(error, settings, "lower --lanczos-steps or --top") from None
    eigs = np.sort(np.asarray(extremes.eigenvalues, dtype=np.float64))
    eig_tol = curvature.eigenvalue_tolerance(eigs, jax.numpy.result_type(*jax.tree.leaves(params)))
    negative, positive = int(np.sum(eigs < -eig_tol)), int(np.sum(eigs > eig_tol))
    zero = int(np.sum(np.abs(eigs) <= eig_tol))
    density_ratio = float(curvature.minimum_ratio_estimate(density, tol=eig_tol))
    # A density of few nodes per probe can place all of them above 0 while the extremes have
    # found negative eigenvalues: the ratio cannot leave the range the counted ones allow.
    ratio = min(max(density_ratio, positive / n), 1 - negative / n)
    # The k lowest and k highest eigenvalues decide the kind as the whole spectrum would.
    kind = curvature.classify_critical_point(
        eigs, grad_norm=grad_norm, grad_tol=grad_tol, eig_tol=eig_tol
    )
    # Values beyond ±eig_tol keep their sign in print: they are what the count below counts.
    # The highest from the top down, as the blocks' "top" column lists them.
    lowest, highest = _listed(eigs[:k], tol=eig_tol), _listed(eigs[-k:][::-1], tol=eig_tol)
    lowest = f"the lowest eigenvalue {lowest}" if k == 1 else f"the {k} lowest eigenvalues {lowest}"
    highest = f"the highest {highest}" if k == 1 else f"the {k} highest {highest}"
    lines = [
        f"kind: {kind}. loss {report['loss']:.6g}, gradient norm "
        f"{beside(grad_norm, grad_tol)} ({'above' if grad_norm > grad_tol else 'within'} "
        f"grad_tol {grad_tol:g}).",
        f"Lanczos on {n:,} parameters: {lowest} and {highest}.",
        # The dense report's words for its counts, of these extremes instead of all n.
        f"{positive} positive, {negative} negative and {zero} zero (|λ| ≤ {eig_tol:.3g}) of "
        f"these {counted(eigs.size, 'eigenvalue')}: "
        + ("negative curvature, a way down." if negative else "no negative curvature found."),
        f"Minimum ratio estimated from the spectral density ({runs}): {ratio:.3f}"
        + (
            "."  # a clamp that the printed digits do not show is rounding, not a correction
            if f"{ratio:.3f}" == f"{density_ratio:.3f}"
            else f" (the density alone gave {density_ratio:.3f}, outside the {positive} positive "
            f"and {negative} negative eigenvalues found)."
        ),
    ]
    report.update(
        method="lanczos",
        kind=kind,
        num_eigenvalues=int(eigs.size),  # what the counts count: 2k extremes, not all n
        num_negative=negative,
        num_positive=positive,
        num_zero=zero,
        eig_tol=eig_tol,
        minimum_ratio=ratio,
        lowest=float(eigs[0]),
        highest=float(eigs[-1]),
        extreme_eigenvalues=eigs.tolist(),
        converged=bool(extremes.converged),
        explanation="\n".join(lines),
    )
    return report, density


def block_report(
    loss_fn: Any,
    params: Any,
    *,
    blocks: str,
    top: int,
    dense: bool,
    seed: int = 0,
    max_bytes: int | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """``(numbers, lines)``: λmin and the ``top`` highest eigenvalues of each block's H_bb.

    ``dense``: every H_bb is a diagonal block of the dense Hessian (computed here once), with
    all its eigenvalues; otherwise :func:`curvature.block_eigenvalues` runs Lanczos on each
    block. Either way a block of n_b parameters lists min(top, n_b // 2) values at each end
    (one for n_b = 1), as Lanczos can give them, and a block of no parameters is left out.
    """
    import jax

    from jaxtrain import curvature

    rows = []
    if dense:
        H = np.asarray(curvature.hessian(loss_fn, params), dtype=np.float64)
        sizes = [int(np.size(leaf)) for leaf in jax.tree.leaves(params)]
        offsets = np.cumsum([0, *sizes])
        members: dict[str, list[int]] = {}
        for index, label in enumerate(curvature.block_labels(params, blocks)):
            members.setdefault(str(label), []).extend(range(offsets[index], offsets[index + 1]))
        for name, positions in members.items():
            if not positions:
                continue
            values = np.linalg.eigvalsh(H[np.ix_(positions, positions)])
            k = max(1, min(top, values.size // 2))
            rows.append(_block_row(name, values.size, values[:k], values[::-1][:k], True))
    else:
        max_bytes = curvature.DEFAULT_MAX_BYTES if max_bytes is None else max_bytes
        try:
            spectra = curvature.block_eigenvalues(
                curvature.hvp(loss_fn, params),
                params,
                key=jax.random.key(seed),
                blocks=blocks,
                k=top,
                which="both",
                max_bytes=max_bytes,
            )
        except curvature.MemoryLimitError as error:
            raise _too_large(error, f"--top {top} with --blocks {blocks}", "lower --top") from None
        for name, result in spectra.items():
            values = np.asarray(result.eigenvalues, dtype=np.float64)
            half = values.size // 2  # "both": the k lowest, then the k highest, ascending
            rows.append(
                _block_row(
                    str(name), result.size, values[:half], values[half:][::-1], result.converged
                )
            )
    width = max(len("block"), *(len(row["block"]) for row in rows))
    how = "of the dense Hessian" if dense else "by Lanczos"
    lines = [
        f"Hessian of each {blocks} alone (its diagonal block H_bb, {how}): λmin and the top {top}"
        + (
            " (at most half of a block's parameters)."
            if any(2 * top > row["n_params"] for row in rows)
            else "."
        ),
        f"  {'block':<{width}}  {'parameters':>10}  {'λmin':>10}  top",
    ]
    for row in rows:
        # One scale per block: a small layer's spectrum keeps its digits beside a large one's.
        scale = _scale([*row["lowest"], *row["highest"]])
        lines.append(
            f"  {row['block']:<{width}}  {row['n_params']:>10,}  "
            f"{_rounded(row['lowest'][0], scale):>10}  {_listed(row['highest'], scale)}"
        )
    return {"partition": blocks, "method": "dense" if dense else "lanczos", "blocks": rows}, lines


def _block_row(
    name: str, size: int, lowest: np.ndarray, highest: np.ndarray, converged: bool
) -> dict[str, Any]:
    return {
        "block": name,
        "n_params": int(size),
        "lowest": [float(v) for v in lowest],
        "highest": [float(v) for v in highest],
        "converged": bool(converged),
    }


def batch_report(
    batch_loss: Any,
    params: Any,
    x: Any,
    y: Any,
    *,
    num_batches: int,
    top: int,
    dense: bool,
    seed: int = 0,
    max_bytes: int | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """``(numbers, lines)``: the ``top`` eigenvalues on ``num_batches`` equal batches of
    ``(x, y)``, their mean ± standard error, and their value on those batches together.

    ``batch_loss(params, x, y)`` is one batch's mean loss. The first ``num_batches · s``
    examples are used, s = ⌊N / num_batches⌋ ≥ 1 (the caller checks num_batches ≤ N).
    By :func:`curvature.eigenvalues_over_batches`: ``dense``, each batch's dense Hessian and
    its exact eigenvalues; otherwise Lanczos.
    """
    import jax

    from jaxtrain import curvature

    count = int(x.shape[0])
    size = count // num_batches
    batches = [
        (x[i * size : (i + 1) * size], y[i * size : (i + 1) * size]) for i in range(num_batches)
    ]
    k = min(top, _parameter_count(params))
    max_bytes = curvature.DEFAULT_MAX_BYTES if max_bytes is None else max_bytes
    try:
        out = curvature.eigenvalues_over_batches(
            batch_loss,
            params,
            batches,
            key=jax.random.key(seed),
            k=k,
            method="dense" if dense else "lanczos",
            max_bytes=max_bytes,
        )
    except curvature.MemoryLimitError as error:
        # Dense: the n × n Hessians (--dense-max-params); Lanczos: its basis (--top).
        setting = "--dense-max-params" if dense else f"--top {top}"
        lower = _LOWER_DENSE if dense else "lower --top"
        raise _too_large(error, f"{setting} with --batches {num_batches}", lower) from None
    per_batch, full = (np.asarray(a, dtype=np.float64) for a in (out.per_batch, out.full))
    # In float64 for both routes, as eigenvalues_over_batches defines them: s/√B, ddof = 1.
    mean, stderr = per_batch.mean(axis=0), per_batch.std(axis=0, ddof=1) / num_batches**0.5
    left_out = count - size * num_batches
    lines = [
        f"Top {k} eigenvalue{'s' if k > 1 else ''} on {num_batches} batches of "
        f"{counted(size, 'example')}, mean ± standard error, and on all "
        f"{size * num_batches:,} together"
        + (f" (the last {left_out:,} left out):" if left_out else ":")
    ]
    # The main report's zero: below it an eigenvalue's sign and size are float round-off.
    finite = np.concatenate([per_batch[np.isfinite(per_batch)], full[np.isfinite(full)]])
    eig_tol = curvature.eigenvalue_tolerance(
        finite, jax.numpy.result_type(*jax.tree.leaves(params))
    )
    for i in range(k):
        centre, error, decimals = _with_error(float(mean[i]), float(stderr[i]))
        together = _fixed(float(full[i]), decimals)  # to the mean's place, to compare the two
        if not math.isfinite(float(full[i])):
            together = "not finite"
        failed = [str(b + 1) for b in np.flatnonzero(~np.isfinite(per_batch[:, i]))]
        if failed:
            # A mean over a batch whose Hessian is not finite would print "nan ± nan".
            batches = listed(failed, "batch", "batches")
            lines.append(f"  λ{i + 1} is not finite on {batches}   (together: {together})")
        elif np.all(np.abs(per_batch[:, i]) <= eig_tol):
            together = "0" if abs(float(full[i])) <= eig_tol else f"{float(full[i]):.4g}"
            lines.append(
                f"  λ{i + 1} = 0 on every batch (|λ| ≤ {eig_tol:.2g}: round-off)   "
                f"(together: {together})"
            )
        else:
            lines.append(f"  λ{i + 1} = {centre} ± {error}   (together: {together})")
    numbers = {
        "method": "dense" if dense else "lanczos",
        "num_batches": num_batches,
        "batch_size": size,
        "per_batch": per_batch.tolist(),
        "mean": mean.tolist(),
        "stderr": stderr.tolist(),
        "full": full.tolist(),
        "converged": bool(out.converged),
    }
    return numbers, lines


def _parameter_count(params: Any) -> int:
    """The number of parameters, read from the leaves' shapes (flattening would copy them)."""
    import jax

    return sum(int(np.size(leaf)) for leaf in jax.tree.leaves(params))


def _batch_loss(apply: Any, state: Any, loss: Any, params: Any, x: Any, y: Any) -> Any:
    return loss(apply(params, state, x, train=False)[0], y)


def _rounded(value: float, scale: float, tol: float = math.inf) -> str:
    """``value`` for people: rounded to 4 significant digits of ``scale`` (the largest |λ|
    printed beside it), then at most 4 significant digits, never ``-0`` (the JSON keeps the
    exact value).

    A float32 eigenvalue is known to about 1e-7 · ‖H‖: a block's λmin of -8.4e-09 next to its
    λmax of 0.36 is round-off, and prints as 0. A value beyond ``tol`` (the eigenvalue
    tolerance the report counts signs with) is never printed as 0: it keeps 2 digits.
    """
    value = float(value)
    if math.isfinite(value) and math.isfinite(scale) and scale > 0:
        step = 10.0 ** (math.floor(math.log10(scale)) - 3)
        rounded = round(value / step) * step
        if rounded == 0 and abs(value) > tol:
            return f"{value:.2g}"
        value = rounded
    return f"{value + 0.0:.4g}"  # + 0.0 turns -0.0 into 0.0


def _scale(values: Any) -> float:
    """The largest finite |value| (0.0 for none): what :func:`_rounded` rounds relative to."""
    values = np.abs(np.asarray(values, dtype=np.float64))
    values = values[np.isfinite(values)]
    return float(values.max()) if values.size else 0.0


def _listed(values: np.ndarray, scale: float | None = None, tol: float = math.inf) -> str:
    """``[λ1, λ2, …]`` for people, each by :func:`_rounded` against ``scale`` (default: the
    largest |λ| listed) and ``tol``."""
    scale = _scale(values) if scale is None else scale
    return "[" + ", ".join(_rounded(v, scale, tol) for v in values) + "]"


def _with_error(mean: float, stderr: float) -> tuple[str, str, int | None]:
    """``(mean, stderr, decimals)`` for people: the error to 2 significant digits and the
    mean to the same decimal place (``decimals``, negative for tens, hundreds, …). A zero or
    non-finite error, or one whose place lies more than ``_MAX_PLACES`` digits from the
    decimal point, leaves the mean at 4 significant digits and the error at 2 (``decimals``
    is ``None``)."""
    decimals = None
    if math.isfinite(stderr) and stderr > 0 and math.isfinite(mean):
        # The place of the error's second digit after rounding: 0.0996 is 0.10, not 0.100.
        decimals = 1 - math.floor(math.log10(float(f"{stderr:.2g}")))
    if decimals is None or abs(decimals) > _MAX_PLACES:
        return f"{mean + 0.0:.4g}", f"{stderr:.2g}", None
    return _fixed(mean, decimals), _fixed(stderr, decimals), decimals


def _fixed(value: float, decimals: int | None) -> str:
    """``value`` rounded to ``decimals`` places (negative: to tens, …; ``None``: 4 digits)."""
    if decimals is None or not math.isfinite(value):
        return f"{value + 0.0:.4g}"
    return f"{round(value, decimals) + 0.0:.{max(decimals, 0)}f}"


def run(args: argparse.Namespace) -> int:
    """Runs ``jaxtrain hessian``; returns the exit status."""
    from jaxtrain.cli._data_ref import load_reference
    from jaxtrain.cli._progress import progress

    # --out is refused, if it must be, before the checkpoint is read and the Hessian computed,
    # and made only once they have been: a run that fails leaves no empty folder behind.
    if args.out:
        claim_output_dir(args.out, COMMAND, overwrite=args.overwrite, create=False)
    out = pathlib.Path(args.out) if args.out else None
    spec, ckpt, metadata, apply = _restore(args.checkpoint, args.step)
    reference = _data_reference(metadata["data"], args.data)
    # A --data file's SHA-256 was compared in _data_reference: not read a second time.
    train_pair, val_pair, task = load_reference(
        reference, spec.family, verified=args.data is not None
    )
    x, y = train_pair if args.split == "train" else val_pair
    x, y = x[: args.max_examples], y[: args.max_examples]
    if args.batches is not None and args.batches > x.shape[0]:
        raise UsageError(
            f"--batches {args.batches}: more batches than the {counted(x.shape[0], 'example')} "
            "of the loss"
        )

    from jax.tree_util import Partial

    from jaxtrain import curvature, losses
    from jaxtrain.train._progress import StageProgress

    loss_name = metadata.get("loss", "softmax_cross_entropy")
    loss = getattr(losses, loss_name, None)
    if loss is None:
        raise CommandError(f"the checkpoint names an unknown loss {loss_name!r}")
    loss_fn = curvature.loss_from_model(apply, ckpt.model_state, [(x, y)], loss)
    written: tuple[pathlib.Path, ...] = ()
    n = _parameter_count(ckpt.params)
    extras = [name for name in ("blocks", "batches") if getattr(args, name) is not None]
    dense = n <= args.dense_max_params  # as hessian_report decides
    total = _REPORT_STAGES + len(extras) + (1 if out else 0)
    header = {
        "checkpoint": str(pathlib.Path(args.checkpoint).absolute()),
        "step": ckpt.step,
        "model": spec.name,
        "split": args.split,
        "examples": int(x.shape[0]),
    }
    with StageProgress(progress("hessian"), desc="jaxtrain hessian", total=total) as stages:
        numbers, spectrum = hessian_report(
            loss_fn,
            ckpt.params,
            dense_max_params=args.dense_max_params,
            top=args.top,
            lanczos_steps=args.lanczos_steps,
            probes=args.probes,
            grad_tol=args.grad_tol,
            stage=stages.stage,
        )
        report = {**header, **numbers}
        lines = []
        if args.blocks is not None:
            stages.stage(f"the Hessian of each {args.blocks} alone")
            report["blocks"], block_lines = block_report(
                loss_fn, ckpt.params, blocks=args.blocks, top=args.top, dense=dense
            )
            lines += block_lines
        if args.batches is not None:
            stages.stage(f"the top eigenvalues on {args.batches} batches")
            batch_loss = Partial(_batch_loss, Partial(apply), ckpt.model_state, Partial(loss))
            report["batches"], batch_lines = batch_report(
                batch_loss, ckpt.params, x, y, num_batches=args.batches, top=args.top, dense=dense
            )
            lines += batch_lines
        if out:
            out = claim_output_dir(out, COMMAND, overwrite=args.overwrite)
            written = (out / "hessian.json", out / "spectrum.png")
            stages.stage("writing " + " and ".join(map(str, written)))
            try:
                _write(out, report, spectrum, overwrite=args.overwrite)
            except OSError as error:
                raise CommandError(f"cannot write to {out}: {error.strerror or error}") from None
    if args.json:
        print(_json_text(report))
    else:
        print(
            f"{report['model']} at step {report['step']:,}, loss on "
            f"{counted(report['examples'], f'{args.split} example')} ({task})"
        )
        print(report["explanation"])
        for line in lines:
            print(line)
        if written:
            print("wrote " + " and ".join(map(str, written)))
    return 0


def _write(out: pathlib.Path, report: dict[str, Any], spectrum: Any, *, overwrite: bool) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from jaxtrain.plot import plot_spectrum

    folder = OutputDir(out, COMMAND, overwrite=overwrite)
    folder.write_text("hessian.json", _json_text(report) + "\n")
    ax = (
        plot_spectrum(spectrum, eig_tol=report["eig_tol"])
        if isinstance(spectrum, np.ndarray)
        else plot_spectrum(spectrum)
    )
    ax.set_title(f"Hessian spectrum of {report['model']} ({report['method']}): {report['kind']}")
    folder.write_figure("spectrum.png", ax.figure, dpi=110, bbox_inches="tight")
    plt.close(ax.figure)


def _json_text(report: dict[str, Any]) -> str:
    """The report as strict JSON: NaN is null, ±∞ "Infinity"/"-Infinity" (:mod:`jaxtrain._json`)."""
    return json.dumps(to_jsonable(report), indent=2, allow_nan=False)
