"""The cache of generated modules (archgraph/compiled.py): a spec whose every input is unchanged is
taken from the cache, byte for byte what generating it writes, without lowering or fitting; any
change to what the module is generated from (the spec, a file it imports, the output folder its
header names, the models' parameters, archgraph's own sources) misses, and a damaged entry is a
miss, never an error."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import archgraph.codegen
from archgraph import compiled, diskcache
from archgraph.api import open_model
from archgraph.cli import main
from archgraph.codegen import generate
from tests.conftest import ROOT

LIB = "block proj(x, d) {\n    return fc: linear(x, d)\n}\n"
SPEC = 'import "lib.arch"\n\nmodel m(dim = 8) {\n    input x: [B, 4, dim]\n    return proj(x, dim)\n}\n'


@pytest.fixture
def project(tmp_path):
    (tmp_path / "lib.arch").write_text(LIB)
    (tmp_path / "m.arch").write_text(SPEC)
    return tmp_path


def compile_(project, out: str = "out") -> str:
    assert main(["compile", str(project / "m.arch"), "-o", str(project / out), "--force"]) == 0
    return (project / out / "m.py").read_text()


def generated(project, monkeypatch, out: str = "out") -> tuple[str, int]:
    """The compiled file and how many times the module was generated rather than read."""
    calls = []
    real = archgraph.codegen.generate_file
    monkeypatch.setattr(archgraph.codegen, "generate_file", lambda *a, **k: calls.append(a) or real(*a, **k))
    return compile_(project, out), len(calls)


def test_a_hit_is_what_generating_writes_and_generates_nothing(cache_dir, project, monkeypatch, capsys):
    first, generations = generated(project, monkeypatch)
    assert generations == 1 and list(cache_dir.glob("*.module"))
    again, generations = generated(project, monkeypatch)
    assert generations == 0 and again == first
    monkeypatch.setenv("ARCHGRAPH_NO_CACHE", "1")
    diskcache.directory.cache_clear()
    assert generated(project, monkeypatch) == (first, 1)  # the cache off: generated, and the same


@pytest.mark.parametrize("change", ["spec", "import", "output", "archgraph"])
def test_a_change_to_any_input_misses(change, cache_dir, project, monkeypatch, capsys):
    first, _ = generated(project, monkeypatch)
    out = "out"
    if change == "spec":
        (project / "m.arch").write_text(SPEC.replace("dim = 8", "dim = 16"))
    elif change == "import":
        (project / "lib.arch").write_text(LIB.replace("linear(x, d)", "linear(x, d, bias = false)"))
    elif change == "output":
        out = "elsewhere"
    else:  # an edit to one of archgraph's own files
        monkeypatch.setattr(compiled, "_generator_digest", lambda: b"another archgraph")
    text, generations = generated(project, monkeypatch, out)
    assert generations == 1 and (text == first) == (change == "archgraph")


def test_a_damaged_or_edited_entry_is_a_miss(cache_dir, project, monkeypatch, capsys):
    first, _ = generated(project, monkeypatch)
    entries = list(cache_dir.glob("*.module"))  # compile's alone (the spec's models at their defaults)
    assert len(entries) == 1
    for damaged in (first[: len(first) // 2], first.replace("nn.Linear(", "nn.LazyLinear("), "\udcff"):
        for entry in entries:
            entry.write_bytes(damaged.encode("utf-8", "surrogateescape"))
        assert generated(project, monkeypatch) == (first, 1)  # generated again, and stored again


def test_a_lowered_model_is_generated_once_per_parameters(cache_dir, project, monkeypatch):
    """`generate` (what `build`, `verify` and `generate_source` call) keys a model by its parameters."""
    fitted = []
    real = archgraph.codegen.file_classes
    monkeypatch.setattr(archgraph.codegen, "file_classes", lambda graphs: fitted.append(graphs) or real(graphs))
    texts = [generate(open_model(project / "m.arch", overrides=o).graph, "m.arch") for o in ({}, {}, {"dim": 16})]
    assert len(fitted) == 2 and texts[0] == texts[1] != texts[2]
    assert "dim: int = 16" in texts[2]
    graph = open_model(project / "m.arch").graph
    graph.program = None  # a graph from no program has nothing to key it by: generated each time
    assert generate(graph, "m.arch") == generate(graph, "m.arch") and len(fitted) == 4


def test_a_failed_compile_stores_nothing(cache_dir, project, capsys):
    (project / "lib.arch").write_text(LIB.replace("linear(x, d)", "add(x, linear(x, d * 2))"))  # widths differ
    assert main(["compile", str(project / "m.arch"), "-o", str(project / "out")]) == 1
    assert not list(cache_dir.glob("*.module"))


def test_a_second_compile_neither_lowers_nor_generates(cache_dir, project):
    """What the cache is for, in new processes as a user runs them: the second compile of an unchanged
    spec lowers nothing, and writes the same file."""
    script = ("import io, sys, contextlib\nimport archgraph.api as api\nfrom archgraph.cli import main\n"
              "lowered, real = [], api.lower\napi.lower = lambda *a: lowered.append(a) or real(*a)\n"
              "with contextlib.redirect_stdout(io.StringIO()):\n    code = main(sys.argv[1:])\n"
              "print(code, len(lowered))")  # fmt: skip
    argv = ["compile", str(project / "m.arch"), "-o", str(project / "out"), "--force"]
    env = {**os.environ, "XDG_CACHE_HOME": str(cache_dir.parent), "PYTHONPATH": str(ROOT), "ARCHGRAPH_PROGRESS": "0"}
    env.pop("ARCHGRAPH_NO_CACHE", None)
    runs = []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", script, *argv], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        runs.append((done.stdout.split(), (project / "out" / "m.py").read_bytes()))
    assert runs[0][0] == ["0", "1"] and runs[1][0] == ["0", "0"]
    assert runs[0][1] == runs[1][1]
