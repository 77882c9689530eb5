"""Print a generated class: `ast.unparse`, then the layout ruff format would give it.

Method signatures read `a: int = 3`, and a signature or a call statement that would pass
WIDTH characters takes one argument a line. The result parses to the same tree (checked).
Every text is spelled as ruff format spells it (`spelling`: `"device"`, `d**0.5`, `w[0 : self.dim]`)
before its width is measured.
"""

from __future__ import annotations

import ast
import textwrap

from archgraph.codegen.spelling import spelled

WIDTH = 100


def layout(tree: ast.ClassDef) -> str:
    """The class's source, lines within WIDTH where a call's arguments can be split."""
    _wrap_docstrings(tree)
    text = spelled(_unwrapped(tree).encode("ascii", "backslashreplace").decode())  # non-ASCII only in strings
    if all(len(line) <= WIDTH for line in text.split("\n")):
        return text
    lines = []
    for line in text.split("\n"):
        lines += _wrap(line) if len(line) > WIDTH else [line]
    wrapped = "\n".join(lines)
    if wrapped == text:
        return text
    return wrapped if ast.dump(ast.parse(wrapped)) == ast.dump(ast.parse(text)) else text


def _wrap_docstrings(tree: ast.ClassDef) -> None:
    """Docstrings of the class and its methods wrapped to WIDTH (in place)."""
    for node, indent in [(tree, "    "), *((fn, "        ") for fn in tree.body if isinstance(fn, ast.FunctionDef))]:
        doc = node.body[0] if node.body else None
        if not (isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant) and isinstance(doc.value.value, str)):
            continue
        lines = doc.value.value.split("\n")
        if all(len(indent) + len(line) + 6 <= WIDTH for line in lines):
            continue
        out = []
        for k, line in enumerate(lines):
            lead = line[: len(line) - len(line.lstrip())] or (indent if k else "")
            first = textwrap.wrap(line.strip(), WIDTH - 6 - len(indent), break_long_words=False) or [""]
            out += [(lead if k else "") + first[0], *(indent + rest for rest in first[1:])]
        doc.value.value = "\n".join(out)


def _wrap(line: str) -> list[str]:
    """A statement `target = <expr>`, `return <expr>` or `<expr>` split at its brackets, as ruff
    format would: a call's arguments one a line, a comprehension's parts, a method chain's links."""
    indent = line[: len(line) - len(line.lstrip())]
    try:
        (st,) = ast.parse(line.strip()).body
    except SyntaxError:  # a compound statement's header (`for ...:`)
        return [line]
    if isinstance(st, ast.Assign) and len(st.targets) == 1:
        head = _code(st.targets[0]) + " = "
    elif isinstance(st, ast.Return) and st.value is not None:
        head = "return "
    elif isinstance(st, ast.Expr):
        head = ""
    else:
        return [line]
    return _lines(st.value, indent, head, "", statement=True)


