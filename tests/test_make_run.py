"""``make run`` (python -m dashboard.run) in real processes: it says "Up" once the web server
answers and the worker is ready, a run from another terminal reaches its Redis with no
configuration, it stops every process it started whatever signal ends it (the terminal closed,
Ctrl-C, SIGTERM, SIGKILL), a busy port is reported before anything starts, and a worker of
another checkout on its Redis is reported."""
import fcntl
import json
import os
import pty
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import termios
import threading
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from config import locations
from dashboard.run import port_is_free, redis_server_binary
from simulator.worker import IDENTITY, code_version, foreign_workers
from tests.services import free_port

ROOT = Path(__file__).resolve().parent.parent


def _take_the_terminal():
    """preexec_fn: the pty on stdin becomes the session's controlling terminal."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class MakeRun:
    """``python -m dashboard.run`` with its output collected; on a pseudo-terminal if asked,
    so that closing it is a real hang-up."""

    def __init__(self, env, terminal=False):
        self.env = env
        self.lines = []
        self.hung_up = threading.Event()
        command = [sys.executable, "-m", "dashboard.run"]
        if terminal:
            self.output, tty = pty.openpty()
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdin=tty, stdout=tty, stderr=tty, start_new_session=True,
                preexec_fn=_take_the_terminal,
            )
            os.close(tty)
        else:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, start_new_session=True,
            )
            self.output = self.process.stdout.fileno()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        pending = b""
        while not self.hung_up.is_set():
            if not select.select([self.output], [], [], 0.1)[0]:
                continue
            try:
                chunk = os.read(self.output, 65536)
            except OSError:  # the pty's other side is closed
                chunk = b""
            if not chunk:
                break
            *complete, pending = (pending + chunk).split(b"\n")
            self.lines.extend(line.decode(errors="replace").rstrip("\r") for line in complete)
        if self.hung_up.is_set():
            os.close(self.output)

    @property
    def text(self):
        return "\n".join(self.lines)

    def line(self, prefix):
        return next((line for line in self.lines if line.startswith(prefix)), None)

    def wait_until_up(self, timeout=90):
        """Waits for "Up"; checks the web server answers right then; returns every process
        make run started (its whole tree, grandchildren included)."""
        deadline = time.monotonic() + timeout
        while self.line("Up: ") is None:
            assert self.process.poll() is None, self.text[-3000:]
            assert time.monotonic() < deadline, self.text[-3000:]
            time.sleep(0.05)
        page = urllib.request.urlopen(f"http://127.0.0.1:{self.env['PORT']}/", timeout=10)
        assert page.status == 200  # at once, not after retries
        ready = next(i for i, line in enumerate(self.lines) if line.endswith(" ready."))  # the worker
        assert ready < self.lines.index(self.line("Up: "))
        return psutil.Process(self.process.pid).children(recursive=True)

    def hang_up(self):
        """Close the terminal: the kernel sends the session SIGHUP."""
        self.hung_up.set()
        self.reader.join()

    def wait(self, timeout=40):
        return self.process.wait(timeout=timeout)


def left_alive(processes, within=0.0):
    """The command lines of ``processes`` still running after ``within`` seconds (zombies are
    not running)."""
    deadline = time.monotonic() + within
    while True:
        alive = []
        for process in processes:
            try:
                if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                    alive.append(" ".join(process.cmdline()))
            except psutil.NoSuchProcess:
                pass
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.1)


@pytest.fixture
def env(tmp_path):
    """make run's environment: its own var dir, ports that are not the defaults, nothing else."""
    environment = {
        **os.environ,
        "DASHBOARD_VAR_DIR": str(tmp_path / "var"),
        "PORT": str(free_port()),
        "DASHBOARD_REDIS_PORT": str(free_port()),
    }
    environment.pop("REDIS_URL", None)
    environment.pop("DATABASE_URL", None)
    return environment


