"""Progress shown where someone watches: fit's bar over steps and the stages of long commands."""

import io

import pytest

from jaxtrain.train import _progress
from jaxtrain.train._progress import StageProgress


def test_a_function_hears_every_stage_with_its_index_and_the_growing_total():
    heard = []
    with StageProgress(lambda *args: heard.append(args), total=2) as stages:
        stages.stage("training, seed 0")
        stages.expect(1)  # a later decision adds work
        stages.stage("training, seed 1")
        stages.stage("the causes")
    assert heard == [("training, seed 0", 1, 2), ("training, seed 1", 2, 3), ("the causes", 3, 3)]


def test_a_bar_on_a_terminal_shows_the_running_stage(monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr(_progress, "interactive", lambda: True)
    monkeypatch.setattr("sys.stderr", err)
    with StageProgress(True, desc="diagnose", total=3) as stages:
        stages.stage("training mlp, seed 0")
        stages.stage("where training stalled")
        assert stages._bar.n == 1 and stages._bar.total == 3  # one stage done, one running
    text = err.getvalue()
    assert "diagnose" in text and "training mlp, seed 0" in text
    assert "where training stalled" in text


@pytest.mark.parametrize("shown", [True, False])
def test_nothing_is_written_where_no_one_watches(monkeypatch, capsys, shown):
    monkeypatch.setattr(_progress, "interactive", lambda: False)
    with StageProgress(shown, desc="diagnose", total=1) as stages:
        stages.stage("training")
    assert capsys.readouterr() == ("", "")


def test_more_stages_than_announced_is_a_bug_said_plainly():
    stages = StageProgress(False, total=1)
    stages.stage("one")
    with pytest.raises(ValueError, match="stage 2 of 1"):
        stages.stage("two")
