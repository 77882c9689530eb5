"""Counting conventions: which work a "FLOP" counts, as a preset per tool and paper family.

A `Convention` turns a node's cost (its multiply-adds and elementwise work, at batch 1)
into one number, so a report can print the figure a given tool or paper prints:

- `flop_counter` (default): 2 per multiply-add of matmul, conv and attention's matmuls;
  nothing else. torch.utils.flop_counter.FlopCounterMode (on `meta`, CUDA, or CPU with the
  math SDPA backend); ViT-B/16 35,127,656,448.
- `fvcore` (alias `paper`): 1 per multiply-add (fvcore's "flop" is a MAC), plus what
  fvcore's default handles count for archgraph's ops (each op's `fvcore` rule): norms, bilinear
  upsampling and the batch norm inside a weight-standardised conv. fvcore FlopCountAnalysis
  with unfused attention (ViT-B/16 17.58 G), the DeiT paper's Table 1 (DeiT-B 17.6 G) and
  timm's tables.
- `torchvision` (alias `macs`): 1 per multiply-add of matmul and conv, nothing else: the
  "GFLOPS" in torchvision's model docs (vit_b_16 17.56, vit_l_16 61.55, vit_b_32 4.41).
- `mmcv`: 1 per multiply-add (attention's matmuls included, as the PVT and SegFormer repos add
  them by hand), plus what mmcv 1.2's module hooks add: a conv's bias 1 per output element, ReLU
  1 per element, pooling 1 per input element. mmcv 1.2 has no LayerNorm hook, never sees functional
  resizes, GELU or softmax, and does not hook the SyncBN of the mmseg configs, so none are counted.
  SegFormer's ADE20K GFLOPs (B0 8.4 ... B5 183.3), PVT v1's (Tiny 1.9 ... Large 9.8) and PVT
  v2-B2's README 4.04 GFLOPs.
- `full`: 2 per multiply-add plus every elementwise operation archgraph itemises
  (norms 5, GELU 8, softmax with its scaling 4 per score, adds 1 per element).

`tool_figures` adds what common tools print with their known gaps (CPU SDPA counted as 0,
fvcore skipping fused SDPA, hook-based counters that never see `q@k^T`), so a user can see
where a number they already have comes from.
"""

from __future__ import annotations

from collections.abc import Callable

from archgraph.cost import totals, under
from archgraph.ir import Graph, Node
from archgraph.ops import REGISTRY, uncounted
from archgraph.record import record

DEFAULT = "flop_counter"


@record(frozen=True)
class Convention:
    name: str
    unit: str  # what one count is called in the tool or paper
    per_mac: int  # counts per multiply-add of matmul, conv and attention
    includes: str
    reproduces: tuple[str, ...]
    aliases: tuple[str, ...] = ()
    elementwise: Callable[[Graph, Node], int] | None = None  # extra elementwise count per node

    def count(self, graph: Graph, node: Node) -> int:
        """This convention's count for one node at batch 1."""
        return self.per_mac * node.cost.macs + (self.elementwise(graph, node) if self.elementwise else 0)

    def total(self, graph: Graph, prefix: str | None = None) -> int:
        return sum(self.count(graph, n) for n in graph.nodes.values() if under(n, prefix))

    def describe(self) -> dict:
        return {"name": self.name, "aliases": list(self.aliases), "unit": self.unit, "per_mac": self.per_mac,
                "includes": self.includes, "reproduces": list(self.reproduces)}  # fmt: skip


def fvcore_elementwise(graph: Graph, node: Node) -> int:
    """What fvcore's default handles add for `node` beyond its multiply-adds: its op's registry rule."""
    rule = REGISTRY[node.op].fvcore if node.op != "input" else uncounted
    if rule is None:
        raise KeyError(f"op `{node.op}` has no fvcore rule")
    return rule([graph.type_of(v) for v in node.inputs], node.attrs, node.outs)


def mmcv_elementwise(graph: Graph, node: Node) -> int:
    """What mmcv 1.2's get_model_complexity_info hooks add beyond multiply-adds (see the module doc)."""
    if node.op in ("conv2d", "std_conv2d"):
        return node.outs[0].numel() if node.attrs.get("bias") else 0
    if node.op == "relu":
        return node.outs[0].numel()
    if node.op in ("max_pool2d", "adaptive_avg_pool2d"):
        return graph.type_of(node.inputs[0]).numel()
    return 0


