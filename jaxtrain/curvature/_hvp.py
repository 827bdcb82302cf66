"""Hessian-vector products: curvature of any size without ever forming the Hessian."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from jax.tree_util import Partial, register_pytree_node_class

from jaxtrain._dtypes import check_float_leaves
from jaxtrain.curvature._operators import PytreeOperator, as_pytree_callable, highest_precision

__all__ = ["HessianVectorProduct", "hvp"]

# J = ∂z/∂θ and H have no row or column for an integer or boolean leaf; for a complex leaf
# JAX's product is conj(Hv), not the Hessian of its real and imaginary parts.
CURVATURE_FLOAT_ONLY = (
    "curvature is taken with respect to real floating-point parameters only (keep counters "
    "and integer state out of params; split a complex parameter into its real and imaginary "
    "parts)"
)


@register_pytree_node_class
class HessianVectorProduct(PytreeOperator):
    """The map v ↦ Hv for the Hessian H = ∇²L(θ) of ``loss_fn`` at ``params``.

    Built by :func:`hvp`. It is callable on pytrees shaped like ``params`` and is itself a
    pytree (leaves: the loss function's own arrays, ``params``, ``args`` and, once linearized,
    the residuals of the linearization), so it can be passed to ``jax.jit``-compiled code as
    an ordinary argument: new parameters or new data of the same shapes reuse the compiled
    program instead of retracing it.

    :func:`hvp` linearizes the gradient at ``params`` once (one forward and backward pass);
    every call, and every jaxtrain algorithm the product is handed to, repeats only the
    linear part. A product built without a linearization (``HessianVectorProduct(loss,
    params, args)``) differentiates from scratch on each direct call, and the algorithms
    linearize it once inside their own compiled program.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxtrain.curvature import hvp
        >>> matvec = hvp(lambda w: jnp.sum(w**3), jnp.array([1.0, 2.0]))
        >>> print(matvec(jnp.array([1.0, 1.0])))  # H = diag(6w)
        [ 6. 12.]
    """

    def __init__(
        self,
        loss_fn: Callable[..., jax.Array],
        params: Any,
        args: tuple[Any, ...] = (),
        *,
        linear: Callable[[Any], Any] | None = None,
    ):
        # Read now, at the point's signature: what the loss closes over is this call's.
        self.loss_fn = as_pytree_callable(loss_fn, (params, *args))
        self.params = params
        self.args = tuple(args)
        self._linear = linear

    def _grad(self, params: Any) -> Any:
        return jax.grad(self.loss_fn)(params, *self.args)

    def linearize(self) -> HessianVectorProduct:
        """Runs the forward and backward pass once; the result repeats only the linear part.

        Forward-over-reverse: ``jax.linearize(jax.grad(L), θ)`` keeps the residuals of
        ∇L at θ, and the returned object evaluates the Jacobian of ∇L, which is H, on any v.

        Returns:
            A :class:`HessianVectorProduct` at the same point that reuses the linearization
            (this product itself when it is linearized already).
        """
        if self._linear is not None:
            return self
        with highest_precision():
            if any(np.size(leaf) == 0 for leaf in jax.tree.leaves(self.params)):
                # Under jit, jax 0.7's linearize leaks a parameter leaf with no entries as a
                # tracer in the linear map; outside jit it does not, and such a leaf adds no
                # work worth compiling for.
                linear = jax.linearize(self._grad, self.params)[1]
            else:
                linear = _linearize_program(self)
        return self.tree_unflatten(None, (self.loss_fn, self.params, self.args, linear))

    def __call__(self, v: Any) -> Any:
        """Returns Hv, a pytree like ``params``, for a tangent ``v`` like ``params``."""
        if self._linear is not None:
            return _apply_linear(self._linear, v)
        with highest_precision():
            return jax.jvp(self._grad, (self.params,), (v,))[1]

    def tree_flatten(self) -> tuple[tuple[Any, ...], None]:
        """Children: the loss (as a ``Partial``), ``params``, ``args`` and the linearization.

        The linearization is a ``Partial`` of the linear map over its residuals (or
        ``None``): carried as a child, its residuals reach jitted algorithms as arguments, so
        they reuse the forward pass :func:`hvp` already ran instead of running it again.
        """
        return (self.loss_fn, self.params, self.args, self._linear), None

    @classmethod
    def tree_unflatten(cls, aux: None, children: tuple[Any, ...]) -> HessianVectorProduct:
        """Rebuilds the product, with its linearization if it had one.

        Its loss is the one read when the product was built; the leaves may be tracers.
        """
        del aux
        product = object.__new__(cls)
        product.loss_fn, product.params, product.args, product._linear = children
        return product


@jax.jit
def _linearize_program(product: HessianVectorProduct) -> Partial:
    # Compiled, the forward and backward pass run as one program instead of one dispatch per
    # primitive. The linear map comes back as a ``Partial`` whose leaves are the residuals and
    # whose function is the linear jaxpr, the same object on every cache hit, so the jitted
    # products below reuse their compilation too.
    return jax.linearize(product._grad, product.params)[1]


@jax.jit
def _apply_linear(linear: Partial, v: Any) -> Any:
    # ``jax.linearize`` returns a ``Partial`` whose leaves are the residuals: jitting the call
    # runs the linear jaxpr as one program instead of one dispatch per primitive.
    return linear(v)


def hvp(loss_fn: Callable[..., jax.Array], params: Any, *args: Any) -> HessianVectorProduct:
    """Hessian-vector product of ``loss_fn`` at ``params``: a function v ↦ Hv on pytrees.

    The Hessian H = ∇²L(θ) is never formed. Forward-mode differentiation of the gradient
    (forward-over-reverse) gives Hv = d/dε ∇L(θ + εv) at ε = 0 for about the cost of two
    gradients. The gradient is linearized once here (``jax.linearize(jax.grad(L), θ)``) and
    every later product, in a call or inside an algorithm of this package, reuses it. Matrix
    products are traced at ``precision=HIGHEST``.

    θ is ``params``; L(θ) = ``loss_fn(params, *args)``; v is the argument of the returned
    function and must have the structure, shapes and dtypes of ``params``.

    Args:
        loss_fn: ``loss_fn(params, *args) -> scalar``, differentiable in ``params``.
        params: the point θ, any pytree of floating-point arrays.
        *args: further arguments of ``loss_fn`` (data), held fixed.

    Returns:
        A :class:`HessianVectorProduct`: call it on v to get Hv. It is a pytree, so jitted
        functions (:func:`~jaxtrain.curvature.eigenvalues`, ...) take it as an argument.

    Raises:
        ValueError: for a leaf of ``params`` that is not floating-point.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxtrain.curvature import hvp
        >>> loss = lambda w: (1.0 - w[0] * w[1]) ** 2  # the lecture's ŷ = w₁w₂x, x = y = 1
        >>> matvec = hvp(loss, jnp.zeros(2))
        >>> print(matvec(jnp.array([1.0, 0.0])))  # first column of H = [[0, -2], [-2, 0]]
        [ 0. -2.]

    References:
        Pearlmutter, "Fast exact multiplication by the Hessian", Neural Computation 1994.
    """
    check_float_leaves(params, CURVATURE_FLOAT_ONLY, complex_ok=False)
    return HessianVectorProduct(loss_fn, params, args).linearize()
