"""The atomic writer's flags, and what a replaced file leaves behind."""

import os
import sys

import pytest

from jaxtrain._atomic import CLOEXEC, NOFOLLOW, is_leftover, write_atomically


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's open(2) flags")
def test_the_flags_are_the_platforms():
    # Before: CLOEXEC read os.OCLOEXEC, which does not exist: it was 0, and every descriptor
    # (the checkpoint lock among them) leaked into subprocesses.
    assert CLOEXEC == os.O_CLOEXEC != 0
    assert NOFOLLOW == os.O_NOFOLLOW != 0


def test_a_replaced_file_leaves_no_temporary_name(tmp_path):
    target = tmp_path / "report.json"
    target.write_text("old")
    write_atomically(target, "new")
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]
    assert is_leftover(".report.json.0123abcd.tmp", "report.json")
    assert not is_leftover(".report.json.tmp", "report.json")
