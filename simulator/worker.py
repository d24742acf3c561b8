"""Worker boot steps: the reaper, a heartbeat in Redis, and ``--all-hosts`` (consume every compute host's queue,
picking up hosts created after the worker started).

Every worker answers the ``checkout`` control command with the checkout it runs from and a
hash of its code, and, once ready, warns about any worker on the same broker that runs
another checkout or other code: that worker would execute this checkout's runs.
"""
import hashlib
import json
import logging
import os
import time
from pathlib import Path

from celery import bootsteps
from celery.signals import worker_init, worker_ready
from celery.utils.log import get_logger
from celery.worker.control import control_command
from click import Option
from django.conf import settings
from django.db import close_old_connections

LOG = logging.getLogger("simulator")
WORKER_LOG = get_logger(__name__)  # the worker's own log, shown at its --loglevel

CHECKOUT = Path(__file__).resolve().parent.parent
WORKER_PACKAGES = ("config", "dashboard", "simulator")  # the code a worker runs


def code_version(checkout):
    """A short hash of the worker packages' Python sources in ``checkout``."""
    digest = hashlib.sha256()
    for package in WORKER_PACKAGES:
        for path in sorted((checkout / package).rglob("*.py")):
            digest.update(path.relative_to(checkout).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


# Computed once, as the code is imported: a worker started before an edit keeps telling the
# version it runs.
IDENTITY = {"checkout": str(CHECKOUT), "code": code_version(CHECKOUT)}


@control_command()
def checkout(state):
    """The checkout this worker runs from and its code version."""
    return IDENTITY


def foreign_workers(app, timeout=0.5):
    """One message per worker on ``app``'s broker whose checkout or code differs from this one's."""
    messages = []
    for reply in app.control.broadcast("checkout", reply=True, timeout=timeout):
        for name, identity in reply.items():
            if identity == IDENTITY:
                continue
            if "code" not in identity:  # it does not know the command: code older than it
                described, reason = "a version that cannot tell its checkout", "with older code"
            else:
                described = f"checkout {identity['checkout']}, code {identity['code']}"
                reason = "from another checkout" if identity["checkout"] != IDENTITY["checkout"] else "with other code"
            messages.append(
                f"Worker {name} ({described}) consumes the same queues {reason}: it would execute this "
                "checkout's runs. Stop it or give this checkout another Redis (DASHBOARD_REDIS_PORT / REDIS_URL)."
            )
    return messages


def _warn_about_foreign_workers(sender, **kwargs):
    for message in foreign_workers(sender.app):
        WORKER_LOG.warning(message)


class AllHostQueues(bootsteps.StartStopStep):
    """Add a ``compute.<host>`` queue for every host in the database, now and as they appear."""

    requires = {"celery.worker.consumer.tasks:Tasks"}

    def __init__(self, parent, all_hosts=False, **kwargs):
        super().__init__(parent, **kwargs)
        self.enabled = bool(all_hosts)
        self.timer = None

    def start(self, consumer):
        self.refresh(consumer)
        self.timer = consumer.timer.call_repeatedly(settings.WORKER_HOST_QUEUES_INTERVAL, self.refresh, (consumer,))

    def stop(self, consumer):
        if self.timer is not None:
            self.timer.cancel()

    def refresh(self, consumer):
        from .models import Host

        close_old_connections()
        wanted = {f"compute.{name}" for name in Host.objects.values_list("name", flat=True).distinct()}
        present = {queue.name for queue in consumer.task_consumer.queues}
        for queue in sorted(wanted - present):
            consumer.add_task_queue(queue)
            LOG.info("consuming %s", queue)


class Reaper(bootsteps.StartStopStep):
    """Runs the reaper periodically in workers that serve the conductor queue."""

    requires = {"celery.worker.consumer.tasks:Tasks"}

    def __init__(self, parent, **kwargs):
        super().__init__(parent, **kwargs)
        self.timer = None

    def start(self, consumer):
        if "conductor" not in {queue.name for queue in consumer.task_consumer.queues}:
            return
        self.timer = consumer.timer.call_repeatedly(settings.RUN_REAPER_INTERVAL, self.tick, ())

    def stop(self, consumer):
        if self.timer is not None:
            self.timer.cancel()

    def tick(self):
        from .reaper import broker_client, reap
        from .tasks import cast, queue_for

        close_old_connections()
        try:
            reap(broker_client(), cast, queue_for)
        except Exception:  # the broker or the database is away; try again next tick
            LOG.exception("reaper pass failed")


HEARTBEAT_PREFIX = "resize-dashboard:worker:"


def workers_seen(client):
    """{worker name: {"queues", "pid", "seen"}} of the workers whose heartbeat has not expired."""
    seen = {}
    for key in client.scan_iter(match=HEARTBEAT_PREFIX + "*", count=500):
        raw = client.get(key)
        if raw is not None:
            seen[key.decode()[len(HEARTBEAT_PREFIX):]] = json.loads(raw)
    return seen


class Heartbeat(bootsteps.StartStopStep):
    """Every WORKER_HEARTBEAT_INTERVAL seconds, tell Redis this worker is alive and which queues it
    consumes (a key that expires after three missed beats): the health endpoint lists them."""

    requires = {"celery.worker.consumer.tasks:Tasks"}

    def __init__(self, parent, **kwargs):
        super().__init__(parent, **kwargs)
        self.timer = None

    def start(self, consumer):
        self.beat(consumer)
        self.timer = consumer.timer.call_repeatedly(settings.WORKER_HEARTBEAT_INTERVAL, self.beat, (consumer,))

    def stop(self, consumer):
        if self.timer is not None:
            self.timer.cancel()

    def beat(self, consumer):
        from .reaper import broker_client

        document = {
            "queues": sorted(queue.name for queue in consumer.task_consumer.queues),
            "pid": os.getpid(),
            "seen": time.time(),
        }
        try:
            broker_client().set(
                HEARTBEAT_PREFIX + consumer.hostname, json.dumps(document),
                ex=max(1, round(3 * settings.WORKER_HEARTBEAT_INTERVAL)),
            )
        except Exception:  # the broker is away: the next beat tries again
            LOG.exception("heartbeat failed")


def _no_query_log(**kwargs):
    """Workers run for days: never keep DEBUG's log of every SQL query."""
    settings.DEBUG = False


def install(app):
    worker_init.connect(_no_query_log, weak=False)
    worker_ready.connect(_warn_about_foreign_workers, weak=False)
    app.user_options["worker"].add(
        Option(
            ["--all-hosts"],
            is_flag=True,
            default=False,
            help="Also consume compute.<host> for every simulated host, including hosts created later.",
        )
    )
    app.steps["consumer"].add(AllHostQueues)
    app.steps["consumer"].add(Reaper)
    app.steps["consumer"].add(Heartbeat)
