"""The output folder every writer shares: atomic writes, no write through a link, the manifest
that tells a command's earlier output from a folder it must not touch."""

import json
import os
import threading

import pytest

from jaxtrain._atomic import FOLDER_FLAGS, folder_lock
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


def test_a_failed_first_write_leaves_the_name_unclaimed(tmp_path, monkeypatch):
    # Before: the manifest listed a file the write never made, so a user's file put at that
    # name later was replaced without --overwrite.
    from jaxtrain import _output_dir

    out = OutputDir(tmp_path, "jaxtrain explain")
    out.write_text("explanation.json", "{}")
    original = _output_dir._replace

    def full_disk(folder, name, data):
        if name == "explanation.png":
            raise OSError(28, "No space left on device")
        return original(folder, name, data)

    monkeypatch.setattr(_output_dir, "_replace", full_disk)
    with pytest.raises(OSError, match="No space left"):
        out.write_bytes("explanation.png", b"png")
    assert _manifest(tmp_path)["written_by"] == {"jaxtrain explain": ["explanation.json"]}


def test_a_read_only_file_system_is_called_that(tmp_path, monkeypatch):
    # Before: "permission denied", where the folder is writable but its file system is not.
    monkeypatch.setattr(os, "access", lambda path, mode: False)

    class ReadOnly:
        f_flag = os.ST_RDONLY

    monkeypatch.setattr(os, "statvfs", lambda path: ReadOnly())
    with pytest.raises(OutputDirError, match=f"cannot write to {tmp_path}: read-only file system"):
        claim_output_dir(tmp_path, "jaxtrain tour")
    with pytest.raises(OutputDirError, match="read-only file system"):
        claim_output_dir(tmp_path / "new", "jaxtrain tour")


def test_text_with_a_file_names_undecodable_bytes_is_written_as_valid_utf8(tmp_path):
    # A file name that is not UTF-8 reaches Python as lone surrogates ("bad\udcffname"):
    # written into a report, the strict encoding failed after all the work was done.
    # A backslash escape in its place made invalid JSON ("\\xff" in a string): the
    # replacement character keeps Markdown and JSON valid alike.
    name = os.fsdecode(b"bad\xffname.npz")
    out = OutputDir(tmp_path, "jaxtrain explain")
    out.write_text("explanation.md", f"data: {name} λ")
    assert (tmp_path / "explanation.md").read_text(encoding="utf-8") == "data: bad\ufffdname.npz λ"
    out.write_text("explanation.json", json.dumps({"data": name}, ensure_ascii=False))
    assert json.loads((tmp_path / "explanation.json").read_text(encoding="utf-8")) == {
        "data": "bad\ufffdname.npz"
    }


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


def test_a_file_the_manifest_does_not_list_is_replaced_only_with_overwrite(tmp_path):
    # An earlier run stopped after its first file; the user then saved a file of a name the
    # command writes. The folder is the command's, but that file is not.
    out = tmp_path / "out"
    OutputDir(out, "jaxtrain hessian").write_text("hessian.json", "{}")
    (out / "spectrum.png").write_bytes(b"mine")
    assert claim_output_dir(out, "jaxtrain hessian") == out
    refused = r"spectrum\.png is not an earlier output of jaxtrain hessian.*--overwrite"
    with pytest.raises(OutputDirError, match=refused):
        OutputDir(out, "jaxtrain hessian").write_bytes("spectrum.png", b"png")
    assert (out / "spectrum.png").read_bytes() == b"mine"
    assert _manifest(out)["written_by"] == {"jaxtrain hessian": ["hessian.json"]}
    OutputDir(out, "jaxtrain hessian").write_text("hessian.json", "{}")  # its own file: replaced

    # --overwrite reaches the writer as its own argument (no state kept between calls).
    claim_output_dir(out, "jaxtrain hessian", overwrite=True)
    OutputDir(out, "jaxtrain hessian", overwrite=True).write_bytes("spectrum.png", b"png")
    assert (out / "spectrum.png").read_bytes() == b"png"
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OutputDirError, match=r"notes\.txt"):
        OutputDir(out, "jaxtrain hessian").write_text("notes.txt", "")


def test_a_killed_writes_temporary_files_neither_block_the_rerun_nor_stay(tmp_path):
    # A run killed in its first manifest write left only the manifest's temporary copy.
    out = tmp_path / "out"
    out.mkdir()
    (out / f".{MANIFEST}.0123abcd.tmp").write_text('{"jaxtrain_output": 1, "wr')
    assert claim_output_dir(out, "jaxtrain hessian") == out
    (out / ".hessian.json.89abcdef.tmp").write_text("{")
    OutputDir(out, "jaxtrain hessian").write_text("hessian.json", "{}")
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, "hessian.json"]


def test_two_writers_keep_each_others_manifest_entries(tmp_path):
    out = tmp_path / "shared"
    first, second = OutputDir(out, "jaxtrain diagnose"), OutputDir(out, "jaxtrain hessian")
    second.write_text("hessian.json", "{}")
    first.write_text("diagnosis.json", "{}")
    assert _manifest(out)["written_by"] == {
        "jaxtrain diagnose": ["diagnosis.json"],
        "jaxtrain hessian": ["hessian.json"],
    }
    assert claim_output_dir(out, "jaxtrain hessian") == out


