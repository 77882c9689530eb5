"""Invariant 4 of issue 17: every OS error is the user's error, reported as such.

Each way a path can be wrong (a symlink loop, a name over 255 bytes, a parent that is a file,
a FIFO, a device, a directory, an unreadable file, a read-only or full output directory, `-o`
onto a file or a directory) ends in exit 1 or 2 with one line that names the path and the
cause; never exit 3 or a traceback. A FIFO is refused from its `stat` (a read would block
forever). Spec reads are bounded by what is read: /proc files report size 0. Graphviz runs
with a timeout and its failure or absence is one line too. (The checkpoint cases are in
tests/torch/test_checkpoint_errors.py.)
"""

from __future__ import annotations

import errno
import os
import signal
from pathlib import Path
from types import SimpleNamespace

import pytest

from archgraph import export, loader, output
from tests.conftest import run

TINY = "model tiny(dim = 8) {\n    input x: [B, 4, dim]\n    return fc: linear(x, dim)\n}\n"


def _bad_spec_paths(tmp: Path) -> dict[str, tuple[Path, str]]:
    """{case: (path, the cause the error must give)} for spec paths the OS cannot read."""
    (tmp / "loop").symlink_to(tmp / "loop")
    (tmp / "a_file").write_text("x")
    os.mkfifo(tmp / "fifo.arch")
    (tmp / "dir.arch").mkdir()
    return {
        "symlink loop": (tmp / "loop", "its symbolic links form a loop"),
        "name over 255 bytes": (tmp / ("n" * 300 + ".arch"), "longer than the file system allows"),
        "parent is a file": (tmp / "a_file" / "x.arch", "a part of the path is a file"),
        "fifo": (tmp / "fifo.arch", "a FIFO"),
        "device": (Path("/dev/null"), "a device"),
        "directory": (tmp / "dir.arch", "a directory"),
        "missing": (tmp / "missing.arch", "does not exist"),
    }


CASES = ["symlink loop", "name over 255 bytes", "parent is a file", "fifo", "device", "directory", "missing"]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("command", ["check", "compile", "report", "graph"])
def test_a_spec_path_the_os_cannot_read_is_one_clear_line(case, command, tmp_path, capsys):
    path, cause = _bad_spec_paths(tmp_path)[case]
    signal.alarm(20)  # a FIFO opened for reading would block here forever
    try:
        argv = [command, str(path)] + (["-o", str(tmp_path / "out")] if command == "compile" else [])
        code, _, err = run(capsys, *argv)
    finally:
        signal.alarm(0)
    assert code == 1 and cause in err and "Traceback" not in err and "internal error" not in err, err
    first = next(line for line in err.splitlines() if "error" in line)
    assert str(path)[:40] in first


def test_an_import_of_a_path_the_os_cannot_read_points_at_the_import(tmp_path, capsys):
    (tmp_path / "loop.arch").symlink_to(tmp_path / "loop.arch")
    (tmp_path / "main.arch").write_text('import "loop.arch"\n' + TINY)
    code, _, err = run(capsys, "check", str(tmp_path / "main.arch"))
    assert code == 1 and "main.arch:1:1: import error" in err and "symbolic links form a loop" in err


