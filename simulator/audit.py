"""Allocation audit: ``nova-manage placement audit`` plus what it cannot see.

- orphaned: a consumer on a provider that is neither a server on that node, nor an
  in-progress migration from or to it, nor the server of such a migration (nor of one still
  being scheduled, whose destination is not known yet);
- missing: a server with a node but no allocation on it;
- flavor mismatch: the server's allocation on its node differs from its flavor
  (a server mid-resize may also hold its new flavor).

Exit code as the CLI's: 0 when nothing is found, 3 when something is.
"""
import json
from collections import defaultdict

from .models import Allocation, Migration, ResourceProvider, Server
from .states import FINDING_KINDS, MigrationStatus, TaskState, VmState

# The kinds of finding, in the order they are reported, with what people call them.


def findings(audit):
    """[(kind, finding)] of an audit (None: not audited), kind by kind."""
    return [(kind, finding) for kind in FINDING_KINDS for finding in (audit or {}).get(kind, [])]


def audit_summary(audit):
    """What an audit found in a few words: "clean", or e.g. "orphaned 1 · missing 1"; None before the audit."""
    if audit is None:
        return None
    found = []
    for kind, label in FINDING_KINDS.items():
        inherited = sum(1 for finding in audit.get(kind, []) if finding.get("inherited"))
        if len(audit.get(kind, [])) > inherited:
            found.append(f"{label} {len(audit[kind]) - inherited}")
        if inherited:  # in a copy of an imported cloud: there before the run
            found.append(f"{label} {inherited} inherited")
    return " · ".join(found) or "clean"


def _fmt(resources):
    return ", ".join(f"{rc}={amount}" for rc, amount in sorted(resources.items()))


def finding_key(kind, finding):
    """What identifies a finding in its cloud: a consumer on a provider, or a server (with what it
    holds, for a flavor mismatch)."""
    if kind == "orphaned":
        return (kind, finding["provider"], finding["consumer_uuid"])
    if kind == "missing":
        return (kind, finding["server_uuid"])
    return (kind, finding["server_uuid"], json.dumps(finding["allocated"], sort_keys=True))


def new_findings(audit):
    """The audit without the findings a copy inherited from the cloud it copies ("inherited")."""
    if audit is None:
        return None
    return {kind: [f for f in found if not f.get("inherited")] if isinstance(found, list) else found
            for kind, found in audit.items()}


def audit_cloud(cloud):
    """The audit of one cloud (four queries); in a copy of an imported cloud, the findings it was
    made with are marked ``inherited``."""
    audit = audit_clouds([cloud.pk])[cloud.pk]
    inherited = {tuple(key) for key in cloud.inherited or []}
    for kind in FINDING_KINDS:
        for finding in audit[kind]:
            if finding_key(kind, finding) in inherited:
                finding["inherited"] = True
    return audit


def audit_clouds(clouds):
    """{cloud id: its audit} for ``clouds`` (ids, or a queryset of clouds), in four queries whatever
    their number; a cloud with neither provider nor server is clean. Every cloud is audited on its
    own, as ``audit_cloud`` audits it."""
    if isinstance(clouds, (list, tuple, set, frozenset)):
        audited = {pk: _Cloud() for pk in clouds}
    else:
        audited = {}
    providers = {}
    for provider in ResourceProvider.objects.filter(cloud__in=clouds):
        providers[provider.pk] = provider
        audited.setdefault(provider.cloud_id, _Cloud()).providers[provider.pk] = provider
    servers = (
        Server.objects.filter(cloud__in=clouds)
        .exclude(vm_state=VmState.DELETED)
        .select_related("flavor", "new_flavor")
    )
    for server in servers:
        audited.setdefault(server.cloud_id, _Cloud()).servers.append(server)
    # In progress: not finished by Nova's rule, or "reverted" on the dest while the source is
    # still moving the allocation back (the server is still resize_reverting).
    of_clouds = Migration.objects.filter(cloud__in=clouds)
    migrations = of_clouds.in_progress() | of_clouds.filter(
        status=MigrationStatus.REVERTED, server__task_state=TaskState.RESIZE_REVERTING
    )
    for migration in migrations:
        audited.setdefault(migration.cloud_id, _Cloud()).migrations.append(migration)
    rows = Allocation.objects.filter(provider__cloud__in=clouds).values_list(
        "provider_id", "consumer__uuid", "consumer__consumer_type", "resource_class", "used"
    )
    for provider_id, consumer_uuid, consumer_type, rc, used in rows:
        one = audited[providers[provider_id].cloud_id]
        one.holdings[(provider_id, str(consumer_uuid))][rc] = used
        one.consumer_types[str(consumer_uuid)] = consumer_type
    return {pk: one.audit() for pk, one in audited.items()}


