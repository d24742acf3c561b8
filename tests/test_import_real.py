"""The import against the real openstack-placement 16.0.0 (from the Nova environment, ``make
nova-env``; skipped without it), populated through its own REST API: two compute nodes, their
inventories, instances' allocations, a resize waiting in VERIFY_RESIZE (its migration holds the
old flavor on the source, as Nova's does) and a failed resize whose migration's allocation
leaked. The import must find exactly that leak, report Placement's usages, send nothing but
GETs, and a run replayed on a copy must complete with the real capacities."""
import copy
import json
import uuid
from io import StringIO

import pytest
import requests
from django.core.management import call_command

from simulator.audit import audit_cloud
from simulator.conformance import nova_python
from simulator.copies import copy_cloud
from simulator.models import Cloud, Migration
from simulator.pipeline import run_to_completion, start_run
from simulator.placement import cloud_usages
from tests import imported
from tests.services import real_placement

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(nova_python() is None, reason="no Nova environment (make nova-env): no real Placement"),
]

COMPUTE1, COMPUTE2 = str(uuid.uuid4()), str(uuid.uuid4())
SERVERS = {name: str(uuid.uuid4()) for name in ("vm-a", "vm-b", "vm-c")}
LEAKED, WAITING = str(uuid.uuid4()), str(uuid.uuid4())  # vm-b's failed resize, vm-c's finished one
PROJECT, USER = uuid.uuid4().hex, uuid.uuid4().hex
TINY = {"VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 1}
SMALL = {"VCPU": 1, "MEMORY_MB": 2048, "DISK_GB": 20}
INVENTORIES = {
    COMPUTE1: {
        "VCPU": {"total": 16, "allocation_ratio": 4.0},
        "MEMORY_MB": {"total": 32768, "reserved": 512, "allocation_ratio": 1.5},
        "DISK_GB": {"total": 500, "max_unit": 250},
    },
    COMPUTE2: {
        "VCPU": {"total": 8, "allocation_ratio": 2.0},
        "MEMORY_MB": {"total": 16384, "reserved": 1024},
        "DISK_GB": {"total": 100},
    },
}


def populate(placement):
    """Providers, inventories and allocations, written as Nova writes them (no consumer type)."""
    session = requests.Session()
    session.headers.update(placement.headers("1.28"))

    def call(method, path, body):
        response = session.request(method, placement.url + path, json=body, timeout=30)
        assert response.status_code in (200, 201, 204), (method, path, response.text)

    for rp_uuid, name in ((COMPUTE1, "compute1.example.org"), (COMPUTE2, "compute2.example.org")):
        call("POST", "/resource_providers", {"uuid": rp_uuid, "name": name})
        call("PUT", f"/resource_providers/{rp_uuid}/inventories",
             {"resource_provider_generation": 0, "inventories": INVENTORIES[rp_uuid]})
    for consumer, rp_uuid, resources in (
        (SERVERS["vm-a"], COMPUTE1, SMALL),
        (SERVERS["vm-b"], COMPUTE2, SMALL),  # ERROR on compute2 after its resize failed there
        (LEAKED, COMPUTE1, TINY),  # ... and its migration still holds m1.tiny on the source: the leak
        (SERVERS["vm-c"], COMPUTE2, SMALL),  # VERIFY_RESIZE on compute2
        (WAITING, COMPUTE1, TINY),  # its migration holds the old flavor until confirm or revert
    ):
        call("PUT", f"/allocations/{consumer}", {
            "allocations": {rp_uuid: {"resources": resources}}, "consumer_generation": None,
            "project_id": PROJECT, "user_id": USER,
        })


def osc_files(tmp_path):
    """What the openstack command would print for this cloud (python-openstackclient 10.5.0's
    columns, the rows of tests/data/osc/ as templates)."""
    server_row = json.loads(imported.osc_json("servers"))[0]
    migration_row = json.loads(imported.osc_json("migrations"))[0]
    servers = []
    for name, status, node in (
        ("vm-a", "ACTIVE", "compute1.example.org"),
        ("vm-b", "ERROR", "compute2.example.org"),
        ("vm-c", "VERIFY_RESIZE", "compute2.example.org"),
    ):
        servers.append({**copy.deepcopy(server_row), "ID": SERVERS[name], "Name": name, "Status": status,
                        "Host": node, "Flavor": "m1.small", "Project ID": PROJECT})
    migrations = [
        {**migration_row, "Id": 41, "UUID": LEAKED, "Status": "error", "Server UUID": SERVERS["vm-b"]},
        {**migration_row, "Id": 42, "UUID": WAITING, "Status": "finished", "Server UUID": SERVERS["vm-c"]},
    ]
    flavors = json.loads(imported.osc_json("flavors")) + [
        {"ID": "4", "Name": "m1.large", "RAM": 8192, "Disk": 80, "Ephemeral": 0, "VCPUs": 4, "Is Public": True,
         "Swap": 0, "RXTX Factor": 1.0, "Properties": {}},
    ]
    paths = {}
    for name, rows in (("servers", servers), ("migrations", migrations), ("flavors", flavors)):
        paths[name] = tmp_path / f"{name}.json"
        paths[name].write_text(json.dumps(rows, indent=2))
    return paths


@pytest.fixture(scope="module")
def placement(tmp_path_factory):
    with real_placement(nova_python(), tmp_path_factory.mktemp("placement")) as running:
        populate(running)
        yield running


def placement_state(placement):
    """Each provider's generation and usages, as Placement serves them."""
    headers = placement.headers("1.14")
    state = {}
    for rp_uuid in (COMPUTE1, COMPUTE2):
        usages = requests.get(f"{placement.url}/resource_providers/{rp_uuid}/usages", headers=headers, timeout=30).json()
        state[rp_uuid] = (usages["resource_provider_generation"], usages["usages"])
    return state


def import_it(placement, tmp_path, name="real"):
    files = osc_files(tmp_path)
    out = StringIO()
    call_command(
        "import_cloud", "--name", name, "--placement-url", placement.url, "--token", "admin",
        "--servers-json", str(files["servers"]), "--migrations-json", str(files["migrations"]),
        "--flavors-json", str(files["flavors"]), stdout=out,
    )
    return Cloud.objects.get(name=name), out.getvalue()


def test_the_import_finds_exactly_the_leak_placement_holds(placement, tmp_path):
    before = placement_state(placement)
    served = len(placement.requests())
    cloud, out = import_it(placement, tmp_path)

    audit = audit_cloud(cloud)
    assert [(f["provider"], f["consumer_uuid"], f["consumer_type"], f["resources"]) for f in audit["orphaned"]] == [
        ("compute1.example.org", LEAKED, "MIGRATION", TINY)
    ]
    assert audit["missing"] == [] and audit["flavor_mismatch"] == []
    assert f"  orphaned (migration of vm-b, error): Allocations were set against consumer UUID {LEAKED}" in out

    # The same usages as Placement's GET /resource_providers/{uuid}/usages, provider by provider.
    names = {COMPUTE1: "compute1.example.org", COMPUTE2: "compute2.example.org"}
    assert cloud_usages(cloud) == {names[rp]: usages for rp, (_, usages) in before.items()}
    assert cloud.imported["usage_differences"] == []
    assert "Usages: the same as Placement's, provider by provider." in out
    capacity = cloud.providers.get(name="compute1.example.org").inventories.get(resource_class="MEMORY_MB").capacity
    assert capacity == int((32768 - 512) * 1.5)

    # Read-only: GETs alone, and Placement's generations and usages as they were.
    assert {method for method, _ in placement.requests()[served:]} == {"GET"}
    assert placement_state(placement) == before


def test_the_imported_cloud_is_drawn_with_its_leak(placement, tmp_path, client):
    import_it(placement, tmp_path)
    page = client.get("/clouds/real/").content.decode()
    assert 'data-provider="compute1.example.org"' in page
    assert f"migration of vm-b (MIGRATION): 512 MiB — orphaned: Allocations were set against consumer UUID {LEAKED}" in page
    assert "seg seg-orphaned" in page and "seg seg-migration" in page  # the leak, and vm-c's waiting migration


def test_a_run_replayed_on_a_copy_has_the_real_capacities(placement, tmp_path):
    source, _ = import_it(placement, tmp_path)
    before = placement_state(placement)
    copy = copy_cloud(source)

    # vm-a's resize to m1.medium fails at finish_migration on compute2, as bug 1825537's did.
    run = run_to_completion(start_run("custom", {
        "cloud": copy.name, "server": "vm-a", "new_flavor": "m1.medium", "fail_at": "finish_migration",
    }))
    report_after = run.after["usages"]
    assert run.before["inventories"]["compute2.example.org"]["DISK_GB"]["capacity"] == 100
    assert run.status == "done" and run.server_status == "ERROR"
    migration = Migration.objects.get(pk=run.pipeline_state["migration_id"])
    assert (migration.dest_node.name, migration.status) == ("compute2.example.org", "error")
    assert report_after["compute2.example.org"] == {"VCPU": 4, "MEMORY_MB": 8192, "DISK_GB": 80}  # vm-b, vm-c, vm-a's m1.medium

    # Named as the cloud of a run, the imported cloud is copied for it: there m1.large asks 80 GB
    # where compute2 has 60 free, so no host has room (NoValidHost), as the real capacities say.
    run = run_to_completion(start_run("custom", {"cloud": "real", "server": "vm-a", "new_flavor": "m1.large"}))
    assert run.status == "done" and run.server_status == "ACTIVE" and run.cloud.copy_of == source
    assert build_room(run)["compute2.example.org"]["DISK_GB"] == {"asked": 80, "free": 60, "refused": "more than is free"}

    # Nothing was written to the real Placement, and the import is as it was.
    assert placement_state(placement) == before
    assert audit_cloud(source)["orphaned"][0]["consumer_uuid"] == LEAKED
    assert {d["provider"] for d in Cloud.objects.get(pk=source.pk).imported["usage_differences"]} == set()


def build_room(run):
    from simulator.report import build_report

    return build_report(run)["room"]["candidates"]
