"""The lecture's second-order test: what kind of critical point is θ, and which way is down."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jax.typing import ArrayLike, DTypeLike

from jaxtrain._host_tree import host_flat
from jaxtrain._text import beside, counted, side_by_side
from jaxtrain.curvature._hessian import hessian
from jaxtrain.curvature._memory import DEFAULT_MAX_BYTES
from jaxtrain.curvature._operators import (
    as_pytree_callable,
    highest_precision,
    unflatten_like,
)

__all__ = [
    "KINDS",
    "CriticalPointReport",
    "analyze_critical_point",
    "classify_critical_point",
    "eigenvalue_tolerance",
]

KINDS = ("minimum", "maximum", "saddle", "degenerate", "not_critical")
"""The kinds of point θ the second-order test tells apart: jaxtrain's one vocabulary.

:func:`classify_critical_point` decides, from the gradient norm ‖g‖ and the Hessian's
eigenvalues λ (|λ| ≤ ``eig_tol`` counting as zero):

- ``"not_critical"``: ‖g‖ > ``grad_tol``; the gradient still points downhill.
- ``"minimum"``: every λ > 0; the loss curves up in every direction (a *local* minimum: the
  test sees only a neighbourhood of θ).
- ``"maximum"``: every λ < 0.
- ``"saddle"``: λ of both signs (zeros or not); an eigenvector of a negative λ is a way down.
- ``"degenerate"``: some λ = 0 and the rest of one sign or none; second-order information
  cannot decide, the loss along the flat directions depends on higher-order terms.

