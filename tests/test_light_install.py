"""The base install (procedural engine, stages, store, CLI) works without the extras; using an optional part
without its extra is one line naming it. The extras are made unavailable in a child interpreter (as in a
venv made with a plain `pip install .`); .ci/run also builds the stock recipe in a real base-install venv."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from helpers import REPO

EXTRA_MODULES = ("torch", "ray", "safetensors", "tokenizers", "huggingface_hub")
# `import torch` (and the others) raise ImportError in the child, as where they are not installed
BLOCK = f"import sys\nfor m in {EXTRA_MODULES!r}:\n    sys.modules[m] = None\n"


def _python(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK + textwrap.dedent(code), *args], capture_output=True,
                          text=True, timeout=600, cwd=REPO)


def _zpipe(*args: str) -> subprocess.CompletedProcess:
    return _python("from zpipe.cli import main\nmain(sys.argv[1:])", *args)


def test_pyproject_extras():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    base = " ".join(project["dependencies"])
    for heavy in ("torch", "ray", "safetensors", "tokenizers", "huggingface_hub"):
        assert heavy not in base, heavy
    extras = project["optional-dependencies"]
    assert [d.split(">")[0].split("=")[0] for d in extras["zimage"]] == ["torch", "safetensors", "tokenizers"]
    assert extras["ray"][0].startswith("ray") and extras["hub"][0].startswith("huggingface_hub")
    assert extras["all"] == ["zpipe[zimage,ray,hub]"] and "zpipe[all]" in extras["test"]


def test_stock_recipe_builds_without_the_extras(tmp_path):
    r = _zpipe("run", "recipes/stone_textures.yaml", "--out", str(tmp_path), "--set", "size=64",
               "--set", "matrix.variant=[clean]", "--json")
    assert r.returncode == 0, r.stderr[-3000:]
    assert '"event": "done"' in r.stdout and '"failed": 0' in r.stdout
    assert (tmp_path / "stone_textures" / "v0001" / "manifest.json").is_file()
    r = _python("""
        from zpipe.cli import main
        try:
            main(["validate", "recipes/stone_textures.yaml", "recipes/bilingual_posters.yaml"])
        except SystemExit as e:
            assert e.code == 0, e.code
        import importlib, pkgutil, zpipe
        optional = ("zpipe.executors.ray_executor", "zpipe.texture.esrgan", "zpipe.engine.zimage.")
        for m in pkgutil.walk_packages(zpipe.__path__, "zpipe."):
            if not m.name.startswith(optional):
                importlib.import_module(m.name)  # every base module imports without the extras
        print("ok")
    """)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-3000:]


def test_optional_parts_name_their_extra(tmp_path):
    expected = {
        ("run", "recipes/stone_textures.yaml", "--out", str(tmp_path), "--engine", "z-image-turbo"): "zimage",
        ("run", "recipes/stone_textures.yaml", "--out", str(tmp_path), "--executor", "ray"): "ray",
        ("bench", "--preset", "tiny"): "zimage",
        ("models", "pull"): "hub",
    }
    for args, extra in expected.items():
        r = _zpipe(*args)
        assert r.returncode == 2, (args, r.returncode, r.stderr[-2000:])
        errors = [ln for ln in r.stderr.splitlines() if ln.lower().startswith("error")]  # (ray: after click's usage)
        assert len(errors) == 1 and f"pip install 'zpipe[{extra}]'" in errors[0], (args, r.stderr)
        assert "Traceback" not in r.stderr
    for module, extra in (("zpipe.executors.ray_executor", "ray"),):
        r = _python(f"import {module}")
        assert r.returncode == 1 and f"pip install 'zpipe[{extra}]'" in r.stderr.strip().splitlines()[-1], r.stderr
        assert r.stderr.strip().splitlines()[-1].startswith("zpipe.engine.extras.MissingExtra: the Ray executor")
