"""The lecture notebooks: committed clean, built from ``notebooks/build.py``, and runnable.

Every notebook renders its section's claims from ``jaxtrain.lecture`` (tested once each in
``tests/lecture/``, which also check the numbers each notebook prints): here each notebook
must call exactly its section's experiments, follow each figure with what to see and its
numbers, and end with exercises whose solutions fold away; and one
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
def test_notebook_has_badge_parameters_install_cell_and_sections(name):
    build = _load_build()
    nb = _read(name)
    first = nb.cells[0]
    assert first.cell_type == "markdown"
    assert f"]({build.colab_url(name)})" in first.source and "colab-badge.svg" in first.source
    assert build.colab_url(name) == (
        f"https://colab.research.google.com/github/jaxtrain/jaxtrain/blob/main/notebooks/{name}.ipynb"
    )

    code = [cell.source for cell in nb.cells if cell.cell_type == "code"]
    # One parameters cell, first, before anything imports jaxtrain.
    parameters = code[0]
    assert "QUICK = " in parameters and "SEED = " in parameters and "JAXTRAIN_QUICK" in parameters
    assert not any(re.search(r"^(QUICK|SEED) =", cell, re.M) for cell in code[1:])
    install = code[1]
    # Installed from the repository without its dependencies, so Colab's jax (and a TPU's
    # matching libtpu) stay; skipped when jaxtrain is importable (CI has no network).
    assert 'find_spec("jaxtrain") is None' in install
    assert f'%pip install --quiet --no-deps "jaxtrain @ git+{build.REPOSITORY}"' in install
    assert "--upgrade" not in install and " -U " not in install
    assert "jax.devices()" in code[2] and "LectureConfig(quick=QUICK)" in code[2]

    text = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "markdown")
    assert "$" in text, "the idea's formula is missing"
    assert "## Exercises" in text


def test_one_setting_names_the_repository(tmp_path):
    """A fork changes REPOSITORY alone; badges, install cell and code links all follow."""
    source = (NOTEBOOKS_DIR / "build.py").read_text()
    line = 'REPOSITORY = "https://github.com/jaxtrain/jaxtrain"\n'
    assert source.count(line) == 1 and source.count("jaxtrain/jaxtrain") == 1
    fork = tmp_path / "build.py"
    fork.write_text(source.replace(line, 'REPOSITORY = "https://github.com/someone/fork"\n'))
    spec = importlib.util.spec_from_file_location("notebooks_build_fork", fork)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    for name in NAMES:
        text = nbformat.writes(module.build_notebook(name))
        assert "jaxtrain/jaxtrain" not in text
        assert "colab.research.google.com/github/someone/fork/blob/main/notebooks/" in text
        assert "git+https://github.com/someone/fork" in text
        assert "https://github.com/someone/fork/blob/main/jaxtrain/lecture/" in text
    bad = source.replace(line, 'REPOSITORY = "https://gitlab.com/someone/fork"\n')
    fork.write_text(bad)
    spec = importlib.util.spec_from_file_location("notebooks_build_bad", fork)
    with pytest.raises(ValueError, match=r"REPOSITORY must be https://github.com/OWNER/NAME"):
        spec.loader.exec_module(importlib.util.module_from_spec(spec))


@pytest.mark.parametrize("name", NAMES)
def test_each_figure_is_followed_by_what_you_should_see_and_its_numbers(name):
    cells = _read(name).cells
    call = re.compile(r"lecture\.\w+\.\w+\(config")
    calls = [i for i, c in enumerate(cells) if c.cell_type == "code" and call.search(c.source)]
    assert calls
    for i in calls:
        assert cells[i].cell_type == "code" and "seed=SEED" in cells[i].source
        see, numbers = cells[i + 1], cells[i + 2]
        assert see.cell_type == "markdown" and see.source.startswith("**What you should see.** ")
        assert numbers.cell_type == "code" and "claim.numbers_text(" in numbers.source


@pytest.mark.parametrize("name", NAMES)
def test_exercises_have_collapsible_solutions_whose_code_compiles(name):
    exercises = [c.source for c in _read(name).cells if "<details><summary>Solution" in c.source]
    assert len(exercises) >= 2 and exercises[0].startswith("## Exercises\n\n")
    for number, source in enumerate(exercises, 1):
        question = source.split("\n\n**", 1)[-1] if number == 1 else source[2:]
        assert question.startswith(f"{number}.** "), source[:80]
        # Blank lines around the solution, so Jupyter and Colab render its markdown.
        assert "<summary>Solution</summary>\n\n" in source and source.endswith("\n\n</details>")
        for block in re.findall(r"```python\n(.*?)```", source, re.S):
            compile(block, f"{name} exercise {number}", "exec")


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

    install = next(c.source for c in _read(NAMES[0]).cells if "%pip" in c.source)
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
    # The section whose claims run fastest at the quick size.
    nb = _execute(_read("05_loss_functions"), tmp_path, monkeypatch)
    setup = [cell for cell in nb.cells if cell.cell_type == "code"][2]
    assert "QUICK = True, SEED = 0" in _stream_text(setup)
    printed = [_stream_text(c) for c in nb.cells if "claim.numbers_text(" in c.get("source", "")]
    assert "probability_max_difference = " in printed[0]
    assert "ce_train_accuracy = " in printed[-1]
    shown = [
        out["data"]["text/html"]
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if "text/html" in out.get("data", {})
    ]
    # Each claim shows as its figure with its caption, once (no second copy of the figure).
    from jaxtrain import lecture

    experiments = lecture.section("loss_functions").experiments
    assert len(shown) == len(experiments)
    for page in shown:
        assert page.count("data:image/png;base64,") == 1 and "<figcaption>" in page
    images = [
        out
        for cell in nb.cells
        for out in cell.get("outputs", [])
        if "image/png" in out.get("data", {})
    ]
    assert images == []
