"""Importing a real cloud, read-only: Placement's providers, inventories, usages and allocations,
Nova's servers, migrations and flavors, stored as a cloud the dashboard draws and audits like a
simulated one.

Reading and storing are apart. ``read_placement`` and ``read_compute`` send GETs only (``Reader``
has no other method), and the ``from_osc_*`` functions read what the ``openstack`` command prints
with ``-f json``; each gives plain data. ``store`` turns that data into a cloud: every provider
with its inventory of the classes the simulator knows (VCPU, MEMORY_MB, DISK_GB), every
allocation, and each consumer labelled by cross-referencing Nova (Nova sets no consumer type in
Placement): a migration's uuid is a migration's allocation, a server's uuid an instance's,
anything else is unknown. The audit (``simulator.audit``) then judges it with Nova's rules.
"""
import json
import math
import uuid as uuidlib
from collections import Counter, defaultdict
from datetime import datetime, timezone
from urllib.parse import urljoin

from django.db import transaction

from .models import Allocation, Cloud, Consumer, Flavor, Host, Inventory, Migration, ResourceProvider, Server
from .states import MIGRATION_DONE_STATUSES, RESOURCE_CLASSES, ConsumerType, PowerState, VmState

# GET /resource_providers at 1.14 gives each provider's parent and root; every field read here
# exists since then, and openstack-placement 16.0.0 serves up to 1.39.
PLACEMENT_VERSION = "1.14"
# Nova's compute API: 2.47 embeds each server's flavor (vcpus, ram, disk, ephemeral, swap,
# original_name) in its body; 2.59 gives each migration its uuid, which is its Placement consumer.
COMPUTE_VERSION = "2.59"
INVENTORY_FIELDS = ("total", "reserved", "min_unit", "max_unit", "step_size", "allocation_ratio")


class ImportFailed(Exception):
    """The import cannot go on: an unreachable or refusing endpoint, a file that is not what the
    openstack command prints, a cloud that would clash with one already imported."""


# -- reading --------------------------------------------------------------------------------------
class Reader:
    """A read-only client of one OpenStack endpoint: it sends GETs, and nothing else."""

    def __init__(self, url, token=None, headers=None, timeout=30, session=None):
        import requests

        self.url = url.rstrip("/") + "/"
        self.session = session or requests.Session()
        self.headers = {"Accept": "application/json", **(headers or {})}
        if token:
            self.headers["X-Auth-Token"] = token
        self.timeout = timeout
        self.requests = 0

    def get(self, path, params=None):
        """The JSON document at ``path`` (relative to the endpoint), or ImportFailed."""
        import requests

        url = urljoin(self.url, path.lstrip("/"))
        self.requests += 1
        try:
            response = self.session.get(url, params=params, headers=self.headers, timeout=self.timeout)
        except requests.RequestException as error:
            raise ImportFailed(f"Cannot reach {url}: {error}") from error
        if response.status_code != 200:
            raise ImportFailed(f"GET {url} answered {response.status_code}: {_why(response)}")
        try:
            return response.json()
        except ValueError as error:
            raise ImportFailed(f"GET {url} answered something that is not JSON") from error


def _why(response):
    """An OpenStack error response in a line: Placement's ``errors[0].detail``, Nova's
    ``{"itemNotFound": {"message"}}``, keystonemiddleware's ``error.message``, or the text."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300] or response.reason
    if isinstance(body, dict):
        if body.get("errors"):
            error = body["errors"][0]
            return f"{error.get('title', '')}: {' '.join(str(error.get('detail', '')).split())}".strip(": ")
        for value in body.values():
            if isinstance(value, dict) and "message" in value:
                return str(value["message"])
        if "message" in body:
            return " ".join(str(body["message"]).replace("<br />", " ").split())
    return json.dumps(body)[:300]


class KeystoneSession:
    """A token and the service catalog Keystone issued for a password login."""

    def __init__(self, token, catalog, region=None):
        self.token, self.catalog, self.region = token, catalog, region

    def endpoint(self, service_type, interface="public"):
        """The catalog's ``interface`` URL of ``service_type`` (in ``region`` when given), or None."""
        for service in self.catalog:
            if service.get("type") != service_type:
                continue
            for endpoint in service.get("endpoints", []):
                if endpoint.get("interface") == interface and self.region in (None, endpoint.get("region_id"), endpoint.get("region")):
                    return endpoint["url"]
        return None


