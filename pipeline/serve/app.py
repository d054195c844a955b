"""The ASGI app of ``zpipe serve`` (Starlette): the build queue's JSON API, live progress as server-sent
events, the hook protocol, the review page and its data. Every route checks the token (when one is set)
and confines every path to the output root and the folders given at start."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from zpipe import __version__
from zpipe.serve import browse, hook_route
from zpipe.serve.engines import EnginePool
from zpipe.serve.paths import Forbidden, check_name, check_version, resolve_in
from zpipe.serve.queue import FINISHED, BuildError, BuildQueue, QueuedJob
from zpipe.serve.review import ReviewStore
from zpipe.store import RecipeStore, StoreError

log = logging.getLogger(__name__)
WEB = Path(__file__).parent / "web"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
TOKEN_COOKIE = "zpipe_token"


@dataclass
class ServeConfig:
    out: Path
    roots: list[Path] = field(default_factory=list)  # recipe and DCC project folders (read; hook targets)
    token: str | None = None
    idle_seconds: float = 600.0
    executor: str = "local"
    executor_options: dict[str, Any] = field(default_factory=dict)
    allowed_hosts: list[str] | None = None  # None: any Host (a token is required then); else these names

    def __post_init__(self):
        self.out = Path(self.out).resolve()
        self.roots = [Path(r).resolve() for r in self.roots]


class HTTPError(Exception):
    def __init__(self, status: int, message: str):
        self.status, self.message = status, message
        super().__init__(message)


# --- guards ---------------------------------------------------------------------------------------

class Guard:
    """ASGI middleware run before every route: the Host (DNS rebinding), the token, and JSON for writes
    (a web page can only send a cross-site POST without a preflight as a form or text/plain)."""

    def __init__(self, app, config: ServeConfig):
        self.app, self.config = app, config

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope)
        problem = self._problem(request)
        if problem:
            status, message = problem
            return await JSONResponse({"error": message}, status)(scope, receive, send)
        set_cookie = self.config.token and request.query_params.get("token") == self.config.token
        if not set_cookie:
            return await self.app(scope, receive, send)

        async def send_with_cookie(message):  # the page's images and event streams cannot send headers
            if message["type"] == "http.response.start":
                cookie = f"{TOKEN_COOKIE}={self.config.token}; Path=/; HttpOnly; SameSite=Strict"
                message["headers"] = [*message.get("headers", []), (b"set-cookie", cookie.encode())]
            await send(message)
        return await self.app(scope, receive, send_with_cookie)

    def _problem(self, request: Request) -> tuple[int, str] | None:
        hosts = self.config.allowed_hosts
        if hosts is not None and (request.url.hostname or "") not in hosts:
            return 421, f"host {request.url.hostname!r} is not served here; use http://127.0.0.1"
        token = self.config.token
        if token:
            auth = request.headers.get("authorization", "")
            given = [auth[7:] if auth.lower().startswith("bearer ") else "", request.headers.get("x-zpipe-token", ""),
                     request.cookies.get(TOKEN_COOKIE, ""), request.query_params.get("token", "")]
            if not any(g and hmac.compare_digest(g.encode(), token.encode()) for g in given):
                return 401, "missing or wrong token: send `Authorization: Bearer TOKEN` (the --token / ZPIPE_TOKEN " \
                            "of `zpipe serve`)"
        if request.method in ("POST", "PUT", "PATCH"):
            ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype != "application/json":
                return 415, "send the body as JSON (Content-Type: application/json)"
        return None


def _json_errors(fn: Callable[..., Awaitable[Response]]) -> Callable[..., Awaitable[Response]]:
    async def wrapper(request: Request) -> Response:
        try:
            return await fn(request)
        except HTTPError as exc:
            return JSONResponse({"error": exc.message}, exc.status)
        except Forbidden as exc:
            return JSONResponse({"error": str(exc)}, 403)
        except StoreError as exc:
            return JSONResponse({"error": str(exc)}, 500)
    wrapper.__name__ = fn.__name__
    return wrapper


async def _body(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except (ValueError, RecursionError):
        raise HTTPError(400, "the body is not valid JSON") from None


# --- the app --------------------------------------------------------------------------------------

class _Server:
    """What the routes share: the config, the engines kept loaded, the build queue (while the app runs) and
    the approvals. Each route is a method; :func:`create_app` maps paths onto them."""

    def __init__(self, config: ServeConfig):
        self.config = config
        self.out = config.out
        self.pool = EnginePool(config.idle_seconds, config.executor, config.executor_options)
        self.queue: BuildQueue | None = None
        self.reviews = ReviewStore(config.out)

    def jobs(self) -> BuildQueue:
        if self.queue is None:
            raise HTTPError(503, "the server is starting or stopping")
        return self.queue

    def store_for(self, name: str) -> RecipeStore:
        check_name(name, "recipe")
        store = RecipeStore(self.out, name)
        if not store.versions():
            raise HTTPError(404, f"no recipe {name!r} with versions in {self.out}")
        return store

    def version_of(self, store: RecipeStore, version: str) -> str:
        check_version(version)
        v = store.latest() if version == "latest" else version
        if v not in store.versions():
            raise HTTPError(404, f"no version {version!r} of {store.root.name}")
        return v

    def asset_of(self, manifest: dict[str, Any], asset_id: str) -> dict[str, Any]:
        for a in manifest.get("assets", []):
            if a["id"] == asset_id:
                return a
        raise HTTPError(404, f"no asset {asset_id!r} in {manifest.get('version')}")

    # -- info and browsing ----------------------------------------------------------------------
    async def health(self, request: Request) -> Response:
        from zpipe.hook import PROTOCOL_VERSION

        return JSONResponse({"zpipe": __version__, "hook_protocol": PROTOCOL_VERSION, "out": str(self.out),
                             "roots": [str(r) for r in self.config.roots], "executor": self.config.executor})

    async def engines(self, request: Request) -> Response:
        pool = self.pool
        return JSONResponse({"idle_seconds": pool.idle_seconds, "loads": pool.loads, "engines": pool.status()})

    async def list_recipes(self, request: Request) -> Response:
        return JSONResponse({"recipes": browse.recipes(self.out)})

    async def recipe_files(self, request: Request) -> Response:
        files = []
        for root in self.config.roots:
            for p in sorted(root.glob("*.yaml")) + sorted(root.glob("*/*.yaml")):
                if not any(part.startswith(".") for part in p.relative_to(root).parts):
                    files.append(str(p))
        return JSONResponse({"files": files[:500]})

    async def recipe_versions(self, request: Request) -> Response:
        store = self.store_for(request.path_params["recipe"])
        return JSONResponse({"recipe": store.root.name, "latest": store.latest(), "versions": browse.versions(store)})

    async def version_assets(self, request: Request) -> Response:
        name = request.path_params["recipe"]
        store = self.store_for(name)
        version = self.version_of(store, request.path_params["version"])
        m = store.manifest(version)
        try:
            page_no = int(request.query_params.get("page", 1))
            per_page = int(request.query_params.get("per_page", 48))
        except ValueError:
            raise HTTPError(400, "page and per_page are integers") from None
        approvals = self.reviews.current(name)
        status = request.query_params.get("status")
        assets = [browse.with_review(a, approvals) for a in m.get("assets", [])]
        if status:
            assets = [a for a in assets if a["status"] == status or a["review"]["status"] == status]
        head = {k: v for k, v in m.items() if k != "assets"}
        return JSONResponse({**head, "recipe_name": name, "assets": browse.page(assets, page_no, per_page)})

    async def asset_detail(self, request: Request) -> Response:
        name = request.path_params["recipe"]
        store = self.store_for(name)
        version = self.version_of(store, request.path_params["version"])
        asset = self.asset_of(store.manifest(version), request.path_params["asset"])
        return JSONResponse({"recipe": name, "version": version,
                             "asset": browse.with_review(asset, self.reviews.current(name)),
                             "history": self.reviews.history(name, asset["id"])})

    async def recipe_diff(self, request: Request) -> Response:
        store = self.store_for(request.path_params["recipe"])
        vs = store.versions()
        old = request.query_params.get("old") or (vs[-2] if len(vs) > 1 else vs[-1])
        new = request.query_params.get("new") or store.latest()
        return JSONResponse(browse.diff(store, self.version_of(store, old), self.version_of(store, new)))

    # -- approvals ------------------------------------------------------------------------------
    async def approvals(self, request: Request) -> Response:
        name = request.path_params["recipe"]
        store = self.store_for(name)
        if request.method == "GET":
            version = self.version_of(store, request.query_params.get("version", "latest"))
            return JSONResponse({"recipe": name, "version": version,
                                 "assets": self.reviews.for_manifest(name, store.manifest(version))})
        body = await _body(request)
        if not isinstance(body, dict):
            raise HTTPError(400, "expected {\"asset\", \"decision\", \"comment\", \"version\"}")
        version = self.version_of(store, str(body.get("version", "latest")))
        asset = self.asset_of(store.manifest(version), str(body.get("asset", "")))
        if asset.get("status") == "failed" and body.get("decision") == "approved":
            raise HTTPError(409, f"{asset['id']} failed in {version}: a failed asset cannot be approved")
        comment = body.get("comment", "")
        if not isinstance(comment, str) or len(comment) > 10_000:
            raise HTTPError(400, "comment: expected a string of at most 10,000 characters")
        try:
            row = self.reviews.decide(name, asset["id"], asset["key"], version, str(body.get("decision")), comment,
                                 str(body.get("author", ""))[:200])
        except ValueError as exc:
            raise HTTPError(400, str(exc)) from None
        return JSONResponse(row, 201)

    # -- files ----------------------------------------------------------------------------------
    def version_file(self, request: Request) -> Path:
        store = self.store_for(request.path_params["recipe"])
        version = self.version_of(store, request.path_params["version"])
        rel = request.path_params["path"]
        path = resolve_in(store.root / version / rel, [(store.root / version).resolve()])
        if not path.is_file():
            raise HTTPError(404, f"no file {rel!r} in {store.root.name}/{version}")
        return path

    async def files(self, request: Request) -> Response:
        return FileResponse(self.version_file(request))

    async def thumbs(self, request: Request) -> Response:
        path = self.version_file(request)
        try:
            size = int(request.query_params.get("size", 256))
        except ValueError:
            size = 0
        if size not in browse.THUMB_SIZES:
            raise HTTPError(400, f"size: one of {', '.join(map(str, browse.THUMB_SIZES))}")
        try:
            data = await asyncio.to_thread(browse.thumbnail, path, size, self.out / ".serve" / "thumbs")
        except OSError as exc:
            raise HTTPError(415, f"cannot make a thumbnail of {path.name}: {exc}") from None
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})

    # -- builds ---------------------------------------------------------------------------------
    async def builds(self, request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse({"builds": [j.to_json() for j in reversed(self.jobs().jobs())]})
        body = await _body(request)
        if not isinstance(body, dict):
            raise HTTPError(400, "expected {\"recipe\": PATH} or {\"yaml\": TEXT}, with optional set, engine, only, force")
        recipe = await asyncio.to_thread(_load_submitted, body, self.config)
        only = body.get("only")
        kwargs: dict[str, Any] = {}
        if only:
            from zpipe.plan import SelectionError, select

            if not isinstance(only, list) or not all(isinstance(x, str) for x in only):
                raise HTTPError(400, "only: expected a list of asset ids or globs")
            try:
                select(recipe.jobs, only)
            except SelectionError as exc:
                raise HTTPError(422, str(exc)) from None
            kwargs["only"] = only
        force = bool(body.get("force", False))
        job = self.jobs().submit("build", recipe.name,
                                 lambda job: _run_build(job, recipe, self.out, self.pool, force, kwargs))
        return JSONResponse(job.to_json(), 202, headers={"Location": f"/api/builds/{job.id}"})

    def job_of(self, request: Request) -> QueuedJob:
        job = self.jobs().get(request.path_params["id"])
        if job is None:
            raise HTTPError(404, f"no build {request.path_params['id']!r}")
        return job

    async def build_status(self, request: Request) -> Response:
        if request.method == "DELETE":
            job = self.jobs().cancel(request.path_params["id"])
            if job is None:
                raise HTTPError(404, f"no build {request.path_params['id']!r}")
            return JSONResponse(job.to_json(), 202 if job.state == "running" else 200)
        return JSONResponse(self.job_of(request).to_json())

    async def build_events(self, request: Request) -> Response:
        job = self.job_of(request)
        try:
            start = int(request.headers.get("last-event-id", "-1")) + 1
        except ValueError:
            start = 0

        async def stream():
            i = start
            while True:
                events = job.events
                while i < len(events):
                    yield f"id: {i}\ndata: {json.dumps(events[i], ensure_ascii=False)}\n\n"
                    i += 1
                if job.state in FINISHED and i >= len(job.events):
                    yield f"event: end\ndata: {json.dumps(job.to_json(), ensure_ascii=False)}\n\n"
                    return
                await asyncio.sleep(0.1)
        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    # -- the hook protocol ----------------------------------------------------------------------
    async def hook(self, request: Request) -> Response:
        from zpipe.hook import HookError

        body = await request.body()
        base = self.config.roots[0] if self.config.roots else self.out
        try:
            parsed = await asyncio.to_thread(hook_route.parse, body, base, self.out, self.config.roots)
        except HookError as exc:
            return _hook_response(*hook_route.refusal(exc.problems))
        job = self.jobs().submit("hook", parsed.name,
                                 lambda job: hook_route.run(parsed, self.out, self.pool, job.emit))
        if request.query_params.get("wait") == "0":  # DCCs that show progress: poll /api/builds/ID, then GET /hook/ID
            return JSONResponse(job.to_json(), 202, headers={"Location": f"/hook/{job.id}"})
        try:
            code, data = await asyncio.wrap_future(job.future)
        except Exception as exc:  # noqa: BLE001 - cancelled: an answer in the CLI's shape
            return _hook_response(*hook_route.refusal([str(exc)]))
        return _hook_response(code, data)

    async def hook_answer(self, request: Request) -> Response:
        job = self.job_of(request)
        if job.kind != "hook":
            raise HTTPError(404, f"{job.id} is not a hook request")
        if job.state not in FINISHED:
            return JSONResponse(job.to_json(), 202)
        if job.state != "done":
            return _hook_response(*hook_route.refusal([job.error or job.state]))
        return _hook_response(*job.result)

    # -- the page -------------------------------------------------------------------------------
    async def index(self, request: Request) -> Response:
        return FileResponse(WEB / "index.html", headers={"Cache-Control": "no-cache"})

    @asynccontextmanager
    async def lifespan(self, app):
        self.queue = BuildQueue()
        self.pool.start()
        try:
            yield
        finally:
            q, self.queue = self.queue, None
            await asyncio.to_thread(q.close)
            await asyncio.to_thread(self.pool.close)


def create_app(config: ServeConfig) -> Starlette:
    s = _Server(config)
    routes = [
        Route("/", s.index),
        Route("/api/health", _json_errors(s.health)),
        Route("/api/engines", _json_errors(s.engines)),
        Route("/api/recipes", _json_errors(s.list_recipes)),
        Route("/api/recipe-files", _json_errors(s.recipe_files)),
        Route("/api/recipes/{recipe}", _json_errors(s.recipe_versions)),
        Route("/api/recipes/{recipe}/diff", _json_errors(s.recipe_diff)),
        Route("/api/recipes/{recipe}/approvals", _json_errors(s.approvals), methods=["GET", "POST"]),
        Route("/api/recipes/{recipe}/versions/{version}", _json_errors(s.version_assets)),
        Route("/api/recipes/{recipe}/versions/{version}/assets/{asset}", _json_errors(s.asset_detail)),
        Route("/files/{recipe}/{version}/{path:path}", _json_errors(s.files)),
        Route("/thumbs/{recipe}/{version}/{path:path}", _json_errors(s.thumbs)),
        Route("/api/builds", _json_errors(s.builds), methods=["GET", "POST"]),
        Route("/api/builds/{id}", _json_errors(s.build_status), methods=["GET", "DELETE"]),
        Route("/api/builds/{id}/events", _json_errors(s.build_events)),
        Route("/hook", _json_errors(s.hook), methods=["POST"]),
        Route("/hook/{id}", _json_errors(s.hook_answer)),
        Mount("/static", StaticFiles(directory=WEB), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=s.lifespan)
    app.add_middleware(Guard, config=config)
    app.state.pool = s.pool
    app.state.config = config
    app.state.queue = lambda: s.queue
    return app


def _hook_response(code: int, data: bytes) -> Response:
    status = {0: 200, 1: 200, 2: 422}.get(code, 500)
    return Response(data, status, media_type="application/json", headers={"X-Zpipe-Exit": str(code)})


def _load_submitted(body: dict[str, Any], config: ServeConfig):
    """The submitted recipe (a path inside a root, or inline YAML saved under OUT/.serve/recipes), validated."""
    from zpipe.recipe import RecipeError, load_recipe

    overrides = body.get("set", [])
    if not isinstance(overrides, list) or not all(isinstance(s, str) for s in overrides):
        raise HTTPError(400, "set: expected a list of \"KEY.PATH=VALUE\" strings")
    engine = body.get("engine")
    if engine is not None and not isinstance(engine, str):
        raise HTTPError(400, "engine: expected an engine name")
    if ("recipe" in body) == ("yaml" in body):
        raise HTTPError(400, "give exactly one of recipe (a path) or yaml (the recipe's text)")
    if "recipe" in body:
        if not isinstance(body["recipe"], str) or not body["recipe"]:
            raise HTTPError(400, "recipe: expected a path")
        if not config.roots:
            raise Forbidden("recipe paths: this server was started without --root; send the recipe as yaml")
        path = resolve_in(body["recipe"], config.roots)
        if not path.is_file():
            raise HTTPError(404, f"recipe: no such file: {path}")
    else:
        text = body["yaml"]
        if not isinstance(text, str) or len(text) > 1_000_000:
            raise HTTPError(400, "yaml: expected the recipe's text (at most 1 MB)")
        folder = config.out / ".serve" / "recipes"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{hashlib.sha256(text.encode()).hexdigest()[:16]}.yaml"
        if not path.is_file():
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(path)
    try:
        return load_recipe(path, overrides, engine)
    except RecipeError as exc:
        raise HTTPError(422, str(exc)) from None


def _run_build(job: QueuedJob, recipe, out: Path, pool: EnginePool, force: bool, kwargs: dict[str, Any]) -> dict[str, Any]:
    from zpipe.build import build
    from zpipe.engine.base import EngineError

    try:
        result = build(recipe, out, force=force, executor=pool, on_event=job.emit, **kwargs)
    except EngineError as exc:
        raise BuildError(f"engine: {exc}") from None
    except OSError as exc:
        raise BuildError(f"cannot write the build: {exc.strerror or exc}: {exc.filename or out}") from None
    return {"recipe": result.recipe, "version": result.version, "built": result.built, "reused": result.reused,
            "failed": result.failed, "up_to_date": result.up_to_date, "failures": result.failures,
            "exit_code": result.exit_code}
