"""The standard library and the search path: `import "std/..."` from anywhere, `--lib` and
ARCHGRAPH_PATH folders searched in the documented order, and no file read or quoted from
outside those roots. The last test installs the built wheel into a clean virtual environment.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from archgraph.cli import main
from archgraph.loader import STD, load
from tests.conftest import ROOT, run

SECRET = "sk-not-a-real-secret-0123"
# One block `width` per root, each returning a different width, so the test sees which one won.
WIDTH = "block width(x: [B, N, dim]) {{\n    return fc: linear(x, {n})\n}}\n"
USES = 'import "shared.arch"\nmodel m(dim = 8) {\n    input x: [B, 4, dim]\n    return width(x)\n}\n'


def _folder(path: Path, files: dict[str, str]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (path / name).write_text(text, encoding="utf-8")
    return path


def test_std_is_the_shipped_library():
    """Every file of specs' former lib/ is in archgraph/std/ and loads on its own."""
    names = sorted(p.name for p in STD.glob("*.arch"))
    assert {"transformer.arch", "vit.arch", "mixer.arch", "resnet.arch", "vit_hybrid.arch"} <= set(names)
    for name in names:
        program = load(STD / name)
        assert program.files[0] == f"std/{name}"


def test_a_spec_anywhere_imports_std(capsys, tmp_path):
    spec = tmp_path / "tiny_vit.arch"
    spec.write_text('import "std/vit.arch"\nmodel tiny = vit(embed_dim = 192, depth = 12, num_heads = 3)\n')
    code, out, err = run(capsys, "report", str(spec), "--format", "json")
    assert code == 0, err
    # timm vit_tiny_patch16_224: 5,717,416 parameters, 2,507,366,400 FlopCounterMode FLOPs (reference/timm.md)
    assert (json.loads(out)["params"], json.loads(out)["flops"]) == (5_717_416, 2_507_366_400)


def test_search_order_folder_then_lib_then_env_then_std(tmp_path, monkeypatch):
    spec = _folder(tmp_path / "project", {"spec.arch": USES})
    lib = _folder(tmp_path / "lib", {"shared.arch": WIDTH.format(n=16)})
    env = _folder(tmp_path / "env", {"shared.arch": WIDTH.format(n=24)})
    monkeypatch.setenv("ARCHGRAPH_PATH", os.pathsep.join([str(tmp_path / "missing"), str(env)]))
    from archgraph.api import load_graph
    from archgraph.loader import set_library_path

    def width() -> int:
        graph = load_graph(spec / "spec.arch", "m")
        return graph.type_of(graph.outputs[0]).shape(1)[-1]

    try:
        assert width() == 24  # only ARCHGRAPH_PATH has it
        set_library_path([lib])
        assert width() == 16  # --lib comes before ARCHGRAPH_PATH
        (spec / "shared.arch").write_text(WIDTH.format(n=8))
        assert width() == 8  # the importing file's folder comes first
    finally:
        set_library_path([])


def test_lib_option_on_the_command_line(capsys, tmp_path):
    spec = _folder(tmp_path / "project", {"spec.arch": USES}) / "spec.arch"
    lib = _folder(tmp_path / "team", {"shared.arch": 'import "std/transformer.arch"\n' + WIDTH.format(n=16)})
    code, _, err = run(capsys, "check", str(spec))
    assert code == 1 and "cannot find `shared.arch`" in err and "no --lib or ARCHGRAPH_PATH" in err
    code, out, err = run(capsys, "check", str(spec), "--lib", str(lib))
    assert code == 0 and "ok (m)" in out, err
    for command in (["report", str(spec)], ["graph", str(spec)], ["sweep", str(spec), "--set", "dim=8,16"]):
        code, _, err = run(capsys, *command, "--lib", str(lib))
        assert code == 0, err


@pytest.mark.parametrize("how", ["--lib", "ARCHGRAPH_PATH"])
def test_the_regenerate_line_names_the_library_folders_it_used(capsys, tmp_path, monkeypatch, how):
    """A generated file's header is a command that compiles it again: the folders its imports came
    from are `--lib` options there (an ARCHGRAPH_PATH folder too, so it runs without the variable);
    a library folder nothing was imported from is left out."""
    _folder(tmp_path / "project", {"spec.arch": USES})
    _folder(tmp_path / "project" / "team", {"shared.arch": WIDTH.format(n=16)})
    _folder(tmp_path / "project" / "unused", {})
    monkeypatch.chdir(tmp_path / "project")
    options = ["--lib", "unused", "--lib", "team"] if how == "--lib" else []
    if how == "ARCHGRAPH_PATH":
        monkeypatch.setenv("ARCHGRAPH_PATH", os.pathsep.join(["unused", "team"]))
    code, _, err = run(capsys, "compile", "spec.arch", *options, "-o", "out")
    assert code == 0, err
    line = Path("out/spec.py").read_text().splitlines()[1]
    assert line == "# Regenerate: archgraph compile --lib team spec.arch -o out"
    monkeypatch.delenv("ARCHGRAPH_PATH", raising=False)
    Path("out/spec.py").unlink()
    code, _, err = run(capsys, *line.removeprefix("# Regenerate: archgraph ").split())
    assert code == 0 and Path("out/spec.py").read_text().splitlines()[1] == line, err


