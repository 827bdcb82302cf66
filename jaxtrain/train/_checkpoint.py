"""Checkpoints with orbax: whole training states, written atomically, verified when read back.

A checkpoint is a step directory ``<checkpoint_dir>/<step>/`` written by orbax, which writes
into a temporary directory and renames it when complete, so a run killed mid-save leaves the
previous checkpoint intact and no half-written one that could be loaded. Items:

- ``params``, ``model_state``, ``opt_state``, ``monitor_state``: the leaves of each tree, in
  pytree order (``monitor_state``: the states of ``jaxtrain.monitor`` monitors); a typed
  random key (``jax.random.key``, as ``optax.add_noise`` keeps in its state) as its raw data,
  its implementation being in the fingerprint;
- ``extras``: the step and the raw data of the run's random key;
- ``meta`` (JSON): the fingerprint of every tree (each leaf's path, shape and dtype, and the
  type names of the nodes above it, so that Adam's state is not read as AdaBelief's), the key
  implementation, the training configuration that ``fit(..., resume=True)`` must match;
- ``history`` (JSON): the :class:`History` so far;
- ``metadata`` (JSON): whatever the caller passes, e.g. the model spec of a command line so
  that ``jaxtrain hessian CHECKPOINT`` can rebuild the model without the code that trained it.

Once orbax has committed a step, the SHA-256 of each of its files is recorded beside them
(``_checksums``) and checked before any is read back; a step without that record was not
completely saved. The directory itself is jaxtrain's only when its manifest says so, and a
writer holds its lock (``_checkpoint_dir``): jaxtrain deletes only steps it wrote.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pathlib
import re
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

from jaxtrain._regular_file import open_regular
from jaxtrain._text import listed
from jaxtrain.train._checkpoint_dir import CheckpointDirectory, run_identity
from jaxtrain.train._checks import check_positive_int
from jaxtrain.train._checksums import has_checksums, verify_checksums
from jaxtrain.train._errors import CheckpointCorruptError, CheckpointMismatchError
from jaxtrain.train._history import History
from jaxtrain.train._state import TrainState

__all__ = ["Checkpoint", "CheckpointWriter", "json_ready", "load_checkpoint", "save_checkpoint"]

# Format 2 added the checksums; format 1 steps (no checksums) are refused, not loaded
# unverified.
_FORMAT = "jaxtrain.checkpoint/2"
_PARTS = ("params", "model_state", "opt_state", "monitor_state")


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """What :func:`load_checkpoint` read back.

    Attributes:
      step: the training step the checkpoint was written at.
      params: θ, restored into the target's structure (or, with no target, as nested
        ``dict`` s when the saved tree was made of dicts only, as ``jaxtrain.nn.functional``
        makes them).
      model_state: the non-trainable model variables, likewise.
      opt_state: the optimizer state; only with a :class:`TrainState` target, else ``None``.
      state: the whole :class:`TrainState` (with the target's ``apply``) when the target was
        one, else ``None``.
      history: the :class:`History` saved with it, or ``None``.
      metadata: the caller's metadata dict (``{}`` when none was saved).
      config: the training configuration ``fit`` recorded (batch size, data size, seed...).

    Examples:
      >>> from jaxtrain.train import Checkpoint
      >>> sorted(f.name for f in __import__("dataclasses").fields(Checkpoint))[:3]
      ['config', 'history', 'metadata']
    """

    step: int
    params: Any
    model_state: Any
    opt_state: Any = None
    state: TrainState | None = None
    history: History | None = None
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)
    config: dict[str, Any] = dataclasses.field(default_factory=dict)


def _ocp():
    import orbax.checkpoint as ocp

    return ocp


def _path_entry(entry: Any) -> list[Any]:
    tu = jax.tree_util
    if isinstance(entry, tu.DictKey):
        return ["dict", str(entry.key)]
    if isinstance(entry, tu.SequenceKey):
        return ["index", int(entry.idx)]
    if isinstance(entry, tu.GetAttrKey):
        return ["attr", str(entry.name)]
    if isinstance(entry, tu.FlattenedIndexKey):
        return ["flat", int(entry.key)]
    return ["other", str(entry)]


def fingerprint(tree: Any) -> list[list[Any]]:
    """Every leaf's path (as ``[kind, key]`` entries), shape and dtype, in pytree order.

    A typed random key's dtype is its implementation, ``key<threefry2x32>``: NumPy has no
    dtype for it, and JAX's own name (``key<fry>``) is an abbreviation ``wrap_key_data`` does
    not take. Its shape is the key array's, without the key data's trailing dimensions.
    """
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return [
        [[_path_entry(e) for e in path], list(np.shape(leaf)), _dtype_name(leaf)]
        for path, leaf in leaves
    ]


def _is_key(leaf: Any) -> bool:
    return jax.dtypes.issubdtype(getattr(leaf, "dtype", None), jax.dtypes.prng_key)


def _dtype_name(leaf: Any) -> str:
    if _is_key(leaf):
        return f"key<{jax.random.key_impl(leaf)}>"
    return str(np.dtype(_dtype(leaf)))


def _key_impl_of(dtype_name: str) -> str | None:
    """The key implementation a fingerprint's dtype names, or ``None`` for an array dtype."""
    match = re.fullmatch(r"key<(.+)>", dtype_name)
    return match[1] if match else None


def _stored(leaf: Any) -> Any:
    """A leaf as orbax stores it: a typed key as its raw data (orbax has no key type)."""
    return jax.random.key_data(leaf) if _is_key(leaf) else leaf


def _stored_empty(shape: list[int], dtype_name: str) -> np.ndarray:
    """An uninitialized host array of the stored form of a leaf of this fingerprint."""
    impl = _key_impl_of(dtype_name)
    if impl is None:
        return np.empty(shape, dtype_name)
    data = jax.eval_shape(lambda: jax.random.key_data(jax.random.key(0, impl=impl)))
    return np.empty([*shape, *data.shape], data.dtype)


def _as_key(data: jax.Array, impl: Any, like: Any = None) -> jax.Array:
    """Restored key data as a typed key of ``impl``, on the devices of ``like`` if given."""
    key = jax.random.wrap_key_data(data, impl=impl)
    if getattr(like, "sharding", None) is not None:
        key = jax.device_put(key, like.sharding)
    return key


def _restored_leaf(data: Any, like: Any) -> Any:
    """A restored leaf as the target's leaf ``like`` is: a typed key of its implementation
    when it is one (the fingerprints matched, so the saved leaf was one of the same)."""
    return _as_key(data, jax.random.key_impl(like), like) if _is_key(like) else data


def node_types(tree: Any) -> list[list[str]]:
    """For every leaf, in pytree order, the type names of the nodes above it (outermost first).

    Two optimizers' states can have the same leaf paths, shapes and dtypes (Adam's and
    AdaBelief's are both ``count``, ``mu``, ``nu``); their node types tell them apart. Names
    only, not modules: jaxtrain's optimizers keep optax's state classes, and a class that
    moves between modules is still the same state.
    """

    def owners(treedef: Any, above: list[str]) -> list[list[str]]:
        node = treedef.node_data()
        if node is None:
            return [above]
        inside = [*above, node[0].__name__]
        return [chain for child in treedef.children() for chain in owners(child, inside)]

    return owners(jax.tree.structure(tree), [])


def structure_digest(state: TrainState) -> str:
    """A digest of what a run trains: the fingerprints and node types of its parameters,
    model state and optimizer state (not its monitors', which a resumed run may add or drop:
    see :func:`_monitor_sources`)."""
    parts = ("params", "model_state", "opt_state")
    described = [[fingerprint(getattr(state, p)), node_types(getattr(state, p))] for p in parts]
    return hashlib.sha256(json.dumps(described).encode()).hexdigest()


def _dtype(leaf: Any) -> Any:
    return getattr(leaf, "dtype", None) or np.asarray(leaf).dtype


def _path_text(path: list[list[Any]]) -> str:
    parts = []
    for kind, key in path:
        parts.append(f".{key}" if kind == "attr" else f"[{key!r}]")
    return "".join(parts) or "<root>"


def _differences(saved: list[list[Any]], current: list[list[Any]], limit: int = 5) -> list[str]:
    saved_by_path = {_path_text(p): (tuple(s), d) for p, s, d in saved}
    current_by_path = {_path_text(p): (tuple(s), d) for p, s, d in current}
    lines = []
    for path, (shape, dtype) in current_by_path.items():
        if path not in saved_by_path:
            lines.append(f"{path}: not in the checkpoint")
        elif saved_by_path[path] != (shape, dtype):
            old_shape, old_dtype = saved_by_path[path]
            old_impl, impl = _key_impl_of(old_dtype), _key_impl_of(dtype)
            if old_shape == shape and old_impl and impl:
                lines.append(
                    f"{path}: checkpoint has a random key of implementation {old_impl}, target "
                    f"{impl} (make it with jax.random.key(seed, impl=...) as when training)"
                )
                continue
            lines.append(
                f"{path}: checkpoint has {old_dtype}{list(old_shape)}, target {dtype}{list(shape)}"
            )
    lines.extend(
        f"{path}: in the checkpoint, not in the target"
        for path in saved_by_path
        if path not in current_by_path
    )
    if not lines and [p for p, _, _ in saved] != [p for p, _, _ in current]:
        lines.append("the leaves are the same but in a different order")
    return lines[:limit] + ([f"... {len(lines) - limit} more"] if len(lines) > limit else [])


def _type_differences(
    saved: list[list[Any]], saved_types: list[list[str]], current_types: list[list[str]]
) -> list[str]:
    """Where the leaves sit inside other node types (the paths being equal), the first one."""
    for (path, _, _), old, new in zip(saved, saved_types, current_types, strict=True):
        if old != new:
            (old_type, new_type), *_ = [(a, b) for a, b in zip(old, new, strict=False) if a != b]
            return [f"{_path_text(path)}: checkpoint has {old_type}, target {new_type}"]
    return []


def _check_fits(
    part: str,
    saved: list[list[Any]],
    saved_types: list[list[str]] | None,
    tree: Any,
    directory: Any,
    step: int,
) -> None:
    differences = _fit_differences(saved, saved_types, fingerprint(tree), node_types(tree))
    if not differences:
        return
    what = {
        "params": "model's parameters",
        "model_state": "model's state (BatchNorm statistics)",
        "opt_state": "optimizer's state",
    }[part]
    owner = "optimizer" if part == "opt_state" else "model"
    listed = "\n  ".join(differences)
    raise CheckpointMismatchError(
        f"the checkpoint {directory}/{step} does not fit the {what}: it was written for a "
        f"different {owner} structure. Nothing was loaded. Differences:\n  {listed}\n"
        f"Build the same {owner} as when training, or start a new checkpoint directory."
    )


def _fit_differences(
    saved: list[list[Any]],
    saved_types: list[list[str]] | None,
    current: list[list[Any]],
    current_types: list[list[str]],
) -> list[str]:
    """How a tree of fingerprint ``current`` differs from the saved one (none: it fits)."""
    differences = _differences(saved, current) if current != saved else []
    if not differences and saved_types is not None:
        differences = _type_differences(saved, saved_types, current_types)
    return differences


def _by_monitor(prints: list[list[Any]]) -> dict[tuple, list[int]]:
    """The positions of a monitor state's leaves (in pytree order), by the monitor each
    belongs to: the first entry of its path, ``("dict", "sharpness")``."""
    positions: dict[tuple, list[int]] = {}
    for position, (path, _, _) in enumerate(prints):
        positions.setdefault(tuple(path[0]) if path else (), []).append(position)
    return positions


def _monitor_names(monitor_state: Any) -> list[tuple]:
    """The target's monitors as :func:`_by_monitor` names them, stateless ones included (a
    ``()`` state has no leaf to name it)."""
    # One level down only: every node but the root is taken as a leaf.
    children = jax.tree_util.tree_flatten_with_path(
        monitor_state, is_leaf=lambda node: node is not monitor_state
    )[0]
    return [tuple(_path_entry(path[0])) if path else () for path, _ in children]


def _monitor_sources(
    saved: list[list[Any]],
    saved_types: list[list[str]] | None,
    monitor_state: Any,
    directory: Any,
    step: int,
) -> dict[int, int]:
    """Which saved leaf each leaf of the target's monitor state is restored from (positions
    in pytree order), monitor by monitor: a monitor in the target and the checkpoint
    resumes its state; one only in the target keeps its own (its ``init``); one only in the
    checkpoint is ignored.

    Raises:
      CheckpointMismatchError: a monitor in both whose state has another structure (leaf
        paths, shapes, dtypes, node types): restarting it would put measurements of two
        settings in one history column, so nothing is loaded.
    """
    saved_by_monitor = _by_monitor(saved)
    current, current_types = fingerprint(monitor_state), node_types(monitor_state)
    current_by_monitor = _by_monitor(current)
    sources: dict[int, int] = {}
    for name in _monitor_names(monitor_state):
        if name not in saved_by_monitor:
            continue
        old, new = saved_by_monitor[name], current_by_monitor.get(name, [])
        differences = _fit_differences(
            [saved[i] for i in old],
            None if saved_types is None else [saved_types[i] for i in old],
            [current[i] for i in new],
            [current_types[i] for i in new],
        )
        if differences:
            listed = "\n  ".join(differences)
            label = repr(name[1]) if name else "<root>"
            raise CheckpointMismatchError(
                f"the checkpoint {directory}/{step} does not fit monitor {label}: its state "
                f"there has another structure (the monitor had other settings, or another "
                f"jaxtrain wrote it). Nothing was loaded. Differences:\n  {listed}\nGive the "
                "monitor the settings it was trained with, resume once without it (a monitor "
                "only in the checkpoint is ignored, and one new to the run starts afresh), or "
                "start a new checkpoint directory."
            )
        sources.update(zip(new, old, strict=True))
    return sources


def _check_key_fits(saved_impl: Any, key: jax.Array, name: str) -> None:
    """Refuses a target whose random key is of another implementation than the saved one:
    their key data differ in shape, and orbax would report that as unreadable bytes."""
    current = str(jax.random.key_impl(key))
    if saved_impl is not None and saved_impl != current:
        raise CheckpointMismatchError(
            f"the checkpoint {name} holds a random key of implementation {saved_impl}, and the "
            f"target's key is {current}. Nothing was loaded. Make the target's key with "
            "jax.random.key(seed, impl=...) as when training."
        )


def _abstract(leaf: Any) -> Any:
    sharding = getattr(leaf, "sharding", None)
    return jax.ShapeDtypeStruct(np.shape(leaf), _dtype(leaf), sharding=sharding)


def _flat(tree: Any) -> dict[str, Any]:
    """The leaves of ``tree`` as orbax stores them (see :func:`_stored`), by position."""
    return {f"{i:06d}": _stored(leaf) for i, leaf in enumerate(jax.tree.leaves(tree))}


def as_path(directory: str | os.PathLike) -> Any:
    """A local directory as an absolute ``pathlib.Path``; a URL (``gs://...``) as an epath."""
    text = os.fspath(directory)
    if "://" in text:
        from etils import epath

        return epath.Path(text)
    return pathlib.Path(text).absolute()


def _checkpointer():
    # A plain Checkpointer, not a CheckpointManager: the manager deletes every numbered folder
    # beyond max_to_keep and every orbax temporary folder it finds, including other people's.
    ocp = _ocp()
    return ocp.Checkpointer(ocp.CompositeCheckpointHandler())


def _short(error: BaseException) -> str:
    """An orbax or TensorStore error as one short line (their messages embed whole specs)."""
    text = " ".join(str(error).split("[tensorstore_spec")[0].split())
    text = text or type(error).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def saved_steps(directory: Any) -> list[int]:
    """The steps of ``directory`` that jaxtrain saved completely, oldest first."""
    return sorted(
        int(p.name)
        for p in directory.iterdir()
        if re.fullmatch(r"[0-9]+", p.name) and p.is_dir() and has_checksums(p)
    )


def json_ready(value: Any, what: str) -> Any:
    """``value`` as it will load back from JSON; refused where it would not load as itself."""
    rule = "str, numbers, bools, None, lists, dicts with str keys; no NaN"
    # json.dumps writes an int or float key as a string: it would load back as another key.
    found = _non_string_key(value, what)
    if found is not None:
        key, where = found
        raise ValueError(
            f"{what} must be JSON-serializable ({rule}): key {key!r} "
            f"({type(key).__name__}) at {where}"
        )
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as error:
        raise ValueError(f"{what} must be JSON-serializable ({rule}): {error}") from None


def _non_string_key(value: Any, where: str) -> tuple[Any, str] | None:
    """The first dict key in ``value`` that is not a string, and where it is."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                return key, where
            found = _non_string_key(item, f"{where}[{key!r}]")
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = _non_string_key(item, f"{where}[{index}]")
            if found is not None:
                return found
    return None


class CheckpointWriter:
    """Writes training states to one directory (used by ``fit`` and :func:`save_checkpoint`).

    The directory is opened (checked, locked, its manifest read) on :meth:`open` or the first
    save, and released by :meth:`close`. ``keep`` checkpoints are kept (``None``: all);
    ``keep_name`` is the caller's name for that argument, for its error message.
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        *,
        keep: int | None = 3,
        keep_name: str = "keep_checkpoints",
    ):
        keep = check_positive_int(keep, keep_name, or_none=True)
        self.directory = as_path(directory)
        self._keep = keep
        self._owned = CheckpointDirectory(self.directory)
        self._claimed = False
        self._checkpointer = None

    def open(self) -> None:
        """Checks and locks the directory (see :class:`CheckpointDirectory`)."""
        if not self._owned.is_open:
            self._owned.open()

    def steps(self) -> list[int]:
        """The steps this run family saved completely, oldest first."""
        self.open()
        return self._owned.steps()

    def claim(self, state: TrainState, seed: int | None) -> None:
        """Makes the directory the run's of ``state`` (its key and the structure of its
        trees), unless it holds another run's steps."""
        self.open()
        self._owned.claim(run_identity(state.key, seed, structure_digest(state)))
        self._claimed = True

    def save(
        self,
        state: TrainState,
        *,
        history: History | None = None,
        metadata: Mapping[str, Any] | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> int:
        ocp = _ocp()
        metadata = json_ready(dict(metadata or {}), "metadata")
        config = json_ready(dict(config or {}), "config")
        step = int(jax.device_get(state.step))
        key = state.key
        meta = {
            "format": _FORMAT,
            "step": step,
            "fingerprint": {part: fingerprint(getattr(state, part)) for part in _PARTS},
            "node_types": {part: node_types(getattr(state, part)) for part in _PARTS},
            "key_impl": str(jax.random.key_impl(key)),
            "config": config,
        }
        items: dict[str, Any] = {
            "extras": ocp.args.StandardSave({"step": state.step, "key_data": _stored(key)}),
            "meta": ocp.args.JsonSave(meta),
            "metadata": ocp.args.JsonSave(metadata),
        }
        for part in _PARTS:
            flat = _flat(getattr(state, part))
            if flat:
                items[part] = ocp.args.StandardSave(flat)
        if history is not None:
            items["history"] = ocp.args.JsonSave(history.to_dict())
        if not self._claimed:
            self.claim(state, config.get("seed"))
        step_dir = self._owned.begin_save(step)
        try:
            if self._checkpointer is None:
                self._checkpointer = _checkpointer()
            self._checkpointer.save(step_dir, args=ocp.args.Composite(**items))
        except BaseException:
            self._owned.abort_save(step)
            raise
        self._owned.end_save(step, keep=self._keep)
        return step

    def close(self) -> None:
        """Releases the directory's lock."""
        if self._checkpointer is not None:
            self._checkpointer.close()
            self._checkpointer = None
        self._owned.close()


def save_checkpoint(
    directory: str | os.PathLike,
    state: TrainState,
    *,
    history: History | None = None,
    metadata: Mapping[str, Any] | None = None,
    keep: int | None = None,
) -> Any:
    """Saves a :class:`TrainState` (and optionally its history and metadata) with orbax.

    The checkpoint goes to ``directory/<step>/`` and is written atomically: orbax writes a
    temporary directory and renames it only when complete; then the SHA-256 of each of its
    files is recorded, and :func:`load_checkpoint` checks them before reading. Beside the
    arrays it stores a fingerprint of every tree (each leaf's path, shape, dtype and node
    types) so that :func:`load_checkpoint` can refuse a model or optimizer of another
    structure before reading anything, and ``metadata`` as JSON: what a tool needs to
    rebuild the model (a command line stores its model spec and data reference there).

    ``directory`` must be new, empty, or one jaxtrain made (it holds the manifest
    ``jaxtrain-checkpoints.json``, which names the run by its random key and the structure of
    its trees, and lists the steps it saved); the save holds the directory's lock. Only steps
    listed there are ever replaced or deleted: other folders in it are left alone.

    With several processes (``jax.distributed``) it is a collective: every process calls it
    at the same point, on the same directory (one every process reaches); called by process
    0 alone (``if jax.process_index() == 0:``), it waits for the others for good.

    Args:
      directory: the checkpoint directory (created if missing); other steps in it are kept.
      state: the state to save; a checkpoint of the same step is replaced.
      history: the run's :class:`History`, saved as JSON.
      metadata: a JSON-serializable dict saved beside the arrays.
      keep: keep only ``keep`` steps of this run in ``directory``: this one and the newest
        others (``None``: keep all).

    Returns:
      The step directory written (a ``pathlib.Path``; an ``etils.epath.Path`` for a URL
      such as ``gs://bucket/run``).

    Raises:
      ValueError: if ``metadata`` is not JSON-serializable.
      CheckpointDirectoryError: ``directory`` is a file, is not empty and not jaxtrain's,
        is locked by another writer, holds the steps of a run with another key or of another
        model or optimizer, or a folder of this step is in the way.

    Examples:
      >>> import tempfile, jax, jax.numpy as jnp, optax
      >>> from jaxtrain.train import TrainState, load_checkpoint, save_checkpoint
      >>> params = {"w": jnp.arange(3.0)}
      >>> state = TrainState(apply=None, params=params, model_state={},
      ...                    opt_state=optax.adam(0.1).init(params),
      ...                    step=jnp.int32(7), key=jax.random.key(0))
      >>> path = save_checkpoint(tempfile.mkdtemp(), state, metadata={"model": "linear"})
      >>> ckpt = load_checkpoint(path.parent)
      >>> print(ckpt.step, ckpt.params["w"].tolist(), ckpt.metadata)
      7 [0.0, 1.0, 2.0] {'model': 'linear'}
    """
    writer = CheckpointWriter(directory, keep=keep, keep_name="keep")
    try:
        step = writer.save(state, history=history, metadata=metadata)
    finally:
        writer.close()
    return writer.directory / str(step)


def _nested(entries: list[list[Any]], leaves: list[Any]) -> Any:
    """Rebuilds a tree of dicts from its leaves' paths, or ``None`` if it had other nodes."""
    if not entries:
        return {}
    root: dict[str, Any] = {}
    for (path, _, _), leaf in zip(entries, leaves, strict=True):
        if not path or any(kind != "dict" for kind, _ in path):
            return None
        node = root
        for _, key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1][1]] = leaf
    return root


