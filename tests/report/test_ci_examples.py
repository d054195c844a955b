"""The CI examples parse, cache the same folder they build into, and run zpipe with the reports."""

from __future__ import annotations

import shlex
from pathlib import Path

import yaml

from zpipe.cli import main

CI = Path(__file__).resolve().parents[2] / "examples" / "ci"


def zpipe_run_args(script: str) -> list[str]:
    line = " ".join(script.split())
    args = shlex.split(line[line.index("zpipe run"):])
    return args[2:]


def test_github_workflow():
    wf = yaml.safe_load((CI / "github-nightly.yml").read_text())
    assert "schedule" in (wf.get(True) or wf.get("on"))  # YAML 1.1 reads `on` as true
    steps = wf["jobs"]["textures"]["steps"]
    uses = [s.get("uses", "") for s in steps]
    restore = steps[uses.index("actions/cache/restore@v4")]
    save = steps[uses.index("actions/cache/save@v4")]
    assert restore["with"]["path"] == save["with"]["path"] == "out"
    assert save["if"] == "always()"
    build = next(s for s in steps if "zpipe run" in s.get("run", ""))
    args = zpipe_run_args(build["run"])
    assert args[args.index("--out") + 1] == "out"
    assert {"reports/junit.xml", "reports/summary.md"} <= {args[i + 1] for i, a in enumerate(args) if a == "--report"}
    upload = steps[uses.index("actions/upload-artifact@v4")]
    assert upload["with"]["path"] == "reports/" and upload["if"] == "always()"
    assert any("contact_sheet.png" in s.get("run", "") for s in steps)


def test_gitlab_job():
    job = yaml.safe_load((CI / "gitlab-ci.yml").read_text())["zpipe-nightly"]
    assert any(c["paths"] == ["out/"] and c["when"] == "always" for c in job["cache"])
    args = zpipe_run_args(job["script"][0])
    assert args[args.index("--out") + 1] == "out" and "--report" in args
    assert job["artifacts"]["reports"]["junit"] == "reports/junit.xml" and job["artifacts"]["when"] == "always"
    assert any("contact_sheet.png" in line for line in job["after_script"])


def test_the_example_commands_are_valid_zpipe_options():
    """Every option the examples pass to `zpipe run` exists (click rejects unknown ones with exit 2)."""
    params = {o for p in main.commands["run"].params for o in p.opts}
    for text in ((CI / "github-nightly.yml").read_text(), (CI / "gitlab-ci.yml").read_text()):
        run = next(v for v in _strings(yaml.safe_load(text)) if "zpipe run" in v)
        for arg in zpipe_run_args(run):
            if arg.startswith("--"):
                assert arg in params, arg


def _strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for v in node.values():
            yield from _strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v)
