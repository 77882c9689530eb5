"""Tokens: learned parameters (class token, position embedding, layer scale), image <-> tokens,
concatenation, selection and pooling of tokens, transposition (Mixer's token MLP)."""

from __future__ import annotations

from archgraph.errors import OpError
from archgraph.ir import BATCH, Cost, TensorType
from archgraph.ops.base import (
    VIEW,
    Attr,
    Emit,
    Memory,
    OpDef,
    call_module,
    check_choice,
    expect_rank,
    norm_dim,
    per_element,
    register,
    uncounted,
)

# ---- parameter: a learned tensor (cls_token, pos_embed, dist_token, ...) ----

_PARAM_INIT = {
    "zeros": "nn.init.zeros_({m})",
    "ones": "nn.init.ones_({m})",
    "normal": "nn.init.normal_({m}, std={std})",
    "trunc_normal": "nn.init.trunc_normal_({m}, std={std})",
    "constant": "nn.init.constant_({m}, {value})",
    "xavier_uniform": "nn.init.xavier_uniform_({m})",  # nn.MultiheadAttention's in_proj_weight
}


def _param_infer(ins, a):
    shape = a["shape"]
    if not shape or any(not isinstance(d, int) or d < 1 for d in shape):
        raise OpError(f"`shape` must be a list of positive integers, found {list(shape)}", "shape")
    check_choice(a, "init", _PARAM_INIT)
    return TensorType(tuple(shape))


def _param_init(a) -> list[str]:
    return [_PARAM_INIT[a.value("init")].format(m=a.target, std=a["std"], value=a["value"])]


register(OpDef(
    name="parameter",
    inputs=(),
    attrs={"shape": Attr("ints", doc="its shape, e.g. [1, 1, embed_dim]"),
           "init": Attr("str", "zeros", "zeros | ones | normal | trunc_normal | constant | xavier_uniform"),
           "std": Attr("float", 0.02, "for normal and trunc_normal"),
           "value": Attr("float", 0.0, "for constant")},
    infer=_param_infer,
    params=lambda ins, a: TensorType(tuple(a["shape"])).numel(),
    emit=Emit(module=lambda a: f"nn.Parameter(torch.zeros({', '.join(str(d) for d in a.value('shape'))}, **dd))",
              call=lambda a: a.target, init=_param_init, parameter=True),
    summary="a learned tensor, e.g. the class token [1, 1, D] or the position embedding [1, N, D]",
    learnable=True,
    formulas={"shape": "shape", "params": "prod(shape)", "flops": "0"},
    fvcore=uncounted,
    memory=Memory("nothing", "a leaf: its gradient needs no activation"),
    notes='A learned tensor with no input (class token, position embedding, register tokens). `shape` is a list of positive integers and has no batch axis: `concat` expands a leading 1 over the batch, and `+` broadcasts it. Generated code: `self.pos_embed = nn.Parameter(torch.zeros(1, 197, 768, **dd))`, read as `self.pos_embed`; init for example `nn.init.trunc_normal_(self.pos_embed, std=0.02)`.',
    example='x = x + pos_embed: parameter([1, num_patches + 1, embed_dim], init = "trunc_normal")',
))  # fmt: skip

# ---- layer_scale: x * gamma (timm LayerScale; CaiT gamma_1, ViT ls1) ----


register(OpDef(
    name="layer_scale",
    inputs=("x",),
    attrs={"init_values": Attr("float", 1e-5, "initial value of every gamma")},
    infer=lambda ins, a: ins[0],
    params=lambda ins, a: ins[0].dims[-1],
    cost=per_element(1),
    emit=Emit(module=lambda a: f"LayerScale({a.types[0].dims[-1]}, **dd)",
              call=call_module,
              init=lambda a: [f"nn.init.constant_({a.target}.gamma, {a['init_values']})"]),
    summary="per-channel learned scale `x * gamma` (timm LayerScale, key `gamma`)",
    learnable=True,
    formulas={"shape": "unchanged", "params": "C", "flops": "0 (other: 1 per element)"},
    fvcore=uncounted,
    memory=Memory("input", "the input (for gamma's gradient)"),
    notes='Key `<label>.gamma`. Generated code: a `LayerScale` helper class is added to the file; `self.ls1 = LayerScale(768, **dd)`; init `nn.init.constant_(self.ls1.gamma, init_values)`.',
    example='h = ls1: layer_scale(h, init_values)',
))  # fmt: skip

# ---- image <-> tokens ----


def _to_tokens_infer(ins, a):
    (x,) = ins
    expect_rank(x, 4, 0, "the input [B, C, H, W]")
    b, c, h, w = x.dims
    return TensorType((b, h * w, c), x.dtype)


