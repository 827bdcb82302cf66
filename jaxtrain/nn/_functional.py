"""The functional model contract: any model as ``(apply, params, state)`` (DESIGN.md)."""

import collections
import inspect
import zlib
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen, nnx

Params = Any
State = Any
Apply = Callable[..., tuple[Any, State]]

# Keyword arguments by which Linen modules and plain functions are commonly told the mode;
# the value is what each means in training mode.
_TRAIN_FLAGS = {
    "train": True,
    "training": True,
    "use_running_average": False,
    "deterministic": False,
}


def functional(model: Any, variables: Any = None) -> tuple[Apply, Params, State]:
    r"""Turns a model into the pure triple ``(apply, params, state)``.

    Training, curvature and diagnosis code never holds a module: they call

    .. code-block:: python

        y, new_state = apply(params, state, x, train=True, rng=key)

    where θ = ``params`` are the trainable leaves (the only thing to differentiate and to give
    the optimizer) and ``state`` the non-trainable ones, such as BatchNorm's running μ̄ and σ̄²
    (``{}`` when there are none). ``train=True`` uses batch statistics and dropout and returns
    the moved running statistics in ``new_state``; ``train=False`` uses the running statistics,
    turns dropout off and returns ``state`` itself. ``rng`` (a ``jax.random`` key) draws the
    dropout masks.

    Accepted models:

    - an ``nnx.Module``: ``params`` are its ``nnx.Param`` values and ``state`` every other
      variable except its random-number streams, both as nested ``dict`` s of arrays with
      ``str`` keys (list indices become ``"0"``, ``"1"``, ...). ``train`` switches the module
      as ``module.train()`` / ``module.eval()`` do (``use_running_average`` and
      ``deterministic``). With ``rng`` every stream key of the module (``nnx.Dropout``'s) is
      replaced by a key folded from ``rng``; without it the module's stored keys are used, so
      the masks repeat from call to call. The module itself is never modified. An abstract
      module from ``nnx.eval_shape`` gives shape-only params and state, for ``jax.eval_shape``.
    - a Linen module with ``variables`` from ``module.init``: ``params`` is
      ``variables["params"]`` and ``state`` the other collections (``{"batch_stats": ...}``).
      The mode goes to ``__call__`` as ``train=`` / ``training=`` /
      ``use_running_average=`` / ``deterministic=`` (whichever it accepts) or, failing that,
      to the module's attribute of that name; ``rng`` goes to the ``"dropout"`` stream.
    - a plain function ``fn(params, x) -> y`` with its parameters as ``variables``:
      ``state`` is ``{}``. If ``fn`` accepts ``train`` or ``rng`` keywords it receives them.
    - an existing ``(apply, params, state)`` triple, returned unchanged.

    ``apply`` is jitted once (``train`` must be a Python ``bool``) and is pure: calling it
    inside ``jax.jit``, ``jax.grad``, ``jax.hessian`` (through ``params``), ``jax.vmap`` or
    ``lax.scan`` neither drops the statistics update nor retraces per call. The running
    statistics are returned through ``stop_gradient``, so they never carry gradients, and they
    are not in ``params``, so no optimizer step (weight decay included) can touch them.

    Args:
        model: an NNX module, a Linen module, a plain function, or a triple.
        variables: the Linen module's variables or the plain function's parameters; ``None``
            for an NNX module or a triple.

    Returns:
        ``(apply, params, state)``.

    Raises:
        ValueError: variables missing for a Linen module or a function, given for an NNX
            module or a triple, or without a ``"params"`` collection.
        TypeError: ``model`` is none of the accepted kinds.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from flax import nnx
        >>> from jaxtrain.nn import MLP, functional
        >>> model = MLP(4, 8, 3, depth=2, norm="batch", rngs=nnx.Rngs(0))
        >>> apply, params, state = functional(model)
        >>> x = jax.random.normal(jax.random.key(1), (32, 4))
        >>> y, new_state = apply(params, state, x, train=True)
        >>> print(y.shape, sorted(state["layers"]["0"]["norm"]))
        (32, 3) ['mean', 'var']
        >>> y_eval, same = apply(params, new_state, x, train=False)
        >>> same is new_state
        True
    """
    if _is_triple(model):
        if variables is not None:
            raise ValueError("an (apply, params, state) triple takes no variables")
        return model
    if isinstance(model, nnx.Module):
        if variables is not None:
            raise ValueError(
                "an NNX module carries its own variables; call functional(module) without them"
            )
        return _from_nnx(model)
    if isinstance(model, linen.Module):
        return _from_linen(model, variables)
    if callable(model):
        if variables is None:
            raise ValueError(
                "a plain function needs its parameters: functional(fn, params) for fn(params, x)"
            )
        return _from_function(model, variables)
    raise TypeError(
        "functional() takes an nnx.Module, a linen.Module with its variables, a function "
        f"fn(params, x) with its params, or an (apply, params, state) triple; got {type(model)}"
    )


