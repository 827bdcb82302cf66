"""Shared by the section tests: the notebooks' table, to check the numbers each one prints."""

import importlib.util
import pathlib
import sys

import pytest

BUILD = pathlib.Path(__file__).resolve().parents[2] / "notebooks" / "build.py"


@pytest.fixture(scope="session")
def notebook_shown():
    """``{section id: the notebook's Shown entries}`` from ``notebooks/build.py``."""
    spec = importlib.util.spec_from_file_location("notebooks_build", BUILD)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return {notebook.section: notebook.shown for notebook in module.NOTEBOOKS.values()}


@pytest.fixture(scope="session")
def check_notebook_numbers(notebook_shown):
    """Asserts that a section's notebook prints numbers its claims have, and every claim."""

    def check(section_id, claims):
        shown = notebook_shown[section_id]
        assert [item.experiment for item in shown] == list(claims)
        for item in shown:
            text = claims[item.experiment].numbers_text(*item.numbers)
            assert len(text.splitlines()) >= len(item.numbers)

    return check
