"""optax's own tests, run against ``jaxtrain.optim``: jaxtrain's optimizers under optax's names.

A drop-in is judged by the tests its users already have. This script runs the test files that
the installed optax ships (``alias_test``, ``transform_test``, ``_clipping_test``,
``_adding_test``) in a pytest whose plugin, this module, first puts every function of
``jaxtrain.optim.__all__`` in place of optax's function of the same name, in the modules those
tests import (``optax._src.alias``, ``optax._src.transform``, ``optax.transforms._clipping``,
``optax.transforms._adding`` and ``optax``). optax's other optimizers then call jaxtrain's
functions too wherever they build on the substituted ones.

    python ci/optax_own_tests.py            # all four files, one process
    python ci/optax_own_tests.py -n 2 -q    # any pytest options

Expected with optax 0.2.8 (2026-12-07): ``alias_test``, ``transform_test`` and ``_adding_test``
pass; ``_clipping_test`` fails ``test_clip_by_block_rms`` (a 1.2e-7 rounding of optax's own
``clip_by_block_rms``, which jaxtrain does not replace; it fails without the substitution
too). Before, 24 of ``alias_test`` failed on two of jaxtrain's refusals that optax's own
optimizers reach: ``scale_by_learning_rate(None)`` (optax's L-BFGS passes it: no scaling) and
``add_decayed_weights`` with a negative λ (optax's ``fromage``); both now do what optax does.
"""

from __future__ import annotations

import importlib
import os
import pathlib
import subprocess
import sys
import tempfile

TEST_FILES = (
    "_src/alias_test.py",
    "_src/transform_test.py",
    "transforms/_clipping_test.py",
    "transforms/_adding_test.py",
)
MODULES = (
    "optax._src.alias",
    "optax._src.transform",
    "optax.transforms._clipping",
    "optax.transforms._adding",
    "optax",
)


def substitute() -> dict[str, list[str]]:
    """Puts jaxtrain.optim's functions in place of optax's namesakes; ``{name: [modules]}``."""
    import jaxtrain.optim as jaxtrain_optim

    replaced: dict[str, list[str]] = {}
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for name in jaxtrain_optim.__all__:
            ours = getattr(jaxtrain_optim, name)
            # jaxtrain reuses optax's state classes: the same objects are not substitutions.
            if callable(ours) and hasattr(module, name) and getattr(module, name) is not ours:
                setattr(module, name, ours)
                replaced.setdefault(name, []).append(module_name)
    return replaced


# pytest hooks: this module is the plugin of the run that main() starts (-p optax_own_tests).
_REPLACED: dict[str, list[str]] = {}


def pytest_configure(config) -> None:
    # Before collection, so each test module binds jaxtrain's functions when it imports.
    _REPLACED.update(substitute())


def pytest_report_header(config) -> str:
    return "jaxtrain.optim in place of optax's " + ", ".join(sorted(_REPLACED))


def main(argv: list[str]) -> int:
    import optax

    folder = pathlib.Path(optax.__file__).parent
    env = dict(os.environ)
    here = str(pathlib.Path(__file__).resolve().parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH")) if p)
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "optax_own_tests",
        "-p",
        "no:cacheprovider",
        "-o",
        "python_files=*_test.py",
        *argv,
        *(str(folder / name) for name in TEST_FILES),
    ]
    # Outside the repository, so that its pytest settings and conftest stay out of the run.
    with tempfile.TemporaryDirectory() as outside:
        return subprocess.run(command, env=env, cwd=outside, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
