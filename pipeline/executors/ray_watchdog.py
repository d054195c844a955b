"""Nothing of a local Ray cluster outlives its driver, not even after ``kill -9``.

Ray ties the processes that ``ray.init`` starts to the driver (Linux: PR_SET_PDEATHSIG, Windows: a job
object, macOS: a reaper that signals the process group), but not their own children: on Linux the
raylet's dashboard and runtime-env agents see the raylet die, then spend 60 s trying to report it to the
GCS, which died too (ray 2.60: ``publish_error_to_driver`` with a fixed 60 s timeout; no setting
shortens it). A CI job that kills a build must not leave them behind.

So a driver that starts a local cluster first starts this watchdog: a small process in a session of its
own (a kill of the driver's process group does not reach it), with a pipe from the driver on its stdin.
Until the driver writes ``ready`` (``ray.init`` returned), every new child of the driver is the
cluster's; after that only their descendants (agents, workers) are. It looks once a second. When the
pipe ends (the driver closed it after ``ray.shutdown``, or died: the OS closes it either way), it
terminates every process of the cluster still running, kills those that ignore SIGTERM, and exits.
psutil names a process by pid and start time, so a reused pid is never hit.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import threading

log = logging.getLogger(__name__)
POLL = 1.0  # seconds between looks at the process tree
GRACE = 2.0  # seconds between SIGTERM and SIGKILL


class ClusterWatchdog:
    """The driver's end: :meth:`start` before ``ray.init``, :meth:`ready` after it, :meth:`close` after
    ``ray.shutdown`` (or after a failed ``ray.init``)."""

    def __init__(self, proc: subprocess.Popen):
        self._proc = proc

    @classmethod
    def start(cls) -> ClusterWatchdog | None:
        """None (with a warning) where it cannot run: the cluster then lives as long as Ray lets it."""
        try:
            import psutil  # Ray ships it (ray/thirdparty_files, on sys.path once ray is imported)

            existing = [str(p.pid) for p in psutil.Process().children()]
            psutil_dir = os.path.dirname(os.path.dirname(psutil.__file__))
            detached = {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP} if sys.platform == "win32" \
                else {"start_new_session": True}
            proc = subprocess.Popen(
                [sys.executable, "-m", __name__, psutil_dir, str(os.getpid()), *existing],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **detached)
        except (ImportError, OSError) as exc:
            log.warning("no watchdog for the local Ray cluster (%s): if this run is killed, Ray's agents may "
                        "stay for a minute", exc)
            return None
        return cls(proc)

    def ready(self) -> None:
        """``ray.init`` returned: the cluster's own processes are all started."""
        with contextlib.suppress(OSError, ValueError):
            self._proc.stdin.write(b"ready\n")
            self._proc.stdin.flush()

    def close(self, timeout: float = GRACE + 8) -> None:
        """End the watch: what is left of the cluster is stopped, then the watchdog exits."""
        with contextlib.suppress(OSError, ValueError):
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log.warning("the Ray cluster watchdog (pid %d) is still stopping processes", self._proc.pid)


def _tree(psutil) -> dict[int, list[int]]:
    """Each running pid -> its children's pids (one pass over the process table)."""
    children: dict[int, list[int]] = {}
    for p in psutil.process_iter(["ppid"]):
        children.setdefault(p.info["ppid"], []).append(p.pid)
    return children


def _watch(psutil, driver_pid: int, ignore: set[int], stop: threading.Event, ready: threading.Event) -> set:
    """Collect the cluster's processes until ``stop``; returns them (psutil.Process: pid + start time)."""
    seen: set = set()
    adopting = True
    while True:
        last_adoption = ready.is_set()  # the look after "ready" still adopts what ray.init started last
        tree = _tree(psutil)
        roots = [pid for pid in tree.get(driver_pid, []) if pid not in ignore] if adopting else []
        todo, looked = roots + [p.pid for p in seen if p.is_running()], set()
        while todo:  # every process found so far and all of their descendants, new ones included
            pid = todo.pop()
            if pid in looked:
                continue
            looked.add(pid)
            todo += tree.get(pid, [])
            with contextlib.suppress(psutil.Error):
                seen.add(psutil.Process(pid))
        adopting = adopting and not last_adoption
        if stop.wait(POLL):
            return seen


def _stop(psutil, procs: set) -> None:
    alive = [p for p in procs if p.is_running()]
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.terminate()
    _, alive = psutil.wait_procs(alive, timeout=GRACE)
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.kill()
    psutil.wait_procs(alive, timeout=GRACE)


def main(argv: list[str]) -> None:
    sys.path.insert(0, argv[0])
    import psutil

    driver_pid, ignore = int(argv[1]), {int(a) for a in argv[2:]} | {os.getpid()}
    stop, ready = threading.Event(), threading.Event()

    def read() -> None:
        for line in sys.stdin.buffer:  # ends when the driver closes the pipe or dies
            if line.strip() == b"ready":
                ready.set()
        stop.set()

    threading.Thread(target=read, daemon=True).start()
    _stop(psutil, _watch(psutil, driver_pid, ignore, stop, ready))


if __name__ == "__main__":
    main(sys.argv[1:])
