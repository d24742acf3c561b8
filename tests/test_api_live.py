"""The REST API on a live stack: a run started over HTTP executes on a Celery worker.

Redis, one worker serving every queue (``--all-hosts``) and the web server run in their own
processes on a temporary SQLite database; the client is the standard library's urllib.
"""
import json
import re
import time
import urllib.error
import urllib.request
from urllib.parse import urljoin

import pytest

from simulator.conformance import nova_python
from tests.live import SEED_STEPS, LiveStack, outcome

PASSWORD = "a-password-for-the-live-api-test"


@pytest.fixture
def stack(tmp_path):
    live = LiveStack(tmp_path, DJANGO_SUPERUSER_PASSWORD=PASSWORD)
    live.start_redis()
    yield live
    live.close()


def create_token(stack, username="api"):
    """A superuser made by ``createsuperuser --noinput``, and its token from ``drf_create_token``."""
    stack.manage("createsuperuser", "--noinput", "--username", username, "--email", f"{username}@example.com",
                 check=True)
    output = stack.manage("drf_create_token", username, check=True).stdout
    match = re.search(r"\b([0-9a-f]{40})\b", output)
    assert match, output
    return match.group(1)


def request(url, method="GET", body=None, token=None):
    """(status, headers, decoded JSON body) of one request; HTTP errors are answers too."""
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Token {token}"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data, headers, method=method), timeout=30) as answer:
            return answer.status, answer.headers, json.load(answer)
    except urllib.error.HTTPError as error:
        with error:
            text = error.read().decode()
        try:
            return error.code, error.headers, json.loads(text)
        except ValueError:
            return error.code, error.headers, text


def poll(url, token, timeout=120):
    deadline = time.monotonic() + timeout
    while True:
        status, _, report = request(url, token=token)
        assert status == 200, (status, report)
        if report["status"] in ("done", "crashed") or time.monotonic() > deadline:
            return report
        time.sleep(0.2)


def test_a_run_started_over_rest_runs_on_the_worker_like_the_cli(stack):
    token = create_token(stack)
    stack.start_worker("w1")
    base = stack.start_web()

    status, headers, started = request(f"{base}/api/runs/", "POST", {"scenario": "bug-1825537"}, token)
    assert status == 202, started
    assert started["status"] in ("queued", "running") and started["scenario"] == "bug-1825537"
    location = headers["Location"]
    assert location == f"/api/runs/{started['id']}/"

    report = poll(urljoin(base, location), token)
    assert report["status"] == "done", report["error"]
    assert report["verdict"]["matched"] is True
    assert [(s["name"], s["queue"]) for s in report["steps"]] == SEED_STEPS
    assert all(s["worker"].startswith("w1@") and s["task_id"] for s in report["steps"]), report["steps"]
    assert all(e["worker"].startswith("w1@") for e in report["events"]), report["events"]

    assert outcome(report) == outcome(stack.in_process("--scenario", "bug-1825537"))
    # The API serves the very document the CLI prints for this run.
    assert report == json.loads(stack.manage("run_report", str(started["id"]), "--json", check=True).stdout)


def test_starting_a_run_needs_authentication(stack):
    token = create_token(stack)
    base = stack.start_web()

    status, _, body = request(f"{base}/api/runs/", "POST", {"scenario": "bug-1825537"})
    assert status in (401, 403), (status, body)
    assert "credentials" in body["detail"], body
    status, _, body = request(f"{base}/api/runs/", "POST", {"scenario": "bug-1825537"}, token="0" * 40)
    assert status in (401, 403), (status, body)
    assert body["detail"] == "Invalid token.", body

    status, _, runs = request(f"{base}/api/runs/")  # reading is open in debug mode
    assert status == 200 and runs["count"] == 0, runs
    status, _, started = request(f"{base}/api/runs/", "POST", {"scenario": "bug-1825537"}, token)
    assert status == 202, started  # the same request with the token (it only queues: no worker here)


@pytest.mark.skipif(nova_python() is None, reason="no Nova environment (make nova-env)")
def test_a_run_checked_over_rest_is_replayed_in_real_nova_on_the_conformance_worker(stack):
    token = create_token(stack)
    stack.start_worker("w1", queues=("conductor", "api", "conformance"))
    base = stack.start_web()
    status, headers, started = request(f"{base}/api/runs/", "POST", {"scenario": "resize-confirm"}, token)
    assert poll(urljoin(base, headers["Location"]), token)["status"] == "done"

    status, headers, check = request(f"{base}/api/runs/{started['id']}/conformance/", "POST", token=token)
    assert (status, check["status"]) == (202, "queued")
    deadline = time.monotonic() + 180
    while check["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.5)
        check = request(urljoin(base, headers["Location"]), token=token)[2]

    assert (check["status"], check["differences"]) == ("matched", []), check
    assert check["nova_version"].startswith("34.")
    assert check["nova"]["server"] == {"status": "ACTIVE", "vm_state": "active", "task_state": None,
                                       "host": "host2", "flavor": "m1.small"}
