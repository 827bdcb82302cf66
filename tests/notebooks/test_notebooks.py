"""The lecture notebooks: committed clean, built from ``notebooks/build.py``, and runnable.

Every notebook renders its section's claims from ``jaxtrain.lecture`` (tested once each in
``tests/lecture/``): here each notebook must call exactly its section's experiments, and one
notebook runs top to bottom with ``JAXTRAIN_QUICK=1`` in a kernel that runs THIS interpreter
(so it sees the same jax and the editable jaxtrain) as the renderer's smoke test; a failing
cell fails the test with the cell's traceback.
"""

import importlib.util
import json
import os
import pathlib
import re
import sys

import nbformat
import pytest

NOTEBOOKS_DIR = pathlib.Path(__file__).resolve().parents[2] / "notebooks"
NAMES = (
    "01_task_strategy",
    "02_critical_points",
    "03_batch_and_momentum",
    "04_adaptive_learning_rate",
    "05_loss_functions",
    "06_batch_normalization",
)


def _load_build():
    spec = importlib.util.spec_from_file_location("notebooks_build", NOTEBOOKS_DIR / "build.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _read(name):
    return nbformat.read(NOTEBOOKS_DIR / f"{name}.ipynb", as_version=4)


def _this_interpreters_kernel(tmp_path, monkeypatch):
    """Points the ``python3`` kernel at ``sys.executable`` for this test only.

    Jupyter searches ``JUPYTER_PATH`` before the user's and the environment's kernel folders,
    so a stray ``python3`` kernelspec elsewhere on the machine cannot hijack the run.
    """
    kernel_dir = tmp_path / "jupyter" / "kernels" / "python3"
    kernel_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (jaxtrain tests)",
        "language": "python",
    }
    (kernel_dir / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))


def _execute(nb, tmp_path, monkeypatch, timeout=300):
    from nbclient import NotebookClient

    _this_interpreters_kernel(tmp_path, monkeypatch)
    monkeypatch.setenv("JAXTRAIN_QUICK", "1")
    # The suite's conftest sets MPLBACKEND=Agg; the kernel should pick its inline backend, as
    # Jupyter and Colab do, so that figures become outputs.
    monkeypatch.delenv("MPLBACKEND", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    client = NotebookClient(
        nb, kernel_name="python3", timeout=timeout, resources={"metadata": {"path": str(work)}}
    )
    client.execute()
    return nb


def _stream_text(cell):
    return "".join(out.get("text", "") for out in cell.outputs if out.output_type == "stream")


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebook_has_no_outputs(name):
    nb = _read(name)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{name}: a code cell has stale outputs"
            assert cell.execution_count is None, f"{name}: a code cell has an execution count"
    assert "widgets" not in nb.metadata


def test_committed_notebooks_match_build_script():
    build = _load_build()
    assert sorted(build.NOTEBOOKS) == sorted(NAMES)
    for name in NAMES:
        built = build.build_notebook(name)
        assert nbformat.writes(built) == (NOTEBOOKS_DIR / f"{name}.ipynb").read_text(), (
            f"{name}.ipynb is out of date: run `python notebooks/build.py`"
        )


@pytest.mark.parametrize("name", NAMES)
def test_notebook_has_badge_install_cell_and_sections(name):
    nb = _read(name)
    first = nb.cells[0]
    assert first.cell_type == "markdown"
    colab = f"https://colab.research.google.com/github/jaxtrain/jaxtrain/blob/main/notebooks/{name}.ipynb"
    assert f"]({colab})" in first.source and "colab-badge.svg" in first.source

    code = [cell.source for cell in nb.cells if cell.cell_type == "code"]
    install = code[0]
    # Installed from the repository without its dependencies, so Colab's jax (and a TPU's
    # matching libtpu) stay; skipped when jaxtrain is importable (CI has no network).
    assert 'find_spec("jaxtrain") is None' in install
    assert (
        '%pip install --quiet --no-deps "jaxtrain @ git+https://github.com/jaxtrain/jaxtrain"'
        in (install)
    )
    assert "--upgrade" not in install and " -U " not in install
    assert "jax.devices()" in code[1] and "JAXTRAIN_QUICK" in code[1]

    text = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "markdown")
    assert "$" in text, "the idea's formula is missing"
    assert "## Exercise" in text


@pytest.mark.parametrize("name", NAMES)
def test_notebook_renders_each_claim_of_its_section_once(name):
    from jaxtrain import lecture

    section = lecture.section(name[3:])
    called = [
        match
        for cell in _read(name).cells
        if cell.cell_type == "code"
        for match in re.findall(r"lecture\.(\w+)\.(\w+)\(config", cell.source)
    ]
    assert called == [(section.id, e.__name__) for e in section.experiments]


def test_install_cell_is_valid_ipython():
    """The ``%pip`` lines inside the ``if`` block become IPython calls, not syntax errors."""
    from IPython.core.inputtransformer2 import TransformerManager

    install = next(c.source for c in _read(NAMES[0]).cells if c.cell_type == "code")
    python = TransformerManager().transform_cell(install)
    compile(python, "install-cell", "exec")
    assert python.count("run_line_magic('pip'") == 2


def test_kernel_runs_this_interpreter(tmp_path, monkeypatch):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import os, sys\nprint(sys.executable)")]
    _execute(nb, tmp_path, monkeypatch, timeout=60)
    executable = _stream_text(nb.cells[0]).strip()
    assert os.path.realpath(executable) == os.path.realpath(sys.executable)


def test_failing_cell_fails_the_run(tmp_path, monkeypatch):
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("raise ValueError('cell failed on purpose')")]
    with pytest.raises(CellExecutionError, match="cell failed on purpose"):
        _execute(nb, tmp_path, monkeypatch, timeout=60)


@pytest.mark.slow
def test_a_notebook_runs_top_to_bottom_quick(tmp_path, monkeypatch):
    nb = _execute(_read("06_batch_normalization"), tmp_path, monkeypatch)
    setup = [cell for cell in nb.cells if cell.cell_type == "code"][1]
    assert "QUICK = True" in _stream_text(setup)
    shown = [
        out["data"]["text/html"]
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if "text/html" in out.get("data", {})
    ]
    # Each claim shows as its figure with its caption, once (no second copy of the figure).
    assert len(shown) == 2
    for page in shown:
        assert page.count("data:image/png;base64,") == 1 and "<figcaption>" in page
    images = [
        out
        for cell in nb.cells
        for out in cell.get("outputs", [])
        if "image/png" in out.get("data", {})
    ]
    assert images == []
