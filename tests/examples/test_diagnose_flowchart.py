"""Smoke test: examples/diagnose_flowchart.py at --quick size, in process."""

import importlib.util
import json
import pathlib

import pytest

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "diagnose_flowchart.py"


def _load():
    spec = importlib.util.spec_from_file_location("diagnose_flowchart_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_quick_cases_come_out_right_and_write_their_reports(tmp_path, capsys):
    verdicts = _load().main(["--out", str(tmp_path), "--quick", "--cases", "overfitting", "ok"])
    assert verdicts == {"overfitting": "overfitting", "ok": "ok"}
    folder = tmp_path / "diagnose_flowchart"
    assert (folder / "flowchart.png").read_bytes()[:4] == b"\x89PNG"
    report = json.loads((folder / "ok" / "diagnosis.json").read_text())
    assert report["verdict"] == "ok"
    assert (folder / "overfitting" / "training_curves.png").stat().st_size > 0
    assert "overfitting   overfitting" in capsys.readouterr().out