def keystone_session(auth_url, username, password, project_name, user_domain="Default", project_domain="Default",
                     region=None, session=None):
    """Log in to Keystone v3 with a password, scoped to a project: the one request of an import that
    is not a GET (it asks Keystone for a token; nothing of the cloud is changed)."""
    import requests

    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": username, "domain": {"name": user_domain}, "password": password}},
            },
            "scope": {"project": {"name": project_name, "domain": {"name": project_domain}}},
        }
    }
    url = auth_url.rstrip("/")
    url = url if url.endswith("/v3") else f"{url}/v3"
    try:
        response = (session or requests.Session()).post(f"{url}/auth/tokens", json=body, timeout=30)
    except requests.RequestException as error:
        raise ImportFailed(f"Cannot reach Keystone at {url}: {error}") from error
    if response.status_code != 201:
        raise ImportFailed(f"Keystone refused the login ({response.status_code}): {_why(response)}")
    return KeystoneSession(response.headers["X-Subject-Token"], response.json()["token"].get("catalog", []), region)


def read_placement(url, token=None, session=None, attempts=3):
    """Every resource provider of the Placement at ``url``, with its inventories, usages and
    allocations by consumer, as ``store`` takes them. A provider whose generation moved between
    the reads of its inventories, usages and allocations is read again (``attempts`` times)."""
    reader = Reader(url, token, {"OpenStack-API-Version": f"placement {PLACEMENT_VERSION}"}, session=session)
    versions = reader.get("/").get("versions") or [{}]
    providers = []
    for provider in reader.get("/resource_providers")["resource_providers"]:
        base = f"/resource_providers/{provider['uuid']}"
        for _ in range(attempts):
            inventories = reader.get(f"{base}/inventories")
            usages = reader.get(f"{base}/usages")
            allocations = reader.get(f"{base}/allocations")
            generations = {
                document["resource_provider_generation"] for document in (inventories, usages, allocations)
            }
            if len(generations) == 1:
                break
        else:
            raise ImportFailed(f"Resource provider {provider['name']} kept changing while it was read: try again.")
        providers.append(
            {
                "uuid": provider["uuid"],
                "name": provider["name"],
                "generation": generations.pop(),
                "parent_provider_uuid": provider.get("parent_provider_uuid"),
                "root_provider_uuid": provider.get("root_provider_uuid"),
                "inventories": inventories["inventories"],
                "usages": usages["usages"],
                "allocations": {
                    _uuid(consumer, "Consumer"): body["resources"] for consumer, body in allocations["allocations"].items()
                },
            }
        )
    return {
        "url": url,
        "max_version": versions[0].get("max_version"),
        "providers": providers,
        "requests": reader.requests,
    }


def read_compute(url, token=None, session=None):
    """Nova's servers (all projects), migrations and flavors from the compute endpoint at ``url``
    (``…/v2.1``), as ``store`` takes them: ``GET /servers/detail?all_tenants=1``,
    ``GET /os-migrations`` and ``GET /flavors/detail?is_public=None``, following their pages."""
    reader = Reader(url, token, {"OpenStack-API-Version": f"compute {COMPUTE_VERSION}",
                                 "X-OpenStack-Nova-API-Version": COMPUTE_VERSION}, session=session)
    servers = _pages(reader, "/servers/detail", "servers", {"all_tenants": "1"})
    migrations = _pages(reader, "/os-migrations", "migrations", {})
    flavors = _pages(reader, "/flavors/detail", "flavors", {"is_public": "None"})
    return {
        "source": url,
        "servers": [_compute_server(server) for server in servers],
        "migrations": [_compute_migration(migration) for migration in migrations],
        "flavors": [_compute_flavor(flavor) for flavor in flavors],
        "requests": reader.requests,
    }


def _pages(reader, path, key, params):
    """Every item of a paginated Nova list: its ``<key>_links`` "next" pages, by marker."""
    items, params = [], dict(params)
    while True:
        document = reader.get(path, params=params)
        page = document.get(key, [])
        items.extend(page)
        following = [link for link in document.get(f"{key}_links", []) if link.get("rel") == "next"]
        if not following or not page:
            return items
        params["marker"] = page[-1].get("uuid") or page[-1]["id"]


