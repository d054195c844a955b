"""POST /hook answers byte for byte what `zpipe hook export --json` prints, with its exit code, for built,
reused, failed and refused requests; the async form (?wait=0) hands the same bytes out later."""

from __future__ import annotations

import json
import shutil
import time

from click.testing import CliRunner

from tests.serve.conftest import make_client
from zpipe.cli import main

JSON = {"Content-Type": "application/json"}


def request(*materials, **top):
    return {"version": 1, "target": "textures", "engine": "procedural", "defaults": {"size": 64},
            "materials": list(materials), **top}


ROCK = {"name": "Rock.001", "description": "granite"}
WALL = {"name": "Wall", "prompt": "old red brick wall", "maps": ["albedo", "normal"], "seed": 7}
SEAMY = {"name": "Seamy", "description": "brick",  # fails its seam gate: exit 1
         "stages": [{"tile": {"max_seam": 0.5, "repair": "none", "retries": 0, "edge_aware": False}}]}


def cli(req: dict, out, roots) -> tuple[int, bytes]:
    path = roots / "request.json"
    path.write_text(json.dumps(req), encoding="utf-8")
    r = CliRunner().invoke(main, ["hook", "export", "--request", str(path), "--json", "--out", str(out)])
    path.unlink()
    return r.exit_code, r.stdout_bytes


def server(client, req: dict) -> tuple[int, bytes]:
    r = client.post("/hook", content=json.dumps(req), headers=JSON)
    return int(r.headers["x-zpipe-exit"]), r.content


def reset(out, roots):
    shutil.rmtree(out)
    out.mkdir()
    shutil.rmtree(roots / "textures", ignore_errors=True)


def test_answers_are_the_clis_byte_for_byte(folders):
    out, roots = folders
    cases = [request(ROCK, WALL), request(ROCK, SEAMY),
             request({"name": "X", "descripton": "typo"}), {"version": 9, "target": "t", "materials": []}]
    with make_client(out, roots) as client:
        for req in cases:
            reset(out, roots)
            first_server = server(client, req)
            again_server = server(client, req)  # reused
            reset(out, roots)
            first_cli = cli(req, out, roots)
            again_cli = cli(req, out, roots)
            assert first_server == first_cli, (req, first_server[1][:300], first_cli[1][:300])
            assert again_server == again_cli
        assert [c for c, _ in (first_cli,)] == [2]
        exits = []
        for req in cases[:2]:
            reset(out, roots)
            exits.append(server(client, req)[0])
        assert exits == [0, 1]
        # a request that is not JSON: the CLI's `-` (stdin) message
        r = client.post("/hook", content=b"{nope", headers=JSON)
        assert r.status_code == 422 and json.loads(r.content)["error"].startswith("-:1:2: not valid JSON")


def test_reused_answer_and_files_in_the_target(folders):
    out, roots = folders
    with make_client(out, roots) as client:
        code, data = server(client, request(ROCK))
        answer = json.loads(data)
        assert code == 0 and answer["materials"]["Rock.001"]["status"] == "built"
        albedo = roots / "textures" / "Rock_001" / "albedo.png"
        assert answer["materials"]["Rock.001"]["files"]["albedo"] == str(albedo) and albedo.is_file()
        assert json.loads(server(client, request(ROCK))[1])["materials"]["Rock.001"]["status"] == "reused"
        assert client.get("/api/engines").json()["loads"] == 1


def test_async_hook_reports_progress_then_the_same_bytes(folders):
    out, roots = folders
    with make_client(out, roots) as client:
        r = client.post("/hook?wait=0", content=json.dumps(request(ROCK, WALL)), headers=JSON)
        assert r.status_code == 202
        job = r.json()
        deadline = time.monotonic() + 60
        while (status := client.get(f"/api/builds/{job['id']}").json())["state"] not in ("done", "failed"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert status["kind"] == "hook" and status["progress"] == {"done": 2, "total": 2}
        answer = client.get(f"/hook/{job['id']}")
        assert answer.status_code == 200 and answer.headers["x-zpipe-exit"] == "0"
        reused = server(client, request(ROCK, WALL))[1]
        assert json.loads(answer.content)["summary"] == {"built": 2, "reused": 0, "failed": 0}
        assert json.loads(reused)["summary"] == {"built": 0, "reused": 2, "failed": 0}
