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


def load_yaml(text: str, filename: str) -> tuple[Any, Locations]:
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
        locations: Locations = {}
        issues: list[Issue] = []
        if root is None:
            return None, locations
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
        return None


def _issue(filename, node, path, message, fix):
    from zpipe.recipe.errors import format_path

    return Issue(filename, node.start_mark.line + 1, node.start_mark.column + 1,
                 format_path(path) if path else "", message, fix)
