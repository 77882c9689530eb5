"""Training knobs in generated code: per-block schedules, and knobs left at 0 written out of the code.

A keyword of `blocks: repeat depth as i block(..., drop_path = linspace(0, rate, depth)[i])` that
reads the index becomes one list in the parent's `__init__`, as timm writes its stochastic depth
decay rule (`[x.item() for x in torch.linspace(0, rate, depth)]`), and each block takes its entry.
A rate no parameter of the class sets stays 0 and its dropout is the identity: `strip` removes it,
so a model without the knobs reads as before.
"""

from __future__ import annotations

import ast
import math
from typing import Any

from archgraph.codegen.fit import native
from archgraph.ir import Scope


def schedule_lines(child: Scope, iterations: list[Scope], params: list[str]) -> dict[str, str]:
    """Keyword -> `<kw>_schedule = [...]`, for each keyword of the repeat `child` that reads its index,
    is a parameter of the block's class (`params`), and takes evenly spaced floats over `iterations`."""
    out = {}
    for name in child.per_iteration:
        values = [native(it.args.get(name)) for it in iterations]
        if name not in params:
            continue
        start, stop, n, offset = (native(v) for v in child.schedules.get(name, (None,) * 4))
        if name in child.schedules and _on_linspace(values, start, stop, n, offset):  # a stage's slice (PVT v2)
            out[name] = f"{name}_schedule = [x.item() for x in torch.linspace({start!r}, {stop!r}, {n!r})[{offset!r}:]]"
        elif values and _on_linspace(values, values[0], values[-1], len(values), 0):
            out[name] = (f"{name}_schedule = [x.item() for x in torch.linspace({values[0]!r}, {values[-1]!r}, "
                         f"{len(values)})]")  # fmt: skip
    return out


def _on_linspace(values: list[Any], start: Any, stop: Any, n: Any, offset: Any) -> bool:
    """Whether `values` are floats equal to linspace(start, stop, n)[offset : offset + len(values)]."""
    if not all(type(v) is float for v in values) or type(n) is not int or type(offset) is not int:
        return False
    if not (n >= 1 and 0 <= offset <= n - len(values)):
        return False
    expected = [start + (stop - start) * (offset + k) / (n - 1) if n > 1 else start for k in range(len(values))]
    return all(math.isclose(v, e, rel_tol=1e-9, abs_tol=1e-12) for v, e in zip(values, expected, strict=True))


# the functions the knobs' generated code calls, defined in each file that uses them (helpers.HELPERS)
KNOB_HELPERS = {
    "drop_path": '''def drop_path(x: torch.Tensor, drop_prob: float, training: bool) -> torch.Tensor:
    """Stochastic depth: zero a sample's residual branch with probability drop_prob while
    training, the kept ones scaled by 1 / keep_prob (timm drop_path, scale_by_keep=True)."""
    if drop_prob == 0.0 or not training:
        return x
    keep_prob = 1 - drop_prob
    mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep_prob)
    return x * mask.div_(keep_prob) if keep_prob > 0.0 else x * mask
''',
    "resample_pos_embed": '''def resample_pos_embed(
    pos_embed: torch.Tensor, image_size: torch.Size, patch_size: int, num_prefix: int, dynamic: bool
) -> torch.Tensor:
    """The position embedding for an image of image_size: with `dynamic` (timm's dynamic_img_size)
    its grid part resampled to the image's patch grid, bicubic and antialiased in float32, the
    prefix tokens kept (timm resample_abs_pos_embed); else, and at the built size, as it is."""
    if not dynamic:
        return pos_embed
    old = round((pos_embed.shape[1] - num_prefix) ** 0.5)
    new = [n // patch_size for n in image_size]
    if new == [old, old]:
        return pos_embed
    grid = pos_embed[:, num_prefix:].float().reshape(1, old, old, -1).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=new, mode="bicubic", antialias=True)
    grid = grid.permute(0, 2, 3, 1).reshape(1, -1, pos_embed.shape[-1]).to(pos_embed.dtype)
    return torch.cat([pos_embed[:, :num_prefix], grid], dim=1)
''',
}

_IDENTITY_AT_ZERO = {"F.dropout", "drop_path"}  # (x, p, training): x when p is 0


def strip(tree: ast.AST) -> ast.AST:
    """`tree` without the knobs that stayed at a literal 0: `F.dropout(x, 0.0, self.training)` and
    `drop_path(x, 0.0, self.training)` become `x`, SDPA's `dropout_p=0.0 if self.training else 0.0` goes."""

    class Strip(ast.NodeTransformer):
        def visit_Call(self, node: ast.Call) -> ast.AST:
            self.generic_visit(node)
            if ast.unparse(node.func) in _IDENTITY_AT_ZERO and len(node.args) == 3 and _zero(node.args[1]):
                return node.args[0]
            node.keywords = [kw for kw in node.keywords if not (kw.arg == "dropout_p" and _zero_ternary(kw.value))]
            return node

    return Strip().visit(tree)


def _zero(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) in (int, float) and node.value == 0


def _zero_ternary(node: ast.AST) -> bool:
    return isinstance(node, ast.IfExp) and _zero(node.body) and _zero(node.orelse)


def used_helpers(helpers: list[str], trees: list[ast.AST]) -> list[str]:
    """The helpers (`drop_path`, `lecun_normal_`) some tree still names, once knobs are stripped."""
    names = {n.id for tree in trees for n in ast.walk(tree) if isinstance(n, ast.Name)}
    return [h for h in helpers if h in names]
