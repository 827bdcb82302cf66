"""Candidate models: factories re-initialized per seed, and specs that derive their variants."""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax

from jaxtrain._numbers import is_int
from jaxtrain._text import counted

__all__ = ["Candidate", "ModelSpec", "as_candidates"]

_FAMILIES = ("mlp", "cnn")


class Candidate(NamedTuple):
    """A named model factory: ``factory(rngs) -> model``, called afresh for every seed.

    ``model`` is anything :func:`jaxtrain.nn.functional` accepts: usually an NNX module (built
    with ``rngs``), or an ``(apply, params, state)`` triple. A factory rather than a model, so
    that every seed starts from its own initialization.

    Examples:
      >>> from flax import nnx
      >>> from jaxtrain.diagnose import Candidate
      >>> c = Candidate("linear", lambda rngs: nnx.Linear(2, 3, rngs=rngs))
      >>> c.factory(nnx.Rngs(0)).kernel.shape
      (2, 3)
    """

    name: str
    factory: Callable[[Any], Any]


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A rebuildable description of a :class:`jaxtrain.nn.MLP` or :class:`jaxtrain.nn.CNN`.

    A spec is a factory (``spec(rngs)`` builds the model) that also knows its family, so
    :func:`~jaxtrain.diagnose.diagnose` can derive from one spec the two candidates the
    lecture's flowchart needs, with the same activation and normalization:

    - :meth:`shallower`: one hidden layer (a linear model below that), the easy-to-optimize
      reference — if the user's deeper model trains *worse* than it, the optimizer is to
      blame;
    - :meth:`wider`: ``factor`` × the width at the same depth (a one-hidden-layer network for
      a linear model), the more flexible one — if it trains better, the user's model has
      model bias.

    A spec is plain data (:meth:`to_dict` / :meth:`from_dict`), so a checkpoint can carry it
    and ``jaxtrain hessian`` can rebuild the model.

    Attributes:
      family: ``"mlp"`` or ``"cnn"``.
      in_shape: the shape of one input: ``(features,)`` for an MLP, ``(H, W, C)`` for a CNN.
      out_features: outputs (classes for logits, target width for regression).
      width: hidden units per layer (MLP) or filters of the first convolution block (CNN;
        each further block doubles them).
      depth: hidden layers (MLP; 0 is a linear model) or convolution blocks (CNN).
      activation: activation name (``"relu"``, ``"tanh"``, ``"sigmoid"``, ``"gelu"``).
      norm: ``None``, ``"batch"`` or ``"layer"``.
      residual: identity skips around hidden layers (MLP only; a CNN has none).

    Examples:
      >>> from jaxtrain.diagnose import ModelSpec
      >>> spec = ModelSpec("mlp", (2,), 3, width=32, depth=6, activation="sigmoid")
      >>> spec.name, spec.shallower().name, spec.wider().name
      ('mlp-6x32-sigmoid', 'mlp-1x32-sigmoid', 'mlp-6x128-sigmoid')
      >>> ModelSpec.from_dict(spec.to_dict()) == spec
      True

    References:
      He et al., *Deep Residual Learning for Image Recognition*, 2016,
      https://arxiv.org/abs/1512.03385
    """

    family: str
    in_shape: tuple[int, ...]
    out_features: int
    width: int = 64
    depth: int = 2
    activation: str = "relu"
    norm: str | None = None
    residual: bool = False

    def __post_init__(self) -> None:
        if self.family not in _FAMILIES:
            raise ValueError(f"`family` must be one of {_FAMILIES}; got {self.family!r}.")
        object.__setattr__(self, "in_shape", tuple(int(d) for d in self.in_shape))
        if self.family == "mlp" and len(self.in_shape) != 1:
            raise ValueError(
                f"an MLP takes flat inputs, `in_shape` (features,); got {self.in_shape}. "
                "Flatten the inputs or use family='cnn'."
            )
        if self.family == "cnn" and len(self.in_shape) != 3:
            raise ValueError(f"a CNN takes images, `in_shape` (H, W, C); got {self.in_shape}.")
        minimum = 0 if self.family == "mlp" else 1
        for name, least in (("out_features", 1), ("width", 1), ("depth", minimum)):
            value = getattr(self, name)
            if not is_int(value) or value < least:
                kind = "a positive int" if least == 1 else f"an int >= {least}"
                raise ValueError(f"`{name}` must be {kind}; got {value!r}.")
            object.__setattr__(self, name, int(value))  # plain ints for JSON and names
        if self.family == "cnn" and self.residual:
            raise ValueError("`residual` is only available for family='mlp'.")
        if min(self.in_shape, default=0) < 1:
            raise ValueError(f"`in_shape` must be positive sizes; got {self.in_shape}.")

    @property
    def name(self) -> str:
        """A short readable name, e.g. ``mlp-6x32-sigmoid`` or ``linear``."""
        if self.family == "mlp" and self.depth == 0:
            return "linear"
        tags = [f"{self.family}-{self.depth}x{self.width}-{self.activation}"]
        if self.norm:
            tags.append(f"{self.norm}norm")
        if self.residual:
            tags.append("residual")
        return "-".join(tags)

    def build(self, rngs: Any) -> Any:
        """Builds the NNX module with ``rngs`` (an ``nnx.Rngs``)."""
        from jaxtrain import nn

        if self.family == "mlp":
            return nn.MLP(
                self.in_shape[0],
                self.width,
                self.out_features,
                depth=self.depth,
                activation=self.activation,
                norm=self.norm,
                residual=self.residual,
                rngs=rngs,
            )
        return nn.CNN(
            self.in_shape[-1],
            self.out_features,
            channels=self.channels,
            activation=self.activation,
            norm=self.norm,
            rngs=rngs,
        )

    @property
    def channels(self) -> tuple[int, ...]:
        """CNN filters per block: ``width``, doubling with every block (as in VGG)."""
        return tuple(self.width * 2**i for i in range(self.depth))

    def __call__(self, rngs: Any) -> Any:
        """The same as :meth:`build`: a spec is a model factory."""
        return self.build(rngs)

    def shallower(self) -> ModelSpec | None:
        """One hidden layer (MLP: a linear model below that; CNN: one block); ``None`` if none."""
        if self.depth >= 2:
            return dataclasses.replace(self, depth=1)
        if self.family == "mlp" and self.depth == 1:
            return dataclasses.replace(self, depth=0)
        return None

    def wider(self, factor: int = 4) -> ModelSpec:
        """``factor`` × the width at the same depth; a linear model gains one hidden layer."""
        if self.family == "mlp" and self.depth == 0:
            return dataclasses.replace(self, depth=1)
        return dataclasses.replace(self, width=self.width * int(factor))

    @property
    def num_params(self) -> int:
        """The trainable parameters of the model it builds (:func:`parameter_count`)."""
        return parameter_count(self.build)

    def variants(self) -> tuple[list[ModelSpec], int]:
        """``([shallower, self, wider], index of self)``, without a missing shallower one or
        one with more parameters than ``self`` (a linear model beside a narrow hidden layer:
        no simpler model, so its lower loss would say nothing of the optimizer)."""
        shallow = self.shallower()
        if shallow is not None and shallow.num_params > self.num_params:
            shallow = None
        specs = ([shallow] if shallow is not None else []) + [self, self.wider()]
        return specs, 0 if shallow is None else 1

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain JSON values."""
        out = dataclasses.asdict(self)
        out["in_shape"] = list(self.in_shape)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        """Rebuilds a spec from :meth:`to_dict`'s output."""
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"unknown ModelSpec fields {unknown}; expected some of {sorted(known)}."
            )
        return cls(**{**data, "in_shape": tuple(data.get("in_shape", ()))})


