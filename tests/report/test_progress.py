"""Progress in CI logs: without a terminal, one plain line every N assets or 30 s, with counts and the ETA."""

from __future__ import annotations

import subprocess

from zpipe.report.progress import EventPrinter, PlainProgress


def test_plain_lines_every_n_assets_and_every_30_seconds():
    now = [0.0]
    lines: list[str] = []
    p = PlainProgress(100, lines.append, every=25, seconds=30, clock=lambda: now[0])
    for _ in range(10):  # reused assets come first and fast
        p.update({"status": "reused"})
    for _ in range(15):
        now[0] += 1.0
        p.update({"status": "built"})
    assert lines == ["zpipe: 25/100 assets (built 15, reused 10, failed 0), 1.0 assets/s, elapsed 0:15, ETA 1:15\n"]
    now[0] += 40  # a slow asset: the 30 s rule prints although 25 more are not done
    p.update({"status": "failed"})
    assert lines[-1].startswith("zpipe: 26/100 assets (built 15, reused 10, failed 1)") and "elapsed 0:55" in lines[-1]
    for _ in range(74):
        p.update({"status": "built"})
    assert lines[-1].startswith("zpipe: 100/100 assets") and lines[-1].endswith("ETA 0:00\n")
    assert len(lines) == 5  # at 25, the 30 s line, 50, 75, 100


def test_the_printer_writes_plain_lines_when_stderr_is_not_a_terminal(capsys):
    printer = EventPrinter(json_mode=False, terminal=False)
    printer({"event": "start", "recipe": "r", "total": 40, "build": 40, "reuse": 0, "resume": 0, "engine": "procedural",
             "executor": "local"})
    for i in range(40):
        printer({"event": "asset_done", "id": f"a{i}", "status": "built"})
    printer({"event": "done", "version": "v0001", "path": "out/r/v0001", "built": 40, "reused": 0, "failed": 0})
    err = capsys.readouterr().err
    progress = [line for line in err.splitlines() if line.startswith("zpipe: ")]
    assert [line.split(" assets")[0] for line in progress] == ["zpipe: 10/40", "zpipe: 20/40", "zpipe: 30/40",
                                                                "zpipe: 40/40"]
    assert "\x1b[" not in err and "━" not in err  # no bar, no escape codes


def test_a_real_run_into_a_pipe_logs_plain_lines(write_recipe, tmp_path, zpipe_cmd):
    text = "name: t\nengine: procedural\nsize: 64\nprompt: 'stone {n}'\nid: 's{n}'\nmatrix: {n: [%s]}\n"
    path = write_recipe(text % ", ".join(str(i) for i in range(12)))
    r = subprocess.run([*zpipe_cmd, "run", str(path), "--out", str(tmp_path / "out")], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.startswith("zpipe: ")]
    assert lines and lines[-1].startswith("zpipe: 12/12 assets (built 12, reused 0, failed 0)")
