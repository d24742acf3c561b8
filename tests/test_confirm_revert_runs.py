"""A confirm or revert is a run of its own (``action`` confirm / revert): the user's answer to a
move that left a server of a shared cloud in VERIFY_RESIZE, executed with Nova's rules, and refused
in Nova's words when there is nothing to answer."""
import pytest

from dashboard.presenters import stepper
from simulator import campaigns
from simulator.pipeline import InvalidRun, start_run
from simulator.report import build_report
from tests.factories import SMALL, TINY, ZERO, booted_server, finished_run


def left_in_verify_resize(cloud="demo", server="web", **overrides):
    """A resize of ``server`` in the shared cloud, left for the user to confirm or revert."""
    report = build_report(finished_run("custom", cloud=cloud, server=server, **overrides))
    assert report["server"]["status"] == "VERIFY_RESIZE"
    return report


def answer(action, server="web", **overrides):
    return build_report(finished_run("custom", cloud="demo", server=server, action=action, **overrides))


def test_a_confirm_run_confirms_the_resize_another_run_left_in_verify_resize(demo_cloud):
    resized = left_in_verify_resize()
    report = answer("confirm")

    assert report["label"] == "custom"
    assert report["injected"]["summary"] == "no failure injected · confirmResize · known bugs off"
    assert report["params"]["new_flavor"] is None  # a confirm sends no flavor
    server = report["server"]
    assert (server["status"], server["host"], server["flavor"]) == ("ACTIVE", "host2", "m1.small")
    assert report["migration"]["uuid"] == resized["migration"]["uuid"]
    assert report["migration"]["status"] == "confirmed"
    assert [(e["action"], e["event"], e["host"], e["result"]) for e in report["events"]] == [
        ("confirmResize", "compute_confirm_resize", "host1", "Success")]
    assert [s["name"] for s in report["steps"]] == ["compute.confirm_resize"]
    assert report["usages"]["after"] == {"host1": ZERO, "host2": SMALL, "host3": ZERO}
    assert report["audit"]["exit_code"] == 0
    # its page's stepper: the confirm alone
    assert [(stage["key"], stage["state"], stage["hosts"]) for stage in stepper(report)] == [
        ("confirm", "done", ["host1"])]


def test_a_revert_run_sends_the_server_back_to_its_source(demo_cloud):
    left_in_verify_resize()
    report = answer("revert")

    server = report["server"]
    assert (server["status"], server["host"], server["flavor"]) == ("ACTIVE", "host1", "m1.tiny")
    assert report["migration"]["status"] == "reverted"
    assert [(e["event"], e["host"], e["result"]) for e in report["events"]] == [
        ("compute_revert_resize", "host2", "Success"), ("compute_finish_revert_resize", "host1", "Success")]
    assert report["usages"]["after"] == {"host1": TINY, "host2": ZERO, "host3": ZERO}


def test_a_hosts_configured_failure_applies_to_a_confirm_run(demo_cloud):
    left_in_verify_resize()
    demo_cloud.hosts.filter(name="host1").update(failures=[{"point": "confirm_migration"}])
    report = answer("confirm")

    # confirm_migration raises MigrationPreCheckError on the source: ERROR on the dest, whose
    # allocation stays; the migration's on the source is deleted regardless (as in Nova).
    server = report["server"]
    assert (server["status"], server["host"]) == ("ERROR", "host2")
    assert server["fault"]["message"] == "Migration pre-check error: Simulated confirm_migration failure"
    assert report["migration"]["status"] == "error"
    assert report["usages"]["after"] == {"host1": ZERO, "host2": SMALL, "host3": ZERO}


def refused(**overrides):
    with pytest.raises(InvalidRun) as info:
        start_run("custom", overrides)
    return info.value


def test_confirming_a_server_that_was_not_resized_is_refused_with_novas_409(demo_cloud):
    server = booted_server(demo_cloud, "web")
    error = refused(cloud="demo", server="web", action="confirm")
    assert (error.status, error.message) == (
        409, f"Cannot 'confirmResize' instance {server.uuid} while it is in vm_state active")


def test_a_fresh_server_has_nothing_to_confirm_or_revert(db):
    # Nova 34 answers a confirmResize of an ACTIVE server 409, of one in vm_state resized without
    # a finished migration 400.
    error = refused(action="revert")
    assert error.status == 409 and error.message.endswith("while it is in vm_state active")
    assert error.message.startswith("Cannot 'revertResize' instance ")
    error = refused(action="confirm", vm_state="resized")
    assert (error.status, error.message) == (400, "Instance has not been resized.")


@pytest.mark.parametrize(
    "overrides, field, message",
    [
        ({"new_flavor": "m1.small"}, "new_flavor", "confirmResize sends no new_flavor: new_flavor goes with a resize."),
        ({"dest_host": "host2"}, "dest_host",
         "confirmResize sends no dest_host: dest_host goes with a cold migration."),
        ({"then": "revert"}, "then",
         "then follows a resize or migrate; action confirm is itself the user's confirmResize."),
    ],
)
def test_a_confirm_carries_nothing_but_itself(demo_cloud, overrides, field, message):
    error = refused(cloud="demo", server="web", action="confirm", **overrides)
    assert (error.status, error.field, error.message) == (400, field, message)


def test_campaigns_skip_a_confirm_nova_would_refuse(db):
    shown = campaigns.preview({"scenario": "custom", "axes": {"action": "all", "then": ["none", "confirm"]}})
    # resize and migrate, each left or confirmed: 4 runs; a confirm or revert of a fresh server is
    # Nova's 409, and one followed by a confirm is no request.
    assert (shown["runs"], shown["skipped"]) == (4, 4)
    assert dict(shown["skipped_reasons"]) == {
        "Cannot 'confirmResize' instance <uuid> while it is in vm_state active": 1,
        "Cannot 'revertResize' instance <uuid> while it is in vm_state active": 1,
        "then follows a resize or migrate; action confirm is itself the user's confirmResize.": 1,
        "then follows a resize or migrate; action revert is itself the user's revertResize.": 1,
    }
