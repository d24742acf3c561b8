"""nova-conductor's cold-migrate task and the scheduler it calls
(``nova/conductor/manager.py``, ``nova/conductor/tasks/migrate.py``, ``nova/scheduler``)."""
from . import exceptions as exc
from . import placement, reportclient
from .models import Migration
from .states import ConsumerType, MigrationStatus, MigrationType, ResourceClass, VmState
from .wrappers import add_instance_fault_from_exc, event_reporter, wrap_instance_event


@wrap_instance_event("conductor")
def migrate_server(ctx, host_list=None):
    """``ComputeTaskManager.migrate_server``; ``host_list`` is set when a compute reschedules."""
    _cold_migrate(ctx, host_list)


def _cold_migrate(ctx, host_list):
    with event_reporter(ctx, "cold_migrate"):
        task = MigrationTask(ctx, host_list)
        try:
            task.execute()
        except exc.NoValidHost as error:
            _set_vm_state_and_notify(ctx, error)
            reason = "No valid host found for resize" if task.is_resize else "No valid host found for cold migrate"
            raise exc.NoValidHost(reason=reason) from error
        except Exception as error:
            _set_vm_state_and_notify(ctx, error)
            raise


def _set_vm_state_and_notify(ctx, error):
    """The server keeps its vm_state (ACTIVE or STOPPED), loses its task, and gets a fault."""
    server = ctx.server
    server.vm_state = server.vm_state or VmState.ACTIVE
    server.task_state = None
    ctx.save_server()
    add_instance_fault_from_exc(ctx, error)


class MigrationTask:
    """``MigrationTask``: migration record, allocation swap, scheduling, cast to the dest."""

    def __init__(self, ctx, host_list):
        self.ctx = ctx
        self.host_list = host_list
        self.server = ctx.server
        self.new_flavor = ctx.flavors[ctx.state["request_spec"]["flavor_id"]]
        self.is_resize = self.new_flavor.pk != self.server.flavor_id
        self.held_allocations = False

    def execute(self):
        """``rollback_wrapper``: any failure errors out the migration and gives the
        source allocation back to the instance."""
        try:
            self._execute()
        except Exception:
            self.rollback()
            raise

    def rollback(self):
        migration = self.ctx.migration
        if migration is not None:
            migration.status = MigrationStatus.ERROR
            self.ctx.save_migration()
        if self.held_allocations:
            try:
                reportclient.move_allocations(
                    self.ctx, migration.uuid, self.server.uuid, ConsumerType.INSTANCE
                )
            except exc.AllocationMoveFailed:
                self.ctx.log(
                    "ERROR",
                    "Unable to replace resource claim on source host %s node %s for instance",
                    migration.source_compute.name,
                    migration.source_node.name,
                )

    def _execute(self):
        spec = self.ctx.state["request_spec"]
        self._populate_retry(spec)
        migration = self._preallocate_migration()
        self._replace_allocation_with_migration(migration)
        if self.host_list is not None:
            selected = self._reschedule()
        else:
            selected = self._schedule(spec)
        self.ctx.cast("compute.prep_resize", selected)

    def _populate_retry(self, spec):
        max_attempts = self.ctx.params["max_attempts"]
        if spec.get("requested_destination") or max_attempts <= 1:
            self.ctx.state.pop("retry", None)
        elif self.host_list is None:
            self.ctx.state["retry"] = {"num_attempts": 1, "hosts": []}
        else:
            self.ctx.state["retry"]["num_attempts"] += 1

    def _preallocate_migration(self):
        """Re-use the ``pre-migrating`` migration of a reschedule, or create one."""
        ctx = self.ctx
        if ctx.migration is not None and ctx.migration.status == MigrationStatus.PRE_MIGRATING:
            return ctx.migration
        ctx.migration = Migration.objects.create(
            cloud=ctx.cloud,
            server=self.server,
            source_compute=self.server.host,
            source_node=self.server.node,
            old_flavor=self.server.flavor,
            new_flavor=self.new_flavor,
            status=MigrationStatus.PRE_MIGRATING,
            migration_type=MigrationType.RESIZE if self.is_resize else MigrationType.MIGRATION,
        )
        ctx.state["migration_id"] = ctx.migration.pk
        return ctx.migration

    def _replace_allocation_with_migration(self, migration):
        """Hand the instance's source allocation to the migration consumer."""
        ctx = self.ctx
        source_rp = str(self.server.node.uuid)
        if source_rp not in placement.get_allocations(self.server.uuid)["allocations"]:
            ctx.log("DEBUG", "Instance %s has no allocations on source node %s", self.server.uuid, self.server.node.name)
            return
        if not reportclient.move_allocations(
            ctx, self.server.uuid, migration.uuid, ConsumerType.MIGRATION, race_point="conductor_move"
        ):
            ctx.log(
                "ERROR",
                "Unable to replace resource claim on source host %s node %s for instance",
                migration.source_compute.name,
                migration.source_node.name,
            )
            raise exc.NoValidHost(reason="Unable to replace instance claim on source")
        self.held_allocations = True

    def _schedule(self, spec):
        """``select_destinations`` (a call to the scheduler): claim on the best host,
        keep up to ``max_attempts - 1`` alternates."""
        ctx = self.ctx
        with ctx.running_on("scheduler"):
            for failure in ctx.injected_failures():
                if failure.point == "select_destinations":
                    failure.raise_for(self.server, "scheduler")
        resources = self.new_flavor.resources()
        # A requested destination narrows Placement's query (in_tree).
        allowed = [h.name for h in ctx.hosts() if spec["requested_destination"] in (None, h.name)]
        candidates = placement.allocation_candidates(ctx.cloud, resources, provider_names=allowed)
        if not candidates:
            raise exc.NoValidHost(reason="")
        # The host manager strips the ignored hosts from what Placement offered, and ComputeFilter
        # drops a host whose service is down.
        candidates = [
            c for c in candidates if c["provider"].host.name not in spec["ignore_hosts"] and c["provider"].host.service_up
        ]
        if not candidates:
            raise exc.NoValidHost(reason="There are not enough hosts available.")
        # RAMWeigher: most free memory first; ties by name for a stable order.
        candidates.sort(
            key=lambda c: (
                -(c["summary"][ResourceClass.MEMORY_MB]["capacity"] - c["summary"][ResourceClass.MEMORY_MB]["used"]),
                c["provider"].name,
            )
        )
        for index, candidate in enumerate(candidates):
            if reportclient.claim_resources(ctx, candidate["provider"], resources):
                others = [c["provider"].host.name for c in candidates[index + 1 :]]
                retry = ctx.state.get("retry")
                max_attempts = ctx.params["max_attempts"]
                ctx.state["host_list"] = others[: max_attempts - 1] if retry else []
                return candidate["provider"].host.name
        raise exc.NoValidHost(reason="There are not enough hosts available.")

    def _reschedule(self):
        """Claim on the alternates in order; none left is MaxRetriesExceeded."""
        ctx = self.ctx
        resources = self.new_flavor.resources()
        while self.host_list:
            host_name = self.host_list.pop(0)
            if reportclient.claim_resources(ctx, ctx.host(host_name).provider, resources):
                ctx.state["host_list"] = list(self.host_list)
                return host_name
        ctx.state["host_list"] = []
        raise exc.MaxRetriesExceeded(
            reason=f"Exhausted all hosts available for retrying build failures for instance {self.server.uuid}."
        )
