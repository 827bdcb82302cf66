"""The tour's report writer: JSON conversion, HTML embedding, files on disk, bad input."""

import base64
import json
import re

import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import pytest

from jaxtrain.cli._report import Report
from jaxtrain.lecture import Claim


def _figure(width=4.0, height=3.0):
    fig, ax = plt.subplots(figsize=(width, height))
    ax.plot([0, 1, 2], [1.0, 0.5, 0.25])
    return fig


def _claim(id, figure, caption, numbers):
    return Claim("critical_points", id, id.title(), numbers, figure, caption)


def _report():
    report = Report("a <test> report", {"backend": "cpu", "quick": True})
    section = report.section("critical_points", "2. Critical points", "H = ∇²L; λ < 0 → escape.")
    section.add_claim(
        _claim(
            "toy_saddle",
            _figure(),
            "Saddle at θ = (0, 0): eigenvalues −2 and 2 & escape along (1, 1)/√2.",
            {"eigenvalues": jnp.array([-2.0, 2.0]), "steps": np.int32(3), "ok": np.bool_(True)},
        )
    )
    section.add_claim(_claim("wide", _figure(12.0, 3.0), "A wide figure.", {"ratio": 0.5}))
    return report


def test_duplicate_ids_are_rejected():
    report = _report()
    with pytest.raises(ValueError, match="already has a section 'critical_points'"):
        report.section("critical_points", "again", "")
    with pytest.raises(ValueError, match="already has a figure 'toy_saddle'"):
        report.sections[0].add_claim(_claim("toy_saddle", _figure(), "again", {}))
    # The rejected figure is closed nowhere else: close it so matplotlib does not warn later.
    plt.close("all")


def test_add_claim_closes_the_matplotlib_figure():
    before = len(plt.get_fignums())
    _report()
    assert len(plt.get_fignums()) == before


def test_write_produces_self_contained_html_json_and_pngs(tmp_path):
    paths = _report().write(tmp_path / "out")
    page = paths["html"].read_text(encoding="utf-8")
    data = json.loads(paths["json"].read_text(encoding="utf-8"))

    # Every figure is embedded as a decodable PNG; no external resource is referenced.
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert len(sources) == 2
    for source in sources:
        assert source.startswith("data:image/png;base64,")
        assert base64.b64decode(source.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "http://" not in page and "https://" not in page
    # Text is escaped, captions are shown, the layout is responsive.
    assert "a &lt;test&gt; report" in page
    assert "eigenvalues −2 and 2 &amp; escape" in page
    assert 'name="viewport"' in page and "max-width: 100%" in page

    section = data["sections"]["critical_points"]
    assert data["meta"] == {"backend": "cpu", "quick": True}
    assert section["figures"]["toy_saddle"]["numbers"] == {
        "eigenvalues": [-2.0, 2.0],
        "steps": 3,
        "ok": True,
    }
    for figure in section["figures"].values():
        png = tmp_path / "out" / figure["file"]
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list((tmp_path / "out").glob("*.partial"))


def test_write_refuses_a_linked_figures_folder_and_writes_nothing_through_it(tmp_path):
    elsewhere, out = tmp_path / "elsewhere", tmp_path / "out"
    elsewhere.mkdir()
    out.mkdir()
    (out / "figures").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(ValueError, match=r"figures is a symbolic link"):
        _report().write(out)
    assert not list(elsewhere.iterdir())


def test_png_size_is_recorded_in_the_img_tag(tmp_path):
    report = _report()
    figure = report.sections[0].figures[1]
    assert figure.width > 2.5 * figure.height  # the 12 × 3 inch figure stays wide
    page = report.to_html()
    assert f'width="{figure.width}" height="{figure.height}"' in page


def test_tour_help(capsys):
    from jaxtrain.cli import main

    assert main(["tour", "--help"]) == 0
    assert "--quick" in capsys.readouterr().out


def test_each_figure_shows_its_claims_title(tmp_path):
    # add_claim kept the claim's id and caption but not its title, so neither report.html nor
    # report.json named any claim (a notebook and the examples do).
    paths = _report().write(tmp_path / "out")
    page = paths["html"].read_text(encoding="utf-8")
    data = json.loads(paths["json"].read_text(encoding="utf-8"))
    figures = data["sections"]["critical_points"]["figures"]
    assert figures["toy_saddle"]["title"] == "Toy_Saddle" and figures["wide"]["title"] == "Wide"
    assert "<figcaption><b>Toy_Saddle.</b> Saddle at θ = (0, 0)" in page


def test_numbers_panel_prints_apart_the_numbers_a_caption_compares():
    # The caption printed "linear 0.300041, MLP 0.300039 ('large' above 0.3)"; the panel meant
    # for checking it showed 4 significant digits: linear 0.3, mlp 0.3, threshold 0.3.
    numbers = {
        "train_loss_over_baseline": {"linear": 0.300041, "mlp": 0.300039},
        "large_train_loss": 0.3,
        "learning_rate": 0.03,
        "losses": [0.31, float("nan"), 0.300041],
    }
    report = Report("r")
    report.section("task_strategy", "1. Task strategy", "s").add_claim(
        _claim("model_bias", _figure(), "A caption.", numbers)
    )
    shown = dict(re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", report.to_html()))
    assert shown == {
        "train_loss_over_baseline": "{linear: 0.300041, mlp: 0.300039}",
        "large_train_loss": "0.3",
        "learning_rate": "0.03",
        "losses": "[0.31, n/a, 0.300041]",
    }


def test_numbers_panel_reads_json_infinities_as_infinities():
    from jaxtrain._json import to_jsonable
    from jaxtrain.lecture._claim import rounded_apart

    numbers = to_jsonable({"loss": float("inf"), "curve": [1.0, -float("inf")], "gap": None})
    assert rounded_apart(list(numbers.values())) == ["∞", "[1, −∞]", "n/a"]


def _one_section_report(color):
    report = Report("t")
    figure, ax = plt.subplots(figsize=(1, 1))
    ax.set_facecolor(color)
    claim = _claim("c", figure, f"A {color} picture.", {"color": color})
    report.section("critical_points", "2.", "").add_claim(claim)
    return report


def test_a_partial_report_leaves_the_whole_reports_figures_as_they_are(tmp_path):
    # A tour stopped part way replaced figures/*.png: report.html and report.json then
    # described other pictures than the folder held.
    _one_section_report("red").write(tmp_path)
    whole_png = (tmp_path / "figures" / "critical_points-c.png").read_bytes()
    paths = _one_section_report("blue").write(tmp_path, partial=True)
    assert (tmp_path / "figures" / "critical_points-c.png").read_bytes() == whole_png
    partial = json.loads(paths["json"].read_text())
    partial_file = partial["sections"]["critical_points"]["figures"]["c"]["file"]
    assert (tmp_path / partial_file).read_bytes() != whole_png
    # The whole report that follows takes the figures over and leaves no partial files.
    _one_section_report("blue").write(tmp_path)
    assert (tmp_path / "figures" / "critical_points-c.png").read_bytes() != whole_png
    assert not (tmp_path / partial_file).exists()
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == [
        "figures",
        "report.html",
        "report.json",
    ]


def test_a_report_that_cannot_be_rendered_writes_nothing(tmp_path):
    # report.json was replaced before the HTML failed, leaving it newer than report.html.
    _one_section_report("red").write(tmp_path)
    before = {str(p): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    report = _one_section_report("blue")

    def fail(*args, **kwargs):
        raise RuntimeError("cannot render")

    report.to_html = fail
    with pytest.raises(RuntimeError, match="cannot render"):
        report.write(tmp_path)
    assert {str(p): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
