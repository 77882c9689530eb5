"""Generate a standalone PyTorch module (one file, imports only torch) from a lowered graph.

`generate(graph, spec)` writes one class per block definition (`classes`: each instance's
code with literal sizes, the literals then turned into formulas of the block's parameters by
`fit`, checked on the model lowered again at other sizes; `families` chooses those sizes and
fits a file's models together), prints each class from its syntax tree (`layout`), and renders
`templates/module.py.j2`, which only substitutes. Output is deterministic: no timestamp, no
version, sets never iterated unsorted.
"""

from __future__ import annotations

import re
import shlex
import textwrap
from functools import cache

from archgraph import compiled
from archgraph.codegen.assemble import Model, sources
from archgraph.codegen.checksum import stamp
from archgraph.codegen.families import file_classes
from archgraph.codegen.helpers import HELPERS
from archgraph.codegen.names import sanitize
from archgraph.codegen.spelling import spelled
from archgraph.cost import Totals, totals
from archgraph.ir import Graph
from archgraph.loader import libraries_used


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
    """The source of a file holding the one model `graph`, compiled from the spec file `spec`."""
    return generate_file([graph], spec, output)


def generate_file(graphs: list[Graph], spec: str, output: str | None = None, *, cached: bool = True) -> str:
    """The source of `generated/<spec>.py` for the models `graphs` of the spec file `spec` (compiled
    into the directory `output`, if not the default: the header's command names it); from the
    cache (`archgraph.compiled`) when these models were generated before from the same files, unless
    not `cached` (a caller that keeps the module under an entry of its own: `archgraph compile`)."""
    if not graphs:
        raise ValueError(f"no models to generate a file of for {spec}")
    entry = _entry(graphs, spec, output) if cached else None
    return compiled.cached(entry, lambda: _generate_file(graphs, spec, output))


def _entry(graphs: list[Graph], spec: str, output: str | None):
    """The cache entry of these models (`compiled.entry`): each named by its parameters and its size
    (a sketch differs); None for a graph lowered from no program, or from programs that differ."""
    programs = [g.program for g in graphs]
    if not graphs or None in programs or len({(tuple(p.files), tuple(p.texts)) for p in programs}) > 1:
        return None
    models = [f"{g.name} lowered at {sorted(g.params.items())!r} to {len(g.nodes)} nodes" for g in graphs]
    return compiled.entry(programs[0], spec, output, models)


def _generate_file(graphs: list[Graph], spec: str, output: str | None) -> str:
    merged = file_classes(graphs)
    docs = {m.name: _docstring_safe(m.doc) for m in merged.entries}
    if len(graphs) == 1:
        (graph,), (model,) = graphs, merged.entries
        title = "\n".join(_wrapped(_docstring_safe(f"{graph.name}: {model.doc}")))
        summary = [*_summary(graph, totals(graph)), *_arguments(model.params)]
        header = f"model `{graph.name}`"
    else:
        title = _docstring_safe(f"The {len(graphs)} models of {spec}: a class each, or a function calling one.")
        title = "\n".join(_wrapped(title))
        summary = [*_LEGEND, *(line for g, m in zip(graphs, merged.entries, strict=True) for line in _brief(g, m))]
        header = f"{len(graphs)} models"
    classes = sources(merged, docs)
    return stamp(
        spelled(
            _environment()
            .get_template("module.py.j2")
            .render(
                spec=_comment_safe(spec.replace("\\", "/")),
                command=_comment_safe(_command(spec.replace("\\", "/"), output, _libraries(graphs))),
                header=_comment_safe(header),
                exports=_exports(merged.exports),
                title=title,
                summary=[part for line in summary for part in _wrapped(_docstring_safe(line)) or [""]],
                helpers=[HELPERS[h].rstrip("\n") for h in merged.helpers],
                classes=classes,
                checkpoint_import=any("checkpoint(block" in c for c in classes),
            )
        )
    )


def _exports(names: list[str]) -> str:
    """The `__all__` line, one name a line if it would pass 100 characters; classes first, as
    isort (and ruff's RUF022) sort it."""
    names = sorted(names, key=lambda n: (not n.isupper(), not n[:1].isupper(), _natural(n)))
    line = f"__all__ = [{', '.join(f'{n!r}' for n in names)}]".replace("'", '"')
    return line if len(line) <= 100 else "__all__ = [\n" + "".join(f'    "{n}",\n' for n in names) + "]"


_LEGEND = ["", "FLOPs at batch 1: matmul + conv, 2 per multiply-add; attention: its N^2 terms (q@k^T, "
           "attn@v); other: norms, activations, softmax, adds."]  # fmt: skip


def _natural(name: str) -> list:
    """`name` as a natural sort key: its digit runs compared as numbers (`Vit1` < `Vit18`)."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def _brief(graph: Graph, model: Model) -> list[str]:
    """A model's lines in a several-model file's docstring: name, class or function, counts."""
    t = totals(graph)
    ins = ", ".join(f"{name} {graph.type_of(v)}" for name, v in graph.inputs)
    outs = ", ".join(str(graph.type_of(v)) for v in graph.outputs)
    share = f"{100 * t.attention_flops / t.flops:.1f}%" if t.flops else "0%"
    call = model.cls if model.arguments is None else f"{sanitize(model.name)}()"
    text = (f"{ins} -> {outs}; {t.params:,} parameters; {t.flops:,} FLOPs, attention "
            f"{t.attention_flops:,} ({share}), other {t.other_flops:,}.")  # fmt: skip
    indent = {"initial_indent": "    ", "subsequent_indent": "    "}
    return ["", *_wrapped(f"{graph.name} ({call}): {model.doc}"), *_wrapped(text, **indent)]


def _wrapped(text: str, **options) -> list[str]:
    """`text` in lines of at most 96 characters, broken at spaces only."""
    return textwrap.wrap(text, 96, break_long_words=False, break_on_hyphens=False, **options)


def _command(spec: str, output: str | None, libraries: list[str]) -> str:
    """The shell command that regenerates the file, its paths quoted: the library folders its imports
    were found in as `--lib`."""
    options = "".join(f" --lib {shlex.quote(folder)}" for folder in libraries)
    return f"archgraph compile{options} {shlex.quote(spec)}" + (f" -o {shlex.quote(output)}" if output else "")


def _libraries(graphs: list[Graph]) -> list[str]:
    program = graphs[0].program
    return [] if program is None else [f.replace("\\", "/") for f in libraries_used(program)]


def _arguments(params: list[str]) -> list[str]:
    if not params:
        return []
    text = (f"Keyword arguments (the spec's parameters): {', '.join(params)}; the spec's other "
            "parameters are fixed in this file (changing them changes its structure).")  # fmt: skip
    return ["", *_wrapped(text)]


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