def _is_pair(item: Any) -> bool:
    return (
        isinstance(item, tuple)
        and len(item) == 2
        and isinstance(item[0], str)
        and callable(item[1])
    )


def _is_built_model(item: Any) -> bool:
    from flax import nnx

    return isinstance(item, nnx.Module)


def _one(item: Any, index: int) -> Candidate:
    if _is_built_model(item):
        raise TypeError(
            f"candidate {index} is a built {type(item).__name__} module; give a factory "
            "`lambda rngs: Model(..., rngs=rngs)` or a jaxtrain.diagnose.ModelSpec instead, so "
            "that every seed starts from its own initialization."
        )
    if isinstance(item, Candidate):
        return item
    if isinstance(item, ModelSpec):
        return Candidate(item.name, item)
    if _is_pair(item):
        return Candidate(item[0], item[1])
    if callable(item):
        name = getattr(item, "__name__", None)
        if not name or name == "<lambda>":
            name = f"candidate_{index}"
        return Candidate(name, item)
    raise TypeError(
        f"candidate {index} is a {type(item).__name__}; give a factory `rngs -> model`, a "
        "(name, factory) pair or a jaxtrain.diagnose.ModelSpec."
    )


def distinct_names(
    names: Sequence[str],
    *,
    suffixed: Callable[[str, int], str] = lambda name, k: f"{name}#{k}",
    fold: Callable[[str], str] = lambda name: name,
) -> list[str]:
    """``names`` made distinct: a repeated one gets the first free ``suffixed(name, k)``,
    k = 2, 3, ….

    Every name keeps its first occurrence, and a suffix skips every name given (and those
    already made), so no made name takes one the user gave. ``fold`` says when two names are
    the same (``str.casefold`` for file names on a case-insensitive file system).

    Examples:
      >>> distinct_names(["x", "x", "x#2", "x"])
      ['x', 'x#3', 'x#2', 'x#4']
    """
    taken = {fold(name) for name in names}
    seen: set[str] = set()
    made: list[str] = []
    for name in names:
        chosen, k = name, 2
        if fold(name) in seen:  # a repeat: the first occurrence keeps the name
            while fold(suffixed(name, k)) in taken:
                k += 1
            chosen = suffixed(name, k)
            taken.add(fold(chosen))
        seen.add(fold(name))
        made.append(chosen)
    return made