def test_an_unreadable_spec_is_one_line(tmp_path, capsys, monkeypatch):
    """Permission denied (simulated: the tests may run as root, who reads anything)."""
    spec = tmp_path / "t.arch"
    spec.write_text(TINY)

    def denied(path, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(loader, "open", denied, raising=False)
    code, _, err = run(capsys, "check", str(spec))
    assert code == 1 and f"cannot read `{spec}`: permission denied" in err


def test_a_spec_read_is_bounded_by_what_is_read(tmp_path, capsys, monkeypatch):
    """A file whose size stat reports as 0 (as /proc files do) is still read at most LIMIT + 1 bytes."""
    spec = tmp_path / "t.arch"
    spec.write_text("# " + "x" * (loader.MAX_FILE_BYTES + 10) + "\n" + TINY)
    real_stat = os.stat

    class ZeroSize:
        def __init__(self, info):
            self.st_mode, self.st_size = info.st_mode, 0

    monkeypatch.setattr(loader, "os", SimpleNamespace(stat=lambda p: ZeroSize(real_stat(p))))
    code, _, err = run(capsys, "check", str(spec))
    assert code == 1 and f"holds more than {loader.MAX_FILE_BYTES:,} bytes" in err
    code, _, err = run(capsys, "check", "/proc/self/status")  # size 0, and not a spec: refused, not quoted
    assert code == 1 and "is not an archgraph spec" in err


@pytest.mark.parametrize("where", ["a file", "a file's child", "a long name"])
def test_compile_into_a_path_that_cannot_be_a_directory(where, tmp_path, capsys):
    (tmp_path / "t.arch").write_text(TINY)
    (tmp_path / "f").write_text("x")
    out = {"a file": tmp_path / "f", "a file's child": tmp_path / "f" / "out", "a long name": tmp_path / ("d" * 300)}
    code, _, err = run(capsys, "compile", str(tmp_path / "t.arch"), "-o", str(out[where]))
    assert code == 1 and "error: cannot write to" in err and "no file was changed" in err and "Traceback" not in err


@pytest.mark.parametrize("failure", [errno.EACCES, errno.EROFS, errno.ENOSPC])
def test_compile_into_a_directory_that_refuses_writes(failure, tmp_path, capsys, monkeypatch):
    """A read-only directory, a read-only file system, a full disk (simulated, as root writes anywhere)."""
    (tmp_path / "t.arch").write_text(TINY)

    def refuse(*args, dir=None, **kwargs):
        raise OSError(failure, os.strerror(failure), str(dir))

    monkeypatch.setattr(output.tempfile, "mkdtemp", refuse)
    code, _, err = run(capsys, "compile", str(tmp_path / "t.arch"), "-o", str(tmp_path / "out"))
    assert code == 1 and f"{os.strerror(failure)}; no file was changed" in err and "Traceback" not in err


def test_missing_graphviz_is_one_line(tmp_path, capsys, monkeypatch):
    (tmp_path / "t.arch").write_text(TINY)
    monkeypatch.setattr(export, "dot_binary", lambda: None)
    code, _, err = run(capsys, "graph", str(tmp_path / "t.arch"), "--format", "svg", "--renderer", "dot")
    assert code == 1 and err.count("\n") == 1 and "dot, which is not installed" in err


@pytest.mark.parametrize(
    "script, cause",
    [("sleep 30", "did not finish within 0.5 s"), ("echo broken >&2; exit 2", "failed (exit 2): broken")],
)
def test_graphviz_that_hangs_or_fails_is_one_line(script, cause, tmp_path, capsys, monkeypatch):
    """dot runs with a timeout: a hanging or failing `dot` (a stand-in script) is a one-line error."""
    fake = tmp_path / "dot"
    fake.write_text(f"#!/bin/sh\ncat > /dev/null\n{script}\n")
    fake.chmod(0o755)
    (tmp_path / "t.arch").write_text(TINY)
    monkeypatch.setattr(export, "dot_binary", lambda: str(fake))
    monkeypatch.setattr(export, "DOT_TIMEOUT", 0.5)
    monkeypatch.setattr(export.run_dot, "__defaults__", (0.5,))
    code, _, err = run(capsys, "graph", str(tmp_path / "t.arch"), "--format", "svg", "--renderer", "dot")
    assert code == 1 and err.count("\n") == 1 and cause in err, err


def test_only_pathlib_s_symlink_loop_is_called_a_loop():
    from archgraph.errors import os_cause

    assert os_cause(RuntimeError("Symlink loop from '/a/b'")) == "its symbolic links form a loop"
    assert os_cause(RuntimeError("Disk on fire\ndetails")) == "disk on fire"