def _is_triple(model: Any) -> bool:
    return isinstance(model, tuple) and len(model) == 3 and callable(model[0])


def _jit_apply(apply: Apply) -> Apply:
    """``apply`` compiled once per mode, with a clear error for a non-bool ``train``.

    In eval mode only ``y`` leaves the compiled function and the caller's own ``state`` object
    is handed back, so ``new_state is state`` holds outside ``jit`` as well as inside.
    """
    compiled_train = jax.jit(lambda p, s, x, rng: apply(p, s, x, train=True, rng=rng))
    compiled_eval = jax.jit(lambda p, s, x, rng: apply(p, s, x, train=False, rng=rng)[0])

    def checked(params: Params, state: State, x: Any, *, train: bool, rng: Any = None):
        if isinstance(train, np.bool_):
            train = bool(train)
        if not isinstance(train, bool):
            raise ValueError(f"train must be True or False, got {train!r}")
        if train:
            return compiled_train(params, state, x, rng)
        return compiled_eval(params, state, x, rng), state

    checked.__doc__ = apply.__doc__
    return checked


# ---------------------------------------------------------------------------- NNX modules


# Leaves of a flat NNX state that are no Variable: arrays and numbers a module keeps as plain
# data (``nnx.data(array)``, ``nnx.data(2.0)``, a bare array attribute), or their shapes under
# ``nnx.eval_shape``.
_RAW_LEAVES = (jax.Array, np.ndarray, np.generic, int, float, complex, jax.ShapeDtypeStruct)


def _value(variable: Any) -> Any:
    """A variable's raw value; also for abstract (``nnx.eval_shape``) modules' shape structs,
    and for plain array data, which is its own value."""
    if isinstance(variable, _RAW_LEAVES):
        return variable
    if hasattr(variable, "get_value"):  # flax ≥ 0.12
        return variable.get_value()
    return variable.value


def _replaced(variable: Any, value: Any) -> Any:
    """``variable`` holding ``value`` instead; plain array data is simply replaced."""
    return value if isinstance(variable, _RAW_LEAVES) else variable.replace(value)


def _to_tree(flat_state: list[tuple[tuple, Any]]) -> dict:
    """Nested ``dict`` with ``str`` keys from ``nnx.to_flat_state`` pairs."""
    tree: dict = {}
    for path, variable in flat_state:
        node = tree
        for key in path[:-1]:
            node = node.setdefault(str(key), {})
        node[str(path[-1])] = _value(variable)
    return tree


def _lookup(tree: Mapping, path: tuple) -> Any:
    node = tree
    for key in path:
        node = node[str(key)]
    return node


def _fill(template: list[tuple[tuple, Any]], tree: Mapping) -> nnx.State:
    """A fresh ``nnx.State`` shaped like ``template`` holding the arrays of ``tree``."""
    try:
        return nnx.from_flat_state(
            [(path, _replaced(var, _lookup(tree, path))) for path, var in template]
        )
    except (KeyError, TypeError) as error:
        raise ValueError(
            f"params/state do not match the model's structure (missing {error}); pass the "
            "trees that functional() returned, or ones of the same structure"
        ) from None


