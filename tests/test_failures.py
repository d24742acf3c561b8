"""What each injected failure does, as Nova handles it (reference §4)."""
import pytest

from simulator.pipeline import execute_step, start_run
from simulator.report import build_report
from simulator.presets import SCENARIOS
from tests.factories import SMALL, TINY, ZERO, finished_run


def kinds(report):
    return {kind: len(report["audit"][kind]) for kind in ("orphaned", "missing", "flavor_mismatch")}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_every_preset_ends_as_nova_does(resize, name):
    report = resize(name)
    assert report["verdict"]["matched"] is True, report["verdict"]["mismatches"]
    assert report["verdict"]["expected"] is not None


def test_a_run_that_leaves_the_preset_has_no_expectation(resize):
    report = resize("bug-1825537", new_flavor="m1.medium")
    assert report["verdict"]["matched"] is None
    assert report["verdict"]["expected"] is None


def test_verdict_lists_what_differs(resize, db):
    from simulator.verdicts import verdict

    report = resize("resize-confirm")
    report["server"]["host"] = "host1"
    report["usages"]["after"]["host2"] = ZERO
    result = verdict("resize-confirm", report["params"], report)
    assert result["matched"] is False
    assert "server.host: expected 'host2', got 'host1'" in result["mismatches"]
    assert any(m.startswith("usages.after.host2") for m in result["mismatches"])


CLAIM_FAILED = "Insufficient compute resources: Simulated prep_resize failure."


def rows(report):
    """The instance action event rows in creation order: (event, host, result, finished)."""
    return [(e["event"], e["host"], e["result"], e["finish_time"] is not None) for e in report["events"]]


def action_message(report):
    from simulator.models import InstanceAction

    [request_id] = {e["request_id"] for e in report["events"]}
    return InstanceAction.objects.get(request_id=request_id).message


def test_reschedule_records_the_first_failure_but_lands_on_the_alternate(resize):
    report = resize("prep-resize-reschedule")
    assert report["server"]["status"] == "VERIFY_RESIZE"
    assert report["server"]["host"] == "host3"
    assert report["server"]["fault"] is None  # the API shows faults only for ERROR
    [fault] = report["faults"]
    assert (fault["code"], fault["message"], fault["host"]) == (400, CLAIM_FAILED, "host2")
    assert fault["details"] == ""  # tracebacks are kept for code 500 only
    assert report["usages"]["after"] == {"host1": TINY, "host2": ZERO, "host3": SMALL}
    assert report["migration"]["status"] == "finished"
    assert report["migration"]["dest_compute"] == "host3"
    steps = [(s["name"], s["host"], s["failed"]) for s in report["steps"]]
    assert steps == [
        ("conductor.migrate_server", "conductor", False),
        ("compute.prep_resize", "host2", True),  # its claim failed; it rescheduled
        ("compute.prep_resize", "host3", False),
        ("compute.resize_instance", "host1", False),
        ("compute.finish_resize", "host3", False),
    ]
    assert report["steps"][1]["error"] == CLAIM_FAILED


def test_a_reschedule_ends_the_failed_hosts_event_in_success_and_leaves_the_repeats_unfinished(resize):
    """Nova 34: _reschedule_resize_or_reraise returns normally after a good reschedule, and
    action_event_finish updates the first row of a name in the (shared) action."""
    report = resize("prep-resize-reschedule")
    assert rows(report) == [
        ("conductor_migrate_server", "conductor", "Success", True),
        ("cold_migrate", "conductor", "Success", True),
        ("compute_prep_resize", "host2", "Success", True),
        ("conductor_migrate_server", "conductor", None, False),
        ("cold_migrate", "conductor", None, False),
        ("compute_prep_resize", "host3", None, False),
        ("compute_resize_instance", "host1", "Success", True),
        ("compute_finish_resize", "host3", "Success", True),
    ]
    unfinished = [e for e in report["events"] if e["result"] is None]
    assert all(e["finish_time"] is None and e["details"] is None and e["traceback"] is None for e in unfinished)
    # host3's finish landed on host2's row, after host2's own.
    host2_row = report["events"][2]
    assert host2_row["finish_time"] > report["events"][5]["start_time"]
    assert action_message(report) is None  # no event ended in Error


