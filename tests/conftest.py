"""Shared fixtures: the spec files, the models each defines, and markers by folder.

Tests under tests/torch need torch, tests/parity need timm; both are marked here so a
run can select them (`-m torch`, `-m timm`). Tests marked `slow` are skipped unless
selected (`-m slow`) or ARCHGRAPH_SLOW=1 is set.
"""

from __future__ import annotations

try:  # before anything imports the standard library's distutils: setuptools' shim must come first, or
    import setuptools  # noqa: F401  torch's inductor (which imports setuptools) fails in that worker
except ImportError:
    pass

import os
import shutil
import sys
from functools import cache
from pathlib import Path

import pytest

if os.environ.get("PYTEST_XDIST_WORKER"):
    # One torch thread per pytest-xdist worker (`-n auto` starts one worker per core): with torch's
    # default of a thread per core each, the workers' OpenMP threads spin waiting for cores the other
    # workers hold. On 2 cores, tests/torch/test_checkpointing.py and test_precision.py took 157 s
    # that way and 21 s with one thread each.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if "torch" in sys.modules:  # too late for the variable: torch reads it when it is imported
        sys.modules["torch"].set_num_threads(1)

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted((ROOT / "specs").glob("*.arch"))
# One small model as a spec text (specs/vit.arch's ViT-Ti/16 alone: the file holds sixteen), for
# tests that write a spec of their own.
VIT_TI16 = 'import "std/vit.arch"\n\nmodel vit_ti16 = vit(embed_dim = 192, num_heads = 3) "ViT-Ti/16"\n'


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """`-n auto` schedules by work stealing (pytest-xdist's `--dist worksteal`) unless `--dist` says
    otherwise: with the default `load`, a worker that draws the long tests last (the fuzzers, the golden
    file of the largest spec) runs them alone; the torch-free subset took 51 s that way on 2 cores
    and 43 s with work stealing. (An initial conftest's hook: it runs before pytest-xdist's, which
    would make `no` into `load`.)"""
    if getattr(config.option, "numprocesses", None) and getattr(config.option, "dist", None) == "no":
        config.option.dist = "worksteal"


def update_golden() -> bool:
    """Whether to accept the current output as the new golden files (ARCHGRAPH_UPDATE_GOLDEN=1; 0 or unset: compare)."""
    return os.environ.get("ARCHGRAPH_UPDATE_GOLDEN", "") not in ("", "0")


def spec_models() -> list[tuple[Path, str]]:
    """(spec file, model name) for every model every spec file defines (loaded once a process)."""
    return list(_spec_models())


@cache
def _spec_models() -> tuple[tuple[Path, str], ...]:
    from archgraph.loader import load

    return tuple((path, n) for path in SPECS for n in load(path).models)


@cache
def lowered(spec: Path, name: str):
    """archgraph.load_graph(spec, name), lowered once a process: for choosing tests at collection
    (several test modules read the same models' inputs and nodes); a test that changes a graph
    must lower its own."""
    import archgraph

    return archgraph.load_graph(spec, name)


def generated_model(spec: Path, name: str):
    """The constructor of the model `name` in the committed `generated/<spec's stem>.py`: its class,
    or the entry function of a model that differs from another only in constructor arguments."""
    import importlib

    from archgraph.codegen.names import camel, sanitize

    module = importlib.import_module(f"generated.{sanitize(Path(spec).stem)}")
    return getattr(module, sanitize(name), None) or getattr(module, camel(name))


def image_models() -> list[tuple[Path, str]]:
    """spec_models() that take one f32 tensor: what the generic torch tests feed a random input.
    Sequence models (token ids, masks, several inputs) have their own parity tests
    (tests/parity/test_transformer_parity.py)."""

    def one_f32_input(path: Path, name: str) -> bool:
        graph = lowered(path, name)
        return [graph.type_of(v).dtype for _, v in graph.inputs] == ["f32"]

    return [(path, name) for path, name in spec_models() if one_f32_input(path, name)]


