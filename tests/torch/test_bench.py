"""`archgraph bench`: latency, throughput and peak memory of a generated model (small sizes here)."""

from __future__ import annotations

import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

from archgraph import bench  # noqa: E402
from archgraph.cli import main  # noqa: E402
from tests.conftest import ROOT  # noqa: E402

SPEC = ROOT / "specs" / "vit.arch"
SMALL = {"img_size": 32, "embed_dim": 32, "depth": 1, "num_heads": 2, "num_classes": 10}
SET = [arg for key, value in SMALL.items() for arg in ("--set", f"{key}={value}")]


def test_bench_prints_latency_throughput_compute_and_memory(capsys):
    assert main(["bench", str(SPEC), *SET, "--batch", "2", "--runs", "2", "--warmup", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("vit_b16: inference, batch 2, cpu, fp32, median of 2 runs")
    for word in ("latency", "images/s", "GFLOP/s", "peak resident set", "weights"):
        assert word in out


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_bench_times_a_training_step_with_forward_and_backward_flops(dtype):
    result = bench.run(SPEC, None, SMALL, batch=2, dtype=dtype, train=True, runs=2, warmup=1).as_dict()
    forward = bench.run(SPEC, None, SMALL, batch=2, runs=1, warmup=0).as_dict()
    assert result["mode"] == "train"
    # backward: twice the forward's matmuls, less the input gradient of the first layer (the image needs none)
    assert 2 * forward["flops"] < result["flops"] <= 3 * forward["flops"]
    assert result["median_ms"] > 0 and result["images_per_s"] > 0 and result["peak_bytes"] > 0


@pytest.mark.slow
def test_bench_compiled_module_runs():
    result = bench.run(SPEC, None, SMALL, compile=True, runs=1, warmup=1)
    assert result.median_ms > 0


def test_bench_rejects_a_bad_batch():
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", str(SPEC), "--batch", "0"])
    assert exit_info.value.code == 2


def test_bench_subcommand_help_does_not_import_torch():
    code = "import sys; from archgraph.cli import _parser; _parser(); assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


@pytest.mark.parametrize(
    ("command", "device", "message"),
    [
        ("bench", "tpu", "--device tpu: not a device torch knows"),
        ("bench", "meta", "--device meta: this command runs on cpu, cuda, mps, found meta"),
        ("verify", "cuda:7", "--device cuda:7: "),
    ],
)
def test_a_device_this_machine_lacks_is_a_clear_usage_error(capsys, command, device, message):
    """Not a torch traceback, and not a 'mismatch': the user asked for a device that is not there."""
    with pytest.raises(SystemExit) as exit_info:
        main([command, str(SPEC), *SET, "--device", device])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="a machine without CUDA")
def test_cuda_without_a_cuda_device_says_so(capsys):
    with pytest.raises(SystemExit):
        main(["bench", str(SPEC), *SET, "--device", "cuda"])
    assert "--device cuda: no CUDA device here" in capsys.readouterr().err


def test_steady_malloc_applies_on_glibc():
    """In a child process: mallopt changes the heap of the process that calls it, not this test run's."""
    code = (
        "import platform, sys; from archgraph.bench import steady_malloc; "
        "applied = steady_malloc(); sys.exit(0 if applied == (platform.libc_ver()[0] == 'glibc') else 1)"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
