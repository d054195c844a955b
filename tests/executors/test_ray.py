"""The Ray executor on a real local cluster with two fake devices (custom resource ``zpipe_device``).

One cluster serves the whole module (``ray.init`` takes seconds). Every ``ray.get``/``ray.wait`` here has
a timeout, and ``test_every_ray_wait_and_get_has_a_timeout`` checks that for the executor and this file.
"""

from __future__ import annotations

import ast
import json
import logging
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from zpipe.build import build
from zpipe.engine.base import EngineError, Request
from zpipe.executors.job import request_for, run_stages
from zpipe.executors.ray_worker import EngineWorker, stage_job
from zpipe.plan import make_plan
from zpipe.recipe import load_recipe
from zpipe.store import RecipeStore

ray = pytest.importorskip("ray")

DEVICES = {"device_resource": "zpipe_device"}
T = 60  # seconds: the timeout of every ray.get in this file


def recipe_text(name: str, n_materials: int, variants: list[str], size: int = 64, batch: int = 1,
                extra: str = "") -> str:
    materials = ["granite", "slate", "brick wall", "marble", "sandstone", "cobblestone", "basalt", "limestone"]
    return (f"name: {name}\nengine: {{name: procedural, batch_size: {batch}}}\nsize: {size}\nseed: 11\n"
            f"prompt: \"{{material}} texture, {{variant}}\"\n"
            f"matrix:\n  material: [{', '.join(materials[:n_materials])}]\n  variant: [{', '.join(variants)}]\n"
            + extra)


@pytest.fixture(scope="module")
def cluster():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAY_AUTH_MODE", "disabled")
        mp.delenv("RAY_ADDRESS", raising=False)
        ray.init(num_cpus=2, resources={"zpipe_device": 2}, include_dashboard=False, logging_level=logging.WARNING)
        try:
            yield ray
        finally:
            ray.shutdown()


def load(tmp_path: Path, text: str, name: str = "recipe.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return load_recipe(path)


def outputs(result) -> dict[str, tuple[str, str, dict]]:
    """id -> (status, key, {file: sha256}) of a build's manifest."""
    return {a["id"]: (a["status"], a["key"], a["outputs"]) for a in result.manifest["assets"]}


def file_bytes(result) -> dict[str, bytes]:
    root = Path(result.path)
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.parent != root}


def kill_when_up(worker_suffix: str, killed: threading.Event, actors: int = 2, kill: bool = True) -> threading.Thread:
    """Background killer for the build about to start. As soon as its engine actors exist, each gets a
    big request queued behind the (at most two) batches the executor already sent it, so the build
    cannot finish early and the batches sent meanwhile queue behind the big requests. Then (``kill``)
    the process of actor ``worker_suffix`` is SIGKILLed, with those batches in flight."""

    def named() -> set[str]:
        return {a["name"] for a in ray.util.list_named_actors(all_namespaces=True)}

    earlier = named()  # actors of earlier builds may still be on their way out

    def run():
        try:
            deadline = time.monotonic() + T
            while len(names := sorted(n for n in named() - earlier if n.startswith("zpipe-engine-"))) < actors:
                assert time.monotonic() < deadline, f"the engine actors never appeared: {names}"
                time.sleep(0.01)
            handles = {n.rsplit("-", 1)[1]: ray.get_actor(n) for n in names}
            big = [Request("granite texture", 2048, 2048, 1, tile="xy")]  # about a second or more
            pid_ref = handles[worker_suffix].info.remote()
            for handle in handles.values():
                handle.generate.remote(big)
            try:
                pid = ray.get(pid_ref, timeout=T)["pid"]  # answered just before its big request starts
            except (ray.exceptions.ActorUnavailableError, ray.exceptions.RayActorError):
                if kill:
                    raise
                # stall mode on a loaded machine: the executor already restarted the stalled actor
                # (batch_timeout) before it answered; the big request was queued, which is all we need
                killed.set()
                return
            if kill:
                time.sleep(0.5)
                os.kill(pid, signal.SIGKILL)
            killed.set()
        except Exception as exc:  # noqa: BLE001 - reported by the test through thread.error
            thread.error = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.error = None
    thread.start()
    return thread


