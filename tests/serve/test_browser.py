"""The review page in a real browser: Debian's chromium driven by Playwright (never `playwright install`),
against `zpipe serve` running as a process. Skips when chromium or Playwright is missing (CI installs both)."""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

import pytest
from helpers import run_cli

import zpipe
from tests.serve.conftest import RECIPE
from tests.serve.server_process import Server

CHROMIUM = os.environ.get("ZPIPE_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--use-gl=angle", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason=f"no chromium at {CHROMIUM} (apt-get install chromium)")]


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def site(tmp_path):
    """Two versions of a texture recipe built by the CLI, and a server over them."""
    out, root = tmp_path / "out", tmp_path / "project"
    root.mkdir()
    (root / "tiny.yaml").write_text(RECIPE, encoding="utf-8")
    for overrides in ([], ["matrix.material=[granite, slate]"]):
        assert zpipe.run(root / "tiny.yaml", out, overrides=overrides).exit_code == 0
    server = Server(out, root).start()
    yield server
    server.stop()


class Watch:
    """A page that records every failed request, HTTP error and script error."""

    def __init__(self, page):
        self.page, self.problems = page, []
        page.on("pageerror", lambda e: self.problems.append(f"script error: {e}"))
        page.on("console", lambda m: m.type == "error" and self.problems.append(f"console: {m.text}"))
        # an event stream the page closes once its build ended is "aborted", not broken
        page.on("requestfailed", lambda r: r.url.endswith("/events") or self.problems.append(f"failed: {r.url}"))
        page.on("response", lambda r: r.status >= 400 and self.problems.append(f"HTTP {r.status}: {r.url}"))

    def visit(self, url: str, ready: str) -> None:
        self.page.goto(url)
        self.page.wait_for_selector(ready, timeout=30_000)
        self.page.wait_for_load_state("networkidle")
        self.page.wait_for_function("() => [...document.images].every(i => i.complete)", timeout=30_000)
        broken = self.page.evaluate("""() => [...document.images].filter(i => !i.complete || i.naturalWidth === 0)
                                           .map(i => i.src)""")
        assert broken == [], broken
        assert self.page.locator("text=no preview").count() == 0
        assert self.page.locator(".error").count() == 0, self.page.locator(".error").all_inner_texts()
        assert self.problems == [], self.problems

    def links(self) -> list[str]:
        return self.page.evaluate("() => [...document.querySelectorAll('a[href]')].map(a => a.href)")


def test_pages_load_with_no_broken_image_or_link(browser, site):
    w = Watch(browser.new_page())
    seen: set[str] = set()
    pages = [(f"{site.url}/", "a[href='#/r/tiny']"), (f"{site.url}/#/r/tiny", "#diff-old"),
             (f"{site.url}/#/r/tiny/v0002", ".card img"), (f"{site.url}/#/r/tiny/v0002/slate", "#approval"),
             (f"{site.url}/#/diff/tiny/v0001/v0002", ".diff-asset img")]
    for url, ready in pages:
        w.visit(url, ready)
        seen.add(url)
        for link in w.links():
            if link.startswith(site.url + "/#") or link in seen:
                continue
            seen.add(link)
            r = w.page.request.get(link)
            assert r.status == 200, (url, link, r.status)
    # every in-page link leads to a page that renders without an error
    w.visit(f"{site.url}/#/r/tiny/v0002", ".card img")
    for link in sorted({x for x in w.links() if x.startswith(site.url + "/#")}):
        w.page.goto(link)
        w.page.wait_for_load_state("networkidle")
        w.page.wait_for_function("() => !document.querySelector('main').textContent.startsWith('Loading')")
        assert w.page.locator(".error").count() == 0, (link, w.page.locator(".error").all_inner_texts())
    assert w.problems == [], w.problems
    diff_text = (w.page.goto(f"{site.url}/#/diff/tiny/v0001/v0002"), w.page.wait_for_selector(".diff-asset"),
                 w.page.inner_text("main"))[2]
    assert "1 added, 1 removed" in diff_text and "slate" in diff_text and "brick" in diff_text


PIXELS = """() => {
        const src = document.getElementById('preview3d');
        const c = document.createElement('canvas'); c.width = src.width; c.height = src.height;
        const g = c.getContext('2d'); g.drawImage(src, 0, 0);
        const d = g.getImageData(0, 0, c.width, c.height).data;
        let lit = 0, colours = new Set();
        for (let i = 0; i < d.length; i += 4) {
            if (Math.abs(d[i] - 0x20) + Math.abs(d[i + 1] - 0x23) + Math.abs(d[i + 2] - 0x28) > 24) lit++;
            if (i % 64 === 0) colours.add((d[i] >> 3) << 10 | (d[i + 1] >> 3) << 5 | (d[i + 2] >> 3));
        }
        return {lit: lit / (d.length / 4), colours: colours.size};
    }"""


