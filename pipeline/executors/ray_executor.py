"""The Ray executor: one resident engine actor per device, CPU stages as Ray tasks, the driver writes.

Data flow for one batch (jobs of one request shape, ``batch_size`` at most; a run has one set of engine
options, the recipe's, so shape is the whole batching key, as in the local executor)::

    driver ──prepare (a chunk's batches, once)──▶ EngineWorker actor (num_gpus=1)
    driver ──run_batch──▶ EngineWorker actor ──▶ object store: image 1..n + meta
    driver ◀── meta (small) ──┘
    driver ──stage task (num_cpus=1) per image, image passed by reference──▶ Outcome (bytes)
    driver ◀── Outcome ── stages into the store (build.py), the only writer

Why a driver loop over actor calls and not ``ActorPool`` or Ray Data:

* ``ActorPool`` keeps one call per actor and ``ray.get``s each result into the driver. A device would
  idle during every round trip, and every image would cross the driver. Here each actor has
  ``queue_depth`` batches queued (Ray queues actor calls in order), so the next batch starts the
  moment the last one ends, and images go from the actor's object store straight to a stage task.
* Ray Data handles errors per block (``max_errored_blocks``) with its own retry rules. A job failing
  after a given number of attempts while the rest of the build completes would still need the per-job
  bookkeeping below, on top of the dataset's planning and start-up costs.

This is Ray's documented ``ray.wait`` back-pressure pattern, not a scheduler: Ray places actors and
tasks and moves data; the loop only chooses which resident actor gets the next batch (the one with the
fewest queued) and what to do with a failure. Every ``ray.wait`` and ``ray.get`` has a timeout.

Fault tolerance:

* Actors have ``max_restarts``. Calls in flight when an actor dies fail with ``RayActorError``; their
  jobs are queued again (any actor) until a job has been attempted ``max_retries + 1`` times, then it
  becomes a failed outcome with the error, and the rest of the build goes on.
* A dying actor is probed (``info``) before it gets new work: it answers once restarted, or fails for
  good when its restarts are spent, and then it leaves the pool. With no actors left, the remaining
  jobs fail with the reason.
* An actor that makes no progress for ``batch_timeout`` seconds is killed and restarted by Ray.
* Stage tasks have Ray's ``max_retries`` for crashed worker processes; stage failures are outcomes.
* Ctrl-C: the ``KeyboardInterrupt`` leaves ``execute``; ``close`` shuts down the Ray instance this run
  started (or, on a cluster, kills its actors and cancels its tasks). Finished assets are already
  staged by the driver, so the next run resumes.
* kill -9 of the driver: the local cluster it started is stopped by a watchdog process (ray_watchdog.py),
  since some of Ray's own processes would outlive it by a minute.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import signal
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from zpipe.engine.base import EngineError
from zpipe.engine.extras import require
from zpipe.executors.job import Outcome, request_for
from zpipe.executors.local import batches, chunks
from zpipe.executors.ray_layout import plan_layout
from zpipe.executors.ray_watchdog import ClusterWatchdog
from zpipe.executors.ray_worker import EngineWorker, Retry, stage_job, thread_env
from zpipe.plan import PlannedJob

require("ray", "the Ray executor")  # one clear line instead of Ray's ImportError at the first call

log = logging.getLogger(__name__)
CONNECT_TIMEOUT = 10.0  # seconds for a cluster address to answer at all
REACH_FIX = ("start it with `ray start --head`, check --address / RAY_ADDRESS, and if the cluster uses token "
             "authentication give this driver its token (RAY_AUTH_TOKEN, see `ray get-auth-token`)")


class ClusterError(Exception):
    """A local Ray cluster could not start (memory, disk): the build cannot run (exit 1).

    After such a start Ray's own clean-up at exit can wait for ever: under an address-space limit
    (``ulimit -v``) gRPC fails to create its threads, and ``ray.shutdown``, which Ray runs at exit, then
    waits for them. The CLI ends the process without exit handlers after this error (by then the store's
    lock is released and Ray has stopped what it started).
    """

    skip_exit_handlers = True


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """EngineError within ``timeout`` seconds when nothing listens at ``address`` (``host:port`` or
    ``ray://host:port``); ``auto`` and other forms are left to ``ray.init``."""
    import socket

    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit() or not host:
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout) as sock:
            # Ray's GCS and client server speak gRPC: an HTTP/2 server answers the client preface with a
            # SETTINGS frame (type 4). A port that accepts and then says nothing (a proxy, another
            # service) is no cluster either.
            sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes(3) + b"\x04" + bytes(5))
            frame = sock.recv(9)
        why = None if len(frame) >= 4 and frame[3] == 4 else "the port is open but no Ray (gRPC) server answers"
    except OSError as exc:
        why = f"no answer in {timeout:.0f} s" if isinstance(exc, TimeoutError) else exc.strerror or str(exc)
    if why:
        raise EngineError(f"cannot reach the Ray cluster at {address}: {why}; {REACH_FIX}")


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _stage_task(job, generated, meta, engine, generate_timeout):
    """Ray task body: a job's CPU stages. ``engine`` is the actor handle for stages that regenerate."""
    import ray

    lost: list[str] = []

    def generate(requests):
        try:
            return ray.get(engine.generate.remote(requests), timeout=generate_timeout)
        except ray.exceptions.RayActorError as exc:
            lost.append(f"{type(exc).__name__}: {exc}")
            raise

    outcome = stage_job(job, generated, meta, generate)
    if outcome.status == "failed" and lost:
        return Retry(f"engine {meta['worker']} died during a stage: {lost[-1]}")
    return outcome


