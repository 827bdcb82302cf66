"""DESIGN.md's layers: a package imports at module level only from its own layer or below."""

import ast
import pathlib

import pytest

import jaxtrain

ROOT = pathlib.Path(jaxtrain.__file__).parent
LAYER = {
    **dict.fromkeys(("optim", "losses", "nn", "data", "curvature", "landscape"), 1),
    "plot": 2,
    **dict.fromkeys(("train", "monitor"), 3),
    "diagnose": 4,
    "lecture": 5,
    "cli": 6,
}


def _module_level_imports(path: pathlib.Path) -> list[tuple[int, str]]:
    """``(line, package)`` of each jaxtrain subpackage imported at the module's top level
    (imports inside a function, run on first use, are free to reach up)."""
    found = []
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        names = []
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "jaxtrain" and len(parts) > 1 and parts[1] in LAYER:
                found.append((node.lineno, parts[1]))
    return found


@pytest.mark.parametrize("package", sorted(LAYER))
def test_a_package_imports_nothing_above_its_layer(package):
    upward = [
        f"{path.relative_to(ROOT)}:{line} imports jaxtrain.{target}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for line, target in _module_level_imports(path)
        if LAYER[target] > LAYER[package]
    ]
    assert not upward, upward


def test_the_layers_name_every_subpackage():
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    assert packages == set(LAYER)