class _Cloud:
    """What the audit of one cloud reads: its providers, live servers, in-progress migrations, and
    every consumer's holdings on its providers."""

    def __init__(self):
        self.providers = {}  # provider id -> provider
        self.servers = []
        self.migrations = []
        self.holdings = defaultdict(dict)  # (provider id, consumer uuid) -> {rc: amount}
        self.consumer_types = {}

    def audit(self):
        return _audit(self.providers, self.servers, self.migrations, self.holdings, self.consumer_types)


def _audit(providers, servers, migrations, holdings, consumer_types):
    """The findings of one cloud from what ``audit_clouds`` read of it."""
    legit = defaultdict(set)  # provider id -> consumer uuids that belong there
    for server in servers:
        if server.node_id:
            legit[server.node_id].add(str(server.uuid))
    servers_by_pk = {s.pk: s for s in servers}
    migrating_servers = defaultdict(list)  # server id -> uuids of its in-progress migrations
    scheduling = set()  # servers whose migration has no destination yet: the claim may be anywhere
    for migration in migrations:
        server = servers_by_pk.get(migration.server_id)
        if migration.dest_node_id is None and server is not None:
            scheduling.add(str(server.uuid))
        for node_id in (migration.source_node_id, migration.dest_node_id):
            if node_id:
                legit[node_id].add(str(migration.uuid))
                if server is not None:
                    legit[node_id].add(str(server.uuid))
        migrating_servers[migration.server_id].append(str(migration.uuid))

    orphaned = []
    ordered = sorted(holdings.items(), key=lambda item: (providers[item[0][0]].name, item[0][1]))
    for (provider_id, consumer_uuid), resources in ordered:
        if consumer_uuid in legit[provider_id] or consumer_uuid in scheduling:
            continue
        provider = providers[provider_id]
        orphaned.append(
            {
                "provider": provider.name,
                "consumer_uuid": consumer_uuid,
                "consumer_type": consumer_types[consumer_uuid],
                "resources": resources,
                "message": (
                    f"Allocations were set against consumer UUID {consumer_uuid} but no existing instances or "
                    f"active migrations are related. Allocations for consumer UUID {consumer_uuid} on Resource "
                    f"Provider {provider.uuid} can be deleted: {{'resources': {resources}}}"
                ),
            }
        )

    missing, mismatched = [], []
    for server in servers:
        if not server.node_id:
            continue
        held = holdings.get((server.node_id, str(server.uuid)))
        node = providers[server.node_id].name
        # Mid-resize, the migration consumer may hold the server's allocation on its node.
        held_by_migration = any(holdings.get((server.node_id, m)) for m in migrating_servers.get(server.pk, []))
        if not held and held_by_migration:
            continue
        if not held:
            missing.append(
                {
                    "server": server.name,
                    "server_uuid": str(server.uuid),
                    "provider": node,
                    "expected": server.flavor.resources(),
                    "message": f"Server {server.name} lives on {node} but holds no allocation there.",
                }
            )
            continue
        allowed = [server.flavor]
        if server.pk in migrating_servers and server.new_flavor_id:
            allowed.append(server.new_flavor)
        if all(held != flavor.resources() for flavor in allowed):
            mismatched.append(
                {
                    "server": server.name,
                    "server_uuid": str(server.uuid),
                    "provider": node,
                    "flavor": server.flavor.name,
                    "expected": server.flavor.resources(),
                    "allocated": held,
                    "message": (
                        f"Server {server.name} has flavor {server.flavor.name} ({_fmt(server.flavor.resources())}) "
                        f"but holds {_fmt(held)} on {node}."
                    ),
                }
            )
    found = bool(orphaned or missing or mismatched)
    return {
        "exit_code": 3 if found else 0,
        "orphaned": orphaned,
        "missing": missing,
        "flavor_mismatch": mismatched,
    }