def _chosen_step(path: Any, step: int | None) -> int:
    """The step to load: ``step``, or the newest complete one.

    Raises:
      FileNotFoundError: no complete checkpoint, or none of ``step``.
      ValueError: the step is of format 1, written before checksums (it cannot be verified).
    """
    steps = saved_steps(path)
    if step is None and steps:
        return steps[-1]
    if step is not None and step in steps:
        return step
    candidates = [step] if step is not None else _numbered(path)
    for candidate in candidates:
        if _format_of(path / str(candidate)) == "jaxtrain.checkpoint/1":
            raise ValueError(
                f"{path}/{candidate} was written by an earlier jaxtrain (format "
                "jaxtrain.checkpoint/1) without checksums, so it cannot be verified and is "
                "not loaded; train it again"
            )
    if step is None:
        raise FileNotFoundError(f"{path} holds no complete checkpoint")
    if (path / str(step)).is_dir():
        raise FileNotFoundError(
            f"{path}/{step} is not a complete jaxtrain checkpoint (its save was interrupted, or "
            f"another program wrote it); the complete ones are {listed(steps, 'step')}"
        )
    held = f"it has {listed(steps, 'step')}" if steps else "it holds no complete checkpoint"
    raise FileNotFoundError(f"{path} has no checkpoint of step {step}; {held}")


