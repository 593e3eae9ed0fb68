"""Screenshots of the playground on real runs, for docs/serve.md.

Starts ``genzoo serve --runs-dir RUNS`` on 127.0.0.1 and a free port, drives Debian's
chromium with Playwright (as the browser tests do) and writes ``serve-runs.png``,
``serve-sample.png``, ``serve-complete.png`` and ``serve-latent.png`` into ``--out``.
Expects runs named ``made`` and ``vae`` (a quickstart's runs folder).

    python benchmarks/serve_screenshots.py --runs-dir quickstart/runs --out docs/img
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]


def wait_js(page, expr: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not page.evaluate(expr):
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {expr}")
        time.sleep(0.1)


def main() -> int:
    from playwright.sync_api import sync_playwright

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs-dir", required=True)
    ap.add_argument("--out", default="docs/img")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "genzoo", "serve", "--runs-dir", args.runs_dir, "--port", str(port),
                             "--threads", "1"])
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(url + "/api/runs", timeout=2).read()
                break
            except OSError:
                time.sleep(0.2)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=FLAGS)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(url + "/#runs")
            page.wait_for_selector("body[data-ready='1']")
            page.wait_for_selector(".run-card canvas.curves[data-drawn]")
            time.sleep(1)
            page.screenshot(path=str(out / "serve-runs.png"), full_page=True)

            def run_index(name: str) -> str:
                return str(page.evaluate(f"genzoo.runs.find(r => r.name === '{name}').index"))

            page.evaluate("location.hash = '#sample'")
            page.select_option("#sample-run", run_index("made"))
            page.fill("#sample-n", "64")
            page.click("#sample-go")
            wait_js(page, "document.getElementById('sample-img').src.startsWith('data:image/png')")
            page.screenshot(path=str(out / "serve-sample.png"))

            page.evaluate("location.hash = '#complete'")
            page.select_option("#complete-run", run_index("made"))
            page.dispatch_event("#complete-run", "change")
            page.wait_for_selector("#complete-thumbs img")
            page.locator("#complete-thumbs img").nth(2).click()
            page.fill("#complete-k", "6")
            box = page.locator("#complete-canvas").bounding_box()
            page.mouse.move(box["x"] + 8, box["y"] + box["height"] * 0.72)
            page.mouse.down()
            for i in range(1, 13):
                page.mouse.move(box["x"] + box["width"] * i / 12 - 8, box["y"] + box["height"] * (0.72 + 0.02 * (i % 2)),
                                steps=3)
            page.mouse.up()
            page.click("#complete-go")
            wait_js(page, "document.querySelectorAll('#complete-results canvas.completion').length === 6")
            time.sleep(0.5)
            page.screenshot(path=str(out / "serve-complete.png"))

            page.evaluate("location.hash = '#latent'")
            page.select_option("#latent-run", run_index("vae"))
            page.dispatch_event("#latent-run", "change")
            page.wait_for_selector("#latent-canvas[data-frame='0']")
            page.fill("#latent-slider", "8")
            page.wait_for_selector("#latent-canvas[data-frame='8']")
            time.sleep(0.5)
            page.screenshot(path=str(out / "serve-latent.png"))
            browser.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    print(f"wrote serve-runs/sample/complete/latent.png to {out}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    raise SystemExit(main())
