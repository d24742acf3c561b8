"""Importing a real cloud: the openstack command's JSON read, consumers labelled by
cross-referencing Nova's servers and migrations, the audit's findings, usages as Placement's;
copies for replays, and imported clouds never changed by a run."""
import json

import pytest

from simulator import imports
from simulator.audit import audit_cloud
from simulator.copies import CopyRefused, copy_cloud
from simulator.imports import ImportFailed, from_osc_migrations, from_osc_servers, label_consumers, store
from simulator.models import Allocation, Cloud, Consumer, Inventory, Migration, ResourceProvider, Server
from simulator.pipeline import InvalidRun, run_to_completion, start_run
from simulator.placement import cloud_usages, usages
from simulator.states import ConsumerType, VmState
from tests import imported as real
from tests.factories import cloud_with_hosts

pytestmark = pytest.mark.django_db


def test_servers_from_the_openstack_command():
    servers = {s["name"]: s for s in from_osc_servers(real.osc_json("servers"))}
    assert servers["web-1"] == {
        "uuid": real.WEB, "name": "web-1", "status": "ACTIVE", "vm_state": None, "task_state": None,
        "power_state": 1, "node": "compute1.example.org", "flavor": {"name": "m1.small"},
        "project_id": "9a1e3d5c7b2f4e6a8c0d1f3b5a7e9c2d", "user_id": "",
    }
    assert imports.vm_state_of(servers["app-1"]) == VmState.RESIZED
    assert imports.vm_state_of(servers["cache-1"]) == VmState.STOPPED
    assert imports.vm_state_of({"status": "RESIZE", "power_state": 4}) == VmState.STOPPED
    assert imports.vm_state_of({"status": "RESIZE", "power_state": 1}) == VmState.ACTIVE


def test_older_clients_flavor_columns_and_missing_columns():
    rows = json.loads(real.osc_json("servers"))
    for row in rows:  # before microversion 2.47: Flavor Name and Flavor ID
        row["Flavor Name"], row["Flavor ID"] = row.pop("Flavor"), "2"
    assert from_osc_servers(json.dumps(rows))[0]["flavor"] == {"name": "m1.small"}
    del rows[0]["Host"]
    with pytest.raises(ImportFailed, match="lacks the column Host: give what `openstack server list --all-projects --long -f json` prints"):
        from_osc_servers(json.dumps(rows))
    with pytest.raises(ImportFailed, match="not JSON"):
        from_osc_servers("ID Name\n")
    rows = json.loads(real.osc_json("servers"))
    rows[0]["ID"] = rows[0]["ID"].upper()
    assert from_osc_servers(json.dumps(rows))[0]["uuid"] == real.WEB  # as Placement writes it
    rows[0]["ID"] = "web-1"
    with pytest.raises(ImportFailed, match="Server ID 'web-1' is not a uuid"):
        from_osc_servers(json.dumps(rows))


def test_migrations_need_their_uuid():
    migrations = from_osc_migrations(real.osc_json("migrations"))
    assert migrations[0]["uuid"] == real.DB_MIGRATION and migrations[0]["status"] == "error"
    rows = json.loads(real.osc_json("migrations"))
    for row in rows:  # compute API older than 2.59
        del row["UUID"]
    with pytest.raises(ImportFailed, match="no UUID column.*2.59"):
        from_osc_migrations(json.dumps(rows))


def test_labels_come_from_novas_servers_and_migrations():
    nova = real.nova_read()
    labels = label_consumers([real.WEB, real.DB_MIGRATION, real.DELETED], nova["servers"], nova["migrations"])
    assert labels == {
        real.WEB: ConsumerType.INSTANCE,
        real.DB_MIGRATION: ConsumerType.MIGRATION,
        real.DELETED: ConsumerType.UNKNOWN,
    }


