"""Memory from the graph: parameter bytes per dtype, peak inference activations, and what a
training step keeps for backward, at batch B. No tensor is allocated.

Assumptions (also returned in `memory_data(...)["assumptions"]`):
- Activations take the dtype's bytes per element (f32 4 unless asked), token ids (i64) 8 and
  masks (bool) 1; parameters and buffers are not activations. Views (the ops whose `memory`
  rule says so: `split_heads`, `to_tokens`, `transpose`, `index`, `expand_batch`, and
  `merge_heads`, since fused SDPA kernels lay their output out as [B, N, h, d]) share their
  input's storage; every other op writes a new tensor; nothing runs in place.
- Inference peak: eager PyTorch under `torch.no_grad()` running the generated code: a tensor
  is freed after its last reader, except that a block's arguments live until the block
  returns (the calling Python frame holds them), a spec variable's value lives until the
  variable is rebound or its block returns (generated code keeps the spec's names; a repeat
  is a loop `x = block(x)`), and the model's input and outputs live throughout; the peak is
  the largest total of live tensors at any op. Temporaries inside an op (a padded copy, a
  standardised weight) are not modelled. Attention
  runs as a fused kernel that keeps no N x N matrix; the math path would add the scores
  (B * h * Nq * Nk elements, twice while softmax runs) at the peak: `attention_matrix_bytes`.
- Training: autograd keeps, per op, what its backward reads (linear/conv: the input;
  layer norm: the input and a mean and rstd per row in f32; group norm: the input and a
  mean and rstd per sample and group; GELU/ReLU: the input; softmax: the output; fused
  SDPA: q, k, v, the output and a f32 logsumexp per query; elementwise multiply: its
  tensor operands; adds, concat, reshapes: nothing), counted once per storage: each op's
  `memory` rule in the registry (archgraph.ops), which also says whether it is a view.
  A weight-standardised conv also keeps the
  standardised weight and its batch norm's mean and inverse std per output channel, and,
  where it pads in forward (TF "same" with a stride or an even kernel), the padded copy
  of its input instead of the input; a max pool keeps int64 indices, and the padded copy
  of its input where "same" pads it. Statistics other than layer norm's take the
  activations' dtype. A step adds weights, gradients (weights' dtype) and AdamW's two f32
  moments per parameter. Allocator caching, workspace and the gradients of activations in
  flight are not included.
"""

from __future__ import annotations

import weakref

from archgraph.cost import totals
from archgraph.ir import Graph, Node, Scope, Value
from archgraph.ops import REGISTRY, Memory

BYTES = {"f64": 8, "f32": 4, "tf32": 4, "bf16": 2, "f16": 2, "fp8": 1, "int8": 1}
PARAM_DTYPES = ("f32", "bf16", "f16", "int8")
FIXED_BYTES = {"i64": 8, "bool": 1}  # inputs that are not activations: token ids and masks
# the graph's own input node is no op of the registry: it is a leaf, and not a view
INPUT = Memory("nothing", "the model's input: a leaf")


def rule(op: str) -> Memory:
    """The registry's memory rule for `op` (every registered op has one: tests/test_registry.py)."""
    if op == "input":
        return INPUT
    memory = REGISTRY[op].memory
    if memory is None:
        raise KeyError(f"op `{op}` has no memory rule")
    return memory


def _base(graph: Graph, value: Value) -> Value:
    """The value whose storage `value` shares (itself unless it is a view)."""
    return _views(graph).get(value.node, value)


_VIEWS: list[tuple[weakref.ref, int, dict[str, Value]]] = []  # the last few graphs' views


def _views(graph: Graph) -> dict[str, Value]:
    """{id of a view node: the value whose storage it shares}, in one pass over the nodes in order
    (kept for the last few graphs, as cost.by_scope)."""
    for ref, size, views in _VIEWS:
        if ref() is graph and size == len(graph.nodes):
            return views
    views: dict[str, Value] = {}
    for node in graph.nodes.values():
        if rule(node.op).view and node.inputs:
            views[node.id] = views.get(node.inputs[0].node, node.inputs[0])
    _VIEWS[:] = [(weakref.ref(graph), len(graph.nodes), views), *_VIEWS[:3]]
    return views


