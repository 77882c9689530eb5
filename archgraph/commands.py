"""The reporting subcommands of `archgraph` (cli.py wires them in): report and graph options,
and `sweep`, `diff`, `verify`. Each command is one function; only `verify` imports torch.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from archgraph import arguments, conventions

TYPE_CHECKING = False  # typing's, without importing typing at start-up
if TYPE_CHECKING:
    from typing import Any

    from archgraph.loader import Program

FORMATS = ("table", "json", "yaml", "csv", "markdown")


def _short_dtype(text: str) -> str:
    """`fp32`/`fp16` (bench's spelling) -> `f32`/`f16` (the report's)."""
    return {"fp32": "f32", "fp16": "f16"}.get(text, text)


def positive(text: str, minimum: int = 1) -> int:
    """argparse type for --batch, --runs and --depth: an integer of at least 1 (the API's message too)."""
    try:
        return arguments.positive_text(text, minimum)
    except arguments.ArgumentError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def at_least_zero(text: str) -> int:
    """argparse type for --warmup: `positive`, 0 allowed."""
    return positive(text, minimum=0)


def parse_value(text: str) -> Any:
    """`--set` values: integers, floats, true/false, lists in brackets (`[3, 4, 6, 3]`), else a string,
    within the limits every value has (finite, at most 2**62, ...); else argparse.ArgumentTypeError."""
    from archgraph.scalars import ScalarError, checked

    try:
        return checked(arguments.parse_value(text))
    except (ScalarError, arguments.ArgumentError) as error:
        raise argparse.ArgumentTypeError(f"--set value {text[:40]!r}: {error}") from None


def _value(key: str, text: str, parser: argparse.ArgumentParser) -> Any:
    """The --set value `text` of `key`; a usage error if it is malformed or out of bounds."""
    try:
        return parse_value(text)
    except argparse.ArgumentTypeError as error:
        parser.error(f"--set {key}: {error}")


def split_pair(pair: str, parser: argparse.ArgumentParser) -> tuple[str, str]:
    """`KEY=VALUE` -> (KEY, VALUE); a usage error unless KEY is a name."""
    key, sep, value = pair.partition("=")
    if not sep or not key.strip().isidentifier():
        parser.error(f"--set expects KEY=VALUE, found {pair!r}")
    return key.strip(), value


def parse_overrides(pairs: list[str], parser: argparse.ArgumentParser) -> dict[str, Any]:
    """The --set pairs as {parameter: value}."""
    return {key: _value(key, value, parser) for key, value in (split_pair(pair, parser) for pair in pairs or [])}


def add_model_options(parser: argparse.ArgumentParser, set_help: str = "override a parameter", *,
                      several: bool = False) -> None:  # fmt: skip
    """--model and --set; with `several` (commands over many files) also --all-models."""
    which = "each file" if several else "the file"
    parser.add_argument("--model", help=f"which model of {which} (default: the first it defines)")
    if several:
        parser.add_argument("--all-models", action="store_true", help="every model each file defines")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=f"{set_help} (repeatable)")


def folder(text: str) -> Path:
    """argparse type for --lib: an existing directory."""
    if not Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is not a directory")
    return Path(text)


def add_library_option(parser: argparse.ArgumentParser) -> None:
    """--lib DIR (repeatable): folders searched for imports after the importing file's own."""
    parser.add_argument("--lib", action="append", default=[], type=folder, metavar="DIR",
                        help="search DIR for imports (after the spec's folder, before ARCHGRAPH_PATH and std/)")  # fmt: skip


CONVENTION_HELP = ("what a FLOP counts (default flop_counter = FlopCounterMode; fvcore/paper = multiply-adds + norms; "
                   "torchvision/macs; full = + all elementwise work)")  # fmt: skip
BATCH_HELP = "the batch size the counts are for (default 1)"
FORMAT_HELP = "how to print the result (default table)"


def add_report_options(rep: argparse.ArgumentParser) -> None:
    rep.add_argument(
        "--convention", default=conventions.DEFAULT, choices=sorted(conventions.ALIASES), help=CONVENTION_HELP
    )
    rep.add_argument("--depth", type=positive, help="rows for every block down to this many levels (1: top level)")
    rep.add_argument("--by", choices=("layer", "op", "node"), default="layer", help="rows per layer, op kind or node")
    rep.add_argument("--dtype", default="f32", choices=("f32", "bf16", "f16"), type=_short_dtype,
                     help="activation dtype for memory: f32, bf16 or f16 (fp32 and fp16, as bench spells them, too)")  # fmt: skip
    rep.add_argument("--tools", action="store_true", help="also list what common FLOP counters print")
    rep.add_argument("--closed-form", action="store_true", help="the count as a polynomial in the token count N")


