"""archgraph.record: a record behaves as the same class made by `dataclasses` (the oracle here), before
and after its `__init__` is compiled; and a report's start-up imports neither dataclasses nor typing."""

from __future__ import annotations

import copy
import dataclasses
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from archgraph import record as rec

ROOT = Path(__file__).resolve().parents[1]
OPTIONS = [{}, {"frozen": True}, {"frozen": True, "slots": True}, {"eq": False}, {"repr": False},
           {"frozen": True, "eq": False, "repr": False}]  # fmt: skip


def _pair(options: dict) -> tuple[type, type]:
    """The same class body made by `@dataclass(**options)` and by `@record(**options)`."""

    def body(field):
        return {"__annotations__": {"name": "str", "size": "int", "items": "list", "note": "str"},
                "size": 3, "items": field(default_factory=list), "note": field(default="", compare=False, repr=False),
                "__module__": __name__, "__qualname__": "Thing"}  # fmt: skip

    oracle = dataclasses.dataclass(**options)(type("Thing", (), body(dataclasses.field)))
    made = rec.record(**options)(type("Thing", (), body(rec.field)))
    return oracle, made


def _behaviour(cls: type, repeat: int = 1) -> list:
    """What a user can observe of `cls` (instances made `repeat` times, so that later ones use the
    compiled `__init__`); pickled and copied only where `dataclasses` itself allows it."""
    for _ in range(repeat):
        a, b, c = cls("x"), cls("x", 3, note="other"), cls(name="y", size=4, items=[1])
    seen = [repr(a) if cls.__repr__ is not object.__repr__ else "-", a == b, a == c, a != c,
            a.items is not cls("x").items, (a.name, a.size, a.items, a.note), cls.__match_args__,
            [(f.name, f.default, f.repr, f.compare) for f in dataclasses.fields(cls)],
            dataclasses.astuple(c), dataclasses.is_dataclass(a)]  # fmt: skip
    seen += [cls.__hash__ is None, _hash(a) == _hash(b), _hash(c) == _hash(cls("y", 4, [1]))]
    seen.append(dataclasses.replace(c, size=9).size)
    for mistake in (lambda: cls(), lambda: cls("x", 1, [], "n", "extra"), lambda: cls("x", name="y")):
        with pytest.raises(TypeError):
            mistake()
    try:
        a.size = 5
        seen.append(("assigned", a.size))
    except AttributeError:  # FrozenInstanceError, either module's
        seen.append("frozen")
    if cls.__module__ == __name__ and cls.__qualname__ == "Thing":
        seen += [copy.deepcopy(c).items == [1]]
    return seen


def _hash(x: object) -> object:
    try:
        return hash(x)
    except TypeError:  # a list field: unhashable, as a frozen dataclass with one
        return "unhashable"


@pytest.mark.parametrize("options", OPTIONS, ids=[str(o) for o in OPTIONS])
def test_a_record_behaves_as_a_dataclass(options):
    oracle, made = _pair(options)
    assert _behaviour(made) == _behaviour(oracle)


@pytest.mark.parametrize("options", OPTIONS, ids=[str(o) for o in OPTIONS])
def test_the_compiled_init_behaves_as_the_shared_one(options):
    oracle, made = _pair(options)
    assert made.__init__ is rec._init
    assert _behaviour(made, repeat=rec.COMPILE_AFTER) == _behaviour(oracle)
    assert made.__init__ is not rec._init  # compiled for its fields by now


def test_records_pickle_as_the_parse_cache_stores_them():
    """Syntax nodes and spans round-trip through pickle (the parse cache) equal, hashable and frozen."""
    from archgraph.ir import TensorType, Value
    from archgraph.parser import parse

    tree = parse((ROOT / "specs/vit.arch").read_text(), "specs/vit.arch")
    again = pickle.loads(pickle.dumps(tree, protocol=pickle.HIGHEST_PROTOCOL))
    assert again == tree and hash(again) == hash(tree) and again is not tree
    values = [Value("n", 1), TensorType(("B", 3)), Value("m")]
    assert pickle.loads(pickle.dumps(values)) == values
    with pytest.raises(AttributeError):
        again.items[0].span.line = 2


def test_a_report_imports_neither_dataclasses_nor_typing(tmp_path):
    """Start-up time: the report's path makes records, not dataclasses (`dataclasses` imports `inspect`),
    and imports `typing` only for type checkers; argparse's formatter does not import shutil."""
    script = ("import io, sys, contextlib\nfrom archgraph.cli import main\n"
              "with contextlib.redirect_stdout(io.StringIO()):\n    code = main(['report', 'specs/vit.arch'])\n"
              "print(code, sorted({'dataclasses', 'inspect', 'typing', 'shutil', 'pickle'} & set(sys.modules)))")  # fmt: skip
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    env.pop("ARCHGRAPH_NO_CACHE", None)
    runs = [subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                           check=True).stdout for _ in range(2)]  # fmt: skip
    assert runs[1] == "0 []\n"  # the second, with the files parsed before (the first imports Lark)
