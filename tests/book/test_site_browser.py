"""The built site in a real browser (Debian's headless Chromium, driven by
Playwright): every page loads offline without console errors, math is
rendered, figures load, no executed cell shows a traceback, and the verdicts
table is there. Screenshots are saved to _build/test-artifacts/."""

import functools
import http.server
import shutil
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = REPO / "_build" / "test-artifacts"


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def served_site(smoke_site):
    handler = functools.partial(QuietHandler, directory=str(smoke_site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield smoke_site, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: `make test` installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        yield browser
        browser.close()


def _pages(html: Path) -> list[str]:
    """Every content page (the root index.html only redirects to the front page)."""
    skip = {"genindex.html", "search.html"}
    return sorted(str(p.relative_to(html)) for p in html.rglob("*.html")
                  if p.name not in skip and "_static" not in p.parts and "_sources" not in p.parts
                  and 'http-equiv="Refresh"' not in p.read_text()[:500])


def test_every_page_renders_offline(served_site, browser):
    html, base = served_site
    pages = _pages(html)
    assert "book/intro.html" in pages and "book/generated/verdicts.html" in pages
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    problems = []
    for rel in pages:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        console_errors, outside = [], []
        page.on("console", lambda msg, errs=console_errors: msg.type == "error" and errs.append(msg.text))
        page.on("pageerror", lambda exc, errs=console_errors: errs.append(str(exc)))

        def route(r, outside=outside):
            if urlparse(r.request.url).hostname in ("127.0.0.1", "localhost"):
                r.continue_()
            else:
                outside.append(r.request.url)
                r.abort()

        page.route("**/*", route)
        page.goto(f"{base}/{rel}", wait_until="load")
        has_math = page.evaluate("() => !!document.querySelector('.math, .MathJax, mjx-container')")
        if has_math:
            page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=15000)
            page.evaluate("() => MathJax.startup.promise")
        # Prose and outputs only: code cells legitimately contain TeX in plot labels.
        text = page.evaluate(
            """() => { const m = (document.querySelector('main') || document.body).cloneNode(true);
                       m.querySelectorAll('pre, code, .cell_input').forEach(e => e.remove());
                       return m.innerText; }"""
        )
        for raw in ("$$", "\\frac", "\\lambda", "\\eta"):
            if raw in text:
                problems.append(f"{rel}: raw TeX {raw!r} left in the page text")
        broken = page.evaluate(
            "() => Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)"
        )
        problems += [f"{rel}: image did not load: {src}" for src in broken]
        if rel.startswith("book/chapters/") and not page.evaluate("() => document.images.length"):
            problems.append(f"{rel}: a chapter page without a single figure")
        whole = page.evaluate("() => (document.querySelector('main') || document.body).innerText")
        for noise in ("RuntimeWarning", "UserWarning", "DeprecationWarning", str(REPO / "_build"), "/tmp/"):
            if noise in whole:
                problems.append(f"{rel}: build noise on the page: {noise!r}")
        if "Claim(" in text:
            problems.append(f"{rel}: a raw Claim( repr in the page")
        if page.query_selector(".output.traceback, .output.error") or "Traceback (most recent call last)" in text:
            problems.append(f"{rel}: an executed cell shows an error")
        problems += [f"{rel}: console error: {e}" for e in console_errors]
        problems += [f"{rel}: request to an outside host: {u}" for u in outside]
        if rel == "book/generated/verdicts.html" and not page.query_selector("table"):
            problems.append("the verdicts page has no table")
        if rel == "book/intro.html":
            page.screenshot(path=str(ARTIFACTS / "front_page.png"), full_page=True)
        if rel == "book/chapters/l2_equilibrium.html":
            page.screenshot(path=str(ARTIFACTS / "chapter_l2_equilibrium.png"), full_page=False)
        page.close()
    assert not problems, "\n".join(problems)


def test_front_page_reports_every_hypothesis(served_site, browser):
    from goaldrift.book.hypotheses import HYPOTHESES

    _, base = served_site
    page = browser.new_page()
    page.goto(f"{base}/index.html")  # redirects to the front page
    page.wait_for_url("**/book/intro.html")
    text = page.inner_text("main")
    page.close()
    for hid in HYPOTHESES:
        assert hid in text
    assert "Bottom line" in text
    assert any(word in text for word in ("supported", "refuted", "inconclusive"))


def test_front_page_shows_its_figure_and_badges(served_site, browser):
    _, base = served_site
    page = browser.new_page()
    page.goto(f"{base}/book/intro.html", wait_until="load")
    figure = page.query_selector("#headline-figure img, figure#headline-figure img")
    assert figure is not None, "the front page has no headline figure"
    assert page.evaluate("(img) => img.complete && img.naturalWidth > 0", figure), "the headline figure did not load"
    badges = page.query_selector_all(".gd-badge")
    assert len(badges) >= 9, "every hypothesis needs a verdict badge"
    words = {b.inner_text() for b in badges}
    assert words <= {"supported", "refuted", "inconclusive", "derived", "not yet tested", "derivation failed", "pass", "FAIL"}, words
    page.close()


# A verdict table "fits" when no cell reaches past the article's right edge and the page does not
# scroll sideways: a clipped column hides the measured value, its interval or its rule.
_OVERFLOW = """() => {
  const article = document.querySelector('article, main');
  const right = article.getBoundingClientRect().right + 1;
  const cells = Array.from(document.querySelectorAll('table.gd-table td, table.gd-table th'))
    .filter(c => c.offsetParent !== null);
  const past = cells.filter(c => c.getBoundingClientRect().right > right).length;
  const sideways = document.documentElement.scrollWidth > window.innerWidth + 1;
  return {cells: cells.length, past, sideways};
}"""


@pytest.mark.parametrize("width", [1400, 420])
def test_verdict_tables_fit_on_a_desktop_and_a_phone(served_site, browser, width):
    _, base = served_site
    for rel in ("book/generated/verdicts.html", "book/chapters/proxy_drift.html"):
        page = browser.new_page(viewport={"width": width, "height": 900})
        page.goto(f"{base}/{rel}", wait_until="load")
        fit = page.evaluate(_OVERFLOW)
        if rel.endswith("verdicts.html"):
            page.screenshot(path=str(ARTIFACTS / f"verdicts_{width}px.png"), full_page=False)
        page.close()
        assert fit["cells"] > 0, f"{rel}: no verdict table"
        assert fit["past"] == 0 and not fit["sideways"], f"{rel} at {width} px: {fit}"


def test_claim_links_land_on_their_rows(served_site, browser):
    _, base = served_site
    page = browser.new_page()
    page.goto(f"{base}/book/intro.html", wait_until="load")
    hrefs = page.evaluate("() => Array.from(document.querySelectorAll('a[href*=\"verdicts.html#claim-\"]'))"
                          ".map(a => a.href)")
    assert hrefs, "the front page links to no claim"
    page.goto(hrefs[0].split("#")[0], wait_until="load")
    ids = set(page.evaluate("() => Array.from(document.querySelectorAll('tr[id^=\"claim-\"]')).map(r => r.id)"))
    missing = sorted({h.split("#")[1] for h in hrefs} - ids)
    assert not missing, f"front-page links to no row: {missing}"
    # the filter: choosing a verdict shows only its rows
    page.select_option("#gd-verdict-filter select[data-field=verdict]", "refuted")
    shown = page.evaluate("() => Array.from(document.querySelectorAll('tr[id^=\"claim-\"]'))"
                          ".filter(r => !r.hidden).map(r => r.dataset.verdict)")
    page.close()
    assert shown and set(shown) == {"refuted"}


@pytest.mark.parametrize("width, shown", [(1400, "headline-figure"), (420, "headline-figure-narrow")])
def test_headline_figure_explains_itself(served_site, browser, width, shown):
    _, base = served_site
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto(f"{base}/book/intro.html", wait_until="load")
    img = page.query_selector(f"#{shown} img")
    assert img is not None and img.is_visible(), f"{shown} is not shown at {width} px"
    svg = page.evaluate("async (src) => (await fetch(src)).text()", img.get_attribute("src"))
    page.screenshot(path=str(ARTIFACTS / f"front_page_{width}px.png"), full_page=False)
    page.close()
    if shown == "headline-figure":
        assert "predicted drift point" in svg, "the desktop figure has no legend"
    assert "e-folds of decay" in svg
