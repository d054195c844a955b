"""The Blender add-on's protocol layer (plugins/blender/zpipe_blender/protocol.py, plain Python) against a real
`zpipe serve` process and the real CLI: it uses the server when it answers and takes the request, falls back
to the CLI otherwise, never blocks (poll), reports progress and cancels."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import pytest

from tests.serve.server_process import Server

ADDON = Path(__file__).resolve().parents[2] / "plugins" / "blender" / "zpipe_blender"


@pytest.fixture(scope="module")
def protocol():
    spec = importlib.util.spec_from_file_location("zpipe_blender_protocol_serve", ADDON / "protocol.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def cli():
    exe = Path(sys.executable).with_name("zpipe")
    if not exe.exists():
        pytest.skip("needs the installed zpipe console script")
    return str(exe)


@pytest.fixture
def server(tmp_path):
    out, root = tmp_path / "out", tmp_path / "scene"
    out.mkdir()
    root.mkdir()
    s = Server(out, root).start()
    yield s
    s.stop()


def request(protocol, target, n=2, size=64, store=None):
    mats = [protocol.material_entry(f"Mat{i}", "description", f"granite {i}", size=size, maps=["albedo", "normal"])
            for i in range(n)]
    return protocol.make_request(mats, str(target), engine="procedural", store=store and str(store))


def wait(build, timeout=120):
    seen, deadline = [], time.monotonic() + timeout
    while True:
        done, fraction, message = build.poll()  # returns at once
        seen.append(fraction)
        if done:
            return seen
        assert time.monotonic() < deadline, message
        time.sleep(0.05)


def test_uses_the_server_when_it_answers(protocol, cli, server):
    target = server.root / "textures"
    build = protocol.start_build(request(protocol, target), cli, server.url)
    assert build.via == "server"
    fractions = wait(build)
    assert fractions[-1] == 1.0 and fractions == sorted(fractions)
    answer = build.answer()
    assert answer["ok"] and answer["summary"]["built"] == 2
    assert Path(answer["materials"]["Mat0"]["files"]["albedo"]).parent == target / "Mat0"
    assert answer["store"] == str(server.out)
    again = protocol.run_hook(cli, request(protocol, target), server=server.url)  # the blocking form, same route
    assert again["summary"]["reused"] == 2


def test_falls_back_to_the_cli(protocol, cli, server, tmp_path):
    # a target outside the server's folders: the server refuses (403), the CLI builds it
    outside = tmp_path / "elsewhere" / "textures"
    build = protocol.start_build(request(protocol, outside, store=tmp_path / "store"), cli, server.url)
    assert build.via == "cli"
    assert wait(build)[-1] == 1.0
    answer = build.answer()
    assert answer["ok"] and (outside / "Mat1" / "albedo.png").is_file()
    # no server at all: the CLI
    offline = protocol.start_build(request(protocol, outside, store=tmp_path / "store"), cli, "http://127.0.0.1:9")
    assert offline.via == "cli"
    offline.cancel()
    # a bad request is refused the same way by either
    bad = protocol.make_request([protocol.material_entry("X", "prompt", "p", size=100)], str(server.root / "t"))
    for url in (server.url, None):
        bad["store"] = str(server.out) if url else str(tmp_path / "store")
        with pytest.raises(protocol.HookFailed, match=r"refused the request: materials\[0\] \(X\)\.size"):
            protocol.run_hook(cli, bad, server=url)


@pytest.mark.parametrize("via", ["server", "cli"])
def test_cancel(protocol, cli, server, via):
    req = request(protocol, server.root / "textures", n=12, size=512, store=server.out)
    build = protocol.start_build(req, cli, server.url if via == "server" else None)
    assert build.via == via
    deadline = time.monotonic() + 60
    while build.poll()[1] == 0.0 and time.monotonic() < deadline:  # wait until it is building
        time.sleep(0.02)
    build.cancel()
    if via == "server":
        for _ in range(200):
            done, fraction, message = build.poll()
            if done:
                break
            time.sleep(0.05)
        assert done and message.startswith("cancelled") and fraction < 1.0
        with pytest.raises(protocol.HookFailed):
            build.answer()
    else:
        assert build.proc.poll() is not None  # the CLI process is gone
    assert not (server.out / "blender" / "v0001").exists()


def test_unity_script_uses_the_server_and_reports_progress(cli, server):
    """The Unity editor script (compiled with mono's mcs against the Unity stubs) through ZpipeHook.Start."""
    import shutil
    import subprocess

    if not shutil.which("mcs") or not shutil.which("mono"):
        pytest.skip("mono's mcs is not installed (apt-get install mono-mcs)")
    stubs = ADDON.parents[2] / "tests" / "plugins" / "unity_stubs"
    exe = server.root / "harness.exe"
    script = ADDON.parents[1] / "unity" / "Editor" / "ZpipeTextures.cs"
    p = subprocess.run(["mcs", "-nologo", "-warnaserror+", f"-out:{exe}", "-r:System.Runtime.Serialization",
                        "-r:System.Xml", *map(str, sorted(stubs.glob("*.cs"))), str(script)],
                       capture_output=True, text=True, timeout=300)
    if "CS0006" in p.stdout + p.stderr:
        pytest.skip("mono's System.Runtime.Serialization is missing")
    assert p.returncode == 0, p.stdout + p.stderr
    for url, via in ((server.url, "server"), ("http://127.0.0.1:9", "CLI")):
        target = server.root / "Assets" / via
        run = subprocess.run(["mono", str(exe), cli, str(target), str(server.out), "unity-urp", url],
                             capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stdout + run.stderr
        lines = run.stdout.splitlines()
        assert f"via {via}" in lines and "exit 0" in lines
        progress = [float(ln.split()[1]) for ln in lines if ln.startswith("progress ")]
        assert progress[-1] == 1.0 and progress == sorted(progress)
        results = sorted(ln.split("|")[1] for ln in lines if ln.startswith("result "))
        assert results == (["built", "built"] if via == "server" else ["reused", "reused"])  # the CLI: same store


@pytest.mark.blender
def test_blender_build_session_in_real_blender(tmp_path, cli):
    """The add-on's BuildSession (what the modal operator polls) in real Blender, via the server and the CLI."""
    import os
    import subprocess

    bpy_python = os.environ.get("ZPIPE_BPY_PYTHON")
    if not bpy_python:
        pytest.skip("set ZPIPE_BPY_PYTHON to the bpy venv's python (bash tests/plugins/make_bpy_venv.sh)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    p = subprocess.run([bpy_python, str(Path(__file__).with_name("blender_session.py")), str(ADDON.parent), cli,
                        str(tmp_path)], capture_output=True, text=True, timeout=600, env=env)
    assert p.returncode == 0 and "SESSION OK" in p.stdout, p.stdout[-3000:] + p.stderr[-3000:]