def _numbered(path: Any) -> list[int]:
    return sorted(int(p.name) for p in path.iterdir() if re.fullmatch(r"[0-9]+", p.name))


def _format_of(step_dir: Any) -> str | None:
    """The ``format`` of a step's ``meta`` item as orbax's JSON handler stores it, if any."""
    try:
        with open_regular(step_dir / "meta" / "metadata") as handle:
            return json.loads(handle.read()).get("format")
    except (OSError, ValueError, AttributeError):
        return None


def _restore(checkpointer: Any, step_dir: Any, args: dict[str, Any], name: str) -> Any:
    """orbax's restore of the items ``args``; its failures as one line.

    Raises:
      CheckpointCorruptError: orbax could not read a step whose checksums matched (an I/O
        error, a file it cannot parse).
    """
    try:
        return checkpointer.restore(step_dir, args=_ocp().args.Composite(**args))
    except Exception as error:  # TensorStore and orbax raise many types, with pages of text
        if jax.process_count() > 1:
            # Then the likelier cause is a process that did not join the restore, not the
            # files (their checksums matched): not to be called corrupt, or deleted as such.
            raise RuntimeError(
                f"cannot read the checkpoint {name}: {_short(error)} (with several processes, "
                "every process must load it, at the same point)"
            ) from None
        raise CheckpointCorruptError(
            f"cannot read the checkpoint {name}: {_short(error)}"
        ) from None


