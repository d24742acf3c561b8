"""``/health/``: what a load balancer or a monitor asks — can this web process reach the database
and Redis, and have workers been seen recently (their heartbeat, simulator/worker.py)?"""
import time

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache

from simulator.reaper import broker_client
from simulator.worker import workers_seen


def _timed(check):
    """{"ok", "ms"[, "error"]} of running ``check``; its return value (a dict) is merged in."""
    started = time.perf_counter()
    try:
        found = check() or {}
    except Exception as error:  # whatever is down, the endpoint answers and says what
        return {"ok": False, "ms": round((time.perf_counter() - started) * 1000, 1), "error": str(error)[:300]}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1), **found}


def _database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _redis():
    broker_client().ping()


def _workers():
    now = time.time()
    seen = workers_seen(broker_client())
    workers = [
        {"name": name, "queues": beat["queues"], "seen_seconds_ago": round(now - beat["seen"], 1)}
        for name, beat in sorted(seen.items())
    ]
    serving = {queue for worker in workers for queue in worker["queues"]}
    if "conductor" not in serving:  # nobody would start a run's first step, nor reap lost ones
        raise RuntimeError(f"no worker consuming the conductor queue seen in the last "
                           f"{3 * settings.WORKER_HEARTBEAT_INTERVAL:g} s")
    return {"workers": workers}


@login_not_required
@never_cache
def health(request):
    """200 when the database, Redis and a conductor worker are all there, else 503; each check
    with its time in ms, the workers with their queues and when each was last seen."""
    checks = {"database": _timed(_database), "redis": _timed(_redis), "workers": _timed(_workers)}
    healthy = all(check["ok"] for check in checks.values())
    return JsonResponse({"status": "ok" if healthy else "failing", "checks": checks}, status=200 if healthy else 503)