def test_exhausted_reschedules_end_in_error_with_every_fault_nova_records(resize):
    report = resize("prep-resize-reschedule-exhausted")
    server = report["server"]
    assert (server["status"], server["vm_state"], server["task_state"], server["host"], server["flavor"]) == (
        "ERROR", "error", None, "host1", "m1.tiny"
    )
    faults = [(f["code"], f["message"], f["host"], bool(f["details"])) for f in report["faults"]]
    assert faults == [
        (400, CLAIM_FAILED, "host2", False),
        (
            500,
            "Exceeded maximum number of retries. Exhausted all hosts available for retrying build failures "
            f"for instance {server['uuid']}.",
            "conductor",
            True,
        ),
        (500, "No valid host was found. No valid host found for resize", "host3", True),  # the failed call back
        (400, CLAIM_FAILED, "host3", False),
    ]
    assert server["fault"]["message"] == CLAIM_FAILED  # the API shows the latest
    assert report["migration"]["status"] == "error"
    assert report["usages"]["after"] == {"host1": TINY, "host2": ZERO, "host3": ZERO}
    assert rows(report) == [
        ("conductor_migrate_server", "conductor", "Error", True),
        ("cold_migrate", "conductor", "Error", True),
        ("compute_prep_resize", "host2", "Error", True),
        ("conductor_migrate_server", "conductor", None, False),
        ("cold_migrate", "conductor", None, False),
        ("compute_prep_resize", "host3", None, False),
        ("conductor_migrate_server", "conductor", None, False),
        ("cold_migrate", "conductor", None, False),
    ]
    # The last writers of the first rows: the conductor's NoValidHost, host3's claim failure.
    details = [e["details"] for e in report["events"][:3]]
    assert details == ["No valid host was found. No valid host found for resize"] * 2 + [CLAIM_FAILED]
    assert action_message(report) == "Error"


def test_requested_destination_is_not_rescheduled(resize):
    report = resize("custom", action="migrate", hosts=["host1", "host2", "host3"], dest_host="host2",
                    fail_at="prep_resize")
    assert report["server"]["status"] == "ERROR"
    assert report["server"]["host"] == "host1"
    assert [e["event"] for e in report["events"]].count("compute_prep_resize") == 1
    assert report["usages"]["after"] == {"host1": TINY, "host2": ZERO, "host3": ZERO}


def test_requested_destination_is_where_the_migration_goes(resize):
    report = resize("custom", action="migrate", hosts=["host1", "host2", "host3"], dest_host="host3")
    assert report["server"]["host"] == "host3"
    assert report["usages"]["after"]["host3"] == TINY


def test_a_migration_to_a_host_whose_service_is_down_is_accepted_and_finds_no_valid_host(demo_cloud):
    # Nova 34: the API accepts it (202: it checks only that the host exists and is not the source);
    # Placement offers host3, ComputeFilter drops it: NoValidHost, the server stays ACTIVE on host1.
    demo_cloud.hosts.filter(name="host3").update(service_up=False)
    report = build_report(finished_run("custom", cloud="demo", server="web", action="migrate", dest_host="host3"))

    assert (report["server"]["status"], report["server"]["host"]) == ("ACTIVE", "host1")
    assert report["migration"]["status"] == "error"
    assert [f["message"] for f in report["faults"]] == ["No valid host was found. There are not enough hosts available."]
    assert [(e["event"], e["result"]) for e in report["events"]] == [
        ("conductor_migrate_server", "Error"), ("cold_migrate", "Error")]


def test_instance_fault_rollback_at_prep_resize_restores_active_with_the_inner_fault(resize):
    report = resize(
        "custom", fail_at="prep_resize", exception="InstanceFaultRollback", inner_exception="UnableToMigrateToSelf",
        fail_host="host2", max_attempts=1,
    )
    server = report["server"]
    assert (server["status"], server["vm_state"], server["task_state"]) == ("ACTIVE", "active", None)
    assert report["migration"]["status"] == "error"
    [fault] = report["faults"]
    assert fault["message"] == f"Unable to migrate instance ({server['uuid']}) to current host (host2)."
    assert fault["code"] == 400
    assert report["usages"]["after"] == {"host1": TINY, "host2": ZERO}