def test_lib_must_be_a_directory(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_:
        main(["check", "specs/vit.arch", "--lib", str(tmp_path / "nowhere")])
    assert exit_.value.code == 2
    assert "is not a directory" in capsys.readouterr().err


def test_a_library_cannot_reach_outside_its_folder(capsys, tmp_path):
    """A symlink or `..` out of a --lib folder is not followed: the file is not found there."""
    _folder(tmp_path / "private", {"shared.arch": WIDTH.format(n=16)})
    lib = _folder(tmp_path / "team", {})
    (lib / "shared.arch").symlink_to(tmp_path / "private" / "shared.arch")
    spec = _folder(tmp_path / "project", {"spec.arch": USES.replace("shared.arch", "../private/shared.arch")})
    code, _, err = run(capsys, "check", str(spec / "spec.arch"), "--lib", str(lib))
    assert code == 1 and "points outside the spec root" in err, err
    (spec / "spec.arch").write_text(USES)
    code, _, err = run(capsys, "check", str(spec / "spec.arch"), "--lib", str(lib))
    assert code == 1 and "cannot find `shared.arch`" in err, err


@pytest.mark.parametrize("name", [".env", "settings.json", "id_rsa", "notes.arch.bak"])
def test_only_arch_files_are_imported(capsys, tmp_path, name):
    folder = _folder(tmp_path, {name: f"API_KEY={SECRET}\n"})
    spec = _folder(folder, {"spec.arch": f'import "{name}"\n' + USES.split("\n", 1)[1]})
    code, _, err = run(capsys, "check", str(spec / "spec.arch"))
    assert code == 1 and f"an import names a `.arch` spec file, found `{name}`" in err
    assert SECRET not in err


def test_a_file_that_is_not_a_spec_is_never_quoted(capsys, tmp_path):
    folder = _folder(tmp_path, {"keys.arch": f"# looks harmless\n\nAPI_KEY={SECRET}\nmodel m() {{}}\n"})
    _folder(folder, {"spec.arch": 'import "keys.arch"\n'})
    code, _, err = run(capsys, "check", str(folder / "spec.arch"))
    assert code == 1 and "is not an archgraph spec" in err and SECRET not in err
    code, _, err = run(capsys, "check", str(folder / "keys.arch"))  # named directly, too
    assert code == 1 and "is not an archgraph spec" in err and SECRET not in err


def _deps_folder(target: Path) -> Path:
    """archgraph's dependencies, linked from this interpreter's site-packages, without archgraph."""
    import jinja2
    import lark
    import markupsafe
    import networkx
    import yaml

    target.mkdir()
    for module in (jinja2, lark, markupsafe, networkx, yaml):
        package = Path(module.__file__).parent
        (target / package.name).symlink_to(package)
        for info in package.parent.glob(f"{package.name}-*.dist-info"):
            (target / info.name).symlink_to(info)
    for extra in Path(yaml.__file__).parent.parent.glob("_yaml"):  # PyYAML's C extension package
        (target / extra.name).symlink_to(extra)
    for info in Path(yaml.__file__).parent.parent.glob("[Pp]y[Yy][Aa][Mm][Ll]-*.dist-info"):
        (target / info.name).symlink_to(info)
    return target


def test_the_installed_wheel_reports_a_spec_that_imports_std(tmp_path):
    """Build the wheel, install it (not editable) into a clean venv, report a spec outside the repository."""
    # pip, and setuptools as the build backend without build isolation (offline); found, not imported
    if importlib.util.find_spec("pip") is None or importlib.util.find_spec("setuptools") is None:
        pytest.skip("needs pip and setuptools")
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "archgraph", source / "archgraph", ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(tmp_path / "dist"),
                    str(source)], check=True, capture_output=True)  # fmt: skip
    (wheel,) = (tmp_path / "dist").glob("archgraph-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False, clear=True)
    python = next(p for p in (env_dir / "bin" / "python", env_dir / "Scripts" / "python.exe") if p.exists())
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               check=True, capture_output=True, text=True).stdout.strip())  # fmt: skip
    (site / "deps.pth").write_text(str(_deps_folder(tmp_path / "deps")) + "\n")
    # Dependencies are resolved against what the venv sees (the deps folder): no index, nothing downloaded.
    subprocess.run([*pip, "--python", str(python), "install", "--no-index", str(wheel)], check=True,
                   capture_output=True)  # fmt: skip
    spec = tmp_path / "elsewhere" / "tiny.arch"
    spec.parent.mkdir()
    spec.write_text('import "std/vit.arch"\nmodel tiny = vit(embed_dim = 192, depth = 12, num_heads = 3)\n')
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ARCHGRAPH_PATH")}
    done = subprocess.run([str(python), "-m", "archgraph", "report", "tiny.arch", "--format", "json"],
                          cwd=spec.parent, env=clean, capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    where = subprocess.run([str(python), "-c", "import archgraph; print(archgraph.__file__)"], cwd=spec.parent,
                           env=clean, capture_output=True, text=True).stdout  # fmt: skip
    assert str(site) in where and str(ROOT) not in where, where
    # timm vit_tiny_patch16_224: 5,717,416 parameters (reference/timm.md)
    assert json.loads(done.stdout)["params"] == 5_717_416


def test_a_symlink_loop_is_an_import_error_not_a_crash(capsys, tmp_path):
    (tmp_path / "a.arch").symlink_to(tmp_path / "b.arch")
    (tmp_path / "b.arch").symlink_to(tmp_path / "a.arch")
    _folder(tmp_path, {"spec.arch": 'import "a.arch"\n'})
    code, _, err = run(capsys, "check", str(tmp_path / "spec.arch"))
    assert code == 1 and "cannot read `a.arch`" in err and "symbolic links form a loop" in err, err
    code, _, err = run(capsys, "check", str(tmp_path / "a.arch"))
    assert code == 1 and "symbolic links form a loop" in err and "Traceback" not in err, err
