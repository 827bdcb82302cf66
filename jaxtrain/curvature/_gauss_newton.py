"""Gauss–Newton and empirical Fisher products: curvature that is positive semi-definite by design.

For a loss L(θ) = ℓ(f(θ)) of a model's outputs z = f(θ), the chain rule splits the Hessian:

    H = Jᵀ H_ℓ J + Σⱼ (∂ℓ/∂zⱼ) ∇²fⱼ,    J = ∂f/∂θ,  H_ℓ = ∇²ℓ(z).

The Gauss–Newton matrix G = Jᵀ H_ℓ J keeps the first term. When ℓ is convex in z (mean squared
error, softmax cross-entropy) H_ℓ ⪰ 0, so G ⪰ 0: it has no negative eigenvalue, and cannot see
the way down at a saddle point, which lives in the second term. The empirical Fisher
F = (1/N) Σᵢ gᵢ gᵢᵀ over per-example gradients gᵢ is the Gauss–Newton matrix of the vector of
per-example losses zᵢ = Lᵢ(θ) under ℓ(z) = ½·mean(z²), whose H_ℓ is I/N: one product serves both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.tree_util import Partial, register_pytree_node_class

from jaxtrain._dtypes import check_float_leaves
from jaxtrain.curvature._hvp import CURVATURE_FLOAT_ONLY, _apply_linear
from jaxtrain.curvature._operators import (
    PytreeOperator,
    as_pytree_callable,
    check_callable,
    highest_precision,
)

__all__ = ["GaussNewtonProduct", "empirical_fisher", "ggn"]


@register_pytree_node_class
class GaussNewtonProduct(PytreeOperator):
    """The map v ↦ Jᵀ H_ℓ J v for z = f(θ) (``outputs_fn``) and ℓ(z) (``output_loss``).

    Built by :func:`ggn` and :func:`empirical_fisher`; the same contract as
    :class:`~jaxtrain.curvature.HessianVectorProduct`: callable on pytrees shaped like
    ``params``, itself a pytree (the functions' arrays, ``params`` and, once linearized, the
    residuals), so jitted algorithms (:func:`~jaxtrain.curvature.eigenvalues`,
    :func:`~jaxtrain.curvature.trace`, ...) take it as an argument and reuse their compilation.

    Each product is three linear maps and no matrix: J v by forward mode (a JVP of f), H_ℓ(Jv)
    by forward-over-reverse on ℓ, Jᵀ(·) by reverse mode (the transpose of the JVP).
    :meth:`linearize` runs the forward pass of f and the gradient of ℓ once and keeps their
    residuals, so every later product repeats only the linear parts.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxtrain.curvature import GaussNewtonProduct
        >>> f = lambda w: w[0] * w[1]  # the lecture's ŷ = w₁w₂x at x = 1
        >>> G = GaussNewtonProduct(f, lambda z: (1.0 - z) ** 2, jnp.array([1.0, 2.0]))
        >>> print(G(jnp.array([1.0, 0.0])))  # J = (w₂, w₁), H_ℓ = 2: G = 2JᵀJ
        [8. 4.]
    """

    def __init__(
        self,
        outputs_fn: Callable[[Any], Any],
        output_loss: Callable[[Any], jax.Array],
        params: Any,
        *,
        linear: Callable[[Any], Any] | None = None,
    ):
        # Read now, at the signatures they take here: what they close over is this call's.
        self.outputs_fn = as_pytree_callable(outputs_fn, (params,))
        outputs = jax.eval_shape(self.outputs_fn, params)
        self.output_loss = as_pytree_callable(output_loss, (outputs,))
        self.params = params
        self._linear = linear

    def linearize(self) -> GaussNewtonProduct:
        """Runs f's forward pass and ℓ's gradient once; the result repeats only linear parts.

        Returns:
            A :class:`GaussNewtonProduct` at the same point that reuses the linearization
            (this product itself when it is linearized already).
        """
        if self._linear is not None:
            return self
        with highest_precision():
            linear = _linearize_program(self)
        return self.tree_unflatten(None, (self.outputs_fn, self.output_loss, self.params, linear))

    def __call__(self, v: Any) -> Any:
        """Returns Jᵀ H_ℓ J v, a pytree like ``params``, for a tangent ``v`` like ``params``."""
        if self._linear is not None:
            return _apply_linear(self._linear, v)
        with highest_precision():
            z, jv = jax.jvp(self.outputs_fn, (self.params,), (v,))
            h_jv = jax.jvp(jax.grad(self.output_loss), (z,), (jv,))[1]
            return jax.vjp(self.outputs_fn, self.params)[1](h_jv)[0]

    def tree_flatten(self) -> tuple[tuple[Any, ...], None]:
        """Children: both functions (as ``Partial`` s), ``params`` and the linearization."""
        return (self.outputs_fn, self.output_loss, self.params, self._linear), None

    @classmethod
    def tree_unflatten(cls, aux: None, children: tuple[Any, ...]) -> GaussNewtonProduct:
        """Rebuilds the product, with its linearization if it had one.

        Its functions are the ones read when the product was built; the leaves may be tracers.
        """
        del aux
        product = object.__new__(cls)
        product.outputs_fn, product.output_loss, product.params, product._linear = children
        return product


def _gauss_newton_linear(f_jvp: Any, loss_hvp: Any, v: Any) -> Any:
    # The transpose of the linearized f is Jᵀ; transposing here, inside the caller's trace,
    # keeps one copy of f's residuals (those of f_jvp) instead of a second one for a VJP.
    u = loss_hvp(f_jvp(v))
    return jax.linear_transpose(f_jvp, v)(u)[0]


@jax.jit
def _linearize_program(product: GaussNewtonProduct) -> Partial:
    z, f_jvp = jax.linearize(product.outputs_fn, product.params)
    loss_hvp = jax.linearize(jax.grad(product.output_loss), z)[1]
    return Partial(_gauss_newton_linear, f_jvp, loss_hvp)


def _model_outputs(model_fn: Any, inputs: Any, params: Any) -> Any:
    return model_fn(params, inputs)


def _loss_of_outputs(loss_fn: Any, targets: Any, outputs: Any) -> jax.Array:
    return loss_fn(outputs, targets)


def ggn(
    model_fn: Callable[[Any, Any], Any],
    loss_fn: Callable[[Any, Any], jax.Array],
    params: Any,
    inputs: Any,
    targets: Any,
) -> GaussNewtonProduct:
    """Generalized Gauss–Newton product of ``loss_fn(model_fn(params, inputs), targets)``.

    With z = f(θ, x) the model's outputs on the batch and L(θ) = ℓ(z, y) the loss,
    G = Jᵀ H_ℓ J with J = ∂z/∂θ and H_ℓ = ∇²_z ℓ(z, y): the Hessian H without its second term
    Σⱼ (∂ℓ/∂zⱼ) ∇²zⱼ, the one that carries the curvature of the model itself. For ℓ convex in
    z, G ⪰ 0 (so it has no negative eigenvalue, even at a saddle point); for a model linear
    in θ, G = H. Neither J nor H_ℓ is formed: a product costs about a forward and a backward
    pass. θ is ``params``, x ``inputs``, y ``targets``.

    Args:
        model_fn: ``model_fn(params, inputs) -> outputs`` (any pytree of floating arrays).
            For the functional model contract use
            ``lambda p, x: apply(p, state, x, train=False)[0]``.
        loss_fn: ``loss_fn(outputs, targets) -> scalar``, convex in ``outputs`` for G ⪰ 0
            (e.g. :func:`jaxtrain.losses.softmax_cross_entropy`, :func:`jaxtrain.losses.mse`).
        params: the point θ, any pytree of floating-point arrays.
        inputs: x, held fixed.
        targets: y, held fixed.

    Returns:
        A linearized :class:`GaussNewtonProduct`, usable wherever
        :func:`~jaxtrain.curvature.hvp`'s result is.

    Raises:
        ValueError: for a leaf of ``params`` that is not floating-point.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxtrain.curvature import ggn
        >>> model = lambda w, x: x * w[0] * w[1]  # the lecture's ŷ = w₁w₂x
        >>> mse = lambda z, y: jnp.mean((z - y) ** 2)
        >>> G = ggn(model, mse, jnp.zeros(2), jnp.ones(1), jnp.ones(1))
        >>> print(G(jnp.array([1.0, 0.0])))  # at the saddle J = 0: G = 0, H = [[0, -2], [-2, 0]]
        [0. 0.]

    References:
        Schraudolph, "Fast curvature matrix-vector products for second-order gradient
        descent", Neural Computation 14 (2002).

        Martens, "New insights and perspectives on the natural gradient method", JMLR 2020,
        https://arxiv.org/abs/1412.1193
    """
    check_float_leaves(params, CURVATURE_FLOAT_ONLY, complex_ok=False)
    outputs_fn = Partial(_model_outputs, check_callable(model_fn), inputs)
    output_loss = Partial(_loss_of_outputs, check_callable(loss_fn), targets)
    return GaussNewtonProduct(outputs_fn, output_loss, params).linearize()


def _example_losses(loss_fn: Any, data: tuple[Any, ...], params: Any) -> jax.Array:
    # Each example as a batch of one: a mean-reduced batch loss is then its per-example loss.
    def one(*example):
        batch = jax.tree.map(lambda leaf: jnp.expand_dims(leaf, 0), example)
        return loss_fn(params, *batch)

    return jax.vmap(one)(*data)


def _half_mean_square(z: jax.Array) -> jax.Array:
    # ∇² of ½·mean(z²) is I/N, so Jᵀ(I/N)J = (1/N) Σᵢ gᵢgᵢᵀ with J's rows the gᵢ.
    return 0.5 * jnp.mean(z**2)


def empirical_fisher(
    loss_fn: Callable[..., jax.Array], params: Any, *data: jax.Array
) -> GaussNewtonProduct:
    """Empirical Fisher product v ↦ (1/N) Σᵢ gᵢ (gᵢᵀv) over the N examples of ``data``.

    gᵢ = ∇Lᵢ(θ) is the gradient of example i's loss Lᵢ(θ) = ``loss_fn(params, *example_i)``,
    each example passed as a batch of one. F = (1/N) Σᵢ gᵢgᵢᵀ ⪰ 0 is what Adam's second moment
    and K-FAC's "empirical" variant approximate; unlike the true Fisher it uses the observed
    labels, and it equals neither H nor G in general (Kunstner et al. 2019). The product is a
    JVP (the N numbers gᵢᵀv at once) and a VJP, never the N × n matrix of gradients: F is the
    Gauss–Newton matrix of z = (L₁..L_N) under ℓ(z) = ½·mean(z²).

    Args:
        loss_fn: ``loss_fn(params, *batch) -> scalar``, the mean loss of a batch, as for
            :func:`~jaxtrain.curvature.hvp`. Examples must not interact (no BatchNorm in
            training mode): each is evaluated alone.
        params: the point θ.
        *data: arrays (or pytrees of arrays) sharing their leading (example) dimension N.

    Returns:
        A linearized :class:`GaussNewtonProduct`, usable wherever
        :func:`~jaxtrain.curvature.hvp`'s result is.

    Raises:
        ValueError: without data, with no examples (N = 0: F would be 0/0), when the
            arrays' leading dimensions differ, or for a leaf of ``params`` that is not
            floating-point.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxtrain.curvature import empirical_fisher
        >>> mse = lambda w, x, y: jnp.mean((x * w - y) ** 2)
        >>> F = empirical_fisher(mse, jnp.asarray(0.0), jnp.array([1.0, 2.0]), jnp.ones(2))
        >>> print(F(jnp.asarray(1.0)))  # gᵢ = 2xᵢ(xᵢw − yᵢ) = −2, −4: F = (4 + 16)/2
        10.0

    References:
        Kunstner, Balles, Hennig, "Limitations of the empirical Fisher approximation for
        natural gradient descent", NeurIPS 2019, https://arxiv.org/abs/1905.12558
    """
    check_float_leaves(params, CURVATURE_FLOAT_ONLY, complex_ok=False)
    leaves = jax.tree.leaves(data)
    if not leaves:
        raise ValueError("empirical_fisher needs data: pass the examples after params")
    sizes = {jnp.shape(leaf)[0] if jnp.ndim(leaf) else None for leaf in leaves}
    if len(sizes) != 1 or None in sizes:
        raise ValueError(
            "data: every array needs the same leading (example) dimension, got shapes "
            f"{[jnp.shape(leaf) for leaf in leaves]}"
        )
    if sizes == {0}:
        raise ValueError(
            "data holds no examples (leading dimension 0): F = (1/N) Σ gᵢgᵢᵀ needs N ≥ 1"
        )
    outputs_fn = Partial(_example_losses, check_callable(loss_fn), tuple(data))
    return GaussNewtonProduct(outputs_fn, Partial(_half_mean_square), params).linearize()
