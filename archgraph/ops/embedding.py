"""Token inputs: `embedding` (nn.Embedding: i64 ids -> vectors) and `sine_position`, the fixed
sinusoidal position encoding of Vaswani et al. (2017, section 3.5), a buffer computed at build time.

A fixed encoding is an op with no input, like `parameter`, but it holds a buffer, not a
parameter: 0 parameters, not in state_dict (persistent=False, so a checkpoint of
torch.nn.Transformer or fairseq loads unchanged), listed under the memory report's buffers.
DETR's 2-D sine embedding is one more op of this kind (another helper class).
"""

from __future__ import annotations

from archgraph.errors import OpError
from archgraph.ir import BATCH, Cost, TensorType
from archgraph.ops.base import (
    Attr,
    Emit,
    Memory,
    OpDef,
    batch_dims,
    call_module,
    check_choice,
    check_positive,
    expect_rank,
    register,
    uncounted,
)

_EMBED_INIT = {
    "normal": "nn.init.normal_({m}.weight, std={std})",  # PyTorch's default with std 1; fairseq D ** -0.5
    "trunc_normal": "nn.init.trunc_normal_({m}.weight, std={std})",
    "torch": "{m}.reset_parameters()",
}


def _embedding_infer(ins, a):
    (ids,) = ins
    check_positive(a, "num_embeddings", "embedding_dim")
    check_choice(a, "init", _EMBED_INIT)
    return TensorType((*ids.dims, a["embedding_dim"]), "f32")


register(OpDef(
    name="embedding",
    inputs=("ids",),
    attrs={"num_embeddings": Attr("int", doc="vocabulary size V: ids lie in [0, V)"),
           "embedding_dim": Attr("int", doc="width D of each vector"),
           "init": Attr("str", "normal", "normal | trunc_normal | torch (N(0, 1), PyTorch's default)"),
           "std": Attr("float", 1.0, "for normal and trunc_normal")},
    infer=_embedding_infer,
    params=lambda ins, a: a["num_embeddings"] * a["embedding_dim"],
    cost=lambda ins, a, outs: Cost(),  # a gather: no multiply-add (FlopCounterMode counts 0)
    emit=Emit(module=lambda a: f"nn.Embedding({a['num_embeddings']}, {a['embedding_dim']}, **dd)",
              call=call_module,
              init=lambda a: [_EMBED_INIT[a.value("init")].format(m=a.target, std=a["std"])]),
    summary="a learned vector per token id (nn.Embedding): i64 ids [..] -> f32 [.., D]",
    learnable=True,
    formulas={"shape": "i64[...] -> f32[..., embedding_dim]", "params": "num_embeddings * embedding_dim",
              "flops": "0 (a table lookup)"},
    fvcore=uncounted,
    memory=Memory("input", "the ids (backward scatters the gradient into their rows)"),
    dtypes={"ids": ("i64",)},
    notes="The input must be token ids, an `i64` tensor (`input src: i64[B, S]`); a float tensor is a type error. Key `<label>.weight` [V, D]. The Transformer scales the result by sqrt(D): `embed: embedding(src, V, D) * D ** 0.5`. Generated code: `self.embed = nn.Embedding(37000, 512, **dd)`, called as `self.embed(src)`; init `nn.init.normal_(self.embed.weight, std=1.0)`.",
    example="x = embed: embedding(src, vocab_size, d_model) * d_model ** 0.5",
))  # fmt: skip


def _sine_infer(ins, a):
    check_positive(a, "length", "dim")
    if a["dim"] % 2:
        raise OpError(f"`dim` must be even (sin and cos pairs), found {a['dim']}", "dim")
    return TensorType((1, a["length"], a["dim"]))


register(OpDef(
    name="sine_position",
    inputs=(),
    attrs={"length": Attr("int", doc="positions n (the sequence length)"),
           "dim": Attr("int", doc="width D, even"),
           "base": Attr("float", 10000.0, "the wavelength base (10000 in the paper)")},
    infer=_sine_infer,
    emit=Emit(module=lambda a: f"SinePosition({a['length']}, {a['dim']}, {a['base']}, **dd)", call=lambda a: f"{a.target}()",
              init=lambda a: [f"{a.target}.reset_parameters()"]),
    summary="the fixed sinusoidal position encoding of Vaswani et al. (section 3.5), a [1, n, D] buffer",
    buffer=True,
    formulas={"shape": "[1, length, dim]", "params": "0", "flops": "0"},
    fvcore=uncounted,
    memory=Memory("nothing", "a constant: its gradient is not taken"),
    notes="PE(pos, 2i) = sin(pos / base^(2i/D)), PE(pos, 2i+1) = cos(pos / base^(2i/D)) (Vaswani et al. 2017, section 3.5; the lecture's formula). Computed once when the module is built, registered with `persistent=False`: 0 parameters, not in `state_dict` (as torch.nn.Transformer users keep it, so its checkpoints load with strict=True), listed under the memory report's buffers. Add it to the embeddings: its leading 1 broadcasts over the batch. Generated code: a `SinePosition` helper class (buffer `pe`); `self.pos = SinePosition(128, 512, 10000.0, **dd)`, read as `self.pos()`.",
    example="x = x + pos: sine_position(seq_len, d_model)",
))  # fmt: skip

# ---- shared weights: one `parameter` read by several ops (tied embeddings) ----


def _lookup_infer(ins, a):
    ids, table = ins
    expect_rank(table, 2, 1, "the table [V, D]")
    if BATCH in table.dims:
        raise OpError(f"the table must be a learned [V, D] tensor, found {table}", 1)
    return TensorType((*ids.dims, table.dims[1]), table.dtype)