def _fresh_rng_state(template: list[tuple[tuple, Any]], rng: Any) -> nnx.State:
    """The module's random streams, reseeded from ``rng`` when one is given."""
    if rng is None:
        return nnx.from_flat_state([(path, var.replace(_value(var))) for path, var in template])
    rng = jnp.asarray(rng) if not isinstance(rng, jax.Array) else rng
    typed = jnp.issubdtype(rng.dtype, jax.dtypes.prng_key)
    flat = []
    for path, var in template:
        if isinstance(var, nnx.RngKey):
            # A stable per-stream integer (crc32, not hash(): hash() changes per process).
            stream_id = zlib.crc32("/".join(map(str, path)).encode()) & 0x7FFFFFFF
            key = jax.random.fold_in(rng, stream_id)
            stored_typed = jnp.issubdtype(_value(var).dtype, jax.dtypes.prng_key)
            if stored_typed and not typed:
                key = jax.random.wrap_key_data(key)
            elif typed and not stored_typed:
                key = jax.random.key_data(key)
            flat.append((path, var.replace(key)))
        else:  # the stream's counter restarts with the new key
            flat.append((path, var.replace(jnp.zeros_like(_value(var)))))
    return nnx.from_flat_state(flat)


def _from_nnx(module: nnx.Module) -> tuple[Apply, Params, State]:
    train_module, eval_module = nnx.clone(module), nnx.clone(module)
    train_module.train()
    eval_module.eval()
    graph_train, param_state, rng_state, rest_state = nnx.split(
        train_module, nnx.Param, nnx.RngState, ...
    )
    graph_eval = nnx.split(eval_module, nnx.Param, nnx.RngState, ...)[0]
    param_template = list(nnx.to_flat_state(param_state))
    rng_template = list(nnx.to_flat_state(rng_state))
    state_template = list(nnx.to_flat_state(rest_state))
    params = _to_tree(param_template)
    state = _to_tree(state_template)
    # The stored stream keys are values the apply reads when called without ``rng``: a module
    # with streams shares its apply only with modules holding the same keys (itself, again).
    key = ("nnx", graph_train, graph_eval, _stored_values(rng_template))
    apply = _shared_apply(
        key,
        lambda: _nnx_apply(
            graph_train,
            graph_eval,
            _shapes_only(param_template),
            rng_template,
            _shapes_only(state_template),
        ),
    )
    return apply, params, state


_SHARED_APPLIES: collections.OrderedDict[Any, Apply] = collections.OrderedDict()
_MAX_SHARED_APPLIES = 64


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _shared_apply(key: Any, make: Callable[[], Apply]) -> Apply:
    """The ``apply`` of ``key``, made once (the least recently used of 64 kept).

    What ``key`` names (one NNX architecture, one Linen module, one function) shares its
    apply, so that ``fit`` and ``jit``, which key their compilations on it, reuse them: one
    model built with several seeds, or the same model passed again, compiles once. The
    applies keep shapes, not a model's arrays. A key that cannot be hashed (a graph holding
    a list or dict attribute) gets an apply of its own.
    """
    if not _hashable(key):
        return make()
    apply = _SHARED_APPLIES.get(key)
    if apply is None:
        apply = _SHARED_APPLIES[key] = make()
        if len(_SHARED_APPLIES) > _MAX_SHARED_APPLIES:
            _SHARED_APPLIES.popitem(last=False)
    _SHARED_APPLIES.move_to_end(key)
    return apply


def _stored_values(template: list[tuple[tuple, Any]]) -> tuple:
    """The random streams' stored keys and counts, as hashable bytes."""

    def raw(value: Any) -> Any:
        if isinstance(value, jax.ShapeDtypeStruct):  # an abstract module (nnx.eval_shape)
            return (value.shape, str(value.dtype))
        if jnp.issubdtype(jnp.result_type(value), jax.dtypes.prng_key):
            return np.asarray(jax.random.key_data(value)).tobytes()
        return np.asarray(value).tobytes()

    return tuple((path, raw(_value(var))) for path, var in template)