def test_a_plain_exception_is_recorded_by_its_class_name(resize):
    report = resize("custom", fail_at="finish_migration", exception="TestingException")
    assert report["server"]["fault"]["message"] == "TestingException"
    assert report["server"]["fault"]["details"].endswith("nova.test.TestingException: Simulated finish_migration failure\n")


def test_scheduler_failure_keeps_the_server_active_and_hides_the_fault(resize):
    report = resize("custom", fail_at="select_destinations")
    assert report["server"]["status"] == "ACTIVE"
    assert report["server"]["fault"] is None
    assert [f["message"] for f in report["faults"]] == ["No valid host was found. Simulated select_destinations failure"]
    assert report["events"][-1]["details"] == "No valid host was found. No valid host found for resize"
    assert report["migration"]["status"] == "error"
    assert report["usages"]["after"] == {"host1": TINY, "host2": ZERO}


def test_claim_conflict_is_nova_s_allocation_update_failed(resize):
    report = resize("scheduler-claim-conflict")
    conductor = report["events"][0]
    assert conductor["event"] == "conductor_migrate_server" and conductor["result"] == "Error"
    assert "claim_resources" in conductor["traceback"]
    uuid = report["server"]["uuid"]
    message = (
        f"Failed to update allocations for consumer {uuid}. Error: another process changed the consumer "
        f"{uuid} after the report client read the consumer state during the claim "
    )
    [fault] = report["faults"]
    assert (fault["code"], fault["message"], fault["host"]) == (500, message, "conductor")
    assert [(e["event"], e["result"], e["details"]) for e in report["events"]] == [
        ("conductor_migrate_server", "Error", message),
        ("cold_migrate", "Error", message),
    ]
    assert report["server"]["status"] == "ACTIVE" and report["server"]["host"] == "host1"
    assert report["migration"]["status"] == "error"
    assert report["usages"]["after"] == {"host1": TINY, "host2": ZERO}


def test_move_conflict_traceback_names_move_allocations(resize):
    report = resize("conductor-move-conflict")
    assert "move_allocations" in report["events"][0]["traceback"]


def test_confirm_delete_conflict_leaks_the_migration_allocation(resize):
    report = resize("confirm-delete-conflict")
    [orphan] = report["audit"]["orphaned"]
    assert orphan["consumer_type"] == "MIGRATION"
    assert orphan["consumer_uuid"] == report["migration"]["uuid"]
    assert orphan["provider"] == "host1" and orphan["resources"] == TINY
    log = [line["message"] for step in report["steps"] for line in step["log"]]
    assert any("the allocation held by the migration is leaked" in message for message in log)


def test_destroy_failing_on_revert_puts_the_server_in_error(resize):
    report = resize("custom", then="revert", fail_at="destroy", fail_host="host2")
    assert report["server"]["status"] == "ERROR"
    assert report["server"]["host"] == "host2"
    assert report["migration"]["status"] == "error"
    assert report["events"][-1]["event"] == "compute_revert_resize"
    assert report["events"][-1]["result"] == "Error"


def test_finish_revert_migration_failing_after_the_allocation_moved_back(resize):
    report = resize("custom", then="revert", fail_at="finish_revert_migration", fail_host="host1")
    assert report["server"]["status"] == "ERROR"
    assert report["server"]["host"] == "host1"
    assert report["server"]["flavor"] == "m1.tiny"
    assert report["usages"]["after"] == {"host1": TINY, "host2": ZERO}
    assert kinds(report) == {"orphaned": 0, "missing": 0, "flavor_mismatch": 0}


def test_resizing_a_stopped_server_keeps_it_stopped(resize):
    report = resize("custom", vm_state="stopped", then="confirm")
    assert report["server"]["status"] == "SHUTOFF"
    assert report["server"]["vm_state"] == "stopped"
    assert report["server"]["power_state"] == 4


def test_a_down_dest_is_not_scheduled(resize, demo_cloud):
    demo_cloud.hosts.filter(name="host2").update(service_up=False)
    report = resize("custom", cloud="demo")
    assert report["server"]["host"] == "host3"


