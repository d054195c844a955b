"""The build queue's JSON API, live progress as server-sent events, resident engines and approvals,
through the real app (Starlette's TestClient) and real builds with the procedural engine."""

from __future__ import annotations

import json
import threading
import time

import pytest
from click.testing import CliRunner

from tests.serve.conftest import RECIPE, make_client, sse_events, wait_build
from zpipe.cli import main

JSON = {"Content-Type": "application/json"}


def submit(client, body):
    return client.post("/api/builds", content=json.dumps(body), headers=JSON)


def test_build_by_path_streams_the_cli_events_and_lists_the_version(client, folders):
    out, roots = folders
    r = submit(client, {"recipe": "tiny.yaml"})
    assert r.status_code == 202, r.text
    job = r.json()
    events, end = sse_events(client, job["id"])
    assert end["state"] == "done" and end["progress"] == {"done": 2, "total": 2}
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and kinds.count("asset_done") == 2
    # the same events `zpipe run --json` prints for the same build (fresh output root)
    cli = CliRunner().invoke(main, ["run", str(roots / "tiny.yaml"), "--out", str(out / "cli"), "--json",
                                    "--executor", "local"])
    cli_events = [json.loads(line) for line in cli.stdout.splitlines()]
    strip = ("path", "seconds")

    def same(es):  # asset_done order follows completion, which overlapping stages may reorder
        rows = [json.dumps({k: v for k, v in e.items() if k not in strip and (e["event"] != "workers" or k == "event")},
                           sort_keys=True) for e in es]  # timings differ from run to run
        return rows[0], sorted(rows[1:-1]), rows[-1]
    assert same(events) == same(cli_events)
    status = client.get(f"/api/builds/{job['id']}").json()
    assert status["result"]["version"] == "v0001" and status["result"]["built"] == 2
    versions = client.get("/api/recipes/tiny").json()
    assert [v["version"] for v in versions["versions"]] == ["v0001"]
    assert [r["name"] for r in client.get("/api/recipes").json()["recipes"]] == ["tiny"]


def test_inline_yaml_overrides_and_validation_errors(client, folders):
    r = submit(client, {"yaml": RECIPE.replace("name: tiny", "name: inline"), "set": ["size=80"]})
    assert r.status_code == 202, r.text
    assert wait_build(client, r.json()["id"])["state"] == "done"
    page = client.get("/api/recipes/inline/versions/latest").json()
    assert {tuple(a["size"]) for a in page["assets"]["items"]} == {(80, 80)}
    bad = submit(client, {"yaml": "name: bad\nsize: 65\n"})
    assert bad.status_code == 422 and "size" in bad.json()["error"] and ".yaml:2" in bad.json()["error"]
    assert submit(client, {"recipe": "tiny.yaml", "yaml": "x"}).status_code == 400
    assert submit(client, {"recipe": "missing.yaml"}).status_code == 404
    assert submit(client, {"recipe": "tiny.yaml", "set": "size=1"}).status_code == 400


def test_only_builds_the_selected_assets(client, folders):
    wait_build(client, submit(client, {"recipe": "tiny.yaml"}).json()["id"])
    job = submit(client, {"recipe": "tiny.yaml", "set": ["seed=5"], "only": ["gran*"]}).json()
    result = wait_build(client, job["id"])["result"]
    assert result["version"] == "v0002" and result["built"] == 1
    d = client.get("/api/recipes/tiny/diff").json()
    assert [a["id"] for a in d["assets"]] == ["granite"] and d["unchanged"] == ["brick"]
    bad = submit(client, {"recipe": "tiny.yaml", "only": ["nothing*"]})
    assert bad.status_code == 422 and "matches no asset" in bad.json()["error"]
    assert submit(client, {"recipe": "tiny.yaml", "only": "granite"}).status_code == 400