def test_a_write_waits_for_another_writer_holding_the_folder(tmp_path):
    # Another process between its read and its rewrite of the manifest holds the folder lock.
    folder = os.open(tmp_path, FOLDER_FLAGS)
    writer = threading.Thread(
        target=OutputDir(tmp_path, "jaxtrain tour").write_text, args=("report.json", "{}")
    )
    try:
        with folder_lock(folder):
            writer.start()
            writer.join(timeout=0.3)
            assert writer.is_alive() and not (tmp_path / "report.json").exists()
    finally:
        os.close(folder)
    writer.join(timeout=10)
    assert (tmp_path / "report.json").read_text() == "{}"


def test_a_manifest_with_a_number_python_will_not_convert_is_not_ours(tmp_path):
    # json.loads raised Python's int-conversion ValueError (over 4300 digits) through every
    # caller, --overwrite included.
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / MANIFEST).write_text('{"jaxtrain_output": 1, "n": ' + "9" * 5000 + "}")
    with pytest.raises(OutputDirError, match="is not empty and is not an earlier output"):
        claim_output_dir(tmp_path, "jaxtrain tour")
    claim_output_dir(tmp_path, "jaxtrain tour", overwrite=True)
    OutputDir(tmp_path, "jaxtrain tour").write_text("report.json", "{}")
    assert _manifest(tmp_path)["written_by"] == {"jaxtrain tour": ["report.json"]}


@pytest.mark.parametrize("create", [True, False])
def test_a_folder_the_system_will_not_reach_is_refused_in_one_line(tmp_path, create):
    # Before: a raw OSError (a parent you cannot search gave "PermissionError: [Errno 13]").
    out = tmp_path / ("x" * 300) / "out"
    with pytest.raises(OutputDirError, match=f"cannot write to {out}: File name too long$"):
        claim_output_dir(out, "jaxtrain tour", create=create)


def test_a_folder_it_cannot_list_is_refused_in_one_line(tmp_path, monkeypatch):
    (tmp_path / "notes.txt").write_text("mine")

    def denied(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(os, "scandir", denied)
    with pytest.raises(OutputDirError, match=f"cannot write to {tmp_path}: Permission denied$"):
        claim_output_dir(tmp_path, "jaxtrain tour")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may search any folder")
def test_a_folder_under_one_it_cannot_search_is_refused_in_one_line(tmp_path):
    (tmp_path / "closed").mkdir(mode=0o600)
    with pytest.raises(OutputDirError, match=r"Permission denied$"):
        claim_output_dir(tmp_path / "closed" / "out", "jaxtrain tour")


def test_remove_deletes_only_a_file_the_manifest_lists_as_the_commands(tmp_path):
    out = OutputDir(tmp_path, "jaxtrain tour")
    out.write_text("report.partial.json", "{}")
    OutputDir(tmp_path, "jaxtrain hessian").write_text("hessian.json", "{}")
    (tmp_path / "notes.txt").write_text("mine")
    for name in ("report.partial.json", "hessian.json", "notes.txt", "never-written.json"):
        out.remove(name)
    assert sorted(p.name for p in tmp_path.iterdir()) == [MANIFEST, "hessian.json", "notes.txt"]
    assert _manifest(tmp_path)["written_by"] == {"jaxtrain hessian": ["hessian.json"]}


@pytest.mark.parametrize("create", [True, False])
@pytest.mark.parametrize("below", [(), ("run",)])
def test_a_link_to_a_missing_folder_is_refused_naming_the_link_and_its_target(
    tmp_path, create, below
):
    # Before: exists() is False for a dangling link, so the check without create passed it,
    # and the command did all its work before mkdir failed with "cannot write to dl: File
    # exists", naming neither the link nor where it points.
    link, target = tmp_path / "dl", tmp_path / "no" / "such" / "dir"
    link.symlink_to(target, target_is_directory=True)
    out = link.joinpath(*below)
    with pytest.raises(OutputDirError) as error:
        claim_output_dir(out, "jaxtrain hessian", create=create)
    assert str(error.value) == (
        f"cannot write to {out}: {link} is a symbolic link to {target}, which does not exist; "
        f"create {target}, or choose another --out"
    )
    assert not (tmp_path / "no").exists()


def test_remove_stale_deletes_only_the_commands_files_it_did_not_write_again(tmp_path):
    out_dir, outside = tmp_path / "out", tmp_path / "outside.txt"
    earlier = OutputDir(out_dir, "jaxtrain diagnose")
    for name in ("diagnosis.json", "curves_a.png", "figures/b.png", "c.png"):
        earlier.write_text(name, "earlier")
    OutputDir(out_dir, "jaxtrain hessian").write_text("hessian.json", "{}")
    (out_dir / "notes.txt").write_text("mine")
    outside.write_text("mine")
    (out_dir / "c.png").unlink()
    (out_dir / "c.png").mkdir()  # the user's folder now, at a name the manifest lists
    record = _manifest(out_dir)
    record["written_by"]["jaxtrain diagnose"].append("../outside.txt")  # a damaged manifest
    (out_dir / MANIFEST).write_text(json.dumps(record))
    now = OutputDir(out_dir, "jaxtrain diagnose")
    now.write_text("diagnosis.json", "now")
    now.remove_stale()
    assert sorted(p.name for p in out_dir.iterdir()) == [
        MANIFEST,
        "c.png",
        "diagnosis.json",
        "figures",
        "hessian.json",
        "notes.txt",
    ]
    assert not list((out_dir / "figures").iterdir()) and outside.read_text() == "mine"
    assert _manifest(out_dir)["written_by"] == {
        "jaxtrain diagnose": ["../outside.txt", "diagnosis.json"],
        "jaxtrain hessian": ["hessian.json"],
    }
