"""The relative size of each update, ‖Δθ‖/‖θ‖, overall and per layer."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from jaxtrain.monitor._monitor import Monitor, StepView

__all__ = ["UpdateRatio", "update_ratio"]


def _entry(entry: Any) -> str:
    for attribute in ("key", "name", "idx"):
        if hasattr(entry, attribute):
            return str(getattr(entry, attribute))
    return str(entry)


def layer_groups(params: Any) -> dict[str, list[int]]:
    """Leaf positions grouped by layer: a leaf's path without its last entry (kernel, bias);
    a one-entry path is its own layer."""
    groups: dict[str, list[int]] = {}
    for i, (path, _) in enumerate(jax.tree_util.tree_flatten_with_path(params)[0]):
        names = [_entry(e) for e in path]
        layer = "/".join(names[:-1] if len(names) > 1 else names) or "params"
        groups.setdefault(layer, []).append(i)
    return groups


def _ratio(deltas: list[jax.Array], thetas: list[jax.Array]) -> jax.Array:
    """‖Δθ‖/‖θ‖: 0 where Δθ = 0 (even with θ = 0), inf where only θ = 0, NaN for a NaN Δθ."""
    delta_sq = sum(jnp.sum(jnp.square(d.astype(jnp.float32))) for d in deltas)
    theta_sq = sum(jnp.sum(jnp.square(t.astype(jnp.float32))) for t in thetas)
    # A zero layer that did not move would be 0/0 = NaN, which in the history means "not
    # measured"; it was measured, and moved by nothing relative to any size. `== 0` (not
    # `> 0`) so that a NaN update still reads NaN.
    return jnp.where(delta_sq == 0, 0.0, jnp.sqrt(delta_sq) / jnp.sqrt(theta_sq))


@dataclasses.dataclass(frozen=True)
class UpdateRatio(Monitor):
    """The monitor :func:`update_ratio` returns."""

    name: ClassVar[str] = "update_ratio"

    def record_names(self, params: Any) -> tuple[str, ...]:
        return ("update_ratio", *(f"update_ratio/{layer}" for layer in layer_groups(params)))

    def init(self, params: Any) -> Any:
        del params
        return ()

    def measure(self, state: Any, view: StepView):
        old = jax.tree.leaves(view.params)
        deltas = [n - o for n, o in zip(jax.tree.leaves(view.new_params), old, strict=True)]
        records = {"update_ratio": _ratio(deltas, old)}
        for layer, index in layer_groups(view.params).items():
            records[f"update_ratio/{layer}"] = _ratio(
                [deltas[i] for i in index], [old[i] for i in index]
            )
        return state, records


def update_ratio(every: int = 1) -> UpdateRatio:
    r"""Tracks ‖Δθ‖/‖θ‖, how far each step moves the parameters relative to their size.

    A common health check beside the loss (lecture §4): a ratio around 10⁻³ per step is the
    usual rule of thumb; far above it η is too large for that layer, far below it that
    layer barely trains. Recorded overall as ``history.per_step["update_ratio"]`` and for
    each layer (a leaf's path without its last entry, so a layer's kernel and bias count
    together) as ``"update_ratio/<layer path>"``, e.g. ``"update_ratio/layers/0"``. A leaf
    whose path has one entry (``{"w": W, "b": b}``) is a layer of its own: there is no layer
    name to group it by.

    With ‖·‖ the Euclidean norm over the layer's leaves (or all of them) in float32:

        ratio = ‖θₜ₊₁ − θₜ‖ / ‖θₜ‖,  0 where θₜ₊₁ = θₜ,  +inf where θₜ = 0 ≠ θₜ₊₁.

    A layer that did not move reads 0 even when it is all zeros (a frozen zero layer), so
    NaN keeps meaning "not measured at this step" (or a non-finite update). A layer that
    starts at zero (a zero-initialised head, LoRA's B) reads inf at its first step: there is
    no size to compare the update with yet.

    Args:
      every: measure every this many steps.

    Returns:
      An :class:`UpdateRatio` monitor.

    Raises:
      ValueError: for ``every`` < 1.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxtrain.monitor import update_ratio
      >>> params = {"dense": {"kernel": jnp.ones((2, 2)), "bias": jnp.zeros(2)}}
      >>> update_ratio().record_names(params)
      ('update_ratio', 'update_ratio/dense')
    """
    return UpdateRatio(every)
