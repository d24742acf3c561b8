"""The production bring-up exactly as the README gives it: ``honcho start -f deploy/Procfile`` with
an environment file made from ``deploy/dashboard.env.example``, on PostgreSQL and Redis on
loopback, debug off. Requests come as the TLS-terminating reverse proxy sends them (plain HTTP
on 127.0.0.1 with ``X-Forwarded-Proto: https``); the browser is Debian's Chromium."""
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import requests

from dashboard.run import redis_server_binary
from tests.services import create_database, free_port
from tests.test_browser import CHROMIUM, LAUNCH_ARGS

ROOT = Path(__file__).resolve().parent.parent
PROXY = {"X-Forwarded-Proto": "https"}  # what the reverse proxy adds to every request
PASSWORD = secrets.token_urlsafe(12)


def environment_file(path, **values):
    """deploy/dashboard.env.example with ``values`` filled in (every other line as written)."""
    lines = []
    for line in (ROOT / "deploy" / "dashboard.env.example").read_text().splitlines():
        key = line.split("=", 1)[0]
        lines.append(f"{key}={values.pop(key)}" if not line.startswith("#") and key in values else line)
    lines += [f"{key}={value}" for key, value in values.items()]
    path.write_text("\n".join(lines) + "\n")
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


class Deployment:
    def __init__(self, tmp, database_url):
        self.tmp = tmp
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        redis_port = free_port()
        self.redis = subprocess.Popen(
            [redis_server_binary(), "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp)],
            stdout=subprocess.DEVNULL, start_new_session=True,
        )
        self.env = environment_file(
            tmp / "dashboard.env",
            DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
            DJANGO_ALLOWED_HOSTS="127.0.0.1",
            # The proxy's origin, and the one the test's browser posts from: it reaches gunicorn
            # directly (plain HTTP on loopback, X-Forwarded-Proto added to each request).
            DJANGO_CSRF_TRUSTED_ORIGINS=f"https://127.0.0.1:{self.port},http://127.0.0.1:{self.port}",
            DATABASE_URL=database_url,
            REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
            PORT=self.port,
            WEB_CONCURRENCY=2,
            DASHBOARD_VAR_DIR=tmp / "var",
            WORKER_HEARTBEAT_INTERVAL=1,
        )
        self.log = tmp / "honcho.log"
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL"))}
        # The virtualenv active, as the README says: its python, gunicorn and celery come first.
        clean["PATH"] = f"{Path(sys.executable).parent}:{clean.get('PATH', '')}"
        self.honcho = subprocess.Popen(
            [sys.executable, "-m", "honcho", "start", "-f", "deploy/Procfile", "-e", str(tmp / "dashboard.env"),
             "-d", str(ROOT), "--no-colour"],
            cwd=ROOT, env=clean, stdout=open(self.log, "w"), stderr=subprocess.STDOUT, start_new_session=True,
        )

    def get(self, path, **kwargs):
        return requests.get(self.url + path, headers={**PROXY, **kwargs.pop("headers", {})},
                            allow_redirects=False, timeout=30, **kwargs)

    def finished(self, run_id, timeout=60):
        """The run's report (REST, with the token) once it has ended."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.get(f"/api/runs/{run_id}/", headers={"Authorization": f"Token {self.token}"}).json()
            if run["status"] in ("done", "crashed") or time.monotonic() > deadline:
                return run
            time.sleep(0.3)

    def manage(self, *args, **env):
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env={**os.environ, **self.env, **env},
            capture_output=True, text=True, check=True, timeout=120,
        )

    def wait_healthy(self, timeout=120):
        deadline, last = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            if self.honcho.poll() is not None:
                break
            try:
                last = self.get("/health/")
                if last.status_code == 200:
                    return last.json()
            except requests.ConnectionError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"not healthy: {last and last.text}\n{self.log.read_text()[-4000:]}")

    def stop(self):
        if self.honcho.poll() is None:
            self.honcho.send_signal(signal.SIGTERM)  # honcho stops every process it started
            try:
                self.honcho.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.honcho.pid, signal.SIGKILL)
                self.honcho.wait()
        os.killpg(self.redis.pid, signal.SIGKILL)
        self.redis.wait()


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, postgres_server):
    site = Deployment(tmp_path_factory.mktemp("production"), create_database(postgres_server, "production"))
    try:
        site.health = site.wait_healthy()
        site.manage("createsuperuser", "--noinput", "--username", "ops", "--email", "ops@example.org",
                    DJANGO_SUPERUSER_PASSWORD=PASSWORD)
        site.token = re.search(r"Generated token (\w+)", site.manage("drf_create_token", "ops").stdout).group(1)
        yield site
    finally:
        site.stop()


def test_it_comes_up_healthy_with_its_worker(deployment):
    health = deployment.health
    assert health["status"] == "ok"
    assert health["checks"]["database"]["ok"] and health["checks"]["redis"]["ok"]
    (worker,) = health["checks"]["workers"]["workers"]
    assert worker["name"].startswith("dashboard@") and {"conductor", "api"} <= set(worker["queues"])
    assert worker["seen_seconds_ago"] < 5


def test_the_demo_user_gets_no_known_password(deployment):
    seeded = deployment.manage("seed_demo").stdout
    assert "Set a password for demo with: python manage.py changepassword demo" in seeded
    assert "demo / demo" not in seeded


def test_plain_http_is_sent_to_https_and_pages_need_a_login(deployment):
    plain = requests.get(deployment.url + "/runs/", allow_redirects=False, timeout=30)
    assert plain.status_code == 301 and plain.headers["Location"] == f"https://127.0.0.1:{deployment.port}/runs/"
    page = deployment.get("/runs/")
    assert page.status_code == 302 and page.headers["Location"] == "/accounts/login/?next=/runs/"
    assert "max-age=3600" in page.headers["Strict-Transport-Security"]


def test_the_stylesheet_is_served_without_debug(deployment):
    login = deployment.get("/accounts/login/")
    assert login.status_code == 200
    stylesheet = re.search(r'href="(/static/dashboard/dashboard\.[0-9a-f]{12}\.css)"', login.text).group(1)
    css = deployment.get(stylesheet)
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")
    assert "max-age=315360000" in css.headers["Cache-Control"]  # hashed name: cached for ever
    assert "body {" in css.text


def test_the_api_takes_a_token_and_refuses_anonymous_requests(deployment):
    assert deployment.get("/api/runs/").status_code == 401
    response = requests.post(
        deployment.url + "/api/runs/", json={"scenario": "bug-1825537"},
        headers={**PROXY, "Authorization": f"Token {deployment.token}"}, timeout=30,
    )
    assert response.status_code == 202
    run = deployment.finished(response.json()["id"])
    assert run["status"] == "done" and run["verdict"]["matched"] is True
    # One log line per step, with the run, the step, the worker and its timing.
    log = deployment.log.read_text()
    for seq, step in enumerate(("conductor.migrate_server", "compute.prep_resize", "compute.resize_instance",
                                "compute.finish_resize"), start=1):
        assert re.search(rf"run {run['id']} step {seq} {re.escape(step)} on \S+ by dashboard@\S+: "
                         rf"waited [\d.]+ ms, took [\d.]+ ms, (ok|failed: .+)", log), step


def test_an_operator_logs_in_and_starts_a_run_from_a_styled_page(deployment):
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        context = browser.new_context(extra_http_headers=PROXY)
        page = context.new_page()
        page.goto(f"{deployment.url}/runs/new/")
        assert "/accounts/login/" in page.url
        # dashboard.css applied: the page's background is the stylesheet's, not the browser's white.
        assert page.evaluate("getComputedStyle(document.body).backgroundColor") != "rgba(0, 0, 0, 0)"
        assert page.evaluate("getComputedStyle(document.body).fontSize") == "14px"
        page.fill("#id_username", "ops")
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{deployment.url}/runs/new/")
        page.click("#start-run")
        page.wait_for_url(re.compile(r"/runs/\d+/$"))
        run_id = int(re.search(r"/runs/(\d+)/$", page.url).group(1))
        browser.close()
    assert deployment.finished(run_id)["status"] == "done"


def test_honcho_stops_every_process_it_started(tmp_path, postgres_server):
    site = Deployment(tmp_path, create_database(postgres_server, "stop"))
    try:
        site.wait_healthy()
        started = psutil.Process(site.honcho.pid).children(recursive=True)
        names = " ".join(" ".join(process.cmdline()) for process in started)
        assert "gunicorn" in names and "celery" in names
    finally:
        site.stop()
    assert site.honcho.returncode is not None
    _, alive = psutil.wait_procs(started, timeout=10)
    assert alive == []
