"""A plain function as a jit argument that is read afresh at every call.

A jitted program that takes a function as an argument (a ``jax.tree_util.Partial``) is
cached by the function: a plain function is compared by identity, so what it closes over is
frozen into the first program compiled for it. A Python number changed since, or an NNX model
an optimizer updated in place, is not seen again. :func:`hoisted` traces the function at each
call, makes the arrays it closes over arguments of the program and compares the function by
what it computes (its jaxpr), so that new values of those arrays reuse the compilation and a
changed number or a changed computation compiles anew.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax.extend.core import ClosedJaxpr, jaxpr_as_fun
from jax.tree_util import Partial

__all__ = ["hoisted"]


def _signature(args: tuple[Any, ...]) -> tuple[Any, ...]:
    leaves, tree = jax.tree.flatten(args)
    # jnp's readings take Python numbers too (a float leaf of θ), as tracing does.
    return tree, tuple((jnp.shape(leaf), str(jnp.result_type(leaf))) for leaf in leaves)


class _Traced:
    """``fn`` as jaxprs, one per argument signature it was traced at, with the arrays it
    closes over left out: they come as the first argument of a call, a list per signature.
    Equal when the jaxprs are (their text holds those arrays' shapes and dtypes too)."""

    def __init__(self, traces: Sequence[tuple[Any, Any, Any]]):
        self._traces = {
            signature: (place, jaxpr, out_tree)
            for place, (signature, jaxpr, out_tree) in enumerate(traces)
        }
        self._key = tuple(
            (signature, str(jaxpr), out_tree) for signature, jaxpr, out_tree in traces
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Traced) and self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __call__(self, constants: Sequence[list[Any]], *args: Any) -> Any:
        place, jaxpr, out_tree = self._traces[_signature(args)]
        outputs = jaxpr_as_fun(ClosedJaxpr(jaxpr, constants[place]))(*jax.tree.leaves(args))
        return jax.tree.unflatten(out_tree, outputs)


def hoisted(fn: Callable[..., Any], *calls: tuple[Any, ...]) -> Partial:
    """``fn`` as a ``Partial`` whose leaves are the arrays it closes over now.

    Args:
      fn: the function; a ``Partial`` is returned as it is (its leaves are arguments already).
      *calls: the arguments it will be called with, one tuple per signature (arrays or
        ``jax.ShapeDtypeStruct``); it is traced once at each.

    Returns:
      A ``Partial`` computing ``fn`` at those signatures, equal to another made from a
      function that computes the same (as a jit cache key), whatever values its closed-over
      arrays hold.
    """
    if not jax.tree_util.treedef_is_leaf(jax.tree.structure(fn)):
        return fn
    traces, constants = [], []
    for args in calls:
        # A new function object each time: make_jaxpr keeps traces by the function's identity,
        # which would hand back the first call's values again.
        closed, out_shape = jax.make_jaxpr(lambda *a: fn(*a), return_shape=True)(*args)
        traces.append((_signature(args), closed.jaxpr, jax.tree.structure(out_shape)))
        constants.append(list(closed.consts))
    return Partial(_Traced(traces), tuple(constants))
