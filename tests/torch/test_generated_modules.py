"""The committed generated modules: importable standalone, run on CPU, match the static numbers."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

import archgraph  # noqa: E402
from tests.conftest import ROOT, SPECS, generated_model, spec_models  # noqa: E402

MODELS = spec_models()
IDS = [name for _, name in MODELS]


@pytest.mark.parametrize("spec", SPECS, ids=[p.stem for p in SPECS])
def test_generated_file_imports_only_torch_and_stdlib(spec):
    tree = ast.parse((ROOT / "generated" / f"{spec.stem}.py").read_text())
    roots = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    roots |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert roots <= {"torch"} | set(sys.stdlib_module_names)


@pytest.mark.parametrize(("spec", "name"), MODELS, ids=IDS)
def test_committed_module_builds_on_meta_with_static_counts(spec, name):
    model = generated_model(spec, name)(device="meta")
    data = archgraph.analyze(spec, name)
    assert sum(p.numel() for p in model.parameters()) == data["params"]
    # what the report calls trainable is what has requires_grad (DETR's frozen stem, DINO's fixed gain)
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == data["trainable_params"]
    graph = archgraph.load_graph(spec, name)
    dtypes = {"f32": torch.float32, "i64": torch.int64, "bool": torch.bool}  # token ids and masks too
    inputs = [torch.empty(graph.type_of(v).shape(2), dtype=dtypes[graph.type_of(v).dtype], device="meta")
              for _, v in graph.inputs]  # fmt: skip
    out = model(*inputs)
    out = next(iter(out.values())) if isinstance(out, dict) else out
    assert tuple(out.shape) == graph.type_of(graph.outputs[0]).shape(2)


def test_generated_module_runs_forward_and_backward_on_cpu():
    small = {"img_size": 32, "patch_size": 8, "embed_dim": 64, "depth": 2, "num_heads": 2, "num_classes": 10}
    model = archgraph.build(ROOT / "specs" / "vit.arch", "vit_b16", **small)
    out = model(torch.randn(3, 3, 32, 32))
    assert out.shape == (3, 10)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_generated_module_copied_elsewhere_imports_without_archgraph(tmp_path):
    (tmp_path / "m.py").write_text((ROOT / "generated" / "vit.py").read_text())
    code = "import sys; import m; m.vit_ti16(device='meta'); assert 'archgraph' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True)


def test_init_matches_timm_statistics():
    """Weights initialised as timm does: trunc_normal(.02) linears, zero biases, cls_token N(0, 1e-6)."""
    torch.manual_seed(0)
    model = archgraph.build(ROOT / "specs" / "vit.arch", "vit_b16", depth=1)
    assert abs(model.blocks[0].attn.qkv.weight.std().item() - 0.02) < 1e-3
    assert model.blocks[0].attn.qkv.bias.abs().max().item() == 0
    assert model.cls_token.std().item() < 1e-5
    assert abs(model.pos_embed.std().item() - 0.02) < 1e-3
    assert model.blocks[0].norm1.weight.eq(1).all()


TAPS_AND_STAGES = """
import "std/transformer.arch"

model tapped(depth = 4) {
    input x: [B, 17, 32]
    y = blocks: repeat depth encoder_block(x, 4)
    stages: repeat 3 as i { y = proj: linear(y, 32 * (i + 1)) }
    return blocks[1], y
}
"""


def test_taps_and_group_repeats_run_and_match_the_graph(tmp_path):
    spec = tmp_path / "tapped.arch"
    spec.write_text(TAPS_AND_STAGES)
    data = archgraph.analyze(spec)
    model = archgraph.build(spec).eval()
    assert sum(p.numel() for p in model.parameters()) == data["params"]
    x = torch.randn(2, 17, 32)
    with torch.no_grad():
        tap, y = model(x)
        assert tap.shape == (2, 17, 32) and y.shape == (2, 17, 96)
        torch.testing.assert_close(tap, model.blocks[1](model.blocks[0](x)))
    assert [type(s.proj).__name__ for s in model.stages] == ["Linear"] * 3
