"""kill -9 at random moments, with staging and published files damaged between the runs: every run
ends with a version whose files match its manifest, nothing damaged is reused, and `verify --repair`
restores the old versions."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

RECIPE = "name: t\nengine: {name: procedural, batch_size: 1}\nsize: 512\nprompt: '{m} stone'\nmatrix: {m: [%s]}\n"
FIRST = ", ".join("abcdefghij")
SECOND = FIRST + ", k, l"


def run(zpipe_cmd, path, out, kill_after: int | None = None) -> tuple[int, list[dict]]:
    proc = subprocess.Popen([*zpipe_cmd, "run", str(path), "--out", str(out), "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    events, deadline = [], time.monotonic() + 240
    for line in proc.stdout:
        events.append(json.loads(line))
        if kill_after is not None and sum(e["event"] == "asset_done" for e in events) >= kill_after:
            os.kill(proc.pid, signal.SIGKILL)
            break
        assert time.monotonic() < deadline
    proc.wait(timeout=60)
    assert kill_after is not None or proc.returncode == 0, proc.stderr.read()
    return proc.returncode, events


def intact(version: Path) -> None:
    manifest = json.loads((version / "manifest.json").read_text())
    assert manifest["assets"] and all(a["status"] != "failed" for a in manifest["assets"])
    for a in manifest["assets"]:
        for rel, digest in a["outputs"].items():
            assert hashlib.sha256((version / rel).read_bytes()).hexdigest() == digest, rel


def test_kill_9_with_damage_between_runs(tmp_path, zpipe_cmd):
    path, out = tmp_path / "r.yaml", tmp_path / "out"
    root = out / "t"
    path.write_text(RECIPE % FIRST)
    code, _ = run(zpipe_cmd, path, out, kill_after=4)
    assert code == -signal.SIGKILL and not (root / "v0001").exists()
    staged = sorted(p for p in (root / ".staging").iterdir() if (p / "result.json").is_file())
    assert len(staged) >= 4
    (staged[0] / "albedo.png").write_bytes((staged[0] / "albedo.png").read_bytes()[:64])  # torn write
    (staged[1] / "result.json").write_text("{")  # a damaged record
    (staged[2] / "albedo.png").unlink()  # a lost file
    code, events = run(zpipe_cmd, path, out)
    resumed = [e for e in events if e["event"] == "asset_done" and e.get("resumed")]
    assert len(resumed) == len(staged) - 3 and events[-1]["version"] == "v0001"
    intact(root / "v0001")

    # Published files damaged in place (shared by hardlinks with later versions), one deleted; the
    # recipe grows; the next run is killed too, then finished.
    assets = sorted(p for p in (root / "v0001").iterdir() if p.is_dir())
    with open(assets[0] / "albedo.png", "r+b") as f:
        f.seek(300)
        f.write(b"\xff" * 32)
    (assets[1] / "albedo.png").unlink()
    path.write_text(RECIPE % SECOND)
    code, _ = run(zpipe_cmd, path, out, kill_after=1)
    assert code == -signal.SIGKILL
    code, events = run(zpipe_cmd, path, out)
    done = events[-1]
    assert done["version"] == "v0002" and done["reused"] == 8 and done["built"] == 4
    intact(root / "v0002")
    # The old version still shows its damage; repair re-links it from the rebuilt, intact copies.
    r = subprocess.run([*zpipe_cmd, "verify", str(root)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and f"v0001/{assets[0].name}/albedo.png: changed" in r.stdout
    assert f"v0001/{assets[1].name}/albedo.png: missing" in r.stdout
    r = subprocess.run([*zpipe_cmd, "verify", str(root), "--repair"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    intact(root / "v0001")
    intact(root / "v0002")