def _compute_server(body):
    flavor = body.get("flavor") or {}
    return {
        "uuid": _uuid(body["id"], "Server id"),
        "name": body.get("name") or body["id"],
        "status": body.get("status"),
        "vm_state": body.get("OS-EXT-STS:vm_state"),
        "task_state": body.get("OS-EXT-STS:task_state"),
        "power_state": body.get("OS-EXT-STS:power_state"),
        "node": body.get("OS-EXT-SRV-ATTR:hypervisor_hostname"),
        "flavor": {
            "name": flavor.get("original_name") or flavor.get("id"),
            **({key: flavor[key] for key in ("vcpus", "ram", "disk", "ephemeral", "swap") if key in flavor}),
        },
        "project_id": body.get("tenant_id") or "",
        "user_id": body.get("user_id") or "",
    }


def _compute_migration(body):
    return {
        "id": body.get("id"),
        "uuid": _uuid(body["uuid"], "Migration uuid") if body.get("uuid") else None,
        "server_uuid": _uuid(body["instance_uuid"], "Migration instance_uuid"),
        "status": body.get("status"),
        "migration_type": body.get("migration_type"),
        "source_node": body.get("source_node"),
        "dest_node": body.get("dest_node"),
        "old_flavor": body.get("old_instance_type_id"),
        "new_flavor": body.get("new_instance_type_id"),
    }


def _compute_flavor(body):
    return {
        "id": str(body["id"]),
        "name": body["name"],
        "vcpus": body.get("vcpus"),
        "ram": body.get("ram"),
        "disk": body.get("disk"),
        "ephemeral": body.get("OS-FLV-EXT-DATA:ephemeral", 0),
        "swap": body.get("swap"),
    }


# -- what the openstack command prints ----------------------------------------------------------------
# python-openstackclient 10.5.0's column headers (openstackclient/compute/v2/server.py ListServer,
# server_migration.py ListMigration, flavor.py ListFlavor); -f json prints a list of objects
# keyed by them. Power State is the number (its formatter's machine-readable value); Host is the
# hypervisor hostname, the name of the compute node's resource provider.
SERVER_COLUMNS = ("ID", "Name", "Status", "Task State", "Power State", "Host")
MIGRATION_COLUMNS = ("UUID", "Source Node", "Dest Node", "Status", "Server UUID", "Old Flavor", "New Flavor")
FLAVOR_COLUMNS = ("ID", "Name", "RAM", "Disk", "Ephemeral", "VCPUs")
_POWER_STATES = {label.upper(): value for value, label in PowerState.choices} | {"SHUTDOWN": PowerState.SHUTDOWN}


def _rows(text, what, columns, command):
    """The list of objects ``openstack … -f json`` printed, checked for ``columns``."""
    try:
        rows = json.loads(text)
    except ValueError as error:
        raise ImportFailed(f"The {what} file is not JSON ({error}): give what `{command}` prints.") from error
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise ImportFailed(f"The {what} file is not a list of objects: give what `{command}` prints.")
    for row in rows:
        absent = [column for column in columns if column not in row]
        if absent:
            raise ImportFailed(
                f"The {what} file lacks the column{'s' if len(absent) > 1 else ''} {', '.join(absent)}: "
                f"give what `{command}` prints."
            )
    return rows


SERVERS_COMMAND = "openstack server list --all-projects --long -f json"
MIGRATIONS_COMMAND = "openstack server migration list -f json"
FLAVORS_COMMAND = "openstack flavor list --all --long -f json"


def _uuid(value, what):
    """A uuid as Placement writes it (lower case, with dashes), or ImportFailed."""
    try:
        return str(uuidlib.UUID(str(value)))
    except ValueError:
        raise ImportFailed(f"{what} {value!r} is not a uuid.") from None


def from_osc_servers(text):
    """Servers from what ``openstack server list --all-projects --long -f json`` prints. Its
    Status and Task State give vm_state (Nova's status map read backwards)."""
    servers = []
    for row in _rows(text, "servers", SERVER_COLUMNS, SERVERS_COMMAND):
        power = row["Power State"]
        if isinstance(power, str):
            power = _POWER_STATES.get(power.upper(), PowerState.NOSTATE)
        servers.append(
            {
                "uuid": _uuid(row["ID"], "Server ID"),
                "name": row["Name"] or row["ID"],
                "status": row["Status"],
                "vm_state": None,
                "task_state": row["Task State"] or None,
                "power_state": power,
                "node": row["Host"] or None,
                # Flavor (microversion 2.47 and later: the embedded flavor's name), else Flavor Name / ID.
                "flavor": {"name": row.get("Flavor") or row.get("Flavor Name") or row.get("Flavor ID") or ""},
                "project_id": row.get("Project ID") or "",
                "user_id": row.get("User ID") or "",
            }
        )
    return servers