def _lines(node: ast.expr, indent: str, head: str, tail: str, statement: bool = False) -> list[str]:
    """`head + node + tail` at `indent`, split at the outermost brackets while a line is too long.
    `statement`: the whole right-hand side of a statement (`x = ...`, `return ...`), which ruff
    format may put in parentheses of its own; elsewhere brackets around it are already open."""
    text = f"{indent}{head}{_code(node)}{tail}"
    inner = indent + "    "
    if len(text) <= WIDTH:
        return [text]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and _chained(node):
        if statement and len(f"{inner}{_code(node)}") <= WIDTH:  # the chain fits on a line of its own
            return [f"{indent}{head}(", f"{inner}{_code(node)}", f"{indent}){tail}"]
        return [f"{indent}{head}(", *_chain(node, inner), f"{indent}){tail}"]
    if isinstance(node, ast.Call) and (node.args or node.keywords):
        parts = [_lines(a, inner, "", ",") for a in node.args]
        parts += [_lines(k.value, inner, f"{k.arg}=" if k.arg else "**", ",") for k in node.keywords]
        return [f"{indent}{head}{_code(node.func)}(", *(x for p in parts for x in p), f"{indent}){tail}"]
    if isinstance(node, (ast.List, ast.Tuple)) and node.elts:
        opening, closing = ("[", "]") if isinstance(node, ast.List) else ("(", ")")
        parts = [x for e in node.elts for x in _lines(e, inner, "", ",")]
        return [f"{indent}{head}{opening}", *parts, f"{indent}{closing}{tail}"]
    if isinstance(node, ast.Dict) and node.keys and None not in node.keys:  # named outputs
        parts = [x for k, v in zip(node.keys, node.values, strict=True) for x in
                 _lines(v, inner, f"{_code(k)}: ", ",")]  # fmt: skip
        return [f"{indent}{head}{{", *parts, f"{indent}}}{tail}"]
    if isinstance(node, ast.ListComp):
        loops = " ".join(_code(g).strip() for g in node.generators)
        return [f"{indent}{head}[", *_lines(node.elt, inner, "", ""), f"{inner}{loops}", f"{indent}]{tail}"]
    if isinstance(node, ast.IfExp):
        if statement and len(f"{inner}{_code(node)}") <= WIDTH:  # it fits on a line of its own, in parentheses
            return [f"{indent}{head}(", f"{inner}{_code(node)}", f"{indent}){tail}"]
        return [f"{indent}{head}(", *_lines(node.body, inner, "", ""), *_lines(node.test, inner, "if ", ""),
                *_lines(node.orelse, inner, "else ", ""), f"{indent}){tail}"]  # fmt: skip
    if isinstance(node, ast.Starred):
        return _lines(node.value, indent, head + "*", tail, statement)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        if not statement:  # inside brackets already: one operand a line, each after its operator
            *lines, last = _operands(node, indent, head)
            return [*lines, last + tail]
        return _binary(node, indent, head, tail)
    return [text]


def _binary(node: ast.BinOp, indent: str, head: str, tail: str) -> list[str]:
    """A statement's binary operation too long for one line, as ruff format splits it: with one
    operator, at an operand's own brackets when the rest fits beside them (`(a + b) / 2` inside its
    parentheses, `x + f(...)` at the call's); otherwise the operation goes in parentheses, one
    operand a line (`_operands`)."""
    inner = indent + "    "
    op = _OPS[type(node.op)]
    left, right = _grouped(node)
    if _chain_length(node) == 1:  # one operator: split at an operand's own brackets where they fit
        closing = f"{indent}) {op} {_code(node.right)}{tail}"
        if left and not right and len(closing) <= WIDTH:
            return [f"{indent}{head}(", *_inside(node.left, inner), closing]
        opening = f"{indent}{head}{_code(node.left)} {op} ("
        if right and not left and len(opening) <= WIDTH:
            return [opening, *_inside(node.right, inner), f"{indent}){tail}"]
        if left and right:
            return [f"{indent}{head}(", *_inside(node.left, inner), f"{indent}) {op} (",
                    *_inside(node.right, inner), f"{indent}){tail}"]  # fmt: skip
        call = node.right
        if not right and isinstance(call, ast.Call) and (call.args or call.keywords) and not _chained(call):
            lines = _lines(call, indent, f"{head}{_code(node.left)} {op} ", tail)  # `x + f(` then its arguments
            if len(lines) > 1 and len(lines[0]) <= WIDTH:
                return lines
    return [f"{indent}{head}(", *_operands(node, inner), f"{indent}){tail}"]


def _chain_length(node: ast.BinOp) -> int:
    """How many operators of `node`'s precedence its chain holds, parentheses ending it (`a + b - c`: 2)."""
    count = 1
    for operand, paren in zip((node.left, node.right), _grouped(node), strict=True):
        if not paren and isinstance(operand, ast.BinOp) and type(operand.op) in _OPS and (
                _PRECEDENCE[type(operand.op)] == _PRECEDENCE[type(node.op)]):  # fmt: skip
            count += _chain_length(operand)
    return count


def _grouped(node: ast.BinOp) -> tuple[bool, bool]:
    """Whether each operand is written in parentheses (an operation that binds less: `(a + b) * c`)."""
    text, left, right = _code(node), _code(node.left), _code(node.right)
    return text.startswith(f"({left})"), text.endswith(f"({right})")