def _shapes_only(template: list[tuple[tuple, Any]]) -> list[tuple[tuple, Any]]:
    shape_of = lambda value: jax.ShapeDtypeStruct(jnp.shape(value), jnp.result_type(value))  # noqa: E731
    return [(path, _replaced(var, shape_of(_value(var)))) for path, var in template]


def _nnx_apply(
    graph_train: Any,
    graph_eval: Any,
    param_template: list[tuple[tuple, Any]],
    rng_template: list[tuple[tuple, Any]],
    state_template: list[tuple[tuple, Any]],
) -> Apply:
    def apply(params: Params, state: State, x: Any, *, train: bool, rng: Any = None):
        """``(y, new_state)`` of the NNX module at ``params`` and ``state``."""
        graphdef = graph_train if train else graph_eval
        # Fresh Variables every trace: nothing captured here is ever mutated by the module.
        model = nnx.merge(
            graphdef,
            _fill(param_template, params),
            _fresh_rng_state(rng_template, rng),
            _fill(state_template, state),
            copy=True,
        )
        y = model(x)
        if not train:
            return y, state
        updated = dict(nnx.to_flat_state(nnx.split(model, nnx.Param, nnx.RngState, ...)[3]))
        new_state = _to_tree([(path, updated[path]) for path, _ in state_template])
        return y, jax.lax.stop_gradient(new_state)

    return _jit_apply(apply)


# ---------------------------------------------------------------------------- Linen modules


def _mode_kwargs(fn: Callable, train: bool) -> dict[str, bool]:
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return {}
    return {
        name: (train if train_value else not train)
        for name, train_value in _TRAIN_FLAGS.items()
        if name in parameters
    }


def _linen_for_mode(module: linen.Module, train: bool) -> tuple[linen.Module, dict[str, bool]]:
    """The module (possibly cloned with its mode attribute set) and the call's mode keywords."""
    call_kwargs = _mode_kwargs(type(module).__call__, train)
    if call_kwargs:
        return module, call_kwargs
    attributes = {
        name: (train if train_value else not train)
        for name, train_value in _TRAIN_FLAGS.items()
        if name in getattr(module, "__dataclass_fields__", {})
    }
    return (module.clone(**attributes) if attributes else module), {}


def _from_linen(module: linen.Module, variables: Any) -> tuple[Apply, Params, State]:
    if variables is None:
        raise ValueError(
            "a Linen module needs its variables: functional(module, module.init(key, x))"
        )
    variables = dict(variables)
    if "params" not in variables:
        raise ValueError(
            f"Linen variables need a 'params' collection, got collections {sorted(variables)}"
        )
    params = variables["params"]
    state = {name: value for name, value in variables.items() if name != "params"}
    modes = {train: _linen_for_mode(module, train) for train in (True, False)}

    def apply(params: Params, state: State, x: Any, *, train: bool, rng: Any = None):
        """``(y, new_state)`` of the Linen module at ``params`` and ``state``."""
        mode_module, kwargs = modes[train]
        rngs = {"dropout": rng} if rng is not None else None
        variables = {"params": params, **state}
        if not train or not state:
            return mode_module.apply(variables, x, rngs=rngs, **kwargs), state
        y, updates = mode_module.apply(variables, x, rngs=rngs, mutable=list(state), **kwargs)
        new_state = {name: updates.get(name, value) for name, value in state.items()}
        return y, jax.lax.stop_gradient(new_state)

    return _shared_apply(("linen", module), lambda: _jit_apply(apply)), params, state


# ---------------------------------------------------------------------------- plain functions


def _from_function(fn: Callable, params: Params) -> tuple[Apply, Params, State]:
    try:
        accepted = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        accepted = {}

    def apply(params: Params, state: State, x: Any, *, train: bool, rng: Any = None):
        """``(fn(params, x), state)``."""
        kwargs = {}
        if "train" in accepted:
            kwargs["train"] = train
        if "rng" in accepted:
            kwargs["rng"] = rng
        return fn(params, x, **kwargs), state

    return _shared_apply(("function", fn), lambda: _jit_apply(apply)), params, {}
