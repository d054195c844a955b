"""Ray failures end in seconds with a message: an unreachable cluster, a local cluster that cannot start,
and SIGTERM (no C++ stack dump from Ray's core worker)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from zpipe.cli import main

pytest.importorskip("ray")
RECIPE = "name: t\nengine: {name: procedural, batch_size: 1}\nsize: 256\nprompt: '{m} stone'\n" \
         "matrix: {m: [a, b, c, d, e, f, g, h, i, j, k, l]}\n"


@pytest.fixture(autouse=True)
def _ray_env(monkeypatch):
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")


def test_an_unreachable_address_is_a_message_in_seconds(write_recipe, tmp_path):
    t = time.monotonic()
    r = CliRunner().invoke(main, ["run", str(write_recipe(RECIPE)), "--out", str(tmp_path / "out"),
                                  "--address", "127.0.0.1:1"])
    assert r.exit_code == 2 and "cannot reach the Ray cluster at 127.0.0.1:1: Connection refused" in r.output
    assert time.monotonic() - t < 60
    assert not (tmp_path / "out" / "t" / "v0001").exists()


def test_an_address_that_does_not_answer_ends_in_seconds(write_recipe, tmp_path):
    # TEST-NET-2 is routed nowhere: the connection times out, or (behind a proxy that accepts every
    # connection) Ray's attempts are bounded; either way a message in seconds, not minutes of retries.
    t = time.monotonic()
    r = CliRunner().invoke(main, ["run", str(write_recipe(RECIPE)), "--out", str(tmp_path / "out"),
                                  "--address", "198.51.100.1:6379"])
    assert r.exit_code == 2 and "cannot reach the Ray cluster" in r.output, r.output
    assert time.monotonic() - t < 60
    assert "RAY_gcs_server_port_wait_time_s" not in os.environ


def test_an_open_port_that_is_not_ray_is_refused():
    import socket
    import threading

    from zpipe.engine.base import EngineError
    from zpipe.executors.ray_executor import check_reachable

    server = socket.create_server(("127.0.0.1", 0))
    threading.Thread(target=lambda: server.accept()[0].recv(100), daemon=True).start()  # accepts, says nothing
    with server, pytest.raises(EngineError, match="no answer in 1 s|no Ray"):
        check_reachable(f"127.0.0.1:{server.getsockname()[1]}", timeout=1.0)


def test_a_local_cluster_that_cannot_start_is_exit_1(write_recipe, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("RAY_TMPDIR", str(blocker))  # Ray cannot make its session folder
    r = CliRunner().invoke(main, ["run", str(write_recipe(RECIPE)), "--out", str(tmp_path / "out"),
                                  "--executor", "ray"])
    assert r.exit_code == 1 and "error: cannot start a local Ray cluster (NotADirectoryError" in r.output, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)


@pytest.mark.skipif(sys.platform != "linux", reason="an address-space limit (RLIMIT_AS) as Linux applies it")
def test_a_local_cluster_that_cannot_start_under_ulimit_v_ends(write_recipe, tmp_path):
    # Under `ulimit -v` gRPC cannot create its threads: Ray's start fails, then Ray's own shutdown at exit
    # waited for ever (the message came, the process never ended).
    import resource

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1500 * 2**20, resource.RLIM_INFINITY))

    # `python -m zpipe`, as the console script runs it (an editable install made before may name the old entry)
    r = subprocess.run([sys.executable, "-m", "zpipe", "run", str(write_recipe(RECIPE)), "--out", str(tmp_path / "out"),
                        "--executor", "ray"], capture_output=True, text=True, timeout=150, preexec_fn=limit,
                       env={**os.environ, "RAY_AUTH_MODE": "disabled"})
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode == 0 or (r.returncode == 1 and "error: cannot start a local Ray cluster" in r.stderr), r.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM")
def test_sigterm_stops_cleanly_without_a_stack_dump(write_recipe, tmp_path, zpipe_cmd):
    path = write_recipe(RECIPE)
    proc = subprocess.Popen([*zpipe_cmd, "run", str(path), "--out", str(tmp_path / "out"), "--executor", "ray",
                             "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "RAY_AUTH_MODE": "disabled"})
    deadline = time.monotonic() + 120
    for line in proc.stdout:
        if json.loads(line)["event"] == "asset_done":
            break
        assert time.monotonic() < deadline
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted: finished assets are kept in staging" in err
    assert "SIGTERM received" not in err and "*** " not in err and "Traceback" not in err, err


def _running(p) -> bool:
    import psutil

    try:  # a zombie has ended: only its parent (init, once the driver is gone) has yet to reap it
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def test_kill_9_of_the_driver_leaves_no_ray_process(write_recipe, tmp_path, zpipe_cmd):
    import psutil  # Ray ships it

    proc = subprocess.Popen([*zpipe_cmd, "run", str(write_recipe(RECIPE)), "--out", str(tmp_path / "out"),
                             "--executor", "ray", "--json"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, env={**os.environ, "RAY_AUTH_MODE": "disabled"})
    deadline = time.monotonic() + 120
    for line in proc.stdout:
        if json.loads(line)["event"] == "asset_done":
            break
        assert time.monotonic() < deadline
    cluster = psutil.Process(proc.pid).children(recursive=True)  # Ray's processes and the watchdog
    names = {p.name() for p in cluster if _running(p)}
    assert {"raylet", "gcs_server", "ray::DashboardAgent"} <= names, names  # the agents that used to stay
    proc.kill()
    proc.wait(timeout=30)
    deadline = time.monotonic() + 20  # Ray alone takes about 60 s for its agents
    while (alive := [p for p in cluster if _running(p)]) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not alive, [(p.pid, p.name()) for p in alive]


# A driver as the Ray executor is one: it starts the watchdog, then a "raylet" (ray.init's processes), says
# ready; the raylet starts an "agent" 2.5 s later, after the watchdog has seen the raylet.
DRIVER = """
import subprocess, sys, time
import ray  # puts Ray's psutil on the path, as in the executor
from zpipe.executors.ray_watchdog import ClusterWatchdog
watchdog = ClusterWatchdog.start()
subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2]])
watchdog.ready()
time.sleep(600)
"""
RAYLET = """
import subprocess, sys, time
pids = open(sys.argv[1], "w")
pids.write(f"{__import__('os').getpid()}\\n"); pids.flush()
time.sleep(2.5)
agent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
pids.write(f"{agent.pid}\\n"); pids.flush()
time.sleep(600)
"""


def test_the_watchdog_stops_what_the_cluster_started_after_it_was_first_seen(tmp_path):
    import psutil

    pid_file = tmp_path / "pids"
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, RAYLET, str(pid_file)])
    deadline = time.monotonic() + 60
    while len(pid_file.read_text().split() if pid_file.exists() else []) < 2:
        assert time.monotonic() < deadline and driver.poll() is None
        time.sleep(0.2)
    time.sleep(1.5)  # the watchdog looks once a second
    procs = [psutil.Process(int(pid)) for pid in pid_file.read_text().split()]
    driver.kill()
    driver.wait(timeout=30)
    deadline = time.monotonic() + 15
    while (alive := [p for p in procs if _running(p)]) and time.monotonic() < deadline:
        time.sleep(0.2)
    for p in alive:  # the test's own clean-up, whatever the result
        p.kill()
    assert not alive, alive