def from_osc_migrations(text):
    """Migrations from what ``openstack server migration list -f json`` prints (compute API 2.59
    or later, which the client negotiates by default, for the UUID column)."""
    rows = _rows(text, "migrations", MIGRATION_COLUMNS[1:], MIGRATIONS_COMMAND)
    if rows and "UUID" not in rows[0]:
        raise ImportFailed(
            "The migrations file has no UUID column (compute API older than 2.59): a migration's "
            "allocations are held by its uuid. List them with --os-compute-api-version 2.59 or later."
        )
    return [
        {
            "id": row.get("Id"),
            "uuid": _uuid(row["UUID"], "Migration UUID"),
            "server_uuid": _uuid(row["Server UUID"], "Server UUID"),
            "status": row["Status"],
            "migration_type": row.get("Type") or "resize",
            "source_node": row["Source Node"],
            "dest_node": row["Dest Node"],
            "old_flavor": row["Old Flavor"],
            "new_flavor": row["New Flavor"],
        }
        for row in rows
    ]


def from_osc_flavors(text):
    """Flavors from what ``openstack flavor list --all [--long] -f json`` prints (Swap with --long)."""
    return [
        {
            "id": str(row["ID"]),
            "name": row["Name"],
            "vcpus": row["VCPUs"],
            "ram": row["RAM"],
            "disk": row["Disk"],
            "ephemeral": row["Ephemeral"],
            "swap": row.get("Swap"),
        }
        for row in _rows(text, "flavors", FLAVOR_COLUMNS, FLAVORS_COMMAND)
    ]


# -- what a server's Status says of its vm_state -------------------------------------------------------
# nova/api/openstack/common.py _STATE_MAP, read backwards: the vm_state each status comes from (a
# status two vm_states share goes to the one whose default it is; RESIZE of a stopped server is
# told by its power state).
_VM_STATE_OF_STATUS = {
    "ACTIVE": VmState.ACTIVE, "REBOOT": VmState.ACTIVE, "HARD_REBOOT": VmState.ACTIVE,
    "PASSWORD": VmState.ACTIVE, "REBUILD": VmState.ACTIVE, "MIGRATING": VmState.ACTIVE,
    "RESIZE": VmState.ACTIVE, "BUILD": VmState.BUILDING, "SHUTOFF": VmState.STOPPED,
    "VERIFY_RESIZE": VmState.RESIZED, "REVERT_RESIZE": VmState.RESIZED, "PAUSED": VmState.PAUSED,
    "SUSPENDED": VmState.SUSPENDED, "RESCUE": "rescued", "ERROR": VmState.ERROR,
    "DELETED": VmState.DELETED, "SOFT_DELETED": "soft-delete", "SHELVED": VmState.SHELVED,
    "SHELVED_OFFLOADED": VmState.SHELVED_OFFLOADED,
}


def vm_state_of(server):
    """The server's vm_state: as Nova's API gave it, else told by its status."""
    if server.get("vm_state"):
        return server["vm_state"]
    state = _VM_STATE_OF_STATUS.get((server.get("status") or "").upper(), VmState.ERROR)
    if server.get("status") == "RESIZE" and server.get("power_state") == PowerState.SHUTDOWN:
        return VmState.STOPPED
    return str(state)


# -- labels ----------------------------------------------------------------------------------------------
def label_consumers(consumer_uuids, servers, migrations):
    """{consumer uuid: ConsumerType}: a migration's uuid is a migration's allocation (Nova moves
    the source node's allocation to the migration during a move), a server's uuid an instance's,
    anything else unknown. Nova does not set Placement's consumer types, so this is the only way to
    tell them apart."""
    server_uuids = {str(server["uuid"]) for server in servers}
    migration_uuids = {str(migration["uuid"]) for migration in migrations if migration.get("uuid")}
    labels = {}
    for consumer in consumer_uuids:
        if consumer in migration_uuids:
            labels[consumer] = ConsumerType.MIGRATION
        elif consumer in server_uuids:
            labels[consumer] = ConsumerType.INSTANCE
        else:
            labels[consumer] = ConsumerType.UNKNOWN
    return labels


