"""Golden error messages: every `tests/errors/*.arch` against the `.err` file beside it.

Each top-level `tests/errors/<case>.arch` is one mistake; `<case>.err` holds exactly what
`python3 -m archgraph check tests/errors/<case>.arch` prints on stderr, run from the
repository root. Files in subdirectories (`lib/`, `lib_cycle/`, ...) are helpers that the
cases import, never cases themselves. The error format is part of the product, so a
wording change shows up here as a diff and is accepted on purpose:

    ARCHGRAPH_UPDATE_GOLDEN=1 pytest tests/test_errors.py

The CLI runs in-process (`archgraph.cli.main`), with stderr captured by `capsys`.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import pytest

from tests.conftest import ROOT, run, update_golden

ERRORS = ROOT / "tests" / "errors"
CASES = sorted(ERRORS.glob("*.arch"))
ACCEPT = "ARCHGRAPH_UPDATE_GOLDEN=1 pytest tests/test_errors.py"
MIN_CASES = 30

KINDS = ("syntax error", "name error", "type error", "shape error", "requirement failed", "import error")
# The error's own file: the case, a helper it imports (`tests/errors/lib_broken/blocks.arch`) or std/.
FIRST_LINE = re.compile(rf"^(tests/errors|std)/[\w/]+\.arch:\d+:\d+: ({'|'.join(KINDS)}): ")

TINY_SPEC = """\
model tiny(dim = 8) {
    input x: [B, 4, dim]
    return fc: linear(x, dim)
}
"""


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@pytest.fixture
def in_repo(monkeypatch):
    """Spec tracebacks off (conftest already runs every test from the repository root)."""
    monkeypatch.delenv("ARCHGRAPH_DEBUG", raising=False)


def _mismatch(case: Path, golden: Path, expected: str, actual: str) -> str:
    diff = "".join(
        difflib.unified_diff(
            expected.splitlines(keepends=True),
            actual.splitlines(keepends=True),
            fromfile=_relative(golden),
            tofile=f"python3 -m archgraph check {_relative(case)}",
        )
    )
    return f"stderr differs from {_relative(golden)}:\n{diff}\nTo accept the new output: {ACCEPT}"


def _write_golden(golden: Path, text: str) -> None:
    with open(golden, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_error_message(case: Path, in_repo, capsys) -> None:
    golden = case.with_suffix(".err")
    code, out, err = run(capsys, "check", _relative(case))

    if update_golden():
        _write_golden(golden, err)
    if not golden.exists():
        pytest.fail(f"{_relative(golden)} is missing; to create it: {ACCEPT}", pytrace=False)
    expected = golden.read_text(encoding="utf-8")

    assert "Traceback" not in err, f"archgraph crashed on {_relative(case)}:\n{err}"
    assert code == 1, f"expected exit code 1 for a spec error, found {code}\nstderr:\n{err}"
    assert out == "", f"`check` printed on stdout for a failing spec:\n{out}"
    if err != expected:
        pytest.fail(_mismatch(case, golden, expected, err), pytrace=False)


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_golden_first_line(case: Path) -> None:
    """Each golden starts with `file:line:col: kind: message`, the file the case or its import."""
    golden = case.with_suffix(".err")
    assert golden.exists(), f"{_relative(golden)} is missing; to create it: {ACCEPT}"
    text = golden.read_text(encoding="utf-8")
    first = text.splitlines()[0] if text else ""
    assert FIRST_LINE.match(first), f"{_relative(golden)}: first line is not `file:line:col: kind: ...`:\n{first}"
    assert "Traceback" not in text


def test_cases_are_paired() -> None:
    """At least MIN_CASES cases, and every .arch has its .err and every .err its .arch."""
    arch = {p.stem for p in ERRORS.glob("*.arch")}
    err = {p.stem for p in ERRORS.glob("*.err")}
    assert len(arch) >= MIN_CASES, f"only {len(arch)} error cases; want at least {MIN_CASES}"
    assert not arch - err, f"cases without a .err (create with `{ACCEPT}`): {sorted(arch - err)}"
    assert not err - arch, f".err files without a case: {sorted(err - arch)}"


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_compile_writes_nothing(case: Path, in_repo, capsys, tmp_path: Path) -> None:
    """`compile` of a valid spec together with an erroneous one writes no file at all."""
    good = tmp_path / "ok.arch"
    good.write_text(TINY_SPEC, encoding="utf-8")
    out_dir = tmp_path / "out"
    code, out, err = run(capsys, "compile", str(good), _relative(case), "-o", str(out_dir))
    assert code == 1, f"exit code {code}, expected 1\nstderr:\n{err}"
    assert "wrote" not in out
    assert not out_dir.exists() or not any(out_dir.iterdir()), sorted(out_dir.rglob("*"))


def test_tiny_spec_compiles(in_repo, capsys, tmp_path: Path) -> None:
    """The valid spec used above does compile, so the test above is about the error."""
    good = tmp_path / "ok.arch"
    good.write_text(TINY_SPEC, encoding="utf-8")
    code, out, err = run(capsys, "compile", str(good), "-o", str(tmp_path / "out"))
    assert code == 0, err
    assert "wrote" in out
    assert (tmp_path / "out" / "ok.py").is_file()  # one file per spec file, named after it
