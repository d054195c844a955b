"""Windows has no `fcntl` and no `os.pread`: every module must import without it, and the store's lock,
build and publish must work through the portable lock (filelock) alone."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from zpipe.store import LockBusy, RecipeStore, link_or_copy

# Runs before anything else in a child interpreter: `import fcntl` raises ImportError, as on Windows.
NO_FCNTL = "import sys, warnings; sys.modules['fcntl'] = None; warnings.simplefilter('ignore')\n"


def _python(code: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", NO_FCNTL + textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=300, **kw)


def test_every_module_imports_without_fcntl():
    r = _python("""
        import importlib, pkgutil, zpipe, zpipe.engine
        names = [m.name for pkg in (zpipe, zpipe.engine)
                 for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + ".")]
        for name in names:
            importlib.import_module(name)
        assert "fcntl" not in [k for k, v in sys.modules.items() if v is not None]
        print(len(names))
    """)
    assert r.returncode == 0, r.stderr
    assert int(r.stdout) > 60  # really walked the package (zpipe and zpipe.engine)


def test_lock_build_and_publish_without_fcntl(tmp_path, write_recipe):
    recipe = write_recipe("name: tiles\nengine: procedural\nsize: 64\nprompt: '{m} texture'\n"
                          "matrix: {m: [granite, slate]}\n")
    out = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", NO_FCNTL + textwrap.dedent(f"""
        from zpipe.store import RecipeStore
        with RecipeStore({str(out)!r}, "tiles").lock():
            print("held", flush=True)
            sys.stdin.readline()
    """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        busy = _python(f"""
            from zpipe.store import LockBusy, RecipeStore
            try:
                with RecipeStore({str(out)!r}, "tiles").lock(wait=False):
                    print("acquired")
            except LockBusy as exc:
                print(exc)
        """)
        assert f"is being built by pid {holder.pid}" in busy.stdout, busy.stdout + busy.stderr
    finally:
        holder.communicate("\n", timeout=60)
    assert holder.returncode == 0
    built = _python(f"""
        from zpipe.cli import main
        main(["run", {str(recipe)!r}, "--out", {str(out)!r}], standalone_mode=False)
        main(["run", {str(recipe)!r}, "--out", {str(out)!r}], standalone_mode=False)
    """)
    assert built.returncode == 0, built.stderr
    store = RecipeStore(out, "tiles")
    assert store.versions() == ["v0001"]  # the second run found nothing to do
    assert len(store.manifest("v0001")["assets"]) == 2


def test_lock_names_its_holder_and_leaves_no_holder_file(tmp_path):
    store = RecipeStore(tmp_path, "r")
    with store.lock():
        assert (tmp_path / "r" / ".lock.holder").read_text().startswith(f"pid {os.getpid()} on ")
        with pytest.raises(LockBusy, match=f"pid {os.getpid()}"):
            with RecipeStore(tmp_path, "r").lock(wait=False):
                pass
    assert not (tmp_path / "r" / ".lock.holder").exists()
    with store.lock(wait=False):  # released
        pass


def test_link_or_copy_copies_when_links_are_refused(tmp_path, monkeypatch):
    src = tmp_path / "a.png"
    src.write_bytes(b"pixels")

    def refuse(*args):  # what Windows says on FAT/exFAT or without link rights
        raise OSError(22, "Incorrect function")

    monkeypatch.setattr(os, "link", refuse)
    link_or_copy(src, tmp_path / "b.png")
    assert (tmp_path / "b.png").read_bytes() == b"pixels"
    assert not Path(tmp_path / "b.png").samefile(src)
    with pytest.raises(FileNotFoundError):
        link_or_copy(tmp_path / "missing.png", tmp_path / "c.png")


def test_hook_copies_where_symlinks_are_refused_and_avoids_reserved_folder_names(tmp_path, monkeypatch):
    import json

    from click.testing import CliRunner

    from zpipe.cli import main

    def refuse(*args, **kwargs):  # Windows without Developer Mode: WinError 1314, a PermissionError
        raise PermissionError(1, "A required privilege is not held by the client")

    monkeypatch.setattr(os, "symlink", refuse)
    req = {"version": 1, "target": str(tmp_path / "tex"), "store": str(tmp_path / "store"), "engine": "procedural",
           "link": "symlink", "defaults": {"size": 64, "maps": ["albedo", "roughness"]},
           "materials": [{"name": "CON", "description": "granite"}, {"name": "nul.", "description": "slate"}]}
    (tmp_path / "r.json").write_text(json.dumps(req))
    r = CliRunner().invoke(main, ["hook", "export", "--request", str(tmp_path / "r.json"), "--json"])
    assert r.exit_code == 0, r.output
    answer = json.loads(r.stdout)
    assert [Path(m["folder"]).name for m in answer["materials"].values()] == ["CON_", "nul_"]
    for m in answer["materials"].values():
        for path in m["files"].values():
            assert Path(path).is_file() and not Path(path).is_symlink()
