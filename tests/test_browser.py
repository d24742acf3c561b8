"""The dashboard in a real headless Chromium (Debian's), driven by Playwright, against the
whole stack in real processes: web server, Redis, a Celery worker."""
import os
import re
from pathlib import Path

import pytest

from tests.live import LiveStack

CHROMIUM = "/usr/bin/chromium"
# The README's screenshots are refreshed with UPDATE_SCREENSHOTS=1; otherwise they go to a temp dir.
README_SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
LAUNCH_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed (/usr/bin/chromium)")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    stack = LiveStack(tmp_path_factory.mktemp("browser"))
    stack.manage("seed_demo", check=True)  # the demo user: demo / demo in local debug mode
    stack.start_redis()
    stack.start_worker("web-tests", concurrency=2)
    stack.url = stack.start_web()
    yield stack
    stack.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory):
    return README_SCREENSHOTS if os.environ.get("UPDATE_SCREENSHOTS") else tmp_path_factory.mktemp("screenshots")


@pytest.fixture
def page(browser, site):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30000)
    page.goto(f"{site.url}/accounts/login/?next=/runs/new/")
    page.fill("#id_username", "demo")
    page.fill("#id_password", "demo")
    page.click("button[type=submit]")
    page.wait_for_url(f"{site.url}/runs/new/")
    yield page
    context.close()


def bar_used(page, provider, rc, when):
    selector = f'.bar[data-provider="{provider}"][data-rc="{rc}"][data-when="{when}"]'
    return int(page.get_attribute(selector, "aria-valuenow"))


def test_start_the_seed_from_the_form_and_watch_it_finish(page, site, screenshots):
    page.goto(f"{site.url}/runs/new/?scenario=bug-1825537")
    page.fill("#id_step_delay", "0.4")  # slow enough to see the page update itself
    page.click("#start-run")
    page.wait_for_url(re.compile(r".*/runs/\d+/$"))
    assert page.get_attribute("#run-live", "data-status") in ("queued", "running")
    assert page.get_attribute("#run-live", "hx-get")  # polling while unfinished

    page.wait_for_selector('#run-live[data-status="done"]', timeout=60000)  # updated in place by htmx
    assert page.get_attribute("#run-live", "hx-get") is None  # polling stopped
    assert page.inner_text("#fault-message") == "Virtual Interface creation failed"
    assert page.inner_text("#fault-code") == "500"
    assert not page.is_visible("details pre")  # the traceback is collapsed
    assert bar_used(page, "host1", "MEMORY_MB", "before") == 512
    assert bar_used(page, "host2", "MEMORY_MB", "before") == 0
    assert bar_used(page, "host1", "MEMORY_MB", "after") == 512
    assert bar_used(page, "host2", "MEMORY_MB", "after") == 0
    assert bar_used(page, "host1", "DISK_GB", "after") == 1
    assert page.get_attribute('[data-stage="finish_resize"]', "data-state") == "failed"
    assert page.inner_text('[data-verdict]') == "matched"
    page.screenshot(path=str(screenshots / "run.png"), full_page=False)
    page.locator("#run-live .panel:has(.usage)").screenshot(path=str(screenshots / "bars.png"))

    page.click("text=Compare with bug 1825537 off")
    page.wait_for_url(re.compile(r".*/runs/compare/\?a=\d+&b=\d+$"))
    page.wait_for_selector("#compare-live:not([hx-get])", timeout=60000)
    after = page.query_selector_all('.bar[data-rc="MEMORY_MB"][data-when="after"]')
    values = [(b.get_attribute("data-provider"), int(b.get_attribute("aria-valuenow"))) for b in after]
    assert values == [("host1", 512), ("host1", 0), ("host2", 0), ("host2", 2048)]
    page.screenshot(path=str(screenshots / "compare.png"), full_page=False)


def test_a_form_error_is_shown_inline(page, site):
    page.goto(f"{site.url}/runs/new/?scenario=bug-1825537")
    page.fill("#id_new_flavor", "m1.tiny")
    page.click("#start-run")
    assert page.inner_text("#new_flavor-errors") == "When resizing, instances must change flavor!"
    assert page.url.startswith(f"{site.url}/runs/new/")  # no run was started: still on the form