def test_engines_stay_resident_across_builds_and_drop_when_idle(folders):
    out, roots = folders
    with make_client(out, roots, idle_seconds=600) as client:
        for size in (96, 64):
            job = submit(client, {"recipe": "tiny.yaml", "set": [f"size={size}"]}).json()
            assert wait_build(client, job["id"])["state"] == "done"
        eng = client.get("/api/engines").json()
        assert eng["loads"] == 1 and eng["engines"][0]["builds"] == 2 and eng["engines"][0]["loaded"]
        pool = client.app.state.pool
        pool.idle_seconds = 0.0
        assert pool.sweep() == ["procedural"]
        assert client.get("/api/engines").json()["engines"] == []
        job = submit(client, {"recipe": "tiny.yaml", "set": ["size=112"]}).json()
        assert wait_build(client, job["id"])["state"] == "done"
        assert client.get("/api/engines").json()["loads"] == 2


def test_cancel_a_running_build_then_resume(folders):
    out, roots = folders
    many = RECIPE.replace("[granite, brick]", "[granite, brick, slate, marble, sand, moss, lava, ice]")
    (roots / "many.yaml").write_text(many.replace("name: tiny", "name: many").replace("size: 64", "size: 256"))
    with make_client(out, roots) as client:
        job = submit(client, {"recipe": "many.yaml"}).json()
        deadline = time.monotonic() + 60
        while client.get(f"/api/builds/{job['id']}").json()["state"] != "running" and time.monotonic() < deadline:
            time.sleep(0.01)
        r = client.delete(f"/api/builds/{job['id']}")
        assert r.status_code in (200, 202)
        final = wait_build(client, job["id"])
        assert final["state"] == "cancelled" and "staging" in final["error"]
        assert final["progress"]["done"] < 8
        assert not (out / "many" / "v0001").exists()
        again = wait_build(client, submit(client, {"recipe": "many.yaml"}).json()["id"])
        assert again["state"] == "done" and again["result"]["built"] == 8


def test_cancel_a_queued_build(folders):
    out, roots = folders
    with make_client(out, roots) as client:
        gate = threading.Event()
        queue = client.app.state.queue()
        blocker = queue.submit("build", "blocker", lambda job: gate.wait(30))
        queued = submit(client, {"recipe": "tiny.yaml"}).json()
        assert client.get(f"/api/builds/{queued['id']}").json()["state"] == "queued"
        assert client.delete(f"/api/builds/{queued['id']}").json()["state"] == "cancelled"
        gate.set()
        blocker.future.result(timeout=30)
        assert not (out / "tiny").exists()
        assert client.delete("/api/builds/nope").status_code == 404


def test_approval_follows_the_content_key(client, folders):
    out, roots = folders
    wait_build(client, submit(client, {"recipe": "tiny.yaml"}).json()["id"])
    r = client.post("/api/recipes/tiny/approvals", headers=JSON,
                    content=json.dumps({"asset": "granite", "decision": "approved", "comment": "good grain"}))
    assert r.status_code == 201, r.text
    client.post("/api/recipes/tiny/approvals", headers=JSON,
                content=json.dumps({"asset": "brick", "decision": "rejected", "comment": "too dark"}))
    # a new version: brick changes (new key), granite is reused (same key) and stays approved
    (roots / "tiny.yaml").write_text(RECIPE + "assets:\n  - {id: extra, prompt: sand}\n", encoding="utf-8")
    wait_build(client, submit(client, {"recipe": "tiny.yaml"}).json()["id"])
    (roots / "tiny.yaml").write_text(RECIPE.replace("texture\"", "texture, {material}\""), encoding="utf-8")
    rows = client.get("/api/recipes/tiny/approvals").json()
    assert rows["version"] == "v0002"
    review = {a["id"]: a["review"] for a in rows["assets"]}
    assert review == {"granite": "approved", "brick": "rejected", "extra": "pending"}
    cli = CliRunner().invoke(main, ["review", "list", str(out / "tiny"), "--json"])
    assert cli.exit_code == 0, cli.output
    assert {a["id"]: a["review"] for a in json.loads(cli.stdout)["assets"]} == review
    approved = CliRunner().invoke(main, ["review", "list", str(out / "tiny"), "--status", "approved"])
    assert approved.stdout.split()[:2] == ["approved", "granite"] and "brick" not in approved.stdout
    bad = client.post("/api/recipes/tiny/approvals", headers=JSON,
                      content=json.dumps({"asset": "granite", "decision": "maybe"}))
    assert bad.status_code == 400
    assert client.post("/api/recipes/tiny/approvals", headers=JSON,
                       content=json.dumps({"asset": "nope", "decision": "approved"})).status_code == 404


