"""The reaper: a run whose pending cast is in no queue and not being executed lost
its message (a Redis restart, a publish that failed). It is sent again under a
new task id, up to ``RUN_MAX_REDISPATCHES`` times; then the run is crashed.

A cast waiting on a queue nobody consumes (a stopped compute host) is not lost:
the run waits, as Nova's would.
"""
import json
import logging
from datetime import timedelta

import redis
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .models import Run

LOG = logging.getLogger("simulator")
UNACKED = "unacked"  # kombu's Redis transport keeps delivered, unacknowledged messages here


def _task_id(raw):
    try:
        message = json.loads(raw)
    except (TypeError, ValueError):
        return None
    if isinstance(message, list):  # unacked entries are [message, exchange, routing_key]
        message = message[0] if message else {}
    return (message.get("headers") or {}).get("id") if isinstance(message, dict) else None


def pending_task_ids(client, queues):
    """Task ids waiting in ``queues`` or delivered and not yet acknowledged."""
    ids = set()
    for queue in queues:
        ids.update(_task_id(raw) for raw in client.lrange(queue, 0, -1))
    ids.update(_task_id(raw) for raw in client.hvals(UNACKED))
    ids.discard(None)
    return ids


def broker_client():
    return redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=5)


def _wake_campaigns():
    """Running campaigns with room for more runs are woken: a lost wake-up loses no run."""
    from .campaigns import wake, with_room

    woken = with_room()
    for pk in woken:
        wake(pk)
    return woken


def reap(client, on_cast, queue_for):
    """One pass; returns what it did, one line per run. Running campaigns with room are woken."""
    cutoff = timezone.now() - timedelta(seconds=settings.RUN_STALE_AFTER)
    _wake_campaigns()
    done = []
    stale = list(Run.objects.stale(cutoff).only("pk", "task_id", "next_step", "next_host"))
    if not stale:
        return done
    pending = pending_task_ids(client, {queue_for(r.next_step, r.next_host) for r in stale})
    for candidate in stale:
        if candidate.task_id in pending:
            continue
        with transaction.atomic():
            run = Run.objects.select_for_update(of=("self",)).select_related("cloud").get(pk=candidate.pk)
            if run.task_id != candidate.task_id or run.is_finished:
                continue  # it moved on meanwhile
            if run.redispatches >= settings.RUN_MAX_REDISPATCHES:
                last = f" Last error: {run.error}" if run.error else ""
                run.crash(
                    f"{run.next_step} on {queue_for(run.next_step, run.next_host)} never completed: sent "
                    f"{run.redispatches + 1} times.{last}",
                )
                run.save()
                done.append(f"run {run.pk}: crashed")
                continue
            run.send_again(on_cast)
            done.append(f"run {run.pk}: {run.next_step} sent again ({run.redispatches})")
    for line in done:
        LOG.warning("reaper: %s", line)
    return done