# -- without Ray ------------------------------------------------------------------------------------


def test_worker_and_stage_job_match_the_local_path_without_ray(tmp_path):
    recipe = load(tmp_path, recipe_text("plain", 2, ["clean"], size=64))
    jobs = list(recipe.jobs)
    worker = EngineWorker("procedural", recipe.engine_options, "w0", threads=1)
    *generated, meta = worker.run_batch([request_for(j) for j in jobs])
    assert len(generated) == len(jobs) and meta["worker"] == "w0" and meta["engine"] == "procedural"
    for job, gen in zip(jobs, generated, strict=True):
        gen.image.setflags(write=False)  # as it arrives from the object store
        got = stage_job(job, gen, meta, worker.generate)
        want = run_stages(job, worker.generate([request_for(job)])[0], worker.generate, meta["capabilities"],
                          "procedural")
        assert got.status == want.status == "built"
        assert got.files == want.files


def test_worker_keeps_a_configuration_error_for_the_driver():
    worker = EngineWorker("procedural", {"scale": 99.0}, "w0")
    with pytest.raises(EngineError, match="scale"):
        worker.run_batch([Request("granite", 64, 64, 1)])


@pytest.mark.parametrize("cluster_res, options, want", [
    ({"CPU": 8, "GPU": 8}, {}, ("gpu", 8, 0.87)),  # 8 x 1 CPU would leave none for the stages
    ({"CPU": 32, "GPU": 4}, {}, ("gpu", 4, 1.0)),
    ({"CPU": 32, "GPU": 4}, {"devices": ["0", "2"]}, ("gpu", 2, 1.0)),
    ({"CPU": 2}, {}, ("cpu", 1, 1.0)),
    ({"CPU": 2}, {"workers": 2}, ("cpu", 2, 0.5)),  # deadlocked before the cap
    ({"CPU": 16}, {}, ("cpu", 2, 4.0)),
    ({"CPU": 2, "zpipe_device": 2}, {"device_resource": "zpipe_device"}, ("dev", 2, 0.0)),
])
def test_layout_always_leaves_a_cpu_for_stage_tasks(cluster_res, options, want):
    from zpipe.executors.ray_layout import plan_layout

    layout = plan_layout(cluster_res, {"device": "cuda:1"}, **options)
    assert (layout.kind, layout.count, layout.resources["num_cpus"]) == want
    assert layout.count * layout.resources["num_cpus"] + 1 <= cluster_res["CPU"]
    assert layout.engine_options["device"] == ("cuda" if layout.kind == "gpu" else "cuda:1")
    if layout.kind == "gpu":
        assert layout.resources["num_gpus"] == 1


def test_layout_without_the_device_resource_is_a_configuration_error():
    from zpipe.executors.ray_layout import plan_layout

    with pytest.raises(EngineError, match="zpipe_device"):
        plan_layout({"CPU": 2}, {}, device_resource="zpipe_device")


def test_every_ray_wait_and_get_has_a_timeout():
    import zpipe.executors.ray_executor as module

    for path in (Path(module.__file__), Path(__file__)):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                 and n.func.attr in ("get", "wait") and isinstance(n.func.value, ast.Name)
                 and n.func.value.id == "ray"]
        assert calls, path
        for call in calls:
            assert any(k.arg == "timeout" for k in call.keywords), f"{path.name}:{call.lineno} has no timeout"


# -- on the cluster ---------------------------------------------------------------------------------