def assert_stopped(run, started, returncode, within=0.0):
    assert run.wait() == returncode, run.text[-3000:]
    assert left_alive(started, within) == []
    assert port_is_free(int(run.env["PORT"])) and port_is_free(int(run.env["DASHBOARD_REDIS_PORT"]))


def test_another_terminal_runs_on_make_runs_redis_with_no_configuration(env):
    run = MakeRun(env)
    started = run.wait_until_up()
    assert len(started) >= 5  # redis, the worker and its two pool processes, the web server
    assert any(process.name() == "redis-server" for process in started)
    assert "Log in as demo / demo" in run.line("Up: ")
    assert json.loads((Path(env["DASHBOARD_VAR_DIR"]) / "run" / "make-run.json").read_text()) == {
        "pid": run.process.pid, "redis_url": f"redis://127.0.0.1:{env['DASHBOARD_REDIS_PORT']}/0",
    }

    # The other terminal has only what make run says it needs: here the var dir (the database),
    # not the ports.
    advice = run.line("In another terminal: ")[len("In another terminal: "):]
    assert advice == (
        f"export DASHBOARD_VAR_DIR={env['DASHBOARD_VAR_DIR']} && . .venv/bin/activate && "
        "python manage.py resize_run --scenario bug-1825537"
    )
    other_terminal = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL", "PORT")}
    other_terminal.pop("DASHBOARD_REDIS_PORT", None)
    other_terminal.pop("DASHBOARD_VAR_DIR", None)
    other_terminal.update(dict(word.split("=", 1) for word in shlex.split(advice.split(" && ")[0])[1:]))
    began = time.monotonic()
    result = subprocess.run(
        [sys.executable, "manage.py", "resize_run", "--scenario", "resize-confirm", "--json"],
        cwd=ROOT, env=other_terminal, capture_output=True, text=True, timeout=120,
    )
    took = time.monotonic() - began
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["verdict"]["matched"] is True, report["verdict"]
    assert report["redispatches"] == 0  # its message reached the worker: the reaper did not resend it
    assert took < 20

    run.process.send_signal(signal.SIGTERM)
    assert_stopped(run, started, 0)
    assert "SIGTERM: stopping" in run.text
    assert not (Path(env["DASHBOARD_VAR_DIR"]) / "run" / "make-run.json").exists()


def test_ctrl_c_stops_everything(env):
    run = MakeRun(env)
    started = run.wait_until_up()
    run.process.send_signal(signal.SIGINT)
    assert_stopped(run, started, 0)
    assert "SIGINT: stopping" in run.text


def test_closing_the_terminal_stops_everything(env):
    run = MakeRun(env, terminal=True)
    started = run.wait_until_up()
    run.hang_up()  # SIGHUP from the kernel; writing to the terminal fails from now on
    assert_stopped(run, started, 0)
    assert not (Path(env["DASHBOARD_VAR_DIR"]) / "run" / "make-run.json").exists()


def test_a_killed_supervisor_leaves_no_process_behind(env, monkeypatch):
    run = MakeRun(env)
    started = run.wait_until_up()
    run.process.kill()
    assert_stopped(run, started, -signal.SIGKILL, within=30)
    # Its record stays, naming a dead pid: other terminals ignore it.
    assert (Path(env["DASHBOARD_VAR_DIR"]) / "run" / "make-run.json").exists()
    monkeypatch.setenv("DASHBOARD_VAR_DIR", env["DASHBOARD_VAR_DIR"])
    assert locations.make_run_redis_url() is None


