"""Attention written out: `matmul` (written `a @ b`) between two tensors, batched and broadcasting.

With it a spec forms the score tensor itself (`q @ transpose(k, -2, -1)`), so it can scale,
bias, mask, softmax and mix it across heads (CaiT's talking heads) before `attn @ v`.

Which matmul is an attention (N²) term is decided from the shapes: a product of two
activations, both carrying the batch axis `B`, is data times data, as `q @ k^T` (whose output
pairs a query axis with a key axis) and `attn @ v` (whose contraction runs over the keys) are;
its cost is `Nq * Nk * d` per head, so cross-attention reports `Nq * Nk`. A product with a
learned tensor (no `B` axis) is a linear map and stays in the linear part. `roles` names each
N² matmul for the report: `q@k^T` (it forms scores) or `attn@v` (it reads them).
"""

from __future__ import annotations

from collections import Counter

from archgraph.errors import OpError
from archgraph.ir import BATCH, Cost, TensorType
from archgraph.ops.base import Emit, Memory, OpDef, broadcast, expect_rank, register


def _infer(ins, a):
    x, y = ins
    for i, t in enumerate(ins):
        if t.rank < 2:
            expect_rank(t, tuple(range(2, 9)), i, "each operand [..., n, k] / [..., k, m]")
    if x.dims[-1] != y.dims[-2]:
        raise OpError(f"inner dimensions differ: {x} @ {y} contracts {x.dims[-1]} against {y.dims[-2]} "
                      f"(the left's last axis must equal the right's second-to-last)", 1)  # fmt: skip
    if BATCH in (x.dims[-1], x.dims[-2], y.dims[-1]):
        raise OpError("the batch axis cannot be a matrix axis of a matmul", 0)
    try:
        lead = broadcast(TensorType(x.dims[:-2]), TensorType(y.dims[:-2])).dims
    except OpError as error:
        raise OpError(f"leading (batch) axes do not broadcast: {x} @ {y} ({error.message})", 1) from None
    return TensorType((*lead, x.dims[-2], y.dims[-1]), x.dtype)


def is_quadratic(ins) -> bool:
    """Both operands are activations (carry `B`): data times data, an attention term."""
    return all(BATCH in t.dims for t in ins)


def roles(graph) -> dict[str, str]:
    """{node id: "q@k^T" or "attn@v"} for each matmul of two activations (an N² term), in graph order.

    A matmul is `attn@v` when its left operand is computed from a `q@k^T`'s scores: a walk back from
    it through ops whose tensors still hold both of its last two axes (softmax, scaling, masks, the
    head mixing of talking heads) reaches one. Otherwise it forms scores itself: `q@k^T`.
    """
    found: dict[str, str] = {}
    for node in graph.nodes.values():
        if node.op == "matmul" and node.cost.quadratic:
            found[node.id] = "attn@v" if _from_scores(graph, node.inputs[0], found) else "q@k^T"
    return found


def _from_scores(graph, value, found: dict[str, str], limit: int = 64) -> bool:
    """Whether `value` derives from a `q@k^T` in `found` along tensors holding its last two axes."""
    want = Counter(graph.type_of(value).dims[-2:])
    stack, seen = [value.node], set()
    while stack and len(seen) < limit:
        node = graph.nodes[stack.pop()]
        if node.id in seen:
            continue
        seen.add(node.id)
        if node.op == "matmul":  # the scores, or another product whose output is not a score tensor
            if found.get(node.id) == "q@k^T":
                return True
            continue
        for v in node.inputs:
            have = Counter(graph.type_of(v).dims)
            if all(have[d] >= n for d, n in want.items()):
                stack.append(v.node)
    return False


def _cost(ins, a, outs):
    k = int(ins[0].dims[-1])
    macs = outs[0].numel() * k
    return Cost(macs=macs, quadratic=is_quadratic(ins))


def _fvcore(ins, a, outs) -> int:
    """fvcore's matmul handle counts prod(left's shape) * m, not prod(output) * k: fewer when the left
    operand is the one broadcast (a correction of 0 otherwise)."""
    m, k = int(outs[0].dims[-1]), int(ins[0].dims[-1])
    return ins[0].numel() * m - outs[0].numel() * k


register(OpDef(
    name="matmul",
    inputs=("a", "b"),
    attrs={},
    infer=_infer,
    cost=_cost,
    emit=Emit(call=lambda a: f"{a.ins[0]} @ {a.ins[1]}"),
    summary="matrix product `a @ b` over the last two axes, leading axes broadcast (torch.matmul)",
    formulas={"shape": "[..., n, k] @ [..., k, m] -> [broadcast(...), n, m]", "params": "0",
              "flops": "2 * prod(leading) * n * k * m"},
    fvcore=_fvcore,
    memory=Memory("inputs", "both operands (each one's gradient is the other times the output's)"),
    written="a @ b",
    notes="Written `a @ b` (as tight as `*`) or `matmul(a, b)`. Both operands have rank 2 or more; "
          "the left's last axis must equal the right's second-to-last; the leading axes broadcast "
          "(the batch `B` only against 1 or `B`). A matmul of two activations (both carry `B`) is "
          "counted as an attention N² term: `q @ k^T` and `attn @ v` cost `Nq * Nk * d` each per "
          "head, so cross-attention shows `Nq * Nk`; a product with a learned tensor is a linear map. "
          "fvcore counts it as `aten::matmul`: prod(a's shape) * m, which is n*k*m per output matrix unless the "
          "left operand is the one broadcast. Generated code: `a @ b`.",
    example="attn = softmax(q * scale @ transpose(k, -2, -1))",
))  # fmt: skip
