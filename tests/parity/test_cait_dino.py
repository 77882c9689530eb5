"""CaiT and DINO beyond the generic timm parity (test_timm_parity.py checks every CaiT variant and the
four DINO backbones: strict load, equal outputs at a reduced size, exact counts at full size).

Here: CaiT's published counts and the CaiT README's FLOPs under the fvcore convention, the written-out
attention itemised in the report; DINO's projection head against the head of dino's source (with
`torch.nn.utils.parametrizations.weight_norm`), the whole network's count, the last block's [CLS]
attention map, and the lecture's DINO table.
Sources: ../shared/reference/architectures.md sections 4 (DINO) and 10 (CaiT), timm 1.0.31.
"""

from __future__ import annotations

import warnings

import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

import archgraph  # noqa: E402
from archgraph.api import analyze  # noqa: E402
from tests.conftest import ROOT, run  # noqa: E402

CAIT = ROOT / "specs" / "cait.arch"
DINO = ROOT / "specs" / "dino.arch"

# architectures.md section 10, "Published numbers": model -> ([C] params, [C] GMACs, README "FLOPs" in G)
CAIT_README = {
    "cait_s24_224": (46_916_200, 9.35, 9.4),
    "cait_xs24_384": (26_670_088, 19.28, 19.3),
    "cait_s24_384": (47_062_120, 32.17, 32.2),
    "cait_s36_384": (68_366_632, 47.99, 48.0),
    "cait_m36_384": (271_221_352, 173.11, 173.3),
    "cait_m48_448": (356_460_520, 329.41, 329.6),
}


@pytest.mark.parametrize("name", sorted(CAIT_README))
def test_cait_fvcore_convention_reproduces_the_readme_flops(name):
    params, gmacs, readme = CAIT_README[name]
    data = analyze(CAIT, name, convention="fvcore")
    count = data["convention"]["count"] / 1e9
    assert data["params"] == params
    assert round(count, 2) == gmacs
    # README "FLOPs" are fvcore MACs, rounded (S24@224: 9.35 printed 9.4; M36: 173.11 printed 173.3),
    # as architectures.md's [C] column (timm + fvcore) shows too: within 0.6%
    assert abs(count - readme) / readme < 0.006


# architectures.md section 10: params at 224 for all ten paper variants (XS36, S48, M24: paper only)
CAIT_224 = {
    "xxs24": (192, 24, 4, 11_956_264),
    "xxs36": (192, 36, 4, 17_299_720),
    "xs24": (288, 24, 6, 26_560_648),
    "xs36": (288, 36, 6, 38_557_432),
    "s24": (384, 24, 8, 46_916_200),
    "s36": (384, 36, 8, 68_220_712),
    "s48": (384, 48, 8, 89_525_224),
    "m24": (768, 24, 16, 185_850_088),
    "m36": (768, 36, 16, 270_929_512),
    "m48": (768, 48, 16, 356_008_936),
}


@pytest.mark.parametrize("variant", sorted(CAIT_224))
def test_cait_paper_variants_count_at_224(variant):
    dim, depth, heads, params = CAIT_224[variant]
    overrides = {"embed_dim": dim, "depth": depth, "num_heads": heads, "img_size": 224}
    assert archgraph.analyze(CAIT, "cait_xxs24_224", overrides=overrides)["params"] == params


def test_cait_report_itemises_the_written_out_attention():
    data = archgraph.analyze(CAIT, "cait_xxs24_224", depth=99)
    nodes = data["nodes"]
    n, h, d = 196, 4, 48  # 14 x 14 patches, 4 heads of 192 / 4
    scores = [node for node in nodes if node["path"].startswith("blocks.0.attn.") and node["op"] == "matmul"]
    assert len(scores) == 2  # q @ k^T and attn @ v, each its own node, each an N² term
    assert all(node["attention_n2"] and node["macs"] == h * n * n * d for node in scores)
    # class attention: one query against N + 1 keys (cross-attention: Nq * Nk)
    cls = next(node for node in nodes if node["path"].startswith("blocks_token_only.0.attn.") and node["op"] == "sdpa")
    assert cls["macs"] == 2 * h * 1 * (n + 1) * d
    # timm.md section 2: FlopCounterMode 5.047 GFLOP in all, 0.708 of it in attention (bmm + SDPA)
    assert round(data["flops"] / 1e9, 3) == 5.047 and round(data["attention_flops"] / 1e9, 3) == 0.708


class DINOHead(torch.nn.Module):
    """The reference head: facebookresearch/dino `vision_transformer.py`, class DINOHead, at commit
    04c0ad957c9fd04cced6d703668bc049586d1d21 (https://github.com/facebookresearch/dino/blob/
    04c0ad957c9fd04cced6d703668bc049586d1d21/vision_transformer.py), at its defaults use_bn=False,
    nlayers=3: the same modules in the same order (so the same state_dict keys), the same
    initialisation (trunc_normal std .02 on the MLP, g filled with 1 and frozen with norm_last_layer).
    The source wraps the last layer in `nn.utils.weight_norm` (keys `weight_g`, `weight_v`, as the
    released checkpoints store them); `parametrized` uses `nn.utils.parametrizations.weight_norm`
    instead, the form the spec stores (keys `parametrizations.weight.original0/1`)."""

    def __init__(self, in_dim, out_dim, norm_last_layer=True, hidden_dim=2048, bottleneck_dim=256, parametrized=False):
        super().__init__()
        nn = torch.nn
        self.mlp = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, hidden_dim),
                                 nn.GELU(), nn.Linear(hidden_dim, bottleneck_dim))  # fmt: skip
        self.apply(self._init_weights)
        last = nn.Linear(bottleneck_dim, out_dim, bias=False)
        if parametrized:
            self.last_layer = nn.utils.parametrizations.weight_norm(last)
            gain = self.last_layer.parametrizations.weight.original0
        else:
            with warnings.catch_warnings():  # deprecated in favour of the parametrizations form
                warnings.simplefilter("ignore", FutureWarning)
                self.last_layer = nn.utils.weight_norm(last)
            gain = self.last_layer.weight_g
        gain.data.fill_(1)
        if norm_last_layer:
            gain.requires_grad = False

    @staticmethod
    def _init_weights(m):
        if isinstance(m, torch.nn.Linear):
            torch.nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                torch.nn.init.constant_(m.bias, 0)

    def forward(self, x):
        return self.last_layer(torch.nn.functional.normalize(self.mlp(x), dim=-1, p=2))


