"""A run's lifecycle, method by method (queued -> running -> done | crashed): ``hand_on``,
``finish``, ``crash``, ``duration``, and the selections of ``Run.objects`` that the workers and
the reaper make. tests/test_reaper.py covers ``send_again``."""
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from simulator.models import Run
from simulator.states import RunStatus
from tests.factories import TINY, ZERO, run_record, started_run

NEXT = ("compute.prep_resize", "host2")


# -- hand_on ---------------------------------------------------------------------------------
def test_hand_on_records_the_next_cast_under_a_new_task_id_and_sends_it_once_committed(
    db, django_capture_on_commit_callbacks
):
    run = started_run()
    first_task = run.task_id
    sent = []
    before = timezone.now()
    with django_capture_on_commit_callbacks() as callbacks:
        run.hand_on(NEXT, lambda *cast: sent.append(cast))
    assert sent == [] and len(callbacks) == 1  # sent on commit, not before

    assert (run.next_step, run.next_host) == NEXT
    assert run.task_id != first_task and str(uuid.UUID(run.task_id)) == run.task_id
    assert run.dispatched == run.progressed and run.dispatched >= before
    callbacks[0]()
    assert sent == [(run.pk, run.seq, "compute.prep_resize", "host2", run.task_id)]
    assert Run.objects.get(pk=run.pk).next_step == "conductor.migrate_server"  # the caller saves


def test_hand_on_without_a_sender_only_records_the_cast(db, django_capture_on_commit_callbacks):
    run = started_run()
    with django_capture_on_commit_callbacks() as callbacks:
        run.hand_on(NEXT)
    assert callbacks == []
    assert (run.next_step, run.next_host) == NEXT


# -- finish and crash --------------------------------------------------------------------------
def test_finish_takes_the_after_snapshot_audits_judges_and_clears_the_pending_cast(db):
    run = started_run()  # custom: the resize is requested, the conductor's cast pending
    run.executing = "w1@example"
    run.finish()

    assert (run.next_step, run.next_host, run.task_id, run.executing, run.dispatched) == ("", "", "", "", None)
    assert run.status == "done" and run.is_finished
    assert run.finished is not None and run.progressed is not None
    assert run.after["usages"] == {"host1": TINY, "host2": ZERO}
    assert (run.audit["exit_code"], run.audit["orphaned"], run.audit["missing"]) == (0, [], [])
    assert (run.verdict["result"], run.verdict["matched"]) == ("none", None)  # custom: nothing expected


def test_finish_judges_a_preset_run_against_its_expected_outcome(db):
    run = started_run("resize-confirm")
    run.finish()  # ended before the conductor moved anything: not what the preset expects
    assert run.verdict["matched"] is False
    assert "server.host: expected 'host2', got 'host1'" in run.verdict["mismatches"]


def test_crash_ends_the_run_with_its_reason(db):
    run = started_run("resize-confirm")
    run.crash("conductor.migrate_server on conductor never completed: sent 4 times.")

    assert (run.status, run.error, run.next_step) == (
        "crashed", "conductor.migrate_server on conductor never completed: sent 4 times.", ""
    )
    assert run.finished is not None and run.after["usages"]["host1"] == TINY
    assert run.verdict["matched"] is False
    assert run.verdict["mismatches"] == ["the run crashed: conductor.migrate_server on conductor never completed: sent 4 times."]


def test_an_aborted_crash_is_not_judged(db):
    run = started_run("resize-confirm")
    run.crash("Aborted by operator before conductor.migrate_server.", aborted=True)
    assert run.status == "crashed"
    assert (run.verdict["result"], run.verdict["matched"], run.verdict["mismatches"]) == ("aborted", None, [])


# -- duration ----------------------------------------------------------------------------------
def test_duration_runs_from_the_first_step_to_the_end():
    start = timezone.now()
    assert Run().duration is None
    assert Run(started=start).duration is None
    assert Run(finished=start).duration is None
    assert Run(started=start, finished=start + timedelta(seconds=2.5)).duration == 2.5


# -- Run.objects -------------------------------------------------------------------------------
def test_unfinished_runs_are_the_queued_and_running_ones(db):
    runs = {status: run_record(status=status) for status in RunStatus.values}
    assert set(Run.objects.unfinished()) == {runs["queued"], runs["running"]}


def test_stale_runs_wait_on_a_cast_and_gave_no_sign_of_life_since_the_cutoff(db):
    cutoff = timezone.now() - timedelta(seconds=30)
    before, after = cutoff - timedelta(seconds=1), cutoff + timedelta(seconds=1)
    waiting = {"next_step": "compute.prep_resize", "next_host": "host2"}
    silent = run_record(status="running", progressed=before, **waiting)
    never_progressed = run_record(status="queued", progressed=None, **waiting)
    run_record(status="running", progressed=after, **waiting)  # alive
    run_record(status="running", progressed=cutoff, **waiting)  # exactly at the cutoff: not yet
    run_record(status="running", progressed=before)  # waits on no cast
    run_record(status="done", progressed=before, **waiting)
    run_record(status="crashed", progressed=before, **waiting)
    assert set(Run.objects.stale(cutoff)) == {silent, never_progressed}


def test_executing_marks_unfinished_runs_running_on_the_worker(db):
    now = timezone.now()
    earlier = now - timedelta(minutes=1)
    queued = run_record(status="queued")
    running = run_record(status="running", started=earlier)
    done = run_record(status="done", started=earlier, progressed=earlier)

    assert Run.objects.all().executing("w1@example", now) == 2

    fields = ("status", "started", "executing", "progressed")
    assert Run.objects.values_list(*fields).get(pk=queued.pk) == ("running", now, "w1@example", now)
    assert Run.objects.values_list(*fields).get(pk=running.pk) == ("running", earlier, "w1@example", now)
    assert Run.objects.values_list(*fields).get(pk=done.pk) == ("done", earlier, "", earlier)


@pytest.mark.parametrize("length, kept", [(80, 80), (2500, 2000)])
def test_step_failed_says_why_on_the_run_and_frees_it(db, length, kept):
    run = run_record(status="running", executing="w1@example", next_step="compute.prep_resize")
    other = run_record(status="running", executing="w2@example")
    assert Run.objects.filter(pk=run.pk).step_failed("x" * length) == 1
    run.refresh_from_db()
    assert (run.error, run.executing, run.next_step) == ("x" * kept, "", "compute.prep_resize")
    assert Run.objects.get(pk=other.pk).executing == "w2@example"
