"""The docs name what the code has: every module in the README's Architecture, every recipe key in
docs/recipes.md."""

from __future__ import annotations

from helpers import REPO, package_modules


def _section(text: str, heading: str) -> str:
    start = text.index(heading + "\n")
    end = text.find("\n## ", start + len(heading))
    return text[start:] if end < 0 else text[start:end]


def test_the_readme_architecture_names_every_module():
    section = _section((REPO / "README.md").read_text(encoding="utf-8"), "## Architecture")
    rows = {line.split("|")[1].strip().split()[0].strip("`"): line for line in section.splitlines()
            if line.startswith("| `zpipe")}
    missing = []
    for name, path in sorted(package_modules().items()):
        package, _, stem = name.rpartition(".")
        if path.name in ("__init__.py", "__main__.py"):
            continue
        if package not in rows or f"`{stem}`" not in rows[package]:
            missing.append(name)
    assert not missing, f"README.md, Architecture: say what these modules hold: {', '.join(missing)}"


def test_the_recipe_reference_documents_every_recipe_key():
    from zpipe.recipe.fields import COMMON, ENGINE_OPTIONS, TEXT_ROLES, TOP_ONLY

    reference = (REPO / "docs" / "recipes.md").read_text(encoding="utf-8")
    for key in [*TOP_ONLY, *COMMON, *ENGINE_OPTIONS, *TEXT_ROLES, "size", "engine", "matrix", "assets", "stages",
                "output", "limits"]:
        assert f"`{key}`" in reference, key
