"""The public API, and the one front door every command and API function goes through.

    graph = archgraph.load_graph("specs/vit.arch", overrides={"img_size": 384})
    numbers = archgraph.analyze("specs/vit.arch", convention="fvcore")  # what `report` prints
    model = archgraph.build(graph)                                           # a torch.nn.Module

`open_model` is the front door: load -> check -> choose the model -> lower, once. API options
(`batch`, `convention`, `depth`, `dtype`, ...) are named arguments; model parameters go in
`overrides={...}` (or, where no option has the name, as keyword arguments). Every argument is
checked first, with the command line's messages (archgraph.arguments). Only `build` imports
torch, and says how to install it when it is missing (archgraph.deps).
"""

from __future__ import annotations

import types
from pathlib import Path

from archgraph import arguments
from archgraph import syntax as s
from archgraph.check import check
from archgraph.errors import ArchNameError, SpecError
from archgraph.ir import Graph
from archgraph.loader import Program, display_name, load
from archgraph.lower import lower
from archgraph.ops import suggest
from archgraph.record import record

TYPE_CHECKING = False  # typing's, without importing typing at start-up
if TYPE_CHECKING:
    from typing import Any

    from archgraph.poly import ClosedForm

REPORT_DTYPES = ("f32", "bf16", "f16")


@record(frozen=True)
class Opened:
    """One model of a spec, loaded, checked and lowered: what every command starts from."""

    path: Path
    program: Program
    name: str
    overrides: dict[str, Any]
    graph: Graph


def open_program(path: str | Path) -> Program:
    """The spec file at `path`, parsed with its imports and checked (a SpecError on any mistake)."""
    program = load(Path(arguments.path_like(path)))
    check(program)
    return program


def open_model(path: str | Path, model: str | None = None, overrides: dict[str, Any] | None = None,
               program: Program | None = None) -> Opened:  # fmt: skip
    """The front door: load and check `path` (unless its checked `program` is given), choose `model`
    (default: the file's first), and lower it with `overrides`."""
    overrides = arguments.overrides(overrides)
    program = program or open_program(path)
    name = choose_model(program, arguments.model_name(model))
    return Opened(Path(path), program, name, overrides, lower(program, name, overrides))


def _overrides(overrides: dict[str, Any] | None, more: dict[str, Any]) -> dict[str, Any]:
    """`overrides={...}` and parameter keyword arguments, as one checked dict (keywords win)."""
    return arguments.overrides({**arguments.overrides(overrides), **more})


def _graph(source: str | Path | Graph, model: str | None, overrides: dict[str, Any]) -> Graph:
    """`source` itself if it is a lowered Graph (then no model or overrides may be given), else lowered."""
    if isinstance(source, Graph):
        if model is not None or overrides:
            raise arguments.ArgumentError(
                "a lowered Graph is already one model at one setting: pass no model or overrides"
            )
        return source
    return open_model(source, model, overrides).graph


def choose_model(program: Program, model: str | None) -> str:
    """The model to use: `model` if given, else the first model the file itself defines."""
    own = program.models
    everything = [n for n, d in program.definitions.items() if not isinstance(d, s.Block)]
    span = file_span(program)
    if model is not None:
        if model not in everything:
            guess = suggest(model, everything)
            hint = f"; did you mean `{guess}`?" if guess else f"; it has {', '.join(everything) or 'no models'}"
            raise ArchNameError(f"`{program.files[0]}` defines no model `{model}`{hint}", span)
        return model
    if not own:
        raise ArchNameError(f"`{program.files[0]}` defines no model; name an imported one with --model", span)
    return own[0]


def file_span(program: Program):
    """Where an error about the spec file as a whole points: its first character."""
    from archgraph.source import Span

    return Span(program.files[0], 1, 1, 1, 1)


def load_graph(path: str | Path, model: str | None = None, *, overrides: dict[str, Any] | None = None,
               **more: Any) -> Graph:  # fmt: skip
    """Parse, check and lower one model of a spec file (`overrides` replace parameter values)."""
    return open_model(path, model, _overrides(overrides, more)).graph


def input_shape(source: str | Path | Graph, model: str | None = None, batch: int = 1, *,
                overrides: dict[str, Any] | None = None, **more: Any) -> tuple[int, ...]:  # fmt: skip
    """The concrete shape of the model's input at batch size `batch` (an image: [batch, C, H, W])."""
    batch = arguments.positive(batch, "batch")
    return graph_input_shape(_graph(source, model, _overrides(overrides, more)), batch)


