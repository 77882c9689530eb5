"""Invariant 3 of issue 17, for bench: the report's own memory estimate is compared with the memory
available before anything is allocated. `bench --batch 100000` used to exit 3 after trying to
allocate 60 GB; now it is exit 1 with both numbers, taken from what `report` itself prints."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

from archgraph import api, bench
from archgraph.cli import main

SPEC = "specs/vit.arch"


def _report_memory(capsys, batch: int) -> dict:
    capsys.readouterr()
    assert main(["report", SPEC, "--batch", str(batch), "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)["memory"]


def test_a_batch_beyond_the_machine_is_refused_with_both_numbers(capsys, monkeypatch):
    memory = _report_memory(capsys, 100_000)
    need = memory["param_bytes"]["f32"] + memory["inference_activation_peak_bytes"]
    monkeypatch.setattr(api, "build", lambda *a, **k: pytest.fail("built before the memory check"))
    code = main(["bench", SPEC, "--batch", "100000"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err and err.count("\n") == 1, err
    assert f"needs at least {need / 2**30:,.2f} GiB on cpu" in err
    assert "GiB is available; use a smaller --batch" in err  # the machine's number changes from call to call


def test_a_training_step_counts_weights_gradients_and_saved_activations(capsys, monkeypatch):
    memory = _report_memory(capsys, 64)
    parts = memory["training_step_parts"]
    need = parts["weights"] + parts["gradients"] + parts["saved_activations"]  # SGD: no AdamW moments
    monkeypatch.setattr(bench, "available_bytes", lambda device: need - 1)
    code = main(["bench", SPEC, "--batch", "64", "--train"])
    err = capsys.readouterr().err
    assert code == 1 and f"needs at least {need / 2**30:,.2f} GiB" in err and "saved activations" in err


def test_available_memory_is_read_from_the_kernel():
    with open("/proc/meminfo") as handle:
        total = int(next(line for line in handle if line.startswith("MemTotal:")).split()[1]) * 1024
    free = bench.available_bytes("cpu")
    assert free is not None and 0 < free <= total
