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
