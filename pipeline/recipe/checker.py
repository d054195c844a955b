"""The checker that recipes and hook requests are validated with: every problem collected, each with
its place (file, line and column where the source has them, else the field path) and a fix."""

from __future__ import annotations

from typing import Any

from zpipe.params import Param
from zpipe.recipe.errors import Issue, did_you_mean, format_path
from zpipe.recipe.yaml_loader import KEY, Locations


class Checker:
    """Collects issues with locations while walking the document."""

    def __init__(self, filename: str, locations: Locations, overridden: dict[tuple, str]):
        self.filename = filename
        self.locations = locations
        self.overridden = overridden
        self.issues: list[Issue] = []

    def error(self, path: tuple, message: str, fix: str = "", at_key: bool = False) -> None:
        for n in range(len(path), -1, -1):
            if path[:n] in self.overridden:  # "--set size=3" or "--engine zimage"
                self._add(Issue(self.overridden[path[:n]], 0, 0, format_path(path), message, fix))
                return
        line, col = self.locations.get(path + (KEY,), (0, 0)) if at_key else (0, 0)
        for n in range(len(path), -1, -1) if not line else ():  # nearest located ancestor (a missing key points at its parent)
            if path[:n] in self.locations:
                line, col = self.locations[path[:n]]
                break
        self._add(Issue(self.filename, line, col, format_path(path) if path else "", message, fix))

    def _add(self, issue: Issue) -> None:
        # A top-level field shared by every asset (a prompt's placeholder typo) is one problem, not one per asset.
        if not any(i.file == issue.file and i.line == issue.line and i.path == issue.path and i.message == issue.message
                   for i in self.issues):
            self.issues.append(issue)

    def param(self, path: tuple, spec: Param, value: Any) -> Any:
        value, problem = spec.check(value)
        if problem:
            self.error(path, problem, fix_for(spec))
            return None
        return value

    def mapping(self, path: tuple, value: Any, allowed, what: str) -> dict:
        if not isinstance(value, dict):
            self.error(path, f"expected a mapping of {what}, got {kind_of(value)}", f"write {what} as `key: value` lines")
            return {}
        for key in value:
            if key not in allowed:
                self.error(path + (key,), f"unknown key {key!r}", did_you_mean(key, allowed), at_key=True)
        return value


    def params(self, path: tuple, value: Any, schema: dict[str, Param], what: str) -> dict:
        """Check a mapping against a table of Params: unknown keys, missing required ones, each value;
        returns every key of the table (the default where a key is not written, None where it is wrong)."""
        value = self.mapping(path, {} if value is None else value, schema, what)
        out = {}
        for key, spec in schema.items():
            if key in value:
                out[key] = self.param(path + (key,), spec, value[key])
            elif spec.required:
                self.error(path + (key,), f"missing required key {key!r}", fix_for(spec))
                out[key] = None
            else:
                out[key] = spec.default
        return out


def fix_for(spec: Param) -> str:
    """The fix for a value that does not fit ``spec``: what to write, and what the setting is for."""
    return f"set it to {spec.describe()}" + (f" ({spec.doc.rstrip('.')})" if spec.doc else "")


def kind_of(value: Any) -> str:
    """What a value is, in the words of the messages ("a mapping", "true or false")."""
    if value is None:
        return "nothing (null)"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "true or false", int: "an integer",
            float: "a number"}.get(type(value), type(value).__name__)