def graph_input_shape(graph: Graph, batch: int = 1) -> tuple[int, ...]:
    """`input_shape` of an already lowered graph."""
    if len(graph.inputs) != 1:
        raise ValueError(f"`{graph.name}` has {len(graph.inputs)} inputs; input_shape serves models with one")
    ((_, value),) = graph.inputs
    return graph.type_of(value).shape(batch)


def analyze(path: str | Path, model: str | None = None, *, batch: int = 1, convention: str | None = None,
            depth: int | None = None, dtype: str = "f32", closed_form: bool = False,
            overrides: dict[str, Any] | None = None, **more: Any) -> dict:  # fmt: skip
    """The report as a dict (what `archgraph report --format json` prints): totals, output shape, a row
    per layer and block (`depth` levels deep), every node, memory in `dtype` at `batch`, which
    parameters depend on the token count, and with `closed_form` the count as a polynomial in N,
    all under the counting `convention` (archgraph.conventions; default flop_counter).
    Model parameters go in `overrides` (or as keyword arguments: `analyze(p, img_size=384)`)."""
    from archgraph import conventions
    from archgraph.report import report_data
    from archgraph.resolution import token_dependence

    batch = arguments.positive(batch, "batch")
    convention = arguments.one_of(convention or conventions.DEFAULT, "convention", conventions.ALIASES)
    depth = None if depth is None else arguments.positive(depth, "depth")
    dtype = arguments.one_of(dtype, "dtype", REPORT_DTYPES)
    if not isinstance(closed_form, bool):
        raise arguments.ArgumentKindError(f"closed_form: expected true or false, found {closed_form!r}")
    opened = open_model(path, model, _overrides(overrides, more))
    data = report_data(opened.graph, batch, convention, depth, dtype)
    data["token_dependent"] = token_dependence(opened.program, opened.name, opened.overrides, opened.graph)
    if closed_form:
        form, why = closed_form_or_reason(opened.program, opened.name, opened.graph, convention, opened.overrides)
        data["closed_form"] = form.json() if form else {"error": why}
    return data


def closed_form(path: str | Path, model: str | None = None, convention: str | None = None, *,
                overrides: dict[str, Any] | None = None, **more: Any):  # fmt: skip
    """The model's count under `convention` as an exact polynomial in its token count N
    (an archgraph.poly.ClosedForm: `.count(N)`, `.tokens(img_size)`, `.crossover_tokens()`)."""
    from archgraph import conventions

    convention = arguments.one_of(convention or conventions.DEFAULT, "convention", conventions.ALIASES)
    opened = open_model(path, model, _overrides(overrides, more))
    return _closed_form(opened.program, opened.name, opened.graph, convention, opened.overrides)


def _closed_form(program: Program, name: str, graph: Graph, convention: str, overrides: dict[str, Any]):
    from archgraph import conventions
    from archgraph.knobs import size_knob
    from archgraph.poly import closed_form as fit
    from archgraph.poly import token_count
    from archgraph.sketched import counted, of_graph

    conv = conventions.get(convention)
    knob = size_knob(graph)

    def sample(size: int) -> tuple[int, int]:  # (N, count) at `size`, from a sketch (archgraph.sketched)
        c = of_graph(graph) if size == graph.params.get(knob) else counted(program, name, {**overrides, knob: size})
        return token_count(c.graph), c.total(conv)

    return fit(graph, sample, conv.name)


def closed_form_or_reason(program: Program, name: str, graph: Graph, convention: str,
                          overrides: dict[str, Any]) -> tuple[ClosedForm | None, str | None]:  # fmt: skip
    """(the closed form of `graph`, model `name` lowered with `overrides`, None), or (None, why there is
    none: no token sequence, no size knob, not a polynomial, or a sample size the spec rejects)."""
    try:
        return _closed_form(program, name, graph, convention, overrides), None
    except (ValueError, SpecError) as error:
        return None, str(error).splitlines()[0]


