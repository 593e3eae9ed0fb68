"""The playground's web app: the JSON API under ``/api/`` and the page under ``/``.

Built with Starlette. Bad input is a 400 with ``{"error": "..."}`` (404 for unknown runs,
jobs and paths, 413 for oversized bodies), a failing model call a 500 with a short
message, and the server keeps serving. The page and its scripts are files of
``genzoo/serve/static/`` listed once at start: a request path is looked up in that list,
never joined to a directory. The API is documented in docs/serve.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from genzoo.errors import GenzooError
from genzoo.serve import ganlab, work
from genzoo.serve.inputs import MAX_BODY, get_bool, get_int
from genzoo.serve.jobs import Job, JobManager, ServeError, short_failure
from genzoo.serve.runs import RunTable

STATIC = Path(__file__).parent / "static"
LOG = logging.getLogger("genzoo.serve")
_MEDIA = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".png": "image/png", ".svg": "image/svg+xml"}
_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
            "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; media-src 'self' data: blob:; "
                                       "connect-src 'self'; object-src 'none'; frame-ancestors 'none'"}
_JOB_ID = re.compile(r"^[0-9a-f]{32}$")


def static_files() -> dict[str, Path]:
    """``relative/name -> file`` for every file of the static folder (read once)."""
    return {p.relative_to(STATIC).as_posix(): p for p in sorted(STATIC.rglob("*"))
            if p.is_file() and p.suffix in _MEDIA}


def _error(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def api(fn: Callable) -> Callable:
    """Turn errors into JSON answers: ServeError -> its status, GenzooError -> 400,
    anything else -> 500 with a one-line message (the traceback goes to the log)."""
    async def endpoint(request: Request) -> Response:
        try:
            return await fn(request)
        except ServeError as e:
            return _error(str(e), e.status)
        except GenzooError as e:
            return _error(str(e), 400)
        except Exception as e:
            LOG.error("%s %s failed:\n%s", request.method, request.url.path, traceback.format_exc())
            return _error(short_failure(e), 500)
    return endpoint


async def read_json(request: Request) -> dict[str, Any]:
    """The request's JSON object, at most MAX_BODY bytes."""
    size = request.headers.get("content-length")
    if size is not None and (not size.isdigit() or int(size) > MAX_BODY):
        raise ServeError(f"request body larger than {MAX_BODY // (1024 * 1024)} MB", 413)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise ServeError(f"request body larger than {MAX_BODY // (1024 * 1024)} MB", 413)
    if not body:
        return {}
    try:
        d = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ServeError("the request body is not valid JSON") from None
    if not isinstance(d, dict):
        raise ServeError("the request body must be a JSON object")
    return d


