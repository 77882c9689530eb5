"""The numeric literals of a generated class's tree, in one fixed order, and its layers.

A class is first written with literal sizes; `literals` lists them (method by method, breadth
first) so that the instances of one block can be compared literal by literal (`parts.fit`),
blanked (`memo`), or given names (`lift`).
"""

from __future__ import annotations

import ast

NUMERIC = (bool, int, float)


def literals(tree: ast.ClassDef) -> list[tuple[str, ast.Constant]]:
    """The numeric literals of each method, in a fixed order, with the method's name."""
    found = []
    for fn in tree.body:
        if isinstance(fn, ast.FunctionDef):
            for node in (n for st in fn.body for n in walk(st)):
                if isinstance(node, ast.Constant) and type(node.value) in NUMERIC:
                    found.append((fn.name, node))
    return found


def walk(node: ast.AST) -> list[ast.AST]:
    """`ast.walk(node)` as a list, in its order (breadth first, fields in order), without its generators."""
    todo = [node]
    i = 0
    while i < len(todo):
        for name in todo[i]._fields:
            value = getattr(todo[i], name, None)
            if isinstance(value, ast.AST):
                todo.append(value)
            elif isinstance(value, list):
                todo.extend(item for item in value if isinstance(item, ast.AST))
        i += 1
    return todo


def layers(tree: ast.ClassDef) -> list[str]:
    """The attributes its `__init__` assigns, in order (`self.norm1`, `self.attn`, ...)."""
    init = next(fn for fn in tree.body if isinstance(fn, ast.FunctionDef) and fn.name == "__init__")
    return [t.attr for st in init.body if isinstance(st, ast.Assign)
            for t in st.targets if isinstance(t, ast.Attribute)]  # fmt: skip