The command line (``jaxtrain hessian``), :func:`jaxtrain.diagnose.diagnose` and
:func:`analyze_critical_point` all report these words.
"""

_FLAT_REGION_NOTE = (
    "A small gradient norm alone does not make a critical point: points found by minimizing"
    " ‖g‖ are often gradient-flat regions (Frye et al. 2021, arXiv:2003.10397), so read the"
    " minimum ratio together with the gradient norm."
)


@dataclasses.dataclass(frozen=True)
class CriticalPointReport:
    """What the Hessian says about the point θ: its kind, its curvature, and a way down.

    Built by :func:`analyze_critical_point`. Near θ the loss is
    L(θ + u) ≈ L(θ) + gᵀu + ½ uᵀHu; for an eigenvector u of H with eigenvalue λ the last
    term is ½λ‖u‖², so a negative λ is a direction in which the loss goes down even where the
    gradient g vanishes.

    Attributes:
        loss: L(θ).
        grad_norm: ‖g‖, always reported beside ``minimum_ratio``.
        eigenvalues: all eigenvalues of H, ascending (NumPy array).
        num_positive: eigenvalues above ``eig_tol``.
        num_negative: eigenvalues below ``-eig_tol``.
        num_zero: eigenvalues with |λ| ≤ ``eig_tol``.
        kind: one of :data:`KINDS`, by :func:`classify_critical_point`: ``"not_critical"``
            when ‖g‖ > ``grad_tol``; else ``"minimum"`` (all λ > tol), ``"maximum"`` (all
            λ < −tol), ``"saddle"`` (both signs), or ``"degenerate"`` (some |λ| ≤ tol and the
            rest of one sign or none: second-order information cannot decide).
        minimum_ratio: ``num_positive / n``, the lecture's "minimum ratio".
        escape_direction: a unit eigenvector of the most negative eigenvalue, shaped like
            ``params`` and signed so that gᵀu ≤ 0; ``None`` without negative curvature.
        escape_eigenvalue: its eigenvalue λ (the smallest one), ``None`` if not negative.
        predicted_loss_change: ½λ‖u‖² for the unit step ‖u‖ = 1 (``None`` if no escape).
        grad_tol: the gradient-norm threshold used.
        eig_tol: the eigenvalue threshold used (absolute).

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxtrain.curvature import analyze_critical_point
        >>> loss = lambda w: (1.0 - w[0] * w[1]) ** 2
        >>> report = analyze_critical_point(loss, jnp.zeros(2))
        >>> report.kind, report.num_negative, report.num_positive
        ('saddle', 1, 1)
    """

    loss: float
    grad_norm: float
    eigenvalues: np.ndarray
    num_positive: int
    num_negative: int
    num_zero: int
    kind: str
    minimum_ratio: float
    escape_direction: Any
    escape_eigenvalue: float | None
    predicted_loss_change: float | None
    grad_tol: float
    eig_tol: float
    _gradient: Any = dataclasses.field(repr=False, compare=False)
    _loss_fn: Callable[..., jax.Array] = dataclasses.field(repr=False, compare=False)
    _params: Any = dataclasses.field(repr=False, compare=False)
    _args: tuple[Any, ...] = dataclasses.field(repr=False, compare=False)

    @property
    def explanation(self) -> str:
        """A few sentences saying what the point is and why."""
        n = self.eigenvalues.size
        counts = (
            f"{self.num_positive:,} positive, {self.num_negative:,} negative and "
            f"{self.num_zero:,} zero (|λ| ≤ {self.eig_tol:.3g}) of {counted(n, 'eigenvalue')}"
        )
        grad_norm = beside(self.grad_norm, self.grad_tol)
        lines = [f"kind: {self.kind}. loss {self.loss:.6g}, gradient norm {grad_norm}."]
        if self.kind == "not_critical":
            lines.append(
                f"‖g‖ = {grad_norm} > grad_tol = {self.grad_tol:.3g}: not a critical"
                " point, the gradient still points downhill; the curvature below describes"
                f" the surface here anyway. The Hessian has {counts}."
            )
        elif self.kind == "minimum":
            lines.append(f"The Hessian has {counts}: every direction curves up, a local minimum.")
        elif self.kind == "maximum":
            lines.append(f"The Hessian has {counts}: every direction curves down, a local maximum.")
        elif self.kind == "saddle":
            lines.append(
                f"The Hessian has {counts}: the loss curves up in some directions and down in"
                " others, a saddle point."
            )
        elif self.num_negative > 0:
            lines.append(
                f"The Hessian has {counts}. The negative curvature proves this is no minimum,"
                " but along the zero-curvature directions higher-order terms decide, so the"
                " Hessian cannot tell a local maximum from a saddle: degenerate."
            )
        elif self.num_positive > 0:
            lines.append(
                f"The Hessian has {counts}. With a zero eigenvalue and no negative one the"
                " Hessian cannot prove a minimum: along the zero-curvature directions the loss"
                " may still go down at third or fourth order. Degenerate."
            )
        else:
            lines.append(
                f"The Hessian has {counts}: no curvature at all, it cannot tell anything."
                " Degenerate."
            )
        if self.escape_eigenvalue is not None:
            lines.append(
                f"Escape direction u with λ = {beside(self.escape_eigenvalue, -self.eig_tol, 4)}: "
                "a step t·u changes"
                f" the loss by ≈ ½λt² = {0.5 * self.escape_eigenvalue:.4g}·t²."
            )
        lines.append(
            f"Minimum ratio {side_by_side([self.minimum_ratio], [0.0, 1.0], 3)[0]} (eigenvalues "
            f"> {self.eig_tol:.3g} over"
            f" all) at gradient norm {grad_norm}. {_FLAT_REGION_NOTE}"
        )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.explanation

    def predict(self, step: float) -> float:
        """The second-order prediction of L(θ + t·u) − L(θ): t·gᵀu + ½λt².

        Args:
            step: t, the distance moved along the unit escape direction u.

        Returns:
            The predicted loss change, a Python float.

        Raises:
            ValueError: if there is no negative curvature to escape along.
        """
        u = self._require_escape()
        g_dot_u = float(np.dot(host_flat(self._gradient), host_flat(u)))
        return step * g_dot_u + 0.5 * float(self.escape_eigenvalue) * step**2

    def escape(self, step: float) -> tuple[Any, float]:
        """Moves θ' = θ + t·u along the escape direction and measures the loss change.

        Args:
            step: t, the distance moved along the unit escape direction u.

        Returns:
            ``(new_params, measured_change)`` with ``measured_change = L(θ') − L(θ)``.

        Raises:
            ValueError: if there is no negative curvature to escape along.
        """
        u = self._require_escape()
        # result_type, not .dtype: a parameter leaf may be a Python float.
        new_params = jax.tree.map(
            lambda p, d: p + jnp.asarray(step, jnp.result_type(p)) * d, self._params, u
        )
        with highest_precision():
            new_loss = float(
                _loss_program(
                    as_pytree_callable(self._loss_fn, (new_params, *self._args)),
                    new_params,
                    self._args,
                )
            )
        return new_params, new_loss - self.loss

    def _require_escape(self) -> Any:
        if self.escape_direction is None:
            raise ValueError(
                f"no negative curvature at this point (kind {self.kind!r}, smallest eigenvalue"
                f" {float(self.eigenvalues[0]):.3g} ≥ -eig_tol): there is no escape direction"
            )
        return self.escape_direction


def eigenvalue_tolerance(eigenvalues: ArrayLike, dtype: DTypeLike) -> float:
    """The zero-curvature threshold: |λ| ≤ √ε · max(max|λ|, 1) counts as λ = 0.

    A Hessian computed in a floating-point type with machine epsilon ε carries rounding
    errors of about √ε relative to its largest eigenvalue (autodiff's second derivatives
    lose more digits than one product); below that, an eigenvalue's sign is noise. The floor
    of 1 keeps the round-off of a nearly flat Hessian (all |λ| ≪ 1) from reading as signs.
    In float32 the threshold is 3.5e-4 · max(max|λ|, 1), in float64 1.5e-8 · max(max|λ|, 1).

    Args:
        eigenvalues: the Hessian's eigenvalues, all or the extreme ones (Lanczos).
        dtype: the dtype the Hessian was computed in (of the parameters).

    Returns:
        The threshold ``eig_tol``, a Python float.

    Examples:
        >>> import numpy as np
        >>> from jaxtrain.curvature import eigenvalue_tolerance
        >>> print(f"{eigenvalue_tolerance([-2.0, 300.0], np.float32):.3g}")
        0.104
    """
    values = np.asarray(eigenvalues, dtype=np.float64)
    largest = float(np.max(np.abs(values))) if values.size else 0.0
    return float(np.sqrt(np.finfo(np.dtype(dtype)).eps) * max(largest, 1.0))


def _check_tolerances(grad_tol: float, eig_tol: float | None) -> None:
    """Raises the ``ValueError`` of a tolerance the second-order test cannot use.

    NaN fails every comparison, so the checks are written to fail for it too: a NaN
    ``grad_tol`` would call every point critical, a NaN ``eig_tol`` every eigenvalue zero
    (every point degenerate), as would an infinite one. An infinite ``grad_tol`` is allowed:
    it skips the gradient test. ``eig_tol=None`` is left for the caller to pick.
    """
    if not grad_tol >= 0:
        raise ValueError(f"grad_tol must be >= 0, got {grad_tol}")
    if eig_tol is not None and not 0 <= eig_tol < math.inf:
        raise ValueError(f"eig_tol must be >= 0 and finite, got {eig_tol}")


def classify_critical_point(
    eigenvalues: ArrayLike, *, grad_norm: float, grad_tol: float, eig_tol: float
) -> str:
    """The kind of point θ (one of :data:`KINDS`) from ‖g‖ and the Hessian's eigenvalues.

    The lecture's second-order test. Near θ, L(θ + u) ≈ L(θ) + gᵀu + ½uᵀHu. Where
    ‖g‖ ≤ ``grad_tol`` the linear term vanishes and the signs of the eigenvalues λ of H
    decide, |λ| ≤ ``eig_tol`` counting as zero (see :func:`eigenvalue_tolerance`):

    1. ‖g‖ > ``grad_tol``: ``"not_critical"``.
    2. λmin < −tol and λmax > tol: ``"saddle"`` (whatever zeros there are).
    3. λmin > tol: ``"minimum"``; λmax < −tol: ``"maximum"``.
    4. otherwise ``"degenerate"``: some λ = 0 and no second sign; the Hessian cannot decide.

    Only λmin and λmax matter, so the k lowest and k highest eigenvalues from Lanczos classify
    a large model as the full spectrum does (once Lanczos has converged).

    Args:
        eigenvalues: all eigenvalues of H, or at least its lowest and highest ones.
        grad_norm: ‖g‖ at θ.
        grad_tol: θ is critical when ‖g‖ ≤ ``grad_tol`` (absolute; ``math.inf`` skips
            the gradient test where criticality was decided elsewhere).
        eig_tol: |λ| ≤ ``eig_tol`` is zero curvature (absolute).

    Returns:
        One of :data:`KINDS`.

    Raises:
        ValueError: for no eigenvalues, eigenvalues or ``grad_norm`` not finite, a negative or
            NaN ``grad_tol``, or an ``eig_tol`` that is negative or not finite.

    Examples:
        >>> from jaxtrain.curvature import classify_critical_point
        >>> classify_critical_point([-2.0, 2.0], grad_norm=0.0, grad_tol=1e-4, eig_tol=1e-3)
        'saddle'
        >>> classify_critical_point([0.0, 4.0], grad_norm=0.0, grad_tol=1e-4, eig_tol=1e-3)
        'degenerate'
    """
    _check_tolerances(grad_tol, eig_tol)
    values = np.asarray(eigenvalues, dtype=np.float64).reshape(-1)
    if values.size == 0:
        raise ValueError("classify_critical_point needs at least one eigenvalue")
    # NaN fails every comparison: it would read as a small gradient, or as no curvature.
    if not np.isfinite(grad_norm):
        raise ValueError(f"grad_norm is not finite ({grad_norm}): nothing to classify")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"eigenvalues are not finite ({values}): nothing to classify")
    if grad_norm > grad_tol:
        return "not_critical"
    lowest, highest = float(np.min(values)), float(np.max(values))
    if lowest < -eig_tol and highest > eig_tol:
        return "saddle"
    if lowest > eig_tol:
        return "minimum"
    if highest < -eig_tol:
        return "maximum"
    return "degenerate"


def analyze_critical_point(
    loss_fn: Callable[..., jax.Array],
    params: Any,
    *args: Any,
    grad_tol: float = 1e-4,
    eig_tol: float | None = None,
    chunk_size: int | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> CriticalPointReport:
    """Classifies θ with the dense Hessian: local minimum, maximum, saddle, or undecidable.

    The lecture's test: where the gradient g = ∇L(θ) is (near) zero, the eigenvalues λ of
    H = ∇²L(θ) decide. All λ > 0: local minimum; all λ < 0: local maximum; both signs: saddle
    point, and an eigenvector u of a negative λ is a way down, L(θ + u) ≈ L(θ) + ½λ‖u‖².
    Eigenvalues with |λ| ≤ ``eig_tol`` count as zero; a zero eigenvalue without both signs
    present makes the point ``"degenerate"`` (the Hessian cannot decide). The rule is
    :func:`classify_critical_point`'s, in the words of :data:`KINDS`. The minimum ratio
    counts only λ > ``eig_tol``. Where ‖g‖ > ``grad_tol`` the kind is ``"not_critical"`` but
    the eigen-information is still computed.

    θ is ``params`` and L(θ) = ``loss_fn(params, *args)``. This is the dense path: it builds
    the n × n Hessian (see :func:`~jaxtrain.curvature.hessian` and its ``max_bytes`` check);
    for large models use :func:`~jaxtrain.curvature.eigenvalues` on
    :func:`~jaxtrain.curvature.hvp` and :func:`~jaxtrain.curvature.minimum_ratio_estimate`.

    Warning:
        The gradient norm is reported beside the ratio on purpose. Points found by
        minimizing ‖g‖ are often gradient-flat regions rather than critical points
        (Frye et al. 2021), where the minimum ratio means little.

    Args:
        loss_fn: ``loss_fn(params, *args) -> scalar``.
        params: the point θ, a pytree of floating-point arrays.
        *args: further arguments of ``loss_fn`` (data), held fixed.
        grad_tol: the point is critical when ‖g‖ ≤ ``grad_tol`` (absolute).
        eig_tol: |λ| ≤ ``eig_tol`` counts as zero curvature (absolute). ``None`` picks
            :func:`eigenvalue_tolerance`, √ε · max(max|λ|, 1) with ε the machine epsilon of
            the Hessian's dtype (3.5e-4 relative in float32, 1.5e-8 in float64).
        chunk_size: passed to :func:`~jaxtrain.curvature.hessian`.
        max_bytes: passed to :func:`~jaxtrain.curvature.hessian`.

    Returns:
        A :class:`CriticalPointReport`; ``str(report)`` explains the verdict.

    Raises:
        ValueError: for tolerances :func:`classify_critical_point` refuses, a Hessian over
            ``max_bytes``, or a loss, gradient or Hessian that is not finite at ``params``.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxtrain.curvature import analyze_critical_point
        >>> loss = lambda w: (1.0 - w[0] * w[1]) ** 2  # ŷ = w₁w₂x, x = 1, target 1, MSE
        >>> saddle = analyze_critical_point(loss, jnp.zeros(2))
        >>> print(saddle.kind, saddle.eigenvalues)
        saddle [-2.  2.]
        >>> new_params, change = saddle.escape(0.5)
        >>> print(round(change, 4), round(saddle.predict(0.5), 4))  # exact: (1 - t²/2)² - 1
        -0.2344 -0.25
        >>> print(analyze_critical_point(loss, jnp.ones(2)).kind)  # eigenvalues {0, 4}
        degenerate

    References:
        Dauphin et al., "Identifying and attacking the saddle point problem in
        high-dimensional non-convex optimization", 2014, https://arxiv.org/abs/1406.2572

        Frye, Simon, Wadia, Ligeralde, DeWeese, Bouchard, "Critical Point-Finding Methods
        Reveal Gradient-Flat Regions of Deep Network Losses", Neural Computation 33 (2021),
        https://arxiv.org/abs/2003.10397
    """
    _check_tolerances(grad_tol, eig_tol)
    H = hessian(loss_fn, params, *args, chunk_size=chunk_size, max_bytes=max_bytes)
    loss, grad, evals, grad_norm, lowest, finite = _value_grad_eigh(loss_fn, params, args, H)
    if not bool(finite):
        # eigh of a matrix with NaN entries can return finite numbers: nothing here would
        # show that the classification rests on nothing.
        raise ValueError(
            "the loss, its gradient or its Hessian is not finite at these parameters "
            f"(L = {float(loss)}, ‖g‖ = {float(grad_norm)}): no critical point to classify"
        )
    evals = np.asarray(evals)
    if eig_tol is None:
        eig_tol = eigenvalue_tolerance(evals, H.dtype)
    grad_norm = float(grad_norm)
    num_positive = int(np.sum(evals > eig_tol))
    num_negative = int(np.sum(evals < -eig_tol))
    num_zero = int(evals.size - num_positive - num_negative)
    kind = classify_critical_point(evals, grad_norm=grad_norm, grad_tol=grad_tol, eig_tol=eig_tol)

    escape_direction = escape_eigenvalue = predicted = None
    if num_negative > 0:
        escape_direction = lowest
        escape_eigenvalue = float(evals[0])
        predicted = 0.5 * escape_eigenvalue

    return CriticalPointReport(
        loss=float(loss),
        grad_norm=grad_norm,
        eigenvalues=evals,
        num_positive=num_positive,
        num_negative=num_negative,
        num_zero=num_zero,
        kind=kind,
        minimum_ratio=num_positive / evals.size,
        escape_direction=escape_direction,
        escape_eigenvalue=escape_eigenvalue,
        predicted_loss_change=predicted,
        grad_tol=float(grad_tol),
        eig_tol=float(eig_tol),
        _gradient=grad,
        _loss_fn=loss_fn,
        _params=params,
        _args=tuple(args),
    )


def _value_grad_eigh(loss_fn, params, args, H):
    with highest_precision():
        return _value_grad_eigh_program(
            as_pytree_callable(loss_fn, (params, *args)), params, args, H
        )


@jax.jit
def _value_grad_eigh_program(loss_fn, params, args, H):
    """``(L, g, eigenvalues, ‖g‖, u, finite)``: u the lowest eigenvector as a pytree like θ,
    signed so that it does not climb the gradient (an eigenvector's sign is arbitrary);
    ``finite`` whether L, g and H are."""
    loss, grad = jax.value_and_grad(loss_fn)(params, *args)
    evals, evecs = jnp.linalg.eigh(H)
    flat_grad = ravel_pytree(grad)[0]
    u = evecs[:, 0]
    sign = jnp.where(jnp.dot(flat_grad.astype(u.dtype), u) > 0, -1.0, 1.0).astype(u.dtype)
    finite = jnp.isfinite(loss) & jnp.all(jnp.isfinite(flat_grad)) & jnp.all(jnp.isfinite(H))
    return (
        loss,
        grad,
        evals,
        jnp.linalg.norm(flat_grad),
        unflatten_like(sign * u, params),
        finite,
    )


@jax.jit
def _loss_program(loss_fn, params, args):
    return loss_fn(params, *args)
