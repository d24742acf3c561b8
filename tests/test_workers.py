"""The pipeline on real Celery workers and a real Redis, in separate processes."""
import signal
import time

import pytest

from tests.live import SEED_STEPS, LiveStack, outcome


@pytest.fixture
def stack(tmp_path):
    live = LiveStack(tmp_path)
    live.start_redis()
    yield live
    live.close()


def test_the_seed_runs_step_by_step_on_the_worker(stack):
    stack.start_worker("w1", concurrency=2)
    report = stack.report(stack.start("--scenario", "bug-1825537"))

    assert report["status"] == "done"
    assert report["verdict"]["matched"] is True
    assert [(s["name"], s["queue"]) for s in report["steps"]] == SEED_STEPS
    assert all(s["worker"].startswith("w1@") and s["task_id"] for s in report["steps"])
    assert all(e["worker"].startswith("w1@") for e in report["events"])
    assert [e["queue"] for e in report["events"]][-1] == "compute.host2"
    assert outcome(report) == outcome(stack.in_process("--scenario", "bug-1825537"))


def test_each_step_runs_on_the_worker_that_owns_its_host(stack):
    stack.start_worker("control", queues=("conductor", "api", "compute.host1"), all_hosts=False)
    stack.start_worker("dest", queues=("compute.host2",), all_hosts=False)
    report = stack.report(stack.start("--scenario", "resize-revert"))

    assert report["verdict"]["matched"] is True
    owners = [(s["name"], s["host"], s["worker"].split("@")[0]) for s in report["steps"]]
    assert owners == [
        ("conductor.migrate_server", "conductor", "control"),
        ("compute.prep_resize", "host2", "dest"),
        ("compute.resize_instance", "host1", "control"),
        ("compute.finish_resize", "host2", "dest"),
        ("api.revert_resize", "api", "control"),
        ("compute.revert_resize", "host2", "dest"),
        ("compute.finish_revert_resize", "host1", "control"),
    ]


def test_a_stopped_compute_host_leaves_the_run_waiting_on_its_queue(stack):
    stack.start_worker("control", queues=("conductor", "api", "compute.host1"), all_hosts=False)
    run_id = stack.start("--scenario", "resize-confirm")
    stack.wait_for(run_id, lambda s: s["next_step"] == "compute.prep_resize")
    time.sleep(3)  # longer than RUN_STALE_AFTER: the reaper sees the message waiting, not lost
    state = stack.run_state(run_id)
    assert state == {
        "status": "running", "next_step": "compute.prep_resize", "next_host": "host2", "executing": "",
        "redispatches": 0, "seq": 2,
    }
    waiting = stack.report(run_id, wait=False)
    assert waiting["next_step"] == "compute.prep_resize" and waiting["next_host"] == "host2"

    stack.start_worker("host2", queues=("compute.host2",), all_hosts=False)  # the host comes back
    report = stack.report(run_id)
    assert report["verdict"]["matched"] is True
    assert report["redispatches"] == 0


def test_a_worker_killed_mid_step_is_replaced_and_the_run_ends_the_same(stack):
    worker = stack.start_worker("doomed")
    # Each step takes 2 s: ample time to kill the worker inside one, even on a loaded machine.
    run_id = stack.start("--scenario", "resize-confirm", "--step-delay", "2")
    stack.wait_for(run_id, lambda s: s["next_step"] == "compute.resize_instance" and s["executing"])
    stack.kill_worker(worker, signal.SIGKILL)  # the whole worker, in the middle of the step

    stack.start_worker("survivor")
    report = stack.report(run_id)
    assert report["status"] == "done"
    resize_instance = [s for s in report["steps"] if s["name"] == "compute.resize_instance"]
    assert len(resize_instance) == 1 and resize_instance[0]["worker"].startswith("survivor@")
    assert outcome(report) == outcome(stack.in_process("--scenario", "resize-confirm"))
    assert report["audit"]["exit_code"] == 0


def test_no_run_is_lost_when_redis_restarts_during_a_batch(stack):
    stack.start_worker("w1", concurrency=2)
    runs = stack.start_many(
        "bug-1825537", "resize-confirm", "resize-revert", "prep-resize-reschedule", "confirm-delete-conflict",
        "resize-instance-fails", step_delay=0.1,
    )
    # Six runs, two worker processes: casts wait in Redis. Kill it while at least three do, so
    # that some are lost whatever the worker takes meanwhile (it takes at most two).
    queues = ["conductor", "api", "compute.host1", "compute.host2", "compute.host3"]
    deadline = time.monotonic() + 30
    while stack.queued_messages(queues) < 3:
        assert time.monotonic() < deadline, "the casts never queued up"
        time.sleep(0.02)
    stack.kill_redis()  # every queued message is gone with it
    stack.start_redis()

    reports = stack.reports(runs, timeout=90)
    assert [r["status"] for r in reports] == ["done"] * len(runs)
    assert [r["verdict"]["matched"] for r in reports] == [True] * len(runs)
    assert sum(r["redispatches"] for r in reports) >= 1  # the lost casts were sent again