def _inside(node: ast.expr, indent: str) -> list[str]:
    """What a pair of parentheses holds, at `indent`: one line, else an operation's operands a line."""
    if len(f"{indent}{_code(node)}") <= WIDTH or not (isinstance(node, ast.BinOp) and type(node.op) in _OPS):
        return _lines(node, indent, "", "")
    return _operands(node, indent)


def _operands(node: ast.BinOp, indent: str, head: str = "") -> list[str]:
    """The operands of `node`, one a line at `indent`, each after its operator (the first after
    `head`): the operations of its chain (`a * b // c`: one precedence, no parentheses) all split,
    an operation that binds tighter split the same way only if too long, one in parentheses as `(`,
    what they hold, `)`."""
    grouped = _grouped(node)
    heads = (head, f"{_OPS[type(node.op)]} ")
    lines = []
    for operand, paren, lead in zip((node.left, node.right), grouped, heads, strict=True):
        line = f"{indent}{lead}({_code(operand)})" if paren else f"{indent}{lead}{_code(operand)}"
        operation = isinstance(operand, ast.BinOp) and type(operand.op) in _OPS and not paren
        if operation and (len(line) > WIDTH or _PRECEDENCE[type(operand.op)] == _PRECEDENCE[type(node.op)]):
            lines += _operands(operand, indent, lead)
        elif len(line) <= WIDTH:
            lines.append(line)
        elif paren:
            lines += [f"{indent}{lead}(", *_inside(operand, indent + "    "), f"{indent})"]
        else:
            lines += _lines(operand, indent, lead, "")
    return lines


_PRECEDENCE = {ast.Add: 1, ast.Sub: 1, ast.Mult: 2, ast.Div: 2, ast.FloorDiv: 2, ast.Mod: 2, ast.MatMult: 2,
               ast.Pow: 3}  # fmt: skip
_OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**",
        ast.MatMult: "@"}  # fmt: skip


def _chained(node: ast.Call) -> bool:
    """Whether a method call is made on another call's result (`a(x).b(y)`): a chain to split."""
    return isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Call)


def _chain(node: ast.expr, indent: str) -> list[str]:
    """The links of a method chain `a(x).b(y).c(z)`, one a line: `a(x)`, `.b(y)`, `.c(z)`."""
    links = []
    while isinstance(node, ast.Call) and _chained(node):
        call = ast.Call(ast.Name("_"), node.args, node.keywords)
        links.insert(0, f".{node.func.attr}{_code(call)[1:]}")
        node = node.func.value
    return [*_lines(node, indent, "", ""), *(f"{indent}{link}" for link in links)]


def _code(node: ast.AST) -> str:
    """`ast.unparse` of a node, spelled as ruff format spells it."""
    return spelled(ast.unparse(node))


def _unwrapped(tree: ast.ClassDef) -> str:
    """`ast.unparse` of a class, its method signatures laid out as ruff format would:
    `a: int = 3`, and one parameter a line when the line would pass 100 characters."""
    lines = ast.unparse(tree).split("\n")
    for fn in tree.body:
        if isinstance(fn, ast.FunctionDef):
            at = next(i for i, line in enumerate(lines) if line.startswith(f"    def {fn.name}("))
            lines[at : at + 1] = _signature(fn)
    return "\n".join(lines)


def _signature(fn: ast.FunctionDef) -> list[str]:
    a = fn.args
    params = [_param(p, None) for p in a.args[: len(a.args) - len(a.defaults)]]
    params += [_param(p, d) for p, d in zip(a.args[len(a.args) - len(a.defaults) :], a.defaults, strict=True)]
    if a.kwonlyargs:
        params += ["*", *(_param(p, d) for p, d in zip(a.kwonlyargs, a.kw_defaults, strict=True))]
    returns = f" -> {_code(fn.returns)}" if fn.returns else ""
    line = f"    def {fn.name}({', '.join(params)}){returns}:"
    if len(line) <= WIDTH:
        return [line]
    return [f"    def {fn.name}(", *(f"        {p}," for p in params), f"    ){returns}:"]


def _param(p: ast.arg, default: ast.expr | None) -> str:
    text = _code(p)
    if default is None:
        return text
    return f"{text} = {_code(default)}" if p.annotation else f"{text}={_code(default)}"