# -- what is drawn is what the captions say --------------------------------------------------------
UNITS = {"VCPU": 1, "MiB": 1, "GiB": 1024, "GB": 1, "TB": 1000}


def amount(text):
    """'512 MiB' -> 512, '780.8 GiB' -> 799539.2, '1 VCPU' -> 1 (in the class's own unit)."""
    number, unit = text.split()
    return float(number) * UNITS[unit]


def drawn_bars(page):
    """Every bar as the browser lays it out: its captions and the pixel widths of its track and segments."""
    return page.eval_on_selector_all(
        ".usage",
        """usages => usages.map(u => {
            const track = u.querySelector('.track').getBoundingClientRect();
            const mark = u.querySelector('.bar .bar-mark');
            return {
                key: ['provider', 'rc', 'when'].map(k => u.querySelector('.bar').dataset[k]).join(' '),
                caption: u.querySelector('.usage-caption').textContent,
                scale: (u.querySelector('.usage-scale') || {}).textContent || '',
                track: track.width, trackLeft: track.left,
                held: [...u.querySelectorAll('.seg:not(.seg-missing):not(.seg-asked)')].map(s => s.getBoundingClientRect().width),
                mark: mark ? {text: mark.textContent, visible: mark.getBoundingClientRect().width > 0,
                              left: mark.getBoundingClientRect().left, trackRight: track.right} : null,
            };
        })""",
    )


def share(bar):
    """How much of its track each segment of a bar takes, to the hundredth (pages lay bars out at other widths)."""
    return [round(width / bar["track"], 2) for width in bar["held"]]


def check_widths_against_captions(bars):
    """Each bar is as full as its caption says: (reserved + used) of what its full width stands for."""
    assert bars
    for bar in bars:
        used_text, capacity_text = re.match(r"Used (.+?) of (.+?)(?: \(|$)", bar["caption"]).groups()
        reserved = re.search(r"\((.+) reserved\)", bar["caption"])
        held = amount(used_text) + (amount(reserved[1]) if reserved else 0)
        if bar["scale"]:  # magnified: the bar itself carries the mark, right at the end of its track
            shown = amount(re.match(r"scale 0–(.+?) of", bar["scale"])[1])
            assert bar["mark"] and bar["mark"]["visible"] and bar["mark"]["text"].startswith("×"), bar
            assert 0 <= bar["mark"]["left"] - bar["mark"]["trackRight"] <= 6, bar
        else:
            shown = amount(capacity_text) + (amount(reserved[1]) if reserved else 0)
            assert bar["mark"] is None, bar
        expected = bar["track"] * min(held / shown, 1)
        assert abs(sum(bar["held"]) - expected) <= 1.5 + len(bar["held"]), (bar, expected)


def test_drawn_widths_match_the_captions_on_the_run_compare_and_home_pages(page, site, screenshots):
    report = site.python(
        "import json; from simulator.pipeline import start_run, run_to_completion; "
        "r = run_to_completion(start_run('no-valid-host', {})); print(json.dumps({'id': r.pk}))"
    )
    other = site.python(
        "import json; from simulator.pipeline import start_run, run_to_completion; "
        "r = run_to_completion(start_run('bug-1825537', {})); print(json.dumps({'id': r.pk}))"
    )
    page.goto(f"{site.url}/runs/{report['id']}/")
    bars = drawn_bars(page)
    check_widths_against_captions(bars)
    magnified = {b["key"] for b in bars if b["scale"]}
    assert "host2 DISK_GB before" in magnified and "host2 MEMORY_MB before" not in magnified  # one panel, both kinds
    assert page.inner_text('.usage-asked.refused >> nth=0')
    page.locator("#room").screenshot(path=str(screenshots / "room.png"))
    own = {b["key"]: share(b) for b in bars}

    page.goto(f"{site.url}/runs/compare/?a={other['id']}&b={report['id']}")
    compared = drawn_bars(page)
    check_widths_against_captions(compared)
    right = [b for b in compared if b["trackLeft"] > 600]  # run B's column, on the right
    assert [share(b) for b in right] == [own[b["key"]] for b in right]

    page.goto(f"{site.url}/")
    check_widths_against_captions(drawn_bars(page))