def test_an_import_is_labelled_and_audited_as_nova_would():
    cloud = real.imported_cloud()
    types = dict(Consumer.objects.filter(cloud=cloud).values_list("uuid", "consumer_type"))
    assert {str(k): v for k, v in types.items()} == {
        real.WEB: "INSTANCE", real.DB: "INSTANCE", real.APP: "INSTANCE", real.CACHE: "INSTANCE",
        real.DB_MIGRATION: "MIGRATION", real.APP_MIGRATION: "MIGRATION", real.DELETED: "UNKNOWN",
    }
    audit = audit_cloud(cloud)
    assert [(f["provider"], f["consumer_uuid"], f["consumer_type"]) for f in audit["orphaned"]] == [
        ("compute1.example.org", real.DB_MIGRATION, "MIGRATION"),  # the failed resize's leak
        ("compute2.example.org", real.DELETED, "UNKNOWN"),
    ]
    assert [f["server"] for f in audit["missing"]] == ["batch-1"]
    assert [(f["server"], f["allocated"]) for f in audit["flavor_mismatch"]] == [("cache-1", real.TINY)]
    # app-1 waits in VERIFY_RESIZE: its migration holds m1.tiny on the source, as Nova's does.
    assert not any(f["consumer_uuid"] == real.APP_MIGRATION for f in audit["orphaned"])
    assert cloud.imported["labels"] == {"INSTANCE": 4, "MIGRATION": 2, "UNKNOWN": 1}
    assert cloud.imported["counts"] == {"providers": 2, "servers": 5, "migrations": 3, "consumers": 7, "allocations": 21}


def test_usages_and_inventories_are_placements():
    cloud = real.imported_cloud()
    read = real.placement_read()
    assert cloud_usages(cloud) == {p["name"]: p["usages"] for p in read["providers"]}
    assert cloud.imported["usage_differences"] == []
    compute1 = ResourceProvider.objects.get(uuid=real.COMPUTE1)
    assert compute1.cloud == cloud and compute1.host.name == "compute1.example.org"
    memory = compute1.inventories.get(resource_class="MEMORY_MB")
    assert (memory.total, memory.reserved, memory.allocation_ratio, memory.capacity) == (65536, 512, 1.5, 97536)
    assert usages(compute1) == {"DISK_GB": 23, "MEMORY_MB": 3584, "VCPU": 4}
    server = Server.objects.get(uuid=real.APP)
    assert (server.status, server.node.name, server.flavor.name, server.new_flavor.name) == (
        "VERIFY_RESIZE", "compute2.example.org", "m1.small", "m1.small")


def test_what_cannot_be_drawn_is_said():
    read = real.placement_read()
    read["providers"][0]["inventories"]["CUSTOM_GPU"] = {"total": 2, "reserved": 0, "min_unit": 1, "max_unit": 1, "step_size": 1, "allocation_ratio": 1.0}
    read["providers"][0]["allocations"][real.WEB] = {**real.SMALL, "CUSTOM_GPU": 1}
    read["providers"].append({
        "uuid": "0c1a2b3c-4d5e-4f60-8a1b-2c3d4e5f6a03", "name": "compute1.example.org_pci_0000_81_00_0",
        "generation": 1, "parent_provider_uuid": real.COMPUTE1, "root_provider_uuid": real.COMPUTE1,
        "inventories": {"VGPU": {"total": 4, "reserved": 0, "min_unit": 1, "max_unit": 4, "step_size": 1, "allocation_ratio": 1.0}},
        "usages": {"VGPU": 0}, "allocations": {},
    })
    cloud = store("gpu", read, real.nova_read())
    assert cloud.imported["notes"][:2] == [
        "Provider compute1.example.org_pci_0000_81_00_0 has no VCPU, MEMORY_MB or DISK_GB inventory: not drawn.",
        "Resource classes the dashboard does not draw were left out: CUSTOM_GPU (1 provider), VGPU (1 provider).",
    ]
    assert not Inventory.objects.filter(resource_class="CUSTOM_GPU").exists()
    # web-1 holds exactly m1.small of the drawn classes: no mismatch for it
    assert [f["server"] for f in audit_cloud(cloud)["flavor_mismatch"]] == ["cache-1"]


def test_flavors_unknown_are_taken_from_what_servers_hold():
    nova = {**real.nova_read(), "flavors": []}
    cloud = store("noflavors", real.placement_read(), nova)
    assert cloud.flavors.get(name="m1.small").resources() == real.SMALL  # most servers of m1.small hold it
    assert any(note.startswith("Flavor m1.small: its sizes are what its servers hold") for note in cloud.imported["notes"])