# -- storing -------------------------------------------------------------------------------------------
def _now():
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _number(value):
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def flavor_resources(flavor):
    """A flavor's Placement request (nova/scheduler/utils.py): VCPU, MEMORY_MB, DISK_GB =
    root + ephemeral + swap in GiB rounded up. None when its sizes are not known."""
    if flavor.get("vcpus") is None or flavor.get("ram") is None:
        return None
    return {
        "VCPU": _number(flavor["vcpus"]),
        "MEMORY_MB": _number(flavor["ram"]),
        "DISK_GB": _number(flavor.get("disk")) + _number(flavor.get("ephemeral")) + math.ceil(_number(flavor.get("swap")) / 1024),
    }


def _node_names(providers):
    """{node name as Nova says it: provider}: the provider's own name, and its first label when
    that is unambiguous (Nova's node "cn1" for the provider "cn1.example.org" and back)."""
    names = {p["name"]: p for p in providers}
    short = defaultdict(list)
    for provider in providers:
        short[provider["name"].split(".")[0]].append(provider)
    for label, matching in short.items():
        if len(matching) == 1:
            names.setdefault(label, matching[0])
    return names


def _provider_of(node, names):
    if not node:
        return None
    return names.get(node) or names.get(node.split(".")[0])


def check_clashes(name, placement, nova, replace):
    """Refuse an import whose name is taken by a cloud that is not an import (or is one and
    ``replace`` is off), or whose providers or servers are already in another imported cloud
    (uuids are unique across clouds: import the same cloud under the same name with replace)."""
    existing = Cloud.objects.filter(name=name).first()
    if existing is not None:
        if not existing.is_imported:
            raise ImportFailed(f"There is already a cloud {name}, not an imported one: choose another name.")
        if not replace:
            raise ImportFailed(f"Cloud {name} was already imported: replace it, or choose another name.")
    uuids = [p["uuid"] for p in placement["providers"]]
    clash = ResourceProvider.objects.filter(uuid__in=uuids).exclude(cloud__name=name).select_related("cloud").first()
    if clash is None:
        clash = Server.objects.filter(uuid__in=[s["uuid"] for s in nova["servers"]]).exclude(cloud__name=name).select_related("cloud").first()
    if clash is not None:
        raise ImportFailed(
            f"{clash.name} ({clash.uuid}) is already in cloud {clash.cloud.name}: this cloud was imported as "
            f"{clash.cloud.name}; import it again under that name to replace it."
        )


def delete_cloud(cloud):
    """Delete a cloud and everything in it (its migrations and servers first: they protect the
    hosts and flavors they name); runs that ran in it keep their reports."""
    with transaction.atomic():
        Migration.objects.filter(cloud=cloud).delete()
        Server.objects.filter(cloud=cloud).delete()
        cloud.delete()


