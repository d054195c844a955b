"""Run under the bpy venv's python: python blender_session.py PLUGIN_DIR ZPIPE_CLI WORKDIR.

Drives the add-on's BuildSession (what its modal operator runs on a timer) in real Blender: through a
`zpipe serve` started here (the engine stays loaded there), through the CLI, and a cancelled build. Checks
that polling never blocks, that progress only grows, and that the maps are wired. Prints "SESSION OK".
"""

import os
import socket
import subprocess
import sys
import time
import urllib.request

plugin_dir, cli, work = sys.argv[1:4]
sys.path.insert(0, plugin_dir)

import bpy  # noqa: E402, I001  (bpy first: it puts addon_utils on sys.path)
import addon_utils  # noqa: E402

bpy.ops.wm.read_factory_settings(use_empty=True)
addon_utils.enable("zpipe_blender", default_set=True, handle_error=None)
import zpipe_blender  # noqa: E402

assert "zpipe" not in sys.modules, "the add-on must not import zpipe"
assert hasattr(bpy.types.WindowManager, "zpipe_progress") and hasattr(bpy.ops.zpipe, "cancel_build")

with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
url, out, scene = f"http://127.0.0.1:{port}", os.path.join(work, "store"), os.path.join(work, "scene")
os.makedirs(scene)
server = subprocess.Popen([cli, "serve", "--port", str(port), "--out", out, "--root", scene],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def zmat(name, text, size=64):
    mat = bpy.data.materials.new(name)
    if bpy.app.version < (5, 0, 0):
        mat.use_nodes = True
    mat.zpipe.enabled, mat.zpipe.source, mat.zpipe.text, mat.zpipe.size = True, "description", text, size
    return mat


def run(session, timeout=120):
    fractions, deadline = [], time.monotonic() + timeout
    while True:
        t = time.monotonic()
        done, fraction, message = session.step()
        assert time.monotonic() - t < 5, "a poll blocked"
        fractions.append(fraction)
        if done:
            return fractions
        assert time.monotonic() < deadline, message
        time.sleep(0.05)


try:
    for _ in range(300):
        try:
            urllib.request.urlopen(url + "/api/health", timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    mats = [zmat("Rock", "granite"), zmat("Moss", "mossy slate")]
    settings = {"cli": cli, "target": os.path.join(scene, "textures"), "store": "", "engine": "procedural",
                "timeout": 300, "server": url, "token": None}
    # through the server
    session = zpipe_blender.BuildSession(mats, settings)
    assert session.via == "server", session.via
    fractions = run(session)
    assert fractions == sorted(fractions) and fractions[-1] == 1.0, fractions
    assert session.answer["summary"] == {"built": 2, "reused": 0, "failed": 0}, session.answer["summary"]
    assert session.wired == {"Rock": ["albedo", "ao", "roughness", "normal"],
                             "Moss": ["albedo", "ao", "roughness", "normal"]}, session.wired
    assert session.answer["store"] == os.path.realpath(out)
    # through the CLI (no server configured), into its own store
    cli_settings = dict(settings, server="", store=os.path.join(work, "cli-store"))
    session = zpipe_blender.BuildSession(mats, cli_settings)
    assert session.via == "cli"
    assert run(session)[-1] == 1.0 and session.answer["summary"]["built"] == 2
    # a big build, cancelled through the server: nothing is published
    big = [zmat(f"Big{i}", f"granite {i}", size=512) for i in range(10)]
    session = zpipe_blender.BuildSession(big, dict(settings, target=os.path.join(scene, "big")))
    assert session.via == "server"
    while session.build.poll()[1] == 0.0:
        time.sleep(0.02)
    session.cancel()
    for _ in range(200):
        done, fraction, message = session.build.poll()
        if done:
            break
        time.sleep(0.05)
    assert done and message.startswith("cancelled") and fraction < 1.0, (done, fraction, message)
finally:
    server.terminate()
    server.wait(timeout=30)
print("SESSION OK", bpy.app.version_string)