def test_two_fake_devices_make_the_same_files_and_keys_as_the_local_executor(cluster, tmp_path):
    text = recipe_text("same", 4, ["clean", "mossy"], size=64, batch=3,
                       extra="assets:\n  - {id: wide, prompt: slate texture, size: [128, 64]}\n"
                             "  - {id: tall, prompt: marble texture, size: [64, 128]}\n")
    recipe = load(tmp_path, text)
    local = build(recipe, tmp_path / "local")
    events = []
    distributed = build(recipe, tmp_path / "ray", executor="ray", executor_options=DEVICES, on_event=events.append)
    assert local.exit_code == distributed.exit_code == 0
    assert distributed.built == len(recipe.jobs) == 10
    assert outputs(distributed) == outputs(local)
    assert file_bytes(distributed) == file_bytes(local)
    done = [e for e in events if e["event"] == "asset_done"]
    assert sorted(e["id"] for e in done) == sorted(j.id for j in recipe.jobs)
    assert {e["worker"] for e in done} == {"dev0", "dev1"}  # both devices served batches
    workers = next(e for e in events if e["event"] == "workers")["workers"]  # per-worker throughput
    assert sum(w["jobs"] for w in workers.values()) == 10 and all(w["jobs_per_s"] > 0 for w in workers.values())
    assert {a["engine"]["info"]["worker"] for a in distributed.manifest["assets"]} == {"dev0", "dev1"}


def test_killed_engine_actor_loses_and_duplicates_nothing(cluster, tmp_path, caplog):
    recipe = load(tmp_path, recipe_text("killed", 8, ["clean", "mossy", "wet"], size=64, batch=1))
    local = build(recipe, tmp_path / "local")
    killed = threading.Event()
    killer = kill_when_up("dev0", killed)
    events = []
    with caplog.at_level(logging.INFO, logger="zpipe.executors.ray_executor"):
        result = build(recipe, tmp_path / "ray", executor="ray", on_event=events.append,
                       executor_options={**DEVICES, "max_retries": 2})
    killer.join(timeout=T)
    assert killed.is_set(), killer.error
    assert "engine worker dev0 died" in caplog.text  # the kill hit batches in flight
    assert "retrying" in caplog.text
    assert result.exit_code == 0 and result.built == len(recipe.jobs) == 24 and result.failed == 0
    ids = [e["id"] for e in events if e["event"] == "asset_done"]
    assert sorted(ids) == sorted(j.id for j in recipe.jobs)  # each once
    assert outputs(result) == outputs(local)
    assert file_bytes(result) == file_bytes(local)


def test_jobs_lost_past_the_retry_limit_fail_and_the_next_run_resumes(cluster, tmp_path):
    recipe = load(tmp_path, recipe_text("limit", 8, ["clean", "mossy", "wet"], size=64, batch=1))
    local = build(recipe, tmp_path / "local")
    killed = threading.Event()
    killer = kill_when_up("dev1", killed)
    first = build(recipe, tmp_path / "ray", executor="ray", executor_options={**DEVICES, "max_retries": 0})
    killer.join(timeout=T)
    assert killed.is_set(), killer.error
    assert first.exit_code == 1 and first.failed >= 1
    assert first.built + first.failed == len(recipe.jobs)
    assert all("engine worker dev1 died" in err for err in first.failures.values()), first.failures
    built = {i for i, (status, _, _) in outputs(first).items() if status == "built"}
    want = outputs(local)
    assert {i: outputs(first)[i] for i in built} == {i: want[i] for i in built}

    second = build(recipe, tmp_path / "ray", executor="ray", executor_options=DEVICES)
    assert second.exit_code == 0 and second.built == first.failed and second.reused == first.built
    assert {i: (k, o) for i, (_, k, o) in outputs(second).items()} == {i: (k, o) for i, (_, k, o) in want.items()}


def test_an_actor_without_restarts_left_leaves_the_pool_and_the_rest_fails_with_the_reason(cluster, tmp_path, caplog):
    recipe = load(tmp_path, recipe_text("gone", 8, ["clean", "mossy"], size=64, batch=1))
    killed = threading.Event()
    killer = kill_when_up("dev0", killed, actors=1)
    with caplog.at_level(logging.WARNING, logger="zpipe.executors.ray_executor"):
        result = build(recipe, tmp_path / "ray", executor="ray",
                       executor_options={**DEVICES, "workers": 1, "max_restarts": 0})
    killer.join(timeout=T)
    assert killed.is_set(), killer.error
    assert "engine worker dev0 is gone for good" in caplog.text
    assert result.exit_code == 1 and result.built + result.failed == len(recipe.jobs) and result.failed >= 1
    assert all("no engine workers left" in e for e in result.failures.values()), result.failures


