"""`sweep --plot FILE` writes exactly FILE, in the format its suffix names, and says so; a path
without a known suffix, or a directory, is a usage error (exit 2) before any work."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from archgraph.cli import main
from archgraph.plot import plot_sweep, target_problem

SWEEP = ["sweep", "specs/vit.arch", "--model", "vit_ti16", "--set", "img_size=224,384"]


def _sweep(capsys, target: Path) -> tuple[int, str]:
    capsys.readouterr()
    try:
        code = main([*SWEEP, "--plot", str(target)])
    except SystemExit as exit_:
        code = exit_.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize(("suffix", "magic"), [(".png", b"\x89PNG"), (".pdf", b"%PDF"), (".SVG", b"<?xml")])
def test_the_plot_is_written_exactly_where_asked(capsys, tmp_path, suffix, magic):
    pytest.importorskip("matplotlib")
    target = tmp_path / "deep" / f"sweep{suffix}"
    code, err = _sweep(capsys, target)
    assert code == 0 and f"wrote {target}\n" in err
    assert target.read_bytes().startswith(magic)
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]  # nothing beside it


@pytest.mark.parametrize("matplotlib", ["installed", "missing"])  # the path is checked first either way
@pytest.mark.parametrize("name", ["sweep", "sweep.jpeg", "sweep.png.txt"])
def test_a_path_without_a_known_suffix_is_refused(capsys, tmp_path, monkeypatch, name, matplotlib):
    if matplotlib == "installed":
        pytest.importorskip("matplotlib")
    else:
        monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed: `deps.require` refuses it
    code, err = _sweep(capsys, tmp_path / name)
    assert code == 2 and "the suffix picks the format: .png, .svg, .pdf" in err
    assert not any(tmp_path.iterdir())


def test_a_directory_is_refused(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    folder = tmp_path / "plots.png"
    folder.mkdir()
    code, err = _sweep(capsys, folder)
    assert code == 2 and "is a directory" in err and not any(folder.iterdir())


def test_the_api_refuses_the_same_paths(tmp_path):
    assert target_problem(tmp_path / "a.svg") is None
    with pytest.raises(ValueError, match="no suffix"):
        plot_sweep({}, tmp_path / "a")