def test_a_node_named_short_or_long_finds_its_provider():
    nova = real.nova_read()
    for server in nova["servers"]:
        server["node"] = server["node"].split(".")[0]
    cloud = store("short", real.placement_read(), nova)
    assert Server.objects.get(cloud=cloud, name="web-1").node.name == "compute1.example.org"


def test_importing_again_replaces_and_never_clashes():
    real.imported_cloud()
    with pytest.raises(ImportFailed, match="already imported: replace it"):
        real.imported_cloud()
    with pytest.raises(ImportFailed, match="already in cloud prod"):
        real.imported_cloud(name="prod2")
    again = store("prod", real.placement_read(), real.nova_read(), replace=True)
    assert Cloud.objects.filter(name="prod").get() == again and again.providers.count() == 2
    cloud_with_hosts("sim")
    with pytest.raises(ImportFailed, match="not an imported one"):
        store("sim", real.placement_read(), real.nova_read(), replace=True)


# -- copies and replays ------------------------------------------------------------------------------
def _holdings(cloud):
    """{(provider, consumer type, server or migration's server name): resources} of a cloud."""
    names = {str(s.uuid): s.name for s in Server.objects.filter(cloud=cloud)}
    names.update({str(m.uuid): f"migration of {m.server.name}" for m in Migration.objects.filter(cloud=cloud)})
    result = {}
    for alloc in Allocation.objects.filter(provider__cloud=cloud).select_related("provider", "consumer"):
        key = (alloc.provider.name, alloc.consumer.consumer_type, names.get(str(alloc.consumer.uuid), "?"))
        result.setdefault(key, {})[alloc.resource_class] = alloc.used
    return result


def test_a_copy_has_everything_with_new_uuids():
    source = real.imported_cloud()
    copy = copy_cloud(source)
    assert (copy.name, copy.copy_of, copy.is_imported) == ("prod-copy-1", source, False)
    assert _holdings(copy) == _holdings(source)
    assert cloud_usages(copy) == cloud_usages(source)
    inventories = lambda cloud: sorted(  # noqa: E731
        Inventory.objects.filter(provider__cloud=cloud).values_list(
            "provider__name", "resource_class", "total", "reserved", "min_unit", "max_unit", "step_size", "allocation_ratio"))
    assert inventories(copy) == inventories(source)
    assert not set(copy.servers.values_list("uuid", flat=True)) & set(source.servers.values_list("uuid", flat=True))
    # The same findings, on the copy's consumers.
    found = lambda cloud: {k: [(f.get("provider"), f.get("consumer_type"), f.get("server")) for f in v] for k, v in audit_cloud(cloud).items() if k != "exit_code"}  # noqa: E731
    assert found(copy) == found(source)
    assert copy_cloud(source).name == "prod-copy-2"
    with pytest.raises(CopyRefused, match="not an imported cloud"):
        copy_cloud(copy)


def test_runs_never_change_an_imported_cloud():
    source = real.imported_cloud()
    before = _holdings(source)
    # A run in the imported cloud runs on a fresh copy of it.
    run = run_to_completion(start_run(
        "custom", {"cloud": "prod", "server": "web-1", "new_flavor": "m1.medium", "fail_at": "finish_migration"}))
    assert run.status == "done" and run.server_status == "ERROR"
    assert (run.cloud.name, run.cloud.copy_of, run.params["cloud"]) == (f"prod-run-{run.pk}", source, "prod")
    assert _holdings(source) == before and Server.objects.get(uuid=real.WEB).status == "ACTIVE"
    # The resize went to compute2 with the real capacities.
    assert run.pipeline_state["request_spec"]["resources"] == {"VCPU": 2, "MEMORY_MB": 4096, "DISK_GB": 40}
    assert Migration.objects.get(pk=run.pipeline_state["migration_id"]).dest_node.name == "compute2.example.org"
    assert run.before["inventories"]["compute1.example.org"]["MEMORY_MB"]["capacity"] == 97536
    # A copy made by hand is shared by the runs in it.
    copy = copy_cloud(source)
    run = run_to_completion(start_run("custom", {"cloud": copy.name, "server": "web-1", "new_flavor": "m1.medium"}))
    assert run.cloud == copy and Server.objects.get(cloud=copy, name="web-1").status == "VERIFY_RESIZE"
    with pytest.raises(InvalidRun, match="Cannot 'resize' instance .* while it is in vm_state resized"):
        start_run("custom", {"cloud": copy.name, "server": "web-1", "new_flavor": "m1.large"})
    assert _holdings(source) == before


