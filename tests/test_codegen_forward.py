"""The forward body as syntax trees (`archgraph.codegen.forward`): inlining, precedence, names, loops.

Each expected line is Python written by hand for the statements given; precedence cases are the
ones the former string substitution got wrong or needed an `atomic` flag for.
"""

from __future__ import annotations

import ast

from archgraph.codegen.forward import Stmt, expression, hole, render, statements, target
from archgraph.ir import TensorType, Value

X, Y, Z = Value("x"), Value("y"), Value("z")
INPUTS = [(X, "x"), (Y, "y"), (Z, "z")]


def node(name: str, code: str, uses: list[Value], named: str = "", pure: bool = False) -> Stmt:
    """A one-output statement `name = code`, its inputs written `{0}`, `{1}`."""
    text = code.format(*(hole(k) for k in range(len(uses))))
    return Stmt([Value(name)], expression(text), uses, [TensorType((1,))], [named], pure=pure)


def test_an_inlined_difference_keeps_its_parentheses_inside_a_call():
    """`relu(x - (y - z))`: the old text substitution saw `{1})` as a whole argument and wrote `x - y - z`."""
    stmts = [node("d", "{0} - {1}", [Y, Z]), node("r", "F.relu({0} - {1})", [X, Value("d")])]
    lines, returns = render(stmts, INPUTS, [Value("r")])
    assert (lines, returns) == ([], "F.relu(x - (y - z))")


def test_parentheses_only_where_precedence_needs_them():
    stmts = [node("s", "{0} + {1}", [X, Y]), node("m", "{0} * {1}", [Value("s"), Z]),
             node("t", "{0}.softmax(dim=-1)", [Value("m")]), node("u", "{0} + {1}", [Value("t"), X])]  # fmt: skip
    lines, returns = render(stmts, INPUTS, [Value("u")])
    assert (lines, returns) == ([], "((x + y) * z).softmax(dim=-1) + x")
    assert ast.dump(ast.parse(returns)) == ast.dump(ast.parse("((x + y) * z).softmax(dim=-1) + x"))


def test_an_identity_is_its_input_tree():
    stmts = [node("s", "{0} @ {1}", [X, Y]), node("i", "{0}", [Value("s")]), node("t", "{0}.mT", [Value("i")])]
    assert render(stmts, INPUTS, [Value("t")]) == ([], "(x @ y).mT")


def test_a_value_read_twice_is_computed_once():
    stmts = [node("h", "self.fc({0})", [X]), node("p", "{0} * {0}", [Value("h")])]
    assert render(stmts, INPUTS, [Value("p")]) == (["h = self.fc(x)"], "h * h")


def test_a_parameter_is_inlined_wherever_it_is_read():
    stmts = [node("w", "self.scale", [], pure=True), node("a", "{0} * {1}", [X, Value("w")], named="x"),
             node("b", "{0} + {1}", [Value("a"), Value("w")])]  # fmt: skip
    assert render(stmts, INPUTS, [Value("b")]) == (["x = x * self.scale"], "x + self.scale")


def test_a_name_is_reused_once_its_value_is_dead():
    stmts = [node("a", "self.f({0})", [X], named="h"), node("b", "self.g({0})", [Value("a")], named="h"),
             node("c", "{0} + {1}", [Value("b"), Value("a")])]  # fmt: skip
    lines, returns = render(stmts, INPUTS, [Value("c")])
    assert (lines, returns) == (["h = self.f(x)", "h_1 = self.g(h)"], "h_1 + h")


def test_a_loop_template_names_its_targets_and_drops_x_equals_x():
    code = f"{target(0)} = {hole(0)}\nfor block in self.blocks:\n    {target(0)} = block({target(0)}, {hole(1)})"
    loop = Stmt([Value("o")], statements(code), [X, Y], [TensorType((1,))], ["x"], template=True)
    lines, returns = render([loop], INPUTS, [Value("o")])
    assert (lines, returns) == (["for block in self.blocks:", "    x = block(x, y)"], "x")
    renamed = Stmt([Value("o")], statements(code), [X, Y], [TensorType((1,))], ["h"], template=True)
    assert render([renamed], INPUTS, [Value("o")])[0][0] == "h = x"


def test_taps_read_by_their_alias_and_outputs_as_a_dict():
    code = f"{target(0)} = {hole(0)}\nblocks_out = []\nfor block in self.blocks:\n    {target(0)} = block({target(0)})"
    code += f"\n    blocks_out.append({target(0)})"
    tap = Value("tap")
    loop = Stmt([Value("o")], statements(code), [X], [TensorType((1,))], ["x"], template=True,
                aliases={tap: expression("blocks_out[1]")}, locals=("blocks_out",))  # fmt: skip
    stmts = [loop, node("n", "self.norm({0})", [tap])]
    lines, returns = render(stmts, INPUTS, [Value("o"), Value("n")], ("last", "mid"))
    assert lines[-1] == "    blocks_out.append(x)"
    assert returns == "{'last': x, 'mid': self.norm(blocks_out[1])}"


def test_no_placeholder_is_left_in_the_printed_code():
    stmts = [
        node("a", "torch.cat([{0}, {1}], dim=1)", [X, Y], named="a"),
        node("b", "self.f({0})[:, {1}]", [Value("a"), Z]),
    ]
    lines, returns = render(stmts, INPUTS, [Value("b")])
    names = {n.id for text in [*lines, returns] for n in ast.walk(ast.parse(text)) if isinstance(n, ast.Name)}
    assert names == {"torch", "x", "y", "z", "a", "self"}
