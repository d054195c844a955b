"""The package's modules import each other without circles.

The graph is read from the source (every ``import`` in pipeline/ and engine/, also those inside functions,
which only defer a circle; not those under ``if TYPE_CHECKING:``, which never run, nor a module's import
of its own parent package, which Python has always run before the module), so the test needs
neither torch nor ray. A circle means two modules that cannot be understood, or changed, one at a time.
"""

from __future__ import annotations

import ast
from pathlib import Path

from helpers import package_modules


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST):
    """Every Import/ImportFrom node that runs (skipping ``if TYPE_CHECKING:`` bodies)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def imported(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that module ``name`` (at ``path``) imports."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in _imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            # `from pkg import sub` imports the submodule `pkg.sub` when there is one, else names of pkg.
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        for target in targets:
            while target and target not in known:  # `import zpipe.x.y` of a name inside a module
                target = target.rpartition(".")[0]
            # A module's own packages ran before it (Python imports them first): no edge, no circle.
            if target and target != name and not name.startswith(target + "."):
                out.add(target)
    return out


def import_graph() -> dict[str, set[str]]:
    mods = package_modules()
    known = set(mods)
    return {name: imported(name, path, known) for name, path in mods.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_the_package():
    graph = import_graph()
    assert "zpipe.cli" in graph and "zpipe.engine.zimage.dit" in graph
    assert "zpipe.report.rules" in graph["zpipe.report.junit"]  # a plain `from x import y`
    assert "zpipe.texture.dds" in graph["zpipe.texture.readback"]  # `from package import module`


def test_circle_finder_finds_a_circle():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_no_import_circles():
    found = circles(import_graph())
    assert not found, "modules that import each other (move the shared part into a module of its own): " + \
        "; ".join(" <-> ".join(c) for c in found)


def test_only_the_ocr_module_imports_rapidocr():
    # one module knows the engine's API (its internals included): a rapidocr upgrade is checked in one place
    users = {name for name, path in package_modules().items()
             for node in _imports(ast.parse(path.read_text(encoding="utf-8"), str(path)))
             if any(n.split(".")[0] == "rapidocr_onnxruntime" for n in
                    ([node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]))}
    assert users == {"zpipe.text.ocr"}, users
