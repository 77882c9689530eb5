"""The on-disk cache of parsed files (archgraph/parsed.py, archgraph/diskcache.py): a hit equals a
parse, never imports Lark, and a damaged, foreign or unshared-unsafe cache is a miss rather than an error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from archgraph import diskcache, parsed, parser
from archgraph.errors import ArchSyntaxError

ROOT = Path(__file__).resolve().parents[1]
TEXT = "model m(d = 8) {\n  input x: f32[B, d]\n  return linear(x, d)\n}\n"


def _forget(monkeypatch) -> None:
    """As a new process: nothing in memory (this one's or parser's)."""
    monkeypatch.setattr(parsed, "_TREES", {})
    monkeypatch.setattr(parser, "_PARSED", {})


def _no_parse(*args, **kwargs):
    raise AssertionError("parsed again: the cache missed")


def test_a_hit_equals_the_parse_and_does_not_parse(cache_dir, monkeypatch):
    first = parsed.parse(TEXT, "m.arch")
    assert first == parser.parse(TEXT, "m.arch")
    assert len(list(cache_dir.glob("*.tree"))) == 1
    _forget(monkeypatch)
    monkeypatch.setattr(parser, "parse", _no_parse)
    assert parsed.parse(TEXT, "m.arch") == first


def test_name_and_text_are_both_the_key(cache_dir, monkeypatch):
    parsed.parse(TEXT, "m.arch")
    parsed.parse(TEXT, "other.arch")
    parsed.parse(TEXT.replace("8", "16"), "m.arch")
    assert len(list(cache_dir.glob("*.tree"))) == 3
    _forget(monkeypatch)
    tree = parsed.parse(TEXT.replace("8", "16"), "m.arch")
    assert tree.items[0].params[0].default.value == 16  # not the d = 8 tree stored under the same name


def test_a_damaged_entry_is_a_miss(cache_dir, monkeypatch):
    good = parsed.parse(TEXT, "m.arch")
    for entry in cache_dir.glob("*.tree"):
        entry.write_bytes(b"\x80\x05not a pickle")
    _forget(monkeypatch)
    assert parsed.parse(TEXT, "m.arch") == good
    _forget(monkeypatch)
    monkeypatch.setattr(parser, "parse", _no_parse)
    assert parsed.parse(TEXT, "m.arch") == good  # rewritten by the miss


def test_errors_are_not_stored(cache_dir):
    for _ in range(2):
        with pytest.raises(ArchSyntaxError):
            parsed.parse("model m( {", "bad.arch")
    assert not list(cache_dir.glob("*.tree"))


def test_a_directory_others_can_write_is_not_used(cache_dir, monkeypatch):
    cache_dir.mkdir(mode=0o700, parents=True)
    os.chmod(cache_dir, 0o777)
    diskcache.directory.cache_clear()
    assert diskcache.directory() is None
    parsed.parse(TEXT, "m.arch")
    assert not list(cache_dir.glob("*.tree"))


def test_turned_off(cache_dir, monkeypatch):
    monkeypatch.setenv("ARCHGRAPH_NO_CACHE", "1")
    diskcache.directory.cache_clear()
    parsed.parse(TEXT, "m.arch")
    assert not cache_dir.exists() or not list(cache_dir.glob("*.tree"))


def test_old_entries_are_pruned(cache_dir):
    for d in range(5):
        parsed.parse(TEXT.replace("8", str(d + 1)), "m.arch")
    diskcache.prune(cache_dir, ".tree", 3)  # what one write in 16 does, were KEEP 3
    assert len(list(cache_dir.glob("*.tree"))) == 3


def test_a_second_report_does_not_import_lark(tmp_path):
    """What the cache is for: with the spec's files parsed before, a command loads no Lark."""
    script = ("import io, sys, contextlib\nfrom archgraph.cli import main\n"
              "with contextlib.redirect_stdout(io.StringIO()):\n    code = main(['report', 'specs/vit.arch'])\n"
              "print(code, 'lark' in sys.modules)")  # fmt: skip
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    env.pop("ARCHGRAPH_NO_CACHE", None)
    runs = [subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                           check=True).stdout.split() for _ in range(2)]  # fmt: skip
    assert runs == [["0", "True"], ["0", "False"]]


def test_unreadable_front_end_sources_mean_no_cache(cache_dir, monkeypatch):
    """An install without parser.py beside the bytecode (zipped, stripped): parse without a disk cache."""
    monkeypatch.setattr(parsed, "_FRONT_END", ("no-such-file.py",))
    parsed._front_end_digest.cache_clear()
    try:
        assert parsed.parse(TEXT, "m.arch") == parser.parse(TEXT, "m.arch")
        assert not cache_dir.exists() or not list(cache_dir.glob("*.tree"))
    finally:
        parsed._front_end_digest.cache_clear()


def test_the_least_recently_used_go_first(cache_dir, monkeypatch):
    """A tree read is touched, so a burst of new entries (a fuzzer's) pushes out the unused ones first."""
    texts = [TEXT.replace("8", str(d + 1)) for d in range(3)]
    for text in texts:
        parsed.parse(text, "m.arch")
    paths = [parsed._entry("m.arch", text) for text in texts]
    for k, path in enumerate(paths):
        os.utime(path, (1000 + k, 1000 + k))  # written long ago, in this order
    monkeypatch.setattr(parsed, "_TREES", {})
    parsed.parse(texts[0], "m.arch")  # the oldest, read from disk: now the most recently used
    diskcache.prune(cache_dir, ".tree", 2)
    assert sorted(cache_dir.glob("*.tree")) == sorted([paths[0], paths[2]])
