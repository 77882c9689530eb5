"""Generate a standalone PyTorch module (one file, imports only torch) from a lowered graph.

`generate(graph, spec)` renders `templates/module.py.j2` from the view objects in `view`:
the templates only loop and substitute. Output is deterministic: no timestamp, no
version, sets never iterated unsorted.
"""

from __future__ import annotations

import re
from functools import cache

from archgraph.codegen.checksum import stamp
from archgraph.codegen.view import HELPERS, file_view
from archgraph.cost import Totals, totals
from archgraph.ir import Graph


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


def generate(graph: Graph, spec: str) -> str:
    """The source of `generated/<model>.py` for `graph`, compiled from the spec file `spec`."""
    view = file_view(graph)
    title = _docstring_safe(f"{graph.name}: {view.model.doc}")  # before the class docs are escaped
    for cls in view.classes:
        cls.doc = _docstring_safe(cls.doc)
    summary = _summary(graph, totals(graph))
    return stamp(
        _environment()
        .get_template("module.py.j2")
        .render(
            spec=_comment_safe(spec.replace("\\", "/")),
            model=_comment_safe(graph.name),
            model_class=view.model.name,
            title=title,
            summary=[_docstring_safe(line) for line in summary],
            helpers=[HELPERS[h].rstrip("\n") for h in view.helpers],
            classes=view.classes,
            checkpoint_import=view.checkpoint_import,
        )
    )


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
