"""No injection: nothing a spec says reaches generated code except validated identifiers and numbers.

Hostile specs (doc strings that try to close the docstring, backslashes, newlines and control
characters, names that are Python keywords, builtins and module names, a spec file whose name
holds a newline and code) compile to files whose syntax tree holds only definitions; strings
for op attributes are checked against fixed sets. tests/torch/test_injection_import.py imports
the same files in a subprocess and proves that only module definition ran.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archgraph.cli import main
from archgraph.codegen import _comment_safe, _docstring_safe
from archgraph.ops import REGISTRY

PAYLOAD = "__import__('os').system('touch PWNED')"
HOSTILE_SPECS = {
    "docstring_breakout": (
        f'block b(x) {{ """x\\" + {PAYLOAD} + \\"y""" return x * 2 }}\n'
        f'model m() {{ """a\\\\""" input x: [B, 8] return b(x) }}\n'
        f'model v = m() "\\"\\"\\"\\n{PAYLOAD}\\n\\"\\"\\"\\\\"\n'
    ),
    "backslash_end": 'model backslash() { """ends in a backslash \\""" input x: [B, 8] return x * 2 }',
    "control_characters": 'model control() { """nul \x00 cr \r ff \x0c esc \x1b ls \u2028 bidi \u202e""" '
    "input x: [B, 8] return x * 2 }",
    "jinja_syntax": 'model jinja() { """{{ 7 * 7 }} {% raw %} {#""" input x: [B, 8] return x * 2 }',
    "builtin_and_module_names": (
        "block exec(os: [B, N, C], sys: int) { __import__ = fc: linear(os, sys) return __import__ }\n"
        "model eval(open = 8) { input self: [B, 4, open] print = exec(self, open) compile = print * 2\n"
        "    globals = gelu(compile) system = globals + print return head: linear(system, 2) }\n"
    ),
    "generated_code_names": (
        "model forward(torch = 8, nn = 2) { input F: [B, 3, torch] dd = F * 2 x = x: linear(dd + F, torch)\n"
        "    self = self: linear(x, torch) super = F: layer_norm(self) return nn: linear(super, nn) }\n"
    ),
}
SPEC_FILE_NAMES = {"evil_file_name": "x\nimport os\nos.system('touch PWNED')\n#.arch"}
IMPORTS = {"torch", "torch.nn.functional"}
FROM_IMPORTS = {"torch": {"nn"}, "torch.utils.checkpoint": {"checkpoint"}}
GLOBALS = {"torch", "nn", "F", "checkpoint", "super", "range", "max", "min", "zip", "len", "tuple", "str", "int",
           "float", "bool", "dict"}  # fmt: skip


def compile_hostile(directory: Path) -> list[Path]:
    """Compile every hostile spec into `directory / "out"`; the generated files."""
    specs = []
    for name, text in HOSTILE_SPECS.items():
        specs.append(directory / f"{name}.arch")
        specs[-1].write_text(text, encoding="utf-8", newline="")
    for name, file_name in SPEC_FILE_NAMES.items():
        specs.append(directory / file_name)
        specs[-1].write_text(f"model {name}() {{ input x: [B, 8] return x * 2 }}")
    assert main(["compile", *map(str, specs), "-o", str(directory / "out")]) == 0
    return sorted((directory / "out").glob("*.py"))


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> list[Path]:
    return compile_hostile(tmp_path_factory.mktemp("hostile"))


def test_every_hostile_spec_compiled(generated):
    assert len(generated) == len(HOSTILE_SPECS) + len(SPEC_FILE_NAMES)  # one file per spec file


def test_generated_files_hold_only_definitions(generated):
    for path in generated:
        source = path.read_text(encoding="utf-8")
        assert source.isascii(), path
        assert_definitions_only(ast.parse(source))


def test_code_reads_no_names_but_torch_and_a_few_builtins(generated):
    """Every name a function reads is its own (an argument or a local) or one of GLOBALS: user
    names are only ever locals, attributes and class names, so none reaches `os` or `exec`."""
    for path in generated:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        classes = {n.name for n in tree.body if isinstance(n, ast.ClassDef)}
        for fn in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
            own = {a.arg for a in ast.walk(fn.args) if isinstance(a, ast.arg)}
            own |= {n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
            reads = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
            assert reads - own - classes <= GLOBALS, (path.name, fn.name, reads - own - classes - GLOBALS)
        attributes = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        assert not attributes & {"system", "popen", "__import__", "__builtins__", "__globals__"}, path.name


def test_docstrings_keep_the_hostile_text_verbatim(generated):
    by_name = {p.stem: ast.parse(p.read_text(encoding="utf-8")) for p in generated}
    tree = by_name["docstring_breakout"]  # models m and v, v an entry function (it differs from m only in its doc)
    block = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "B")
    assert ast.get_docstring(block) == f'x\\" + {PAYLOAD} + \\"y'  # no escapes in a triple-quoted string
    assert 'v (v()): """\n' in ast.get_docstring(tree)
    (entry,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "v"]
    assert ast.get_docstring(entry) == '"""'  # its doc's first line: this used to end the docstring early