# -- a phone, no JavaScript, presets swapped in ----------------------------------------------------
def test_choosing_a_preset_swaps_its_parameters_into_the_form(page, site):
    page.goto(f"{site.url}/runs/new/")
    assert page.input_value("#id_fail_at") == "finish_migration"
    page.select_option("#id_scenario", "resize-confirm")
    page.wait_for_url(f"{site.url}/runs/new/?scenario=resize-confirm")
    page.wait_for_function("document.querySelector('#id_fail_at').value === ''")
    assert page.is_checked('input[name="then"][value="confirm"]')
    assert not page.is_checked('input[name="bugs"][value="1825537"]')
    assert page.eval_on_selector("#id_server", "e => getComputedStyle(e).fontWeight") == "400"
    page.click("#start-run")
    page.wait_for_url(re.compile(r".*/runs/\d+/$"))
    assert page.inner_text("#run-label") == "resize-confirm"
    assert "no failure injected · then confirmResize · known bugs off" in page.inner_text("#run-injected")


@pytest.mark.parametrize("path", ["/runs/{run}/", "/runs/compare/?a={run}&b={other}", "/runs/", "/providers/", "/"])
def test_pages_fit_a_phone(browser, site, screenshots, path):
    runs = site.python(
        "import json; from simulator.pipeline import start_run, run_to_completion; "
        "a = run_to_completion(start_run('bug-1825537', {})); b = run_to_completion(start_run('bug-1825537', {'bugs': []})); "
        "print(json.dumps({'run': b.pk, 'other': a.pk}))"
    )
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True)
    phone = context.new_page()
    phone.goto(site.url + path.format(**runs))
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390  # nothing spills sideways
    for selector in ["header.top nav a", '.bar[data-when="after"]', ".panel", "table"]:
        for box in phone.eval_on_selector_all(selector, "els => els.map(e => e.getBoundingClientRect().toJSON())"):
            assert box["left"] >= 0 and box["right"] <= 390, (selector, box)
    if path.startswith("/runs/{run}"):
        phone.locator("#run-live .panel:has(.usage)").scroll_into_view_if_needed()
        phone.screenshot(path=str(screenshots / "run-phone.png"), full_page=False)
    context.close()


def test_an_unfinished_run_refreshes_itself_without_javascript(browser, site):
    run = site.start("--scenario", "resize-confirm", "--step-delay", "0.3")
    context = browser.new_context(java_script_enabled=False)
    plain = context.new_page()
    plain.goto(f"{site.url}/runs/{run}/")
    assert plain.get_attribute("#run-live", "data-status") in ("queued", "running")
    assert "reloads itself every 2 seconds" in plain.inner_text("#run-live")
    plain.wait_for_selector('#run-live[data-status="done"]', timeout=60000)  # reloaded by the page itself
    context.close()


@pytest.mark.skipif(not (Path(os.environ.get("NOVA_VENV", ".venv-nova")) / "bin" / "python").exists(),
                    reason="no Nova environment (make nova-env)")
def test_a_run_is_checked_against_real_nova_from_its_page(page, site, screenshots):
    site.start_worker("nova", queues=("conformance",), all_hosts=False)
    run = site.start("--scenario", "cold-migrate")
    site.report(run)
    page.goto(f"{site.url}/runs/{run}/")
    assert "Not checked against Nova yet." in page.inner_text("#conformance")

    page.click("#conform")
    page.wait_for_selector('#conformance [data-conformance="matches Nova 34"]', timeout=180000)  # htmx polls
    rows = page.query_selector_all("#conformance table.conformance tbody tr")
    assert len(rows) > 10 and page.query_selector_all("#conformance tr.differs") == []
    assert "nova 34.0.0" in page.inner_text("#conformance h2")
    page.locator("#conformance").screenshot(path=str(screenshots / "conformance.png"))
