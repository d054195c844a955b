"""A server over a temporary output root and recipe folder, driven through Starlette's TestClient."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from zpipe.serve.app import ServeConfig, create_app

RECIPE = """\
name: tiny
engine: procedural
size: 64
prompt: "seamless {material} texture"
matrix:
  material: [granite, brick]
stages:
  - tile
  - pbr
"""


@pytest.fixture
def folders(tmp_path):
    out, roots = tmp_path / "out", tmp_path / "project"
    out.mkdir()
    roots.mkdir()
    (roots / "tiny.yaml").write_text(RECIPE, encoding="utf-8")
    (tmp_path / "secret.txt").write_text("TOPSECRET-CONTENT", encoding="utf-8")
    return out, roots


def make_client(out: Path, roots: Path, **kw) -> TestClient:
    config = ServeConfig(out, [roots], **kw)
    return TestClient(create_app(config), base_url="http://127.0.0.1")


@pytest.fixture
def client(folders):
    out, roots = folders
    with make_client(out, roots, idle_seconds=600, allowed_hosts=["127.0.0.1", "localhost"]) as c:
        yield c


def wait_build(client: TestClient, job_id: str, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/builds/{job_id}").json()
        if job["state"] in ("done", "failed", "cancelled"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"build {job_id} did not finish in {timeout} s")


def sse_events(client: TestClient, job_id: str) -> tuple[list[dict], dict]:
    """The build's progress events (the `zpipe run --json` dicts) and the final `end` state."""
    events, end, name = [], None, None
    with client.stream("GET", f"/api/builds/{job_id}/events") as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
                if name == "end":
                    end = data
                else:
                    events.append(data)
                name = None
    return events, end
