"""Every step of a resize leaves the states of Nova's summary state machine.

The run is driven one cast at a time, and after each the server, the migration
and placement are read back from the database.
"""
import pytest

from simulator import placement
from simulator.models import Migration, Run, Server
from simulator.pipeline import execute_step
from tests.factories import SMALL, TINY, ZERO, started_run


def observe(run):
    server = Server.objects.select_related("host").get(pk=run.server_id)
    migration = Migration.objects.filter(server=server).first()
    return {
        "vm_state": server.vm_state,
        "task_state": server.task_state,
        "status": server.status,
        "migration": migration.status if migration else None,
        "host": server.host.name,
        "usages": placement.cloud_usages(run.cloud),
    }


def step(run):
    run.refresh_from_db()
    name = run.next_step
    execute_step(run.pk, run.seq)
    run.refresh_from_db()
    return name


HAPPY_PATH = [
    # step executed, vm_state, task_state, status, migration status, host, host1 usage, host2 usage
    ("conductor.migrate_server", "active", "resize_prep", "RESIZE", "pre-migrating", "host1", TINY, SMALL),
    ("compute.prep_resize", "active", "resize_prep", "RESIZE", "pre-migrating", "host1", TINY, SMALL),
    ("compute.resize_instance", "active", "resize_migrated", "RESIZE", "post-migrating", "host2", TINY, SMALL),
    ("compute.finish_resize", "resized", None, "VERIFY_RESIZE", "finished", "host2", TINY, SMALL),
]
CONFIRM = [
    ("api.confirm_resize", "resized", None, "VERIFY_RESIZE", "confirming", "host2", TINY, SMALL),
    ("compute.confirm_resize", "active", None, "ACTIVE", "confirmed", "host2", ZERO, SMALL),
]
REVERT = [
    ("api.revert_resize", "resized", "resize_reverting", "REVERT_RESIZE", "reverting", "host2", TINY, SMALL),
    ("compute.revert_resize", "resized", "resize_reverting", "REVERT_RESIZE", "reverted", "host2", TINY, SMALL),
    ("compute.finish_revert_resize", "active", None, "ACTIVE", "reverted", "host1", TINY, ZERO),
]


@pytest.mark.parametrize("then, tail", [("confirm", CONFIRM), ("revert", REVERT)])
def test_each_step_leaves_novas_states(db, then, tail):
    run = started_run(then=then)
    assert observe(run) == {
        "vm_state": "active",
        "task_state": "resize_prep",
        "status": "RESIZE",
        "migration": None,
        "host": "host1",
        "usages": {"host1": TINY, "host2": ZERO},
    }
    for expected_step, vm_state, task_state, status, migration, host, host1, host2 in HAPPY_PATH + tail:
        assert step(run) == expected_step
        assert observe(run) == {
            "vm_state": vm_state,
            "task_state": task_state,
            "status": status,
            "migration": migration,
            "host": host,
            "usages": {"host1": host1, "host2": host2},
        }, expected_step
    run.refresh_from_db()
    assert run.status == "done" and run.next_step == ""


def test_placement_consumers_during_the_resize_are_mig_on_source_and_inst_on_dest(db):
    run = started_run()
    step(run)  # conductor
    migration = Migration.objects.get(server_id=run.server_id)
    server = Server.objects.get(pk=run.server_id)
    on_source = placement.get_allocations(migration.uuid)
    on_dest = placement.get_allocations(server.uuid)
    assert on_source["consumer_type"] == "MIGRATION"
    assert list(on_source["allocations"].values())[0]["resources"] == TINY
    assert on_dest["consumer_type"] == "INSTANCE"
    assert list(on_dest["allocations"].values())[0]["resources"] == SMALL
    assert migration.migration_type == "resize"
    assert migration.old_flavor.name == "m1.tiny" and migration.new_flavor.name == "m1.small"


def test_prep_resize_fills_the_migration_dest(db):
    run = started_run()
    step(run)
    assert Migration.objects.get(server_id=run.server_id).dest_compute is None
    step(run)
    migration = Migration.objects.select_related("dest_compute", "dest_node").get(server_id=run.server_id)
    assert (migration.dest_compute.name, migration.dest_node.name) == ("host2", "host2")
    assert Server.objects.get(pk=run.server_id).new_flavor.name == "m1.small"


def test_a_step_delivered_twice_runs_once(db):
    run = started_run()
    seq = run.seq
    assert execute_step(run.pk, seq) == seq + 1
    usages = placement.cloud_usages(run.cloud)
    assert execute_step(run.pk, seq) is None  # redelivery of the conductor step
    assert placement.cloud_usages(run.cloud) == usages
    assert Migration.objects.filter(server_id=run.server_id).count() == 1
    assert Run.objects.get(pk=run.pk).steps.count() == 1


@pytest.mark.parametrize("then", ["confirm", "revert"])
def test_the_audit_finds_nothing_at_any_step_of_a_healthy_resize(db, then):
    from simulator.audit import audit_cloud

    run = started_run(then=then)
    seq = run.seq
    while seq is not None:
        findings = audit_cloud(run.cloud)
        assert findings["exit_code"] == 0, (Run.objects.get(pk=run.pk).next_step, findings)
        seq = execute_step(run.pk, seq)
    assert audit_cloud(run.cloud)["exit_code"] == 0