def add_graph_options(graph: argparse.ArgumentParser) -> None:
    graph.add_argument("--level", choices=("op", "block"), default="op", help="one vertex per op or per block")
    graph.add_argument("--depth", type=positive, help="block level: blocks down to this many levels")
    graph.add_argument("--renderer", choices=("auto", "dot", "builtin"), default="auto",
                       help="svg: Graphviz's dot (auto: when installed) or archgraph's own layout")  # fmt: skip


def add_sweep(sub) -> None:
    sweep = sub.add_parser("sweep", help="counts over a grid of settings (--set img_size=224,384), closed form, plot")
    sweep.add_argument("specs", nargs="+", type=Path)
    add_model_options(sweep, "KEY=V1,V2,... sweeps those values", several=True)
    sweep.add_argument(
        "--convention", default=conventions.DEFAULT, choices=sorted(conventions.ALIASES), help=CONVENTION_HELP
    )
    sweep.add_argument("--batch", type=positive, default=1, help=BATCH_HELP)
    sweep.add_argument("--format", choices=FORMATS, default="table", help=FORMAT_HELP)
    sweep.add_argument("--plot", type=Path, metavar="FILE", help="draw the sweep into FILE (.png, .svg, .pdf)")


def add_diff(sub) -> None:
    diff = sub.add_parser("diff", help="two models side by side per block: parameter and FLOP deltas")
    diff.add_argument("a", type=Path)
    diff.add_argument("b", type=Path)
    for side in ("a", "b"):
        diff.add_argument(f"--model-{side}", help=f"which model of {side.upper()}")
        diff.add_argument(f"--set-{side}", action="append", default=[], metavar="KEY=VALUE",
                          help=f"override a parameter of {side.upper()} only (repeatable)")  # fmt: skip
    diff.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                      help="override a parameter on both sides (repeatable)")  # fmt: skip
    diff.add_argument(
        "--convention", default=conventions.DEFAULT, choices=sorted(conventions.ALIASES), help=CONVENTION_HELP
    )
    diff.add_argument("--depth", type=positive, help="rows for every block down to this many levels")
    diff.add_argument("--batch", type=positive, default=1, help=BATCH_HELP)
    diff.add_argument("--format", choices=FORMATS, default="table", help=FORMAT_HELP)


def add_verify(sub) -> None:
    verify = sub.add_parser("verify", help="run the generated module; compare params, output shape and "
                            "FlopCounterMode per module with the spec (imports torch)")  # fmt: skip
    verify.add_argument("specs", nargs="+", type=Path)
    add_model_options(verify, several=True)
    verify.add_argument("--device", default="cpu", help="cpu, cuda or meta (default cpu)")
    verify.add_argument("--batch", type=positive, default=2, help="the batch the module runs on (default 2)")
    verify.add_argument("--small", action="store_true", help="a reduced size: 2 blocks, width 64, 2 heads")
    verify.add_argument("--module", type=Path, metavar="FILE", help="verify this Python file instead of generating")


def _models(args) -> list[tuple[Path, Program, str]]:
    """(spec, its checked program, model) for each spec: --model, or every model with --all-models, else the first."""
    from archgraph.api import choose_model, open_program

    out = []
    for path in args.specs:
        program = open_program(path)
        if args.all_models:
            out += [(path, program, n) for n in program.models]
        else:
            out.append((path, program, choose_model(program, args.model)))
    return out


def _swept(pairs: list[str], parser) -> tuple[dict[str, list[Any]], dict[str, Any]]:
    """--set pairs split into swept values (comma lists) and fixed ones."""
    swept, fixed = {}, {}
    for pair in pairs:
        key, value = split_pair(pair, parser)
        values = arguments.split_top(value)
        if len(values) > 1 and not all(v.strip() for v in values):
            parser.error(f"--set {pair}: an empty value in the list (KEY=V1,V2,...: a value between each two commas)")
        if len(values) > 1:
            swept[key] = [_value(key, v, parser) for v in values]
        else:
            fixed[key] = _value(key, value, parser)
    return swept, fixed


def sweep(args, parser) -> int:
    from archgraph.deps import require
    from archgraph.progress import Progress
    from archgraph.sweep import grid, render, sweep_data

    swept, fixed = _swept(args.set, parser)
    if not swept:
        parser.error("sweep needs at least one --set KEY=V1,V2,... (e.g. --set img_size=224,384,512)")
    if args.plot:
        from archgraph.plot import target_problem

        if problem := target_problem(args.plot):  # a usage error before a missing dependency
            parser.error(problem)
        require("matplotlib", "`archgraph sweep --plot`")
    models = _models(args)
    progress = Progress(len(models), "sweep")
    try:
        data = sweep_data(models, grid(swept), fixed, args.convention, args.batch, progress.step)
    except arguments.ArgumentError as error:  # the grid is too large
        parser.error(str(error))
    progress.done()
    sys.stdout.write(render(data, args.format))
    if args.plot:
        from archgraph.plot import plot_sweep

        sys.stderr.write(f"wrote {plot_sweep(data, args.plot)}\n")
    return 0


