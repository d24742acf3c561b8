"""nova-compute's resize steps (``nova/compute/manager.py``), each wrapped as in Nova."""
from . import exceptions as exc
from . import placement, reportclient
from .conductor import migrate_server
from .context import CONDUCTOR
from .states import ConsumerType, MigrationStatus, PowerState, TaskState, VmState
from .wrappers import (
    add_instance_fault_from_exc,
    error_out_instance_on_exception,
    errors_out_migration,
    errors_out_migration_ctxt,
    reverts_task_state,
    wrap_instance_event,
    wrap_instance_fault,
)


# -- shared helpers ---------------------------------------------------------------------
def _revert_allocation(ctx, race_point=None):
    """Give the migration's source allocation back to the instance (overwriting its
    allocation on the dest)."""
    migration = ctx.migration
    if not placement.get_allocations(migration.uuid)["allocations"]:
        ctx.log(
            "ERROR",
            "Did not find resource allocations for migration %s on source node %s. Unable to revert "
            "source node allocations back to the instance.",
            migration.uuid,
            migration.source_node.name,
        )
        return False
    ctx.log(
        "INFO",
        "Swapping old allocation on %s held by migration %s for instance",
        migration.source_node.name,
        migration.uuid,
    )
    reportclient.move_allocations(ctx, migration.uuid, ctx.server.uuid, ConsumerType.INSTANCE, race_point)
    return True


def _delete_allocation_after_move(ctx, race_point=None):
    migration = ctx.migration
    try:
        reportclient.delete_allocation_for_instance(ctx, migration.uuid, race_point)
    except exc.AllocationDeleteFailed:
        ctx.log(
            "ERROR",
            "Deleting allocation in placement for migration %s failed. The instance %s will be put to "
            "ERROR state but the allocation held by the migration is leaked.",
            migration.uuid,
            ctx.server.uuid,
        )
        raise


def _delete_stashed_flavor_info(ctx):
    ctx.server.old_flavor = None
    ctx.server.new_flavor = None
    ctx.server.old_vm_state = ""
    ctx.save_server()


# -- prep_resize (dest) -----------------------------------------------------------------
@reverts_task_state
@wrap_instance_event("compute")
@wrap_instance_fault
def prep_resize(ctx):
    with error_out_instance_on_exception(ctx, ctx.server.vm_state), errors_out_migration_ctxt(ctx):
        try:
            _prep_resize(ctx)
        except Exception as error:
            _revert_allocation(ctx)
            _reschedule_resize_or_reraise(ctx, error)


def _prep_resize(ctx):
    server, migration = ctx.server, ctx.migration
    if server.host is None:
        server.vm_state = VmState.ERROR
        ctx.save_server()
        raise exc.MigrationError(reason="Instance has no source host")
    driver = ctx.driver(ctx.service)
    same_host = server.host.name == ctx.service
    if same_host and migration.new_flavor_id == server.flavor_id and not driver.supports_migrate_to_same_host:
        raise exc.InstanceFaultRollback(
            inner_exception=exc.UnableToMigrateToSelf(instance_id=server.uuid, host=ctx.service)
        )
    server.new_flavor = migration.new_flavor
    server.old_vm_state = server.vm_state
    ctx.save_server()
    # resize_claim -> _move_claim: the migration learns its destination, then the claim runs.
    host = ctx.host(ctx.service)
    migration.dest_compute = host
    migration.dest_node = host.provider
    migration.status = MigrationStatus.PRE_MIGRATING
    ctx.save_migration()
    driver.resize_claim(server)
    ctx.cast("compute.resize_instance", server.host.name)


def _reschedule_resize_or_reraise(ctx, error):
    """Call the conductor back with the alternates (an RPC *call*: its exception comes
    back here), or re-raise ``error``."""
    retry = ctx.state.get("retry")
    if not retry:
        ctx.log("DEBUG", "Retry info not present, will not reschedule")
        raise error
    try:
        ctx.server.task_state = TaskState.RESIZE_PREP
        ctx.save_server()
        retry["exc"] = f"{type(error).__name__}: {exc.fault_fields(error)[1]}"
        retry["hosts"].append(ctx.service)
        with ctx.running_on(CONDUCTOR):
            migrate_server(ctx, host_list=list(ctx.state.get("host_list", [])))
    except Exception as reschedule_error:
        # E.g. the conductor's NoValidHost once the alternates are exhausted: a fault of
        # its own, before the original error's (which wrap_instance_fault records).
        ctx.log("ERROR", "Error trying to reschedule")
        add_instance_fault_from_exc(ctx, reschedule_error)
        raise error from None
    # Rescheduled: the original error is still recorded as a fault, and this returns
    # normally, so compute_prep_resize ends in Success while the resize goes on elsewhere.
    ctx.log("ERROR", "Error: %s", error)
    add_instance_fault_from_exc(ctx, error)
    ctx.rescheduled_from = error


# -- resize_instance (source) -----------------------------------------------------------
@reverts_task_state
@wrap_instance_event("compute")
@wrap_instance_fault
def resize_instance(ctx):
    try:
        with error_out_instance_on_exception(ctx, ctx.server.vm_state), errors_out_migration_ctxt(ctx):
            _resize_instance(ctx)
    except Exception:
        _revert_allocation(ctx)
        raise