def test_the_3d_material_preview_draws(browser, site):
    w = Watch(browser.new_page())
    w.visit(f"{site.url}/#/r/tiny/v0001/granite", "canvas#preview3d[data-ready]")
    # the textures load, then a frame is drawn with them: wait (bounded) until the canvas shows them
    w.page.wait_for_function(f"() => {{ const s = ({PIXELS})(); return s.lit > 0.15 && s.colours > 50; }}", timeout=60_000)
    stats = w.page.evaluate(PIXELS)
    assert stats["lit"] > 0.15 and stats["colours"] > 50, stats  # the plane and the sphere, textured
    tiled = w.page.evaluate("getComputedStyle(document.getElementById('tiled')).backgroundImage")
    assert "/files/tiny/v0001/granite/albedo.png" in tiled
    assert w.problems == [], w.problems


def test_an_approval_survives_a_server_restart(browser, site):
    w = Watch(browser.new_page())
    w.visit(f"{site.url}/#/r/tiny/v0002/granite", "#approval")
    w.page.fill("#comment", "ship it")
    w.page.click("button.approve")
    w.page.wait_for_selector("#approval .badge.approved")
    site.stop()
    site.start()
    w2 = Watch(browser.new_page())
    w2.visit(f"{site.url}/#/r/tiny/v0002/granite", "#approval .badge.approved")
    assert "ship it" in w2.page.inner_text("#approval")
    # granite was reused from v0001 with the same content key: approved there too; slate is still pending
    w2.visit(f"{site.url}/#/r/tiny/v0001/granite", "#approval .badge.approved")
    w2.visit(f"{site.url}/#/r/tiny/v0002/slate", "#approval .badge.pending")
    with urllib.request.urlopen(f"{site.url}/api/recipes/tiny/approvals") as r:
        review = {a["id"]: a["review"] for a in json.load(r)["assets"]}
    assert review == {"granite": "approved", "slate": "pending"}


def test_a_build_submitted_on_the_page_shows_progress_and_its_version(browser, site):
    w = Watch(browser.new_page())
    w.visit(f"{site.url}/", "#build-form")
    w.page.select_option("#build-form select", str(site.root / "tiny.yaml"))
    w.page.fill("#build-form input[name=set]", "size=80")
    w.page.click("#build-form button[type=submit]")
    w.page.wait_for_selector(".build .new-version", timeout=120_000)
    events = w.page.eval_on_selector_all(".build .event", "els => els.map(e => e.dataset.event)")
    assert events[0] == "start" and events.count("asset_done") == 2 and events[-1] == "done"
    assert w.page.inner_text(".build .new-version") == "tiny v0003"
    w.page.click(".build .new-version")
    w.page.wait_for_selector(".card img")
    assert w.page.locator(".card").count() == 2
    w.visit(f"{site.url}/#/r/tiny", "#diff-old")
    assert "v0003" in w.page.inner_text("main")
    assert w.problems == [], w.problems


POSTER = """\
name: poster
kind: posters
engine: procedural
size: 512
seed: 3
text: typeset
assets:
  - id: tea
    style: minimalist ink-wash poster of a mountain tea house
    title: {text: 山间茶舍, lang: zh, placement: top}
    subtitle: {text: Mountain Tea House, lang: en, placement: bottom}
"""


def test_a_posters_glyph_check_is_drawn_over_it(browser, site):
    (site.root / "poster.yaml").write_text(POSTER, encoding="utf-8")
    assert zpipe.run(site.root / "poster.yaml", site.out).exit_code == 0
    w = Watch(browser.new_page())
    w.visit(f"{site.url}/#/r/poster/v0001/tea", "#ocr-overlay rect")
    boxes = w.page.eval_on_selector_all("#ocr-overlay rect", "els => els.map(e => [e.getAttribute('class'), "
                                        "+e.getAttribute('width'), +e.getAttribute('height')])")
    assert len(boxes) == 2 and all(cls == "ocr-pass" and wd > 50 and ht > 10 for cls, wd, ht in boxes), boxes
    labels = w.page.eval_on_selector_all("#ocr-overlay text", "els => els.map(e => e.textContent)")
    assert labels == ["pass “山间茶舍” NED 1.00", "pass “Mountain Tea House” NED 1.00"]


def test_a_static_copy_opens_without_the_server(browser, site, tmp_path):
    r = run_cli("review", "export", site.out / "tiny", tmp_path / "copy")
    assert r.exit_code == 0, r.output
    page = Path(r.stdout.strip())
    site.stop()  # no server from here on
    w = Watch(browser.new_page())
    base = page.as_uri()
    w.visit(f"{base}#/", "a[href='#/r/tiny']")
    w.visit(f"{base}#/r/tiny/v0002", ".card img")
    assert w.page.locator(".card").count() == 2 and w.page.locator("#build-form").count() == 0
    for link in sorted({x for x in w.links() if "#/r/" in x}):
        w.visit(link, "main h1")
    w.visit(f"{base}#/r/tiny/v0002/granite", "#approval")
    assert w.page.locator("#approval button").count() == 0  # read-only
    w.visit(f"{base}#/diff/tiny/v0001/v0002", ".diff-asset img")
    assert "1 added, 1 removed" in w.page.inner_text("main")
