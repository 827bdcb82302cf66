"""``jaxtrain tour`` renders the lecture's claims: report.json, report.html, progress, the page.

The claims themselves are tested once each, in ``tests/lecture/``; here the renderer runs on
small stand-in sections (same ids, instant experiments) so its test takes seconds.
"""

import dataclasses
import json
import math
import os
import re
import shutil
import sys

import matplotlib.pyplot as plt
import numpy as np
import pytest

from jaxtrain import lecture
from jaxtrain._output_dir import MANIFEST
from jaxtrain.cli import main
from jaxtrain.cli._tour import SECTIONS, run_tour

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _experiment(section_id, claim_id, value):
    def experiment(config, seed=0):
        fig, ax = plt.subplots(figsize=(4, 3))
        ax.plot([0, 1, 2], [value, value / 2, value / 4])
        numbers = {"value": value, "curve": np.array([value, value / 2]), "quick": config.quick}
        caption = f"A measured value of {value:.2f} (seed {seed}) & a <tag>."
        return lecture.Claim(section_id, claim_id, claim_id.title(), numbers, fig, caption)

    experiment.__name__ = claim_id
    return experiment


STAND_INS = tuple(
    lecture.Section(
        id=section_id,
        title=f"{index + 1}. {section_id.replace('_', ' ').capitalize()}",
        summary=f"The idea of {section_id}.",
        experiments=tuple(_experiment(section_id, f"claim_{k}", 0.5 + k) for k in range(2)),
    )
    for index, section_id in enumerate(SECTIONS)
)


@pytest.fixture
def stand_ins(monkeypatch):
    monkeypatch.setattr(lecture, "SECTIONS", STAND_INS)


@pytest.fixture
def tour(stand_ins, tmp_path, capsys):
    """``(out_dir, report.json content, stderr)`` of ``jaxtrain tour --quick`` on stand-ins."""
    out = tmp_path / "tour"
    # Figures left open by other tests in this process are not the tour's to close.
    plt.close("all")
    assert main(["tour", "--quick", "--out", str(out), "--seed", "3"]) == 0
    output = capsys.readouterr()
    assert f"wrote {out / 'report.html'}" in output.out
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    return out, report, output.err


def test_the_tours_sections_are_the_lectures():
    assert tuple(section.id for section in lecture.SECTIONS) == SECTIONS
    for section in lecture.SECTIONS:
        ids = [experiment.__name__ for experiment in section.experiments]
        assert len(ids) == len(set(ids)), section.id


def test_every_section_and_claim_is_rendered(tour):
    out, report, _ = tour
    assert list(report["sections"]) == list(SECTIONS)
    assert report["meta"]["quick"] is True
    assert report["meta"]["backend"] in {"cpu", "gpu", "tpu"}
    for section in report["sections"].values():
        assert section["summary"].startswith("The idea of")
        assert list(section["figures"]) == ["claim_0", "claim_1"]
        for figure in section["figures"].values():
            assert figure["numbers"]["quick"] is True
            assert math.isclose(figure["numbers"]["curve"][1], figure["numbers"]["value"] / 2)
            assert "(seed 3)" in figure["caption"]
            assert (out / figure["file"]).read_bytes()[:4] == b"\x89PNG"
    assert not plt.get_fignums(), "the tour leaves figures open"


def test_progress_is_one_line_per_figure_where_stderr_is_no_terminal(tour):
    # Before: tqdm's bars, carriage returns and all, went into a redirected stderr.
    _, report, stderr = tour
    titles = [section["title"] for section in report["sections"].values()]
    expected = [
        f"jaxtrain tour [{2 * i + k + 1}/{2 * len(titles)}]: {title}: claim_{k}"
        for i, title in enumerate(titles)
        for k in range(2)
    ]
    assert stderr.splitlines() == expected and "\r" not in stderr


def test_progress_bar_per_section_on_a_terminal(stand_ins, tmp_path, capsys, monkeypatch):
    from jaxtrain.train import _progress

    monkeypatch.setattr(_progress, "interactive", lambda: True)
    plt.close("all")
    run_tour(tmp_path, quick=True, sections=["loss_functions"], progress=True)
    stderr = capsys.readouterr().err
    assert "5. Loss functions: 100%" in stderr and "2/2" in stderr


def test_html_is_self_contained(tour):
    out, report, _ = tour
    page = (out / "report.html").read_text(encoding="utf-8")
    total = sum(len(s["figures"]) for s in report["sections"].values())
    assert page.count('<img src="data:image/png;base64,') == total
    assert "&amp; a &lt;tag&gt;" in page
    assert not re.search(r"<(link|script)\b", page)


def test_one_section_runs_alone(stand_ins, tmp_path):
    report = run_tour(tmp_path, quick=False, sections=["loss_functions"], progress=False)
    assert list(report["sections"]) == ["loss_functions"]
    assert report["sections"]["loss_functions"]["figures"]["claim_0"]["numbers"]["quick"] is False


