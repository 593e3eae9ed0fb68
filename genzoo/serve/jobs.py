"""Jobs: long work (sampling, completion, text generation, a live GAN) off the event loop.

Each job runs on a single-worker executor of its own *lane* (one lane per served run, one
for the GAN lab), so one model does one job at a time and later jobs queue behind it.
A job reports progress and partial results (streamed text, the GAN lab's snapshots)
through :meth:`Job.report`; the page reads them by polling ``GET /api/jobs/ID`` or
from the server-sent events of ``GET /api/jobs/ID/events``. ``cancel`` sets a flag the
work checks between chunks (:meth:`Job.check`).
"""

from __future__ import annotations

import itertools
import threading
import time
import traceback
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from genzoo.errors import GenzooError

MAX_QUEUED = 64  # per lane: more waiting jobs than this is a client gone wrong
MAX_KEPT = 500  # finished jobs kept for polling; the oldest finished are dropped first
FINISHED = ("done", "error", "cancelled")


class ServeError(GenzooError):
    """A bad request to the playground: the HTTP status and a one-line message."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class Cancelled(Exception):
    """Raised inside a job's work when its cancel flag is set."""


class Job:
    """One unit of work and everything a client may read about it."""

    def __init__(self, kind: str, lane: str) -> None:
        self.id = uuid.uuid4().hex
        self.kind = kind
        self.lane = lane
        self.status = "queued"
        self.progress = 0.0
        self.partial: dict[str, Any] = {}
        self.result: Any = None
        self.error: str | None = None
        self.code = 200
        self.version = 0  # bumped on every change, so event streams send only news
        self.created = self.touched = time.monotonic()
        self.future: Future | None = None
        self._cancel = threading.Event()
        self._lock = threading.Lock()

    # ---- called from the work (worker thread) ----------------------------------
    def check(self) -> None:
        """Stop here when the job was cancelled."""
        if self._cancel.is_set():
            raise Cancelled()

    def report(self, progress: float | None = None, **partial: Any) -> None:
        """Progress in [0, 1] and partial results (merged into ``partial``)."""
        with self._lock:
            if progress is not None:
                self.progress = max(0.0, min(1.0, float(progress)))
            self.partial.update(partial)
            self.version += 1

    # ---- called from the server ------------------------------------------------
    def cancel(self) -> None:
        self._cancel.set()
        with self._lock:
            if self.status == "queued":  # never started: it will return at once
                self.status = "cancelled"
                self.version += 1

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def finished(self) -> bool:
        return self.status in FINISHED

    def snapshot(self) -> dict[str, Any]:
        self.touched = time.monotonic()
        with self._lock:
            d = {"id": self.id, "kind": self.kind, "status": self.status, "progress": round(self.progress, 4),
                 "partial": dict(self.partial), "version": self.version}
            if self.status == "done":
                d["result"] = self.result
            if self.error is not None:
                d["error"] = self.error
                d["code"] = self.code
            return d

    def _set(self, **kw: Any) -> None:
        with self._lock:
            for k, v in kw.items():
                setattr(self, k, v)
            self.version += 1


class JobManager:
    """Lanes of single-worker executors and the table of jobs."""

    def __init__(self, log: Callable[[str], Any] | None = None) -> None:
        self._lanes: dict[str, ThreadPoolExecutor] = {}
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._log = log or (lambda s: None)
        self._seq = itertools.count()
        self.closed = False

    def submit(self, kind: str, lane: str, work: Callable[[Job], Any]) -> Job:
        """Queue ``work(job)`` on ``lane``; its return value becomes ``job.result``."""
        if self.closed:
            raise ServeError("the server is shutting down", 503)
        job = Job(kind, lane)
        with self._lock:
            waiting = sum(1 for j in self._jobs.values() if j.lane == lane and not j.finished())
            if waiting >= MAX_QUEUED:
                raise ServeError(f"too many jobs waiting for {lane} ({waiting}); try again later", 503)
            ex = self._lanes.get(lane)
            if ex is None:
                ex = self._lanes[lane] = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"genzoo-{next(self._seq)}")
            self._jobs[job.id] = job
            self._trim()
        job.future = ex.submit(self._run, job, work)
        return job

    def _run(self, job: Job, work: Callable[[Job], Any]) -> None:
        if job.cancelled:
            job._set(status="cancelled")
            return
        job._set(status="running")
        try:
            result = work(job)
        except Cancelled:
            job._set(status="cancelled")
        except ServeError as e:
            job._set(status="error", error=str(e), code=e.status)
        except GenzooError as e:
            job._set(status="error", error=str(e), code=400)
        except Exception as e:  # a failing model: a short message, the server keeps serving
            self._log(f"job {job.kind} on {job.lane} failed:\n{traceback.format_exc()}")
            job._set(status="error", error=short_failure(e), code=500)
        else:
            job._set(status="done", result=result, progress=1.0)

    def get(self, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise ServeError("no such job", 404)
        return job

    def jobs(self, kind: str | None = None) -> list[Job]:
        with self._lock:
            return [j for j in self._jobs.values() if kind is None or j.kind == kind]

    def _trim(self) -> None:
        if len(self._jobs) <= MAX_KEPT:
            return
        for jid in [j.id for j in self._jobs.values() if j.finished()][: len(self._jobs) - MAX_KEPT]:
            del self._jobs[jid]

    def shutdown(self) -> None:
        """Cancel every job and stop the lanes (running work stops at its next check)."""
        self.closed = True
        for j in self.jobs():
            j.cancel()
        for ex in self._lanes.values():
            ex.shutdown(wait=False, cancel_futures=True)


def short_failure(e: BaseException) -> str:
    msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"model failure: {type(e).__name__}" + (f": {msg[:200]}" if msg else "")
