"""Invariant 6 of issue 17: a multi-file compile is all or nothing, and leaves nothing behind.

A child `archgraph compile` of 40 models is killed at random points (SIGKILL, SIGTERM,
SIGINT) of its write (staging, commit, switch) while it switches the output directory from
one version of the spec to the other. After the next run's recovery (`output.recover`, which
every compile runs first) the directory holds exactly the 40 modules, all of the old version
or all of the new, and no temporary file or stage directory. Ctrl-C in the middle of a write
is exit 130 with one line, no traceback, nothing changed. Stale temporary files of killed runs
are cleaned.

Budget: 8 kills by default; ARCHGRAPH_SLOW=1 (or -m slow) runs 60.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest

from archgraph import output
from archgraph.cli import main
from tests.conftest import ROOT

MODELS = 40  # any number over one shows a mix; each costs the child compile time
SLOW = os.environ.get("ARCHGRAPH_SLOW") == "1"
KILLS = 60 if SLOW else 8
MODEL = "model m{i}(dim = {dim}) {{\n    input x: [B, 4, dim]\n    return fc: linear(x, dim)\n}}\n"


def _write(folder, dim: int) -> None:
    """MODELS spec files, m0.arch ... (compile writes one file per spec file)."""
    for i in range(MODELS):
        (folder / f"m{i}.arch").write_text(MODEL.format(i=i, dim=dim))


def _paths(folder) -> list[str]:
    return [str(folder / f"m{i}.arch") for i in range(MODELS)]


def _state(out) -> str:
    """`old`, `new`, or a description of what is wrong with the directory."""
    names = sorted(p.name for p in out.iterdir())
    expected = sorted(f"m{i}.py" for i in range(MODELS))
    if names != expected:
        return f"wrong files: {sorted(set(names) ^ set(expected))[:5]}"
    dims = {("dim: int = 16" in (out / n).read_text()) for n in names}
    return "mixed" if len(dims) > 1 else ("new" if dims == {True} else "old")


# The child: `archgraph compile`, each rename slowed by 3 ms so that the switch (40 renames, well under
# a millisecond each) is a window a random kill can land in, as staging is. It prints `writing` when
# the write begins (after compiling), so that the kills land in the write rather than in the compile.
CHILD = """import os, sys, time
real = os.replace
os.replace = lambda *a: (time.sleep(0.003), real(*a))[1]
from archgraph import output
transaction = output._transaction
output._transaction = lambda *a: (print("writing", flush=True), transaction(*a))[1]
from archgraph.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _compile(spec, out) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", CHILD, "compile", *_paths(spec), "-o", str(out), "--force"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def _writing(child: subprocess.Popen) -> float:
    """Wait until `child` begins its write; returns the time then (perf_counter)."""
    for line in child.stdout:
        if line.strip() == "writing":
            return time.perf_counter()
    raise AssertionError(f"the child never began its write: exit {child.wait()}, {child.stderr.read()[-2000:]}")


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """The old version's specs and output, compiled once by a child (each test gets a copy)."""
    root = tmp_path_factory.mktemp("compiled")
    spec, out = root / "specs", root / "out"
    spec.mkdir()
    _write(spec, 8)
    child = _compile(spec, out)
    _, err = child.communicate()
    assert child.returncode == 0, err[-2000:]
    assert _state(out) == "old"
    return spec, out


@pytest.fixture
def project(compiled, tmp_path):
    """A copy of `compiled` for one test to change: (spec folder, output folder)."""
    spec, out = tmp_path / "specs", tmp_path / "out"
    shutil.copytree(compiled[0], spec)
    shutil.copytree(compiled[1], out)
    assert _state(out) == "old"
    return spec, out


def test_generated_modules_name_their_width(project):
    """The check `_state` relies on: the width shows as the constructor's default."""
    _, out = project
    assert "dim: int = 8" in (out / "m0.py").read_text()


def test_a_compile_killed_anywhere_leaves_all_old_or_all_new(project):
    spec, out = project
    _write(spec, 16)
    child = _compile(spec, out)
    start = _writing(child)
    _, err = child.communicate()
    window = time.perf_counter() - start  # one uninterrupted write, start to end
    assert child.returncode == 0, err[-2000:]
    assert _state(out) == "new"
    rng = random.Random(17)
    seen = {"old": 0, "new": 0}
    caught = {"nothing": 0, "finished": 0, "removed": 0}  # where the kills landed: after the end, switch, staging
    current = "new"
    signals = [signal.SIGKILL, signal.SIGTERM, signal.SIGINT]  # only SIGKILL leaves a stage behind
    for k in range(KILLS):
        _write(spec, 8 if current == "new" else 16)  # switch to the other version
        child = _compile(spec, out)
        _writing(child)
        # the k-th of KILLS equal slices of the write and a little after it, at random within the slice
        time.sleep((k + rng.random()) / KILLS * 1.2 * window)
        child.send_signal(signals[k % 3])
        _, err = child.communicate()
        actions = output.recover(out)  # what the next compile does first
        state = _state(out)
        caught[actions[0].split(" the ")[0] if actions else "nothing"] += 1
        assert state in ("old", "new"), (state, child.returncode, err[-2000:])
        current = state
        seen[state] += 1
    assert seen["old"] + seen["new"] == KILLS
    print(f"kills: {seen}; recovery: {caught}")  # -s shows where the kills landed


def test_ctrl_c_while_writing_is_exit_130_and_changes_nothing(project, capsys, monkeypatch):
    spec, out = project
    _write(spec, 16)
    real, calls = output._stage, []

    def interrupted(*args):
        calls.append(args)
        if len(calls) == MODELS // 2:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(output, "_stage", interrupted)
    capsys.readouterr()
    assert main(["compile", *_paths(spec), "-o", str(out), "--force"]) == 130
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if not line.startswith("[")]  # after the progress lines
    assert "Traceback" not in err and len(lines) == 1 and lines[0].startswith("interrupted")
    assert _state(out) == "old"


def test_stale_temporary_files_are_cleaned(project, capsys):
    """What killed runs left (a stage that never committed, older versions' `.name.py.XXXX.tmp`) goes."""
    spec, out = project
    (out / ".m0.py.abc123.tmp").write_text("half")
    stage = out / f"{output.STAGE_PREFIX}dead"
    stage.mkdir()
    (stage / "m0.py").write_text("half")
    assert main(["compile", *_paths(spec), "-o", str(out), "--force"]) == 0
    assert _state(out) == "old"


def test_a_committed_stage_is_finished(project):
    """A run killed after its commit point: the next run renames the rest into place."""
    _, out = project
    stage = out / f"{output.STAGE_PREFIX}done"
    stage.mkdir()
    new = {f"m{i}.py": (out / f"m{i}.py").read_text().replace("dim: int = 8", "dim: int = 16")
           for i in range(MODELS)}  # fmt: skip
    for name, text in new.items():
        (stage / name).write_text(text)
    (stage / output.COMMIT).write_text("".join(f"{n}\n" for n in new))
    os.replace(stage / "m0.py", out / "m0.py")  # it had renamed one file when it was killed
    assert "dim: int = 16" in (out / "m0.py").read_text() and "dim: int = 8" in (out / "m1.py").read_text()
    output.recover(out)
    assert _state(out) == "new"