@dataclass
class _Worker:
    name: str
    handle: Any
    state: str = "ok"  # ok | probing (died, waiting for Ray's restart) | dead (restarts spent)
    queued: int = 0
    last_progress: float = field(default_factory=time.monotonic)
    jobs: int = 0
    busy: float = 0.0
    deaths: int = 0
    span: float = 0.0  # the actor's own clock: first batch start to latest batch end
    lost_at: float = 0.0
    probe_after: float | None = None  # when to probe again after an ActorUnavailableError
    prepared: set[str] = field(default_factory=set)  # ids of the chunk last handed to its engine's prepare


@dataclass
class _GenCall:
    worker: _Worker
    batch: list[PlannedJob]
    images: list[Any]  # one ObjectRef per job


@dataclass
class _StageCall:
    pj: PlannedJob
    worker: str
    started: float


@dataclass(frozen=True)
class RayOptions:
    """The Ray executor's options (``executor_options`` of :func:`zpipe.build.build`; the CLI passes
    ``address`` and ``devices``):

    address         Ray cluster address; default: the ``ray.init`` already done in this process, else a
                    new local cluster (or RAY_ADDRESS, which ``ray.init`` reads).
    devices         GPU ids for a local cluster (``--devices 0,2``). On a cluster, ids are node-local, so
                    only their count is used: it caps the number of engine actors.
    device_resource custom resource name that stands for a device (fake devices in tests): one actor
                    per unit, each holding ``{name: 1}`` and no CPU.
    workers         number of engine actors (default: one per GPU / device unit; on CPU-only clusters
                    ``max(1, CPUs // 8)``).
    worker_cpus     CPUs reserved per engine actor, also its thread cap (default 1 on GPU; on CPU-only
                    clusters half the CPUs shared among the actors, the other half runs stages).
    stage_cpus      CPUs per stage task (default 1; also its thread cap).
    num_cpus        CPUs of a new local cluster (default: all).
    max_retries     times a job is made again after its actor died (default 2).
    max_restarts    restarts per actor (default 3).
    queue_depth     batches queued per actor (default 2: one running, one waiting).
    batch_timeout   seconds without progress before an actor is killed and restarted (default 1800).
    stage_timeout   seconds before a stage task is cancelled and its job retried (default 1800).
    stage_backlog   stage tasks waiting or running before no more batches are sent, so that images
                    cannot pile up in the object store when stages are slower than the engines
                    (default: max(8, 2 x CPUs / stage_cpus)).
    wait_timeout    seconds per ``ray.wait`` (default 0.5); ``get_timeout`` per ``ray.get`` (default 60).
    report_every    seconds between the per-worker progress lines in the log (default 30).
    """

    address: str | None = None
    devices: tuple[str, ...] | None = None
    device_resource: str | None = None
    workers: int | None = None
    worker_cpus: float | None = None
    stage_cpus: float = 1.0
    num_cpus: int | None = None
    max_retries: int = 2
    max_restarts: int = 3
    queue_depth: int = 2
    batch_timeout: float = 1800.0
    stage_timeout: float = 1800.0
    wait_timeout: float = 0.5
    get_timeout: float = 60.0
    stage_backlog: int | None = None
    report_every: float = 30.0

    @classmethod
    def create(cls, engine_options: dict[str, Any], **options: Any) -> RayOptions:
        """The options as given, normalised: ``devices`` may be ``"0,2"``; without it the recipe's
        ``device: cuda:N`` picks that GPU. An unknown option is a TypeError naming it."""
        devices = options.pop("devices", None)
        if isinstance(devices, str):
            devices = [d.strip() for d in devices.split(",") if d.strip()]
        if not devices:
            dev = str(engine_options.get("device") or "")
            devices = [dev[5:]] if dev.startswith("cuda:") and dev[5:].isdigit() else None
        if "queue_depth" in options:
            options["queue_depth"] = max(1, int(options["queue_depth"]))
        return cls(devices=tuple(devices) if devices else None, **options)