CONVENTIONS: dict[str, Convention] = {
    c.name: c
    for c in (
        Convention(
            "flop_counter", "FLOPs", 2,
            "2 per multiply-add of matmul, conv and attention's q@k^T and attn@v; bias adds, norms, "
            "activations, softmax and residual adds not counted",
            ("torch.utils.flop_counter.FlopCounterMode on meta, on CUDA, or on CPU under the math SDPA backend "
             "(ViT-B/16: 35,127,656,448, timm 1.0.31)",
             "DeepSpeed/Perceiver-style 'real FLOPs' = 2 x MACs"),
        ),
        Convention(
            "fvcore", "flops (= multiply-adds)", 1,
            "1 per multiply-add of matmul, conv and attention; layer/group norm 5 per element "
            "(4 without affine), batch norm 2 (1), bilinear upsampling 4 per output element, "
            "weight standardisation 4 per weight element; activations, softmax and adds not counted",
            ("fvcore FlopCountAnalysis with unfused attention (TIMM_FUSED_ATTN=0): ViT-B/16 17.583 G",
             "DeiT paper Table 1 (Touvron et al. 2021): DeiT-Ti 1.3, DeiT-S 4.6, DeiT-B 17.6 GFLOPs",
             "timm/DeiT/CaiT/ResMLP tables; Mixer-B/16 12.62 G"),
            aliases=("paper",), elementwise=fvcore_elementwise,
        ),
        Convention(
            "torchvision", "FLOPS (= multiply-adds)", 1,
            "1 per multiply-add of matmul, conv and attention; nothing else",
            ("torchvision model docs: vit_b_16 17.56, vit_b_32 4.41, vit_l_16 61.55 GFLOPS",
             "the 'MACs' of thop/ptflops once attention's matmuls are added"),
            aliases=("macs",),
        ),
        Convention(
            "mmcv", "FLOPs (= multiply-adds)", 1,
            "1 per multiply-add of matmul, conv and attention (the PVT/SegFormer repos add q@k^T and attn@v by "
            "hand); conv bias 1 per output element, ReLU 1 per element, pooling 1 per input element (mmcv 1.2's "
            "hooks); LayerNorm, SyncBN, GELU, softmax, functional resizes and adds not counted",
            ("SegFormer paper Table 1(a), ADE20K: B0 8.4, B1 15.9, B2 62.4, B3 79.0, B4 95.7 (512x512), "
             "B5 183.3 (640x640) GFLOPs",
             "PVT v2 README (whai362/PVT classification): pvt_v2_b2 4.04 GFLOPs",
             "PVT paper Table 2: PVT-Tiny 1.9, Small 3.8, Medium 6.7, Large 9.8 GFLOPs"),
            elementwise=mmcv_elementwise,
        ),
        Convention(
            "full", "FLOPs", 2,
            "2 per multiply-add, plus all elementwise work archgraph itemises: norms 5 per element, GELU 8, "
            "softmax with its scaling 4 per score, adds and layer scales 1",
            ("no tool prints this: it is the arithmetic a forward pass does, for roofline estimates",),
            elementwise=lambda graph, node: node.cost.other,
        ),
    )
}  # fmt: skip
ALIASES = {alias: c.name for c in CONVENTIONS.values() for alias in (c.name, *c.aliases)}


def get(name: str) -> Convention:
    """The convention called `name` (or one of its aliases); KeyError lists the known names."""
    if name not in ALIASES:
        raise KeyError(f"unknown convention `{name}`; expected one of {', '.join(sorted(ALIASES))}")
    return CONVENTIONS[ALIASES[name]]


def tool_figures(graph: Graph, batch: int = 1) -> dict[str, int]:
    """What common tools print for this model, with their known gaps reproduced (batch `batch`)."""
    t = totals(graph)
    macs, attn = t.macs, t.attention_flops // 2
    fvcore = CONVENTIONS["fvcore"].total(graph)
    figures = {
        "FlopCounterMode (meta, CUDA, or CPU with the math SDPA backend)": 2 * macs,
        "FlopCounterMode (CPU tensor, fused SDPA counted as 0: pytorch#195460)": 2 * (macs - attn),
        "fvcore FlopCountAnalysis (unfused attention)": fvcore,
        "fvcore FlopCountAnalysis (fused SDPA skipped as unsupported)": fvcore - attn,
        "torchvision docs GFLOPS (multiply-adds)": macs,
        "multiply-adds without q@k^T and attn@v (all that module-hook counters see)": macs - attn,
    }
    return {k: v * batch for k, v in figures.items()}
