"""The `archgraph` command: check, compile, report on and export `.arch` specs.

Exit codes: 0 success; 1 the spec has errors (printed as file:line:col with a caret);
2 a usage error; 3 an internal error (a bug in archgraph: traceback printed).
Set ARCHGRAPH_DEBUG=1 to see tracebacks for spec errors too. Never imports torch.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

from archgraph.errors import SpecError

FORMATS = ("table", "json", "yaml", "csv", "markdown")


def parse_value(text: str) -> Any:
    """`--set` values: integers, floats, true/false, else a string (quotes optional)."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text.strip().strip("\"'")


def _overrides(pairs: list[str], parser: argparse.ArgumentParser) -> dict[str, Any]:
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip().isidentifier():
            parser.error(f"--set expects KEY=VALUE, found {pair!r}")
        out[key.strip()] = parse_value(value)
    return out


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="archgraph", description="Compile .arch architecture specs.")
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="report every mistake in the specs, write nothing")
    check.add_argument("specs", nargs="+", type=Path)
    comp = sub.add_parser("compile", help="generate a PyTorch module per model into DIR (default generated/)")
    comp.add_argument("specs", nargs="+", type=Path)
    comp.add_argument("-o", "--output", type=Path, default=Path("generated"), metavar="DIR")
    rep = sub.add_parser("report", help="parameters, MACs and FLOPs per layer and block, and totals")
    rep.add_argument("spec", type=Path)
    rep.add_argument("--model", help="which model of the file (default: the one it defines)")
    rep.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a parameter")
    rep.add_argument("--batch", type=int, default=1)
    rep.add_argument("--format", choices=FORMATS, default="table")
    graph = sub.add_parser("graph", help="export the op graph: nodes with shapes, params and FLOPs")
    graph.add_argument("spec", type=Path)
    graph.add_argument("--model")
    graph.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    graph.add_argument("--format", choices=("json", "dot", "graphml"), default="json")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "check":
            return _check(args)
        if args.command == "compile":
            return _compile(args)
        if args.command == "graph":
            return _graph(args, _overrides(args.set, parser))
        if args.batch < 1:
            parser.error(f"--batch must be at least 1, found {args.batch}")
        return _report(args, _overrides(args.set, parser))
    except SpecError as error:
        if os.environ.get("ARCHGRAPH_DEBUG"):
            traceback.print_exc()
        sys.stderr.write(error.render())
        return 1
    except RecursionError:
        sys.stderr.write("error: the spec nests too deeply for archgraph to follow\n")
        return 1
    except Exception:  # a bug in archgraph, never the user's fault
        traceback.print_exc()
        sys.stderr.write("internal error: this is a bug in archgraph; please report it with the spec above\n")
        return 3


def _models(path: Path) -> list[tuple[str, Any]]:
    """Every model a spec file defines, lowered: [(name, graph)]."""
    from archgraph import syntax as s
    from archgraph.check import check
    from archgraph.loader import load
    from archgraph.lower import lower

    program = load(path)
    check(program)
    names = [n for n in program.own if not isinstance(program.definitions[n], s.Block)]
    return [(name, lower(program, name)) for name in names]


def _check(args) -> int:
    failed = 0
    for path in args.specs:
        try:
            models = _models(path)
        except SpecError as error:
            if os.environ.get("ARCHGRAPH_DEBUG"):
                traceback.print_exc()
            sys.stderr.write(error.render())
            failed += 1
            continue
        names = ", ".join(name for name, _ in models) or "no models"
        print(f"{path}: ok ({names})")
    return 1 if failed else 0


def _compile(args) -> int:
    """Generate every model of every spec first; write only if all succeeded."""
    from archgraph.codegen import generate
    from archgraph.loader import display_name

    outputs: dict[Path, str] = {}
    for path in args.specs:
        for name, graph in _models(path):
            from archgraph.codegen.names import sanitize

            target = args.output / f"{sanitize(name)}.py"
            if target in outputs:
                raise_duplicate(target, path)
            outputs[target] = generate(graph, display_name(path))
    for target, source in outputs.items():
        write_atomic(target, source)
        print(f"wrote {target}")
    return 0


def raise_duplicate(target: Path, path: Path) -> None:
    from archgraph.errors import ArchNameError
    from archgraph.source import Span

    raise ArchNameError(f"two models would both be written to `{target}`", Span(str(path), 1, 1, 1, 1))


def write_atomic(target: Path, text: str) -> None:
    """Write through a temporary file and rename, so a failure never leaves half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _lowered(args, overrides: dict[str, Any]):
    from archgraph.api import choose_model
    from archgraph.check import check
    from archgraph.loader import load
    from archgraph.lower import lower

    program = load(args.spec)
    check(program)
    return lower(program, choose_model(program, args.model), overrides)


def _graph(args, overrides: dict[str, Any]) -> int:
    from archgraph.export import EXPORTERS

    sys.stdout.write(EXPORTERS[args.format](_lowered(args, overrides)))
    return 0


def _report(args, overrides: dict[str, Any]) -> int:
    from archgraph.report import render, report_data

    sys.stdout.write(render(report_data(_lowered(args, overrides), args.batch), args.format))
    return 0
