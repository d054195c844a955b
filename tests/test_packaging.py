"""The wheel holds every package: pyproject's explicit `packages` list names each folder of pipeline/ and
engine/ that has an __init__.py (an editable install finds a forgotten one anyway, so only this catches it)."""

from __future__ import annotations

import pytest
from helpers import REPO


def test_every_package_folder_is_in_the_wheel():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    on_disk = set()
    for name, folder in setuptools["package-dir"].items():
        root = REPO / folder
        for init in root.rglob("__init__.py"):
            rel = init.parent.relative_to(root)
            on_disk.add(".".join([name, *rel.parts]))
    assert on_disk - listed == set(), f"add these to [tool.setuptools] packages: {sorted(on_disk - listed)}"


def test_the_wheel_ships_the_served_data_folders_without_setuptools_warnings(tmp_path):
    # `zpipe serve` serves the review page (serve/web, three.js in web/vendor) and docs/*.md from the install.
    import importlib.util
    import shutil
    import subprocess
    import sys
    import zipfile

    if importlib.util.find_spec("setuptools") is None:
        pytest.skip("no setuptools here to build the wheel offline")
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(REPO / "pyproject.toml", src)
    shutil.copy(REPO / "README.md", src)
    for folder in ("pipeline", "engine"):
        shutil.copytree(REPO / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__"))
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--no-build-isolation", "-w",
                        str(tmp_path / "out"), str(src)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "absent from the `packages` configuration" not in r.stdout + r.stderr, r.stdout + r.stderr
    names = set(zipfile.ZipFile(next((tmp_path / "out").glob("zpipe-*.whl"))).namelist())
    for folder, pattern in (("pipeline/docs", "*.md"), ("pipeline/serve/web", "*.*"),
                            ("pipeline/serve/web/vendor", "*")):
        files = [p for p in (REPO / folder).glob(pattern) if p.is_file()]
        assert files
        for p in files:
            assert "zpipe/" + p.relative_to(REPO / "pipeline").as_posix() in names, p
