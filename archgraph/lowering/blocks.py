"""Calling a block while lowering: bind its parameters, run its body in a new scope.

The scope's path is the caller's path plus the call's label (or the block's name), which
is the generated attribute and the state_dict prefix of everything inside.
"""

from __future__ import annotations

from archgraph import syntax as s
from archgraph.errors import ArchTypeError, Note, SpecError
from archgraph.ir import Scope
from archgraph.lowering import instances
from archgraph.lowering.values import MAX_BLOCK_DEPTH, Tensor, computed, scalars_of

TYPE_CHECKING = False  # typing's, without importing typing at start-up
if TYPE_CHECKING:
    from typing import Any

    from archgraph.lowering.interpreter import Lowering


def call_block(lw: Lowering, block: s.Block, e: s.Call, args: list, kwargs: dict, scope: Scope,
               caller_env: dict, label: str | None = None, path: str | None = None) -> Any:  # fmt: skip
    """Run `block` on bound arguments (evaluated in `caller_env`) in a child scope of `scope`;
    returns its value(s). A call like an earlier one (see `instances`) is a copy of that one."""
    if lw.depth >= MAX_BLOCK_DEPTH:
        raise ArchTypeError(f"blocks nest more than {MAX_BLOCK_DEPTH} deep; does `{block.name}` call itself?", e.span)
    given = dict(zip((p.name for p in block.params), args, strict=False))
    given.update(kwargs)
    label = label or e.label or lw.labels.unique(scope, block.name)
    lw.labels.use(scope, label, e)
    shared = path is not None  # a shared repeat's iterations: one module at the repeat's path
    path = path or (f"{scope.path}.{label}" if scope.path else label)
    same = instances.key(block, e, lw.depth, given) if instances.ENABLED else None
    if same is not None and same in lw.templates:
        if lw.sketch is not None and not shared:
            return instances.alias(lw, lw.templates[same], scope, path, given)
        return instances.instantiate(lw, lw.templates[same], scope, path, label, given)
    start = len(lw.nodes)
    child = lw.scope(scope, path, label, "block", block.name, e.span, block.doc)
    result = _run_block(lw, block, e, given, child, caller_env)
    if same is not None:
        template = instances.capture(lw, child, start, given, result)
        if template is not None:
            lw.templates[same] = template
    return result


def _run_block(lw: Lowering, block: s.Block, e: s.Call, given: dict, child: Scope, caller_env: dict) -> Any:
    """Bind the parameters and run the body in `child`; the returned value, or a tuple of them."""
    exprs = {p.name: a for p, a in zip(block.params, e.args, strict=False)} | {kw.name: kw.value for kw in e.kwargs}
    spans = {name: expr.span for name, expr in exprs.items()}
    lw.labels.reserve(child, block.body)
    lw.depth += 1
    try:
        try:
            env = lw.bind_params(block.params, given, e.span, f"block `{block.name}`", spans)
        except SpecError as error:
            for name, expr in exprs.items():  # the argument at fault: how it was computed
                if error.span == expr.span:
                    error.diagnostics[0].notes[:0] = computed(expr, given[name], caller_env)
            raise
        child.args = scalars_of(env)
        tensor_params = [p.name for p in block.params if isinstance(env[p.name], Tensor)]
        child.inputs = [env[n].value for n in tensor_params]
        child.input_names = tensor_params
        result = lw.run(block.body, env, child)
    except SpecError as error:
        error.diagnostics[0].notes.append(Note(f"in block `{block.name}`, called here", e.span))
        raise
    finally:
        lw.depth -= 1
    outputs = [lw.tensor(v, e.span, f"the value block `{block.name}` returns") for v in result]
    child.outputs = [t.value for t in outputs]
    return outputs[0] if len(outputs) == 1 else tuple(outputs)