def unique_names(candidates: Sequence[Candidate]) -> list[str]:
    """The candidates' names, a repeated one with the first free suffix ``#2``, ``#3``, …
    (see :func:`distinct_names`): no two candidates share a name, and a ``primary`` given by
    name means the one the user named.

    Examples:
      >>> from jaxtrain.diagnose._candidates import Candidate, unique_names
      >>> unique_names([Candidate(n, None) for n in ("x", "x", "x#2", "x")])
      ['x', 'x#3', 'x#2', 'x#4']
    """
    return distinct_names([c.name for c in candidates])


def parameter_count(factory: Callable[[Any], Any]) -> int:
    """The trainable parameters of ``factory(nnx.Rngs(0))``'s model, counted from its shapes
    alone (``nnx.eval_shape``: nothing is initialized)."""
    from flax import nnx

    from jaxtrain import nn

    _, params, _ = nn.functional(nnx.eval_shape(lambda: factory(nnx.Rngs(0))))
    return int(sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(params)))


def check_capacity_order(sizes: Sequence[tuple[str, int]]) -> None:
    """Refuses candidates whose parameter counts fall along the list.

    The flowchart reads an earlier candidate as the simpler one: a later model that trains
    worse than it "could represent everything the simpler one can" (an optimization issue).
    A later model with fewer parameters cannot, so the order must not say it can.

    Args:
      sizes: ``(name, parameter count)`` of each candidate, in the order given.

    Raises:
      ValueError: naming the first candidate with fewer parameters than one before it.

    Examples:
      >>> from jaxtrain.diagnose._candidates import check_capacity_order
      >>> check_capacity_order([("linear", 30), ("mlp", 900)])
      >>> try:
      ...     check_capacity_order([("mlp", 900), ("linear", 30)])
      ... except ValueError as error:
      ...     print(str(error).split(": ")[1])
      'linear' (30 parameters) after 'mlp' (900 parameters); list the simpler models first.
    """
    for (name, count), (later, fewer) in itertools.pairwise(sizes):
        if fewer < count:
            raise ValueError(
                "candidates must come in order of increasing capacity: "
                f"{later!r} ({counted(fewer, 'parameter')}) after {name!r} "
                f"({counted(count, 'parameter')}); list the simpler models first."
            )


def as_candidates(models: Any, *, primary: int | str | None = None) -> tuple[list[Candidate], int]:
    """Normalizes the ways of naming candidates into a list and the primary's index.

    Accepted:

    - one :class:`ModelSpec`: its shallower and wider variants are derived (see
      :meth:`ModelSpec.variants`); the spec itself is the primary;
    - one factory ``rngs -> model``, one ``(name, factory)`` pair or one :class:`Candidate`:
      a single candidate;
    - a sequence of those (specs in a sequence are *not* expanded), in order of increasing
      capacity; the primary is the last unless ``primary`` says otherwise.

    Args:
      models: the candidates, as above.
      primary: index or name of the user's model among them.

    Returns:
      ``(candidates, primary_index)``; a repeated name gets a suffix (see
      :func:`unique_names`).

    Raises:
      TypeError: for something that is not a candidate, or a built NNX module (a factory is
        needed to re-initialize it per seed).
      ValueError: for an empty sequence or an unknown ``primary``.

    Examples:
      >>> from jaxtrain.diagnose import ModelSpec, as_candidates
      >>> cands, p = as_candidates(ModelSpec("mlp", (4,), 2, depth=3))
      >>> [c.name for c in cands], p
      (['mlp-1x64-relu', 'mlp-3x64-relu', 'mlp-3x256-relu'], 1)
    """
    if _is_built_model(models):
        _one(models, 0)
    if isinstance(models, ModelSpec):
        specs, index = models.variants()
        candidates = [Candidate(spec.name, spec) for spec in specs]
    elif isinstance(models, Candidate) or _is_pair(models) or callable(models):
        candidates, index = [_one(models, 0)], 0
    elif isinstance(models, Sequence) and not isinstance(models, str):
        if not models:
            raise ValueError("`models` is empty: give at least one candidate.")
        candidates = [_one(item, i) for i, item in enumerate(models)]
        index = len(candidates) - 1
    else:
        raise TypeError(
            f"`models` is a {type(models).__name__}; give a factory, a (name, factory) pair, a "
            "ModelSpec or a sequence of them."
        )
    unique = [
        c._replace(name=name) for c, name in zip(candidates, unique_names(candidates), strict=True)
    ]
    if primary is not None:
        names = [c.name for c in unique]
        if isinstance(primary, str):
            if primary not in names:
                raise ValueError(
                    f"`primary` {primary!r} is not a candidate name; choose from {names}."
                )
            index = names.index(primary)
        else:
            if not is_int(primary):
                raise TypeError(f"`primary` must be a candidate's name or index; got {primary!r}.")
            if not -len(unique) <= int(primary) < len(unique):
                raise ValueError(
                    f"`primary` index {primary} is out of range for {len(unique)} candidates."
                )
            index = int(primary) % len(unique)
    return unique, index
