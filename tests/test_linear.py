"""Analysis is linear in the model's size: the operation count (not the wall time) of check, lower
and report, on generated specs at a size and at twice that size.

The count is the number of Python line events (sys.settrace) the pass executes: a machine-
independent measure that a quadratic loop (a scan of every node per report row, a chain
searched once per variant, a subtree re-walked at every nesting level) makes grow with the
square of the size. A linear pass at twice the size costs at most about twice as much.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archgraph.api import analyze
from archgraph.check import check
from archgraph.loader import load
from archgraph.lower import lower

RATIO = 2.2  # growth from 2n to 4n over growth from n to 2n: 2 when linear, 4 when quadratic


def linear(count: Callable[[int], int], n: int, ratio: float = RATIO) -> tuple[bool, list[int]]:
    """Whether `count` grows linearly from `n` to `4 n`: what doubling the size adds the second time
    is at most RATIO times what it added the first (a fixed start-up cost cancels out; a first run
    at `n` pays for what runs once per process, such as lazy imports and the parser's tables)."""
    count(n)
    counts = [count(n), count(2 * n), count(4 * n)]
    return counts[2] - counts[1] <= ratio * (counts[1] - counts[0]), counts


def operations(run: Callable[[], object]) -> int:
    """How many Python lines `run()` executes (its callees' included)."""
    count = 0

    def trace(frame, event, arg):
        nonlocal count
        count += 1
        return trace

    previous = sys.gettrace()
    sys.settrace(trace)
    try:
        run()
    finally:
        sys.settrace(previous)
    return count


def _write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    return path


def _deep_spec(layers: int, width: int, heads: int) -> str:
    """A ViT-like model whose depth is a parameter: `layers` linear+gelu pairs per block, and attention."""
    body = "\n".join(f"    h = fc{i}: linear(gelu(h), {width})" for i in range(layers))
    return f"""
block layer(x: [B, N, dim], heads: int) {{
    h = norm: layer_norm(x)
    q, k, v = split_heads(qkv: linear(h, 3 * dim), heads, parts = 3)
    h = merge_heads(sdpa(q, k, v))
{body}
    return x + h
}}

model deep(depth: int = 4, img_size: int = 32, patch_size: int = 8) {{
    input image: [B, 3, img_size, img_size]
    x = to_tokens(stem: conv2d(image, {width}, patch_size, stride = patch_size))
    x = blocks: repeat depth layer(x, {heads})
    return head: linear(x, 10)
}}
"""


def _report_ops(path, depth: int | None) -> int:
    overrides = {} if depth is None else {"depth": depth}
    return operations(lambda: analyze(path, overrides=overrides, closed_form=True))


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(layers=st.integers(1, 3), heads=st.sampled_from([1, 2, 4]), depth=st.integers(12, 20))
def test_report_is_linear_in_depth(tmp_path, layers, heads, depth):
    """Report (rows per block, per op, every node, token dependence, closed form) at depth d and 2d."""
    path = _write(tmp_path, "deep.arch", _deep_spec(layers, 8 * heads, heads))
    ok, counts = linear(lambda n: _report_ops(path, n), depth)
    assert ok, counts


def _chain_spec(variants: int) -> str:
    lines = ["block b(x: tensor, k: int = 1) {\n    return fc: linear(x, k)\n}",
             "model v0(k: int = 1) {\n    input x: [B, 4]\n    return b(x, k = k)\n}"]  # fmt: skip
    lines += [f"model v{i} = v{i - 1}(k = {i})" for i in range(1, variants)]
    return "\n".join(lines) + "\n"


def _check_ops(path) -> int:
    """What `archgraph check` does: check the program, then lower every model it defines."""

    def run():
        program = load(path)
        check(program)
        for name in program.models:
            lower(program, name)

    return operations(run)


def test_a_chain_of_variants_is_checked_in_linear_time(tmp_path):
    """`model v{i} = v{i-1}(k = i)`: each variant is resolved once, not once per model that follows it."""
    ok, counts = linear(lambda n: _check_ops(_write(tmp_path, f"v{n}.arch", _chain_spec(n))), 60)
    assert ok, counts


def _nested_spec(levels: int) -> str:
    """Group repeats nested `levels` deep inside one block, each level adding a layer and reading
    a tensor from outside every repeat (so each iteration has a free input to find)."""
    text = "        x = linear(x + y, 8)\n"
    for level in reversed(range(levels)):
        pad = "    " * (level + 2)
        inner = "\n".join("    " + line if line else line for line in text.splitlines())
        text = f"{pad[:-4]}r{level}: repeat 1 as i{level} {{\n{pad}x = fc: linear(x, 8)\n{inner}\n{pad[:-4]}}}\n"
    return f"""
block nest(x: [B, 8]) {{
    y = x
{text}    return x
}}

model nested() {{
    input x: [B, 8]
    return nest(x)
}}
"""


def test_nested_group_repeats_are_not_cubic_in_their_nesting(tmp_path):
    """Free inputs of nested iterations come from each scope's own list, not a re-walk of every
    subtree at every level. Each level also lengthens every path below it and adds names in scope,
    so the floor here lies between linear and quadratic (ratio 2 to 4); the re-walk was cubic (~6)."""

    def count(n: int) -> int:
        program = load(_write(tmp_path, f"n{n}.arch", _nested_spec(n)))
        return operations(lambda: lower(program, "nested"))

    ok, counts = linear(count, 10, ratio=4.0)
    assert ok, counts


def test_report_rows_per_block_are_one_pass(tmp_path):
    """Rows per block of a 16-, 32- and 64-deep repeat: each block's totals are not a scan of every node."""
    path = _write(tmp_path, "deep.arch", _deep_spec(1, 8, 1))
    ok, counts = linear(lambda n: _report_ops(path, n), 32)
    assert ok, counts


def test_a_file_imported_by_many_specs_is_parsed_once(tmp_path):
    """The second load of a spec reuses every file's tree (same name and text): no parsing."""
    load(_write(tmp_path, "warm.arch", _chain_spec(2)))  # the parser's tables, once per process
    path = _write(tmp_path, "deep.arch", _deep_spec(1, 8, 1))
    first = operations(lambda: load(path))
    again = operations(lambda: load(path))
    assert load(path).definitions["layer"] is load(path).definitions["layer"]
    assert again < first / 5, (first, again)
    path.write_text(path.read_text() + "\n# changed\n")
    assert operations(lambda: load(path)) > first / 2  # new text: parsed again


def test_optional_layers_are_matched_in_linear_time():
    """The code generator's match of a block's two shapes (one with optional layers, `codegen/optional.py`)
    on forwards of n steps, n of them optional: linear in n (each optional step once read, not the whole
    method again: a Swin stage written with 145 window calls took 46 s to compile)."""
    import ast

    from archgraph.codegen.optional import _pairs

    def forwards(n: int) -> tuple[ast.FunctionDef, ast.FunctionDef]:
        full, lesser = ["def forward(self, x):", "    h = x"], ["def forward(self, x):", "    h = x"]
        for k in range(n):
            full += [f"    h{k} = self.a{k}(h)", f"    h{k} = self.e{k}(h{k})", f"    h = h{k}"]
            lesser += [f"    h{k} = self.a{k}(h)", f"    h = h{k}"]
        return ast.parse("\n".join([*full, "    return h"])).body[0], ast.parse(
            "\n".join([*lesser, "    return h"])
        ).body[0]

    def count(n: int) -> int:
        full, lesser = forwards(n)
        extra = [f"e{k}" for k in range(n)]
        pairs = []
        ops = operations(lambda: pairs.append(_pairs(full, extra, lesser)))
        assert pairs[0] is not None and len(pairs[0]) == len(lesser.body)
        return ops

    ok, counts = linear(count, 40)
    assert ok, counts