def _target_parts(target: Any) -> tuple[tuple[str, ...], dict[str, Any] | None]:
    """The parts of a checkpoint a ``target`` loads, and its trees for them (``None``: no
    target, the saved trees as nested dicts)."""
    if isinstance(target, TrainState):
        # The monitors' state is restored monitor by monitor (_monitor_sources).
        return _PARTS[:3], {p: getattr(target, p) for p in _PARTS[:3]}
    if isinstance(target, tuple) and len(target) == 3 and callable(target[0]):
        return _PARTS[:2], {"params": target[1], "model_state": target[2]}
    if target is None:
        return _PARTS[:2], None
    raise ValueError(
        "target must be a TrainState, a model triple (apply, params, state) or None; "
        f"got {type(target).__name__}"
    )


def _array_restore_args(
    parts: tuple[str, ...], prints: dict[str, Any], trees: dict[str, Any] | None, target: Any
) -> dict[str, Any]:
    """Orbax's restore arguments for the saved arrays: each part that holds any, shaped like
    the target's (as saved without one), and the extras (step and key)."""
    import orbax.checkpoint as ocp

    restore_args: dict[str, Any] = {}
    for part in parts:
        if not prints[part]:
            continue
        if trees is None:
            restore_args[part] = ocp.args.StandardRestore()
        else:
            abstract = {k: _abstract(v) for k, v in _flat(trees[part]).items()}
            restore_args[part] = ocp.args.StandardRestore(abstract)
    extras_target = None
    if isinstance(target, TrainState):
        extras_target = {
            "step": _abstract(target.step),
            "key_data": _abstract(_stored(target.key)),
        }
    restore_args["extras"] = ocp.args.StandardRestore(extras_target)
    return restore_args


