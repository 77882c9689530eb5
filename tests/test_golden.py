"""generated/ is current: regenerating every spec reproduces the committed files byte for byte,
in any process (PYTHONHASHSEED), and the output passes ruff."""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from archgraph.cli import main
from tests.conftest import ROOT, SPECS, spec_models, update_golden

ACCEPT = "python -m archgraph compile specs/*.arch   (or ARCHGRAPH_UPDATE_GOLDEN=1 pytest tests/test_golden.py)"


def _compile_all(out: Path) -> None:
    assert main(["compile", *[str(p.relative_to(ROOT)) for p in SPECS], "-o", str(out)]) == 0


def test_generated_files_are_current(tmp_path, capsys):
    _compile_all(tmp_path)
    capsys.readouterr()
    if update_golden():  # accept: copy fresh files in, remove files no spec generates any more
        for fresh in tmp_path.glob("*.py"):
            shutil.copy(fresh, ROOT / "generated" / fresh.name)
        for stale in (ROOT / "generated").glob("*.py"):
            if stale.name != "__init__.py" and not (tmp_path / stale.name).exists():
                stale.unlink()
    fresh = {p.name: p.read_text() for p in tmp_path.glob("*.py")}
    committed = {p.name: p.read_text() for p in (ROOT / "generated").glob("*.py") if p.name != "__init__.py"}
    assert sorted(fresh) == sorted(committed), f"stale or missing files in generated/; run: {ACCEPT}"
    for name, text in fresh.items():
        if text != committed[name]:
            diff = "".join(difflib.unified_diff(committed[name].splitlines(True), text.splitlines(True),
                                                f"generated/{name}", f"fresh/{name}"))  # fmt: skip
            pytest.fail(f"generated/{name} is stale; run: {ACCEPT}\n{diff[:4000]}")


def test_every_model_has_a_generated_file():
    names = {name for _, name in spec_models()}
    files = {p.stem for p in (ROOT / "generated").glob("*.py")} - {"__init__"}
    assert names == files


@pytest.mark.parametrize("seed", ["0", "12345"])
def test_output_is_identical_across_hash_seeds(tmp_path, seed):
    """Two processes with different PYTHONHASHSEEDs generate byte-identical files."""
    out = tmp_path / seed
    env = {**os.environ, "PYTHONHASHSEED": seed}
    subprocess.run([sys.executable, "-m", "archgraph", "compile", "specs/vit_b16.arch", "specs/deit_b16.arch",
                    "-o", str(out)], cwd=ROOT, env=env, check=True, capture_output=True)  # fmt: skip
    for path in out.glob("*.py"):
        assert path.read_text() == (ROOT / "generated" / path.name).read_text()


def test_generated_code_passes_ruff():
    pytest.importorskip("ruff")
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "generated"], cwd=ROOT,
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
