"""The compute API (``nova/compute/api.py``): the checks a resize, cold migration, confirm or
revert request passes before anything is cast, and Nova's HTTP answer when it does not. (The
body's schema, checked before all of these, is ``api_schema``'s.)"""
from types import SimpleNamespace

from django.db.models import Q

from . import exceptions as exc
from .context import CONDUCTOR
from .models import Flavor, Migration
from .params import ACTIONS, MOVES, flavor_rows
from .states import MigrationStatus, TaskState, VmState

# ``@check_instance_state`` of resize (which a cold migration is too).
MOVE_VM_STATES = (VmState.ACTIVE, VmState.STOPPED)
# The API's answer to a confirm or revert of a server without a finished migration (400).
NOT_RESIZED = "Instance has not been resized."


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


def check_movable(server, method):
    """What ``API.resize`` checks of the server before anything else (a resize's flavor, a
    migration's host): a state it can move from, its host's compute service up (409)."""
    _check_instance_state(server, method, MOVE_VM_STATES)
    _check_source_up(server)


def lookup_flavor(cloud, flavor_ref):
    """A flavor by flavorid (as Nova's API takes it) or by name; None if there is none."""
    return Flavor.objects.filter(Q(flavorid=flavor_ref) | Q(name=flavor_ref), cloud=cloud).first()


def _checked_flavor(current, new_flavor, flavor_ref):
    """The new flavor's checks of ``API.resize``: it exists, has a disk if the current one has,
    is enabled, and differs from the current one. Returns it, or refuses (400)."""
    try:
        if new_flavor is None:
            raise exc.FlavorNotFound(flavor_id=flavor_ref)
        if new_flavor.root_gb == 0 and current.root_gb != 0:
            raise exc.CannotResizeDisk(reason="Resize to zero disk flavor is not allowed.")
        if new_flavor.disabled:
            raise exc.FlavorNotFound(flavor_id=flavor_ref)
        if new_flavor.flavorid == current.flavorid:
            raise exc.CannotResizeToSameFlavor()
    except exc.NovaException as error:
        raise RequestRejected(400, error.format_message(), "new_flavor") from error
    return new_flavor


def _check_destination(host_name, source_name, exists):
    """``API._validate_host_for_cold_migrate``: not the source host, a host that exists (400).
    Whether its service is disabled or down is the scheduler's business, not the API's."""
    if host_name == source_name:
        raise RequestRejected(400, exc.CannotMigrateToSameHost().format_message(), "dest_host")
    if not exists:
        raise RequestRejected(400, exc.ComputeHostNotFound(host=host_name).format_message(), "dest_host")


def resize(ctx, flavor_ref):
    """``POST /servers/{id}/action {"resize": {"flavorRef": ...}}`` → 202. A resize takes no host
    (Nova's schema refuses one; ``compute_api.resize`` is always called without): the scheduler
    chooses, and may pick the source only with allow_resize_to_same_host."""
    server = ctx.server
    check_movable(server, "resize")
    new_flavor = _checked_flavor(server.flavor, lookup_flavor(ctx.cloud, flavor_ref), flavor_ref)
    ignore_hosts = [] if ctx.params.get("allow_resize_to_same_host") else [server.host.name]
    _send(ctx, "resize", new_flavor, ignore_hosts, None)


def migrate(ctx, host_name=None):
    """``POST /servers/{id}/action {"migrate": {"host": ...}}`` (the host from microversion 2.56) → 202:
    a cold migration keeps the flavor. The source host is never a candidate (the fake driver does
    not report COMPUTE_SAME_HOST_COLD_MIGRATE), whatever allow_resize_to_same_host says; a
    targeted one is never rescheduled."""
    server = ctx.server
    check_movable(server, "migrate")
    if host_name is not None:
        _check_destination(host_name, server.host.name, ctx.host_exists(host_name))
    _send(ctx, "migrate", server.flavor, [server.host.name], host_name)


def request(ctx):
    """The request a run sends, as its ``action`` parameter says: a resize, a cold migration, or a
    confirm or revert of a server left in VERIFY_RESIZE."""
    params = ctx.params
    if params["action"] == "confirm":
        confirm_resize(ctx)
    elif params["action"] == "revert":
        revert_resize(ctx)
    elif params["action"] == "migrate":
        migrate(ctx, params["dest_host"])
    else:
        resize(ctx, params["new_flavor"])


def refusal(params):
    """What the compute API answers the request of a run in a fresh cloud, known from its
    parameters alone — its server is booted in ``vm_state`` on the source host, whose service is
    up, with the flavors of ``flavor_rows``: a RequestRejected, or None when the request is
    accepted. Nova names the server by its uuid, which does not exist yet: ``<uuid>`` stands for
    it (as conformance normalises it). None for a shared cloud, whose server's state only the
    request itself can tell."""
    if params["cloud"]:
        return None
    server = SimpleNamespace(uuid="<uuid>", vm_state=params["vm_state"], task_state=None)
    flavors = [
        SimpleNamespace(flavorid=flavorid, name=name, root_gb=root_gb, disabled=False)
        for flavorid, name, _, _, root_gb in flavor_rows(params)
    ]

    def flavor(ref):
        return next((f for f in flavors if ref in (f.flavorid, f.name)), None)

    try:
        if params["action"] not in MOVES:
            # a fresh server was never resized: its state, else its missing migration, refuses it
            _check_instance_state(server, ACTIONS[params["action"]][1], (VmState.RESIZED,))
            raise RequestRejected(400, NOT_RESIZED, "action")
        if params["action"] == "migrate":
            _check_instance_state(server, "migrate", MOVE_VM_STATES)
            if params["dest_host"]:
                _check_destination(params["dest_host"], params["source_host"], params["dest_host"] in params["hosts"])
        else:
            _check_instance_state(server, "resize", MOVE_VM_STATES)
            _checked_flavor(flavor(params["flavor"]), flavor(params["new_flavor"]), params["new_flavor"])
    except RequestRejected as error:
        return error
    return None


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


def _finished_migration(ctx):
    """The migration a confirm or revert answers (``finished``: the server is VERIFY_RESIZE), which
    the run's later steps work on; 400 when the server has none."""
    migration = (
        Migration.objects.filter(server=ctx.server, status=MigrationStatus.FINISHED)
        .select_related("source_compute", "dest_compute", "source_node", "dest_node")
        .first()
    )
    if migration is None:
        raise RequestRejected(400, NOT_RESIZED, "then" if ctx.params.get("action") in MOVES else "action")
    ctx.migration = migration
    ctx.state["migration_id"] = migration.pk
    return migration


def confirm_resize(ctx):
    """``POST /servers/{id}/action {"confirmResize": null}`` → 204."""
    server = ctx.server
    _check_instance_state(server, "confirmResize", (VmState.RESIZED,))
    migration = _finished_migration(ctx)
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
    migration = _finished_migration(ctx)
    server.task_state = TaskState.RESIZE_REVERTING
    ctx.save_server(expected_task_state=(None,))
    migration.status = MigrationStatus.REVERTING
    migration.save()
    ctx.record_action("revertResize")
    ctx.cast("compute.revert_resize", migration.dest_compute.name)
