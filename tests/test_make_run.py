"""``make run``'s bring-up (python -m dashboard.run): everything starts, a run from another
terminal works, and Ctrl-C or SIGTERM stops every process it started."""
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from tests.services import free_port

ROOT = Path(__file__).resolve().parent.parent


class BringUp:
    def __init__(self, env):
        self.lines = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dashboard.run"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(line)

    def wait_until_up(self, timeout=90):
        deadline = time.monotonic() + timeout
        while not any(line.startswith("Up: http://") for line in self.lines):
            assert self.process.poll() is None, "".join(self.lines)[-3000:]
            assert time.monotonic() < deadline, "".join(self.lines)[-3000:]
            time.sleep(0.2)
        while not any("ready." in line for line in self.lines):  # the worker
            assert time.monotonic() < deadline, "".join(self.lines)[-3000:]
            time.sleep(0.2)
        return [p.pid for p in psutil.Process(self.process.pid).children(recursive=True)]

    def stop(self, sig):
        os.kill(self.process.pid, sig)
        return self.process.wait(timeout=40)


@pytest.fixture
def env(tmp_path):
    environment = {
        **os.environ,
        "DASHBOARD_VAR_DIR": str(tmp_path / "var"),
        "PORT": str(free_port()),
        "DASHBOARD_REDIS_PORT": str(free_port()),
    }
    environment.pop("REDIS_URL", None)
    environment.pop("DATABASE_URL", None)
    return environment


def alive(pids):
    return [pid for pid in pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]


def test_everything_comes_up_serves_runs_and_stops_without_orphans(env):
    first = BringUp(env)
    children = first.wait_until_up()
    assert len(children) >= 4  # redis, the worker and its pool, the web server
    page = urllib.request.urlopen(f"http://127.0.0.1:{env['PORT']}/", timeout=10)
    assert page.status == 200
    assert any("Log in as demo / demo" in line for line in first.lines)

    other_terminal = {**env, "REDIS_URL": f"redis://127.0.0.1:{env['DASHBOARD_REDIS_PORT']}/0"}
    result = subprocess.run(
        [sys.executable, "manage.py", "resize_run", "--scenario", "resize-confirm"],
        cwd=ROOT, env=other_terminal, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Verdict: Matches the expected outcome." in result.stdout

    assert first.stop(signal.SIGTERM) == 0
    assert alive(children) == []

    second = BringUp(env)  # right after: ports and files are free again
    children = second.wait_until_up()
    assert second.stop(signal.SIGINT) == 0  # Ctrl-C
    assert alive(children) == []