def _monitor_restore_arg(saved: list[list[Any]], sources: dict[int, int], target: Any) -> Any:
    """Orbax's restore argument for the saved monitor state: every saved leaf, since orbax
    reads an item whole; those the target resumes shaped like the target's, the others (of
    monitors the run dropped) as host arrays, read and thrown away."""
    import orbax.checkpoint as ocp

    leaves = jax.tree.leaves(target)
    taken = {old: _abstract(_stored(leaves[new])) for new, old in sources.items()}
    # An uninitialized NumPy array restores on the host, whatever sharding it was saved with.
    abstract = {
        f"{i:06d}": taken[i] if i in taken else _stored_empty(shape, dtype)
        for i, (_, shape, dtype) in enumerate(saved)
    }
    return ocp.args.StandardRestore(abstract)


def _resumed_monitors(target: Any, sources: dict[int, int], arrays: dict[str, Any]) -> Any:
    """The target's monitor state with the leaves of ``sources`` replaced by the saved ones."""
    leaves = jax.tree.leaves(target)
    for new, old in sources.items():
        leaves[new] = _restored_leaf(arrays["monitor_state"][f"{old:06d}"], leaves[new])
    return jax.tree.unflatten(jax.tree.structure(target), leaves)


def _restored_tree(
    part: str, fingerprint: list[Any], arrays: dict[str, Any], trees: dict[str, Any] | None
) -> Any:
    """One restored part as a tree: the target's structure, or nested dicts without one;
    its keys typed again, of the target's implementation (or the saved one, without one)."""
    flat = arrays[part] if fingerprint else {}
    leaves = [flat[k] for k in sorted(flat)]
    if trees is not None:
        likes = jax.tree.leaves(trees[part])
        leaves = [_restored_leaf(leaf, like) for leaf, like in zip(leaves, likes, strict=True)]
        return jax.tree.unflatten(jax.tree.structure(trees[part]), leaves)
    impls = [_key_impl_of(dtype) for _, _, dtype in fingerprint]
    leaves = [
        leaf if impl is None else _as_key(leaf, impl)
        for leaf, impl in zip(leaves, impls, strict=True)
    ]
    tree = _nested(fingerprint, leaves)
    if tree is None:
        raise ValueError(
            f"the checkpoint's {part} is not a tree of dicts; pass a target (a "
            "TrainState or the model triple) to load it into"
        )
    return tree


