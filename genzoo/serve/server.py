"""Run the playground with uvicorn: loopback by default, a clean stop on SIGTERM/SIGINT.

On a stop signal the running jobs are cancelled first (they stop at their next chunk),
so open event streams end and uvicorn's graceful shutdown finishes quickly.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from genzoo.errors import GenzooError

LOOPBACK_NAMES = ("localhost",)


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve(paths: list[str | Path], *, host: str = "127.0.0.1", port: int = 8000, weights: str = "auto",
          device: str = "cpu", threads: int = 0, say: Callable[[str], Any] = print,
          log_level: str = "warning") -> None:
    """Load the runs and serve them until a stop signal (``threads`` > 0: torch's CPU threads)."""
    import torch
    import uvicorn

    from genzoo.serve.app import build_app
    from genzoo.serve.runs import RunTable

    if not 0 <= port <= 65535:
        raise GenzooError(f"bad value {port} for --port: must be in [0, 65535]")
    if threads < 0:
        raise GenzooError(f"bad value {threads} for --threads: must be >= 0")
    if threads:
        torch.set_num_threads(threads)
    loopback = is_loopback(host)
    if not loopback:
        print(f"genzoo serve: warning: serving on {host}, not only on this machine: anyone who can reach it "
              "can use these models and this computer's CPU/GPU (there is no login)", file=sys.stderr)
    table = RunTable(paths, weights=weights, device=device)
    allowed = ["127.0.0.1", "localhost", "::1", "[::1]"] if loopback else None
    app = build_app(table, allowed_hosts=allowed)
    logging.getLogger("genzoo.serve").addHandler(logging.StreamHandler())
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=5,
                            access_log=False)

    class _Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            app.state.jobs.shutdown()
            super().handle_exit(sig, frame)

        @contextlib.contextmanager
        def capture_signals(self):
            # uvicorn re-raises the stop signal after shutting down (the process then dies
            # of it); a stop that shut everything down cleanly exits with code 0 instead
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            old = {s: signal.signal(s, self.handle_exit) for s in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for s, h in old.items():
                    signal.signal(s, h)

    server = _Server(config)
    for r in table.runs:
        say(f"  [{r.index}] {r.name}: {r.loaded.config.model} on {r.loaded.config.data} ({', '.join(r.views()) or 'info only'})")
    shown = f"[{host}]" if ":" in host else host
    say(f"genzoo serve: open http://{shown}:{port}/ (Ctrl+C or SIGTERM stops it)")
    server.run()
    say("genzoo serve: stopped")