@transaction.atomic
def store(name, placement, nova, replace=False, description=""):
    """The cloud ``name`` made of what was read from Placement (``read_placement``) and Nova
    (``read_compute`` or the ``from_osc_*`` functions: ``{"servers", "migrations", "flavors"}``).
    Returns it, its ``imported`` record saying what was read, how consumers were labelled, what
    could not be represented, and Placement's own usages against the cloud's."""
    check_clashes(name, placement, nova, replace)
    for previous in Cloud.objects.filter(name=name, imported__isnull=False):
        delete_cloud(previous)
    notes = []
    note = notes.append
    cloud = Cloud.objects.create(
        name=name,
        description=description or f"Imported from {placement['url']}",
        imported={},
    )

    # Providers, each with a host of its name (a compute node's provider is named after its
    # hypervisor hostname, which is what Nova calls the server's node).
    ignored_classes = Counter()
    kept = []
    for provider in placement["providers"]:
        known = {rc: inv for rc, inv in provider["inventories"].items() if rc in RESOURCE_CLASSES}
        for rc in provider["inventories"]:
            if rc not in RESOURCE_CLASSES:
                ignored_classes[rc] += 1
        if not known:
            note(f"Provider {provider['name']} has no VCPU, MEMORY_MB or DISK_GB inventory: not drawn.")
            continue
        kept.append((provider, known))
    if ignored_classes:
        note(
            "Resource classes the dashboard does not draw were left out: "
            + ", ".join(f"{rc} ({n} provider{'s' if n > 1 else ''})" for rc, n in sorted(ignored_classes.items()))
            + "."
        )
    hosts = Host.objects.bulk_create(Host(cloud=cloud, name=p["name"], driver="") for p, _ in kept)
    rps = ResourceProvider.objects.bulk_create(
        ResourceProvider(cloud=cloud, host=host, uuid=p["uuid"], name=p["name"], generation=p["generation"])
        for host, (p, _) in zip(hosts, kept)
    )
    Inventory.objects.bulk_create(
        Inventory(provider=rp, resource_class=rc, **{field: inv[field] for field in INVENTORY_FIELDS if field in inv})
        for rp, (_, known) in zip(rps, kept)
        for rc, inv in known.items()
    )
    by_uuid = {str(rp.uuid): rp for rp in rps}
    node_names = _node_names([p for p, _ in kept])

    # Consumers, labelled from Nova's servers and migrations.
    holdings = defaultdict(dict)  # consumer -> {provider uuid: {rc: amount}}
    for provider, known in kept:
        for consumer, resources in provider["allocations"].items():
            held = {rc: amount for rc, amount in resources.items() if rc in known}
            if held:
                holdings[consumer][provider["uuid"]] = held
    labels = label_consumers(holdings, nova["servers"], nova["migrations"])

    flavors = _store_flavors(cloud, nova, holdings, node_names, note)
    servers = _store_servers(cloud, nova["servers"], flavors, node_names, note)
    migrations = _store_migrations(cloud, nova["migrations"], servers, flavors, node_names, note)

    # A consumer belongs to the project and user of its server (a migration's: its server's).
    owners = {str(s["uuid"]): (s.get("project_id") or "", s.get("user_id") or "") for s in nova["servers"]}
    for migration in nova["migrations"]:
        if migration.get("uuid") and str(migration["server_uuid"]) in owners:
            owners[str(migration["uuid"])] = owners[str(migration["server_uuid"])]
    consumers = {}
    for consumer in holdings:
        project, user = owners.get(consumer, ("", ""))
        consumers[consumer] = Consumer(
            cloud=cloud, uuid=consumer, consumer_type=labels[consumer], generation=1, project_id=project, user_id=user
        )
    Consumer.objects.bulk_create(consumers.values())
    Allocation.objects.bulk_create(
        Allocation(provider=by_uuid[rp_uuid], consumer=consumers[consumer], resource_class=rc, used=amount)
        for consumer, by_provider in holdings.items()
        for rp_uuid, held in by_provider.items()
        for rc, amount in held.items()
    )

    cloud.imported = {
        "placement_url": placement["url"],
        "placement_max_version": placement.get("max_version"),
        "nova_source": nova.get("source", "files"),
        "read_at": _now(),
        "requests": placement.get("requests", 0) + nova.get("requests", 0),
        "counts": {
            "providers": len(rps),
            "servers": len(servers),
            "migrations": len(migrations),
            "consumers": len(consumers),
            "allocations": sum(len(held) for by_provider in holdings.values() for held in by_provider.values()),
        },
        "labels": {label.value: sum(1 for l in labels.values() if l == label) for label in ConsumerType},
        "placement_usages": {
            p["name"]: {rc: p["usages"].get(rc, 0) for rc in RESOURCE_CLASSES if rc in known}
            for p, known in kept
        },
        "notes": notes,
    }
    cloud.imported["usage_differences"] = usage_differences(cloud)
    cloud.save(update_fields=["imported"])
    return cloud