register(OpDef(
    name="to_tokens",
    inputs=("x",),
    attrs={},
    infer=_to_tokens_infer,
    emit=Emit(call=lambda a: f"{a.ins[0]}.flatten(2).transpose(1, 2)"),
    summary="a feature map to a token sequence, row-major (timm's flatten(2).transpose(1, 2))",
    formulas={"shape": "[B, C, H, W] -> [B, H*W, C]", "params": "0", "flops": "0"},
    fvcore=uncounted,
    memory=VIEW,
    notes='Generated code: `x.flatten(2).transpose(1, 2)`.',
    example='return to_tokens(proj: conv2d(x, embed_dim, patch_size, stride = patch_size))',
))  # fmt: skip


def _transpose_infer(ins, a):
    (x,) = ins
    d0, d1 = norm_dim(a["dim0"], x.rank, "dim0"), norm_dim(a["dim1"], x.rank, "dim1")
    if BATCH in (x.dims[d0], x.dims[d1]):
        raise OpError("the batch axis cannot be transposed", "dim0")
    dims = list(x.dims)
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return TensorType(tuple(dims), x.dtype)


register(OpDef(
    name="transpose",
    inputs=("x",),
    attrs={"dim0": Attr("int", doc="one axis (negative counts from the end)"), "dim1": Attr("int", doc="the other")},
    infer=_transpose_infer,
    emit=Emit(call=lambda a: f"{a.ins[0]}.transpose({a['dim0']}, {a['dim1']})"),
    summary="swap two axes (Mixer's token MLP works on [B, C, N])",
    formulas={"shape": "swap dims dim0 and dim1", "params": "0", "flops": "0"},
    fvcore=uncounted,
    memory=VIEW,
    notes="Negative axes count from the end; the batch axis cannot move. Generated code: `x.transpose(1, 2)`. Mixer's token MLP on `[B, C, N]`: `h = transpose(mlp_tokens: mlp(transpose(norm1: layer_norm(x), 1, 2), hidden), 1, 2)`.",
    example='h = transpose(x, 1, 2)',
))  # fmt: skip

# ---- concat: joins tokens; a parameter's batch axis of 1 is expanded to B ----


def _concat_infer(ins, a):
    rank = ins[0].rank
    dim = norm_dim(a["dim"], rank)
    if dim == 0:
        raise OpError("concat along the batch axis is not supported", "dim")
    batch = BATCH if any(t.dims[0] == BATCH for t in ins) else max(t.dims[0] for t in ins)
    for i, t in enumerate(ins):
        if t.dims[0] not in (1, batch):
            raise OpError(f"batch sizes differ: input {i} is {t}, others have {batch}", i)
    total = 0
    for i, t in enumerate(ins):
        if t.rank != rank:
            raise OpError(f"all inputs must have rank {rank}, input {i} is {t}", i)
        for axis in range(1, rank):
            if axis != dim and t.dims[axis] != ins[0].dims[axis]:
                raise OpError(f"inputs differ on axis {axis}: {ins[0]} and {t}", i)
        total += t.dims[dim]
    dims = list(ins[0].dims)
    dims[0], dims[dim] = batch, total
    return TensorType(tuple(dims), ins[0].dtype)


def _concat_call(a) -> str:
    batch = a.outs[0].dims[0]
    batch_of = next((x for x, t in zip(a.ins, a.types, strict=True) if t.dims[0] == batch), None)
    parts = []
    for x, t in zip(a.ins, a.types, strict=True):
        if batch != 1 and t.dims[0] == 1:  # a learned [1, n, D] token, expanded over the batch
            x = f"{x}.expand({batch_of}.shape[0], {', '.join(['-1'] * (t.rank - 1))})"
        parts.append(x)
    return f"torch.cat([{', '.join(parts)}], dim={a['dim']})"


register(OpDef(
    name="concat",
    inputs=("*xs",),
    attrs={"dim": Attr("int", 1, "the axis to join along (default: tokens)")},
    infer=_concat_infer,
    emit=Emit(call=_concat_call),
    summary="join tensors along `dim` (default: tokens); a learned [1, n, D] token is expanded over the batch",
    formulas={"shape": "sum of the inputs' sizes along dim", "params": "0", "flops": "0"},
    fvcore=uncounted,
    memory=Memory("nothing", "backward slices the gradient: no tensor kept"),
    notes='The first argument that is not a tensor starts the attributes. Inputs have the same rank and agree on every axis but `dim`; the batch axis cannot be the concat axis. An input whose first axis is not the batch (a `[1, n, D]` `parameter`) is expanded over the batch. Generated code: `torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)`.',
    example='x = concat(cls_token: parameter([1, 1, embed_dim], init = "normal", std = 1e-6), x)',
))  # fmt: skip

