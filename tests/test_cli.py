"""The command line: report formats agree with each other and with analyze(); exit codes;
check, report and compile never import torch; report is fast."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import subprocess
import sys

import pytest
import yaml

import archgraph
from archgraph.cli import main
from archgraph.commands import parse_value
from tests.conftest import ROOT, run

VIT = "specs/vit.arch"
VIT_L16 = [VIT, "--model", "vit_l16"]  # a report of the file's ViT-L/16


def test_report_json_has_the_documented_keys_and_matches_analyze(capsys):
    code, out, _ = run(capsys, "report", *VIT_L16, "--format", "json")
    assert code == 0
    data = json.loads(out)
    for key in ("model", "params", "macs", "flops", "other_flops", "output_shape", "nodes", "rows"):
        assert key in data
    assert data == json.loads(json.dumps(archgraph.analyze(VIT, "vit_l16")))
    # timm 1.0.31, vit_large_patch16_224: params and FlopCounterMode total (../shared/reference/timm.md)
    assert (data["params"], data["flops"]) == (304_326_632, 123_109_425_152)
    assert data["macs"] * 2 == data["flops"]
    assert data["output_shape"] == "f32[B,1000]"


def test_report_formats_agree(capsys):
    _, js, _ = run(capsys, "report", *VIT_L16, "--format", "json", "--batch", "4")
    _, ym, _ = run(capsys, "report", *VIT_L16, "--format", "yaml", "--batch", "4")
    _, cs, _ = run(capsys, "report", *VIT_L16, "--format", "csv", "--batch", "4")
    data = json.loads(js)
    assert yaml.safe_load(ym) == data
    rows = list(csv.DictReader(io.StringIO(cs)))
    assert rows[-1]["layer"] == "total"
    assert int(rows[-1]["flops"]) == data["flops"] == 4 * archgraph.analyze(VIT, "vit_l16")["flops"]
    assert [r["layer"] for r in rows[:-1]] == [r["layer"] for r in data["rows"]]


def test_report_table_and_markdown_show_rows_per_block_and_totals(capsys):
    _, table, _ = run(capsys, "report", *VIT_L16)
    assert "blocks.23" in table and "total" in table and "304,326,632" in table
    assert "attention N² terms" in table
    _, md, _ = run(capsys, "report", *VIT_L16, "--format", "markdown")
    # one ViT-L block: 12·D² + 13·D parameters at D = 1024 (../shared/reference/timm.md, the per-block formula)
    assert "| blocks.23 | encoder_block | f32[B,197,1024] | 12,596,224 |" in md
    assert 12 * 1024**2 + 13 * 1024 == 12_596_224


def test_report_set_overrides_resolution(capsys):
    _, out, _ = run(capsys, "report", *VIT_L16, "--set", "img_size=384", "--format", "json")
    # timm 1.0.31, vit_large_patch16_384: 304,715,752 params, 382,132,600,832 FLOPs (FlopCounterMode)
    data = json.loads(out)
    assert (data["params"], data["flops"]) == (304_715_752, 382_132_600_832)


def test_report_unknown_override_is_a_spec_error(capsys):
    code, _, err = run(capsys, "report", *VIT_L16, "--set", "img_sise=384")
    assert code == 1 and "no parameter `img_sise`; did you mean `img_size`?" in err


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["report", *VIT_L16, "--set", "img_size"])
    assert exit_info.value.code == 2


def test_check_prints_ok(capsys):
    code, out, _ = run(capsys, "check", VIT, "specs/deit.arch")
    assert code == 0 and "vit_l16" in out and "deit_b16_distilled" in out


def test_missing_file_is_a_spec_error(capsys):
    code, _, err = run(capsys, "check", "specs/nope.arch")
    assert code == 1 and "does not exist" in err and "Traceback" not in err


@pytest.mark.parametrize("command", [["check", VIT], ["report", VIT], ["compile", "specs/ff_only.arch", "-o", "{tmp}"]])
def test_check_report_compile_do_not_import_torch(command, tmp_path):
    if importlib.util.find_spec("torch") is None:  # installed, not imported: this process stays torch-free
        pytest.skip("without torch installed the check could not fail")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in command]
    code = (
        f"import sys; from archgraph.cli import main; rc = main({argv!r}); "
        "assert 'torch' not in sys.modules, 'torch was imported'; sys.exit(rc)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_compile_writes_nothing_when_one_spec_fails(tmp_path, capsys):
    bad = tmp_path / "bad.arch"
    bad.write_text('import "x.arch"\n')
    out = tmp_path / "out"
    code, _, err = run(capsys, "compile", "specs/ff_only.arch", str(bad), "-o", str(out))
    assert code == 1 and "import error" in err
    assert not out.exists()


def test_check_shows_each_models_first_error_once(tmp_path, capsys):
    spec = tmp_path / "two.arch"
    spec.write_text("model bad1() {\n    input x: [B, 8]\n    return linear(x, 0)\n}\nmodel bad1b = bad1()\n"
                    'model bad2() {\n    input x: [B, 8]\n    require 1 == 2, "no"\n    return x\n}\n')  # fmt: skip
    code, out, err = run(capsys, "check", spec)
    assert code == 1 and not out
    assert err.count(f"{spec}:3:22: shape error") == 1  # bad1's, which bad1b reaches too
    assert err.count(f"{spec}:8:13: requirement failed: no") == 1  # bad2's, after bad1 failed


def test_compile_names_a_spec_once_and_refuses_a_file_as_its_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    out = tmp_path / "out"
    code, stdout, err = run(capsys, "compile", "specs/ff_only.arch", str(ROOT / "specs/ff_only.arch"), "-o", out)
    assert code == 0 and stdout == f"wrote {out / 'ff_only.py'}\n", err
    (tmp_path / "file").write_text("kept\n")
    code, _, err = run(capsys, "compile", "specs/ff_only.arch", "-o", tmp_path / "file")
    assert code == 1 and "a file of that name is in the way); no file was changed" in err
    assert (tmp_path / "file").read_text() == "kept\n"


@pytest.mark.parametrize(("option", "value", "said"), [("--warmup", "-1", "must be at least 0, found -1"),
                                                     ("--runs", "0", "must be at least 1, found 0")])  # fmt: skip
def test_bench_counts_are_usage_errors_alike(capsys, option, value, said):
    with pytest.raises(SystemExit) as exit_:
        main(["bench", VIT, option, value])
    assert exit_.value.code == 2 and f"argument {option}: {said}" in capsys.readouterr().err


@pytest.mark.parametrize("values", ["224,,384", "224,", ",224"])
def test_a_sweep_list_with_an_empty_value_is_a_usage_error(capsys, values):
    with pytest.raises(SystemExit) as exit_:
        main(["sweep", VIT, "--set", f"img_size={values}"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.startswith("usage: archgraph sweep") and "an empty value" in err


@pytest.mark.parametrize(("text", "value"), [("384", 384), ("0.5", 0.5), ("true", True), ("avg", "avg"),
                                              ('"avg"', "avg"), ("1e-6", 1e-6)])  # fmt: skip
def test_parse_value(text, value):
    assert parse_value(text) == value


@pytest.mark.parametrize("fmt", ["json", "dot", "graphml"])
def test_graph_export(capsys, fmt):
    code, out, _ = run(capsys, "graph", VIT, "--model", "vit_ti16", "--format", fmt)
    assert code == 0
    if fmt == "json":
        data = json.loads(out)
        qkv = next(n for n in data["nodes"] if n["path"] == "blocks.0.attn.qkv")
        assert qkv["outputs"] == ["f32[B,197,576]"] and qkv["params"] == 192 * 576 + 576
        assert sum(n["flops"] for n in data["nodes"]) == archgraph.analyze(VIT, "vit_ti16")["flops"]
    elif fmt == "dot":
        assert out.startswith('digraph "vit_ti16" {') and "blocks.11.mlp.fc2" in out
    else:
        import networkx as nx

        g = nx.parse_graphml(out)
        assert g.number_of_nodes() == len(archgraph.load_graph(VIT, "vit_ti16").nodes)


@pytest.mark.parametrize(
    ("spec", "layers"),
    [
        ("specs/mixer.arch", ["blocks.*.mlp_tokens.fc1", "blocks.*.mlp_tokens.fc2"]),
        ("specs/resmlp.arch", ["blocks.*.linear_tokens"]),
        ("specs/vit.arch", ["pos_embed"]),
        ("specs/ff_only.arch", ["blocks.*.mlp2.fc1", "blocks.*.mlp2.fc2", "blocks.*.norm2", "pos_encoding.pos_embed"]),
    ],
)
def test_report_names_the_parameters_that_depend_on_the_token_count(capsys, spec, layers):
    _, out, _ = run(capsys, "report", spec, "--format", "json")
    assert json.loads(out)["token_dependent"]["layers"] == layers
    _, table, _ = run(capsys, "report", spec)
    assert "depend on the token count" in table


@pytest.mark.parametrize("command", [["bench", VIT], ["verify", VIT, "--small"]])
def test_a_command_that_needs_torch_says_so_where_torch_is_missing(command):
    """torch is an extra (pip install 'archgraph[torch]'): without it, a one-line error, not a traceback."""
    code = f"import sys; sys.modules['torch'] = None; from archgraph.cli import main; sys.exit(main({command!r}))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 1, result.stderr
    assert f"error: `archgraph {command[0]}` runs the module and needs torch" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_command_builds_only_its_own_parser_and_a_mistake_lists_every_command(capsys):
    """`archgraph report ...` builds report's parser alone (start-up time); `--help` and an unknown command
    still see the one table of every subcommand."""
    from archgraph.cli import COMMANDS, _parser

    subparsers = next(a for a in _parser(["report", VIT])._actions if a.dest == "command")
    assert list(subparsers.choices) == ["report"]
    with pytest.raises(SystemExit) as exit_info:
        main(["reprot", VIT])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and all(repr(name) in err for name in COMMANDS)
    with pytest.raises(SystemExit) as exit_info:
        main(["report", VIT, "--by", "row"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.startswith("usage: archgraph report ")


def test_report_leaves_other_commands_modules_unimported():
    """Start-up time: a report imports neither bench, code generation (Jinja2) nor the did-you-mean
    matcher (difflib, for mistakes only)."""
    code = (
        "import sys; from archgraph.cli import main; rc = main(['report', 'specs/vit.arch']); "
        "loaded = {'archgraph.bench', 'archgraph.codegen', 'jinja2', 'difflib'} & set(sys.modules); "
        "assert not loaded, loaded; sys.exit(rc)"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True)