def run(capsys, *argv) -> tuple[int, str, str]:
    """`archgraph *argv` in this process: (exit code, stdout, stderr), without what was printed before."""
    from archgraph.cli import main

    capsys.readouterr()
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def with_spec_library(root: Path) -> Path:
    """`root`, holding a copy of the standard library (archgraph/std) in root/lib, so specs written there can `import "lib/..."`."""
    shutil.copytree(ROOT / "archgraph" / "std", root / "lib", dirs_exist_ok=True)
    return root


@pytest.fixture(scope="module")
def spec_root(tmp_path_factory) -> Path:
    """A fresh folder per test module holding a copy of the spec library (see `with_spec_library`)."""
    return with_spec_library(tmp_path_factory.mktemp("specs"))


def reduced(spec: Path, name: str, **extra) -> dict:
    """archgraph.small.small_overrides (what `verify --small` uses) for a spec's model."""
    from archgraph.small import small_overrides

    return small_overrides(lowered(spec, name), **extra)  # reads the graph only


FOLDER_MARKERS = {"torch": {"torch"}, "parity": {"torch", "timm"}}  # markers every test in the folder gets


def pytest_ignore_collect(collection_path, config):
    """Skip importing tests/torch and tests/parity (torch and timm take seconds to import) when the
    `-m` expression deselects every test there, as the torch-free subset `-m "not timm and not torch"` does."""
    expression = config.getoption("markexpr") or ""
    try:
        folder = collection_path.relative_to(ROOT / "tests").parts[0]
    except ValueError:
        return None
    if not expression or folder not in FOLDER_MARKERS:
        return None
    try:
        from _pytest.mark.expression import Expression

        compiled = Expression.compile(expression)
    except Exception:  # an expression pytest itself will report
        return None
    markers = FOLDER_MARKERS[folder]
    # deselected whatever other markers (slow, gpu) a test there carries
    if not any(compiled.evaluate(lambda name, rest=rest: name in markers or rest) for rest in (False, True)):
        return True
    return None


def pytest_collection_modifyitems(config, items):
    for item in items:
        parts = Path(str(item.fspath)).parts
        if "torch" in parts:
            item.add_marker(pytest.mark.torch)
        if "parity" in parts:
            item.add_marker(pytest.mark.timm)
            item.add_marker(pytest.mark.torch)
        if item.get_closest_marker("slow") and not _slow_selected(config):
            item.add_marker(pytest.mark.skip(reason="slow: select with -m slow or set ARCHGRAPH_SLOW=1"))


def _slow_selected(config) -> bool:
    return os.environ.get("ARCHGRAPH_SLOW") == "1" or "slow" in (config.getoption("markexpr") or "")


@pytest.fixture(autouse=True)
def _repo_cwd(monkeypatch):
    """Run every test from the repository root, as users run the CLI."""
    monkeypatch.chdir(ROOT)


@pytest.fixture
def no_tf32():
    """Full fp32 matmuls and convolutions on CUDA, so CUDA agrees with CPU (and timm) to fp32 rounding."""
    import torch

    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """A fresh private cache directory (archgraph/diskcache.py) for one test, nothing parsed or generated
    in it or remembered in this process: its path (`.../archgraph`, made on first use)."""
    from archgraph import diskcache, parsed

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("ARCHGRAPH_NO_CACHE", raising=False)
    monkeypatch.setattr(parsed, "_TREES", {})
    diskcache.directory.cache_clear()
    yield tmp_path / "cache" / "archgraph"
    diskcache.directory.cache_clear()


@pytest.fixture
def no_disk_cache(monkeypatch):
    """No disk cache: every file parsed and every module generated (for tests that count that work)."""
    from archgraph import diskcache

    monkeypatch.setenv("ARCHGRAPH_NO_CACHE", "1")
    diskcache.directory.cache_clear()
    yield
    diskcache.directory.cache_clear()