def _is_parameter(graph: Graph, value: Value) -> bool:
    """A parameter or a constant buffer (`sine_position`): held by the module, not an activation."""
    op = graph.nodes[value.node].op
    return op == "parameter" or (op != "input" and REGISTRY[op].buffer)


def _bytes(graph: Graph, value: Value, batch: int, nbytes: int) -> int:
    """`value`'s bytes at `batch`: `nbytes` an element for a float activation, its own size for token
    ids (i64) and masks (bool), whatever the activation dtype."""
    t = graph.type_of(value)
    return t.numel(batch) * FIXED_BYTES.get(t.dtype, nbytes)


def _last_uses(graph: Graph, order: list[Node]) -> dict[Value, int]:
    """The index of the last op that keeps each storage alive: its last reader, the end of every
    block it is an argument of (the calling Python frame holds a module's arguments until it
    returns), and the end of the forward for the model's inputs and outputs."""
    last: dict[Value, int] = {}
    for i, node in enumerate(order):
        for v in node.inputs:
            last[_base(graph, v)] = i
    index = {node.id: i for i, node in enumerate(order)}
    end = _ends(graph.root, index, {})  # by scope, not path: the calls of a shared module share a path
    # generated code loops over a repeat's blocks, `x = block(x)`: the variable is rebound after the first
    bound = {v: end.get(id(r.items[0]), len(order)) for r in graph.root.walk() if r.kind == "repeat" and r.items
             and isinstance(r.items[0], Scope) for v in r.outputs}  # fmt: skip
    for scope in graph.root.walk():
        if scope.kind == "repeat":  # only each block holds its input
            continue
        stop = end.get(id(scope), len(order)) if scope.path else len(order)
        held = [(v, stop) for v in scope.inputs] + _bindings(scope, index, stop, bound)
        for v, until in held:
            base = _base(graph, v)
            last[base] = max(last.get(base, 0), until)
    for v in graph.outputs:
        last[_base(graph, v)] = len(order)
    return last


def _ends(scope: Scope, index: dict[str, int], ends: dict[int, int]) -> dict[int, int]:
    """{id(scope): the index of its last op} for `scope` and every scope inside it (absent: no ops)."""
    last = [index[item] for item in scope.items if isinstance(item, str) and item in index]
    for item in scope.items:
        if isinstance(item, Scope) and id(item) in _ends(item, index, ends):
            last.append(ends[id(item)])
    if last:
        ends[id(scope)] = max(last)
    return ends


def _bindings(scope: Scope, index: dict[str, int], stop: int, bound: dict[Value, int]) -> list[tuple[Value, int]]:
    """(value, until): a spec variable keeps its value until the op that rebinds it, or the block's end
    (generated code keeps the spec's variable names, so Python holds the value that long)."""
    by_name: dict[str, list[Value]] = {}
    for value in sorted(scope.names, key=lambda v: (index[v.node], v.index)):
        by_name.setdefault(scope.names[value], []).append(value)
    held = []
    for values in by_name.values():
        for value, rebound in zip(values, [*values[1:], None], strict=True):
            held.append((value, stop if rebound is None else bound.get(rebound, index[rebound.node])))
    return held


def inference_peak(graph: Graph, batch: int, nbytes: int) -> tuple[int, str]:
    """(peak live activation bytes, the op at which it occurs)."""
    order = list(graph.nodes.values())
    last = _last_uses(graph, order)
    freed: dict[int, int] = {}  # op index -> bytes freed after it (each value after its last use)
    total, peak, where = 0, 0, ""
    for i, node in enumerate(order):
        if not rule(node.op).view and not _is_parameter(graph, Value(node.id)):
            for k in range(len(node.outs)):
                value = Value(node.id, k)
                size = _bytes(graph, value, batch, nbytes)
                total += size
                free = max(i, last.get(value, i))
                freed[free] = freed.get(free, 0) + size
        if total > peak:
            peak, where = total, node.path
        total -= freed.pop(i, 0)
    return peak, where