# -- the commands ------------------------------------------------------------------------------------
def _command(*args):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command(*args, stdout=out, stderr=out)
    return out.getvalue()


def test_import_cloud_command(monkeypatch, tmp_path):
    monkeypatch.setattr(imports, "read_placement", lambda url, token=None, session=None: real.placement_read(url))
    files = {}
    for name in ("servers", "migrations", "flavors"):
        files[name] = tmp_path / f"{name}.json"
        files[name].write_text(real.osc_json(name))
    out = _command(
        "import_cloud", "--name", "prod", "--placement-url", "http://placement.example.org:8778", "--token", "t",
        "--servers-json", str(files["servers"]), "--migrations-json", str(files["migrations"]),
        "--flavors-json", str(files["flavors"]),
    )
    lines = out.splitlines()
    assert lines[:2] == [
        "Imported prod from http://placement.example.org:8778 (Nova: files): 2 providers, 5 servers, 3 migrations, 7 consumers",
        "Consumers: 4 instance, 2 migration, 1 unknown",
    ]
    assert "Usages: the same as Placement's, provider by provider." in lines
    assert f"  orphaned (migration of db-1, error): Allocations were set against consumer UUID {real.DB_MIGRATION} but no existing instances or active migrations are related. Allocations for consumer UUID {real.DB_MIGRATION} on Resource Provider {real.COMPUTE1} can be deleted: {{'resources': {{'DISK_GB': 1, 'MEMORY_MB': 512, 'VCPU': 1}}}}" in lines
    assert any(line.startswith(f"  orphaned (unknown consumer): Allocations were set against consumer UUID {real.DELETED}") for line in lines)

    out = _command("resize_campaign", "--scenario", "custom", "--params",
                   '{"cloud": "prod", "server": "web-1", "new_flavor": "m1.medium", "fail_at": "finish_migration"}',
                   "--axis", "then=all", "--axis", "bugs=all", "--in-process")
    assert "Campaign 1 done: 6 runs, 0 skipped" in out, out
    assert Cloud.objects.filter(copy_of__name="prod").count() == 6

    out = _command("copy_cloud", "prod", "--name", "prod-what-if")
    assert out.startswith("Copied prod to prod-what-if: 2 hosts, 5 servers.")
    out = _command("resize_run", "--scenario", "custom", "--cloud", "prod-what-if", "--server", "web-1", "--new-flavor", "m1.medium",
                   "--fail-at", "finish_migration", "--in-process")
    assert "in cloud prod-what-if" in out and "Server web-1: ERROR" in out


def test_import_cloud_command_errors(tmp_path):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="Give --placement-url"):
        _command("import_cloud", "--name", "x")
    with pytest.raises(CommandError, match="Cannot read .*nope.json"):
        _command("import_cloud", "--name", "x", "--placement-url", "http://127.0.0.1:9", "--servers-json", str(tmp_path / "nope.json"))
    with pytest.raises(CommandError, match="Cannot reach http://127.0.0.1:9/"):
        _command("import_cloud", "--name", "x", "--placement-url", "http://127.0.0.1:9")
    with pytest.raises(CommandError, match="Cloud nope does not exist"):
        _command("copy_cloud", "nope")


# -- the readers, on canned answers ------------------------------------------------------------------
class Answer:
    def __init__(self, body, status=200):
        self.body, self.status_code, self.text, self.reason = body, status, json.dumps(body), "reason"

    def json(self):
        return self.body


class Canned:
    """A requests session answering GETs from ``pages`` ({(path, marker): body}); it records them."""

    def __init__(self, pages):
        self.pages, self.sent = pages, []

    def get(self, url, params=None, headers=None, timeout=None):
        path = "/" + url.split("/", 3)[3]
        marker = (params or {}).get("marker")
        self.sent.append((path, marker, headers))
        body = self.pages.get((path, marker))
        if callable(body):
            body = body()
        return Answer(body) if body is not None else Answer({"itemNotFound": {"message": f"{path} not found"}}, 404)


