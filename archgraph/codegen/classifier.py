"""timm's classifier API on a generated model: `forward_features`, `forward_head(x, pre_logits)`,
`reset_classifier`, `no_weight_decay`, `num_classes`, `num_features`.

A model is a classifier when its one output is a model-level `linear` (the head) on a pooled
[B, C]. The features are the last value of rank 3 or more on the way back from the head (the
final norm's tokens, a backbone's map), as timm's `forward_features` returns them.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from archgraph.codegen.forward import Stmt, render
from archgraph.ir import Graph, Node, Value

_VIEWS = ("to_tokens", "index")  # pooling's own steps: features end before them


@dataclass
class Classifier:
    argument: str  # the model input's name: `x`, `ids`
    features: tuple[list[str], str]  # forward_features: lines, returned expression
    pre_logits: tuple[list[str], str]  # forward_head up to the head(s): lines, returned expression(s)
    heads: tuple[str, ...]  # `self.head`; a distilled model's two, averaged: `self.head`, `self.head_dist`
    num_classes: int
    num_features: int
    no_weight_decay: list[str]


def classifier(graph: Graph, stmts: list[Stmt], inputs: list[tuple[Value, str]], attrs: dict) -> Classifier | None:
    """The split of a model's forward into features and head, or None for a model that is no classifier.
    `attrs` maps node ids to the attribute (`self.head`) of their layer."""
    split = _split(graph)
    if split is None or len(inputs) != 1:
        return None
    features, heads, chain, combined = split
    late = {Value(n, 0) for n in [*chain, *combined]} | {Value(h.id, 0) for h in heads}
    own = {h.id for h in heads} | set(combined)  # the heads, and what averages two
    before = [st for st in stmts if not set(st.defs) & late]
    after = [st for st in stmts if set(st.defs) & late and not {d.node for d in st.defs} & own]
    if len(before) + len(after) + len(own) != len(stmts):
        return None
    params = [attrs[n.id].removeprefix("self.") for n in graph.nodes.values()
              if n.op == "parameter" and n.scope == "" and n.id in attrs]  # fmt: skip
    return Classifier(
        inputs[0][1],
        render(before, inputs, [features]),
        render(after, [(features, "x")], [h.inputs[0] for h in heads]),
        tuple(attrs[h.id] for h in heads),
        heads[0].out.dims[-1],
        graph.type_of(heads[0].inputs[0]).dims[-1],
        sorted(params),
    )


def _split(graph: Graph) -> tuple[Value, list[Node], list[str], list[str]] | None:
    """(features, the head nodes, ids of the pooling nodes between them, ids of what averages two heads)
    for a classifier: one model-level `linear` on pooled features, or two averaged (DeiT's distillation
    head, `(head(x[:, 0]) + head_dist(x[:, 1])) / 2`, timm's VisionTransformerDistilled)."""
    if len(graph.outputs) != 1:
        return None
    out = graph.nodes[graph.outputs[0].node]
    heads, combined = [out], []
    if out.op == "div" and out.scope == "" and out.attrs.get("scalar") == 2 and not out.attrs.get("scalar_first"):
        total = graph.nodes[out.inputs[0].node]
        if total.op != "add" or total.scope != "" or total.attrs.get("scalar") is not None or len(total.inputs) != 2:
            return None
        heads, combined = [graph.nodes[v.node] for v in total.inputs], [total.id, out.id]
    found = [_features(graph, head) for head in heads]
    if None in found or len({f[0] for f in found}) != 1:
        return None
    return found[0][0], heads, [n for f in found for n in f[1]], combined


def _features(graph: Graph, head: Node) -> tuple[Value, list[str]] | None:
    """The features a model-level head reads and the ids of the pooling nodes between them, or None."""
    if head.op != "linear" or head.scope != "" or head.out.rank != 2:
        return None
    v, chain = head.inputs[0], []
    while True:
        node = graph.nodes[v.node]
        if graph.type_of(v).rank >= 3 and (node.scope != "" or node.op not in _VIEWS):
            return v, chain
        if node.scope != "" or len(node.inputs) != 1 or v.index:
            return None
        chain.append(node.id)
        v = node.inputs[0]


def methods(c: Classifier) -> list[str]:
    """The methods' source lines (class-body indentation), the model's `forward` last."""
    (f_lines, f_ret), (p_lines, p_ret) = c.features, c.pre_logits
    if len(c.heads) == 1:
        pre = [*p_lines, *([] if p_ret == "x" else [f"x = {p_ret}"])]
        logits = [f"        return x if pre_logits else {c.heads[0]}(x)"]
    else:  # two heads on two tokens, averaged (timm's VisionTransformerDistilled.forward_head)
        pre, logits = _two_heads(c.heads, p_lines, p_ret)
    return [
        f"    def forward_features(self, {c.argument}: torch.Tensor) -> torch.Tensor:",
        *_body(f_lines),
        f"        return {f_ret}",
        "    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:",
        *_body(pre),
        *logits,
        *_head_methods(c.heads),
        "    def set_grad_checkpointing(self, enable: bool = True) -> None:",
        '        """Recompute repeated blocks\' activations in backward while training (or not), as timm\'s."""',
        "        for module in self.modules():",
        "            if hasattr(module, 'grad_checkpointing'):",
        "                module.grad_checkpointing = enable",
        "    def no_weight_decay(self) -> set[str]:",
        '        """The position embeddings and tokens, which timm\'s optimizers exempt from weight decay."""',
        f"        return {{{', '.join(repr(p) for p in c.no_weight_decay)}}}" if c.no_weight_decay else
        "        return set()",
        f"    def forward(self, {c.argument}: torch.Tensor) -> torch.Tensor:",
        f"        return self.forward_head(self.forward_features({c.argument}))",
    ]  # fmt: skip


def _head_methods(heads: tuple[str, ...]) -> list[str]:
    """`get_classifier` and `reset_classifier` of a model with one head, or two (a distilled model)."""
    one = len(heads) == 1
    return [
        f"    def get_classifier(self) -> {'nn.Module' if one else 'tuple[nn.Module, nn.Module]'}:",
        '        """The head, as timm\'s."""' if one else '        """The heads, as timm\'s (a distilled model\'s two)."""',
        f"        return {', '.join(heads)}",
        "    def reset_classifier(self, num_classes: int) -> None:",
        f'        """{"A new head" if one else "New heads"} for `num_classes` classes (none when 0), as timm\'s."""',
        "        self.num_classes = num_classes",
        "        weight = next(self.parameters(), None)  # not the head's: it may be nn.Identity",
        "        dd = {} if weight is None else {'device': weight.device, 'dtype': weight.dtype}",
        *(f"        {head} = nn.Identity()" for head in heads),
        "        if num_classes > 0:",
        *(f"            {head} = nn.Linear(self.num_features, num_classes, **dd)" for head in heads),
    ]  # fmt: skip


def _two_heads(heads: tuple[str, ...], lines: list[str], tokens: str) -> tuple[list[str], list[str]]:
    """forward_head's lines for two heads averaged, up to them and from them: each head's token named
    (`x_cls`, `x_dist`; the first computed first, as the spec orders its dropout), or both unpacked
    at once where those names are taken."""
    first, second = (ast.unparse(e) for e in _parsed(tokens).elts)
    taken = {n.id for n in ast.walk(ast.parse("\n".join(lines))) if isinstance(n, ast.Name)}
    name = first if first.isidentifier() else "x_cls"
    if "x_dist" in taken or (name != first and name in taken):
        name, pre = "x", [*lines, f"x, x_dist = {first}, {second}"]
    else:
        pre = [*lines, *([] if name == first else [f"{name} = {first}"]), f"x_dist = {second}"]
    logits = ["        if pre_logits:", f"            return ({name} + x_dist) / 2",
              f"        return ({heads[0]}({name}) + {heads[1]}(x_dist)) / 2"]  # fmt: skip
    return pre, logits


def _body(lines: list[str]) -> list[str]:
    return ["        " + part for line in lines for part in line.split("\n")]


def optional_head(tree: ast.ClassDef) -> None:
    """In a classifier's class (one with `reset_classifier`) whose head width is an argument: each head
    built only for a positive width, else `nn.Identity()`, and initialised only when built, as timm's
    `nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()`. In place."""
    methods = {f.name: f for f in tree.body if isinstance(f, ast.FunctionDef)}
    if "reset_classifier" not in methods:
        return
    heads = [ast.unparse(st.targets[0]) for st in methods["reset_classifier"].body
             if isinstance(st, ast.Assign) and ast.unparse(st.value) == "nn.Identity()"]  # fmt: skip
    for head in heads:
        if _optional(methods["__init__"], head) and "init_weights" in methods:
            _initialised_if_built(methods["init_weights"], head)


def _optional(init: ast.FunctionDef, head: str) -> bool:
    """`head = nn.Linear(d, n)` in `init` made `... if n > 0 else nn.Identity()`; False where `n` is a literal
    (the file fixes the number of classes) or there is no such line."""
    for st in init.body:
        made = st.value if isinstance(st, ast.Assign) and ast.unparse(st.targets[0]) == head else None
        if isinstance(made, ast.Call) and ast.unparse(made.func) == "nn.Linear" and len(made.args) == 2:
            width = made.args[1]
            if isinstance(width, ast.Constant):
                return False
            st.value = ast.IfExp(ast.Compare(width, [ast.Gt()], [ast.Constant(0)]), made, _parsed("nn.Identity()"))
            return True
    return False


def _initialised_if_built(weights: ast.FunctionDef, head: str) -> None:
    """The statements of `init_weights` that touch `head` put under `if isinstance(head, nn.Linear):`."""
    touches = [st for st in weights.body if f"{head}." in ast.unparse(st)]
    if touches:
        at = weights.body.index(touches[0])
        weights.body = [st for st in weights.body if st not in touches]
        weights.body.insert(at, ast.If(_parsed(f"isinstance({head}, nn.Linear)"), touches, []))


def _parsed(expression: str) -> ast.expr:
    return ast.parse(expression, mode="eval").body