def _store_flavors(cloud, nova, holdings, node_names, note):
    """{flavor name: Flavor}. Sizes come from the flavor list, else from the server's embedded
    flavor (compute API), else from what the server holds on its node: then a flavor mismatch
    cannot be seen, and the notes say so."""
    listed = {f["name"]: f for f in nova.get("flavors", [])}
    sizes, flavorids, inferred = {}, {}, defaultdict(list)
    for flavor in listed.values():
        if flavor_resources(flavor):
            sizes[flavor["name"]] = flavor
            flavorids[flavor["name"]] = flavor["id"]
    for server in nova["servers"]:
        flavor = server["flavor"]
        name = flavor.get("name") or "unknown"
        if name in sizes:
            continue
        if flavor_resources(flavor):
            sizes[name] = flavor
            continue
        provider = _provider_of(server.get("node"), node_names)
        held = holdings.get(str(server["uuid"]), {}).get(provider["uuid"]) if provider else None
        inferred[name].append(held)
    for name, helds in inferred.items():
        seen = Counter(json.dumps(h, sort_keys=True) for h in helds if h)
        if seen:
            held = json.loads(seen.most_common(1)[0][0])
            sizes[name] = {"vcpus": held.get("VCPU", 0), "ram": held.get("MEMORY_MB", 0), "disk": held.get("DISK_GB", 0)}
            note(
                f"Flavor {name}: its sizes are what its servers hold ({_fmt(held)}); give the flavor list to see "
                "a flavor mismatch."
                + (" Its servers hold different amounts." if len(seen) > 1 else "")
            )
        else:
            sizes[name] = {"vcpus": 0, "ram": 0, "disk": 0}
            note(f"Flavor {name}: its sizes are unknown (no flavor list, and none of its servers holds anything).")
    records = []
    for index, (name, flavor) in enumerate(sorted(sizes.items()), start=1):
        resources = flavor_resources(flavor) or {"VCPU": 0, "MEMORY_MB": 0, "DISK_GB": 0}
        records.append(
            Flavor(
                cloud=cloud,
                flavorid=str(flavorids.get(name) or flavor.get("id") or f"imported-{index}"),
                name=name,
                vcpus=resources["VCPU"],
                memory_mb=resources["MEMORY_MB"],
                root_gb=_number(flavor.get("disk")),
                ephemeral_gb=_number(flavor.get("ephemeral")),
                swap=_number(flavor.get("swap")),
            )
        )
    # flavorids must be unique in a cloud: a clash (two names, one id) keeps the first.
    used = set()
    for record in records:
        if record.flavorid in used:
            record.flavorid = f"{record.flavorid}-{record.name}"
        used.add(record.flavorid)
    return {f.name: f for f in Flavor.objects.bulk_create(records)}


def _fmt(resources):
    return ", ".join(f"{rc}={amount}" for rc, amount in sorted(resources.items()))


def _store_servers(cloud, servers, flavors, node_names, note):
    """{uuid: Server} on the host of their node's provider (a server whose node is no provider has
    no node: the audit cannot miss its allocation)."""
    hosts = {h.name: h for h in Host.objects.filter(cloud=cloud).select_related("provider")}
    records = []
    for server in servers:
        provider = _provider_of(server.get("node"), node_names)
        host = hosts.get(provider["name"]) if provider else None
        if server.get("node") and host is None:
            note(f"Server {server['name']} is on node {server['node']}, which is no resource provider here.")
        records.append(
            Server(
                cloud=cloud,
                uuid=server["uuid"],
                name=server["name"],
                host=host,
                node=host.provider if host else None,
                flavor=flavors[server["flavor"].get("name") or "unknown"],
                vm_state=vm_state_of(server),
                task_state=server.get("task_state") or None,
                power_state=_number(server.get("power_state")),
            )
        )
    return {str(s.uuid): s for s in Server.objects.bulk_create(records)}


def _store_migrations(cloud, migrations, servers, flavors, node_names, note):
    """Migration records of the migrations whose server and source node are here. A migration's
    flavors are Nova's internal flavor ids (``old_instance_type_id``): matched to a listed flavor's
    id where one is the same, else the server's flavor."""
    hosts = {h.name: h for h in Host.objects.filter(cloud=cloud).select_related("provider")}
    by_flavorid = {f.flavorid: f for f in flavors.values()}
    records, in_progress = [], {}
    for migration in migrations:
        if not migration.get("uuid"):
            continue
        server = servers.get(str(migration["server_uuid"]))
        source = _provider_of(migration.get("source_node"), node_names)
        dest = _provider_of(migration.get("dest_node"), node_names)
        if server is None or source is None:
            why = "its server is not listed" if server is None else f"its source node {migration.get('source_node')} is no provider here"
            if migration.get("status") not in MIGRATION_DONE_STATUSES:
                note(f"Migration {migration['uuid']} ({migration.get('status')}) is not shown: {why}.")
            continue
        source_host, dest_host = hosts[source["name"]], hosts.get(dest["name"]) if dest else None
        new_flavor = by_flavorid.get(str(migration.get("new_flavor"))) or server.flavor
        records.append(
            Migration(
                cloud=cloud,
                uuid=migration["uuid"],
                server=server,
                source_compute=source_host,
                source_node=source_host.provider,
                dest_compute=dest_host,
                dest_node=dest_host.provider if dest_host else None,
                old_flavor=by_flavorid.get(str(migration.get("old_flavor"))) or server.flavor,
                new_flavor=new_flavor,
                status=migration.get("status") or "",
                migration_type=migration.get("migration_type") or "resize",
            )
        )
        if migration.get("status") not in MIGRATION_DONE_STATUSES:
            in_progress[server.pk] = new_flavor
    stored = Migration.objects.bulk_create(records)
    # A server being moved may hold its new flavor on its node (the audit allows either).
    for server in servers.values():
        if server.pk in in_progress:
            server.new_flavor = in_progress[server.pk]
            server.save(update_fields=["new_flavor"])
    return stored


