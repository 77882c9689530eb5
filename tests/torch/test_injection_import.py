"""Importing the modules compiled from hostile specs runs nothing but module definition.

A subprocess imports torch, then executes each generated file under an audit hook (no file,
process, network or import event may occur) and a profiler (the only Python code that runs is
the module body and its class bodies). The hostile specs are those of tests/test_injection.py.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import pytest

from tests.test_injection import compile_hostile

torch = pytest.importorskip("torch")

PROBE = r"""
import json, sys
import torch, torch.nn.functional, torch.utils.checkpoint  # what a generated file imports, loaded first
state = {"events": None}
sys.addaudithook(lambda event, args: state["events"].append(event) if state["events"] is not None else None)
results = {}
for path in sys.argv[1:]:
    code = compile(open(path, encoding="utf-8").read(), "<generated>", "exec")
    state["events"] = []  # 1. audit events (the profiler below would add its own)
    exec(code, {"__name__": "generated"})
    events, state["events"] = state["events"], None
    calls = []  # 2. every function that runs
    def profile(frame, event, arg):
        if event == "call":
            calls.append([frame.f_code.co_filename, frame.f_code.co_name])
        elif event == "c_call":
            calls.append(["C", getattr(arg, "__qualname__", repr(arg))])
    sys.setprofile(profile)
    exec(code, {"__name__": "generated"})
    sys.setprofile(None)
    results[path] = {"events": events, "calls": calls}
print(json.dumps(results))
"""
C_CALLS = {"exec", "__build_class__", "hasattr", "isinstance", "setprofile"}


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    files = compile_hostile(tmp_path_factory.mktemp("hostile"))
    result = subprocess.run([sys.executable, "-c", PROBE, *map(str, files)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return files, json.loads(result.stdout)


def test_only_module_definition_runs(executed):
    files, results = executed
    for path in files:
        classes = {n.name for n in ast.parse(path.read_text()).body if isinstance(n, ast.ClassDef)}
        run = results[str(path)]
        assert run["events"] == ["exec"], (path.name, run["events"])  # no open, import, os.system, socket
        for where, name in run["calls"]:
            if where == "<generated>":
                assert name == "<module>" or name in classes, (path.name, name)
            elif where == "C":
                assert name in C_CALLS, (path.name, name)
            else:
                assert name == "_handle_fromlist", (path.name, where, name)  # `from torch import nn`


@pytest.mark.parametrize(
    ("spec", "model"), [("builtin_and_module_names", "eval_"), ("generated_code_names", "forward")]
)
def test_models_with_hostile_names_run(executed, spec, model):
    """Names that are builtins, modules or the generated code's own names still give a working module."""
    files, _ = executed
    (path,) = [p for p in files if p.stem == spec]  # one file per spec file, named after it
    namespace: dict = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    module = namespace[namespace["__all__"][0]]()
    shape = (2, 4, 8) if model == "eval_" else (2, 3, 8)
    assert module(torch.randn(*shape)).shape[-1] == 2


def test_reserved_labels_cover_every_public_nn_module_attribute():
    """labels.MODULE_ATTRIBUTES, which labels may not use, is current for the installed torch."""
    from archgraph.labels import MODULE_ATTRIBUTES

    # torch's own nn.Module, in a fresh interpreter: transformers, imported by other tests in this
    # process, adds `smart_apply` to nn.Module itself
    probe = ("import json, torch; m = torch.nn.Module(); "
             "print(json.dumps(sorted(n for n in set(dir(m)) | set(vars(m)) if not n.startswith('_'))))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    public = set(json.loads(out))
    assert "state_dict" in public and public <= MODULE_ATTRIBUTES, sorted(public - MODULE_ATTRIBUTES)