def assert_definitions_only(tree: ast.Module) -> None:
    """A docstring, imports of torch, `__all__`, and classes of methods with constant defaults."""
    doc, *rest = tree.body
    assert isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant) and isinstance(doc.value.value, str)
    for node in rest:
        if isinstance(node, ast.Import):
            assert {a.name for a in node.names} <= IMPORTS, ast.dump(node)
        elif isinstance(node, ast.ImportFrom):
            assert {a.name for a in node.names} <= FROM_IMPORTS.get(node.module, set()), ast.dump(node)
        elif isinstance(node, ast.Assign):
            assert ast.unparse(node.targets[0]) == "__all__" and isinstance(node.value, ast.List)
            assert all(isinstance(e, ast.Constant) for e in node.value.elts)
        elif isinstance(node, ast.FunctionDef):  # a model's entry function: a class with other defaults
            _assert_entry(node)
        else:
            assert isinstance(node, ast.ClassDef), ast.dump(node)[:300]
            _assert_class(node)


def _assert_entry(node: ast.FunctionDef) -> None:
    """`def name(**kwargs) -> Cls:`, a docstring, `model_args = dict(<constants>)`, `return Cls(...)`."""
    assert not node.decorator_list and node.args.kwarg is not None and not node.args.args, node.name
    doc, *body, ret = node.body
    assert isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant)
    for line in body:
        assert ast.unparse(line.targets[0]) == "model_args" and ast.unparse(line.value.func) == "dict"
        assert all(isinstance(k.value, ast.Constant) for k in line.value.keywords)
    assert isinstance(ret, ast.Return) and ast.unparse(ret.value.func) == ast.unparse(node.returns)


def _assert_class(node: ast.ClassDef) -> None:
    assert not node.decorator_list and [ast.unparse(b) for b in node.bases] == ["nn.Module"], node.name
    doc, *methods = node.body
    assert isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant)
    for method in methods:
        assert isinstance(method, ast.FunctionDef) and not method.decorator_list, ast.dump(method)[:300]
        defaults = [*method.args.defaults, *(d for d in method.args.kw_defaults if d is not None)]
        assert all(isinstance(d, ast.Constant) for d in defaults), method.name


# ---- op attributes that are strings are checked against fixed sets ----

HOSTILE_STRING = "\"zeros'); import os; ('\""
STRING_ATTRIBUTES = {
    ("linear", "init"): "fc: linear(x, 4, init = {})",
    ("conv2d", "init"): "c: conv2d(image, 4, 3, init = {})",
    ("std_conv2d", "init"): "c: std_conv2d(image, 4, 3, init = {})",
    ("std_conv2d", "padding"): "c: std_conv2d(image, 4, 3, padding = {})",
    ("max_pool2d", "padding"): "max_pool2d(image, 3, 2, padding = {})",
    ("gelu", "approximate"): "gelu(x, approximate = {})",
    ("parameter", "init"): "p: parameter([1, 8], init = {})",
    ("add", "scalar"): "add(x, {})",
    ("sub", "scalar"): "sub(x, {})",
    ("mul", "scalar"): "mul(x, {})",
    ("div", "scalar"): "div(x, {})",
    ("index", "items"): "index(x, {})",
    ("embedding", "init"): "e: embedding(ids, 10, 4, init = {})",
}


def test_every_string_attribute_is_covered():
    """A new op with a `str` or `any` attribute must be added above (and must validate it)."""
    found = {(n, k) for n, op in REGISTRY.items() for k, a in op.attrs.items() if a.kind in ("str", "any")}
    assert found <= set(STRING_ATTRIBUTES), sorted(found - set(STRING_ATTRIBUTES))


@pytest.mark.parametrize("attribute", STRING_ATTRIBUTES, ids=lambda a: ".".join(a))
def test_hostile_string_attributes_are_errors(tmp_path, capsys, attribute):
    call = STRING_ATTRIBUTES[attribute].format(HOSTILE_STRING)
    spec = tmp_path / "spec.arch"
    spec.write_text(f"model m() {{ input x: [B, 8] input image: [B, 3, 8, 8] input ids: i64[B, 8]\n return {call} }}\n")
    assert main(["compile", str(spec), "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "error" in err and "Traceback" not in err and not (tmp_path / "out").exists(), err


# ---- the escaping itself, for any text ----


@settings(max_examples=300, deadline=None)
@given(text=st.text())
def test_any_text_round_trips_through_a_generated_docstring(text):
    """A docstring made of any text parses back to exactly that text, and is printable ASCII."""
    source = '"""' + _docstring_safe(text) + '"""'
    assert source.isascii() and source.isprintable()
    assert ast.literal_eval(source) == text


@settings(max_examples=300, deadline=None)
@given(text=st.text())
def test_any_text_stays_inside_a_header_comment(text):
    line = "# Generated by archgraph from " + _comment_safe(text)
    assert line.isascii() and line.isprintable()
    assert ast.parse(line).body == []
