"""Exit codes come from one table; a bug ends in one line naming the log (exit 70); output streams that
close never stop or fail a build."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from zpipe.cli import main
from zpipe.exits import EXIT_BUG, classify

RECIPE = "name: demo\nsize: 64\nengine: procedural\nprompt: '{m} stone'\nmatrix: {m: [a, b, c, d, e, f, g, h]}\n"


def test_the_table_maps_errors_to_codes():
    from zpipe.engine.base import EngineError
    from zpipe.hook import HookError
    from zpipe.recipe import Issue, RecipeError
    from zpipe.store import LockBusy, StoreError

    assert classify(RecipeError([Issue("r.yaml", 1, 1, "size", "bad")]))[0] == 2
    assert classify(EngineError("no weights"))[0] == 2
    assert classify(HookError(["target: bad"]))[0] == 2
    assert classify(LockBusy("busy"))[0] == 1
    assert classify(StoreError("damaged"))[0] == 1
    assert classify(PermissionError(13, "Permission denied", "/x"))[0] == 1
    assert classify(KeyboardInterrupt())[0] == 130
    assert classify(ZeroDivisionError()) == (EXIT_BUG, None)


EXIT_HANDLERS_SCRIPT = """
import atexit, sys
import click
from zpipe.cli import entry, main
from zpipe.executors.ray_executor import ClusterError

atexit.register(lambda: print("exit handlers ran", flush=True))

@main.command()
@click.argument("how")
def boom(how):
    if how == "error":
        raise ClusterError("no cluster")
    try:  # an error with skip_exit_handlers, handled; the command then ends normally
        raise ClusterError("handled")
    except ClusterError:
        sys.exit(0)

sys.argv = ["zpipe", "boom", sys.argv[1]]
entry()
"""


@pytest.mark.parametrize("how", ["error", "handled"])
def test_only_a_command_ended_by_an_error_that_says_so_skips_the_exit_handlers(how):
    r = subprocess.run([sys.executable, "-c", EXIT_HANDLERS_SCRIPT, how], capture_output=True, text=True,
                       timeout=120)
    if how == "error":
        assert (r.returncode, r.stderr, r.stdout) == (1, "error: no cluster\n", "")
    else:  # the handled error is the exit's __context__, not what ended the command
        assert (r.returncode, r.stdout) == (0, "exit handlers ran\n"), r.stderr


@pytest.mark.reaches_bug_handler
def test_a_bug_is_one_line_naming_the_log_and_the_trace_only_under_v(write_recipe, tmp_path, monkeypatch):
    import zpipe.plan

    def broken(*a, **k):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(zpipe.plan, "make_plan", broken)  # a stand-in for any bug in a command
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = write_recipe(RECIPE)
    r = CliRunner().invoke(main, ["plan", str(path), "--out", str(tmp_path / "out")])
    assert r.exit_code == EXIT_BUG
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and "internal error (ZeroDivisionError: a bug)" in lines[0] and "report" in lines[0]
    log = next((tmp_path / "cache" / "zpipe" / "logs").glob("crash-*.log"))
    assert str(log) in lines[0] and "Traceback" in log.read_text() and "Traceback" not in r.output
    r = CliRunner().invoke(main, ["-v", "plan", str(path), "--out", str(tmp_path / "out")])
    assert r.exit_code == EXIT_BUG and "Traceback (most recent call last)" in r.output


def _shell(cmd: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", cmd], cwd=cwd, capture_output=True, text=True, timeout=300)


needs_bash = pytest.mark.skipif(shutil.which("bash") is None or sys.platform == "win32", reason="needs bash")
ZPIPE = f"'{sys.executable}' -m zpipe"


@needs_bash
@pytest.mark.parametrize("redirect", ["--json >&-", "--json | true", "--json | head -1", "2>&1 | true",
                                      "2>&1 | head -2"])
def test_a_closed_output_stream_neither_stops_nor_fails_the_build(write_recipe, tmp_path, redirect):
    path = write_recipe(RECIPE)
    r = _shell(f"{ZPIPE} run {path} --out out {redirect}; echo \"exit ${{PIPESTATUS[0]}}\" >&2", tmp_path)
    assert r.stderr.strip().splitlines()[-1] == "exit 0", r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    manifest = json.loads((tmp_path / "out" / "demo" / "v0001" / "manifest.json").read_text())
    assert [a["status"] for a in manifest["assets"]] == ["built"] * 8
