"""A function as a jit argument that is read afresh at every call.

A jitted program that takes a function as an argument (a ``jax.tree_util.Partial``) is
cached by the function: a plain function is compared by identity, so what it closes over is
frozen into the first program compiled for it. A Python number changed since, or an NNX model
an optimizer updated in place, is not seen again. :func:`hoisted` traces the function at each
call and makes the arrays it closes over arguments of the program, so that new values of those
arrays reuse the compilation; the function compares by itself (identity, or its pytree
structure) *and* by what it computes now (its jaxpr), so a changed number compiles anew.

The jaxpr alone is not enough to tell two functions apart: its text prints a function held in
an equation (a custom derivative rule, a callback) with its address masked, so two functions
differing only there would share a program, and one would run the other's derivative.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend.core import ClosedJaxpr, jaxpr_as_fun
from jax.tree_util import Partial

__all__ = ["hoisted", "is_hoisted", "static_now"]


def _signature(args: tuple[Any, ...]) -> tuple[Any, ...]:
    leaves, tree = jax.tree.flatten(args)
    # jnp's readings take Python numbers too (a float leaf of θ), as tracing does.
    return tree, tuple((jnp.shape(leaf), str(jnp.result_type(leaf))) for leaf in leaves)


class _Traced:
    """``fn`` as jaxprs, one per argument signature it was traced at, with the arrays it
    closes over left out: they come as the first argument of a call, a list per signature.
    Equal when made from the same function (or one of the same pytree structure and the
    same function-valued leaves, a ``Partial`` of the same functions) whose jaxprs print the
    same now (their text holds the left-out arrays' shapes and dtypes, and every Python
    number baked in)."""

    def __init__(self, fn: Callable[..., Any], traces: Sequence[tuple[Any, Any, Any]]):
        self._traces = {
            signature: (place, jaxpr, out_tree)
            for place, (signature, jaxpr, out_tree) in enumerate(traces)
        }
        leaves, structure = jax.tree.flatten(fn)
        # Tagged: jaxlib 0.7's PyTreeDef refuses to be compared with a function. A pytree's
        # function-valued leaves (a Partial's function arguments) are in neither its
        # structure nor the text, so they are part of the key themselves.
        leaf = jax.tree_util.treedef_is_leaf(structure)
        functions = tuple(f for f in leaves if callable(f))
        self._key = (
            ("function", fn) if leaf else ("pytree", structure, functions),
            tuple((signature, str(jaxpr), out_tree) for signature, jaxpr, out_tree in traces),
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Traced) and self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __call__(self, constants: Sequence[list[Any]], *args: Any) -> Any:
        signature = _signature(args)
        if signature not in self._traces:
            raise TypeError(
                f"a function read at the arguments {list(self._traces)} was called with"
                f" {signature}: read it at every signature it is called with"
            )
        place, jaxpr, out_tree = self._traces[signature]
        outputs = jaxpr_as_fun(ClosedJaxpr(jaxpr, constants[place]))(*jax.tree.leaves(args))
        return jax.tree.unflatten(out_tree, outputs)


def _traced(fn: Callable[..., Any], calls: Sequence[tuple[Any, ...]]) -> tuple[_Traced, list[Any]]:
    """``fn`` traced at each call signature, and the arrays it closes over, a list per call."""
    traces, constants = [], []
    for args in calls:
        # A new function object each time: make_jaxpr keeps traces by the function's identity,
        # which would hand back the first call's values again.
        closed, out_shape = jax.make_jaxpr(lambda *a: fn(*a), return_shape=True)(*args)
        traces.append((_signature(args), closed.jaxpr, jax.tree.structure(out_shape)))
        constants.append(list(closed.consts))
    return _Traced(fn, traces), constants


def hoisted(fn: Callable[..., Any], *calls: tuple[Any, ...]) -> Partial:
    """``fn`` as a ``Partial`` whose leaves are the arrays it closes over now.

    Args:
      fn: any callable: a plain function, a ``Partial`` (whose function is compared by
        identity too, and may close over arrays of its own), a callable module. One
        :func:`hoisted` made already is returned as it is.
      *calls: the arguments it will be called with, one tuple per signature (arrays or
        ``jax.ShapeDtypeStruct``); it is traced once at each.

    Returns:
      A ``Partial`` computing ``fn`` at those signatures, equal (as a jit cache key) to
      another made from the same function computing the same, whatever values its
      closed-over arrays hold.
    """
    if is_hoisted(fn):
        return fn
    traced, constants = _traced(fn, calls)
    return Partial(traced, tuple(constants))


def is_hoisted(fn: Any) -> bool:
    """Whether ``fn`` came from :func:`hoisted` (its leaves may be tracers or placeholders:
    only its function is looked at)."""
    return isinstance(fn, Partial) and isinstance(fn.func, _Traced)


class _Static:
    """``fn`` as a static jit argument: equal to another while both come from the same
    function computing the same (its jaxprs) from the same arrays. It calls
    ``fn`` itself, and lends it its attributes (``__name__``)."""

    def __init__(self, fn: Callable[..., Any], calls: Sequence[tuple[Any, ...]]):
        self.fn = fn
        traced, self._constants = _traced(fn, calls)  # held: their ids stay theirs
        self._key = (traced, tuple(_identity(a) for arrays in self._constants for a in arrays))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["fn"], name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Static) and self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)


def _identity(array: Any) -> Any:
    """A JAX array by identity (it cannot change); anything else (a NumPy array's constant,
    which jax 0.7 makes anew at each trace) by value."""
    if isinstance(array, jax.Array):
        return id(array)
    value = np.asarray(array)
    return value.shape, str(value.dtype), value.tobytes()


def static_now(fn: Callable[..., Any], *calls: tuple[Any, ...]) -> Callable[..., Any]:
    """``fn`` as a static argument of ``jax.jit`` that is read now.

    A static function keys the compilation by identity, and what it closes over is baked into
    the program: called again after a number or an array it reads changed, the program of the
    first call runs. Here ``fn`` is traced at ``calls`` and keys the compilation by itself,
    its jaxprs and the arrays it closes over (JAX's by identity): unchanged, it shares the
    program; changed, it compiles anew. (For a hot loop whose arrays change at every call,
    :func:`hoisted` makes them arguments instead.)

    Args:
      fn: the function; one made here already is returned as it is.
      *calls: the arguments it will be called with, one tuple per signature.

    Returns:
      A callable calling ``fn``, hashable when ``fn`` is (an unhashable one, such as a
      dataclass instance with ``eq=True``, raises ``TypeError`` on hashing as before).
    """
    return fn if isinstance(fn, _Static) else _Static(fn, calls)
