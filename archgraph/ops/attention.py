"""Multi-head attention, itemised: `split_heads`, `sdpa` (Q.K^T, softmax, A.V), `merge_heads`.

A spec writes attention from these (see specs/lib/transformer.arch), so the report can
show the qkv projection, the N^2 terms and the output projection each on its own line,
and the generated code calls F.scaled_dot_product_attention.
"""

from __future__ import annotations

from archgraph.errors import OpError
from archgraph.ir import Cost, TensorType
from archgraph.ops.base import VIEW, Attr, Emit, Memory, OpDef, expect_rank, register, uncounted


def _split_infer(ins, a):
    (x,) = ins
    expect_rank(x, 3, 0, "the input [B, N, C]")
    b, n, c = x.dims
    heads, parts = a["num_heads"], a["parts"]
    if heads < 1 or parts < 1:
        raise OpError(f"`num_heads` and `parts` must be positive, found {heads} and {parts}", "num_heads")
    if c % (parts * heads):
        raise OpError(f"{c} channels do not split into {parts} x {heads} heads ({c} / {parts * heads} = "
                      f"{c / (parts * heads):g})", "num_heads")  # fmt: skip
    head = TensorType((b, heads, n, c // (parts * heads)), x.dtype)
    return (head,) * parts


def _split_call(a) -> str:
    """Any batch and token count: only the channel axis is unflattened (the head dim is its rest)."""
    heads, parts = a.value("num_heads"), a.value("parts")
    if parts == 1:
        return f"{a.ins[0]}.unflatten(-1, ({heads}, -1)).transpose(1, 2)"
    return f"{a.ins[0]}.unflatten(-1, ({parts}, {heads}, -1)).permute(2, 0, 3, 1, 4).unbind(0)"


register(OpDef(
    name="split_heads",
    inputs=("x",),
    attrs={"num_heads": Attr("int", doc="heads h; C must divide into parts * h"), "parts": Attr("int", 1, "3 for a fused qkv projection (rows ordered q|k|v)")},
    infer=_split_infer,
    emit=Emit(call=_split_call),
    summary="[B, N, parts*h*d] -> parts tensors [B, h, N, d] (timm's qkv layout: q|k|v, then heads)",
    formulas={"shape": "[B, N, parts*h*d] -> parts x [B, h, N, d]", "params": "0", "flops": "0"},
    fvcore=uncounted,
    memory=VIEW,
    notes="Channels are ordered part-major, then head, as timm's fused `qkv` (rows q|k|v). `C` must be divisible by `parts * num_heads`. With `parts = 1` it returns one tensor; otherwise `parts` tensors to unpack. Generated code: `x.unflatten(-1, (h, -1)).transpose(1, 2)`, or `x.unflatten(-1, (parts, h, -1)).permute(2, 0, 3, 1, 4).unbind(0)` (any batch and token count).",
    example='q, k, v = split_heads(qkv: linear(x, 3 * dim), num_heads, parts = 3)',
))  # fmt: skip


def _merge_infer(ins, a):
    (x,) = ins
    expect_rank(x, 4, 0, "the input [B, h, N, d]")
    b, h, n, d = x.dims
    return TensorType((b, n, h * d), x.dtype)


register(OpDef(
    name="merge_heads",
    inputs=("x",),
    attrs={},
    infer=_merge_infer,
    emit=Emit(call=lambda a: f"{a.ins[0]}.transpose(1, 2).flatten(2)"),
    summary="[B, h, N, d] -> [B, N, h*d]",
    formulas={"shape": "[B, h, N, d] -> [B, N, h*d]", "params": "0", "flops": "0"},
    fvcore=uncounted,
    memory=Memory("nothing", "fused SDPA kernels lay their output out as [B, N, h, d], so this is a view", view=True),
    notes='The inverse of `split_heads` with `parts = 1`. Generated code: `x.transpose(1, 2).flatten(2)`.',
    example='x = merge_heads(sdpa(q, k, v))',
))  # fmt: skip


def _sdpa_infer(ins, a):
    q, k, v = ins[:3]
    for i, (t, name) in enumerate(zip(ins, "qkv", strict=False)):
        expect_rank(t, 4, i, f"`{name}` [B, h, N, d]")
    if k.dims[2] != v.dims[2]:
        raise OpError(f"k and v need one row per key: k has {k.dims[2]} keys, v has {v.dims[2]} values", 2)
    if q.dims[:2] != k.dims[:2] or k.dims[:2] != v.dims[:2]:
        raise OpError(f"q, k and v disagree on batch or heads: {q}, {k}, {v}", 1)
    if q.dims[3] != k.dims[3]:
        raise OpError(f"q and k need the same head dim, found {q.dims[3]} and {k.dims[3]}", 1)
    if a["causal"] and q.dims[2] > k.dims[2]:
        raise OpError(f"a causal mask needs no more queries than keys, found {q.dims[2]} > {k.dims[2]}", "causal")
    p = a["dropout"]
    if p is not None and (isinstance(p, bool) or not 0 <= p < 1):
        raise OpError(f"`dropout` is a probability in [0, 1), found {p!r}", "dropout")
    if len(ins) == 4 and ins[3].dims != (q.dims[0], k.dims[2]):
        raise OpError(f"the key padding mask must be [batch, keys] = [{q.dims[0]}, {k.dims[2]}] "
                      f"(one flag per key), found {ins[3]}", 3)  # fmt: skip
    return TensorType((*q.dims[:3], v.dims[3]), q.dtype)


def _sdpa_cost(ins, a, outs):
    q, k, v = ins[:3]
    b, h, nq, d = (1, *q.dims[1:])
    nk, dv = k.dims[2], v.dims[3]
    scores = b * h * nq * nk
    qk, av = scores * d, scores * dv
    # scale (1), softmax (3) per score
    terms = (("q@k^T", qk, 0), ("softmax", 0, 4 * scores), ("attn@v", av, 0))
    return Cost(macs=qk + av, other=4 * scores, terms=terms, quadratic=True, scores=(nq, nk))


def _sdpa_call(a) -> str:
    extra = ", is_causal=True" if a.value("causal") else ""
    if len(a.ins) == 4:  # True marks a padded key (nn.MultiheadAttention); SDPA's bool mask marks those kept
        keep = f"~{a.ins[3]}[:, None, None, :]"
        if a.value("causal"):  # SDPA takes a mask or is_causal: the causal part joins the mask
            keep = f"{keep} & {a.ins[3]}.new_ones({a.ins[0]}.shape[-2], {a.ins[1]}.shape[-2]).tril()"
        extra = f", attn_mask={keep}"
    if a.value("scale") is not None:
        extra += f", scale={a['scale']}"
    if a.value("dropout") is not None:  # only while training, as timm's Attention
        extra += f", dropout_p={float(a.value('dropout'))!r} if self.training else 0.0"
    return f"F.scaled_dot_product_attention({', '.join(a.ins[:3])}{extra})"


_SDPA_MEMORY = Memory(
    "inputs+outputs",
    "q, k, v, the output and a f32 logsumexp per query (fused SDPA)",
    extra=lambda ins, a, outs, batch, nbytes: 4 * ins[0].numel(batch) // int(ins[0].dims[-1]),
)


register(OpDef(
    name="sdpa",
    inputs=("q", "k", "v", "key_padding_mask?"),
    attrs={"causal": Attr("bool", False, "mask future keys"),
           "scale": Attr("float", None, "defaults to 1/sqrt(d)"),
           "dropout": Attr("float", None, "attention dropout while training (SDPA's dropout_p; timm attn_drop)")},
    infer=_sdpa_infer,
    cost=_sdpa_cost,
    emit=Emit(call=_sdpa_call),
    summary="scaled dot-product attention softmax(q k^T * scale) v (F.scaled_dot_product_attention)",
    dtypes={"key_padding_mask": ("bool",)},
    formulas={"shape": "q [B, h, Nq, d], k [B, h, Nk, d], v [B, h, Nk, dv] (, key_padding_mask bool[B, Nk]) -> [B, h, Nq, dv]",
              "params": "0", "flops": "q@k^T 2*B*h*Nq*Nk*d + attn@v 2*B*h*Nq*Nk*dv (other: 4 per score)"},
    fvcore=uncounted,
    memory=_SDPA_MEMORY,
    notes='`causal = true` needs `Nq <= Nk` (query i sees keys 0..i, as torch\'s `is_causal`); `Nq != Nk` is cross-attention, its cost Nq*Nk per head. `key_padding_mask` (optional, `bool[B, Nk]`, e.g. a model input `input src_mask: bool[B, S]`) marks padded keys with true, as torch.nn.MultiheadAttention\'s `key_padding_mask`: they get no attention. k and v need as many positions. `scale = none` means "not given": there is no `none` literal in the language. `dropout = p` drops attention weights while training (`dropout_p=p if self.training else 0.0`, as timm\'s Attention; 0 FLOPs, nothing in eval). Both matmuls form the attention N² term; "other" is 4 per score (`h * Nq * Nk`) for scaling and softmax. The JSON report itemises `q@k^T`, `softmax` and `attn@v`. Generated code: `F.scaled_dot_product_attention(q, k, v)`, plus `is_causal=True` and/or `scale=...`; with a mask `attn_mask=~mask[:, None, None, :]` (and `& mask.new_ones(q.shape[-2], k.shape[-2]).tril()` when causal).',
    example='x = sdpa(q, k, v)',
))  # fmt: skip
