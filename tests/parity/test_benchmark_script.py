"""benchmarks/vs_timm.py runs end to end: one small case, both models with timm's weights, a row of the table."""

from __future__ import annotations

import argparse
import importlib.util
import sys

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("timm")

import archgraph  # noqa: E402
from tests.conftest import ROOT  # noqa: E402

SMALL = {"img_size": 32, "embed_dim": 32, "depth": 1, "num_heads": 2, "num_classes": 10}


def _script():
    spec = importlib.util.spec_from_file_location("vs_timm", ROOT / "benchmarks" / "vs_timm.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["vs_timm"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("mode", ["inference", "train"])
def test_benchmark_times_generated_against_timm_and_prints_a_row(mode):
    vs_timm = _script()
    case = vs_timm.Case("tiny ViT", "specs/vit.arch", "vit_b16", "vit_base_patch16_224", SMALL, overrides=SMALL)
    args = argparse.Namespace(device="cpu", dtype="fp32", runs=3, warmup=1)
    result = vs_timm.measure(case, mode, 2, args)
    assert result.gen_ms > 0 and result.timm_ms > 0 and result.mm_gflops > 0
    assert result.ratio == result.gen_ms / result.timm_ms
    forward = archgraph.analyze(ROOT / case.spec, case.model, batch=2, overrides=SMALL)["flops"]
    if mode == "inference":
        assert result.gflop * 1e9 == forward
    else:  # forward + backward (FlopCounterMode): the backward is about twice the forward
        assert 2 * forward < result.gflop * 1e9 <= 3 * forward
    cells = vs_timm.row(result).strip("|").split("|")
    assert len(cells) == vs_timm.HEADER.split("\n")[0].count("|") - 1
    assert cells[0].strip() == "tiny ViT" and cells[1].strip() == mode
