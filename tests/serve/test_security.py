"""Every route refuses paths outside the output root and the folders given at start, and requests without
the token, with the status code and nothing read or written."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.serve.conftest import make_client, wait_build

JSON = {"Content-Type": "application/json"}


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else b"") for p in sorted(root.rglob("*"))}


@pytest.fixture
def built(folders):
    out, roots = folders
    with make_client(out, roots) as client:
        job = client.post("/api/builds", content=json.dumps({"recipe": "tiny.yaml"}), headers=JSON).json()
        assert wait_build(client, job["id"])["state"] == "done"
        os.symlink(folders[0].parent / "secret.txt", roots / "link.yaml")  # a symlink out of a root
        yield client, out, roots


TRAVERSALS = ["..%2F..%2F..%2Fsecret.txt", "..%2F..%2F.zpipe-review.sqlite", "%2E%2E/%2E%2E/%2E%2E/secret.txt",
              "granite/..%2F..%2F..%2F..%2Fsecret.txt", "..%5C..%5C..%5Csecret.txt"]


def test_path_traversal_through_every_route_is_refused(built):
    client, out, roots = built
    outside = out.parent
    before = tree(outside)
    gets = [f"/files/tiny/v0001/{t}" for t in TRAVERSALS] + [f"/thumbs/tiny/v0001/{t}" for t in TRAVERSALS] + [
        "/files/..%2F..%2Fproject/v0001/tiny.yaml", "/files/tiny/..%2F..%2Fproject/tiny.yaml",
        "/files/tiny/v0001/%2Fetc%2Fpasswd", "/thumbs/tiny/latest/..%2F..%2F..%2Fsecret.txt",
        "/api/recipes/..%2F..", "/api/recipes/..%2Fproject/versions/v0001", "/api/recipes/tiny/versions/..%2F..",
        "/api/recipes/tiny/versions/v0001/assets/..%2F..%2Fsecret.txt", "/api/recipes/tiny/diff?old=..%2F..&new=v0001",
        "/api/recipes/tiny/approvals?version=..%2F..", "/static/..%2F..%2Fapp.py", "/static/..%2Fapp.py",
        "/api/builds/..%2F..", "/hook/..%2F..", "/api/builds/..%2F../events"]
    for url in gets:
        r = client.get(url)
        assert r.status_code in (400, 403, 404), (url, r.status_code)
        assert b"TOPSECRET" not in r.content and b"root:x" not in r.content, url
    posts = [
        ("/api/builds", {"recipe": "../secret.txt"}), ("/api/builds", {"recipe": str(outside / "secret.txt")}),
        ("/api/builds", {"recipe": "link.yaml"}), ("/api/builds", {"recipe": "/etc/passwd"}),
        ("/hook", {"version": 1, "target": "../elsewhere", "engine": "procedural",
                   "materials": [{"name": "A", "description": "granite"}]}),
        ("/hook", {"version": 1, "target": "t", "store": str(outside / "store"), "engine": "procedural",
                   "materials": [{"name": "A", "description": "granite"}]}),
        ("/hook", {"version": 1, "target": "t", "engine": "procedural",
                   "materials": [{"name": "A", "recipe": "../secret.txt"}]}),
        ("/hook", {"version": 1, "target": "t", "engine": "procedural",
                   "materials": [{"name": "A", "recipe": "link.yaml"}]}),
        ("/api/recipes/tiny/approvals", {"asset": "../../secret", "decision": "approved"}),
        ("/api/recipes/..%2F..%2Fproject/approvals", {"asset": "granite", "decision": "approved"}),
    ]
    for url, body in posts:
        r = client.post(url, content=json.dumps(body), headers=JSON)
        assert r.status_code in (403, 404, 422), (url, body, r.status_code, r.text)
        assert b"TOPSECRET" not in r.content
    assert tree(outside) == before  # nothing written, nowhere (the review database was never created)
    assert not (out / ".zpipe-review.sqlite").exists()


def test_token_is_checked_on_every_request(folders):
    out, roots = folders
    with make_client(out, roots, token="s3cret") as client:
        before = tree(out.parent)
        for method, url in [("GET", "/"), ("GET", "/api/health"), ("GET", "/api/recipes"), ("GET", "/static/app.js"),
                            ("GET", "/files/tiny/v0001/granite/albedo.png"), ("POST", "/api/builds"),
                            ("POST", "/hook"), ("DELETE", "/api/builds/x"), ("GET", "/api/builds/x/events")]:
            body = json.dumps({"recipe": "tiny.yaml"}) if url == "/api/builds" else json.dumps(
                {"version": 1, "target": "t", "engine": "procedural", "materials": [{"name": "A", "description": "x"}]})
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"X-Zpipe-Token": "s3cre"}):
                r = client.request(method, url, content=body if method == "POST" else None,
                                   headers={**JSON, **headers})
                assert r.status_code == 401, (method, url, headers)
        assert tree(out.parent) == before
        assert client.get("/api/health", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert client.get("/api/health", headers={"X-Zpipe-Token": "s3cret"}).status_code == 200
        # the page is opened once with ?token=…; a cookie carries it for images and event streams
        page = client.get("/?token=s3cret")
        assert page.status_code == 200 and "zpipe_token=s3cret" in page.headers["set-cookie"]
        assert client.get("/api/health").status_code == 200  # the cookie jar sends it now


def test_other_hosts_and_form_posts_are_refused(client, folders):
    out, _ = folders
    assert client.get("/api/health", headers={"Host": "evil.example:8765"}).status_code == 421
    body = json.dumps({"version": 1, "target": "t", "engine": "procedural",
                       "materials": [{"name": "A", "description": "x"}]})
    for ctype in ("text/plain", "application/x-www-form-urlencoded", ""):
        r = client.post("/hook", content=body, headers={"Content-Type": ctype})
        assert r.status_code == 415
    assert list(out.iterdir()) == []


def test_serve_refuses_a_public_address_without_a_token(tmp_path):
    from click.testing import CliRunner

    from zpipe.cli import main

    r = CliRunner().invoke(main, ["serve", "--host", "0.0.0.0", "--out", str(tmp_path)], env={"ZPIPE_TOKEN": ""})
    assert r.exit_code == 2 and "--token" in r.output