def build_app(table: RunTable, *, allowed_hosts: list[str] | None = None) -> Starlette:
    """The app serving ``table``'s runs (``allowed_hosts``: Host headers accepted; None: any)."""
    jobs = JobManager(log=lambda s: LOG.error("%s", s))
    files = static_files()

    async def respond(job: Job, wait: bool) -> Response:
        if not wait:
            return JSONResponse(job.snapshot(), status_code=202)
        assert job.future is not None
        # asyncio.wait does not raise what the job raised (nor its future's cancellation)
        await asyncio.wait([asyncio.wrap_future(job.future)])
        snap = job.snapshot()
        code = {"done": 200, "cancelled": 409}.get(snap["status"], snap.get("code", 500))
        return JSONResponse(snap, status_code=code)

    def on_run(kind: str, parse: Callable, do: Callable) -> Callable:
        @api
        async def endpoint(request: Request) -> Response:
            run = table.get(request.path_params["run"])
            body = await read_json(request)
            wait = get_bool(body, "wait", False)
            p = await run_in_threadpool(parse, run, body)
            return await respond(jobs.submit(kind, run.lane, lambda job: do(run, p, job)), wait)
        return endpoint

    @api
    async def list_runs(request: Request) -> Response:
        # info() reads each run's metrics.jsonl: file work stays off the event loop
        return JSONResponse({"runs": await run_in_threadpool(lambda: [r.info() for r in table.runs])})

    @api
    async def one_run(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(table.get(request.path_params["run"]).info))

    @api
    async def metrics(request: Request) -> Response:
        run = table.get(request.path_params["run"])
        return JSONResponse(await run_in_threadpool(run.curves))

    @api
    async def examples(request: Request) -> Response:
        run = table.get(request.path_params["run"])
        q = dict(request.query_params)
        start, count = get_int(q, "start", 0, 0, 10**9), get_int(q, "count", 12, 1, 64)
        return JSONResponse(await run_in_threadpool(work.examples, run, start, count))

    @api
    async def latent_map(request: Request) -> Response:
        run = table.get(request.path_params["run"])
        work.need(run, "latent_map", "draw a 2-D latent map")
        return await respond(jobs.submit("latent_map", run.lane, lambda job: work.latent_map(run, job)), True)

    @api
    async def dynamics(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(ganlab.game, dict(request.query_params)))

    @api
    async def ganlab_start(request: Request) -> Response:
        body = await read_json(request)
        wait = get_bool(body, "wait", False)
        p = ganlab.parse_live(body)
        for old in jobs.jobs("ganlab"):  # one live GAN at a time: the newest page wins
            old.cancel()
        return await respond(jobs.submit("ganlab", "ganlab", lambda job: ganlab.live(p, job)), wait)

    def job_of(request: Request) -> Job:
        jid = request.path_params["job"]
        if not _JOB_ID.match(jid):
            raise ServeError("no such job", 404)
        return jobs.get(jid)

    @api
    async def job_state(request: Request) -> Response:
        return JSONResponse(job_of(request).snapshot())

    @api
    async def job_cancel(request: Request) -> Response:
        job = job_of(request)
        job.cancel()
        return JSONResponse(job.snapshot())

    @api
    async def job_events(request: Request) -> Response:
        job = job_of(request)

        async def stream():
            last = -1
            while True:
                snap = job.snapshot()
                if snap["version"] != last:
                    last = snap["version"]
                    yield f"data: {json.dumps(snap)}\n\n"
                if snap["status"] in ("done", "error", "cancelled") or jobs.closed:
                    return
                if await request.is_disconnected():
                    return
                await asyncio.sleep(0.1)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def not_found(request: Request) -> Response:
        return _error("no such API path", 404)

    async def page(request: Request) -> Response:
        return FileResponse(files["index.html"], media_type=_MEDIA[".html"], headers=_HEADERS)

    async def static(request: Request) -> Response:
        f = files.get(request.path_params["name"])
        if f is None:
            return Response("not found", status_code=404, media_type="text/plain")
        return FileResponse(f, media_type=_MEDIA[f.suffix], headers=_HEADERS)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        yield
        jobs.shutdown()

    routes = [
        Route("/", page), Route("/static/{name:path}", static),
        Route("/favicon.ico", lambda request: Response(status_code=204)),
        Route("/api/runs", list_runs), Route("/api/runs/{run}", one_run),
        Route("/api/runs/{run}/metrics", metrics), Route("/api/runs/{run}/examples", examples),
        Route("/api/runs/{run}/latent-map", latent_map),
        Route("/api/runs/{run}/sample", on_run("sample", work.parse_sample, work.do_sample), methods=["POST"]),
        Route("/api/runs/{run}/complete", on_run("complete", work.parse_complete, work.do_complete), methods=["POST"]),
        Route("/api/runs/{run}/interpolate", on_run("interpolate", work.parse_interpolate, work.do_interpolate),
              methods=["POST"]),
        Route("/api/runs/{run}/decode", on_run("decode", work.parse_decode, work.do_decode), methods=["POST"]),
        Route("/api/runs/{run}/generate", on_run("generate", work.parse_generate, work.do_generate), methods=["POST"]),
        Route("/api/dynamics", dynamics), Route("/api/ganlab", ganlab_start, methods=["POST"]),
        Route("/api/jobs/{job}", job_state), Route("/api/jobs/{job}/events", job_events),
        Route("/api/jobs/{job}/cancel", job_cancel, methods=["POST"]),
        Route("/api/{rest:path}", not_found, methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
    ]
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)] if allowed_hosts else []
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.jobs = jobs
    app.state.table = table
    return app
