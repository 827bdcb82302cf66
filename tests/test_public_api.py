"""Every public symbol is documented, exported once and importable on a fresh interpreter."""

import ast
import functools
import importlib
import inspect
import itertools
import pathlib
import subprocess
import sys
import textwrap

import pytest

PUBLIC_PACKAGES = (
    "jaxtrain.optim",
    "jaxtrain.optim.schedules",
    "jaxtrain.losses",
    "jaxtrain.nn",
    "jaxtrain.data",
    "jaxtrain.train",
    "jaxtrain.curvature",
    "jaxtrain.landscape",
    "jaxtrain.plot",
    "jaxtrain.diagnose",
    "jaxtrain.monitor",
    "jaxtrain.lecture",
    "jaxtrain.lecture.task_strategy",
    "jaxtrain.lecture.critical_points",
    "jaxtrain.lecture.batch_and_momentum",
    "jaxtrain.lecture.adaptive_learning_rate",
    "jaxtrain.lecture.loss_functions",
    "jaxtrain.lecture.batch_normalization",
)


def _public_members(package_name):
    package = importlib.import_module(package_name)
    assert hasattr(package, "__all__"), f"{package_name} has no __all__"
    for name in package.__all__:
        yield name, getattr(package, name)


@pytest.mark.parametrize("package_name", PUBLIC_PACKAGES)
def test_every_public_symbol_has_a_docstring(package_name):
    undocumented = []
    for name, obj in _public_members(package_name):
        if not inspect.getdoc(obj):
            undocumented.append(name)
        if inspect.isclass(obj):
            for attr_name, attr in vars(obj).items():
                if attr_name.startswith("_") or not callable(attr):
                    continue
                if not inspect.getdoc(attr):
                    undocumented.append(f"{name}.{attr_name}")
    assert not undocumented, f"{package_name}: missing docstrings: {undocumented}"


@functools.cache
def _documented_constants():
    """Names assigned at a module's top level in jaxtrain and followed by a string literal
    (an attribute docstring, as Sphinx reads it)."""
    documented = set()
    root = pathlib.Path(importlib.import_module("jaxtrain").__file__).parent
    for path in root.rglob("*.py"):
        body = ast.parse(path.read_text(encoding="utf-8")).body
        for node, after in itertools.pairwise(body):
            targets = (
                node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
            )
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            if names and isinstance(node, ast.Assign | ast.AnnAssign):
                value = getattr(after, "value", None)
                if isinstance(after, ast.Expr) and isinstance(value, ast.Constant):
                    documented.update(names)
    return documented


@pytest.mark.parametrize("package_name", PUBLIC_PACKAGES)
def test_every_public_constant_has_an_attribute_docstring(package_name):
    # A constant's getdoc is its type's (tuple's, dict's): HEADLINES, REMEDIES and VERDICTS
    # passed the test above with no word of their own.
    constants = [
        name
        for name, obj in _public_members(package_name)
        if not (inspect.isclass(obj) or inspect.ismodule(obj) or callable(obj))
    ]
    missing = [name for name in constants if name not in _documented_constants()]
    assert not missing, f"{package_name}: constants without a docstring: {missing}"


@pytest.mark.parametrize("package_name", PUBLIC_PACKAGES)
def test_all_names_exist_and_are_unique(package_name):
    package = importlib.import_module(package_name)
    names = list(package.__all__)
    assert len(names) == len(set(names)), f"{package_name}.__all__ repeats a name"
    missing = [name for name in names if not hasattr(package, name)]
    assert not missing, f"{package_name}.__all__ names missing symbols: {missing}"


def test_one_public_path_per_symbol():
    """A function or class is exported by exactly one public package."""
    homes: dict[int, list[str]] = {}
    for package_name in PUBLIC_PACKAGES:
        for name, obj in _public_members(package_name):
            if inspect.isfunction(obj) or inspect.isclass(obj):
                homes.setdefault(id(obj), []).append(f"{package_name}.{name}")
    repeated = [paths for paths in homes.values() if len(paths) > 1]
    assert not repeated, f"exported from more than one public package: {repeated}"


def _fresh_python(code: str) -> str:
    """Runs ``code`` in a new interpreter, where no earlier import has set any attribute."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_every_subpackage_is_an_attribute_of_its_parent():
    """``import jaxtrain.optim as jo; jo.schedules`` works, as ``optax.schedules`` does."""
    out = _fresh_python(
        """
        import importlib, pathlib
        import jaxtrain

        # Found on disk, not by pkgutil.walk_packages, which imports (and so attaches) them.
        root = pathlib.Path(jaxtrain.__file__).parent
        names = sorted(
            ".".join(("jaxtrain", *init.parent.relative_to(root).parts))
            for init in root.rglob("*/__init__.py")
        )
        for name in names:
            obj = jaxtrain
            for part in name.split(".")[1:]:
                obj = getattr(obj, part)  # each step an attribute, no import statement
            assert obj is importlib.import_module(name), name
            parent, _, child = name.rpartition(".")
            assert child in dir(importlib.import_module(parent)), name
        import jaxtrain.optim as jo
        print(jo.schedules.cosine_decay.__name__, len(names))
        """
    )
    name, count = out.split()
    assert name == "cosine_decay" and int(count) >= 12


def test_import_jaxtrain_stays_light():
    """Subpackages load on first use, so ``import jaxtrain`` (and ``jaxtrain --help``) does
    not pay for jax."""
    out = _fresh_python(
        """
        import sys
        import jaxtrain
        from jaxtrain.cli._main import build_parser

        build_parser()
        print(sorted(m for m in ("jax", "flax", "optax", "matplotlib") if m in sys.modules))
        """
    )
    assert out.strip() == "[]"