def test_failure_configured_on_a_host_applies_to_every_run_there(resize, demo_cloud):
    host2 = demo_cloud.hosts.get(name="host2")
    host2.failures = [{"point": "finish_migration", "exception": "VirtualInterfaceCreateException"}]
    host2.save()
    demo_cloud.hosts.filter(name="host3").update(service_up=False)
    report = resize("custom", cloud="demo")
    assert report["server"]["fault"]["message"] == "Virtual Interface creation failed"
    assert report["server"]["host"] == "host2"


def test_runs_in_the_demo_cloud_share_its_capacity(resize, demo_cloud):
    first = resize("custom", cloud="demo", server="a", then="confirm")
    second = resize("custom", cloud="demo", server="b", then="confirm")
    assert first["cloud"] == second["cloud"] == "demo"
    after = second["usages"]["after"]
    assert sum(u["MEMORY_MB"] for u in after.values()) == 2 * 2048
    # "before" is just before b's resize request: b booted on host1, a's m1.small on host2.
    assert second["usages"]["before"]["host1"] == TINY
    assert second["usages"]["before"]["host2"] == first["usages"]["after"]["host2"] == SMALL


def test_a_task_state_changed_under_a_step_is_an_unexpected_task_state(db):
    from simulator.models import Server
    from simulator.pipeline import execute_step, run_to_completion, start_run
    from simulator.report import build_report

    run = start_run("custom", {})
    execute_step(run.pk, 1)  # conductor
    execute_step(run.pk, 2)  # prep_resize on host2
    Server.objects.filter(pk=run.server_id).update(task_state=None)  # someone reset the state
    report = build_report(run_to_completion(run))
    event = report["events"][-1]
    assert (event["event"], event["result"]) == ("compute_resize_instance", "Error")
    assert event["details"].startswith(f"Conflict updating instance {report['server']['uuid']}. Expected: ")
    assert "Actual: {'task_state': None}" in event["details"]


def test_a_deadlock_in_a_step_is_retried_not_recorded_as_novas_fault(db, first_write_fails):
    """A database error is infrastructure, not Nova's outcome: even when Nova's failure handling
    catches it (here in finish_resize's placement write), the step rolls back whole and runs again."""
    from django.db import OperationalError

    from simulator.models import InstanceFault, Run

    run = start_run("bug-1825537", {"bugs": []})
    for seq in (1, 2, 3):
        execute_step(run.pk, seq)
    failed = first_write_fails("simulator_allocation", OperationalError("deadlock detected"))
    with pytest.raises(OperationalError, match="deadlock detected"):
        execute_step(run.pk, 4)  # compute.finish_resize
    assert failed
    run.refresh_from_db()
    assert (run.seq, run.next_step, run.steps.count()) == (4, "compute.finish_resize", 3)  # nothing of it kept
    assert not InstanceFault.objects.filter(server=run.server).exists()

    assert execute_step(run.pk, 4) is None  # delivered again: this time it runs
    report = build_report(Run.objects.get(pk=run.pk))
    assert report["verdict"]["matched"] is True
    assert [f["message"] for f in report["faults"]] == ["Virtual Interface creation failed"]


def test_a_targeted_cold_migration_keeps_the_flavor_and_goes_where_it_is_sent(db):
    report = build_report(finished_run("custom", action="migrate", hosts=["host1", "host2", "host3"],
                                       dest_host="host3", then="confirm"))

    assert (report["server"]["status"], report["server"]["host"], report["server"]["flavor"]) == ("ACTIVE", "host3", "m1.tiny")
    assert (report["migration"]["migration_type"], report["migration"]["status"]) == ("migration", "confirmed")
    assert report["usages"]["after"]["host3"] == TINY and report["usages"]["after"]["host2"] == ZERO
    assert {e["action"] for e in report["events"]} == {"migrate", "confirmResize"}


def test_a_resize_on_a_one_host_cloud_finds_no_other_host_as_nova_words_it(resize):
    """Placement offers the source host; the scheduler's host manager then strips it (the ignored
    source): Nova 34's reason is "There are not enough hosts available."."""
    report = resize("custom", hosts=["host1"])
    assert report["server"]["status"] == "ACTIVE" and report["server"]["host"] == "host1"
    assert [f["message"] for f in report["faults"]] == [
        "No valid host was found. There are not enough hosts available."
    ]
    assert report["migration"]["status"] == "error"
    assert report["usages"]["after"] == {"host1": TINY}
