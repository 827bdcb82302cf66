"""ci/optax_own_tests.py names real functions on both sides: a renamed jaxtrain schedule or
loss, or an optax name that moved, would otherwise leave optax's own test silently unsubstituted."""

import importlib.util
import pathlib

import optax

_PATH = pathlib.Path(__file__).resolve().parents[1] / "ci" / "optax_own_tests.py"
_SPEC = importlib.util.spec_from_file_location("optax_own_tests", _PATH)
optax_own_tests = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(optax_own_tests)


def test_every_substitute_has_an_optax_namesake_and_every_test_file_exists():
    # Read only: substitute() itself would replace optax's functions in this test process.
    pairs = dict(optax_own_tests.substitutes())
    for theirs in optax_own_tests.SCHEDULES.values():
        assert theirs in pairs and hasattr(optax.schedules, theirs)
    for names in optax_own_tests.LOSSES.values():
        for theirs in names:
            assert hasattr(optax.losses, theirs)
            assert pairs[theirs].keywords == {"reduction": "none"}
    folder = pathlib.Path(optax.__file__).parent
    missing = [name for name in optax_own_tests.TEST_FILES if not (folder / name).is_file()]
    assert not missing, missing