def _step_of(directory: str | os.PathLike, step: int | None) -> tuple[Any, int]:
    """``(path, step)``: the directory as a path and the step to read (the newest by default).

    Raises:
      FileNotFoundError: no such directory, no complete checkpoint, or not ``step``.
    """
    path = as_path(directory)
    if not path.is_dir():
        raise FileNotFoundError(f"no checkpoint directory {path}")
    return path, _chosen_step(path, step)


def _read_json_items(checkpointer: Any, step_dir: Any, name: str, *, with_history: bool) -> dict:
    """The step's JSON items (``meta``, ``metadata``, and ``history`` where it was saved and
    asked for), after checking the step is a jaxtrain checkpoint.

    Raises:
      ValueError: ``meta`` is not a jaxtrain checkpoint's.
    """
    ocp = _ocp()
    items = {"meta": ocp.args.JsonRestore(), "metadata": ocp.args.JsonRestore()}
    if with_history and (step_dir / "history").exists():
        items["history"] = ocp.args.JsonRestore()
    info = _restore(checkpointer, step_dir, items, name)
    if dict(info["meta"]).get("format") != _FORMAT:
        raise ValueError(f"{name} is not a jaxtrain checkpoint")
    return info


def read_metadata(
    directory: str | os.PathLike, *, step: int | None = None
) -> tuple[int, dict[str, Any]]:
    """``(step, metadata)`` of a checkpoint, without reading its arrays: what a tool needs to
    rebuild the model before loading into it (the command line's model spec and data).

    The files read are checked against their checksums first, as :func:`load_checkpoint`
    checks them.

    Raises:
      FileNotFoundError, CheckpointCorruptError, ValueError: as :func:`load_checkpoint`.
    """
    path, step = _step_of(directory, step)
    name, step_dir = f"{path}/{step}", path / str(step)
    verify_checksums(step_dir, {"meta", "metadata"}, name=name)
    checkpointer = _checkpointer()
    try:
        info = _read_json_items(checkpointer, step_dir, name, with_history=False)
    finally:
        checkpointer.close()
    return step, dict(info["metadata"] or {})