def diff(args, parser) -> int:
    from archgraph.api import analyze
    from archgraph.diff import diff_data, render

    both = parse_overrides(args.set, parser)
    a, b = (analyze(path, model, batch=args.batch, convention=args.convention, depth=args.depth,
                    overrides={**both, **parse_overrides(extra, parser)})
            for path, model, extra in ((args.a, args.model_a, args.set_a), (args.b, args.model_b, args.set_b)))  # fmt: skip
    sys.stdout.write(render(diff_data(a, b), args.format))
    return 0


def verify(args, parser) -> int:
    from archgraph.devices import device_problem
    from archgraph.progress import Progress

    if problem := device_problem(args.device):
        parser.error(problem)
    overrides = parse_overrides(args.set, parser)
    if args.module:  # missing, a directory, binary: a usage error (exit 2) before anything runs
        from archgraph.verify import read_module

        try:
            read_module(args.module)
        except ValueError as error:
            parser.error(str(error))
    models = _models(args)
    if args.module and len(models) != 1:
        parser.error("--module verifies one file against one model: give one spec (and --model)")
    progress = Progress(len(models), "verify")
    failed, jobs = [], []  # jobs: (name, the header line, spec path, graph) of each model that lowered
    for path, _, name in models:
        progress.step(f"{path}: {name}")
        job = _verify_job(args, path, name, overrides)
        jobs += [job] if job else []
        failed += [] if job else [name]
    progress.done()
    failed += _verify_all(args, jobs)
    order = [name for _, _, name in models]
    failed.sort(key=order.index)  # in the models' order, whichever step found it
    if failed:
        sys.stderr.write(f"error: {len(failed)} of {len(models)} models do not match their spec: {', '.join(failed)}\n")
    return 1 if failed else 0


def _verify_job(args, path: Path, name: str, overrides: dict[str, Any]) -> tuple | None:
    """(name, header, spec path, graph) to verify one model (at the reduced size with --small); None,
    with the spec's error printed, when it does not lower."""
    from archgraph.errors import SpecError
    from archgraph.verify import verify_graph

    try:
        settings, graph = verify_graph(path, name, overrides, args.small)
    except SpecError as error:
        sys.stdout.write(f"verify {name} ({path})\n")
        sys.stderr.write(error.render())
        return None
    shown = ", ".join(f"{k}={v}" for k, v in settings.items())
    header = f"verify {name} ({path}{'; ' + shown if shown else ''}) on {args.device}, batch {args.batch}\n"
    return name, header, path, graph


def _verify_all(args, jobs: list[tuple]) -> list[str]:
    """Generate each module (or read --module) and run them in one child process
    (`verify_isolated_all`: torch imported once); print each result; the names of the models that
    failed. A model that is, at this size, the same model as one before it (`vit_b16_384` reduced is
    `vit_b16` reduced: one definition, equal parameters) takes that one's result, and says so."""
    from dataclasses import replace

    from archgraph.codegen import generate
    from archgraph.knobs import model_definition
    from archgraph.loader import display_name
    from archgraph.verify import read_module, verify_isolated_all

    first: dict[tuple, int] = {}  # (definition, parameters) -> the first job of that model
    same = []
    for k, (_, _, _, graph) in enumerate(jobs):
        definition = model_definition(graph)
        same.append(
            first.setdefault((id(definition) if definition else graph.name, repr(sorted(graph.params.items()))), k)
        )
    unique = [k for k in range(len(jobs)) if same[k] == k]
    sources = [
        read_module(args.module) if args.module else generate(jobs[k][3], display_name(jobs[k][2])) for k in unique
    ]
    found = verify_isolated_all(
        [(jobs[k][3], src) for k, src in zip(unique, sources, strict=True)], args.device, args.batch
    )
    results = dict(zip(unique, found, strict=True))
    failed = []
    for k, (name, header, _, _) in enumerate(jobs):
        result = results[same[k]]
        if same[k] != k:
            result = replace(
                result, model=name, notes=[*result.notes, f"the same model as {jobs[same[k]][0]} at this size"]
            )
        sys.stdout.write(f"{header}{result.render()}")
        failed += [] if result.ok else [name]
    return failed
