"""The API is as strict as the command line, with the same messages; API options are apart from
model parameters; `--set` takes lists; `--depth` is positive; `--version`; a missing optional
dependency names its extra; every command goes through the one front door."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import archgraph
from archgraph import arguments
from archgraph.api import open_model
from archgraph.cli import COMMANDS, main
from tests.conftest import ROOT, run

VIT_TI = "specs/vit.arch"
RESNET = "specs/resnet50.arch"

# values no whole-number argument accepts, with what the message says of them
BAD_COUNTS = st.one_of(
    st.integers(max_value=0),
    st.booleans(),
    st.floats(allow_nan=True),
    st.text(max_size=5),
    st.none(),
    st.lists(st.integers(), max_size=2),
)


def _cli_message(option: str, text: str, capsys) -> str:
    with pytest.raises(SystemExit) as exit_:
        main(["report", VIT_TI, option, text])
    assert exit_.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


@settings(max_examples=40, deadline=None)
@given(value=BAD_COUNTS, option=st.sampled_from(["batch", "depth"]))
def test_api_refuses_every_bad_count_before_any_work(value, option):
    """batch="2" once built a string as long as the FLOP count; 0, -3, 1.5 and True were accepted."""
    if option == "depth" and value is None:
        return  # depth=None: every level, the default
    with pytest.raises((ValueError, TypeError)) as error:
        archgraph.analyze("no/such/file.arch", **{option: value})  # refused before the file is read
    assert str(error.value).startswith(f"{option}: ")
    assert "must be at least 1" in str(error.value) or "expected a whole number" in str(error.value)


@pytest.mark.parametrize(("value", "kind"), [(0, ValueError), (-3, ValueError), (1.5, TypeError), (True, TypeError)])
def test_api_and_cli_give_the_same_message(value, kind, capsys):
    with pytest.raises(kind) as error:
        archgraph.analyze(VIT_TI, batch=value)
    api = str(error.value).removeprefix("batch: ")
    cli = _cli_message("--batch", str(value), capsys)
    # the CLI found the text '1.5' where the API found the number 1.5: the same message otherwise
    assert cli.replace("'", "") == f"archgraph report: error: argument --batch: {api}"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: archgraph.analyze(VIT_TI, convention="flops"), "convention: expected one of"),
        (lambda: archgraph.analyze(VIT_TI, dtype="f64"), "dtype: expected one of"),
        (lambda: archgraph.analyze(VIT_TI, model=3), "model: expected a model's name"),
        (lambda: archgraph.analyze(VIT_TI, overrides=[("depth", 2)]), "overrides: expected a dict"),
        (lambda: archgraph.analyze(VIT_TI, overrides={"depth": float("inf")}), "depth: expected a finite number"),
        (lambda: archgraph.analyze(VIT_TI, overrides={"depth": object()}), "depth: expected a number"),
        (lambda: archgraph.load_graph(3), "path: expected a path"),
        (lambda: archgraph.input_shape(VIT_TI, batch=0), "batch: must be at least 1, found 0"),
        (lambda: archgraph.closed_form(VIT_TI, convention="nope"), "convention: expected one of"),
        (lambda: archgraph.build(archgraph.load_graph(VIT_TI), "vit_ti16"), "a lowered Graph is already one model"),
    ],
)
def test_every_public_function_checks_its_arguments(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


def test_api_options_are_apart_from_model_parameters():
    """`convention=` is the report's option (it was taken for a model parameter); model parameters
    go in `overrides`, and `depth=` is the report's row depth, not the model's."""
    data = archgraph.analyze(VIT_TI, convention="fvcore", depth=1, overrides={"depth": 2})
    assert data["convention"]["name"] == "fvcore" and data["depth"] == 1
    two_blocks = archgraph.analyze(VIT_TI, overrides={"depth": 2})
    assert data["params"] == two_blocks["params"] < archgraph.analyze(VIT_TI)["params"]
    # model parameters as keywords still work where no option has the name
    assert (
        archgraph.analyze(VIT_TI, img_size=384)["flops"]
        == archgraph.analyze(VIT_TI, overrides={"img_size": 384})["flops"]
    )


@pytest.mark.parametrize(
    ("text", "value"),
    [("[3,4,6,3]", [3, 4, 6, 3]), ("[ 3, 4, 9 ]", [3, 4, 9]), ("[[1, 2], [3]]", [[1, 2], [3]]), ("[]", []),
     ("[0.5, true, avg, 'b']", [0.5, True, "avg", "b"]), ("384", 384), ("1e-6", 1e-6), ('"avg"', "avg")],
)  # fmt: skip
def test_set_values_parse_lists_without_eval(text, value):
    assert arguments.parse_value(text) == value


@pytest.mark.parametrize("text", ["[1, 2", "[1,,2]", "[1] x", "[1 2]", "inf", "[nan]", "[" * 20 + "]" * 20])
def test_malformed_set_lists_are_refused(text):
    with pytest.raises(arguments.ArgumentError):
        arguments.parse_value(text)


def test_set_takes_lists_on_every_command_with_set(capsys):
    """timm 1.0.31's resnet50 (layers [3, 4, 6, 3]) has 25,557,032 parameters and its resnet26 (layers
    [2, 2, 2, 2]) 15,995,176: sum(p.numel()) of timm.create_model("resnet26"), counted for this test."""
    code, out, _ = run(capsys, "report", RESNET, "--set", "layers=[2,2,2,2]", "--format", "json")
    assert code == 0 and '"params": 15995176' in out
    code, out, _ = run(capsys, "sweep", RESNET, "--set", "layers=[2,2,2,2],[3,4,6,3]", "--format", "csv")
    assert code == 0 and "15995176" in out and "25557032" in out
    code, out, _ = run(capsys, "graph", RESNET, "--set", "layers=[1,1,1,1]", "--format", "json")
    assert code == 0
    code, out, _ = run(capsys, "diff", RESNET, RESNET, "--set-b", "layers=[2,2,2,2]", "--format", "json")
    assert code == 0 and "15995176" in out
    with pytest.raises(SystemExit) as exit_:
        main(["report", RESNET, "--set", "layers=[2,2"])
    assert exit_.value.code == 2 and "missing its closing" in capsys.readouterr().err


@pytest.mark.parametrize(
    "command", [["report", VIT_TI], ["graph", VIT_TI, "--level", "block"], ["diff", VIT_TI, VIT_TI]]
)
@pytest.mark.parametrize("depth", ["0", "-2", "1.5"])
def test_depth_below_one_is_a_usage_error(command, depth, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--depth", depth])
    assert exit_.value.code == 2 and "argument --depth" in capsys.readouterr().err


def test_depth_with_by_op_says_it_does_not_apply(capsys):
    code, _, err = run(capsys, "report", VIT_TI, "--by", "op", "--depth", "2")
    assert code == 0 and "does not apply to --by op" in err
    code, _, err = run(capsys, "report", VIT_TI, "--by", "layer", "--depth", "2")
    assert code == 0 and "does not apply" not in err


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"archgraph {archgraph.__version__}"


def test_one_table_of_subcommands_matches_the_parser(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    listed = capsys.readouterr().out
    for name in COMMANDS:
        assert name in listed


HIDE = "import sys; sys.modules[{module!r}] = None; "


@pytest.mark.parametrize(
    ("module", "code", "message"),
    [
        ("torch", "import archgraph; archgraph.build('specs/vit.arch')",
         "archgraph.build needs torch, which is not installed: pip install 'archgraph[torch]'"),
        ("torch", "from archgraph.cli import main; sys.exit(main(['bench', 'specs/vit.arch']))",
         "error: `archgraph bench` runs the module and needs torch, which is not installed: pip install 'archgraph[torch]'"),
        ("matplotlib", "from archgraph.cli import main; "
         "sys.exit(main(['sweep', 'specs/vit.arch', '--set', 'img_size=224,384', '--plot', '/tmp/x.png']))",
         "error: `archgraph sweep --plot` needs matplotlib, which is not installed: pip install 'archgraph[plot]'"),
    ],
)  # fmt: skip
def test_a_missing_optional_dependency_names_its_extra(module, code, message):
    result = subprocess.run([sys.executable, "-c", HIDE.format(module=module) + code], cwd=ROOT,
                            capture_output=True, text=True)  # fmt: skip
    assert message in result.stderr
    if code.startswith("import archgraph"):  # the API raises MissingDependencyError, a ModuleNotFoundError
        assert "MissingDependencyError" in result.stderr and "generated" not in result.stderr
    else:
        assert result.returncode == 1 and "Traceback" not in result.stderr


def test_the_front_door_lowers_once_and_build_takes_its_graph():
    opened = open_model(VIT_TI, "vit_ti16", overrides={"depth": 1})
    assert opened.name == "vit_ti16" and opened.overrides == {"depth": 1}
    assert opened.graph.params["depth"] == 1
    source = archgraph.generate_source(opened.graph)
    assert source == archgraph.generate_source(VIT_TI, "vit_ti16", overrides={"depth": 1})
