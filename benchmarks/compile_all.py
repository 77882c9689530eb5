"""Time `archgraph compile` of every spec in specs/: cold (in one process, split into lowering and
class building), then warm (the same command again, as a new process, with the compile cache).

The code generator learns each size's formula by lowering the model again with each numeric
parameter changed (`codegen.families._variations`) and building the classes of the lowerings
together (`codegen.classes.build`). This prints, for one in-process `compile specs/*.arch --force` into a
temporary directory with an empty cache directory: the process's CPU seconds for the whole
command, the CPU seconds spent in those lowerings and in the builds, how many of each ran, and
the number of files written. Then the CPU seconds of the same command run again as a new process,
Python's start-up included, which finds every file in the compile cache (`archgraph.compiled`).
Last, the floor under any generator: what compile must do before it writes a line (each spec parsed
with its imports and checked, each model lowered once, so every shape is checked and every file
can state each model's counts), in a new process with an empty cache directory, imports excluded.

    .venv/bin/python benchmarks/compile_all.py
    .venv/bin/python benchmarks/compile_all.py --root ../before   # another checkout's archgraph
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose archgraph to time")
    args = parser.parse_args()
    sys.path.insert(0, str(args.root.resolve()))
    import archgraph.codegen as codegen
    from archgraph.cli import main as cli

    try:  # the module that lowers and builds while fitting (archgraph.codegen itself before stop 23)
        from archgraph.codegen import families as fitting
    except ImportError:
        fitting = codegen
    spent = {"lower": [0.0, 0], "build": [0.0, 0]}
    for name in spent:
        setattr(fitting, name, _timed(getattr(fitting, name), spent[name]))
    specs = sorted(str(p) for p in (args.root / "specs").glob("*.arch"))
    with tempfile.TemporaryDirectory() as out, tempfile.TemporaryDirectory() as cache:
        os.environ["XDG_CACHE_HOME"] = cache  # empty: nothing parsed or compiled before
        os.environ.pop("ARCHGRAPH_NO_CACHE", None)
        argv = ["compile", *specs, "-o", out, "--force"]
        start = time.process_time()
        try:
            cli(argv)
        except SystemExit as exit:
            if exit.code:
                raise
        total = time.process_time() - start
        files = len(list(Path(out).glob("*.py")))
        warm = _process_seconds([sys.executable, "-m", "archgraph", *argv], args.root)
    from archgraph.loader import load

    models = sum(len(load(spec).models) for spec in specs)
    print(f"archgraph from {Path(codegen.__file__).parents[1]}")
    print(f"archgraph compile of {len(specs)} spec files ({models} models, {files} files written), cold: "
          f"{total:.2f} s CPU (bar: < 1 s)")  # fmt: skip
    for name, (seconds, calls) in spent.items():
        print(f"  in {name}: {seconds:.2f} s CPU over {calls} calls")
    print(f"the same command again, a new process, every file in the compile cache: {warm:.2f} s CPU")
    parsed, lowered = _floor(specs, args.root)
    print(
        f"floor, a new process, empty cache: parse and check every spec {parsed:.2f} s CPU, lower each "
        f"model once {lowered:.2f} s: {parsed + lowered:.2f} s before any code is generated"
    )


_FLOOR = """
import sys, time
from archgraph.api import open_model, open_program
start = time.process_time()
programs = {path: open_program(path) for path in sys.argv[1:]}
parsed = time.process_time()
graphs = [open_model(path, name, None, p).graph for path, p in programs.items() for name in p.models]
print(parsed - start, time.process_time() - parsed)
"""


def _floor(specs: list[str], root: Path) -> tuple[float, float]:
    """The CPU seconds a new process with an empty cache takes to parse and check `specs` (the
    grammar's tables built, the standard library parsed), then to lower each of their models once."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "PYTHONPATH": str(root.resolve()), "XDG_CACHE_HOME": cache}
        out = subprocess.run([sys.executable, "-c", _FLOOR, *specs], cwd=root, env=env, check=True,
                             capture_output=True, text=True).stdout  # fmt: skip
    parsed, lowered = map(float, out.split())
    return parsed, lowered


def _process_seconds(command: list[str], root: Path) -> float:
    """The user + system CPU seconds of running `command` to completion in `root`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    env = {**os.environ, "PYTHONPATH": str(root.resolve()), "ARCHGRAPH_PROGRESS": "0"}
    subprocess.run(command, cwd=root, env=env, check=True, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def _timed(function, tally: list):
    def timed(*args, **kwargs):
        start = time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            tally[0] += time.process_time() - start
            tally[1] += 1

    return timed


if __name__ == "__main__":
    main()
