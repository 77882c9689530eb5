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
    pre_logits: tuple[list[str], str]  # forward_head up to the head: lines, returned expression
    head: str  # `self.head`
    num_classes: int
    num_features: int
    no_weight_decay: list[str]


def classifier(graph: Graph, stmts: list[Stmt], inputs: list[tuple[Value, str]], attrs: dict) -> Classifier | None:
    """The split of a model's forward into features and head, or None for a model that is no classifier.
    `attrs` maps node ids to the attribute (`self.head`) of their layer."""
    split = _split(graph)
    if split is None or len(inputs) != 1:
        return None
    features, head, chain = split
    late = {Value(n, 0) for n in chain} | {Value(head.id, 0)}
    before = [st for st in stmts if not set(st.defs) & late]
    after = [st for st in stmts if set(st.defs) & late and head.id not in {d.node for d in st.defs}]
    if len(before) + len(after) + 1 != len(stmts):
        return None
    params = [attrs[n.id].removeprefix("self.") for n in graph.nodes.values()
              if n.op == "parameter" and n.scope == "" and n.id in attrs]  # fmt: skip
    return Classifier(
        inputs[0][1],
        render(before, inputs, [features]),
        render(after, [(features, "x")], [head.inputs[0]]),
        attrs[head.id],
        head.out.dims[-1],
        graph.type_of(head.inputs[0]).dims[-1],
        sorted(params),
    )


def _split(graph: Graph) -> tuple[Value, Node, list[str]] | None:
    """(features, head node, ids of the nodes between them) for a classifier."""
    if len(graph.outputs) != 1:
        return None
    head = graph.nodes[graph.outputs[0].node]
    if head.op != "linear" or head.scope != "" or head.out.rank != 2:
        return None
    v, chain = head.inputs[0], []
    while True:
        node = graph.nodes[v.node]
        if graph.type_of(v).rank >= 3 and (node.scope != "" or node.op not in _VIEWS):
            return v, head, chain
        if node.scope != "" or len(node.inputs) != 1 or v.index:
            return None
        chain.append(node.id)
        v = node.inputs[0]


def methods(c: Classifier) -> list[str]:
    """The methods' source lines (class-body indentation), the model's `forward` last."""
    (f_lines, f_ret), (p_lines, p_ret) = c.features, c.pre_logits
    pre = [*p_lines, *([] if p_ret == "x" else [f"x = {p_ret}"])]
    return [
        f"    def forward_features(self, {c.argument}: torch.Tensor) -> torch.Tensor:",
        *_body(f_lines),
        f"        return {f_ret}",
        "    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:",
        *_body(pre),
        f"        return x if pre_logits else {c.head}(x)",
        "    def reset_classifier(self, num_classes: int) -> None:",
        '        """A new head for `num_classes` classes (none when 0), as timm\'s."""',
        "        self.num_classes = num_classes",
        "        weight = next(self.parameters(), None)  # not the head's: it may be nn.Identity",
        "        dd = {} if weight is None else {'device': weight.device, 'dtype': weight.dtype}",
        f"        {c.head} = nn.Identity()",
        "        if num_classes > 0:",
        f"            {c.head} = nn.Linear(self.num_features, num_classes, **dd)",
        "    def no_weight_decay(self) -> set[str]:",
        '        """The position embeddings and tokens, which timm\'s optimizers exempt from weight decay."""',
        f"        return {{{', '.join(repr(p) for p in c.no_weight_decay)}}}" if c.no_weight_decay else
        "        return set()",
        f"    def forward(self, {c.argument}: torch.Tensor) -> torch.Tensor:",
        f"        return self.forward_head(self.forward_features({c.argument}))",
    ]  # fmt: skip


def _body(lines: list[str]) -> list[str]:
    return ["        " + part for line in lines for part in line.split("\n")]


def optional_head(tree: ast.ClassDef) -> None:
    """In a classifier's class (one with `reset_classifier`) whose head width is an argument: the head
    built only for a positive width, else `nn.Identity()`, and initialised only when built, as timm's
    `nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()`. In place."""
    methods = {f.name: f for f in tree.body if isinstance(f, ast.FunctionDef)}
    if "reset_classifier" not in methods:
        return
    head = next(ast.unparse(st.targets[0]) for st in methods["reset_classifier"].body
                if isinstance(st, ast.Assign) and ast.unparse(st.value) == "nn.Identity()")  # fmt: skip
    for st in methods["__init__"].body:
        made = st.value if isinstance(st, ast.Assign) and ast.unparse(st.targets[0]) == head else None
        if isinstance(made, ast.Call) and ast.unparse(made.func) == "nn.Linear" and len(made.args) == 2:
            width = made.args[1]
            if isinstance(width, ast.Constant):
                return  # the file fixes the number of classes
            st.value = ast.IfExp(ast.Compare(width, [ast.Gt()], [ast.Constant(0)]), made, _parsed("nn.Identity()"))
            break
    else:
        return
    weights = methods.get("init_weights")
    if weights is None:
        return
    touches = [st for st in weights.body if f"{head}." in ast.unparse(st)]
    if touches:
        at = weights.body.index(touches[0])
        weights.body = [st for st in weights.body if st not in touches]
        weights.body.insert(at, ast.If(_parsed(f"isinstance({head}, nn.Linear)"), touches, []))


def _parsed(expression: str) -> ast.expr:
    return ast.parse(expression, mode="eval").body
