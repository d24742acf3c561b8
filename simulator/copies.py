"""Copies of an imported cloud, to replay runs on: "what if this server's resize fails at
finish_migration?" asked of the real capacities, without touching the import.

A copy has the imported cloud's hosts, providers with their real inventories, flavors, servers,
migrations, consumers and allocations. Uuids are unique across clouds, so the copy's providers,
servers, migrations and consumers get new ones; names stay, and a consumer keeps its label (the
copy of a migration's allocation is held by the copy of that migration). Runs and campaigns
name the copy as their cloud; its hosts run the fake driver with the injected failures.
"""
import uuid

from django.db import transaction

from .audit import audit_cloud, finding_key, findings
from .models import Allocation, Cloud, Consumer, Flavor, Host, Inventory, Migration, ResourceProvider, Server


class CopyRefused(Exception):
    """What cannot be copied: only imported clouds are."""


def copy_name(source):
    """The first free name "<source>-copy-N"."""
    taken = set(Cloud.objects.filter(name__startswith=f"{source.name}-copy-").values_list("name", flat=True))
    number = 1
    while f"{source.name}-copy-{number}" in taken:
        number += 1
    return f"{source.name}-copy-{number}"


@transaction.atomic
def copy_cloud(source, name=None):
    """A new cloud with everything ``source`` (an imported cloud) holds; returns it."""
    if not source.is_imported:
        raise CopyRefused(f"Cloud {source.name} is not an imported cloud: runs build their own or share it.")
    name = name or copy_name(source)
    if Cloud.objects.filter(name=name).exists():
        raise CopyRefused(f"There is already a cloud {name}.")
    cloud = Cloud.objects.create(
        name=name, description=f"Copy of {source.name}, for replays with its real capacities", copy_of=source
    )

    hosts = list(Host.objects.filter(cloud=source).order_by("pk"))
    new_hosts = Host.objects.bulk_create(
        Host(cloud=cloud, name=h.name, driver="FakeDriver", service_up=h.service_up) for h in hosts
    )
    host_map = {old.pk: new for old, new in zip(hosts, new_hosts)}

    providers = list(ResourceProvider.objects.filter(cloud=source).order_by("pk"))
    new_providers = ResourceProvider.objects.bulk_create(
        ResourceProvider(cloud=cloud, host=host_map[p.host_id], name=p.name, uuid=uuid.uuid4()) for p in providers
    )
    provider_map = {old.pk: new for old, new in zip(providers, new_providers)}
    Inventory.objects.bulk_create(
        Inventory(
            provider=provider_map[inv.provider_id],
            resource_class=inv.resource_class,
            total=inv.total,
            reserved=inv.reserved,
            min_unit=inv.min_unit,
            max_unit=inv.max_unit,
            step_size=inv.step_size,
            allocation_ratio=inv.allocation_ratio,
        )
        for inv in Inventory.objects.filter(provider__cloud=source)
    )

    flavors = list(Flavor.objects.filter(cloud=source).order_by("pk"))
    new_flavors = Flavor.objects.bulk_create(
        Flavor(
            cloud=cloud, flavorid=f.flavorid, name=f.name, vcpus=f.vcpus, memory_mb=f.memory_mb,
            root_gb=f.root_gb, ephemeral_gb=f.ephemeral_gb, swap=f.swap, disabled=f.disabled,
        )
        for f in flavors
    )
    flavor_map = {old.pk: new for old, new in zip(flavors, new_flavors)}

    def flavor(pk):
        return flavor_map[pk] if pk else None

    def host(pk):
        return host_map[pk] if pk else None

    def provider(pk):
        return provider_map[pk] if pk else None

    servers = list(Server.objects.filter(cloud=source).order_by("pk"))
    new_servers = Server.objects.bulk_create(
        Server(
            cloud=cloud, uuid=uuid.uuid4(), name=s.name, host=host(s.host_id), node=provider(s.node_id),
            flavor=flavor(s.flavor_id), old_flavor=flavor(s.old_flavor_id), new_flavor=flavor(s.new_flavor_id),
            vm_state=s.vm_state, task_state=s.task_state, power_state=s.power_state, old_vm_state=s.old_vm_state,
        )
        for s in servers
    )
    server_map = {old.pk: new for old, new in zip(servers, new_servers)}
    uuids = {str(old.uuid): new.uuid for old, new in zip(servers, new_servers)}

    migrations = list(Migration.objects.filter(cloud=source).order_by("pk"))
    new_migrations = Migration.objects.bulk_create(
        Migration(
            cloud=cloud, uuid=uuid.uuid4(), server=server_map[m.server_id],
            source_compute=host_map[m.source_compute_id], source_node=provider_map[m.source_node_id],
            dest_compute=host(m.dest_compute_id), dest_node=provider(m.dest_node_id),
            old_flavor=flavor_map[m.old_flavor_id], new_flavor=flavor_map[m.new_flavor_id],
            status=m.status, migration_type=m.migration_type,
        )
        for m in migrations
    )
    uuids.update({str(old.uuid): new.uuid for old, new in zip(migrations, new_migrations)})

    consumers = list(Consumer.objects.filter(cloud=source).order_by("pk"))
    new_consumers = Consumer.objects.bulk_create(
        Consumer(
            cloud=cloud, uuid=uuids.get(str(c.uuid)) or uuid.uuid4(), consumer_type=c.consumer_type,
            generation=1, project_id=c.project_id, user_id=c.user_id,
        )
        for c in consumers
    )
    consumer_map = {old.pk: new for old, new in zip(consumers, new_consumers)}
    Allocation.objects.bulk_create(
        Allocation(
            provider=provider_map[a.provider_id], consumer=consumer_map[a.consumer_id],
            resource_class=a.resource_class, used=a.used,
        )
        for a in Allocation.objects.filter(provider__cloud=source)
    )
    # What the audit finds now was in the imported cloud: a run here says so of what it finds again.
    audit = audit_cloud(cloud)
    cloud.inherited = [list(finding_key(kind, finding)) for kind, finding in findings(audit)]
    cloud.save(update_fields=["inherited"])
    return cloud
