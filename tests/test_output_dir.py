"""The output folder every writer shares: atomic writes, no write through a link, the manifest
that tells a command's earlier output from a folder it must not touch."""

import json
import os

import pytest

from jaxtrain._output_dir import MANIFEST, OutputDir, OutputDirError, claim_output_dir


def _manifest(folder):
    return json.loads((folder / MANIFEST).read_text())


def test_the_manifest_lists_each_commands_files_and_keeps_earlier_ones(tmp_path):
    out = OutputDir(tmp_path / "out", "jaxtrain tour")
    out.write_text("report.json", "{}")
    out.write_bytes("figures/a.png", b"png")
    OutputDir(tmp_path / "out", "jaxtrain tour").write_text("report.html", "<p>")
    OutputDir(tmp_path / "out", "jaxtrain hessian").write_text("hessian.json", "{}")
    assert _manifest(tmp_path / "out")["written_by"] == {
        "jaxtrain tour": ["figures/a.png", "report.html", "report.json"],
        "jaxtrain hessian": ["hessian.json"],
    }
    assert claim_output_dir(tmp_path / "out", "jaxtrain hessian") == tmp_path / "out"


def test_a_new_or_empty_folder_is_claimed_and_a_foreign_one_only_with_overwrite(tmp_path):
    assert claim_output_dir(tmp_path / "a" / "b", "jaxtrain tour").is_dir()
    (tmp_path / "a" / "b" / "notes.txt").write_text("mine")
    with pytest.raises(OutputDirError, match=r"holds 1 entry \('notes.txt'\)"):
        claim_output_dir(tmp_path / "a" / "b", "jaxtrain tour")
    claim_output_dir(tmp_path / "a" / "b", "jaxtrain tour", overwrite=True)
    assert (tmp_path / "a" / "b" / "notes.txt").read_text() == "mine"


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    out = OutputDir(tmp_path, "jaxtrain hessian")
    out.write_text("hessian.json", "old")

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left"):
        out.write_text("hessian.json", "new")
    assert (tmp_path / "hessian.json").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == [MANIFEST, "hessian.json"]


def test_a_linked_manifest_is_not_trusted_and_is_replaced(tmp_path):
    # A link can make a foreign folder look like a command's own output: it does not count.
    elsewhere = tmp_path / "elsewhere"
    OutputDir(elsewhere, "jaxtrain tour").write_text("report.json", "{}")
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.json").write_text("mine")
    (out / MANIFEST).symlink_to(elsewhere / MANIFEST)
    with pytest.raises(OutputDirError, match="not an earlier output of jaxtrain tour"):
        claim_output_dir(out, "jaxtrain tour")
    OutputDir(out, "jaxtrain hessian").write_text("hessian.json", "{}")
    assert not (out / MANIFEST).is_symlink()
    assert _manifest(out)["written_by"] == {"jaxtrain hessian": ["hessian.json"]}
    assert _manifest(elsewhere)["written_by"] == {"jaxtrain tour": ["report.json"]}


@pytest.mark.parametrize("name", ["../escape.json", "/tmp/escape.json", "a/../../b", ""])
def test_a_name_outside_the_folder_is_a_programming_error(tmp_path, name):
    with pytest.raises(ValueError, match="a relative name inside the folder"):
        OutputDir(tmp_path, "jaxtrain tour").write_text(name, "x")
    assert not (tmp_path.parent / "escape.json").exists()


def test_a_fifo_at_the_manifests_name_neither_hangs_nor_counts_as_a_manifest(tmp_path):
    os.mkfifo(tmp_path / MANIFEST)
    with pytest.raises(OutputDirError, match=r"holds 1 entry \('.jaxtrain-output.json'\)"):
        claim_output_dir(tmp_path, "jaxtrain tour")
    OutputDir(tmp_path, "jaxtrain tour").write_text("report.json", "{}")  # replaces the FIFO
    assert _manifest(tmp_path)["written_by"] == {"jaxtrain tour": ["report.json"]}


def test_a_folder_it_cannot_write_is_refused_before_any_work(tmp_path, monkeypatch):
    # Root may write anywhere, so the permission is denied by a stand-in for os.access.
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(OutputDirError, match=f"cannot write to {tmp_path}: permission denied"):
        claim_output_dir(tmp_path, "jaxtrain tour")


def test_a_check_without_create_refuses_what_creating_would_and_makes_nothing(tmp_path):
    new = tmp_path / "a" / "b"
    assert claim_output_dir(new, "jaxtrain diagnose", create=False) == new
    assert not (tmp_path / "a").exists()
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(OutputDirError, match="is a file, not a folder"):
        claim_output_dir(blocker / "out", "jaxtrain diagnose", create=False)
    assert claim_output_dir(new, "jaxtrain diagnose") == new and new.is_dir()
