"""The seed: Nova's FinishResizeErrorAllocationCleanupTestCase, before and after the fix.

host1 boots the server with m1.tiny, the resize to m1.small goes to host2, and
host2's finish_migration raises VirtualInterfaceCreateException.
"""
import pytest

from tests.factories import SMALL, TINY, ZERO


def allocations_of(report, consumer_type):
    return [a for a in report["allocations"]["after"] if a["consumer_type"] == consumer_type]


@pytest.mark.parametrize("bugs", [["1825537"], []], ids=["bug-on", "bug-off"])
def test_server_ends_in_error_on_the_dest_with_the_vif_fault(resize, bugs):
    report = resize("bug-1825537", bugs=bugs)

    server = report["server"]
    assert report["status"] == "done"
    assert server["status"] == "ERROR"
    assert server["vm_state"] == "error"
    assert server["task_state"] is None
    assert server["host"] == "host2"
    assert server["node"] == "host2"
    assert "Virtual Interface creation failed" in server["fault"]["message"]
    assert server["fault"]["code"] == 500
    assert server["fault"]["details"].startswith("Traceback (most recent call last):")
    assert server["fault"]["details"].endswith(
        "nova.exception.VirtualInterfaceCreateException: Virtual Interface creation failed\n"
    )
    assert report["migration"]["status"] == "error"
    assert report["migration"]["source_compute"] == "host1"
    assert report["migration"]["dest_compute"] == "host2"
    # _finish_resize puts the old flavor back on the instance when the driver fails.
    assert server["flavor"] == "m1.tiny"


def test_before_the_resize_host1_holds_m1_tiny(resize):
    report = resize("bug-1825537")
    assert report["usages"]["before"] == {"host1": TINY, "host2": ZERO}


def test_with_the_bug_the_allocation_goes_back_to_host1_and_host2_shows_nothing(resize):
    report = resize("bug-1825537", bugs=["1825537"])

    assert report["usages"]["after"] == {"host1": TINY, "host2": ZERO}
    [instance] = allocations_of(report, "INSTANCE")
    assert instance["provider"] == "host1"
    assert instance["consumer_uuid"] == report["server"]["uuid"]
    assert instance["resources"] == TINY
    assert allocations_of(report, "MIGRATION") == []
    kinds = {kind: len(report["audit"][kind]) for kind in ("orphaned", "missing", "flavor_mismatch")}
    assert kinds == {"orphaned": 1, "missing": 1, "flavor_mismatch": 0}
    assert report["audit"]["orphaned"][0]["provider"] == "host1"
    assert report["audit"]["exit_code"] == 3


def test_after_the_fix_host2_keeps_m1_small_and_host1_is_freed(resize):
    report = resize("bug-1825537", bugs=[])

    assert report["usages"]["after"] == {"host1": ZERO, "host2": SMALL}
    [instance] = allocations_of(report, "INSTANCE")
    assert instance["provider"] == "host2"
    assert instance["resources"] == SMALL
    assert allocations_of(report, "MIGRATION") == []
    # Placement holds m1.small while the server's flavor was reset to m1.tiny.
    [mismatch] = report["audit"]["flavor_mismatch"]
    assert mismatch["provider"] == "host2"
    assert mismatch["allocated"] == SMALL
    assert report["audit"]["orphaned"] == [] and report["audit"]["missing"] == []


def test_after_the_fix_nova_logs_the_hard_reboot_hint(resize):
    report = resize("bug-1825537", bugs=[])
    finish = [s for s in report["steps"] if s["name"] == "compute.finish_resize"][0]
    messages = [line["message"] for line in finish["log"]]
    assert (
        "Deleting allocations for old flavor on source node host1 after finish_resize failure. "
        "You may be able to recover the instance by hard rebooting it."
    ) in messages


def test_instance_action_events_end_with_finish_resize_error_on_host2(resize):
    report = resize("bug-1825537")
    timeline = [(e["action"], e["event"], e["host"], e["result"]) for e in report["events"]]
    assert timeline == [
        ("resize", "conductor_migrate_server", "conductor", "Success"),
        ("resize", "cold_migrate", "conductor", "Success"),
        ("resize", "compute_prep_resize", "host2", "Success"),
        ("resize", "compute_resize_instance", "host1", "Success"),
        ("resize", "compute_finish_resize", "host2", "Error"),
    ]
    failed = report["events"][-1]
    assert failed["traceback"].startswith("  File ") and "in finish_migration" in failed["traceback"]
    assert failed["details"] == "Virtual Interface creation failed"
    assert len({e["request_id"] for e in report["events"]}) == 1


def test_the_preset_verdict_matches_with_the_bug_on_and_off(resize):
    assert resize("bug-1825537")["verdict"]["matched"] is True
    assert resize("bug-1825537", bugs=[])["verdict"]["matched"] is True