# ---- index: what `x[:, 0]` and `x[:, 1:]` lower to ----


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_item(item) -> bool:
    """None (a whole axis), an int, or a (start, stop) pair of ints or None: what `x[...]` writes."""
    pair = isinstance(item, (list, tuple)) and len(item) == 2 and all(p is None or _is_int(p) for p in item)
    return item is None or _is_int(item) or pair


def _index_infer(ins, a):
    (x,) = ins
    items = a["items"]
    if not isinstance(items, (list, tuple)) or not all(_is_item(item) for item in items):
        raise OpError("`items` must be subscripts, as `x[0]` or `x[:, 1:]` write them", "items", "type error")
    if not items:  # `x[]` is not Python: there is nothing to generate
        raise OpError("`items` needs at least one subscript, as `x[0]` or `x[:, 1:]` write them", "items",
                      "type error")  # fmt: skip
    if len(items) > x.rank:
        raise OpError(f"{len(items)} indices for {x}, which has {x.rank} axes", 0)
    dims: list[int | str] = []
    for axis, item in enumerate(items):
        size = x.dims[axis]
        if item is None:
            dims.append(size)
            continue
        if size == BATCH:
            raise OpError("the batch axis can only be taken whole (`:`)", f"item{axis}")
        if isinstance(item, int):
            if not -size <= item < size:
                raise OpError(f"index {item} is out of range for axis {axis} of size {size}", f"item{axis}")
            continue
        start, stop = item
        start = 0 if start is None else start + size if start < 0 else start
        stop = size if stop is None else stop + size if stop < 0 else stop
        if not 0 <= start < stop <= size:
            raise OpError(f"slice {_slice(item)} selects nothing from axis {axis} of size {size}", f"item{axis}")
        dims.append(stop - start)
    return TensorType((*dims, *x.dims[len(items) :]), x.dtype)


def _slice(item) -> str:
    if item is None:
        return ":"
    if isinstance(item, int):
        return str(item)
    start, stop = item
    return f"{'' if start is None else start}:{'' if stop is None else stop}"


register(OpDef(
    name="index",
    inputs=("x",),
    attrs={"items": Attr("any", doc="per axis: None (whole), an int, or (start, stop)")},
    infer=_index_infer,
    emit=Emit(call=lambda a: f"{a.ins[0]}[{', '.join(_slice(i) for i in a.value('items'))}]"),
    summary="select or slice tokens: written `x[:, 0]`, `x[:, 1:]`",
    formulas={"shape": "as Python indexing", "params": "0", "flops": "0"},
    fvcore=uncounted,
    memory=VIEW,
    written="x[i, a:b, ...]",
    notes='What `x[...]` lowers to (section 5). Generated code: the same subscript (`x[:, 0]`, `x[:, 1:]`). Write it as a subscript: called by name, `index(x, [0])` can only express integer indices.',
    example='x = x[:, 0]',
))  # fmt: skip

# ---- mean: average pooling over tokens ----


def _mean_infer(ins, a):
    (x,) = ins
    dim = norm_dim(a["dim"], x.rank)
    if x.dims[dim] == BATCH:
        raise OpError("cannot average over the batch axis", "dim")
    dims = list(x.dims)
    if a["keepdim"]:
        dims[dim] = 1
    else:
        del dims[dim]
    return TensorType(tuple(dims), x.dtype)


register(OpDef(
    name="mean",
    inputs=("x",),
    attrs={"dim": Attr("int", 1, "the axis to average (default: tokens)"),
           "keepdim": Attr("bool", False, "keep it as size 1")},
    infer=_mean_infer,
    cost=lambda ins, a, outs: Cost(other=ins[0].numel()),
    emit=Emit(call=lambda a: f"{a.ins[0]}.mean(dim={a['dim']}" + (", keepdim=True)" if a.value("keepdim") else ")")),
    summary="average over `dim` (default: tokens), e.g. global average pooling",
    formulas={"shape": "drops dim (or keeps it as 1)", "params": "0", "flops": "0 (other: 1 per input element)"},
    fvcore=uncounted,
    memory=Memory("nothing", "backward spreads the gradient evenly: it needs only the shape"),
    notes='Global average pooling; averaging over the batch is an error. Generated code: `x.mean(dim=1)` or `x.mean(dim=1, keepdim=True)`.',
    example='x = mean(x[:, 1:], dim = 1)',
))  # fmt: skip