class RayExecutor:
    """Runs planned jobs on Ray: resident engine actors, stage tasks, the driver loop (see the module doc)."""

    name = "ray"

    def __init__(self, engine_name: str, engine_options: dict[str, Any], **options: Any):
        self.engine_name = engine_name
        self.engine_options = dict(engine_options)
        self.options = RayOptions.create(self.engine_options, **options)
        self.batch_size = int(self.engine_options.get("batch_size") or 4)
        self.stats: dict[str, Any] = {}
        self._ray = None
        self._owns_cluster = False
        self._watchdog: ClusterWatchdog | None = None  # for a local cluster this run started
        self._sigterm: Any = None  # the SIGTERM handler to restore on close()
        # set when the actors start (they depend on the cluster's resources)
        self._pool: list[_Worker] = []
        self._stage_fn: Any = None
        self._stage_cpus = self.options.stage_cpus
        self._backlog = 0
        # the run's bookkeeping, reset by each execute()
        self._gen: dict[Any, _GenCall] = {}
        self._stage: dict[Any, _StageCall] = {}
        self._probes: dict[Any, _Worker] = {}
        self._hints: dict[Any, _Worker] = {}  # prepare calls: fetched when done, so no error goes unread
        self._pending: deque[list[PlannedJob]] = deque()
        self._attempts: dict[str, int] = {}
        self._started = self._last_report = 0.0

    # -- cluster and actors -------------------------------------------------------------------------

    def _connect(self):
        import ray

        if self._ray is not None:
            return ray
        self._ray = ray
        opts = self.options
        if ray.is_initialized():
            if opts.devices and not opts.address:
                log.warning("ray is already initialised in this process: --devices is not applied")
            return ray
        address = opts.address or os.environ.get("RAY_ADDRESS") or None  # ray.init would read it too
        kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING}
        if address:
            kwargs["address"] = address
        else:
            if opts.num_cpus:
                kwargs["num_cpus"] = int(opts.num_cpus)
            if opts.devices:
                kwargs["num_gpus"] = len(opts.devices)
        main_thread = threading.current_thread() is threading.main_thread()
        # A local instance's processes (GCS, raylet, workers) share our process group, so a terminal's
        # Ctrl-C would hit them too, mid-shutdown, and now and then crash Ray's core worker (exit 139).
        # SIGINT is blocked while ray.init spawns them: they inherit the blocked mask (so only the driver
        # sees Ctrl-C, and close() stops them with ray.shutdown()), while a Ctrl-C during ray.init stays
        # pending here and raises KeyboardInterrupt as soon as the mask is restored.
        shield = not address and main_thread and hasattr(signal, "pthread_sigmask")
        self._watchdog = None if address else ClusterWatchdog.start()  # the cluster's processes end with us
        try:
            with _visible_devices(None if address else opts.devices), _bounded_wait(address), _sigint_blocked(shield):
                _init(ray, address, kwargs)
        except BaseException:
            self._close_watchdog()
            raise
        if self._watchdog is not None:
            self._watchdog.ready()
        self._owns_cluster = True
        if main_thread:  # Ray's core worker prints a C++ stack dump on SIGTERM: stop cleanly instead
            self._sigterm = signal.signal(signal.SIGTERM, _interrupt)
        return ray

    def _start_workers(self) -> None:
        ray, opts = self._ray, self.options
        devices = list(opts.devices) if opts.devices else None
        layout = plan_layout(ray.cluster_resources(), self.engine_options, device_resource=opts.device_resource,
                             devices=devices, workers=opts.workers, worker_cpus=opts.worker_cpus,
                             stage_cpus=opts.stage_cpus)
        token = uuid.uuid4().hex[:8]
        actor_cls = ray.remote(EngineWorker)
        for name in layout.names():
            handle = actor_cls.options(
                name=f"zpipe-engine-{token}-{name}", max_restarts=opts.max_restarts, max_task_retries=0,
                max_concurrency=1, runtime_env={"env_vars": thread_env(layout.threads)}, **layout.resources,
            ).remote(self.engine_name, layout.engine_options, name, layout.threads)
            self._pool.append(_Worker(name, handle))
        cpus = ray.cluster_resources().get("CPU", 1)
        self._stage_cpus = min(opts.stage_cpus, max(1, int(cpus)))
        self._stage_fn = ray.remote(_stage_task).options(
            num_cpus=self._stage_cpus, max_retries=3, retry_exceptions=False,
            runtime_env={"env_vars": thread_env(max(1, int(self._stage_cpus)))})
        self._backlog = opts.stage_backlog or max(8, int(2 * cpus / max(self._stage_cpus, 0.01)))
        log.info("ray: %d %s engine actor(s), %d thread(s) and %s CPU(s) reserved each, batch size %d",
                 layout.count, layout.kind, layout.threads, layout.resources["num_cpus"], self.batch_size)

    # -- the driver loop ----------------------------------------------------------------------------

    def execute(self, jobs: list[PlannedJob]) -> Iterator[tuple[PlannedJob, Outcome]]:
        if not jobs:
            return
        ray = self._connect()
        if not self._pool:
            self._start_workers()
        self._started = self._last_report = time.monotonic()
        self._attempts = {pj.job.id: 0 for pj in jobs}
        self._pending = deque(batches(jobs, self.batch_size))
        done: set[str] = set()
        while self._pending or self._gen or self._stage or self._probes:
            self._dispatch()
            results = self._fail_without_workers()
            refs = [*self._gen, *self._stage, *self._probes, *self._hints]
            ready, _ = ray.wait(refs, num_returns=1, timeout=self.options.wait_timeout) if refs else ([], [])
            if ready:  # take everything that is ready, not one per loop
                ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
            fatal = self._take(ready, results)
            for pj, outcome in results:
                if pj.job.id in done:  # a job is yielded once, whatever happened to its attempts
                    log.warning("dropping a second outcome for %s", pj.job.id)
                    continue
                done.add(pj.job.id)
                yield pj, outcome
            if fatal is not None:
                raise fatal
            self._check_stalls()
            self._report()
        self._report(final=True)

    def _fail_without_workers(self) -> list[tuple[PlannedJob, Outcome]]:
        """Every pending job fails once no actor is left to make it."""
        results: list[tuple[PlannedJob, Outcome]] = []
        if self._pending and all(w.state == "dead" for w in self._pool):
            error = "no engine workers left: every actor died and spent its restarts"
            while self._pending:
                results += [(pj, Outcome("failed", error=error)) for pj in self._pending.popleft()]
        return results

    def _take(self, ready: list, results: list[tuple[PlannedJob, Outcome]]) -> EngineError | None:
        """Handle the finished calls, adding outcomes to ``results``; an engine's configuration error stops
        the handling and is returned, to be raised after what is finished is handed over (it gets staged)."""
        for ref in ready:
            if ref in self._probes:
                self._probe_done(ref)
            elif ref in self._hints:
                self._hint_done(ref)
            elif ref in self._gen:
                try:
                    results += self._batch_done(ref)
                except EngineError as exc:
                    return exc
            elif ref in self._stage:
                results += self._stage_done(ref)
        return None

    def _again(self, batch: list[PlannedJob], error: str) -> list[tuple[PlannedJob, Outcome]]:
        """Queue jobs whose attempt was lost; those past the retry limit fail with ``error``."""
        failed, keep = [], []
        for pj in batch:
            self._attempts[pj.job.id] += 1
            if self._attempts[pj.job.id] > self.options.max_retries:
                failed.append((pj, Outcome("failed", error=f"lost {self._attempts[pj.job.id]} times: {error}")))
            else:
                keep.append(pj)
        if keep:
            log.info("retrying %s (%s)", ", ".join(pj.job.id for pj in keep), error)
            self._pending.appendleft(keep)
        return failed

    def _dispatch(self) -> None:
        while self._pending and len(self._stage) < self._backlog:
            ready = [w for w in self._pool if w.state == "ok" and w.queued < self.options.queue_depth]
            if not ready:
                return
            w = min(ready, key=lambda w: w.queued)
            batch = self._pending.popleft()
            self._prepare(w, batch)
            requests = [request_for(pj.job) for pj in batch]
            refs = w.handle.run_batch.options(num_returns=len(batch) + 1).remote(requests)
            if w.queued == 0:
                w.last_progress = time.monotonic()
            w.queued += 1
            self._gen[refs[-1]] = _GenCall(w, batch, list(refs[:-1]))

    def _prepare(self, w: _Worker, batch: list[PlannedJob]) -> None:
        """When ``batch`` opens a new chunk for ``w``: send it that chunk (this batch and the pending ones after
        it, ``CHUNK`` jobs in all) for its engine's ``prepare``, queued ahead of the batch, so that a phased
        engine encodes the chunk's prompts in one text-encoder phase. Not waited for (it never raises). With
        several actors a chunk may be prepared by more than one of them: each still swaps once per chunk."""
        if w.prepared.issuperset(pj.job.id for pj in batch):
            return
        chunk = next(chunks(itertools.chain([batch], self._pending)))
        self._hints[w.handle.prepare.remote([[request_for(pj.job) for pj in b] for b in chunk])] = w
        w.prepared = {pj.job.id for b in chunk for pj in b}

    def _hint_done(self, ref) -> None:
        """A prepare call ended. It never raises; an actor that died under it fails its batches, which
        handle that (fetched only so that Ray does not report the error as never read)."""
        self._hints.pop(ref)
        with contextlib.suppress(self._ray.exceptions.RayError):
            self._ray.get(ref, timeout=self.options.get_timeout)

    def _batch_done(self, ref) -> list[tuple[PlannedJob, Outcome]]:
        ray = self._ray
        call = self._gen.pop(ref)
        w = call.worker
        w.queued -= 1
        w.last_progress = time.monotonic()
        try:
            meta = ray.get(ref, timeout=self.options.get_timeout)
        except ray.exceptions.RayActorError as exc:
            self._lost(w, f"died ({type(exc).__name__})")
            return self._again(call.batch, f"engine worker {w.name} died ({type(exc).__name__})")
        except ray.exceptions.RayTaskError as exc:
            cause = exc.cause
            if isinstance(cause, EngineError):
                raise EngineError(str(cause)) from None  # a configuration problem: stop, say what to fix
            log.error("engine failed on %s:\n%s", [pj.job.id for pj in call.batch], exc)
            return [(pj, Outcome("failed", error=f"engine: {type(cause).__name__}: {cause}",
                                 engine_info={"worker": w.name})) for pj in call.batch]
        except ray.exceptions.RayError as exc:  # objects lost with a node, or a timeout: make it again
            return self._again(call.batch, f"{w.name}: {type(exc).__name__}: {exc}")
        w.busy += meta["seconds"]
        w.span = max(w.span, meta["span"])
        for pj, image in zip(call.batch, call.images, strict=True):
            sref = self._stage_fn.remote(pj.job, image, meta, w.handle, self.options.get_timeout)
            self._stage[sref] = _StageCall(pj, w.name, time.monotonic())
        return []

    def _stage_done(self, ref) -> list[tuple[PlannedJob, Outcome]]:
        ray = self._ray
        call = self._stage.pop(ref)
        try:
            result = ray.get(ref, timeout=self.options.get_timeout)
        except ray.exceptions.RayTaskError as exc:  # stage_job catches stage errors; this is a bug
            return [(call.pj, Outcome("failed", error=f"stage task: {type(exc.cause).__name__}: {exc.cause}",
                                      engine_info={"worker": call.worker}))]
        except ray.exceptions.RayError as exc:  # crashed stage worker (after Ray's retries), lost image
            return self._again([call.pj], f"stage task: {type(exc).__name__}")
        if isinstance(result, Retry):
            return self._again([call.pj], result.error)
        result.engine_info = {**result.engine_info, "worker": call.worker}
        for w in self._pool:
            if w.name == call.worker:
                w.jobs += 1
        return [(call.pj, result)]

    def _lost(self, w: _Worker, why: str) -> None:
        """An actor died (or was killed): hold new work until it answers a probe after Ray's restart."""
        if w.state != "ok":
            return
        w.deaths += 1
        w.state = "probing"
        w.prepared = set()  # a restarted actor has prepared nothing
        w.lost_at = time.monotonic()
        log.warning("engine worker %s %s; its jobs are retried, waiting for its restart", w.name, why)
        self._probe(w)

    def _probe(self, w: _Worker) -> None:
        w.probe_after = None
        self._probes[w.handle.info.remote()] = w

    def _probe_done(self, ref) -> None:
        ray = self._ray
        w = self._probes.pop(ref)
        try:
            info = ray.get(ref, timeout=self.options.get_timeout)
        except ray.exceptions.ActorUnavailableError:  # between death and restart: ask again shortly
            if time.monotonic() - w.lost_at < max(self.options.batch_timeout, 60.0):
                w.probe_after = time.monotonic() + 0.5
                return
            w.state = "dead"
            log.warning("engine worker %s stayed unavailable: leaving it out", w.name)
            return
        except ray.exceptions.RayError as exc:
            w.state = "dead"
            log.warning("engine worker %s is gone for good (%s)", w.name, type(exc).__name__)
            return
        w.state = "ok"
        w.last_progress = time.monotonic()
        log.info("engine worker %s is back (pid %s)", w.name, info.get("pid"))

    def _check_stalls(self) -> None:
        now = time.monotonic()
        for w in self._pool:
            if w.state == "probing" and w.probe_after is not None and now >= w.probe_after:
                self._probe(w)
            if w.state == "ok" and w.queued and now - w.last_progress > self.options.batch_timeout:
                self._ray.kill(w.handle, no_restart=False)  # its calls fail and their jobs are retried
                self._lost(w, f"made no progress for {now - w.last_progress:.0f} s: restarting it")
        for ref, call in list(self._stage.items()):
            if now - call.started > self.options.stage_timeout:
                log.warning("stage task for %s ran over %.0f s: cancelling it", call.pj.job.id, self.options.stage_timeout)
                call.started = now
                self._ray.cancel(ref, force=True)

    # -- progress -----------------------------------------------------------------------------------

    def _report(self, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self._last_report < self.options.report_every:
            return
        self._last_report = now
        wall = max(now - self._started, 1e-9)
        self.stats = {"wall": round(wall, 3), "workers": {
            w.name: {"jobs": w.jobs, "jobs_per_s": round(w.jobs / wall, 3), "busy": round(w.busy, 3),
                     "busy_fraction": round(w.busy / wall, 4),
                     # busy while serving: excludes the engine load and the tail after its last batch
                     "serving_busy_fraction": round(w.busy / w.span, 4) if w.span else 0.0,
                     "deaths": w.deaths, "state": w.state} for w in self._pool}}
        for name, s in self.stats["workers"].items():
            log.info("ray worker %s: %d jobs, %.2f jobs/s, engine busy %.0f%% of %.1f s (%.0f%% while serving)%s",
                     name, s["jobs"], s["jobs_per_s"], 100 * s["busy_fraction"], wall,
                     100 * s["serving_busy_fraction"], f", died {s['deaths']}x" if s["deaths"] else "")

    def close(self) -> None:
        """Stop everything this run started. On a cluster this executor started, ``ray.shutdown`` ends
        actors and tasks with it; cancelling them one by one first races with Ctrl-C, which reaches
        Ray's own processes too (same process group) and can crash Ray's core worker."""
        ray = self._ray
        if ray is None:
            return
        self._ray = None
        try:
            if not self._owns_cluster and ray.is_initialized():
                for ref in self._stage:
                    try:
                        ray.cancel(ref)
                    except Exception:  # noqa: BLE001 - already finished or gone
                        pass
                for w in self._pool:
                    try:
                        ray.kill(w.handle, no_restart=True)
                    except Exception:  # noqa: BLE001 - already dead
                        pass
        finally:
            self._gen.clear()
            self._stage.clear()
            self._probes.clear()
            self._hints.clear()
            self._pool.clear()
            if self._sigterm is not None:
                signal.signal(signal.SIGTERM, self._sigterm)
                self._sigterm = None
            if self._owns_cluster:
                try:
                    ray.shutdown()
                finally:
                    self._close_watchdog()

    def _close_watchdog(self) -> None:
        if self._watchdog is not None:
            self._watchdog.close()
            self._watchdog = None


def _init(ray, address: str | None, kwargs: dict[str, Any]) -> None:
    """``ray.init``, with its failures as messages: an unreachable cluster, a local one that cannot start."""
    try:
        ray.init(**kwargs)
    except ConnectionError as exc:
        raise EngineError(f"cannot reach the Ray cluster at {address or 'RAY_ADDRESS'}: {exc}; "
                          f"{REACH_FIX}") from None
    except Exception as exc:  # noqa: BLE001 - Ray reports a failed start with many types
        if address:
            raise
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        raise ClusterError(f"cannot start a local Ray cluster ({type(exc).__name__}: {first}); check the free "
                           "memory and disk (Ray's object store takes 30% of memory), or build with "
                           "--executor local") from None


@contextlib.contextmanager
def _visible_devices(devices: tuple[str, ...] | None):
    """The local raylet detects GPUs from CUDA_VISIBLE_DEVICES: set it while the cluster starts."""
    if not devices:
        yield
        return
    before = os.environ.get("CUDA_VISIBLE_DEVICES")
    os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(devices)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("CUDA_VISIBLE_DEVICES", None)
        else:
            os.environ["CUDA_VISIBLE_DEVICES"] = before


@contextlib.contextmanager
def _bounded_wait(address: str | None):
    """A cluster address must answer first (ray.init would retry for minutes, holding the store's lock), and
    ray.init's own connection attempts (about 1 s each) are capped, unless the user set that cap."""
    wait_env = "RAY_gcs_server_port_wait_time_s"
    bounded = bool(address) and wait_env not in os.environ
    if address:
        check_reachable(address)
        if bounded:
            os.environ[wait_env] = str(int(CONNECT_TIMEOUT))
    try:
        yield
    finally:
        if bounded:
            os.environ.pop(wait_env, None)


@contextlib.contextmanager
def _sigint_blocked(on: bool):
    if not on:
        yield
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