def generate_source(source: str | Path | Graph, model: str | None = None, *,
                    overrides: dict[str, Any] | None = None, **more: Any) -> str:  # fmt: skip
    """The generated module's source for one model (of a spec file, or an already lowered Graph)."""
    from archgraph.codegen import generate

    graph = _graph(source, model, _overrides(overrides, more))
    return generate(graph, display_name(Path(graph.source)))


def build(source: str | Path | Graph, model: str | None = None, *, device=None, dtype=None,
          grad_checkpointing: bool = False, dynamic_img_size: bool = False, overrides: dict[str, Any] | None = None,
          **more: Any):  # fmt: skip
    """Generate the module for `model` (or for an already lowered Graph) and instantiate it (random
    weights, initialised as timm). Needs torch: MissingDependencyError (naming the extra) without it.

    `grad_checkpointing=True` makes each repeated block recompute its activations in backward
    while training (the generated class's constructor flag). `dynamic_img_size=True` (a model with a
    `resample_pos_embed`, as ViT) resamples the position embedding to each input's size, as timm's."""
    from archgraph.deps import require

    if not isinstance(grad_checkpointing, bool):
        raise arguments.ArgumentKindError(f"grad_checkpointing: expected true or false, found {grad_checkpointing!r}")
    graph = _graph(source, model, _overrides(overrides, more))
    require("torch", "archgraph.build")
    _check_placement(device, dtype)
    source_text = generate_source(graph)
    flags = _flags(source_text, dynamic_img_size=dynamic_img_size)
    return instantiate(source_text, f"<generated from {graph.source}>", device=device, dtype=dtype,
                       grad_checkpointing=grad_checkpointing, **flags)  # fmt: skip


def _check_placement(device: Any, dtype: Any) -> None:
    """`device` (None, a name or a torch.device this machine has) and `dtype` (None or a torch.dtype),
    checked before anything is built: an ArgumentError that says what was expected."""
    import torch

    from archgraph.devices import device_problem

    if device is not None and (problem := device_problem(device, option="device={!r}")):
        raise arguments.ArgumentError(problem)
    if dtype is not None and not isinstance(dtype, torch.dtype):
        named = getattr(torch, dtype, None) if isinstance(dtype, str) else None
        hint = f" (torch.{dtype})" if isinstance(named, torch.dtype) else " (torch.float32, torch.bfloat16, ...)"
        raise arguments.ArgumentKindError(f"dtype: expected a torch.dtype{hint}, found {dtype!r}")


def _flags(source_text: str, **flags: Any) -> dict[str, bool]:
    """The constructor flags set to True (`dynamic_img_size`), each checked to be a bool the model takes."""
    out = {}
    for name, value in flags.items():
        if not isinstance(value, bool):
            raise arguments.ArgumentKindError(f"{name}: expected true or false, found {value!r}")
        if value and f"{name}: bool = False" not in source_text:
            raise arguments.ArgumentError(f"{name}: this model has no op that uses it (no resample_pos_embed)")
        if value:
            out[name] = True
    return out


def instantiate(source: str, filename: str = "<generated>", model: str | None = None,
                params: dict[str, Any] | None = None, **kwargs: Any):  # fmt: skip
    """Run a generated module's source and build a model with `kwargs` (device, dtype, ...): the entry
    function of `model` where the module has one (a file of several models, `vit_l16()`), else its
    first export; given those of the spec parameters `params` its class takes as arguments (the file
    fixes the others: a model that differs in them differs from the spec, which `verify` reports)."""
    import inspect

    from archgraph.codegen.fit import native
    from archgraph.codegen.names import sanitize

    module = types.ModuleType("archgraph_generated")
    exec(compile(source, filename, "exec"), module.__dict__)
    first = getattr(module, module.__all__[0])
    make = getattr(module, sanitize(model), first) if model is not None else first
    made = _built_class(make, module.__dict__)
    taken = inspect.signature(made).parameters if made is not None else {}
    given = {k: native(v) for k, v in (params or {}).items() if k in taken and k not in kwargs}
    return make(**given, **kwargs)


def _built_class(make: Any, namespace: dict[str, Any]) -> type | None:
    """The class `make` builds: itself, or what an entry function's return annotation names."""
    if isinstance(make, type):
        return make
    returned = getattr(make, "__annotations__", {}).get("return")  # the class, or its name as a string
    found = returned if isinstance(returned, type) else namespace.get(str(returned))
    return found if isinstance(found, type) else None