def test_reading_nova_from_its_compute_endpoint():
    server = {
        "id": real.WEB, "name": "web-1", "status": "ACTIVE", "OS-EXT-STS:vm_state": "active",
        "OS-EXT-STS:task_state": None, "OS-EXT-STS:power_state": 1,
        "OS-EXT-SRV-ATTR:hypervisor_hostname": "compute1.example.org", "tenant_id": "p1", "user_id": "u1",
        "flavor": {"original_name": "m1.small", "vcpus": 1, "ram": 2048, "disk": 20, "ephemeral": 0, "swap": 0, "extra_specs": {}},
    }
    other = {**server, "id": real.CACHE, "name": "cache-1", "OS-EXT-STS:vm_state": "stopped", "status": "SHUTOFF"}
    migration = {"id": 12, "uuid": real.DB_MIGRATION, "instance_uuid": real.WEB, "status": "error", "migration_type": "resize",
                 "source_node": "compute1.example.org", "dest_node": "compute2.example.org",
                 "old_instance_type_id": 1, "new_instance_type_id": 2}
    canned = Canned({
        ("/v2.1/servers/detail", None): {"servers": [server], "servers_links": [{"rel": "next", "href": "…"}]},
        ("/v2.1/servers/detail", real.WEB): {"servers": [other]},
        ("/v2.1/os-migrations", None): {"migrations": [migration]},
        ("/v2.1/flavors/detail", None): {"flavors": [{"id": "2", "name": "m1.small", "vcpus": 1, "ram": 2048, "disk": 20, "OS-FLV-EXT-DATA:ephemeral": 0, "swap": 0}]},
    })
    nova = imports.read_compute("http://nova.example.org:8774/v2.1", token="t", session=canned)
    assert [s["name"] for s in nova["servers"]] == ["web-1", "cache-1"]  # both pages
    assert nova["servers"][1]["vm_state"] == "stopped" and nova["servers"][0]["flavor"]["ram"] == 2048
    assert nova["migrations"][0]["uuid"] == real.DB_MIGRATION and nova["flavors"][0]["id"] == "2"
    headers = canned.sent[0][2]
    assert headers["OpenStack-API-Version"] == "compute 2.59" and headers["X-Auth-Token"] == "t"
    assert [(path, marker) for path, marker, _ in canned.sent] == [
        ("/v2.1/servers/detail", None), ("/v2.1/servers/detail", real.WEB), ("/v2.1/os-migrations", None), ("/v2.1/flavors/detail", None)]


def test_reading_placement_again_when_a_provider_changes_meanwhile():
    generations = iter([3, 4, 4, 4, 4, 4])

    def document(key, value):
        return lambda: {"resource_provider_generation": next(generations), key: value}

    base = f"/resource_providers/{real.COMPUTE1}"
    canned = Canned({
        ("/", None): {"versions": [{"max_version": "1.39"}]},
        ("/resource_providers", None): {"resource_providers": [{"uuid": real.COMPUTE1, "name": "compute1", "root_provider_uuid": real.COMPUTE1}]},
        (f"{base}/inventories", None): document("inventories", real.inventory()),
        (f"{base}/usages", None): document("usages", real.SMALL),
        (f"{base}/allocations", None): document("allocations", {real.WEB: {"resources": real.SMALL}}),
    })
    read = imports.read_placement("http://placement.example.org:8778", token="t", session=canned)
    assert read["providers"][0]["generation"] == 4 and read["providers"][0]["allocations"] == {real.WEB: real.SMALL}
    assert len(canned.sent) == 2 + 6  # the provider read twice: its generation moved between the reads
    assert canned.sent[0][2]["OpenStack-API-Version"] == "placement 1.14"
    with pytest.raises(ImportFailed, match=r"GET http://placement.example.org:8778/nope answered 404: /nope not found"):
        imports.Reader("http://placement.example.org:8778", session=canned).get("/nope")


