"""Shape property: for any small valid architecture Hypothesis draws, the generated module's output
shape and parameter count equal the static ones, and FlopCounterMode equals the analytic FLOPs.

Architectures are drawn as spec text over a copy of the standard library: ViT with its options (class
token, register tokens, average pooling, fc_norm, layer scale, qkv bias, pre-norm, distillation)
and its token mixers (attention, Mixer's token MLP, ResMLP's linear mixing); MLP-Mixer and
ResMLP; ViT_C's convolutional stem. Widths from {8, 16, 32}, heads that divide them, depth 1-3,
a patch size that divides the image. The default budget is 60 examples; ARCHGRAPH_FUZZ=slow
runs 1,000 (ARCHGRAPH_FUZZ_EXAMPLES sets it).
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")


import archgraph  # noqa: E402
from tests.torch.tiny import counted  # noqa: E402

SLOW = os.environ.get("ARCHGRAPH_FUZZ", "") == "slow"
EXAMPLES = int(os.environ.get("ARCHGRAPH_FUZZ_EXAMPLES", "1000" if SLOW else "60"))
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))


def call(model: str, **params) -> str:
    args = ", ".join(f"{k} = {_literal(v)}" for k, v in params.items())
    return f'import "lib/{"vit" if model == "vit" else "mixer" if model != "vit_c" else "vit_hybrid"}.arch"\n' + (
        f"model drawn = {model}({args})\n"
    )


def _literal(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    return repr(value)


@st.composite
def common(draw, headless: bool = False) -> dict:
    """Width, depth, a patch size that divides the image, channels and classes (0: no head)."""
    patch = draw(st.sampled_from([2, 4, 8]))
    return {
        "embed_dim": draw(st.sampled_from([8, 16, 32])),
        "depth": draw(st.integers(1, 3)),
        "patch_size": patch,
        "img_size": patch * draw(st.integers(1, 4)),
        "in_chans": draw(st.integers(1, 3)),
        "num_classes": draw(st.sampled_from([0, 1, 5, 10] if headless else [1, 5, 10])),
    }


@st.composite
def vit_specs(draw) -> str:
    distilled = draw(st.booleans())
    params = draw(common(headless=not distilled))  # the distilled head averages two heads
    width = params["embed_dim"]
    params |= {
        "num_heads": draw(st.sampled_from([h for h in (1, 2, 4, 8) if width % h == 0])),
        "mlp_ratio": draw(st.sampled_from([1, 2, 4, 0.5])),
        "qkv_bias": draw(st.booleans()),
        "class_token": draw(st.booleans()),
        "reg_tokens": draw(st.integers(0, 2)),
        "global_pool": draw(st.sampled_from(["token", "avg"])),
        "fc_norm": draw(st.sampled_from(["auto", True, False])),
        "no_embed_class": draw(st.booleans()),
        "pre_norm": draw(st.booleans()),
        "init_values": draw(st.sampled_from([0, 0.1])),
        "distilled": distilled,
        "token_mixer": draw(st.sampled_from(["attention", "attention", "mlp", "linear"])),
        "token_mlp_ratio": draw(st.sampled_from([0.5, 1, 2])),
    }
    return call("vit", **params)


@st.composite
def mlp_specs(draw) -> str:
    params = draw(common())
    if draw(st.booleans()):
        return call("mixer", **params, mlp_ratio=draw(st.sampled_from([[0.5, 4], [1, 2], [2, 1]])))
    return call("resmlp", **params, mlp_ratio=draw(st.sampled_from([1, 2, 4])))


@st.composite
def conv_stem_specs(draw) -> str:
    params = draw(common())
    strides = draw(st.lists(st.sampled_from([1, 2]), min_size=1, max_size=3))
    patch = 1
    for s in strides:
        patch *= s
    params |= {"patch_size": patch, "img_size": patch * draw(st.integers(1, 4)), "num_convs": len(strides)}
    params |= {"stem_chs": draw(st.lists(st.sampled_from([4, 8]), min_size=len(strides), max_size=len(strides)))}
    params |= {"stem_strides": strides, "num_heads": draw(st.sampled_from([1, 2, 4])), "mlp_ratio": 2}
    return call("vit_c", **params)


ARCHITECTURES = st.one_of(vit_specs(), mlp_specs(), conv_stem_specs())


def measure(model, shape: tuple[int, ...]) -> tuple[torch.Size, int]:
    """The output shape and the FLOPs FlopCounterMode counts (math SDPA, so attention is counted)."""
    out, flops = counted(model, torch.randn(shape), math_sdpa=True)
    return out.shape, flops


@PROPERTY
@given(text=ARCHITECTURES, batch=st.integers(1, 3))
def test_generated_module_matches_static_shapes_params_and_flops(spec_root, text, batch):
    path = spec_root / "drawn.arch"
    path.write_text(text)
    mixer = text.split("token_mixer = ")[1].split(",")[0] if "token_mixer" in text else ""
    event(text.split("= ")[1].split("(")[0] + f" {mixer}".rstrip())
    static = archgraph.analyze(path, batch=batch)
    model = archgraph.build(path).eval()
    graph = archgraph.load_graph(path)
    shape, flops = measure(model, archgraph.input_shape(path, batch=batch))
    assert tuple(shape) == graph.type_of(graph.outputs[0]).shape(batch), text
    assert sum(p.numel() for p in model.parameters()) == static["params"], text
    assert flops == static["flops"], text