def usage_differences(cloud):
    """[{provider, resource_class, placement, cloud}] where the cloud's usages (the sums of its
    allocations) differ from what Placement reported: none when the import is faithful."""
    from .placement import cloud_usages

    reported = cloud.imported.get("placement_usages", {})
    mine = cloud_usages(cloud)
    differences = []
    for provider, usages in sorted(reported.items()):
        for rc, amount in sorted(usages.items()):
            ours = mine.get(provider, {}).get(rc, 0)
            if ours != amount:
                differences.append({"provider": provider, "resource_class": rc, "placement": amount, "cloud": ours})
    return differences


def import_cloud(name, placement_url, token=None, servers_json=None, migrations_json=None, flavors_json=None,
                 compute_url=None, replace=False, session=None):
    """Read Placement and Nova (the compute endpoint, or the openstack command's JSON) and store
    the cloud ``name``. Nothing is written to the real cloud."""
    if compute_url:
        nova = read_compute(compute_url, token, session=session)
    else:
        nova = {
            "source": "files",
            "servers": from_osc_servers(servers_json) if servers_json else [],
            "migrations": from_osc_migrations(migrations_json) if migrations_json else [],
            "flavors": from_osc_flavors(flavors_json) if flavors_json else [],
        }
    placement = read_placement(placement_url, token, session=session)
    return store(name, placement, nova, replace=replace)


def summary_lines(cloud):
    """What an import found, as lines of text (the command prints them)."""
    from .audit import audit_cloud, findings

    record = cloud.imported
    counts, labels = record["counts"], record["labels"]
    lines = [
        f"Imported {cloud.name} from {record['placement_url']} (Nova: {record['nova_source']}): "
        f"{counts['providers']} providers, {counts['servers']} servers, {counts['migrations']} migrations, "
        f"{counts['consumers']} consumers",
        "Consumers: " + ", ".join(f"{n} {label.lower()}" for label, n in labels.items()),
    ]
    usages = cloud_usages_lines(cloud)
    lines.extend(usages)
    if record["usage_differences"]:
        lines.append("Usages differ from Placement's:")
        lines.extend(
            f"  {d['provider']} {d['resource_class']}: Placement {d['placement']}, here {d['cloud']}"
            for d in record["usage_differences"]
        )
    else:
        lines.append("Usages: the same as Placement's, provider by provider.")
    audit = audit_cloud(cloud)
    found = findings(audit)
    lines.append(f"Audit: exit code {audit['exit_code']}" + ("" if found else ", nothing found"))
    names = consumer_labels(cloud)
    for kind, finding in found:
        whose = names.get(finding.get("consumer_uuid"), "")
        lines.append(f"  {kind}{f' ({whose})' if whose else ''}: {finding['message']}")
    lines.extend(f"Note: {text}" for text in record["notes"])
    return lines


def consumer_labels(cloud):
    """{consumer uuid: "instance web-1" / "migration of db-1 (error)" / "unknown consumer"} of a cloud."""
    labels = {}
    for consumer_uuid, consumer_type in Consumer.objects.filter(cloud=cloud).values_list("uuid", "consumer_type"):
        labels[str(consumer_uuid)] = f"{consumer_type.lower()} consumer"
    for server_uuid, name in Server.objects.filter(cloud=cloud).values_list("uuid", "name"):
        labels[str(server_uuid)] = f"instance {name}"
    for migration_uuid, name, status in Migration.objects.filter(cloud=cloud).values_list("uuid", "server__name", "status"):
        labels[str(migration_uuid)] = f"migration of {name}, {status}"
    return labels


def cloud_usages_lines(cloud):
    from .placement import cloud_usages

    return ["Usages:"] + [
        f"  {provider:20} " + " ".join(f"{rc}={amount}" for rc, amount in usage.items())
        for provider, usage in cloud_usages(cloud).items()
    ]

