"""Invariant 7 of issue 17: verification cannot pass by accident.

`archgraph verify --module` runs the module in a child process and passes only on the child's
positive result message (tagged with a nonce): a module that exits, successfully or not, at
import, while it is built or while it runs, fails; a missing, binary or directory `--module`
is a usage error (exit 2). Mismatches are grouped by cause, in model order.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import archgraph  # noqa: E402
from archgraph.cli import main  # noqa: E402

SMALL = {"depth": 2, "embed_dim": 64, "num_heads": 2, "img_size": 32, "num_classes": 10}
SET = [arg for key, value in SMALL.items() for arg in ("--set", f"{key}={value}")]
SPEC = "specs/vit.arch"
MODEL = ["--model", "vit_ti16"]


@pytest.fixture(scope="module")
def source() -> str:
    return archgraph.generate_source(SPEC, "vit_ti16", **SMALL)


def _verify(capsys, path) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["verify", SPEC, *MODEL, *SET, "--module", str(path)])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_generated_module_passes_in_the_child(tmp_path, capsys, source):
    (tmp_path / "m.py").write_text(source)
    code, out, _ = _verify(capsys, tmp_path / "m.py")
    assert code == 0 and "vit_ti16: ok" in out and "MISMATCH" not in out, out


EXITS = {
    "SystemExit(0) at import": ("import torch\n", "import torch\nraise SystemExit(0)\n"),
    "os._exit(0) at import": ("import torch\n", "import torch\nimport os\nos._exit(0)\n"),
    "sys.exit(0) while built": ("super().__init__()\n", "super().__init__()\n        import sys; sys.exit(0)\n"),
    "os._exit(0) in forward": ("def forward(self, x: torch.Tensor) -> torch.Tensor:\n",
                               "def forward(self, x: torch.Tensor) -> torch.Tensor:\n        import os; os._exit(0)\n"),
}  # fmt: skip


@pytest.mark.parametrize("case", EXITS)
def test_a_module_that_exits_fails(case, tmp_path, capsys, source):
    old, new = EXITS[case]
    assert old in source
    (tmp_path / "m.py").write_text(source.replace(old, new, 1))
    code, out, err = _verify(capsys, tmp_path / "m.py")
    assert code == 1 and "without a result" in out and "vit_ti16: FAILED" in out, out
    assert "do not match their spec" in err


def test_a_forged_result_without_the_nonce_fails(tmp_path, capsys, source):
    forged = 'import os\nprint("archgraph-verify-result 0 {\\"checks\\": [[true, \\"ok\\"]], \\"notes\\": []}")\nos._exit(0)\n'
    (tmp_path / "m.py").write_text(source.replace("import torch\n", "import torch\n" + forged, 1))
    code, out, _ = _verify(capsys, tmp_path / "m.py")
    assert code == 1 and "without a result" in out


@pytest.mark.parametrize("what", ["missing", "directory", "binary", "not UTF-8"])
def test_a_module_that_is_not_a_python_file_is_a_usage_error(what, tmp_path, capsys):
    path = tmp_path / "m.py"
    if what == "directory":
        path.mkdir()
    elif what == "binary":
        path.write_bytes(b"\x7fELF\x00\x00\x01")
    elif what == "not UTF-8":
        path.write_bytes(b"x = '\xff'\n")
    with pytest.raises(SystemExit) as exit_:
        main(["verify", SPEC, *MODEL, *SET, "--module", str(path)])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and f"--module {path}" in err and "Traceback" not in err


def test_mismatches_are_grouped_by_cause_in_model_order(tmp_path, capsys, source):
    """A narrower MLP in the shared block class: one line per cause (fc1, fc2, in model order) naming the
    other block where it recurs; the enclosing modules that differ only by their sum are counted, not listed."""
    broken = source.replace("nn.Linear(dim, hidden, **dd)", "nn.Linear(dim, hidden - 6, **dd)")  # 256 -> 250
    assert broken != source
    (tmp_path / "m.py").write_text(broken.replace("nn.Linear(hidden, dim, **dd)", "nn.Linear(hidden - 6, dim, **dd)"))
    code, out, _ = _verify(capsys, tmp_path / "m.py")
    lines = [line.strip() for line in out.splitlines() if "MISMATCH  parameters of" in line]
    assert code == 1 and lines == [
        "MISMATCH  parameters of blocks.0.mlp.fc1: spec 16,640, module 16,250 (also blocks.1.mlp.fc1)",
        "MISMATCH  parameters of blocks.0.mlp.fc2: spec 16,448, module 16,064 (also blocks.1.mlp.fc2); "
        "5 enclosing modules differ by the sum of these",
    ], out
    flops = [line.strip().split(":")[0] for line in out.splitlines() if "MISMATCH  FLOPs of" in line]
    assert flops == ["MISMATCH  FLOPs of blocks.0.mlp.fc1", "MISMATCH  FLOPs of blocks.0.mlp.fc2"], out


def test_a_module_that_hangs_fails_after_the_timeout(source):
    from archgraph.verify import verify_isolated

    graph = archgraph.load_graph(SPEC, "vit_ti16", **SMALL)
    hanging = source.replace("import torch\n", "import torch\nimport time\ntime.sleep(600)\n", 1)
    result = verify_isolated(graph, hanging, timeout=8)  # the child imports torch (2 s or so), then sleeps
    assert not result.ok and "did not finish within 8 s" in result.render()


def test_one_child_verifies_several_modules_and_blames_only_the_one_that_exits(source):
    """`verify_isolated_all` runs the modules in turn in one child: a module that exits fails alone,
    the modules after it are verified in a new child, and the others pass."""
    from archgraph.verify import verify_isolated_all

    graph = archgraph.load_graph(SPEC, "vit_ti16", **SMALL)
    old, new = EXITS["os._exit(0) in forward"]
    exiting = source.replace(old, new, 1)
    results = verify_isolated_all([(graph, source), (graph, exiting), (graph, source)])
    assert [r.ok for r in results] == [True, False, True]
    assert "without a result" in results[1].render()


def test_a_child_that_exits_with_an_error_after_its_results_fails_every_module_it_ran(source):
    """No pass by accident: a module that makes the process end badly after every result was printed
    (an exit handler) fails, and so does the module verified before it in that process."""
    from archgraph.verify import verify_isolated_all

    graph = archgraph.load_graph(SPEC, "vit_ti16", **SMALL)
    late = source.replace("import torch\n", "import torch\nimport atexit, os\natexit.register(os._exit, 3)\n", 1)
    results = verify_isolated_all([(graph, source), (graph, late)])
    assert [r.ok for r in results] == [False, False]
    assert all("exited with code 3 after its result" in r.render() for r in results)