def _saved(graph: Graph, node: Node, batch: int, nbytes: int) -> tuple[list[Value], int]:
    """What autograd keeps for `node`'s backward (its op's `Memory` rule): storages, and extra bytes
    (statistics, copies made inside the op) for activations of `nbytes` bytes an element."""
    memory = rule(node.op)
    types = [graph.type_of(v) for v in node.inputs]
    keeps = memory.keeps if isinstance(memory.keeps, str) else memory.keeps(types, node.attrs)
    ins = [v for v in node.inputs if not _is_parameter(graph, v)]
    outs = [Value(node.id, k) for k in range(len(node.outs))]
    values = {"nothing": [], "input": ins[:1], "inputs": ins, "output": outs, "inputs+outputs": [*ins, *outs]}[keeps]
    return values, memory.extra(types, node.attrs, node.outs, batch, nbytes) if memory.extra else 0


def training_saved(graph: Graph, batch: int, nbytes: int) -> int:
    """Bytes autograd keeps for backward during one forward pass (see the module docstring)."""
    storages: set[Value] = set()
    extra = 0
    for node in graph.nodes.values():
        values, more = _saved(graph, node, batch, nbytes)
        storages.update(_base(graph, v) for v in values)
        extra += more
    return sum(_bytes(graph, v, batch, nbytes) for v in storages if not _is_parameter(graph, v)) + extra


def attention_matrix_bytes(graph: Graph, batch: int, nbytes: int) -> int:
    """The largest N x N score matrix the math SDPA path would hold (scores and softmax: 2 of them)."""
    sizes = [2 * graph.type_of(n.inputs[0]).numel(batch) // int(graph.type_of(n.inputs[0]).dims[-1])
             * int(graph.type_of(n.inputs[1]).dims[2]) for n in graph.nodes.values() if n.op == "sdpa"]  # fmt: skip
    return max(sizes, default=0) * nbytes


def memory_data(graph: Graph, batch: int = 1, dtype: str = "f32") -> dict:
    """Parameter bytes per dtype; inference peak and training-step bytes at `batch` in `dtype`."""
    params = totals(graph).params
    nbytes = BYTES[dtype]
    peak, where = inference_peak(graph, batch, nbytes)
    saved = training_saved(graph, batch, nbytes)
    weights = params * nbytes
    return {
        "batch": batch,
        "dtype": dtype,
        "param_bytes": {d: params * BYTES[d] for d in PARAM_DTYPES},
        "buffers": {n.path: n.out.numel() for n in graph.nodes.values() if n.op != "input" and REGISTRY[n.op].buffer},
        "inference_activation_peak_bytes": peak,
        "inference_peak_at": where,
        "attention_matrix_bytes": attention_matrix_bytes(graph, batch, nbytes),
        "training_saved_activation_bytes": saved,
        "training_step_bytes": weights * 2 + params * 8 + saved,
        "training_step_parts": {
            "weights": weights,
            "gradients": weights,
            "adamw_moments": params * 8,
            "saved_activations": saved,
        },
        "assumptions": ASSUMPTIONS,
    }


ASSUMPTIONS = [
    "activations in the stated dtype (token ids 8 bytes, masks 1); views (including merge_heads after fused SDPA) share storage; nothing in place",
    "inference: eager PyTorch under no_grad; a tensor is freed after its last reader, a block's arguments when "
    "the block returns, a variable's value when it is rebound, the input and outputs at the end; fused attention (no N x N matrix; the math SDPA path "
    "adds attention_matrix_bytes); temporaries inside an op not modelled",
    "training: what each op's backward reads (linear/conv: input; layer norm: input + f32 mean/rstd; "
    "group norm: input + mean/rstd per sample and group; GELU: input; softmax: output; fused SDPA: q, k, v, "
    "output, f32 logsumexp; weight-standardised conv: also the standardised weight, its mean/inverse std and any "
    "padded copy of the input), once per storage",
    "training step = weights + gradients (same dtype) + AdamW's two f32 moments + saved activations; "
    "allocator cache, workspaces and in-flight activation gradients not included",
]
