"""The atomic writer's flags, and what a replaced file leaves behind."""

import fcntl
import os
import sys

import pytest

from jaxtrain._atomic import (
    CLOEXEC,
    FOLDER_FLAGS,
    NOFOLLOW,
    folder_lock,
    is_leftover,
    write_atomically,
)


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


@pytest.mark.parametrize("name", ["h" * 237 + ".json", "h" * 250 + ".json", "é" * 125 + ".json"])
def test_any_name_the_folder_takes_is_written_and_its_temporary_name_fits(
    tmp_path, monkeypatch, name
):
    # The temporary name ".<name>.<8 hex>.tmp" is 14 bytes longer than the name: a 242- to
    # 255-byte name failed with "File name too long", naming only the temporary file.
    temporaries = []
    replace = os.replace
    monkeypatch.setattr(
        os, "replace", lambda src, dst, **kw: (temporaries.append(src), replace(src, dst, **kw))
    )
    write_atomically(tmp_path / name, "new")
    assert (tmp_path / name).read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == [name]
    [temporary] = temporaries
    assert len(os.fsencode(temporary)) <= os.pathconf(tmp_path, "PC_NAME_MAX")
    assert is_leftover(temporary, name) and not is_leftover(temporary, "other" + name[5:])


def test_the_folder_lock_excludes_another_holder_until_released(tmp_path):
    first = os.open(tmp_path, FOLDER_FLAGS)
    second = os.open(tmp_path, FOLDER_FLAGS)
    try:
        with folder_lock(first), pytest.raises(BlockingIOError):
            fcntl.flock(second, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(second, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(first)
        os.close(second)
