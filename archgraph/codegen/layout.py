"""Print a generated class: `ast.unparse`, then the layout ruff format would give it.

Method signatures read `a: int = 3`, and a signature or a call statement that would pass
WIDTH characters takes one argument a line. The result parses to the same tree (checked).
"""

from __future__ import annotations

import ast
import textwrap

WIDTH = 100


def layout(tree: ast.ClassDef) -> str:
    """The class's source, lines within WIDTH where a call's arguments can be split."""
    _wrap_docstrings(tree)
    text = _unwrapped(tree).encode("ascii", "backslashreplace").decode()  # non-ASCII only in strings
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
        head = ast.unparse(st.targets[0]) + " = "
    elif isinstance(st, ast.Return) and st.value is not None:
        head = "return "
    elif isinstance(st, ast.Expr):
        head = ""
    else:
        return [line]
    return _lines(st.value, indent, head, "")


def _lines(node: ast.expr, indent: str, head: str, tail: str) -> list[str]:
    """`head + node + tail` at `indent`, split at the outermost brackets while a line is too long."""
    text = f"{indent}{head}{ast.unparse(node)}{tail}"
    inner = indent + "    "
    if len(text) <= WIDTH:
        return [text]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and _chained(node):
        return [f"{indent}{head}(", *_chain(node, inner), f"{indent}){tail}"]
    if isinstance(node, ast.Call) and (node.args or node.keywords):
        parts = [_lines(a, inner, "", ",") for a in node.args]
        parts += [_lines(k.value, inner, f"{k.arg}=" if k.arg else "**", ",") for k in node.keywords]
        return [f"{indent}{head}{ast.unparse(node.func)}(", *(x for p in parts for x in p), f"{indent}){tail}"]
    if isinstance(node, (ast.List, ast.Tuple)) and node.elts:
        opening, closing = ("[", "]") if isinstance(node, ast.List) else ("(", ")")
        parts = [x for e in node.elts for x in _lines(e, inner, "", ",")]
        return [f"{indent}{head}{opening}", *parts, f"{indent}{closing}{tail}"]
    if isinstance(node, ast.Dict) and node.keys and None not in node.keys:  # named outputs
        parts = [x for k, v in zip(node.keys, node.values, strict=True) for x in
                 _lines(v, inner, f"{ast.unparse(k)}: ", ",")]  # fmt: skip
        return [f"{indent}{head}{{", *parts, f"{indent}}}{tail}"]
    if isinstance(node, ast.ListComp):
        loops = " ".join(ast.unparse(g).strip() for g in node.generators)
        return [f"{indent}{head}[", *_lines(node.elt, inner, "", ""), f"{inner}{loops}", f"{indent}]{tail}"]
    if isinstance(node, ast.IfExp):
        return [f"{indent}{head}(", *_lines(node.body, inner, "", ""), *_lines(node.test, inner, "if ", ""),
                *_lines(node.orelse, inner, "else ", ""), f"{indent}){tail}"]  # fmt: skip
    if isinstance(node, ast.Starred):
        return _lines(node.value, indent, head + "*", tail)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        op = _OPS[type(node.op)]
        return [f"{indent}{head}(", *_operand(node.left, inner, ""), *_operand(node.right, inner, f"{op} "),
                f"{indent}){tail}"]  # fmt: skip
    return [text]


def _operand(node: ast.expr, indent: str, head: str) -> list[str]:
    """A binary operation's operand after `head` (its operator, if any): a nested operation in
    parentheses once, `(a * b)` on one line or else split inside its own."""
    if not isinstance(node, ast.BinOp):
        return _lines(node, indent, head, "")
    line = f"{indent}{head}({ast.unparse(node)})"
    return [line] if len(line) <= WIDTH else _lines(node, indent, head, "")


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
        links.insert(0, f".{node.func.attr}{ast.unparse(call)[1:]}")
        node = node.func.value
    return [*_lines(node, indent, "", ""), *(f"{indent}{link}" for link in links)]


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
    returns = f" -> {ast.unparse(fn.returns)}" if fn.returns else ""
    line = f"    def {fn.name}({', '.join(params)}){returns}:"
    if len(line) <= WIDTH:
        return [line]
    return [f"    def {fn.name}(", *(f"        {p}," for p in params), f"    ){returns}:"]


def _param(p: ast.arg, default: ast.expr | None) -> str:
    text = ast.unparse(p)
    if default is None:
        return text
    return f"{text} = {ast.unparse(default)}" if p.annotation else f"{text}={ast.unparse(default)}"
