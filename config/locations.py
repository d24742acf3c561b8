"""Where this checkout keeps its files and finds its Redis, for every process of it.

Redis: ``$REDIS_URL`` if set; else the Redis of the ``make run`` that is up with the same var
dir (``make run`` records it in ``<var dir>/run/make-run.json`` and removes the file when it
stops); else ``redis://127.0.0.1:<DASHBOARD_REDIS_PORT, 6379>/0``. So a command in another
terminal of the checkout reaches ``make run``'s Redis with no configuration, whatever its port.

Only the standard library here: ``dashboard/run.py`` and the settings both use it.
"""
import json
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_VAR_DIR = BASE_DIR / "var"


def var_dir():
    """``$DASHBOARD_VAR_DIR``, default ``var/`` in the checkout: SQLite files, Redis data."""
    return Path(os.environ.get("DASHBOARD_VAR_DIR", DEFAULT_VAR_DIR)).resolve()


def local_redis_port():
    return int(os.environ.get("DASHBOARD_REDIS_PORT", "6379"))


def local_redis_url():
    """Where ``make run`` looks for, or starts, a Redis when ``$REDIS_URL`` is not set."""
    return f"redis://127.0.0.1:{local_redis_port()}/0"


def make_run_file():
    """What the running ``make run`` of this var dir tells other processes: its pid, its Redis."""
    return var_dir() / "run" / "make-run.json"


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        pass
    return True


def make_run_redis_url():
    """The Redis URL of this var dir's ``make run`` if one is up, else None (a file left by a
    ``make run`` that was killed outright names a pid that is gone)."""
    try:
        recorded = json.loads(make_run_file().read_text())
    except (OSError, ValueError):
        return None
    return recorded["redis_url"] if _alive(recorded["pid"]) else None


def redis_url():
    """The Redis every process of this checkout uses (the rule in this module's docstring)."""
    return os.environ.get("REDIS_URL") or make_run_redis_url() or local_redis_url()


def record_make_run(url):
    """Called by ``make run`` once its Redis is known."""
    path = make_run_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps({"pid": os.getpid(), "redis_url": url}))
    partial.replace(path)  # readers never see half a file


def forget_make_run():
    """Called by ``make run`` as it stops: removes the file if this process wrote it."""
    try:
        if json.loads(make_run_file().read_text())["pid"] == os.getpid():
            make_run_file().unlink()
    except (OSError, ValueError):
        pass
