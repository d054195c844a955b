"""The zpipe hook protocol as the add-on speaks it: plain Python (no bpy, no zpipe), so it is testable alone.

Blender's Python is not zpipe's: the add-on never imports zpipe. When a `zpipe serve` answers (the engine
stays loaded there), the request goes to it over HTTP; otherwise the add-on runs the zpipe CLI
(``zpipe hook export --request FILE --json``) at a configurable path. Either way the build runs without
blocking: :func:`start_build` returns at once, and its ``poll()`` says how far it got.
Protocol: pipeline/docs/hook-protocol.md in the zpipe repository (version 1).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time

PROTOCOL_VERSION = 1
MAPS = ("albedo", "normal", "roughness", "ao", "height")


class HookFailed(Exception):
    """zpipe could not be run, refused the request (exit 2) or answered nonsense; the message says which."""


def material_entry(name, source, text, size=None, seed=None, maps=None, recipe_asset=None):
    """One material of a request. ``source`` is ``prompt``, ``description`` or ``recipe``."""
    entry = {"name": name}
    if source == "recipe":
        entry["recipe"] = text
        if recipe_asset:
            entry["asset"] = recipe_asset
        return entry
    entry[source] = text
    if size:
        entry["size"] = int(size)
    if seed is not None and seed >= 0:
        entry["seed"] = int(seed)
    if maps:
        entry["maps"] = [m for m in MAPS if m in maps]
    return entry


def make_request(materials, target, store=None, engine="auto", name="blender"):
    request = {"version": PROTOCOL_VERSION, "target": target, "name": name, "engine": engine,
               "materials": list(materials)}
    if store:
        request["store"] = store
    return request


def find_cli(path):
    """The zpipe executable: an explicit path, or a name looked up on PATH."""
    path = os.path.expanduser(path or "zpipe")
    if os.path.dirname(path):
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
        raise HookFailed(f"the zpipe CLI {path!r} does not exist or is not executable; set its path in the "
                         "add-on preferences")
    found = shutil.which(path)
    if not found:
        raise HookFailed(f"{path!r} is not on PATH; set the full path of the zpipe CLI in the add-on preferences "
                         "(e.g. /path/to/venv/bin/zpipe)")
    return found


class ServerRefused(Exception):
    """The server will not take this request (a target outside its folders, another store, a wrong token):
    the caller uses the CLI instead."""


def _http(method, url, body=None, token=None, timeout=10.0):
    """(status, body bytes, headers) of one request; HTTP errors are answers too, network errors raise OSError."""
    import urllib.error
    import urllib.request

    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read(), r.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers


def server_answers(server, token=None, timeout=0.5):
    """Whether a `zpipe serve` speaking this protocol answers at ``server`` (a quick probe)."""
    if not server:
        return False
    try:
        status, data, _ = _http("GET", server.rstrip("/") + "/api/health", token=token, timeout=timeout)
        return status == 200 and json.loads(data).get("hook_protocol") == PROTOCOL_VERSION
    except (OSError, ValueError):
        return False


def _answer(returncode, stdout, stderr=""):
    """The answer from the CLI's (or the server's) output and exit code; HookFailed when there is none."""
    try:
        answer = json.loads(stdout)
    except ValueError:
        tail = (stderr or stdout).strip().splitlines()[-5:]
        raise HookFailed(f"zpipe exited {returncode} without an answer: " + " | ".join(tail)) from None
    if returncode == 2 or "error" in answer:
        raise HookFailed("zpipe refused the request: " + "; ".join(answer.get("errors") or [answer.get("error", "")]))
    if answer.get("version") != PROTOCOL_VERSION or not isinstance(answer.get("materials"), dict):
        raise HookFailed(f"zpipe answered an unknown protocol version {answer.get('version')!r}; update the add-on")
    return answer


class ServerBuild:
    """A request handed to `zpipe serve` (``POST /hook?wait=0``), polled without blocking."""

    via = "server"

    def __init__(self, server, request, token=None):
        self.server, self.token = server.rstrip("/"), token
        try:
            status, data, _ = _http("POST", self.server + "/hook?wait=0", json.dumps(request).encode(), token, 30)
        except OSError as exc:
            raise ServerRefused(f"the server did not answer: {exc}") from None
        if status == 202:
            self.id = json.loads(data)["id"]
        elif status == 422:  # a bad request: the CLI would refuse it the same way
            _answer(2, data.decode("utf-8", "replace"))
        else:
            raise ServerRefused(f"the server refused the request ({status}): {data[:300].decode('utf-8', 'replace')}")

    def poll(self):
        """(finished, fraction done, message)."""
        try:
            status, data, _ = _http("GET", f"{self.server}/api/builds/{self.id}", token=self.token, timeout=5)
        except OSError as exc:
            raise HookFailed(f"lost the zpipe server at {self.server}: {exc}") from None
        if status != 200:
            raise HookFailed(f"the zpipe server lost the build {self.id} ({status})")
        job = json.loads(data)
        p = job.get("progress", {})
        fraction = p["done"] / p["total"] if p.get("total") else 0.0
        finished = job["state"] in ("done", "failed", "cancelled")
        return finished, fraction, f"{job['state']}: {p.get('done', 0)}/{p.get('total', '?')} assets"

    def answer(self):
        status, data, headers = _http("GET", f"{self.server}/hook/{self.id}", token=self.token, timeout=30)
        return _answer(int(headers.get("X-Zpipe-Exit", 2 if status >= 400 else 0)), data.decode("utf-8", "replace"))

    def cancel(self):
        try:
            _http("DELETE", f"{self.server}/api/builds/{self.id}", token=self.token, timeout=5)
        except OSError:
            pass


class CliBuild:
    """``zpipe hook export`` as a child process, polled without blocking; progress from its stderr lines."""

    via = "cli"

    def __init__(self, cli, request, timeout=3600, env=None):
        exe = find_cli(cli)
        self.total = max(1, len(request.get("materials", [])))
        self.deadline = time.monotonic() + timeout
        self.timeout = timeout
        self._files = []
        fd, self.request_path = tempfile.mkstemp(prefix="zpipe-request-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(request, f, ensure_ascii=False, indent=1)
        # files, not pipes: a chatty child never blocks on a full pipe while nobody reads it
        self.stdout = tempfile.TemporaryFile()
        self.stderr = tempfile.TemporaryFile()
        try:
            self.proc = subprocess.Popen([exe, "hook", "export", "--request", self.request_path, "--json"],
                                         stdout=self.stdout, stderr=self.stderr, env=env)
        except OSError as exc:
            self._cleanup()
            raise HookFailed(f"could not run {exe}: {exc}") from None

    def _read(self, f):
        f.seek(0)
        return f.read().decode("utf-8", "replace")

    def poll(self):
        code = self.proc.poll()
        if code is None and time.monotonic() > self.deadline:
            self.cancel()
            raise HookFailed(f"zpipe did not finish within {self.timeout} s (the add-on's timeout)")
        done = sum(1 for line in self._read(self.stderr).splitlines()
                   if line.startswith("zpipe hook: ") and line.split()[2:3] in (["built"], ["reused"], ["failed"]))
        fraction = 1.0 if code is not None else min(1.0, done / self.total)  # an up-to-date build prints no lines
        return code is not None, fraction, f"{done}/{self.total} materials"

    def answer(self):
        self.proc.wait()
        try:
            return _answer(self.proc.returncode, self._read(self.stdout), self._read(self.stderr))
        finally:
            self._cleanup()

    def cancel(self):
        if self.proc.poll() is None:
            self.proc.terminate()  # zpipe stops cleanly: finished assets stay staged for the next build
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._cleanup()

    def _cleanup(self):
        for f in (self.stdout, self.stderr):
            f.close()
        if os.path.exists(self.request_path):
            os.unlink(self.request_path)


def start_build(request, cli, server=None, token=None, timeout=3600, env=None):
    """Start the export without waiting: through `zpipe serve` when it answers at ``server`` and takes the
    request, else through the CLI. Poll the result's ``poll()``; then ``answer()``; ``cancel()`` stops it."""
    if server_answers(server, token):
        try:
            return ServerBuild(server, request, token)
        except ServerRefused:
            pass  # e.g. the target is outside the server's folders: the CLI can still do it
    return CliBuild(cli, request, timeout, env)


def run_hook(cli, request, timeout=3600, env=None, server=None, token=None):
    """Export ``request`` and wait; return the answer (materials may have failed: see ``ok``)."""
    build = start_build(request, cli, server, token, timeout, env)
    while not build.poll()[0]:
        time.sleep(0.1)
    return build.answer()
