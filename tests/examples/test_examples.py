"""Each example runs its own lecture section through ``lecture.run_example``.

The claims are tested in ``tests/lecture/`` and ``run_example`` in ``tests/lecture/test_claim.py``;
here every script is run as ``__main__`` with ``run_example`` recording what it was given, so
the wiring of all six is checked in milliseconds.
"""

import pathlib
import runpy

import pytest

from jaxtrain import lecture

EXAMPLES = pathlib.Path(__file__).parents[2] / "examples"


def test_there_is_one_example_per_section():
    names = sorted(path.stem for path in EXAMPLES.glob("*.py"))
    assert names == sorted(section.id for section in lecture.SECTIONS)


@pytest.mark.parametrize("section", lecture.SECTIONS, ids=lambda section: section.id)
def test_the_example_runs_its_section(section, monkeypatch):
    ran = []
    monkeypatch.setattr(lecture, "run_example", lambda s, argv=None: ran.append(s))
    runpy.run_path(str(EXAMPLES / f"{section.id}.py"), run_name="__main__")
    assert ran == [section]
    assert f"python examples/{section.id}.py" in (EXAMPLES / f"{section.id}.py").read_text()
