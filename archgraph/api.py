"""The public API: load a spec's graph, analyze it, generate its module, build it in torch.

    graph = archgraph.load_graph("specs/vit_b16.arch", img_size=384)
    numbers = archgraph.analyze("specs/vit_b16.arch")          # what `archgraph report` prints
    model = archgraph.build("specs/vit_b16.arch", depth=2)      # a torch.nn.Module

Only `build` imports torch.
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archgraph import syntax as s
from archgraph.check import check
from archgraph.errors import ArchNameError, SpecError
from archgraph.ir import Graph
from archgraph.loader import Program, display_name, load
from archgraph.lower import lower
from archgraph.ops import suggest

if TYPE_CHECKING:
    from archgraph.poly import ClosedForm


def choose_model(program: Program, model: str | None) -> str:
    """The model to use: `model` if given, else the first model the file itself defines."""
    own = program.models
    everything = [n for n, d in program.definitions.items() if not isinstance(d, s.Block)]
    span = _file_span(program)
    if model is not None:
        if model not in everything:
            guess = suggest(model, everything)
            hint = f"; did you mean `{guess}`?" if guess else f"; it has {', '.join(everything) or 'no models'}"
            raise ArchNameError(f"`{program.files[0]}` defines no model `{model}`{hint}", span)
        return model
    if not own:
        raise ArchNameError(f"`{program.files[0]}` defines no model; name an imported one with --model", span)
    return own[0]


def _file_span(program: Program):
    from archgraph.source import Span

    return Span(program.files[0], 1, 1, 1, 1)


def load_graph(path: str | Path, model: str | None = None, **overrides: Any) -> Graph:
    """Parse, check and lower one model of a spec file (`overrides` replace parameter values)."""
    program = load(path)
    check(program)
    return lower(program, choose_model(program, model), overrides)


def input_shape(path: str | Path, model: str | None = None, batch: int = 1, **overrides: Any) -> tuple[int, ...]:
    """The concrete shape of the model's input at batch size `batch` (an image: [batch, C, H, W])."""
    return graph_input_shape(load_graph(path, model, **overrides), batch)


def graph_input_shape(graph: Graph, batch: int = 1) -> tuple[int, ...]:
    """`input_shape` of an already lowered graph."""
    if len(graph.inputs) != 1:
        raise ValueError(f"`{graph.name}` has {len(graph.inputs)} inputs; input_shape serves models with one")
    ((_, value),) = graph.inputs
    return graph.type_of(value).shape(batch)


def analyze(path: str | Path, model: str | None = None, batch: int = 1, **overrides: Any) -> dict:
    """The report as a dict: totals, output shape, a row per layer and block, every node, and which
    parameters depend on the token count (`token_dependent`)."""
    return report_dict(path, model, batch, overrides=overrides)


def report_dict(path: str | Path, model: str | None = None, batch: int = 1, *, convention: str = "flop_counter",
                depth: int | None = None, dtype: str = "f32", closed_form: bool = False,
                overrides: dict[str, Any] | None = None) -> dict:  # fmt: skip
    """`analyze` with the report's options: the counting `convention` (archgraph.conventions), rows
    `depth` levels deep, activation memory in `dtype`, and the closed form in N if asked."""
    from archgraph.report import report_data
    from archgraph.resolution import token_dependence

    overrides = overrides or {}
    program = load(path)
    check(program)
    name = choose_model(program, model)
    graph = lower(program, name, overrides)
    data = report_data(graph, batch, convention, depth, dtype)
    data["token_dependent"] = token_dependence(program, name, overrides, graph)
    if closed_form:
        form, why = closed_form_or_reason(program, name, graph, convention, overrides)
        data["closed_form"] = form.json() if form else {"error": why}
    return data


def closed_form(path: str | Path, model: str | None = None, convention: str = "flop_counter", **overrides: Any):
    """The model's count under `convention` as an exact polynomial in its token count N
    (an archgraph.poly.ClosedForm: `.count(N)`, `.tokens(img_size)`, `.crossover_tokens()`)."""
    program = load(path)
    check(program)
    name = choose_model(program, model)
    return _closed_form(program, name, lower(program, name, overrides), convention, overrides)


def _closed_form(program: Program, name: str, graph: Graph, convention: str, overrides: dict[str, Any]):
    from archgraph import conventions
    from archgraph.poly import closed_form as fit

    conv = conventions.get(convention)
    return fit(graph, lambda img: lower(program, name, {**overrides, "img_size": img}), conv.total, conv.name)


def closed_form_or_reason(program: Program, name: str, graph: Graph, convention: str,
                          overrides: dict[str, Any]) -> tuple[ClosedForm | None, str | None]:  # fmt: skip
    """(the closed form of `graph`, model `name` lowered with `overrides`, None), or (None, why there is
    none: no token sequence, no img_size, not a polynomial, or a sample size the spec rejects)."""
    try:
        return _closed_form(program, name, graph, convention, overrides), None
    except (ValueError, SpecError) as error:
        return None, str(error).splitlines()[0]


def generate_source(path: str | Path, model: str | None = None, **overrides: Any) -> str:
    """The generated module's source for one model."""
    from archgraph.codegen import generate

    return generate(load_graph(path, model, **overrides), display_name(Path(path)))


def build(path: str | Path, model: str | None = None, *, device=None, dtype=None, grad_checkpointing: bool = False,
          **overrides: Any):  # fmt: skip
    """Generate the module for `model` and instantiate it (random weights, initialised as timm).

    `grad_checkpointing=True` makes each repeated block recompute its activations in backward
    while training (the generated class's constructor flag)."""
    source = generate_source(path, model, **overrides)
    return instantiate(source, f"<generated from {path}>", device=device, dtype=dtype,
                       grad_checkpointing=grad_checkpointing)  # fmt: skip


def instantiate(source: str, filename: str = "<generated>", **kwargs: Any):
    """Run a generated module's source and build its model class with `kwargs` (device, dtype, ...)."""
    module = types.ModuleType("archgraph_generated")
    exec(compile(source, filename, "exec"), module.__dict__)
    return getattr(module, module.__all__[0])(**kwargs)
