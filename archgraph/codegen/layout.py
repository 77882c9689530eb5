"""Print a generated class: `ast.unparse`, then the layout ruff format would give it.

Method signatures read `a: int = 3`, and a signature or a call statement that would pass
WIDTH characters takes one argument a line. The result parses to the same tree (checked).
"""

from __future__ import annotations

import ast

WIDTH = 100


def layout(tree: ast.ClassDef) -> str:
    """The class's source, lines within WIDTH where a call's arguments can be split."""
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


def _wrap(line: str) -> list[str]:
    """A statement `target = f(a, b)`, `return f(a, b)` or `f(a, b)` with one argument a line."""
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
    call = st.value
    inner = indent + "    "
    if not isinstance(call, ast.Call) or not (call.args or call.keywords):
        return [line]
    if len(call.args) + len(call.keywords) == 1 and len(inner + ast.unparse((call.args or call.keywords)[0])) >= WIDTH:
        if not (call.args and isinstance(call.args[0], ast.Starred)):
            return [line]  # one argument that does not fit on a line of its own either
    out = [f"{indent}{head}{ast.unparse(call.func)}("]
    for a in call.args:
        text = f"{inner}{ast.unparse(a)},"
        if len(text) > WIDTH and isinstance(a, ast.Starred) and isinstance(a.value, ast.List):
            out += [f"{inner}*[", *(f"{inner}    {ast.unparse(e)}," for e in a.value.elts), f"{inner}],"]
        elif len(text) > WIDTH and isinstance(a, ast.Starred) and isinstance(a.value, ast.ListComp):
            loops = " ".join(ast.unparse(g).strip() for g in a.value.generators)
            elt = f"{inner}    {ast.unparse(a.value.elt)}"
            out += [f"{inner}*[", *(_wrap(elt) if len(elt) > WIDTH else [elt]), f"{inner}    {loops}", f"{inner}],"]
        else:
            out.append(text)
    out += [f"{inner}{kw.arg}={ast.unparse(kw.value)}," if kw.arg else f"{inner}**{ast.unparse(kw.value)},"
            for kw in call.keywords]  # fmt: skip
    return [*out, f"{indent})"]


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
