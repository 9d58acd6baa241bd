"""gmmseg.files: atomic writes, output errors that name the path and the fix, input guard."""

from __future__ import annotations

import errno
import os

import pytest

from gmmseg.errors import GmmsegError, InputError, OutputError
from gmmseg.files import atomic_target, atomic_write_bytes, check_not_input, output_error


def test_atomic_write_replaces_whole_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    atomic_write_bytes(target, b"new contents")
    assert target.read_bytes() == b"new contents"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_failure_inside_the_block_keeps_the_old_file(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="boom"), atomic_target(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("boom")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_missing_parent_folder_is_an_output_error(tmp_path):
    with pytest.raises(OutputError, match="parent folder of .* does not exist") as info:
        atomic_write_bytes(tmp_path / "nope" / "out.csv", b"x")
    assert isinstance(info.value, GmmsegError) and info.value.exit_code == 2
    assert not info.value.fatal


def test_output_under_an_existing_file_is_an_output_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="existing file, not a folder"):
        atomic_write_bytes(tmp_path / "file" / "out.csv", b"x")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into read-only folders")
def test_read_only_folder_is_fatal(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(OutputError, match="permission denied") as info:
            atomic_write_bytes(folder / "out.csv", b"x")
        assert info.value.fatal
    finally:
        folder.chmod(0o700)


@pytest.mark.parametrize(
    ("code", "words", "fatal"),
    [
        (errno.ENOSPC, "no space left on the device holding", True),
        (errno.EROFS, "read-only file system", True),
        (errno.EACCES, "permission denied", True),
        (errno.ENOENT, "does not exist", False),
        (errno.EIO, "cannot write", False),
    ],
)
def test_output_error_names_path_problem_and_fix(code, words, fatal):
    error = output_error("out/a.png", OSError(code, os.strerror(code)))
    text = str(error)
    assert words in text and "a.png" in text and "\n" not in text
    assert error.fatal is fatal


def test_check_not_input_refuses_the_same_file_by_any_name(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("a\n1\n")
    with pytest.raises(InputError, match="refusing to overwrite the input"):
        check_not_input(tmp_path / "." / "in.csv", [source])
    link = tmp_path / "link.csv"
    link.symlink_to(source)
    with pytest.raises(InputError, match="refusing to overwrite the input"):
        check_not_input(link, [source])
    check_not_input(tmp_path / "other.csv", [source])  # a different file is fine
