"""The README's command examples are run, and what they show must be what the commands print.

A fenced block right after the line `<!-- checked: tests/test_readme.py -->` is an example:
`$ archgraph ARGS` lines (optionally piped into `| tail -N` or `| head -N`) are run in-process
from the repository root, and the lines after each, up to the next `$`, are its output as
shown. `$ cat FILE` shows a file: its lines are written to FILE in a scratch folder, and the
block's commands then run there. A line `...` in the shown output skips any number of real
lines; elsewhere the shown lines must be the real lines in order, with nothing between them,
compared with whitespace collapsed. Only torch-free commands are marked.

    ARCHGRAPH_UPDATE_README=1 pytest tests/test_readme.py

rewrites each shown line with the real line it stands for (found by its text with the digits
masked), so stale numbers are fixed in place; a structural change is reported for a person.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field

import pytest

from archgraph.cli import main
from tests.conftest import ROOT

README = ROOT / "README.md"
MARK = "<!-- checked: tests/test_readme.py -->"
SKIP = "..."


@dataclass
class Step:
    command: str
    line: int  # index in README of the `$` line
    shown: list[int] = field(default_factory=list)  # README line indices of the shown output


def examples(lines: list[str]) -> list[list[Step]]:
    """Each marked block's steps."""
    out = []
    for i, line in enumerate(lines):
        if line.strip() != MARK:
            continue
        assert lines[i + 1].startswith("```"), f"README.md:{i + 1}: {MARK} must precede a fenced block"
        end = next(j for j in range(i + 2, len(lines)) if lines[j].startswith("```"))
        steps: list[Step] = []
        for j in range(i + 2, end):
            if lines[j].startswith("$ "):
                steps.append(Step(lines[j][2:], j))
            else:
                assert steps, f"README.md:{j + 1}: output before any `$` command"
                steps[-1].shown.append(j)
        out.append(steps)
    return out


def _norm(line: str) -> str:
    return " ".join(line.split())


def _key(line: str) -> str:
    """A line with its numbers masked: what finds the real line a stale shown line stands for."""
    return re.sub(r"\d[\d,.]*", "#", _norm(line))


def run(command: str, capsys) -> list[str]:
    """What `command` prints (stdout, then stderr), as lines, after its `| tail -N` / `| head -N`."""
    first, *pipes = command.split(" | ")
    argv = shlex.split(first)
    assert argv[0] == "archgraph", f"only archgraph commands run here: {command}"
    capsys.readouterr()
    try:
        main(argv[1:])
    except SystemExit:
        pass
    out, err = capsys.readouterr()
    lines = (out + err).splitlines()
    for pipe in pipes:
        tool, count = pipe.split()
        n = int(count.lstrip("-"))
        lines = lines[-n:] if tool == "tail" else lines[:n]
    return lines


def compare(lines: list[str], shown: list[int], real: list[str], update: bool) -> list[str]:
    """Problems matching the shown lines (README indices) against `real`; with `update`, fix numbers in place."""
    problems, pos, gap = [], 0, False
    for index in shown:
        if lines[index].strip() == SKIP:
            gap = True
            continue
        if gap:  # the same line later on, else the first with the same text but other numbers
            later = range(pos, len(real))
            found = next((k for k in later if _norm(real[k]) == _norm(lines[index])), None)
            found = next((k for k in later if _key(real[k]) == _key(lines[index])), None) if found is None else found
        else:
            found = pos if pos < len(real) and _key(real[pos]) == _key(lines[index]) else None
        if found is None:
            problems.append(f"README.md:{index + 1}: no such line {'later ' if gap else 'next '}in the output:\n"
                            f"  {lines[index]}")  # fmt: skip
            continue
        if _norm(real[found]) != _norm(lines[index]):
            if update:
                lines[index] = real[found]
            else:
                problems.append(f"README.md:{index + 1}: shows\n  {lines[index]}\nthe command prints\n  {real[found]}")
        pos, gap = found + 1, False
    if not gap and pos < len(real):
        problems.append(f"README.md: the output goes on after line {shown[-1] + 1 if shown else '?'}: {real[pos]!r}")
    return problems


LINES = README.read_text(encoding="utf-8").splitlines()
EXAMPLES = examples(LINES)


def test_the_readme_has_checked_examples():
    assert len(EXAMPLES) >= 6, "the README's command examples lost their markers"


@pytest.mark.parametrize("steps", EXAMPLES, ids=[s[0].command.split(" | ")[0][:60] for s in EXAMPLES])
def test_readme_example(steps: list[Step], capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("ARCHGRAPH_PROGRESS", "0")
    monkeypatch.delenv("ARCHGRAPH_PATH", raising=False)
    update = os.environ.get("ARCHGRAPH_UPDATE_README", "") not in ("", "0")
    lines = README.read_text(encoding="utf-8").splitlines()
    problems = []
    for step in steps:
        if step.command.startswith("cat "):
            text = "\n".join(lines[i] for i in step.shown) + "\n"
            (tmp_path / step.command.split()[1]).write_text(text, encoding="utf-8")
            monkeypatch.chdir(tmp_path)
            continue
        problems += compare(lines, step.shown, run(step.command, capsys), update)
    if update:
        README.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert not problems, "\n".join(problems) + "\nTo fix the numbers in place: ARCHGRAPH_UPDATE_README=1 pytest " \
                                               "tests/test_readme.py"  # fmt: skip
