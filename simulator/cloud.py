"""Building clouds: hosts with the fake driver's inventory, Nova's default flavors, servers;
and a run's cloud and server, prepared from its parameters."""
import uuid

from . import exceptions as exc
from . import placement
from .compute_api import lookup_flavor
from .context import PROJECT_ID, USER_ID
from .driver import inventory_for
from .models import Allocation, Cloud, Flavor, Host, Inventory, ResourceProvider, Server
from .params import DEFAULT_FLAVORS, ParamError, flavor_rows
from .placement import PlacementError
from .states import ConsumerType, MigrationStatus, PowerState, VmState


def ensure_flavors(cloud):
    for flavorid, name, vcpus, memory_mb, root_gb in DEFAULT_FLAVORS:
        Flavor.objects.get_or_create(
            cloud=cloud,
            flavorid=flavorid,
            defaults={"name": name, "vcpus": vcpus, "memory_mb": memory_mb, "root_gb": root_gb},
        )


def ensure_host(cloud, name, driver="FakeDriver"):
    """A compute host and its provider, reporting the driver's inventory (kept if present)."""
    host, _ = Host.objects.get_or_create(cloud=cloud, name=name, defaults={"driver": driver})
    provider, _ = ResourceProvider.objects.get_or_create(cloud=cloud, host=host, defaults={"name": name})
    for rc, fields in inventory_for(host.driver).items():
        Inventory.objects.get_or_create(provider=provider, resource_class=rc, defaults=fields)
    return host


def build_cloud(name, host_names, driver, description="", shared=False, flavors=DEFAULT_FLAVORS):
    """A fresh cloud: ``flavors`` (Nova's default ones) and ``host_names`` with ``driver``'s inventory."""
    cloud = Cloud.objects.create(name=name, description=description, shared=shared)
    Flavor.objects.bulk_create(
        Flavor(cloud=cloud, flavorid=flavorid, name=flavor, vcpus=vcpus, memory_mb=memory_mb, root_gb=root_gb)
        for flavorid, flavor, vcpus, memory_mb, root_gb in flavors
    )
    hosts = Host.objects.bulk_create(Host(cloud=cloud, name=host_name, driver=driver) for host_name in host_names)
    providers = ResourceProvider.objects.bulk_create(
        ResourceProvider(cloud=cloud, host=host, name=host.name) for host in hosts
    )
    inventory = inventory_for(driver)
    Inventory.objects.bulk_create(
        Inventory(provider=provider, resource_class=rc, **fields)
        for provider in providers
        for rc, fields in inventory.items()
    )
    return cloud


def boot_server(cloud, name, host, flavor, vm_state=VmState.ACTIVE):
    """A server already running on ``host``: its record and its flavor's allocation."""
    server = Server.objects.create(
        cloud=cloud,
        name=name,
        host=host,
        node=host.provider,
        flavor=flavor,
        vm_state=vm_state,
        power_state=PowerState.SHUTDOWN if vm_state == VmState.STOPPED else PowerState.RUNNING,
    )
    placement.put_allocations(
        cloud,
        server.uuid,
        {str(host.provider.uuid): {"resources": flavor.resources()}},
        None,
        ConsumerType.INSTANCE,
        PROJECT_ID,
        USER_ID,
    )
    return server


class HostInUse(Exception):
    """The host's provider still has servers or allocations (409 ``placement.resource_provider.inuse``)."""


def delete_host(host):
    """Delete a host and its provider, unless anything still lives or is allocated there."""
    if Server.objects.filter(host=host).exists() or Allocation.objects.filter(provider__host=host).exists():
        raise HostInUse(f"Unable to delete host {host.name}: its resource provider has allocations or servers.")
    host.delete()


def delete_server(server):
    """Delete a server and free its allocations.

    A server waiting in VERIFY_RESIZE has its resize confirmed on deletion (Nova's
    ``_confirm_resize_on_deleting``), so the allocation its migration holds on the source goes
    too; the migration record goes with the server.
    """
    if server.vm_state == VmState.RESIZED:
        for migration in server.migrations.filter(status__in=(MigrationStatus.FINISHED, MigrationStatus.CONFIRMING)):
            placement.delete_allocations(server.cloud, migration.uuid)
    placement.delete_allocations(server.cloud, server.uuid)
    server.delete()


def find_server(cloud, ref):
    """The server of ``cloud`` named ``ref`` (or whose uuid it is), or None."""
    query = Server.objects.filter(cloud=cloud).select_related("host", "flavor")
    server = query.filter(name=ref).first()
    if server is None:
        try:
            server = query.filter(uuid=uuid.UUID(ref)).first()
        except ValueError:  # not a uuid: no such server
            pass
    return server


def prepare(run, params):
    """A run's cloud (fresh from the template, the named one, or a fresh copy of the named one when
    it is imported from a real cloud: runs never change an imported cloud) and its server, booted if
    needed."""
    if params["cloud"]:
        cloud = Cloud.objects.get(name=params["cloud"])
        if cloud.is_imported:
            from .copies import copy_cloud

            cloud = copy_cloud(cloud, f"{cloud.name[:80]}-run-{run.pk}")
        server = find_server(cloud, params["server"])
    else:
        cloud = build_cloud(
            f"run-{run.pk}", params["hosts"], params["driver"], description=f"Built for run {run.pk} ({run.scenario})",
            flavors=flavor_rows(params),
        )
        server = None  # a fresh cloud has none yet
    if server is None:
        flavor = lookup_flavor(cloud, params["flavor"])
        if flavor is None:
            raise ParamError("flavor", exc.FlavorNotFound(flavor_id=params["flavor"]).format_message())
        host = Host.objects.select_related("provider").get(cloud=cloud, name=params["source_host"])
        try:
            server = boot_server(cloud, params["server"], host, flavor, params["vm_state"])
        except PlacementError as error:  # no room for the server on its host
            raise ParamError("source_host", f"Cannot boot {params['server']} on {host.name}: {error.detail}") from error
    return cloud, server