class Dino(torch.nn.Module):
    """dino's MultiCropWrapper on one crop: backbone then head (keys `backbone.*`, `head.*`)."""

    def __init__(self, backbone, head):
        super().__init__()
        self.backbone, self.head = backbone, head

    def forward(self, x):
        return self.head(self.backbone(x))


SMALL = {"img_size": 32, "patch_size": 8, "embed_dim": 64, "depth": 2, "num_heads": 2}
HEAD = {"out_dim": 512, "hidden_dim": 96, "bottleneck_dim": 32}


def _reference(parametrized=False, **backbone) -> Dino:
    vit = timm.create_model("vit_small_patch8_224.dino", pretrained=False, **backbone)
    head = DINOHead(backbone["embed_dim"], HEAD["out_dim"], True, HEAD["hidden_dim"], HEAD["bottleneck_dim"],
                    parametrized)  # fmt: skip
    return Dino(vit, head).eval()


def test_dino_network_loads_the_reference_and_matches_outputs_and_cls_attention():
    torch.manual_seed(0)
    ref = _reference(**SMALL)
    ours = archgraph.build(DINO, "dino_b8", **SMALL, **HEAD, cls_attention=True).eval()
    assert list(ours.state_dict()) == list(_reference(parametrized=True, **SMALL).state_dict())  # the same keys
    ours.load_state_dict(ref.state_dict(), strict=True)  # weight_g/weight_v: torch's weight_norm load hook
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        out, attn = ours(x)
        torch.testing.assert_close(out, ref(x))
        # the last block's attention, computed from timm's weights by hand (dino's get_last_selfattention)
        vit = ref.backbone
        t = vit._pos_embed(vit.patch_embed(x))
        for block in vit.blocks[:-1]:
            t = block(t)
        last = vit.blocks[-1]
        b, n, c = t.shape
        q, k, _ = last.attn.qkv(last.norm1(t)).reshape(b, n, 3, 2, c // 2).permute(2, 0, 3, 1, 4)
        want = ((q * (c // 2) ** -0.5) @ k.transpose(-2, -1)).softmax(-1)[:, :, 0, 1:]
    assert attn.shape == (2, 2, 16)  # [B, heads, patches]: 4 x 4 patches of 8 pixels
    torch.testing.assert_close(attn, want)


def test_dino_head_counts_and_frozen_gain():
    # architectures.md section 4: ViT-B/8 backbone 85,807,872 + head 23,138,560 (23,073,024 trainable)
    assert archgraph.analyze(DINO, "dino_b8")["params"] == 85_807_872 + 23_138_560
    assert archgraph.analyze(DINO, "dino_s8")["params"] == 21_670_272 + 22_352_128
    ours = archgraph.build(DINO, "dino_b8", device="meta")
    with torch.device("meta"):
        head = DINOHead(768, 65536, parametrized=True)
    assert sum(p.numel() for p in ours.head.parameters()) == sum(p.numel() for p in head.parameters()) == 23_138_560
    trainable = sum(p.numel() for p in ours.head.parameters() if p.requires_grad)
    assert trainable == sum(p.numel() for p in head.parameters() if p.requires_grad) == 23_073_024
    assert {k: tuple(v.shape) for k, v in head.state_dict().items()} == {
        k: tuple(v.shape) for k, v in ours.head.state_dict().items()
    }


def test_dino_gain_trains_when_the_last_layer_is_not_normalised():
    ours = archgraph.build(DINO, "dino_s8", **SMALL, **HEAD, norm_last_layer=False)
    gain = ours.head.last_layer.parametrizations.weight.original0
    assert gain.requires_grad and gain.shape == (HEAD["out_dim"], 1)


# The lecture's DINO table (seed/beyond_cnns_lecture.txt, from the DINO paper's Table 2): ViT-S 21M,
# ViT-B/16 85M, ViT-S/8 21M, ViT-B/8 85M: whole millions, truncated (85,798,656 is "85")
LECTURE = {"dino_vit_s16": 21, "dino_vit_b16": 85, "dino_vit_s8": 21, "dino_vit_b8": 85}


@pytest.mark.parametrize("name", sorted(LECTURE))
def test_report_reproduces_the_lecture_dino_table(capsys, name):
    code, out, _ = run(capsys, "report", str(DINO), "--model", name)
    assert code == 0
    params = archgraph.analyze(DINO, name)["params"]
    assert f"params {params:,}" in out and params // 10**6 == LECTURE[name]


def test_cait_talking_heads_grow_as_n2_in_the_closed_form():
    """S24 (D = 384, h = 8, 24 blocks): 4·D FLOPs per score from q@k^T and attn@v, 4·h² from proj_l and
    proj_w; the class attention (one query) is linear in N."""
    form = archgraph.closed_form(CAIT, "cait_s24_224")
    assert form.count.json()[2] == 24 * 4 * 384 + 24 * 4 * 8**2 == 43_008