def test_keystone_password_login_and_catalog():
    class Keystone:
        def post(self, url, json=None, timeout=None):
            self.url, self.body = url, json
            answer = Answer({"token": {"catalog": [
                {"type": "placement", "endpoints": [{"interface": "public", "region_id": "RegionOne", "url": "http://placement.example.org:8778"}]},
                {"type": "compute", "endpoints": [{"interface": "internal", "region_id": "RegionOne", "url": "http://nova-internal:8774/v2.1"},
                                                  {"interface": "public", "region_id": "RegionOne", "url": "http://nova.example.org:8774/v2.1"}]},
            ]}}, status=201)
            answer.headers = {"X-Subject-Token": "gAAAAB-issued"}
            return answer

    keystone = Keystone()
    session = imports.keystone_session("http://keystone.example.org:5000", "admin", "secret", "admin", session=keystone)
    assert keystone.url == "http://keystone.example.org:5000/v3/auth/tokens"
    assert keystone.body["auth"]["scope"] == {"project": {"name": "admin", "domain": {"name": "Default"}}}
    assert session.token == "gAAAAB-issued"
    assert session.endpoint("placement") == "http://placement.example.org:8778"
    assert session.endpoint("compute") == "http://nova.example.org:8774/v2.1"
    assert session.endpoint("image") is None


def test_the_rest_api_never_changes_an_imported_cloud(api):
    cloud = real.imported_cloud()
    host = cloud.hosts.get(name="compute1.example.org")
    refused = [
        api.post("/api/hosts/", {"cloud": "prod", "name": "compute3"}, format="json"),
        api.patch(f"/api/hosts/{host.pk}/", {"service_up": False}, format="json"),
        api.delete(f"/api/hosts/{host.pk}/"),
        api.post("/api/flavors/", {"cloud": "prod", "flavorid": "9", "name": "m1.huge", "vcpus": 8, "memory_mb": 16384, "root_gb": 160}, format="json"),
        api.delete(f"/api/flavors/{cloud.flavors.get(name='m1.tiny').pk}/"),
        api.post("/api/servers/", {"cloud": "prod", "name": "new", "host": "compute1.example.org", "flavor": "m1.tiny"}, format="json"),
        api.delete(f"/api/servers/{real.WEB}/"),
        api.put(f"/api/providers/{real.COMPUTE1}/inventories/VCPU/", {"total": 1, "reserved": 0, "min_unit": 1, "max_unit": 1, "step_size": 1, "allocation_ratio": 1.0}, format="json"),
        api.delete(f"/api/providers/{real.COMPUTE2}/inventories/DISK_GB/"),
    ]
    assert [r.status_code for r in refused] == [409] * len(refused), [r.content for r in refused]
    assert refused[0].json()["detail"].startswith("Cloud prod is imported from a real cloud and is never changed here")
    assert cloud.hosts.count() == 2 and cloud.servers.count() == 5 and cloud.flavors.count() == 3
    assert api.get(f"/api/providers/{real.COMPUTE1}/usages/").json()["usages"] == {"DISK_GB": 23, "MEMORY_MB": 3584, "VCPU": 4}
    # A copy is an ordinary cloud.
    copy = copy_cloud(cloud)
    assert api.patch(f"/api/hosts/{copy.hosts.get(name='compute1.example.org').pk}/", {"service_up": False}, format="json").status_code == 200


def test_what_a_copy_had_before_a_run_is_inherited():
    source = real.imported_cloud()
    run = run_to_completion(start_run("custom", {"cloud": "prod", "server": "web-1", "new_flavor": "m1.medium", "then": "confirm"}))
    # The copy had the import's 2 orphaned allocations, its missing one and its mismatch: the run added nothing.
    assert [f.get("inherited") for kind in ("orphaned", "missing", "flavor_mismatch") for f in run.audit[kind]] == [True] * 4
    assert run.audit_summary == "orphaned 2 inherited · missing 1 inherited · flavor mismatch 1 inherited"
    from simulator.campaigns import outcome

    assert outcome(run) == "clean"
    leaky = run_to_completion(start_run("custom", {"cloud": "prod", "server": "web-1", "new_flavor": "m1.medium",
                                                    "fail_at": "revert_move", "then": "revert"}))
    assert outcome(leaky) == "orphaned" and leaky.audit_summary.startswith("orphaned 2 · orphaned 2 inherited")
    new = [f for f in leaky.audit["orphaned"] if not f.get("inherited")]
    assert {f["provider"] for f in new} == {"compute1.example.org", "compute2.example.org"}  # the revert's leak
    from simulator.audit import findings

    assert not any(f.get("inherited") for _, f in findings(audit_cloud(source)))  # the import itself inherits nothing
