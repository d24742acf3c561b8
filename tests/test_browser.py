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
    page.click("button[type=submit]")
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
    page.click("button[type=submit]")
    assert page.inner_text("#new_flavor-errors") == "When resizing, instances must change flavor!"
    assert page.url.startswith(f"{site.url}/runs/new/")  # no run was started: still on the form
