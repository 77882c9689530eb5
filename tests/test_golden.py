"""generated/ is current: regenerating every spec reproduces the committed files byte for byte,
in any process (PYTHONHASHSEED), and the output passes ruff's lint and is as ruff format lays it out."""

from __future__ import annotations

import ast
import difflib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from archgraph.cli import GENERATED, _generate_all, main
from archgraph.codegen.names import camel, sanitize
from tests.conftest import ROOT, SPECS, VIT_TI16, spec_models, update_golden

ACCEPT = "python -m archgraph compile specs/*.arch   (or ARCHGRAPH_UPDATE_GOLDEN=1 pytest tests/test_golden.py)"


def _compile(spec: Path) -> tuple[str, str]:
    """What `archgraph compile specs/*.arch` (into generated/, the default) writes for `spec`: (file name, text)."""
    outputs, failed = _generate_all([spec.relative_to(ROOT)], GENERATED)
    assert not failed
    ((target, text),) = outputs.items()
    return target.name, text


@pytest.mark.parametrize("spec", SPECS, ids=[p.stem for p in SPECS])
def test_generated_file_is_current(spec, capsys):
    """One spec file at a time (each file depends on its own spec only), so xdist spreads them over the workers;
    test_every_spec_file_has_a_generated_file_listing_its_models finds stale or missing files."""
    name, fresh = _compile(spec)
    capsys.readouterr()
    committed = ROOT / "generated" / name
    if update_golden():  # accept: write the fresh file
        committed.write_text(fresh)
    assert committed.exists(), f"generated/{name} is missing; run: {ACCEPT}"
    if fresh != committed.read_text():
        diff = "".join(difflib.unified_diff(committed.read_text().splitlines(True), fresh.splitlines(True),
                                            f"generated/{name}", f"fresh/{name}"))  # fmt: skip
        pytest.fail(f"generated/{name} is stale; run: {ACCEPT}\n{diff[:4000]}")


def test_every_spec_file_has_a_generated_file_listing_its_models():
    """One file per spec file (timm's layout: one per family), its `__all__` naming every model:
    its class (`VitB16`) or an entry function calling a class with other defaults (`vit_b16_384`).
    Under ARCHGRAPH_UPDATE_GOLDEN=1, files no spec generates any more are removed."""
    expected = {sanitize(p.stem) for p in SPECS}
    assert len(expected) == len(SPECS), "two spec files would be written to the same generated file"
    if update_golden():
        for stale in (ROOT / "generated").glob("*.py"):
            if stale.stem not in expected | {"__init__"}:
                stale.unlink()
    files = {p.stem for p in (ROOT / "generated").glob("*.py")} - {"__init__"}
    assert files == expected, f"stale or missing files in generated/; run: {ACCEPT}"
    for spec, name in spec_models():
        source = (ROOT / "generated" / f"{sanitize(spec.stem)}.py").read_text()
        exports = next(n for n in ast.parse(source).body if isinstance(n, ast.Assign))
        assert sanitize(name) in ast.literal_eval(exports.value) or camel(name) in ast.literal_eval(exports.value)


def test_generated_lines_fit_in_100_characters():
    """Code, docstrings and comments, as ruff's line-length 100 would have them."""
    for path in sorted((ROOT / "generated").glob("*.py")):
        long = [n for n, line in enumerate(path.read_text().splitlines(), 1) if len(line) > 100]
        assert not long, f"{path.name}: lines {long[:10]} are over 100 characters"


_ONE_PROCESS = (
    "import json, sys; from pathlib import Path; from archgraph.cli import GENERATED, _generate_all; "
    "out, _ = _generate_all([Path(a) for a in sys.argv[1:]], GENERATED); "
    "print(json.dumps({t.name: s for t, s in out.items()}))"
)


@pytest.mark.parametrize("seed", ["0", "12345"])
def test_output_is_identical_across_hash_seeds(seed):
    """Two processes with different PYTHONHASHSEEDs generate byte-identical files."""
    env = {**os.environ, "PYTHONHASHSEED": seed, "ARCHGRAPH_NO_CACHE": "1"}  # generated, not read from the cache
    result = subprocess.run([sys.executable, "-c", _ONE_PROCESS, "specs/resmlp.arch", "specs/transformer.arch"],
                            cwd=ROOT, env=env, check=True, capture_output=True, text=True)  # fmt: skip
    fresh = json.loads(result.stdout)
    assert sorted(fresh) == ["resmlp.py", "transformer.py"]  # one file per spec file, holding all its models
    for name, text in fresh.items():
        assert text == (ROOT / "generated" / name).read_text()


def test_the_regenerate_line_quotes_the_paths_and_names_the_output(tmp_path, capsys):
    """`-o DIR` appears when it was used, and each path is quoted for the shell (issue 17)."""
    spec = tmp_path / "a b;rm.arch"  # imports std/vit.arch: no library copy needed
    spec.write_text(VIT_TI16)
    out = tmp_path / "out dir"
    assert main(["compile", str(spec), "-o", str(out)]) == 0
    capsys.readouterr()
    header = (out / "a_b_rm.py").read_text().splitlines()[1]  # named after the spec file
    assert header == f"# Regenerate: archgraph compile '{spec}' -o '{out}'"


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_generated_code_passes_ruff(command):
    """Lint, and the layout ruff format gives it at 100 columns (generated/ruff.toml), so a project that
    formats its files leaves generated ones as they are."""
    pytest.importorskip("ruff")
    result = subprocess.run([sys.executable, "-m", "ruff", *command, "--no-cache", "generated"], cwd=ROOT,
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