register(OpDef(
    name="lookup",
    inputs=("ids", "table"),
    attrs={},
    infer=_lookup_infer,
    emit=Emit(call=lambda a: f"F.embedding({a.ins[0]}, {a.ins[1]})"),
    summary="rows of a [V, D] table by token id (F.embedding): an embedding whose weight is a tensor of the spec",
    formulas={"shape": "i64[...], [V, D] -> f32[..., D]", "params": "0", "flops": "0"},
    fvcore=uncounted,
    memory=Memory("input", "the ids (backward scatters the gradient into their rows)"),
    dtypes={"ids": ("i64",)},
    notes="With a `parameter` as the table, one matrix serves several uses and is counted once: the Transformer's shared source and target embedding, tied to the pre-softmax projection (`project(y, table)`), as Vaswani et al. section 3.4. Generated code: `F.embedding(src, self.embed)`.",
    example='x = lookup(src, shared: parameter([vocab, d_model], init = "normal"))',
))  # fmt: skip


def _project_infer(ins, a):
    x, weight = ins[:2]
    expect_rank(weight, 2, 1, "the weight [out, in]")
    if BATCH in weight.dims:
        raise OpError(f"the weight must be a learned [out, in] tensor, found {weight}", 1)
    if weight.dims[1] != x.dims[-1]:
        raise OpError(f"the weight {weight} maps {weight.dims[1]} features to {weight.dims[0]}, but the input {x} has "
                      f"{x.dims[-1]}: a tied weight must have the shape of its twin", 1)  # fmt: skip
    if len(ins) == 3 and ins[2].dims != (weight.dims[0],):
        raise OpError(f"the bias must be [{weight.dims[0]}], found {ins[2]}", 2)
    return TensorType((*x.dims[:-1], weight.dims[0]), x.dtype)


register(OpDef(
    name="project",
    inputs=("x", "weight", "bias?"),
    attrs={},
    infer=_project_infer,
    cost=lambda ins, a, outs: Cost(macs=batch_dims(ins[0]) * ins[1].dims[1] * ins[1].dims[0]),
    emit=Emit(call=lambda a: f"F.linear({', '.join(a.ins)})"),
    summary="`x W^T + b` with W (and b) tensors of the spec (F.linear): a linear map whose weight is shared or fused",
    formulas={"shape": "[..., in], [out, in] (, [out]) -> [..., out]", "params": "0",
              "flops": "2 * prod(...) * in * out"},
    fvcore=uncounted,
    memory=Memory("input", "the input (for the weight gradient)"),
    notes="The weight is a tensor of the spec, usually a `parameter`: the Transformer's pre-softmax projection reads the shared embedding (`project(y, shared)`: tied, counted once), and torch.nn.MultiheadAttention's fused `in_proj_weight` [3D, D] is sliced for cross-attention (`project(x, w[0:dim], b[0:dim])`). A weight whose input width differs from x's is a shape error. Generated code: `F.linear(x, self.in_proj_weight, self.in_proj_bias)`.",
    example="logits = project(y, shared)",
))  # fmt: skip


# ---- Perceiver's Fourier features: a 2-D position encoding computed at build time ----


def _fourier_infer(ins, a):
    check_positive(a, "height", "width", "num_bands")
    if a["max_resolution"] < 0:
        raise OpError(f"`max_resolution` must be positive (0: the grid's own size), found {a['max_resolution']}",
                      "max_resolution")  # fmt: skip
    return TensorType((1, a["height"] * a["width"], 2 + 4 * a["num_bands"]))


def _fourier_module(a) -> str:
    return f"FourierPosition({a['height']}, {a['width']}, {a['num_bands']}, {a['max_resolution']}, **dd)"


register(OpDef(
    name="fourier_position",
    inputs=(),
    attrs={"height": Attr("int", doc="rows of the pixel grid"),
           "width": Attr("int", doc="columns of the pixel grid"),
           "num_bands": Attr("int", doc="frequency bands K per axis (64 in the paper)"),
           "max_resolution": Attr("int", 0, "the highest frequency is max_resolution / 2 (0: the grid's size)")},
    infer=_fourier_infer,
    emit=Emit(module=_fourier_module, call=lambda a: f"{a.target}()", init=lambda a: [f"{a.target}.reset_parameters()"]),
    summary="Perceiver's Fourier-feature position encoding of an H x W grid, a [1, H*W, 2 + 4K] buffer",
    buffer=True,
    formulas={"shape": "[1, height * width, 2 + 4 * num_bands]", "params": "0", "flops": "0"},
    fvcore=uncounted,
    memory=Memory("nothing", "a constant: its gradient is not taken"),
    notes="Jaegle et al. 2021, section 3.2 and Appendix C: each pixel's (y, x) in [-1, 1], then sin(pi f y), "
          "sin(pi f x) for K frequencies f spaced linearly from 1 to max_resolution / 2, then the cosines: "
          "2 + 2 * 2 * K channels (258 for K = 64), in Hugging Face PerceiverFourierPositionEncoding's order "
          "([y, x, sin y-bands, sin x-bands, cos y-bands, cos x-bands]). Computed once when the module is built, "
          "registered with `persistent=False`: 0 parameters, not in `state_dict`, listed under the memory "
          "report's buffers. Concatenate it to the pixels: `concat(to_tokens(x), pos, dim = -1)` (its "
          "leading 1 is expanded over the batch). Generated code: a `FourierPosition` helper class (buffer "
          "`pe`); `self.pos = FourierPosition(224, 224, 64, 224, **dd)`, read as `self.pos()`.",
    example="x = concat(to_tokens(img), pos: fourier_position(224, 224, 64), dim = -1)",
))  # fmt: skip
