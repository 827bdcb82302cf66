"""Reading and checking the ``.npz`` data files the commands take (``allow_pickle=False``).

A file holds named NumPy arrays: ``x_train``, ``y_train``, ``x_val``, ``y_val`` and optionally
``x_test``, ``y_test``. Integer (or boolean) targets mean classification, floats regression.
Every problem (missing file, not an npz, a missing key, a non-numeric array, mismatched
lengths or feature shapes, non-finite values, negative labels) becomes a
:class:`~jaxtrain.cli._errors.CommandError` with one line that names the file, the array
and the fix.
"""

from __future__ import annotations

import dataclasses
import hashlib
import pathlib
import zipfile
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from jaxtrain.cli._errors import CommandError

__all__ = ["DataSplits", "file_digest", "load_splits", "read_arrays"]


@dataclasses.dataclass(frozen=True)
class DataSplits:
    """Checked arrays: x as float32 (N, ...), y as int32 (N,) labels or float32 targets."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray | None
    y_val: np.ndarray | None
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    task: str

    @property
    def num_outputs(self) -> int:
        """Classes (largest label + 1 over all splits) or regression target width."""
        if self.task == "classification":
            labels = [y for y in (self.y_train, self.y_val, self.y_test) if y is not None]
            return int(max(int(y.max()) for y in labels if y.size)) + 1
        return int(np.prod(self.y_train.shape[1:], dtype=np.int64))

    def pair(self, split: str) -> tuple[np.ndarray, np.ndarray] | None:
        """``(x, y)`` of ``split`` (train, val or test), or ``None`` when absent."""
        x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
        return None if x is None else (x, y)


def file_digest(path: str | pathlib.Path) -> str:
    """The SHA-256 of a file's bytes, to notice later that a data file changed."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_arrays(
    path: str | pathlib.Path, keys: Sequence[str], optional: Sequence[str] = ()
) -> dict[str, np.ndarray]:
    """Reads ``keys`` (all required) and ``optional`` arrays of an npz file, numeric only."""
    path = pathlib.Path(path)
    name = str(path)
    if not path.exists():
        raise CommandError(f"cannot read {name}: no such file")
    if path.is_dir():
        raise CommandError(f"cannot read {name}: it is a directory, not an .npz file")
    try:
        loaded = np.load(path, allow_pickle=False)
    except ValueError as error:
        # NumPy falls back to unpickling anything that is neither .npy nor .npz, which
        # allow_pickle=False refuses: the file is not an npz.
        raise CommandError(
            f"cannot read {name}: not an .npz file ({' '.join(str(error).split())}); save one "
            "with numpy.savez(path, x_train=..., y_train=..., x_val=..., y_val=...)"
        ) from None
    except (OSError, EOFError, zipfile.BadZipFile) as error:
        raise CommandError(f"cannot read {name}: {' '.join(str(error).split())}") from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise CommandError(
            f"{name} holds a single array, not named arrays; save an .npz with "
            "numpy.savez(path, x_train=..., y_train=..., x_val=..., y_val=...)"
        )
    with loaded:
        present = set(loaded.files)
        missing = [key for key in keys if key not in present]
        if missing:
            found = ", ".join(sorted(present)) or "nothing"
            raise CommandError(
                f"{name} has no {', '.join(repr(k) for k in missing)} array (found: {found}); "
                f"it needs {', '.join(keys)}"
            )
        arrays = {}
        for key in [*keys, *(k for k in optional if k in present)]:
            try:
                array = loaded[key]
            except ValueError:
                raise CommandError(
                    f"{name}: {key!r} is not numeric (an object array, which is never unpickled)"
                ) from None
            except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as error:
                raise CommandError(
                    f"{name}: {key!r} cannot be read: {' '.join(str(error).split())}"
                ) from None
            if array.dtype.kind not in "biuf":
                raise CommandError(
                    f"{name}: {key!r} is not numeric (dtype {array.dtype}); give float inputs "
                    "and integer or float targets"
                )
            arrays[key] = array
    return arrays


def _check_x(name: str, key: str, x: np.ndarray) -> np.ndarray:
    if x.ndim == 0:
        raise CommandError(f"{name}: {key!r} is a scalar; give one row per example, shape (N, ...)")
    if x.shape[0] == 0:
        raise CommandError(f"{name}: {key!r} is empty (0 examples)")
    if x.ndim == 1:
        x = x[:, None]
    x = x.astype(np.float32)
    if not np.all(np.isfinite(x)):
        raise CommandError(f"{name}: {key!r} contains NaN or infinite values")
    return x


