"""Invariant 4 of issue 17, for checkpoints: `load-weights` (archgraph.checkpoint.read_checkpoint)
turns every checkpoint that is not a state_dict of dense tensors into one line naming the path
and the cause, exit 1: text, empty, a list, a dict of non-tensors, sparse, on `meta`, a FIFO
(refused from its `stat`, before it is opened), a device, a directory, a symlink loop; and
`-o` onto a directory is one line too. Never exit 3."""

from __future__ import annotations

import os
import signal

import pytest

torch = pytest.importorskip("torch")

import archgraph  # noqa: E402
from archgraph.checkpoint import CheckpointError, read_checkpoint  # noqa: E402
from archgraph.cli import main  # noqa: E402
from tests.conftest import ROOT  # noqa: E402

SPEC = ROOT / "specs" / "vit.arch"
SMALL = {"img_size": 32, "embed_dim": 32, "depth": 1, "num_heads": 2, "num_classes": 10}
SET = [arg for key, value in SMALL.items() for arg in ("--set", f"{key}={value}")]


def _make(tmp, case: str):
    """The checkpoint path for `case`, and the cause its error must name."""
    path = tmp / f"{case}.pth"
    if case == "text":
        path.write_text("not a checkpoint\n")
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "module":
        torch.save(torch.nn.Linear(2, 2), path)  # a whole model, pickled
    elif case == "list":
        torch.save([torch.zeros(2)], path)
    elif case == "non-tensors":
        torch.save({"a": 1, "b": "x"}, path)
    elif case == "sparse":
        torch.save({"w": torch.eye(3).to_sparse()}, path)
    elif case == "meta":
        torch.save({"w": torch.empty(3, device="meta")}, path)
    elif case == "fifo":
        os.mkfifo(path)
    elif case == "directory":
        path.mkdir()
    elif case == "symlink loop":
        path.symlink_to(path)
    elif case == "device":
        return "/dev/null", "is a device"
    causes = {"text": "not a file saved with torch.save", "empty": "is empty", "list": "holds a list",
              "module": "holds Python objects besides tensors",
              "non-tensors": "is of type int, not a tensor", "sparse": "is a sparse tensor",
              "meta": "on the meta device", "fifo": "is a FIFO", "directory": "is a directory",
              "symlink loop": "symbolic links form a loop", "missing": "does not exist"}  # fmt: skip
    return str(path), causes[case]


CASES = ["text", "empty", "module", "list", "non-tensors", "sparse", "meta", "fifo", "directory", "symlink loop", "device",
         "missing"]  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_a_checkpoint_that_is_not_a_state_dict_is_one_line(case, tmp_path, capsys):
    path, cause = _make(tmp_path, case)
    with pytest.raises(CheckpointError, match=cause):
        read_checkpoint(path)
    capsys.readouterr()
    signal.alarm(20)  # a FIFO opened for reading would block here forever
    try:
        code = main(["load-weights", str(SPEC), path, "-o", str(tmp_path / "out.pth"), *SET])
    finally:
        signal.alarm(0)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if not line.startswith(("  ", "/"))]  # torch's warnings
    assert code == 1 and "Traceback" not in err and lines == [f"error: {lines[0][7:]}"], err
    assert path in lines[0] and cause in lines[0]
    assert not (tmp_path / "out.pth").exists()


def test_a_wrapped_state_dict_loads(tmp_path):
    state = {"w": torch.ones(2)}
    torch.save({"state_dict": state, "epoch": 3}, tmp_path / "c.pth")
    assert list(read_checkpoint(tmp_path / "c.pth")) == ["w"]


def test_output_onto_a_directory_is_one_line(tmp_path, capsys):
    torch.save(archgraph.build(SPEC, **SMALL).state_dict(), tmp_path / "ckpt.pth")
    (tmp_path / "out").mkdir()
    capsys.readouterr()
    code = main(["load-weights", str(SPEC), str(tmp_path / "ckpt.pth"), "-o", str(tmp_path / "out"), *SET])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err and err.startswith("error: ") and str(tmp_path / "out") in err, err
