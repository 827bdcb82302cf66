"""Shared plumbing for the curvature algorithms: precision, callables as pytrees, flat vectors.

Three decisions live here so every entry point makes them the same way:

- Matrix products run at ``precision=HIGHEST``. ``jax.default_matmul_precision`` is read when
  a ``dot_general`` is *traced*, so tracing the user's loss inside :func:`highest_precision`
  fixes HIGHEST in the jaxpr for good, including inside linearized and transposed functions.
- Functions handed to a jitted algorithm are traced at each call and travel as pytrees
  (:func:`as_pytree_callable`), not as static arguments: arrays they close over become
  arguments instead of baked-in constants, so the same function with new arrays reuses the
  compilation (a new function object compiles anew, as for ``jax.jit``), and a changed
  closure is never missed.
- The algorithms work on one flat vector (``ravel_pytree``); only results go back to pytrees.
  The vector is float32 at least (:func:`jaxtrain._dtypes.working_dtype`): half-precision
  parameters are evaluated in their own dtype, but a Lanczos basis, its norms and the small
  eigenproblems need float32 (float16 squares overflow past 65,504; XLA has no half eigh).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax
from jax.flatten_util import ravel_pytree

from jaxtrain._dtypes import working_dtype
from jaxtrain._hoisted import hoisted

HIGHEST = lax.Precision.HIGHEST


@contextlib.contextmanager
def highest_precision() -> Iterator[None]:
    """Traces everything inside at ``precision=HIGHEST`` (no bfloat16/TF32 passes)."""
    with jax.default_matmul_precision("highest"):
        yield


def flat_space(like: Any) -> jax.ShapeDtypeStruct:
    """The flat vector space of ``like``: the shape of ``ravel_pytree(like)[0]``, and its dtype
    promoted to the working dtype (float32 at least), the one the algorithms compute in.

    Found by tracing alone: flattening for real would copy every parameter, through four or
    so small compiled programs (reshapes and a concatenation), just to read a size.
    """
    flat = jax.eval_shape(lambda tree: ravel_pytree(tree)[0], like)
    if not jnp.issubdtype(flat.dtype, jnp.floating):
        return flat
    return jax.ShapeDtypeStruct(flat.shape, working_dtype(flat.dtype))


class PytreeOperator:
    """Base of jaxtrain's own curvature products (H, the Gauss–Newton matrix, their blocks).

    Each reads its functions once, when it is built (:func:`as_pytree_callable` with the
    arguments they take), so it is a pytree of arrays whose static part compares by what its
    functions compute; the algorithms take it as it is.
    """


def as_pytree_callable(fn: Callable[..., Any], *calls: tuple[Any, ...]) -> Any:
    """``fn`` as a pytree that compiled code takes as an ordinary argument, read now.

    A function (plain, a ``Partial``, a callable module) is traced at each call signature in
    ``calls``, at ``precision=HIGHEST`` (:func:`jaxtrain._hoisted.hoisted`): the arrays it
    closes over become the pytree's leaves, and it compares by itself and its jaxpr. So the
    same function with new arrays reuses the compilation, and what it closes over is never
    the first call's forever. A :class:`PytreeOperator` or a function hoisted already is
    returned as it is.

    Args:
        fn: the callable.
        *calls: the arguments it will be called with, one tuple per signature (arrays or
            ``jax.ShapeDtypeStruct``); ``()`` for none.
    """
    check_callable(fn)
    if isinstance(fn, PytreeOperator):
        return fn
    with highest_precision():
        return hoisted(fn, *calls)


def check_callable(fn: Any) -> Any:
    """``fn`` when it is callable; a ``TypeError`` naming its type otherwise."""
    if not callable(fn):
        raise TypeError(f"expected a callable, got {type(fn).__name__}")
    return fn


def value_and_gradient(loss_fn: Callable[[Any], Any], params: Any) -> tuple[jax.Array, Any]:
    """``(L(θ), ∇L(θ))`` in one compiled program.

    Run eagerly, ``jax.value_and_grad`` compiles each operation of the forward and backward
    pass on its own; here they compile once, and ``loss_fn`` passes as a pytree
    (:func:`as_pytree_callable`), so a model's losses on new data of the same shapes reuse it.
    """
    return _value_and_grad_program(as_pytree_callable(loss_fn, (params,)), params)


@jax.jit
def _value_and_grad_program(loss_fn: Any, params: Any) -> tuple[jax.Array, Any]:
    return jax.value_and_grad(loss_fn)(params)


def linearized(matvec: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Returns a version of ``matvec`` that does its vector-independent work only once.

    Objects with a ``linearize()`` method (the Hessian-vector product of :func:`hvp`) run
    their forward pass here, in the caller's trace, so a loop calling the result repeats only
    the linear part. Any other callable is returned unchanged.
    """
    linearize = getattr(matvec, "linearize", None)
    return linearize() if callable(linearize) else matvec