def test_a_stalled_actor_is_restarted_and_its_jobs_are_made_again(cluster, tmp_path, caplog):
    recipe = load(tmp_path, recipe_text("stall", 8, ["clean", "mossy"], size=64, batch=1))
    local = build(recipe, tmp_path / "local")
    held = threading.Event()
    holder = kill_when_up("dev0", held, actors=1, kill=False)  # a big request stalls the only actor
    with caplog.at_level(logging.INFO, logger="zpipe.executors.ray_executor"):
        result = build(recipe, tmp_path / "ray", executor="ray",
                       executor_options={**DEVICES, "workers": 1, "batch_timeout": 0.5, "max_restarts": 20,
                                         "max_retries": 20})
    holder.join(timeout=T)
    assert held.is_set(), holder.error
    assert "made no progress" in caplog.text and "engine worker dev0 is back" in caplog.text
    assert result.exit_code == 0 and outputs(result) == outputs(local)


def test_an_always_failing_job_fails_alone(cluster, tmp_path):
    # "odd" fails its seam gate on every try (a periodic image scores about 1, the gate is 0.5)
    text = recipe_text("pot", 2, ["clean"], size=64, extra=(
        "assets:\n  - {id: odd, prompt: slate texture, stages: [{tile: {max_seam: 0.5, repair: none, "
        "retries: 0, edge_aware: false}}]}\n"))
    recipe = load(tmp_path, text)
    result = build(recipe, tmp_path / "ray", executor="ray", executor_options=DEVICES)
    assert result.exit_code == 1 and result.failed == 1 and result.built == 2
    assert "seam" in result.failures["odd"]
    for asset in result.manifest["assets"]:
        if asset["id"] != "odd":
            assert asset["status"] == "built" and (Path(result.path) / asset["files"]["albedo"]).is_file()
    local = build(recipe, tmp_path / "local")
    assert outputs(result) == outputs(local)


def test_cpu_workers_through_the_cli_with_thread_limits(cluster, tmp_path):
    from zpipe.cli import main
    from zpipe.executors.ray_executor import RayExecutor

    path = tmp_path / "cpu.yaml"
    path.write_text(recipe_text("cpu", 2, ["clean", "wet"], size=64, batch=2), encoding="utf-8")
    run = CliRunner().invoke(main, ["run", str(path), "--out", str(tmp_path / "out"), "--executor", "ray", "--json"],
                             catch_exceptions=False)
    assert run.exit_code == 0, run.output
    done = [json.loads(line) for line in run.output.splitlines() if line.startswith('{"event": "asset_done"')]
    assert len(done) == 4 and {e["worker"] for e in done} == {"cpu0"}  # no GPU and no device resource

    # two CPU workers on two CPUs: their reservations must leave room for stage tasks (this deadlocked
    # once); a short stage timeout turns a deadlock into failed assets instead of a hung test
    recipe = load_recipe(path)
    two = build(recipe, tmp_path / "two", executor="ray",
                executor_options={"workers": 2, "stage_timeout": 20, "max_retries": 0})
    assert two.exit_code == 0, two.failures
    assert {a["engine"]["info"]["worker"] for a in two.manifest["assets"]} == {"cpu0", "cpu1"}

    executor = RayExecutor("procedural", {})
    try:
        executor._connect()
        executor._start_workers()
        info = ray.get(executor._pool[0].handle.info.remote(), timeout=T)
        assert info["threads"]["OMP_NUM_THREADS"] == info["threads"]["ZPIPE_OCR_THREADS"] == "1"
    finally:
        executor.close()
    assert ray.is_initialized()  # a cluster the executor did not start is left running


def test_engine_configuration_error_stops_the_build(cluster, tmp_path):
    from zpipe.executors.ray_executor import RayExecutor

    recipe = load(tmp_path, recipe_text("bad", 1, ["clean"]))
    plan = make_plan(recipe, RecipeStore(tmp_path / "out", recipe.name))
    executor = RayExecutor("procedural", {"scale": 99.0}, **DEVICES)
    try:
        with pytest.raises(EngineError, match="scale"):
            list(executor.execute(plan.jobs))
    finally:
        executor.close()


