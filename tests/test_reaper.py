"""The reaper re-sends casts whose message is in no queue, and gives up after a few tries."""
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from simulator.models import Run
from simulator.reaper import pending_task_ids, reap
from simulator.tasks import queue_for
from tests.factories import TINY, started_run


class FakeBroker:
    """The two Redis reads the reaper makes: queue lists and the unacked hash."""

    def __init__(self, queued=(), unacked=()):
        self.queued = {q: [json.dumps({"headers": {"id": t}}) for t in ids] for q, ids in dict(queued).items()}
        self.unacked = [json.dumps([{"headers": {"id": t}}, "", "q"]) for t in unacked]

    def lrange(self, queue, start, end):
        return self.queued.get(queue, [])

    def hvals(self, key):
        return self.unacked


@pytest.fixture
def stale_run(db, settings):
    settings.RUN_STALE_AFTER = 30
    settings.RUN_MAX_REDISPATCHES = 2
    run = started_run("resize-confirm")
    Run.objects.filter(pk=run.pk).update(progressed=timezone.now() - timedelta(seconds=60))
    return Run.objects.get(pk=run.pk)


def test_pending_ids_come_from_queues_and_unacked_messages():
    broker = FakeBroker(queued={"conductor": ["a"], "compute.host2": ["b"]}, unacked=["c"])
    assert pending_task_ids(broker, ["conductor"]) == {"a", "c"}


def test_pending_ids_skip_what_is_not_a_celery_message():
    broker = FakeBroker(queued={"conductor": ["a"]}, unacked=["b"])
    broker.queued["conductor"] += ["not json", json.dumps([]), json.dumps("text"), json.dumps({"body": "x"})]
    broker.unacked += [json.dumps([]), json.dumps([{"headers": None}, "", "q"]), b"\xff"]
    assert pending_task_ids(broker, ["conductor"]) == {"a", "b"}


def test_a_lost_cast_is_sent_again_under_a_new_task_id(stale_run, django_capture_on_commit_callbacks):
    sent = []
    with django_capture_on_commit_callbacks(execute=True):
        done = reap(FakeBroker(), lambda *cast: sent.append(cast), queue_for)
    run = Run.objects.get(pk=stale_run.pk)
    assert done == [f"run {run.pk}: conductor.migrate_server sent again (1)"]
    assert run.redispatches == 1 and run.task_id != stale_run.task_id
    assert sent == [(run.pk, 1, "conductor.migrate_server", "conductor", run.task_id)]


def test_a_cast_waiting_in_its_queue_is_left_alone(stale_run):
    assert reap(FakeBroker(queued={"conductor": [stale_run.task_id]}), pytest.fail, queue_for) == []
    assert reap(FakeBroker(unacked=[stale_run.task_id]), pytest.fail, queue_for) == []
    assert Run.objects.get(pk=stale_run.pk).redispatches == 0


def test_a_recent_run_is_not_stale(stale_run):
    Run.objects.filter(pk=stale_run.pk).update(progressed=timezone.now())
    assert reap(FakeBroker(), pytest.fail, queue_for) == []


def test_after_the_last_try_the_run_is_crashed_with_the_reason(stale_run):
    Run.objects.filter(pk=stale_run.pk).update(redispatches=2, error="conductor.migrate_server failed: KeyError('x')")
    assert reap(FakeBroker(), pytest.fail, queue_for) == [f"run {stale_run.pk}: crashed"]
    run = Run.objects.get(pk=stale_run.pk)
    assert run.status == "crashed"
    assert run.error == (
        "conductor.migrate_server on conductor never completed: sent 3 times. "
        "Last error: conductor.migrate_server failed: KeyError('x')"
    )
    assert run.next_step == "" and run.finished is not None
    assert run.after["usages"]["host1"] == TINY
    assert run.verdict["matched"] is False
