"""Worker boot steps: the reaper, and ``--all-hosts`` (consume every compute host's queue,
picking up hosts created after the worker started)."""
import logging

from celery import bootsteps
from celery.signals import worker_init
from click import Option
from django.conf import settings
from django.db import close_old_connections

LOG = logging.getLogger("simulator")


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


def _no_query_log(**kwargs):
    """Workers run for days: never keep DEBUG's log of every SQL query."""
    settings.DEBUG = False


def install(app):
    worker_init.connect(_no_query_log, weak=False)
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