def test_browse_pages_diff_and_thumbnails(client, folders):
    out, roots = folders
    wait_build(client, submit(client, {"recipe": "tiny.yaml"}).json()["id"])
    wait_build(client, submit(client, {"recipe": "tiny.yaml", "set": ["matrix.material=[granite, slate]"]}).json()["id"])
    page = client.get("/api/recipes/tiny/versions/v0002?per_page=1&page=2").json()
    assert page["assets"]["pages"] == 2 and [a["id"] for a in page["assets"]["items"]] == ["slate"]
    asset = page["assets"]["items"][0]
    assert set(asset["web"]) >= {"albedo", "normal", "roughness", "ao", "height"}
    img = client.get(f"/files/tiny/v0002/{asset['web']['albedo']}")
    assert img.status_code == 200 and img.content[:4] == b"\x89PNG"
    thumb = client.get(f"/thumbs/tiny/v0002/{asset['web']['height']}?size=128")
    assert thumb.status_code == 200 and thumb.content[:2] == b"\xff\xd8"
    assert client.get(f"/thumbs/tiny/v0002/{asset['web']['height']}?size=99").status_code == 400
    d = client.get("/api/recipes/tiny/diff?old=v0001&new=v0002").json()
    changes = {a["id"]: a["change"] for a in d["assets"]}
    assert changes == {"brick": "removed", "slate": "added"} and d["unchanged"] == ["granite"]
    detail = client.get("/api/recipes/tiny/versions/latest/assets/granite").json()
    assert detail["asset"]["status"] == "reused" and detail["version"] == "v0002"


def test_hook_help_names_the_protocol_doc_shipped_in_the_package():
    import re
    from pathlib import Path

    r = CliRunner().invoke(main, ["hook", "--help"], terminal_width=400)
    path = Path(re.search(r"(\S+hook-protocol\.md)", r.output).group(1))
    assert path.is_file() and "POST /hook" in path.read_text(encoding="utf-8")
    assert (path.parent / "serve.md").is_file()


@pytest.mark.slow
def test_the_ray_executor_stays_up_between_builds(folders, monkeypatch):
    """With --executor ray the pool keeps the RayExecutor (its engine actors) from one build to the next."""
    pytest.importorskip("ray")
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    out, roots = folders
    with make_client(out, roots, executor="ray", executor_options={"num_cpus": 2, "workers": 1}) as client:
        for size in (64, 96):
            job = wait_build(client, submit(client, {"recipe": "tiny.yaml", "set": [f"size={size}"]}).json()["id"],
                             timeout=300)
            assert job["state"] == "done", job
        eng = client.get("/api/engines").json()
        assert eng["loads"] == 1 and eng["engines"][0]["executor"] == "ray" and eng["engines"][0]["builds"] == 2
        manifest = client.get("/api/recipes/tiny/versions/latest").json()
        assert {a["engine"]["info"]["worker"] for a in manifest["assets"]["items"]} == {"cpu0"}


def test_idle_engines_are_dropped_by_the_sweeper_and_events_resume(folders):
    out, roots = folders
    with make_client(out, roots, idle_seconds=0.3) as client:
        job = submit(client, {"recipe": "tiny.yaml"}).json()
        assert wait_build(client, job["id"])["state"] == "done"
        deadline = time.monotonic() + 10
        while client.get("/api/engines").json()["engines"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.get("/api/engines").json() == {"idle_seconds": 0.3, "loads": 1, "engines": []}
        # an event stream resumes after the last event a client saw (Last-Event-ID)
        all_events = sse_events(client, job["id"])[0]
        with client.stream("GET", f"/api/builds/{job['id']}/events", headers={"Last-Event-ID": "1"}) as r:
            ids = [int(line[4:]) for line in r.iter_lines() if line.startswith("id: ")]
        assert ids == list(range(2, len(all_events)))
