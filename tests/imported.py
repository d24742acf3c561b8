"""A real cloud as the import reads it, for the tests: the openstack command's JSON in
tests/data/osc/ (python-openstackclient 10.5.0's columns) and the Placement that goes with it.

compute1.example.org holds web-1 (m1.small), the allocation db-1's failed resize left to its
migration (m1.tiny, migration ``error``: leaked), app-1's migration (m1.tiny, ``finished``: the
server waits in VERIFY_RESIZE) and cache-1, which holds m1.tiny although its flavor is m1.small;
batch-1 lives there and holds nothing. compute2.example.org holds db-1 and app-1 (m1.small) and
the leftover of a deleted server, a consumer Nova does not know.
"""
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "osc"
COMPUTE1 = "0c1a2b3c-4d5e-4f60-8a1b-2c3d4e5f6a01"
COMPUTE2 = "0c1a2b3c-4d5e-4f60-8a1b-2c3d4e5f6a02"
WEB, DB, APP, CACHE, BATCH = (
    "5d3e7c0e-6a7b-4c1e-9d3a-1f0c2b7a9e11",
    "8f2a4c6e-1b3d-4f5a-8c7e-2d4f6a8c0e22",
    "a1c3e5f7-2b4d-4a6c-9e8f-3b5d7f9a1c33",
    "c4e6a8b0-3d5f-4b7a-8d9c-4e6a8c0b2d44",
    "e7a9c1d3-4f6b-4d8e-9a0b-5c7e9a1b3d55",
)
DB_MIGRATION = "3b5d7f9a-5c7e-4a0b-8c2d-6e8a0c2e4f66"  # error: its allocation leaked
APP_MIGRATION = "6e8a0c2e-7d9f-4b1a-9c3e-7f9b1d3f5a77"  # finished: VERIFY_RESIZE
DELETED = "f0e1d2c3-b4a5-4968-8776-655443322110"  # a deleted server's leftover
TINY = {"VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 1}
SMALL = {"VCPU": 1, "MEMORY_MB": 2048, "DISK_GB": 20}


def osc_json(name):
    """What ``openstack … -f json`` printed: ``servers``, ``migrations`` or ``flavors``."""
    return (DATA / f"{name}.json").read_text()


def inventory(total_vcpu=16, memory_mb=65536, disk_gb=1000):
    return {
        "VCPU": {"total": total_vcpu, "reserved": 0, "min_unit": 1, "max_unit": total_vcpu, "step_size": 1, "allocation_ratio": 4.0},
        "MEMORY_MB": {"total": memory_mb, "reserved": 512, "min_unit": 1, "max_unit": memory_mb, "step_size": 1, "allocation_ratio": 1.5},
        "DISK_GB": {"total": disk_gb, "reserved": 0, "min_unit": 1, "max_unit": disk_gb, "step_size": 1, "allocation_ratio": 1.0},
    }


def _usages(allocations):
    used = {"VCPU": 0, "MEMORY_MB": 0, "DISK_GB": 0}
    for resources in allocations.values():
        for rc, amount in resources.items():
            used[rc] = used.get(rc, 0) + amount
    return used


def provider(uuid, name, allocations, inventories=None):
    return {
        "uuid": uuid,
        "name": name,
        "generation": 7,
        "parent_provider_uuid": None,
        "root_provider_uuid": uuid,
        "inventories": inventories or inventory(),
        "usages": _usages(allocations),
        "allocations": allocations,
    }


def placement_read(url="http://placement.example.org:8778"):
    """What ``read_placement`` returns for the cloud the JSON files describe."""
    return {
        "url": url,
        "max_version": "1.39",
        "requests": 7,
        "providers": [
            provider(COMPUTE1, "compute1.example.org", {WEB: SMALL, DB_MIGRATION: TINY, APP_MIGRATION: TINY, CACHE: TINY}),
            provider(COMPUTE2, "compute2.example.org", {DB: SMALL, APP: SMALL, DELETED: TINY}),
        ],
    }


def nova_read():
    from simulator.imports import from_osc_flavors, from_osc_migrations, from_osc_servers

    return {
        "source": "files",
        "servers": from_osc_servers(osc_json("servers")),
        "migrations": from_osc_migrations(osc_json("migrations")),
        "flavors": from_osc_flavors(osc_json("flavors")),
    }


def imported_cloud(name="prod", **read):
    """The cloud stored from ``placement_read`` and the JSON files."""
    from simulator.imports import store

    return store(name, placement_read(**read), nova_read())