def load_checkpoint(
    directory: str | os.PathLike, target: Any = None, *, step: int | None = None
) -> Checkpoint:
    """Loads a checkpoint written by :func:`save_checkpoint` or ``fit(checkpoint_dir=...)``.

    Before anything is read, every file of the step is checked against the SHA-256 recorded
    when it was saved: a damaged step is refused with :class:`CheckpointCorruptError`. Before
    any array is read, the stored fingerprint (every leaf's path, shape, dtype and node types) is
    compared with the target's: a checkpoint whose model or optimizer state has another
    structure is refused with :class:`CheckpointMismatchError` listing the differences, never
    loaded in part. Only the structure is compared: another learning rate, activation or
    data set of the same shapes loads and goes on. With several processes every process
    calls it, at the same point (a collective, as :func:`save_checkpoint`).

    Args:
      directory: the checkpoint directory (holding step subdirectories).
      target: what to load into:

        - a :class:`TrainState` (e.g. a fresh one from the same model and optimizer):
          everything is restored, with the target's shardings, into ``Checkpoint.state``;
          its monitors' state monitor by monitor (a monitor not in the checkpoint keeps the
          target's state, one only in the checkpoint is not loaded);
        - a model triple ``(apply, params, state)`` (what ``jaxtrain.nn.functional``
          returns for the rebuilt model): the parameters and model state;
        - ``None``: parameters and model state as nested dicts (possible when they were
          dicts of arrays, as ``jaxtrain.nn.functional`` makes them), no optimizer state.
      step: which step to load; the newest by default.

    Returns:
      A :class:`Checkpoint`.

    Raises:
      FileNotFoundError: if ``directory`` holds no complete checkpoint or not ``step``.
      CheckpointMismatchError: if ``target`` has another structure, shapes or dtypes, or
        the state of one of its monitors does.
      CheckpointCorruptError: if a file of the step is missing, cut short or changed since
        it was saved (its SHA-256 is checked before anything is read), or a file the load
        would read was added after, naming the step, the file and its item.
      ValueError: if ``target`` is none of the accepted kinds, or, with no target, the
        saved trees were not plain dicts; or the step was written before checksums existed
        (format 1), so it cannot be verified.

    Examples:
      >>> import tempfile, jax, jax.numpy as jnp, optax
      >>> from jaxtrain.train import (CheckpointMismatchError, TrainState,
      ...                             load_checkpoint, save_checkpoint)
      >>> def state_of(params):
      ...     return TrainState(apply=None, params=params, model_state={},
      ...                       opt_state=optax.sgd(0.1, momentum=0.9).init(params),
      ...                       step=jnp.int32(3), key=jax.random.key(0))
      >>> directory = tempfile.mkdtemp()
      >>> _ = save_checkpoint(directory, state_of({"w": jnp.ones(2)}))
      >>> print(load_checkpoint(directory, state_of({"w": jnp.zeros(2)})).state.params)
      {'w': Array([1., 1.], dtype=float32)}
      >>> try:
      ...     load_checkpoint(directory, state_of({"w": jnp.zeros(5)}))
      ... except CheckpointMismatchError as error:
      ...     print(str(error).splitlines()[1])
        ['w']: checkpoint has float32[2], target float32[5]
    """
    path, step = _step_of(directory, step)
    name, step_dir = f"{path}/{step}", path / str(step)
    parts, trees = _target_parts(target)
    resumes_monitors = isinstance(target, TrainState) and bool(
        jax.tree.leaves(target.monitor_state)
    )
    read = {"meta", "metadata", "history", "extras", *parts}
    if resumes_monitors:
        read.add("monitor_state")
    # Every file about to be read is checked first: damaged bytes never reach orbax.
    verify_checksums(step_dir, read, name=name)
    checkpointer = _checkpointer()
    try:
        info = _read_json_items(checkpointer, step_dir, name, with_history=True)
        meta = dict(info["meta"])
        # Checkpoints written before monitors existed have no monitor_state: an empty one.
        prints = {part: meta["fingerprint"].get(part, []) for part in _PARTS}
        # Checkpoints written before node types were recorded compare the fingerprint alone.
        types = {part: (meta.get("node_types") or {}).get(part) for part in _PARTS}
        history = History.from_dict(info["history"]) if "history" in info else None
        metadata = dict(info["metadata"] or {})
        config = dict(meta.get("config") or {})
        if trees is not None:
            for part in parts:
                _check_fits(part, prints[part], types[part], trees[part], path, step)
        monitor_sources: dict[int, int] = {}
        if resumes_monitors:
            monitor_sources = _monitor_sources(
                prints["monitor_state"], types["monitor_state"], target.monitor_state, path, step
            )
        if isinstance(target, TrainState):
            _check_key_fits(meta.get("key_impl"), target.key, name)

        restore_args = _array_restore_args(parts, prints, trees, target)
        if monitor_sources:
            restore_args["monitor_state"] = _monitor_restore_arg(
                prints["monitor_state"], monitor_sources, target.monitor_state
            )
        arrays = _restore(checkpointer, step_dir, restore_args, name)
    finally:
        checkpointer.close()

    restored = {part: _restored_tree(part, prints[part], arrays, trees) for part in parts}
    state = None
    if isinstance(target, TrainState):
        extras = arrays["extras"]
        key = _as_key(extras["key_data"], meta["key_impl"], target.key)
        state = target.replace(
            params=restored["params"],
            model_state=restored["model_state"],
            opt_state=restored["opt_state"],
            step=extras["step"],
            key=key,
            monitor_state=_resumed_monitors(target.monitor_state, monitor_sources, arrays),
        )
    return Checkpoint(
        step=int(step),
        params=restored["params"],
        model_state=restored["model_state"],
        opt_state=restored.get("opt_state"),
        state=state,
        history=history,
        metadata=metadata,
        config=config,
    )
