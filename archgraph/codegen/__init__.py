"""Generate a standalone PyTorch module (one file, imports only torch) from a lowered graph.

`generate(graph, spec)` writes one class per block definition (`classes`: each instance's
code with literal sizes, the literals then turned into formulas of the block's parameters by
`fit`, checked on the model lowered again at other sizes), prints each class from its syntax
tree (`layout`), and renders `templates/module.py.j2`, which only substitutes. Output is
deterministic: no timestamp, no version, sets never iterated unsorted.
"""

from __future__ import annotations

import re
import shlex
import textwrap
from functools import cache

from archgraph.codegen.checksum import stamp
from archgraph.codegen.classes import Result, UnfittedError, build
from archgraph.codegen.layout import layout
from archgraph.codegen.memo import Views
from archgraph.codegen.view import HELPERS
from archgraph.cost import Totals, totals
from archgraph.errors import SpecError
from archgraph.ir import Graph
from archgraph.lower import lower


@cache
def _environment():
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("archgraph", "codegen/templates"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def generate(graph: Graph, spec: str, output: str | None = None) -> str:
    """The source of `generated/<model>.py` for `graph`, compiled from the spec file `spec`
    (into the directory `output`, if not the default: the header's command names it)."""
    result = _classes(graph)
    model = result.classes[-1]
    title = _docstring_safe(f"{graph.name}: {model.doc}")
    summary = _summary(graph, totals(graph))
    classes = [layout(w.tree) for w in result.classes]
    return stamp(
        _environment()
        .get_template("module.py.j2")
        .render(
            spec=_comment_safe(spec.replace("\\", "/")),
            command=_comment_safe(_command(spec.replace("\\", "/"), output)),
            model=_comment_safe(graph.name),
            model_class=model.signature.name,
            title=title,
            summary=[_docstring_safe(line) for line in [*summary, *_arguments(model.signature)]],
            helpers=[HELPERS[h].rstrip("\n") for h in result.helpers],
            classes=classes,
            checkpoint_import=any("checkpoint(block" in c for c in classes),
        )
    )


def _command(spec: str, output: str | None) -> str:
    """The shell command that regenerates the file, its paths quoted."""
    return f"archgraph compile {shlex.quote(spec)}" + (f" -o {shlex.quote(output)}" if output else "")


def _classes(graph: Graph) -> Result:
    """The classes of `graph`, fitted on the model lowered again with each numeric parameter
    changed; a parameter no change of which keeps the classes' structure stays fixed in the file.
    While a parameter is tried, formulas may use the untried ones (`img_size // patch_size`).
    The trials only name the classes (`write=False`); the classes chosen are written last."""
    numeric = [n for n, v in graph.params.items() if _varied(v)] if graph.program is not None else []
    views = Views()  # each scope's class rendered once across the builds below
    shape = _names(build([graph], set(), views, write=False))
    graphs, allowed = [graph], set()
    for name in numeric:
        for other in _variations(graph, name, graph.params[name]):
            try:
                trial = build([*graphs, other], set(numeric), views, write=False)
            except UnfittedError:  # the change adds a block the model does not have
                continue
            if _names(trial) == shape:
                graphs.append(other)
                allowed.add(name)
                break
    if not allowed:
        return build(graphs, set(), views)
    # the classes of `graphs` fitted with every numeric name, unless fewer give the same classes
    if allowed != set(numeric) and _names(result := build(graphs, allowed, views)) == shape:
        return result
    return build(graphs, set(numeric), views)


def _varied(value) -> bool:
    """Whether `_classes` tries a parameter at other values: a nonzero number, or a float 0.0 (a rate
    that is off by default, as dropout's)."""
    return type(value) in (int, float) and (value != 0 or type(value) is float)


def _names(result: Result) -> list[str]:
    return [w.signature.name for w in result.classes]


def _variations(graph: Graph, name: str, value: int | float):
    """The model lowered with `name` doubled, else halved, else tripled (the first the spec accepts);
    a float 0.0 (a rate switched off) as 0.25."""
    changes = [value * 2, *([value // 2] if type(value) is int and value % 2 == 0 else []), value * 3]
    if type(value) is float and value == 0:  # a rate that is off (dropout, drop path): tried on
        changes = [0.25]
    for changed in changes:
        try:
            yield lower(graph.program, graph.name, {**graph.params, name: changed})
        except SpecError:
            continue


def _arguments(sig) -> list[str]:
    if not sig.params:
        return []
    text = (f"Keyword arguments (the spec's parameters): {', '.join(sig.params)}; the spec's other "
            "parameters are fixed in this file (changing them changes its structure).")  # fmt: skip
    return ["", *textwrap.wrap(text, 96)]


def _summary(graph: Graph, t: Totals) -> list[str]:
    ins = ", ".join(f"{name} {graph.type_of(v)}" for name, v in graph.inputs)
    outs = ", ".join(str(graph.type_of(v)) for v in graph.outputs)
    share = f"{100 * t.attention_flops / t.flops:.1f}%" if t.flops else "0%"
    return [
        "",
        f"Input {ins} -> output {outs}.",
        f"Parameters: {t.params:,}.",
        f"FLOPs at batch 1 (matmul + conv, 2 per multiply-add): {t.flops:,} ({t.macs:,} MACs);",
        f"of which attention's N^2 terms (q@k^T, attn@v): {t.attention_flops:,} ({share}).",
        f"Other FLOPs (norms, activations, softmax, adds): {t.other_flops:,}.",
    ]


def _docstring_safe(text: str) -> str:
    """Text that cannot end or escape a generated docstring: backslashes and quotes escaped, ASCII only."""
    text = text.replace("\\", "\\\\")
    # A run of three or more quotes, or a run at the very end (it would join the closing `"""`),
    # is escaped in full; shorter runs inside the text cannot end the string.
    text = _QUOTES.sub(lambda m: '\\"' * len(m.group()), text)
    return _comment_safe(text)


_QUOTES = re.compile(r'"{3,}|"+\Z')


def _comment_safe(text: str) -> str:
    """Printable ASCII only: other characters (newlines and NUL included) as backslash escapes."""
    text = text.encode("ascii", "backslashreplace").decode("ascii")
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
