"""The compute API (``nova/compute/api.py``): the checks a resize, confirm or revert
request passes before anything is cast, and Nova's HTTP answer when it does not."""
from django.db.models import Q

from . import exceptions as exc
from .context import CONDUCTOR
from .models import Flavor, Migration
from .states import MigrationStatus, TaskState, VmState


class RequestRejected(Exception):
    """The API refused the request: ``status`` is the HTTP code Nova answers with."""

    def __init__(self, status, message, field=None):
        self.status = status
        self.message = message
        self.field = field
        super().__init__(message)


def _check_instance_state(server, method, vm_states, task_states=(None,)):
    """``@check_instance_state``: 409 outside the allowed states."""
    for attr, value, allowed in (
        ("vm_state", server.vm_state, vm_states),
        ("task_state", server.task_state, task_states),
    ):
        if value not in allowed:
            raise RequestRejected(
                409, f"Cannot '{method}' instance {server.uuid} while it is in {attr} {value}", "server"
            )


def _check_source_up(server):
    """``@check_instance_host(check_is_up=True)``."""
    if server.host is None or not server.host.service_up:
        raise RequestRejected(409, exc.ServiceUnavailable().format_message(), "source_host")


def lookup_flavor(cloud, flavor_ref):
    """A flavor by flavorid (as Nova's API takes it) or by name; None if there is none."""
    return Flavor.objects.filter(Q(flavorid=flavor_ref) | Q(name=flavor_ref), cloud=cloud).first()


def resize(ctx, flavor_ref):
    """``POST /servers/{id}/action {"resize": {"flavorRef": ...}}`` → 202."""
    server = ctx.server
    _check_instance_state(server, "resize", (VmState.ACTIVE, VmState.STOPPED))
    _check_source_up(server)
    try:
        new_flavor = lookup_flavor(ctx.cloud, flavor_ref)
        if new_flavor is None:
            raise exc.FlavorNotFound(flavor_id=flavor_ref)
        if new_flavor.root_gb == 0 and server.flavor.root_gb != 0:
            raise exc.CannotResizeDisk(reason="Resize to zero disk flavor is not allowed.")
        if new_flavor.disabled:
            raise exc.FlavorNotFound(flavor_id=flavor_ref)
        if new_flavor.pk == server.flavor_id:
            raise exc.CannotResizeToSameFlavor()
    except exc.NovaException as error:
        raise RequestRejected(400, error.format_message(), "new_flavor") from error

    ignore_hosts = [] if ctx.params.get("allow_resize_to_same_host") else [server.host.name]
    _send(ctx, "resize", new_flavor, ignore_hosts, ctx.params.get("dest_host") or None)


def migrate(ctx, host_name=None):
    """``POST /servers/{id}/action {"migrate": {"host": ...}}`` (the host from microversion 2.56) → 202:
    a cold migration keeps the flavor. The source host is never a candidate (the fake driver does
    not report COMPUTE_SAME_HOST_COLD_MIGRATE), whatever allow_resize_to_same_host says."""
    server = ctx.server
    _check_instance_state(server, "migrate", (VmState.ACTIVE, VmState.STOPPED))
    _check_source_up(server)
    if host_name is not None:
        if host_name == server.host.name:
            raise RequestRejected(400, exc.CannotMigrateToSameHost().format_message(), "dest_host")
        if not ctx.host_exists(host_name):
            raise RequestRejected(400, exc.ComputeHostNotFound(host=host_name).format_message(), "dest_host")
    _send(ctx, "migrate", server.flavor, [server.host.name], host_name)


def _send(ctx, action, flavor, ignore_hosts, destination):
    """What resize and migrate share once accepted: the request spec, task_state resize_prep, the
    instance action, and the cast to the conductor."""
    server = ctx.server
    ctx.state["request_spec"] = {
        "flavor_id": flavor.pk,
        "resources": flavor.resources(),
        "ignore_hosts": ignore_hosts,
        "requested_destination": destination,
    }
    server.task_state = TaskState.RESIZE_PREP
    ctx.save_server(expected_task_state=(None,))
    ctx.record_action(action)
    ctx.cast("conductor.migrate_server", CONDUCTOR)


def _finished_migration(server):
    migration = (
        Migration.objects.filter(server=server, status=MigrationStatus.FINISHED)
        .select_related("source_compute", "dest_compute")
        .first()
    )
    if migration is None:
        raise RequestRejected(400, "Instance has not been resized.", "then")
    return migration


def confirm_resize(ctx):
    """``POST /servers/{id}/action {"confirmResize": null}`` → 204."""
    server = ctx.server
    _check_instance_state(server, "confirmResize", (VmState.RESIZED,))
    migration = _finished_migration(server)
    if not migration.source_compute.service_up:
        raise RequestRejected(409, exc.ServiceUnavailable().format_message(), "then")
    migration.status = MigrationStatus.CONFIRMING
    migration.save()
    ctx.record_action("confirmResize")
    ctx.cast("compute.confirm_resize", migration.source_compute.name)


def revert_resize(ctx):
    """``POST /servers/{id}/action {"revertResize": null}`` → 202."""
    server = ctx.server
    _check_instance_state(server, "revertResize", (VmState.RESIZED,))
    migration = _finished_migration(server)
    server.task_state = TaskState.RESIZE_REVERTING
    ctx.save_server(expected_task_state=(None,))
    migration.status = MigrationStatus.REVERTING
    migration.save()
    ctx.record_action("revertResize")
    ctx.cast("compute.revert_resize", migration.dest_compute.name)