def unflatten_like(flat: jax.Array, like: Any) -> Any:
    """``flat`` cut into ``like``'s leaves, each given its leaf's shape and dtype: what
    ``ravel_pytree(like)[1](flat)`` returns, without building that closure.

    Traceable. ``like``'s leaves may be arrays or :class:`jax.ShapeDtypeStruct`\\ s, so a
    layout kept as static, hashable data (a treedef and the leaves' shapes and dtypes) turns a
    flat vector back into a pytree inside a compiled program, where ``ravel_pytree`` would
    hand out a new ``unravel`` function per call. ``jaxtrain._host_tree.host_unflat`` is the
    host-side twin.

    Example:
      >>> import jax.numpy as jnp
      >>> unflatten_like(jnp.arange(3.0), {"b": jnp.zeros(1), "w": jnp.zeros((1, 2))})
      {'b': Array([0.], dtype=float32), 'w': Array([[1., 2.]], dtype=float32)}
    """
    leaves, treedef = jax.tree.flatten(like)
    parts, start = [], 0
    for leaf in leaves:
        shape = tuple(leaf.shape)
        size = math.prod(shape)
        parts.append(flat[start : start + size].reshape(shape).astype(leaf.dtype))
        start += size
    return treedef.unflatten(parts)


def flat_operator(
    matvec: Callable[[Any], Any], like: Any
) -> tuple[Callable[[jax.Array], jax.Array], jax.Array, Callable[[jax.Array], Any]]:
    """``matvec`` on pytrees turned into a function on flat vectors.

    Returns ``(flat_matvec, flat_like, unravel)``: ``flat_like`` is ``like`` flattened, in the
    working dtype (float32 for half-precision leaves; see :func:`flat_space`), which fixes the
    size and dtype of the vectors; ``flat_matvec`` casts to the leaves' dtypes on the way in
    and back on the way out, and so does ``unravel``.
    """
    flat_params, unravel_params = ravel_pytree(like)
    if flat_params.size == 0:
        raise ValueError("`like` has no array leaves: there is no vector space to work in")
    if not jnp.issubdtype(flat_params.dtype, jnp.floating):
        raise ValueError(f"`like` must hold floating-point leaves, got {flat_params.dtype}")
    flat_like = flat_params.astype(working_dtype(flat_params.dtype))

    def unravel(x: jax.Array) -> Any:
        return unravel_params(x.astype(flat_params.dtype))

    def flat_matvec(x: jax.Array) -> jax.Array:
        out = ravel_pytree(matvec(unravel(x)))[0]
        if out.shape != x.shape:
            raise ValueError(
                f"matvec returned {out.shape[0]} numbers for a vector of {x.shape[0]}:"
                " it must map a pytree like `like` to a pytree of the same structure"
            )
        return out.astype(x.dtype)

    return flat_matvec, flat_like, unravel


def dot(a: jax.Array, b: jax.Array) -> jax.Array:
    """``a @ b`` at HIGHEST precision."""
    return jnp.matmul(a, b, precision=HIGHEST)


def random_unit_vector(key: jax.Array, n: int, dtype: Any) -> jax.Array:
    """A Gaussian vector scaled to unit Euclidean norm."""
    v = jax.random.normal(key, (n,), dtype)
    return v / jnp.linalg.norm(v)


def check_key(key: Any) -> jax.Array:
    """Fails clearly when ``key`` is not a ``jax.random`` key."""
    if key is None:
        raise ValueError("a PRNG key is required: pass key=jax.random.key(0) (or PRNGKey)")
    key = jnp.asarray(key) if not isinstance(key, jax.Array) else key
    if not (jnp.issubdtype(key.dtype, jax.dtypes.prng_key) or key.shape == (2,)):
        raise ValueError(f"`key` must be a jax.random key, got shape {key.shape}")
    return key