def _resize_instance(ctx):
    server, migration = ctx.server, ctx.migration
    migration.status = MigrationStatus.MIGRATING
    ctx.save_migration()
    server.task_state = TaskState.RESIZE_MIGRATING
    ctx.save_server(expected_task_state=(TaskState.RESIZE_PREP,))
    ctx.driver(ctx.service).migrate_disk_and_power_off(server)
    server.power_state = PowerState.SHUTDOWN
    migration.status = MigrationStatus.POST_MIGRATING
    ctx.save_migration()
    # From here the DB says the server lives on the dest.
    server.host = migration.dest_compute
    server.node = migration.dest_node
    server.old_flavor = server.flavor
    server.task_state = TaskState.RESIZE_MIGRATED
    ctx.save_server(expected_task_state=(TaskState.RESIZE_MIGRATING,))
    ctx.cast("compute.finish_resize", migration.dest_compute.name)


# -- finish_resize (dest) ---------------------------------------------------------------
@reverts_task_state
@wrap_instance_event("compute")
@errors_out_migration
@wrap_instance_fault
def finish_resize(ctx):
    try:
        with error_out_instance_on_exception(ctx):
            _finish_resize(ctx)
    except Exception:
        if ctx.bug("1825537"):
            # Rocky..Stein: put the old flavor back on the source, although the
            # server now lives on the dest.
            _revert_allocation(ctx)
        else:
            ctx.log(
                "INFO",
                "Deleting allocations for old flavor on source node %s after finish_resize failure. "
                "You may be able to recover the instance by hard rebooting it.",
                ctx.migration.source_compute.name,
            )
            _delete_allocation_after_move(ctx)
        raise


def _finish_resize(ctx):
    server, migration = ctx.server, ctx.migration
    old_flavor = server.old_flavor or server.flavor
    new_flavor = server.new_flavor or migration.new_flavor
    flavor_changed = old_flavor.pk != new_flavor.pk
    if flavor_changed:
        server.flavor = new_flavor
    server.task_state = TaskState.RESIZE_FINISH
    ctx.save_server(expected_task_state=(TaskState.RESIZE_MIGRATED,))
    power_on = server.old_vm_state != VmState.STOPPED
    try:
        ctx.driver(ctx.service).finish_migration(server)
    except Exception:
        if flavor_changed:
            server.flavor = old_flavor
        raise
    server.power_state = PowerState.RUNNING if power_on else PowerState.SHUTDOWN
    migration.status = MigrationStatus.FINISHED
    ctx.save_migration()
    server.vm_state = VmState.RESIZED
    server.task_state = None
    ctx.save_server(expected_task_state=(TaskState.RESIZE_FINISH,))


# -- confirm_resize (source) ------------------------------------------------------------
@wrap_instance_event("compute")
@errors_out_migration
@wrap_instance_fault
def confirm_resize(ctx):
    migration = ctx.migration
    if migration.status == MigrationStatus.CONFIRMED:
        ctx.log("INFO", "Migration %s is already confirmed", migration.uuid)
        return
    if migration.status not in (MigrationStatus.FINISHED, MigrationStatus.CONFIRMING):
        ctx.log(
            "WARNING",
            "Unexpected confirmation status '%s' of migration %s, exit confirmation process",
            migration.status,
            migration.uuid,
        )
        return
    with error_out_instance_on_exception(ctx):
        try:
            _confirm_resize(ctx)
        except Exception:
            ctx.log(
                "ERROR",
                "Confirm resize failed on source host %s. Resource allocations in the placement service "
                "will be removed regardless because the instance is now on the destination host %s. You "
                "can try hard rebooting the instance to correct its state.",
                migration.source_compute.name,
                migration.dest_compute.name,
            )
            raise
        finally:
            _delete_allocation_after_move(ctx, race_point="confirm_delete")
            _delete_stashed_flavor_info(ctx)


def _confirm_resize(ctx):
    server, migration = ctx.server, ctx.migration
    ctx.driver(ctx.service).confirm_migration(server)
    migration.status = MigrationStatus.CONFIRMED
    ctx.save_migration()
    server.vm_state = VmState.STOPPED if server.power_state == PowerState.SHUTDOWN else VmState.ACTIVE
    server.task_state = None
    ctx.save_server()


# -- revert_resize (dest) and finish_revert_resize (source) -----------------------------
@reverts_task_state
@wrap_instance_event("compute")
@errors_out_migration
@wrap_instance_fault
def revert_resize(ctx):
    migration = ctx.migration
    with error_out_instance_on_exception(ctx):
        ctx.driver(ctx.service).destroy(ctx.server)
        migration.status = MigrationStatus.REVERTED
        ctx.save_migration()
        ctx.cast("compute.finish_revert_resize", migration.source_compute.name)


@reverts_task_state
@wrap_instance_event("compute")
@errors_out_migration
@wrap_instance_fault
def finish_revert_resize(ctx):
    server, migration = ctx.server, ctx.migration
    try:
        with error_out_instance_on_exception(ctx):
            if server.old_flavor_id:
                server.flavor = server.old_flavor
            server.host = migration.source_compute
            server.node = migration.source_node
            try:
                _revert_allocation(ctx, race_point="revert_move")
            except exc.AllocationMoveFailed:
                ctx.log(
                    "ERROR",
                    "Reverting allocation in placement for migration %s failed. The instance %s will be put "
                    "into ERROR state but the allocation held by the migration is leaked.",
                    migration.uuid,
                    server.uuid,
                )
                raise
            ctx.driver(ctx.service).finish_revert_migration(server)
            power_on = server.old_vm_state != VmState.STOPPED
            server.power_state = PowerState.RUNNING if power_on else PowerState.SHUTDOWN
            server.vm_state = VmState.ACTIVE if power_on else VmState.STOPPED
            server.task_state = None
            ctx.save_server(expected_task_state=(TaskState.RESIZE_REVERTING,))
    finally:
        _delete_stashed_flavor_info(ctx)
