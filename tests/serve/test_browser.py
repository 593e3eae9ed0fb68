"""The playground in a real headless browser (Debian's chromium driven by Playwright)
against ``genzoo serve`` running as its own process on 127.0.0.1 and a free port.

Every page is used with real mouse and keyboard events and checked by what it shows;
each test saves a screenshot under the test's temporary folder (with
GENZOO_SCREENSHOTS=DIR the main ones are also copied there, for docs/img/). The server
is stopped with SIGTERM at the end, during a long job, which must end it cleanly.

Skipped when Playwright or /usr/bin/chromium is missing, unless GENZOO_REQUIRE_BROWSER=1
(set by `make test`, which installs both), where that is an error.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]
ROOT = Path(__file__).resolve().parents[2]


def _require_browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    missing = "playwright" if sync_playwright is None else (CHROMIUM if not os.access(CHROMIUM, os.X_OK) else None)
    if missing:
        if os.environ.get("GENZOO_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{missing} is missing (make test installs it)")
        pytest.skip(f"{missing} is missing (make test installs it)")
    return sync_playwright


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(serve_runs, tmp_path_factory):
    port = _free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "genzoo", "serve", *map(str, serve_runs["paths"]),
                                 "--port", str(port), "--threads", "1"], stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            urllib.request.urlopen(url + "/api/runs", timeout=2).read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"genzoo serve did not start:\n{log.read_text()}")
            time.sleep(0.2)
    yield url
    # stop it in the middle of a long job: the job is cancelled and the server still ends cleanly
    req = urllib.request.Request(url + "/api/ganlab", data=b'{"steps": 3000}', headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=10).read()
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"genzoo serve did not stop within 20 s of SIGTERM:\n{log.read_text()}")
    text = log.read_text()
    assert code == 0, text
    assert "genzoo serve: stopped" in text and "Traceback" not in text, text


@pytest.fixture(scope="module")
def page(server):
    sync_playwright = _require_browser()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        pg = browser.new_page(viewport={"width": 1280, "height": 900})
        pg.set_default_timeout(30_000)
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        # console errors too: a Content-Security-Policy violation or a failed request shows there
        pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        pg.goto(server + "/#runs")
        pg.wait_for_selector("body[data-ready='1']")
        pg.js_errors = errors
        yield pg
        browser.close()
    assert not errors, errors


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    d = tmp_path_factory.mktemp("screenshots")
    keep = os.environ.get("GENZOO_SCREENSHOTS")

    def shot(page, name: str) -> Path:
        f = d / f"serve-{name}.png"
        page.screenshot(path=str(f), full_page=True)
        assert f.stat().st_size > 1000
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            shutil.copy(f, Path(keep) / f.name)
        return f
    return shot


def wait_js(page, expr: str, timeout: float = 30.0) -> None:
    """Poll a JavaScript expression until it is true (Playwright's wait_for_function
    evaluates strings, which the page's Content-Security-Policy rightly forbids)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expr):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {expr}")
        time.sleep(0.05)


def goto(page, name: str) -> None:
    page.evaluate(f"location.hash = '#{name}'")
    page.wait_for_selector(f"#page-{name}.active")


def select_run(page, select: str, name: str) -> None:
    idx = page.evaluate(f"genzoo.runs.find(r => r.name === '{name}').index")
    page.select_option(select, str(idx))


def test_runs_page_lists_the_runs_with_curves(page, shots):
    goto(page, "runs")
    cards = page.locator(".run-card")
    assert cards.count() == 5
    assert [cards.nth(i).get_attribute("data-run") for i in range(5)] == ["made", "vae", "lstm", "gan", "music"]
    page.wait_for_selector(".run-card[data-run='made'] canvas.curves[data-drawn]")
    assert int(page.get_attribute(".run-card[data-run='made'] canvas.curves", "data-drawn")) >= 1
    assert "exact" in cards.nth(0).inner_text()
    shots(page, "runs")


def test_sampling_shows_a_new_image(page, shots):
    goto(page, "sample")
    select_run(page, "#sample-run", "made")
    page.click("#sample-go")
    wait_js(page, "document.getElementById('sample-img').src.startsWith('data:image/png')")
    first = page.get_attribute("#sample-img", "src")
    assert page.is_visible("#sample-img")
    page.click("#sample-new")
    wait_js(page, f"document.getElementById('sample-img').src !== {first!r}")
    assert page.get_attribute("#sample-download", "href").startswith("data:image/png")
    shots(page, "sample")
    select_run(page, "#sample-run", "gan")
    page.click("#sample-go")
    page.wait_for_selector("#sample-points.shown")


def test_painting_a_mask_and_completing(page, shots):
    goto(page, "complete")
    select_run(page, "#complete-run", "made")
    page.wait_for_selector("#complete-thumbs img")
    page.locator("#complete-thumbs img").nth(3).click()
    page.fill("#complete-k", "3")
    box = page.locator("#complete-canvas").bounding_box()
    # drag the brush along the bottom rows, with real mouse events
    page.mouse.move(box["x"] + 10, box["y"] + box["height"] * 0.8)
    page.mouse.down()
    for i in range(1, 11):
        page.mouse.move(box["x"] + box["width"] * i / 10 - 5, box["y"] + box["height"] * 0.8, steps=2)
    page.mouse.up()
    covered = int(page.get_attribute("#complete-canvas", "data-covered"))
    assert 0 < covered < 64
    page.click("#complete-invert")
    assert int(page.get_attribute("#complete-canvas", "data-covered")) == 64 - covered
    page.click("#complete-invert")
    page.click("#complete-go")
    wait_js(page, "document.querySelectorAll('#complete-results canvas.completion').length === 3")
    res = page.evaluate("genzoo.lastCompletion")
    obs, orig = res["observed"], res["original"]["values"][0]
    assert sum(v for row in obs for v in row) == 64 - covered
    for comp in res["completions"]:
        vals = comp["values"][0]
        assert all(vals[y][x] == orig[y][x] for y in range(8) for x in range(8) if obs[y][x])
    shots(page, "complete")
    page.click("#complete-clear")
    assert page.get_attribute("#complete-canvas", "data-covered") == "0"


def test_the_latent_slider_changes_the_image(page, shots):
    goto(page, "latent")
    select_run(page, "#latent-run", "vae")
    page.dispatch_event("#latent-run", "change")
    page.wait_for_selector("#latent-canvas[data-frame='0']")
    page.wait_for_timeout(100)
    before = page.evaluate("document.getElementById('latent-canvas').toDataURL()")
    page.fill("#latent-slider", "16")
    page.wait_for_selector("#latent-canvas[data-frame='16']")
    wait_js(page, f"document.getElementById('latent-canvas').toDataURL() !== {before!r}")
    assert page.inner_text("#latent-t") == "t = 1.00"
    box = page.locator("#latent-map").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.4)
    wait_js(page, "document.getElementById('latent-map-z').textContent !== 'z = ?'")
    shots(page, "latent-map")


