"""Safe YAML loading that remembers where every value came from.

Only plain YAML is built (mappings, sequences, scalars): tags such as ``!!python/object`` are
refused, so a recipe can never construct objects. Duplicate keys are errors, not silent overrides.
"""

from __future__ import annotations

from typing import Any

import yaml

from zpipe.recipe.errors import Issue, RecipeError

Locations = dict[tuple, tuple[int, int]]  # field path -> (line, column), 1-based
KEY = "\0key"  # locations[path + (KEY,)] is where the key of a mapping entry is written
_PLAIN_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:omap"}


MAX_DEPTH = 64  # nesting levels; recipes use fewer than 10
DEFAULT_MAX_VALUES = 200_000  # values once aliases are expanded; a recipe may raise it (`limits: {values: N}`)


def load_yaml(text: str, filename: str, max_values: int | None = None) -> tuple[Any, Locations]:
    """Parse YAML into plain values and their locations. The node graph is measured before any value is
    built: a self-referencing alias, deep nesting or an alias bomb (billion laughs) is an error, not a
    RecursionError or gigabytes. ``max_values`` defaults to the document's own ``limits.values``."""
    try:
        loader = yaml.SafeLoader(text)
    except yaml.YAMLError as exc:  # the reader rejects control characters before parsing starts
        raise RecipeError([Issue(filename, 0, 0, "", f"YAML error: {exc}", "remove the control characters")]) from None
    try:
        try:
            root = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
            problem = exc.problem or str(exc)
            raise RecipeError([Issue(filename, line, col, "", f"YAML syntax error: {problem}",
                                     "fix the YAML syntax at this position")]) from None
        except yaml.YAMLError as exc:
            raise RecipeError([Issue(filename, 0, 0, "", f"YAML error: {exc}", "fix the YAML syntax")]) from None
        except RecursionError:
            raise RecipeError([Issue(filename, 0, 0, "", f"the document is nested more than {MAX_DEPTH} levels deep",
                                     "flatten it: recipes need only a few levels")]) from None
        locations: Locations = {}
        issues: list[Issue] = []
        if root is None:
            return None, locations
        limit = max_values or _declared_limit(loader, root) or DEFAULT_MAX_VALUES
        problem = _measure(root, limit)
        if problem:
            node, message, fix = problem
            raise RecipeError([Issue(filename, node.start_mark.line + 1, node.start_mark.column + 1, "", message, fix)])
        value = _build(loader, root, (), locations, issues, filename)
        if issues:
            raise RecipeError(issues)
        return value, locations
    finally:
        loader.dispose()


def _build(loader, node, path, locations, issues, filename):
    locations[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if not isinstance(node, yaml.ScalarNode) and node.tag not in _PLAIN_TAGS:
        issues.append(_issue(filename, node, path, f"unsupported YAML tag {node.tag!r}",
                             "recipes hold plain values only: remove the tag"))
        return None
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolves merge keys (<<)
        out: dict = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                issues.append(_issue(filename, key_node, path, "mapping keys must be plain names",
                                     "write the key as a plain word"))
                continue
            key = _scalar(loader, key_node, path, issues, filename)
            if not isinstance(key, str):
                key = str(key)
            if key in out:
                issues.append(_issue(filename, key_node, path + (key,), "duplicate key",
                                     "remove one of the two entries"))
                continue
            locations[path + (key, KEY)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            out[key] = _build(loader, value_node, path + (key,), locations, issues, filename)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(loader, item, path + (i,), locations, issues, filename) for i, item in enumerate(node.value)]
    return _scalar(loader, node, path, issues, filename)


def _scalar(loader, node, path, issues, filename):
    try:
        return loader.construct_object(node, deep=True)
    except yaml.constructor.ConstructorError as exc:
        issues.append(_issue(filename, node, path, f"unsupported YAML value ({exc.problem})",
                             "recipes hold plain values only: remove the tag"))
    except ValueError:  # an integer of more than 4300 digits (Python's limit on int from text)
        issues.append(_issue(filename, node, path, f"the number {node.value[:20]}… has too many digits",
                             "write a number that fits its field"))
    return None


class _TooMuch(Exception):
    def __init__(self, node, message: str, fix: str):
        super().__init__(message)
        self.problem = (node, message, fix)


def _measure(root, limit: int) -> tuple[Any, str, str] | None:
    """(node, message, fix) for a document that is nested too deeply, refers to itself, or expands to more
    than ``limit`` values; else None. Linear in the node graph: shared (aliased) nodes are sized once."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node, depth: int) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            raise _TooMuch(node, "an alias refers to a node that contains it (a recursive alias)",
                           "replace the alias (*name) by the values it should hold")
        if depth > MAX_DEPTH:
            raise _TooMuch(node, f"the document is nested more than {MAX_DEPTH} levels deep",
                           "flatten it: recipes need only a few levels")
        open_nodes.add(key)
        children = [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else \
            node.value if isinstance(node, yaml.SequenceNode) else []
        total = 1
        for child in children:
            total += size(child, depth + 1)
            if total > limit:
                raise _TooMuch(node, f"the document holds more than {limit:,} values once its aliases are expanded",
                               "write fewer values or fewer alias references, or raise `limits: {values: N}`")
        open_nodes.discard(key)
        sizes[key] = total
        return total

    try:
        size(root, 0)
    except _TooMuch as exc:
        return exc.problem
    return None


def _declared_limit(loader, root) -> int | None:
    """``limits: {values: N}`` as written at the top of the document (read before anything is built)."""
    value = _child(_child(root, "limits"), "values")
    if isinstance(value, yaml.ScalarNode) and value.value.isdigit() and len(value.value) < 10:
        return int(value.value)
    return None


def _child(node, key: str):
    if not isinstance(node, yaml.MappingNode):
        return None
    return next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == key), None)


def _issue(filename, node, path, message, fix):
    from zpipe.recipe.errors import format_path

    return Issue(filename, node.start_mark.line + 1, node.start_mark.column + 1,
                 format_path(path) if path else "", message, fix)
