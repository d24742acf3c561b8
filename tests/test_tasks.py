"""The Celery side of a run, in this process: the step tasks (applied eagerly, as a worker
would execute a delivered message), the casts they send, revokes, and the routing to queues.

No broker runs here: what would be published is recorded instead, and an unreachable broker
is a publish that raises kombu's OperationalError. tests/test_workers.py runs the same tasks
on real workers and a real Redis."""
import logging
import socket
import uuid

import pytest
from celery import current_app
from django.db import OperationalError as DatabaseBusy
from kombu.exceptions import OperationalError

from simulator import pipeline, tasks
from simulator.models import Run, RunStep
from simulator.pipeline import STEPS
from simulator.tasks import STEP_TASKS, cast, queue_for, revoke
from tests.factories import started_run


@pytest.fixture
def casts(monkeypatch):
    """The casts the step tasks send, recorded instead of published."""
    sent = []
    monkeypatch.setattr(tasks, "cast", lambda *args: sent.append(args))
    return sent


@pytest.fixture
def published(monkeypatch):
    """What ``cast`` hands to Celery, per step task: (args, options)."""
    calls = []
    for step, task in STEP_TASKS.items():
        monkeypatch.setattr(task, "apply_async", lambda args, step=step, **options: calls.append((step, args, options)))
    return calls


def deliver(run, queue, task_id=None):
    """Execute the run's pending cast as a worker executes a delivered message; the task's result."""
    run.refresh_from_db()
    return STEP_TASKS[run.next_step].apply(
        (run.pk, run.seq), task_id=task_id or run.task_id, routing_key=queue, throw=False
    )


# -- routing ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "step, host, queue",
    [
        ("conductor.migrate_server", "conductor", "conductor"),
        ("api.confirm_resize", "api", "api"),
        ("api.revert_resize", "api", "api"),
        ("compute.prep_resize", "host2", "compute.host2"),
        ("compute.finish_revert_resize", "host1", "compute.host1"),
        ("compute.resize_instance", "my-host.example", "compute.my-host.example"),
    ],
)
def test_a_cast_goes_to_its_services_queue(step, host, queue):
    assert queue_for(step, host) == queue


def test_every_step_is_a_task_named_after_nova_rpc():
    assert {step: task.name for step, task in STEP_TASKS.items()} == {step: f"nova.{step}" for step in STEPS}
    assert {step: (task.acks_late, task.reject_on_worker_lost) for step, task in STEP_TASKS.items()} == {
        step: (True, True) for step in STEPS
    }


# -- cast and revoke -------------------------------------------------------------------------
def test_cast_publishes_the_step_task_on_its_queue_under_the_task_id(published):
    cast(7, 3, "compute.resize_instance", "host1", "task-7-3")
    cast(7, 4, "api.confirm_resize", "api", "task-7-4")
    assert published == [
        ("compute.resize_instance", (7, 3), {"queue": "compute.host1", "task_id": "task-7-3"}),
        ("api.confirm_resize", (7, 4), {"queue": "api", "task_id": "task-7-4"}),
    ]


