"""Every torch-free command on files `check` accepts, however little they define: it succeeds or
gives a clear spec error (exit 1), never a traceback (exit 3). A command's own assumption (that a
file defines a model, an input, a size knob) is the user's input to check, not archgraph's bug."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run

FILES = {
    "imports only": 'import "std/vit.arch"\n',
    "blocks only": "block twice(x) {\n    return linear(x, 4) + x\n}\n",
    "a model of an imported one": 'import "std/vit.arch"\nmodel tiny = vit(embed_dim = 32, depth = 1, num_heads = 2)\n',
    "no parameters": "model m() {\n    input x: [B, 8]\n    return linear(x, 2)\n}\n",
    "no input": "model m(n = 4) {\n    return w: parameter([1, n])\n}\n",
}
COMMANDS = {
    "check": ["check", "{spec}"],
    "compile": ["compile", "{spec}", "-o", "{out}"],
    "report": ["report", "{spec}"],
    "report --closed-form": ["report", "{spec}", "--closed-form"],
    "graph": ["graph", "{spec}", "--format", "mermaid"],
    "sweep": ["sweep", "{spec}", "--set", "img_size=32,64"],
    "diff": ["diff", "{spec}", "{spec}"],
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("name", FILES)
def test_a_command_on_an_accepted_file_never_crashes(capsys, tmp_path: Path, name: str, command: str):
    spec = tmp_path / "spec.arch"
    spec.write_text(FILES[name])
    assert run(capsys, "check", spec)[0] == 0  # accepted: whatever follows is the command's to handle
    argv = [a.format(spec=spec, out=tmp_path / "out") for a in COMMANDS[command]]
    code, _, err = run(capsys, *argv)
    assert code in (0, 1), err
    assert "Traceback" not in err and "internal error" not in err, err
    if code:
        assert f"{spec}:" in err and "^" in err, err  # where: file:line:col and a caret
        assert not (tmp_path / "out").exists()