def test_tiny_zimage_on_two_fake_devices_matches_the_local_executor(cluster, tmp_path, diffusers_ckpt):
    # the upscale stage refines by img2img through StageContext.generate: from a stage task, that is a
    # call back into the engine actor
    text = (f"name: zi\nkind: textures\nengine: {{name: z-image-turbo, model: '{diffusers_ckpt}', device: cpu, "
            "dtype: fp32, batch_size: 2}\nsize: 64\nsteps: 2\nseed: 1\ntile: xy\nprompt: 'seamless {m} texture'\n"
            "id: '{m}'\nmatrix:\n  m: [stone, moss, sand, bark]\n"
            "stages:\n  - upscale: {factor: 2, mode: refine, tile: 64}\noutput:\n  formats: [png]\n")
    recipe = load(tmp_path, text)
    local = build(recipe, tmp_path / "local")
    distributed = build(recipe, tmp_path / "ray", executor="ray", executor_options=DEVICES)
    assert local.exit_code == distributed.exit_code == 0, distributed.failures
    assert distributed.manifest["engine"]["name"] == "z-image-turbo"
    assert outputs(distributed) == outputs(local)
    assert file_bytes(distributed) == file_bytes(local)
    assert {a["engine"]["info"]["worker"] for a in distributed.manifest["assets"]} == {"dev0", "dev1"}
    assert all(a["metrics"]["upscale"]["method"] == "refine" for a in distributed.manifest["assets"])


def test_devices_choose_ray_and_one_engine_per_gpu_of_a_private_instance(tmp_path, zpipe_cmd):
    """`--devices 0,1` with the default `--executor auto`: zpipe starts its own Ray instance with those two
    GPUs (declared, so this runs on a CPU machine too; the procedural engine never touches them)."""
    import subprocess

    path = tmp_path / "gpus.yaml"
    path.write_text(recipe_text("gpus", 4, ["a"], size=64), encoding="utf-8")
    run = subprocess.run([*zpipe_cmd, "run", str(path), "--out", str(tmp_path / "out"), "--devices", "0,1", "--json"],
                         capture_output=True, text=True, timeout=180, env={**os.environ, "RAY_AUTH_MODE": "disabled"})
    assert run.returncode == 0, run.stderr
    events = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    assert events[0]["executor"] == "ray"
    assert {e["worker"] for e in events if e["event"] == "asset_done"} == {"gpu0", "gpu1"}


def test_ctrl_c_stops_the_run_and_its_ray_processes_and_the_next_run_resumes(tmp_path, zpipe_cmd):
    """A terminal's Ctrl-C: SIGINT to the whole process group, which includes Ray's own processes."""
    import selectors
    import subprocess

    path = tmp_path / "ctrlc.yaml"
    path.write_text(recipe_text("ctrlc", 8, ["a", "b", "c", "d"], size=512), encoding="utf-8")
    out = tmp_path / "out"
    # as from a terminal's foreground: Ctrl-C not ignored, even where this test runs in the background of
    # a non-interactive shell (which starts it with SIGINT ignored, and a child inherits that)
    proc = subprocess.Popen([*zpipe_cmd, "run", str(path), "--out", str(out), "--executor", "ray", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, "RAY_AUTH_MODE": "disabled"},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        deadline, done = time.monotonic() + 120, 0
        while not done and time.monotonic() < deadline:
            if not sel.select(timeout=1):
                continue
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            done += '"asset_done"' in line
        assert done, "no asset finished within 120 s"
        os.killpg(proc.pid, signal.SIGINT)
        rest, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert "interrupted: finished assets are kept in staging" in err
    assert '"done"' not in rest  # stopped before publishing
    for _ in range(50):  # ray.shutdown() ended Ray's processes of this run before the driver exited
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("processes of the interrupted run are still alive")

    recipe = load_recipe(path)
    staged = RecipeStore(out, recipe.name).staged_keys()
    assert 1 <= len(staged) < len(recipe.jobs)
    events = []
    resumed = build(recipe, out, on_event=events.append)
    assert resumed.exit_code == 0 and resumed.built == len(recipe.jobs)
    assert events[0]["resume"] == len(staged) and events[0]["build"] == len(recipe.jobs) - len(staged)