@pytest.mark.parametrize(
    "error", [OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused."), ConnectionRefusedError(111)]
)
def test_cast_to_an_unreachable_broker_logs_and_does_not_raise(monkeypatch, caplog, error):
    def unreachable(*args, **options):
        raise error

    monkeypatch.setattr(STEP_TASKS["compute.prep_resize"], "apply_async", unreachable)
    with caplog.at_level(logging.ERROR, logger="simulator"):
        assert cast(7, 2, "compute.prep_resize", "host2", "task-7-2") is None
    [record] = caplog.records
    assert record.levelname == "ERROR"
    assert record.getMessage() == (
        f"Could not send compute.prep_resize for run 7 ({error}); the reaper will send it again."
    )


def test_cast_does_not_swallow_other_errors(monkeypatch):
    def broken(*args, **options):
        raise TypeError("not JSON serializable")

    monkeypatch.setattr(STEP_TASKS["compute.prep_resize"], "apply_async", broken)
    with pytest.raises(TypeError):
        cast(7, 2, "compute.prep_resize", "host2", "task-7-2")


def test_revoke_asks_the_workers_to_drop_the_cast(monkeypatch):
    revoked = []
    monkeypatch.setattr(current_app.control, "revoke", revoked.append)
    revoke("task-7-2")
    assert revoked == ["task-7-2"]


def test_revoke_with_the_broker_down_logs_and_does_not_raise(monkeypatch, caplog):
    def unreachable(task_id):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(current_app.control, "revoke", unreachable)
    with caplog.at_level(logging.WARNING, logger="simulator"):
        revoke("task-7-2")
    assert [record.getMessage() for record in caplog.records] == [
        "Could not revoke task-7-2 (Error 111 connecting to 127.0.0.1:6379. Connection refused.); "
        "the step will find its run finished."
    ]


# -- a step task, delivered ------------------------------------------------------------------
def test_a_step_task_executes_its_step_and_casts_the_next_once_committed(
    db, casts, django_capture_on_commit_callbacks
):
    run = started_run("bug-1825537")
    first_task = run.task_id
    with django_capture_on_commit_callbacks() as callbacks:
        result = deliver(run, "conductor")
        assert casts == []  # nothing is sent before the step's transaction commits
    assert result.successful(), result.traceback
    for callback in callbacks:
        callback()

    run.refresh_from_db()
    assert (run.seq, run.next_step, run.next_host, run.executing, run.error) == (
        2, "compute.prep_resize", "host2", "", ""
    )
    assert run.task_id != first_task and uuid.UUID(run.task_id)
    assert casts == [(run.pk, 2, "compute.prep_resize", "host2", run.task_id)]
    step = RunStep.objects.get(run=run)
    assert (step.seq, step.name, step.host, step.queue, step.task_id, step.failed) == (
        1, "conductor.migrate_server", "conductor", "conductor", first_task, False
    )
    assert step.worker == socket.gethostname()  # the worker that executed it
    assert run.status == "running" and run.started is not None


def test_the_last_step_task_finishes_the_run_and_casts_nothing(db, casts, django_capture_on_commit_callbacks):
    run = started_run("resize-instance-fails")
    with django_capture_on_commit_callbacks(execute=True):
        for queue in ("conductor", "compute.host2", "compute.host1"):
            assert deliver(run, queue).successful()
    run.refresh_from_db()
    assert run.status == "done" and run.verdict["matched"] is True
    assert [cast_[2:4] for cast_ in casts] == [("compute.prep_resize", "host2"), ("compute.resize_instance", "host1")]
    assert list(run.steps.values_list("name", "queue")) == [
        ("conductor.migrate_server", "conductor"),
        ("compute.prep_resize", "compute.host2"),
        ("compute.resize_instance", "compute.host1"),
    ]


def test_a_redelivered_step_does_nothing(db, casts, django_capture_on_commit_callbacks):
    run = started_run("bug-1825537")
    first = (run.pk, run.seq, run.task_id)
    with django_capture_on_commit_callbacks(execute=True):
        assert deliver(run, "conductor").successful()
    after_first = Run.objects.values("seq", "next_step", "task_id", "pipeline_state").get(pk=run.pk)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        again = STEP_TASKS["conductor.migrate_server"].apply(first[:2], task_id=first[2], routing_key="conductor")
    assert again.successful() and again.result is None
    assert callbacks == [] and len(casts) == 1
    assert Run.objects.values("seq", "next_step", "task_id", "pipeline_state").get(pk=run.pk) == after_first
    assert RunStep.objects.filter(run=run).count() == 1


@pytest.mark.parametrize("step_delay, marked", [(0.01, socket.gethostname()), (0, "")])
def test_a_step_that_raises_is_recorded_on_the_run_and_rolled_back(db, casts, monkeypatch, step_delay, marked):
    """A step that takes time shows its worker meanwhile; an instant one is one transaction."""
    run = started_run("bug-1825537", step_delay=step_delay)
    executing = []

    def broken_context(run_, host, delivery):
        executing.append(Run.objects.get(pk=run_.pk).executing)
        raise KeyError("pipeline_state")

    monkeypatch.setattr(pipeline, "StepContext", broken_context)
    result = deliver(run, "conductor")

    assert result.failed() and isinstance(result.result, KeyError)
    assert executing == [marked]
    run.refresh_from_db()
    assert run.error == "conductor.migrate_server failed: KeyError('pipeline_state')"
    assert run.executing == ""
    # Nothing of the step was kept: the reaper sends the same cast again.
    assert (run.seq, run.next_step, run.next_host, run.status) == (1, "conductor.migrate_server", "conductor", "running")
    assert not run.steps.exists() and casts == []


def test_a_step_whose_database_is_busy_is_retried_by_the_task(db, casts, first_write_fails):
    """A deadlock or a locked database is no failure of the step: the task executes it again."""
    run = started_run("bug-1825537")
    refused = first_write_fails("simulator_migration", DatabaseBusy("database is locked"))
    result = deliver(run, "conductor")

    assert result.successful(), result.traceback
    assert len(refused) == 1
    run.refresh_from_db()
    assert (run.seq, run.next_step, run.error) == (2, "compute.prep_resize", "")
    assert list(run.steps.values_list("name", "failed")) == [("conductor.migrate_server", False)]


# -- what a step costs ----------------------------------------------------------------------------
# The seed run's SQL statements, request and step by step (bench/pipeline.py times them against a
# no-op Celery chain): a step that starts reading or writing row by row again fails here.
SEED_RUN_BUDGET = [
    ("nova-api: resize", 29),  # the run's fresh cloud, the boot, the 'before' snapshot, the request
    ("conductor.migrate_server", 38),
    ("compute.prep_resize", 14),
    ("compute.resize_instance", 16),
    ("compute.finish_resize", 45),  # and the end of the run: snapshot, audit, report, verdict
]


def test_the_seed_run_stays_within_its_sql_budget_step_by_step(db, django_assert_max_num_queries):
    from simulator.pipeline import execute_step, start_run

    (request, budget), *steps = SEED_RUN_BUDGET
    with django_assert_max_num_queries(budget, info=request):
        run = start_run("bug-1825537", {})
    for seq, (name, budget) in enumerate(steps, start=1):
        assert Run.objects.get(pk=run.pk).next_step == name
        with django_assert_max_num_queries(budget, info=name):
            execute_step(run.pk, seq)
    run.refresh_from_db()
    assert run.status == "done" and run.verdict["matched"] is True