def _check_y(name: str, key: str, y: np.ndarray, task: str, n: int) -> np.ndarray:
    if y.ndim == 0 or y.shape[0] != n:
        got = "a scalar" if y.ndim == 0 else f"{y.shape[0]} entries"
        raise CommandError(
            f"{name}: {key!r} has {got} but {key.replace('y_', 'x_')!r} has {n} examples; "
            "give one target per example"
        )
    if task == "classification":
        if y.dtype.kind == "f":
            raise CommandError(
                f"{name}: {key!r} holds floats but y_train holds integer class labels; use the "
                "same kind of targets in every split"
            )
        if y.ndim != 1:
            raise CommandError(
                f"{name}: {key!r} holds integer labels of shape {y.shape}; give one class "
                "index per example, shape (N,)"
            )
        if y.min() < 0:
            raise CommandError(f"{name}: {key!r} has a negative class label ({int(y.min())})")
        return y.astype(np.int32)
    if y.dtype.kind != "f":
        raise CommandError(
            f"{name}: {key!r} holds integers but y_train holds float regression targets; use "
            "the same kind of targets in every split"
        )
    y = y.astype(np.float32)
    if not np.all(np.isfinite(y)):
        raise CommandError(f"{name}: {key!r} contains NaN or infinite values")
    return y[:, None] if y.ndim == 1 else y


def load_splits(
    path: str | pathlib.Path,
    *,
    require_val: bool = True,
    test_path: str | pathlib.Path | None = None,
) -> DataSplits:
    """Reads and checks the splits of a data file (and an optional separate test file).

    Args:
      path: the ``.npz`` with ``x_train``, ``y_train``, ``x_val``, ``y_val`` (the val pair
        only when ``require_val``) and optionally ``x_test``, ``y_test``.
      require_val: whether the validation pair must be present.
      test_path: a second ``.npz`` holding the test pair as ``x_test``/``y_test`` (or
        ``x``/``y``); it replaces a test pair in ``path``.

    Returns:
      The checked :class:`DataSplits`.

    Raises:
      CommandError: for any problem, with one line naming it.
    """
    name = str(path)
    required = ["x_train", "y_train"] + (["x_val", "y_val"] if require_val else [])
    optional = ["x_test", "y_test"] + ([] if require_val else ["x_val", "y_val"])
    arrays = read_arrays(path, required, optional)
    sources = dict.fromkeys(arrays, name)
    for split in ("val", "test"):
        if (f"x_{split}" in arrays) != (f"y_{split}" in arrays):
            have, lack = (
                (f"x_{split}", f"y_{split}")
                if f"x_{split}" in arrays
                else (f"y_{split}", f"x_{split}")
            )
            raise CommandError(f"{name} has {have!r} but no {lack!r}; give both or neither")
    if test_path is not None:
        test_name = str(test_path)
        probe = read_arrays(test_path, [], ["x_test", "y_test", "x", "y"])
        if "x_test" in probe and "y_test" in probe:
            arrays["x_test"], arrays["y_test"] = probe["x_test"], probe["y_test"]
        elif "x" in probe and "y" in probe:
            arrays["x_test"], arrays["y_test"] = probe["x"], probe["y"]
        else:
            with np.load(test_path, allow_pickle=False) as npz:
                found = ", ".join(sorted(npz.files)) or "nothing"
            raise CommandError(
                f"{test_name} has no test pair (found: {found}); it needs x_test and y_test "
                "(or x and y)"
            )
        sources["x_test"] = sources["y_test"] = test_name
    y_kind = arrays["y_train"].dtype.kind
    task = "classification" if y_kind in "biu" else "regression"
    x_train = _check_x(name, "x_train", arrays["x_train"])
    y_train = _check_y(name, "y_train", arrays["y_train"], task, x_train.shape[0])
    checked: dict[str, Any] = {"task": task, "x_train": x_train, "y_train": y_train}
    for split in ("val", "test"):
        if f"x_{split}" not in arrays:
            checked[f"x_{split}"] = checked[f"y_{split}"] = None
            continue
        source = sources[f"x_{split}"]
        x = _check_x(source, f"x_{split}", arrays[f"x_{split}"])
        if x.shape[1:] != x_train.shape[1:]:
            raise CommandError(
                f"{source}: 'x_{split}' has examples of shape {x.shape[1:]} but 'x_train' has "
                f"{x_train.shape[1:]}; every split needs the same feature shape"
            )
        y = _check_y(source, f"y_{split}", arrays[f"y_{split}"], task, x.shape[0])
        if y.shape[1:] != y_train.shape[1:]:
            raise CommandError(
                f"{source}: 'y_{split}' has targets of shape {y.shape[1:]} but 'y_train' has "
                f"{y_train.shape[1:]}; every split needs the same target shape"
            )
        checked[f"x_{split}"], checked[f"y_{split}"] = x, y
    return DataSplits(**checked)