def test_bad_sections_are_refused(capsys):
    assert main(["tour", "--sections", "nope"]) == 2
    assert "invalid choice" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown tour sections"):
        run_tour("unused", sections=["critical_points", "nope"])
    # One id as a string is that section, not its characters ("unknown ['_', 'c', ...]").
    with pytest.raises(ValueError, match=r"unknown tour sections \['nope'\]"):
        run_tour("unused", sections="nope")


def test_a_rerun_rewrites_the_tours_own_output(stand_ins, tmp_path, capsys):
    out = tmp_path / "tour"
    argv = ["tour", "--sections", "loss_functions", "--out", str(out)]
    assert main(argv) == 0
    assert main([*argv, "--seed", "7"]) == 0, capsys.readouterr().err
    assert "(seed 7)" in (out / "report.json").read_text(encoding="utf-8")


def test_overwrite_writes_into_a_foreign_folder_and_keeps_its_other_files(
    stand_ins, tmp_path, capsys
):
    out = tmp_path / "mixed"
    (out / "figures").mkdir(parents=True)
    (out / "notes.txt").write_text("mine")
    (out / "report.html").write_text("an old page")
    argv = ["tour", "--sections", "loss_functions", "--out", str(out)]
    assert main(argv) == 2
    assert (out / "report.html").read_text() == "an old page"
    assert main([*argv, "--overwrite"]) == 0, capsys.readouterr().err
    assert (out / "report.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert (out / "notes.txt").read_text() == "mine"


def test_a_linked_figures_folder_is_refused_before_any_section_runs(
    stand_ins, tmp_path, monkeypatch, capsys
):
    out, elsewhere = tmp_path / "tour", tmp_path / "elsewhere"
    assert main(["tour", "--sections", "loss_functions", "--out", str(out)]) == 0
    elsewhere.mkdir()
    shutil.rmtree(out / "figures")
    (out / "figures").symlink_to(elsewhere, target_is_directory=True)

    def work(*args, **kwargs):
        raise AssertionError("the tour ran a section before checking --out")

    monkeypatch.setattr(lecture, "LectureConfig", work)
    capsys.readouterr()
    assert main(["tour", "--out", str(out), "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{out / 'figures'} is a symbolic link" in err
    assert not list(elsewhere.iterdir())


def test_an_out_linked_to_a_missing_folder_is_refused_before_any_section_runs(
    stand_ins, tmp_path, monkeypatch, capsys
):
    # Before: the tour's check passed it and mkdir failed with "File exists", naming no link.
    out, target = tmp_path / "tour", tmp_path / "gone"
    out.symlink_to(target, target_is_directory=True)

    def work(*args, **kwargs):
        raise AssertionError("the tour ran a section before checking --out")

    monkeypatch.setattr(lecture, "LectureConfig", work)
    assert main(["tour", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{out} is a symbolic link to {target}" in err
    assert not target.exists()


NO_CHROMIUM = (
    "no Chromium for the browser test: install Debian's package (`apt-get install chromium`, "
    "found at /usr/bin/chromium or on PATH) or, where it can download, "
    "`python -m playwright install chromium`"
)


def _playwright_chromium() -> str | None:
    """The Chromium of ``python -m playwright install chromium``, if it was downloaded."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        path = playwright.chromium.executable_path
    return path if os.path.exists(path) else None


def _chromium_or_skip() -> str:
    """Debian's chromium, one on PATH, or Playwright's own; else the test is skipped, saying
    how to get one."""
    pytest.importorskip("playwright", reason="the browser test needs `pip install playwright`")
    for found in (
        lambda: "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None,
        lambda: shutil.which("chromium"),
        _playwright_chromium,
    ):
        executable = found()
        if executable:
            return executable
    pytest.skip(NO_CHROMIUM)


def test_the_browser_test_says_how_to_get_chromium_when_it_skips(monkeypatch):
    monkeypatch.setattr(os.path, "exists", lambda path: False)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(sys.modules[__name__], "_playwright_chromium", lambda: None)
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium"):
        _chromium_or_skip()


@pytest.mark.browser
@pytest.mark.parametrize("width", [1280, 390])
def test_report_renders_in_chromium(tour, tmp_path, width):
    executable = _chromium_or_skip()
    from playwright.sync_api import sync_playwright

    out, report, _ = tour
    total = sum(len(s["figures"]) for s in report["sections"].values())
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.goto((out / "report.html").as_uri(), wait_until="load")
            images = page.evaluate(
                """() => Array.from(document.images).map(img => ({
                    complete: img.complete,
                    natural: img.naturalWidth,
                    width: img.getBoundingClientRect().width,
                    container: img.parentElement.clientWidth,
                }))"""
            )
            figures = page.evaluate(
                """() => Array.from(document.querySelectorAll('figure')).map(f => ({
                    width: f.getBoundingClientRect().width,
                    container: f.parentElement.clientWidth,
                }))"""
            )
            scroll = page.evaluate(
                "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
            )
            page.screenshot(path=str(tmp_path / f"report-{width}.png"), full_page=True)
            page.screenshot(path=str(tmp_path / f"report-{width}-top.png"))
        finally:
            browser.close()
    assert len(images) == total
    for image in images:
        assert image["complete"] and image["natural"] > 0, image
        assert image["width"] <= image["container"] + 0.5, image
    assert len(figures) == total
    for figure in figures:
        assert figure["width"] <= figure["container"] + 0.5, figure
    assert scroll[0] <= scroll[1], f"the page scrolls sideways: {scroll}"
    assert (tmp_path / f"report-{width}.png").stat().st_size > 10_000


def _third_section_fails(monkeypatch):
    def fails(config, seed=0):
        raise FloatingPointError("the loss became NaN")

    broken = dataclasses.replace(STAND_INS[2], experiments=(fails,))
    monkeypatch.setattr(lecture, "SECTIONS", (*STAND_INS[:2], broken, *STAND_INS[3:]))


def test_a_failing_section_keeps_the_finished_ones_on_disk(monkeypatch, tmp_path):
    _third_section_fails(monkeypatch)
    with pytest.raises(FloatingPointError):
        run_tour(tmp_path, progress=False)
    # Minutes of finished sections are not thrown away, and the report says it is partial.
    report = json.loads((tmp_path / "report.partial.json").read_text(encoding="utf-8"))
    assert list(report["sections"]) == list(SECTIONS[:2])
    assert report["meta"]["sections"] == f"2 of {len(SECTIONS)}"
    page = (tmp_path / "report.partial.html").read_text(encoding="utf-8")
    assert f"sections: 2 of {len(SECTIONS)}" in page
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == sorted(
        f"{section}-claim_{k}.partial.png" for section in SECTIONS[:2] for k in range(2)
    )
    assert not (tmp_path / "report.json").exists()


def test_a_failing_rerun_keeps_the_complete_report(stand_ins, monkeypatch, tmp_path):
    # The report was rewritten after every section: a rerun failing in its third section
    # replaced a complete report by a 2-section one.
    run_tour(tmp_path, progress=False)
    names = [
        "report.json",
        "report.html",
        *(f"figures/{f}" for f in os.listdir(tmp_path / "figures")),
    ]
    complete = {name: (tmp_path / name).read_bytes() for name in names}
    _third_section_fails(monkeypatch)
    with pytest.raises(FloatingPointError):
        run_tour(tmp_path, progress=False, seed=5)
    # Its figures too: the partial run's went beside them (*.partial.png).
    assert {name: (tmp_path / name).read_bytes() for name in complete} == complete
    partial = json.loads((tmp_path / "report.partial.json").read_text(encoding="utf-8"))
    assert partial["meta"]["sections"] == f"2 of {len(SECTIONS)}"
    # A finished run replaces the report and takes its partial one away.
    monkeypatch.setattr(lecture, "SECTIONS", STAND_INS)
    run_tour(tmp_path, progress=False, sections=["loss_functions"], seed=5)
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert list(report["sections"]) == ["loss_functions"]
    assert not list(tmp_path.glob("report.partial.*"))


def test_fewer_sections_into_a_whole_tour_leave_only_the_figures_the_report_shows(
    stand_ins, tmp_path
):
    # Before: the 1-section report replaced the whole one, and the figures of the other
    # sections stayed, listed in the manifest, as if this report had them.
    run_tour(tmp_path, progress=False)
    (tmp_path / "figures" / "mine.png").write_bytes(b"mine")
    report = run_tour(tmp_path, progress=False, sections=["loss_functions"])
    shown = sorted(
        figure["file"]
        for section in report["sections"].values()
        for figure in section["figures"].values()
    )
    assert shown == ["figures/loss_functions-claim_0.png", "figures/loss_functions-claim_1.png"]
    on_disk = sorted(f"figures/{p.name}" for p in (tmp_path / "figures").iterdir())
    assert on_disk == sorted([*shown, "figures/mine.png"])
    manifest = json.loads((tmp_path / MANIFEST).read_text())["written_by"]
    assert manifest == {"jaxtrain tour": sorted([*shown, "report.html", "report.json"])}


def test_a_whole_tour_says_every_section_is_written(tour):
    _, report, _ = tour
    assert report["meta"]["sections"] == f"{len(SECTIONS)} of {len(SECTIONS)}"


def test_no_sections_is_refused_before_the_folder_is_touched(tmp_path):
    # The report was written only after a section: an empty choice wrote nothing at all.
    with pytest.raises(ValueError, match="no tour sections chosen"):
        run_tour(tmp_path / "out", sections=[], progress=False)
    assert not (tmp_path / "out").exists()