def test_a_text_prompt_streams(page, shots):
    goto(page, "text")
    select_run(page, "#text-run", "lstm")
    page.dispatch_event("#text-run", "change")
    page.fill("#text-prompt", "the ")
    page.fill("#text-length", "2000")
    page.evaluate("""() => { window.seen = [];
        new MutationObserver(() => window.seen.push(document.getElementById('text-stream').textContent.length))
          .observe(document.getElementById('text-stream'), {childList: true, characterData: true, subtree: true}); }""")
    page.click("#text-go")
    wait_js(page, "document.getElementById('text-status').textContent === 'done'", 60)
    seen = [n for n in page.evaluate("window.seen") if n]
    assert seen[-1] == 2000 and len(seen) >= 2 and seen == sorted(seen), seen
    assert page.inner_text("#text-prompt-echo") == "the "
    shots(page, "text")


def test_music_primer_gives_a_piano_roll_and_midi(page, shots, serve_runs, tmp_path):
    from music21 import note, stream

    primer = tmp_path / "primer.mid"
    stream.Score([stream.Part([note.Note(p, quarterLength=1) for p in (60, 64, 67, 72)])]).write("midi", fp=primer)
    goto(page, "text")
    select_run(page, "#text-run", "music")
    page.dispatch_event("#text-run", "change")
    page.set_input_files("#text-primer", str(primer))
    page.fill("#text-length", "40")
    page.click("#text-go")
    page.wait_for_selector("#text-music canvas.pianoroll")
    assert page.get_attribute("#text-music a", "href").startswith("data:audio/midi;base64,")
    page.locator("#text-music button").first.click()  # Web Audio playback starts without errors
    shots(page, "music")


def test_gan_lab_animates_and_stops_when_left(page, shots, server):
    import json

    goto(page, "gan")
    wait_js(page, "Number(document.getElementById('game-frame').dataset.frame) > 0")
    a = int(page.get_attribute("#game-frame", "data-frame"))
    wait_js(page, f"Number(document.getElementById('game-frame').dataset.frame) > {a}")
    page.fill("#lab-steps", "3000")
    page.click("#lab-go")
    wait_js(page, "Number(document.getElementById('lab-step').dataset.step) > 0", 60)
    s1 = int(page.get_attribute("#lab-step", "data-step"))
    wait_js(page, f"Number(document.getElementById('lab-step').dataset.step) > {s1}", 60)
    shots(page, "gan")
    job = page.get_attribute("#lab-step", "data-job")
    goto(page, "runs")  # leaving the page stops the training
    for _ in range(100):
        state = json.loads(urllib.request.urlopen(f"{server}/api/jobs/{job}", timeout=5).read())
        if state["status"] != "running":
            break
        time.sleep(0.1)
    assert state["status"] == "cancelled"
    assert state["partial"]["step"] < 3000