@pytest.mark.parametrize("variable", ["PORT", "DASHBOARD_REDIS_PORT"])
def test_a_busy_port_is_reported_with_its_holder_and_nothing_starts(env, variable):
    port = int(env[variable])
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        result = subprocess.run(
            [sys.executable, "-m", "dashboard.run"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
    assert result.returncode == 1
    me = psutil.Process()
    assert f"Port {port} is in use by {me.name()} (pid {me.pid}, {me.cmdline()[0]} " in result.stderr
    assert f"choose another port ({variable}=<port> make run)" in result.stderr
    assert "starting" not in result.stdout
    assert not (Path(env["DASHBOARD_VAR_DIR"]) / "db.sqlite3").exists()  # not even migrated


@pytest.fixture
def redis_server(tmp_path, env):
    """A Redis already running on make run's Redis port, as another checkout's make run leaves one."""
    data = tmp_path / "other-redis"
    data.mkdir()
    server = subprocess.Popen(
        [redis_server_binary(), "--port", env["DASHBOARD_REDIS_PORT"], "--bind", "127.0.0.1", "--save", "",
         "--dir", str(data)],
        stdout=subprocess.DEVNULL, start_new_session=True,
    )
    while port_is_free(int(env["DASHBOARD_REDIS_PORT"])):
        assert server.poll() is None
        time.sleep(0.05)
    yield server, data
    server.kill()
    server.wait()


def test_a_worker_of_another_checkout_on_the_same_redis_is_reported(env, tmp_path, redis_server):
    server, data = redis_server
    other = (tmp_path / "other-checkout").resolve()
    shutil.copytree(
        ROOT, other, ignore=shutil.ignore_patterns(".git", ".venv", "var", "__pycache__", ".pytest_cache", "docs")
    )
    with open(other / "simulator" / "compute.py", "a") as source:
        source.write("# another version\n")
    log = tmp_path / "other-worker.log"
    other_env = {**env, "DASHBOARD_VAR_DIR": str(tmp_path / "other-var"),
                 "REDIS_URL": f"redis://127.0.0.1:{env['DASHBOARD_REDIS_PORT']}/0"}
    with open(log, "w") as output:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config.celery_app", "worker", "-n", "other@%h", "-Q", "api",
             "--concurrency", "1", "--loglevel", "INFO", "--without-mingle", "--without-gossip"],
            cwd=other, env=other_env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while " ready." not in log.read_text():
            assert worker.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.1)

        run = MakeRun(env)
        started = run.wait_until_up()
        assert f"using the Redis already running at redis://127.0.0.1:{env['DASHBOARD_REDIS_PORT']}/0: " \
               f"redis-server (pid {server.pid}, " in run.text
        assert f"data in {data}. It was not started here and is left running at the end." in run.text
        other_code = code_version(other)
        assert other_code != IDENTITY["code"]
        warning = next(line for line in run.lines if "Worker other@" in line)
        assert warning.endswith(
            f" (checkout {other}, code {other_code}) consumes the same queues from another checkout: it would "
            "execute this checkout's runs. Stop it or give this checkout another Redis "
            "(DASHBOARD_REDIS_PORT / REDIS_URL)."
        )
        assert warning in run.text.split("\nUp: ")[0]  # said before "Up"

        run.process.send_signal(signal.SIGTERM)
        assert run.wait() == 0
        assert left_alive(started) == []
        assert server.poll() is None  # the Redis it did not start is left running
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()


class Replies:
    """A Celery app whose workers answer ``checkout`` with ``replies``."""

    def __init__(self, replies):
        self.control = self
        self.replies = replies

    def broadcast(self, command, reply, timeout):
        assert (command, reply) == ("checkout", True)
        return self.replies


def test_foreign_workers_names_other_code_and_versions_that_cannot_tell():
    edited = {**IDENTITY, "code": "0123456789ab"}
    older = {"error": "KeyError('checkout')"}
    messages = foreign_workers(Replies([{"same@h": IDENTITY}, {"edited@h": edited}, {"old@h": older}]))
    assert messages == [
        f"Worker edited@h (checkout {IDENTITY['checkout']}, code 0123456789ab) consumes the same queues with other "
        "code: it would execute this checkout's runs. Stop it or give this checkout another Redis "
        "(DASHBOARD_REDIS_PORT / REDIS_URL).",
        "Worker old@h (a version that cannot tell its checkout) consumes the same queues with older code: it would "
        "execute this checkout's runs. Stop it or give this checkout another Redis (DASHBOARD_REDIS_PORT / REDIS_URL).",
    ]
