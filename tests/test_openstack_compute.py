"""The Compute API per cloud (``/compute/<cloud>/v2.1/``), shaped as Nova 34 answers.

The test client checks shapes per microversion, the negotiation and the refusals against what
Nova 34 answers, asked for real (its functional environment, an admin, ``POST
/servers/{id}/action`` and the reads, December 2026): the key lists and messages below are copied
from its answers. Then, on a live stack (Redis, a worker, the web server), the real ``openstack``
command and openstacksdk, configured by a clouds.yaml, resize, confirm and revert servers: each
request is a run the dashboard shows, with the outcome the CLI shows.
"""
import json
import os
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import ScopedRateThrottle

from simulator.models import Host, InstanceAction, Run
from simulator.pipeline import run_to_completion
from simulator.report import build_report
from tests.factories import booted_server
from tests.live import LiveStack
from tests.osc import needs_osc, openstack

# -- what Nova 34 answers ----------------------------------------------------------------------
SHOW_2_1 = [
    "accessIPv4", "accessIPv6", "addresses", "created", "flavor", "hostId", "id", "image", "links", "metadata",
    "name", "status", "tenant_id", "user_id", "updated", "OS-DCF:diskConfig", "progress",
    "OS-EXT-AZ:availability_zone", "config_drive", "key_name", "OS-SRV-USG:launched_at", "OS-SRV-USG:terminated_at",
    "OS-EXT-SRV-ATTR:host", "OS-EXT-SRV-ATTR:instance_name", "OS-EXT-SRV-ATTR:hypervisor_hostname",
    "OS-EXT-STS:task_state", "OS-EXT-STS:vm_state", "OS-EXT-STS:power_state", "os-extended-volumes:volumes_attached",
]
EXTENDED_2_3 = [
    "OS-EXT-SRV-ATTR:hostname", "OS-EXT-SRV-ATTR:kernel_id", "OS-EXT-SRV-ATTR:launch_index",
    "OS-EXT-SRV-ATTR:ramdisk_id", "OS-EXT-SRV-ATTR:reservation_id", "OS-EXT-SRV-ATTR:root_device_name",
    "OS-EXT-SRV-ATTR:user_data",
]
_AT = SHOW_2_1.index("OS-EXT-STS:task_state")
SHOW_LATEST = SHOW_2_1[:_AT] + EXTENDED_2_3 + SHOW_2_1[_AT:] + [
    "locked", "host_status", "description", "tags", "trusted_image_certificates", "server_groups", "locked_reason",
    "pinned_availability_zone", "scheduler_hints",
]
# /servers/detail: no server_groups, every server's host_status added last.
DETAIL_LATEST = [key for key in SHOW_LATEST if key not in ("host_status", "server_groups")] + ["host_status"]
FLAVOR_2_1 = ["id", "name", "ram", "disk", "swap", "OS-FLV-EXT-DATA:ephemeral", "OS-FLV-DISABLED:disabled", "vcpus",
              "os-flavor-access:is_public", "rxtx_factor", "links"]
FLAVOR_LATEST = ["id", "name", "ram", "disk", "swap", "OS-FLV-EXT-DATA:ephemeral", "vcpus",
                 "os-flavor-access:is_public", "links", "description", "extra_specs"]
MIGRATION_2_1 = ["id", "source_compute", "dest_compute", "source_node", "dest_node", "dest_host",
                 "old_instance_type_id", "new_instance_type_id", "instance_uuid", "status", "created_at", "updated_at"]
MIGRATION_2_80 = ["id", "uuid", "source_compute", "dest_compute", "source_node", "dest_node", "dest_host",
                  "old_instance_type_id", "new_instance_type_id", "instance_uuid", "status", "migration_type",
                  "user_id", "project_id", "created_at", "updated_at"]
ACTION_2_1 = ["action", "instance_uuid", "request_id", "user_id", "project_id", "start_time", "message"]
EVENT_2_1 = ["event", "start_time", "finish_time", "result", "traceback"]
RESIZE_WITH_A_HOST = ("Invalid input for field/attribute resize. Value: {'flavorRef': '2', 'host': 'host2'}. "
                      "Additional properties are not allowed ('host' was unexpected)")
HOST1_ID = "8a8d66db9eed58f2b1283d23acc9a32691290b603a716d81d8ed8c4e"  # host1 hashed with the project


@pytest.fixture
def sent(monkeypatch):
    """Casts the API sends, recorded instead of published (no broker in these tests)."""
    casts = []
    monkeypatch.setattr("dashboard.openstack.compute.cast", lambda *args: casts.append(args))
    return casts


@pytest.fixture
def nova(client, token, demo_cloud, django_capture_on_commit_callbacks):
    """``nova(method, path, body=None, version=None, **headers)``: a request to the demo cloud's
    Compute API with the token, at ``version`` (``OpenStack-API-Version: compute X``); what it
    casts once committed is sent (to ``sent``)."""

    def call(method, path, body=None, version=None, token=token.key, **headers):
        if token:
            headers["HTTP_X_AUTH_TOKEN"] = token
        if version:
            headers["HTTP_OPENSTACK_API_VERSION"] = f"compute {version}"
        data = body if isinstance(body, str) else json.dumps(body) if body is not None else ""
        with django_capture_on_commit_callbacks(execute=True):
            return client.generic(method, f"/compute/demo/v2.1{path}", data, content_type="application/json",
                                  **headers)

    return call


@pytest.fixture
def web(demo_cloud):
    return booted_server(demo_cloud, "web")


def fault(response):
    (name, document), = response.json().items()
    return response.status_code, name, document["message"]


def resized(nova, server, sent, flavor="2"):
    """Resize over the API and run the run to its end in this process."""
    response = nova("POST", f"/servers/{server.uuid}/action", {"resize": {"flavorRef": flavor}}, "latest")
    assert response.status_code == 202, response.content
    return run_to_completion(Run.objects.latest("id"))


# -- version discovery and negotiation ---------------------------------------------------------
def test_version_discovery_needs_no_token(client, demo_cloud):
    root = client.get("/compute/demo/").json()
    assert root == {"versions": [{"id": "v2.1", "status": "CURRENT", "version": "2.104", "min_version": "2.1",
                                  "updated": "2013-07-23T11:33:21Z",
                                  "links": [{"rel": "self", "href": "http://testserver/compute/demo/v2.1/"}]}]}
    response = client.get("/compute/demo/v2.1/")
    assert response.json()["version"] == {
        "id": "v2.1", "status": "CURRENT", "version": "2.104", "min_version": "2.1", "updated": "2013-07-23T11:33:21Z",
        "links": [{"rel": "self", "href": "http://testserver/compute/demo/v2.1/"},
                  {"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1"}],
    }
    assert response["OpenStack-API-Version"] == "compute 2.1"
    assert client.get("/compute/demo/v2.1").status_code == 200
    assert fault(client.get("/compute/nowhere/")) == (404, "itemNotFound", "Cloud nowhere could not be found.")


@pytest.mark.parametrize(
    "headers, served",
    [
        ({}, "2.1"),
        ({"HTTP_OPENSTACK_API_VERSION": "compute latest"}, "2.104"),
        ({"HTTP_X_OPENSTACK_NOVA_API_VERSION": "2.60"}, "2.60"),
        # the standard header wins over the legacy one; another service's version is not ours
        ({"HTTP_X_OPENSTACK_NOVA_API_VERSION": "2.60", "HTTP_OPENSTACK_API_VERSION": "compute 2.70"}, "2.70"),
        ({"HTTP_OPENSTACK_API_VERSION": "placement 1.2"}, "2.1"),
        ({"HTTP_OPENSTACK_API_VERSION": "placement 1.2, compute 2.50"}, "2.50"),
    ],
)
def test_the_microversion_is_negotiated_as_nova_does(nova, web, headers, served):
    response = nova("GET", f"/servers/{web.uuid}", **headers)
    assert response.status_code == 200
    assert (response["OpenStack-API-Version"], response["X-OpenStack-Nova-API-Version"]) == (f"compute {served}", served)
    assert response["Vary"] == "OpenStack-API-Version, X-OpenStack-Nova-API-Version"
    assert response["x-compute-request-id"].startswith("req-")


def test_an_unsupported_microversion_is_refused_as_nova_refuses_it(nova, web):
    response = nova("GET", f"/servers/{web.uuid}", version="2.105")
    assert fault(response) == (406, "computeFault", "Version 2.105 is not supported by the API. "
                                                    "Minimum is 2.1 and maximum is 2.104.")
    assert response["OpenStack-API-Version"] == "compute 2.105"
    assert fault(nova("GET", f"/servers/{web.uuid}", version="2.0"))[0] == 406
    response = nova("GET", f"/servers/{web.uuid}", version="2.x")
    assert fault(response) == (400, "badRequest", "API Version String 2.x is of invalid format. "
                                                  "Must be of format MajorNum.MinorNum.")
    assert "OpenStack-API-Version" not in response


# -- authentication ----------------------------------------------------------------------------
def test_a_write_needs_a_token_and_a_bad_token_is_refused_as_keystonemiddleware_refuses_it(nova, web, sent):
    for token in (None, "0" * 40):
        response = nova("POST", f"/servers/{web.uuid}/action", {"confirmResize": None}, token=token)
        assert response.status_code == 401
        assert response.json() == {"error": {"code": 401, "title": "Unauthorized",
                                             "message": "The request you have made requires authentication."}}
        assert response["WWW-Authenticate"] == 'Keystone uri="http://testserver/identity/"'
    assert nova("GET", f"/servers/{web.uuid}", token="0" * 40).status_code == 401
    assert nova("GET", f"/servers/{web.uuid}", token=None).status_code == 200  # reading, as the REST API's policy
    assert sent == [] and not Run.objects.exists()


def test_reads_need_a_token_where_the_rest_api_needs_one(nova, web, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK,
                               "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"]}
    assert nova("GET", f"/servers/{web.uuid}", token=None).status_code == 401
    assert nova("GET", f"/servers/{web.uuid}").status_code == 200


# -- servers and flavors -----------------------------------------------------------------------
def test_a_server_is_shown_with_the_keys_of_each_microversion(nova, web):
    old = nova("GET", f"/servers/{web.uuid}").json()["server"]
    assert list(old) == SHOW_2_1
    assert old["flavor"] == {"id": "1", "links": [{"rel": "bookmark", "href": "http://testserver/compute/demo/flavors/1"}]}
    assert (old["status"], old["OS-EXT-SRV-ATTR:host"], old["OS-EXT-STS:vm_state"], old["OS-EXT-STS:task_state"]) == (
        "ACTIVE", "host1", "active", None)
    assert old["hostId"] == HOST1_ID and old["image"] == ""
    assert old["links"][0] == {"rel": "self", "href": f"http://testserver/compute/demo/v2.1/servers/{web.uuid}"}

    latest = nova("GET", f"/servers/{web.uuid}", version="latest").json()["server"]
    assert list(latest) == SHOW_LATEST
    assert latest["flavor"] == {"vcpus": 1, "ram": 512, "disk": 1, "ephemeral": 0, "swap": 0,
                                "original_name": "m1.tiny", "extra_specs": {}}
    assert latest["host_status"] == "UP"
    assert list(nova("GET", "/servers/detail", version="latest").json()["servers"][0]) == DETAIL_LATEST
    assert nova("GET", "/servers", version="latest").json() == {"servers": [
        {"id": str(web.uuid), "name": "web", "links": old["links"]}]}


def test_an_unknown_server_is_nova_s_404(nova, db):
    assert fault(nova("GET", "/servers/00000000-0000-0000-0000-000000000000")) == (
        404, "itemNotFound", "Instance 00000000-0000-0000-0000-000000000000 could not be found.")
    assert fault(nova("GET", "/servers/web")) == (404, "itemNotFound", "Instance web could not be found.")
    response = nova("GET", "/nope")
    assert response.status_code == 404 and b"The resource could not be found." in response.content
    assert nova("GET", "/servers/web/action").status_code == 404  # no route for it


def test_an_error_servers_fault_is_shown_as_nova_shows_it(nova, demo_cloud, web, sent):
    Host.objects.filter(cloud=demo_cloud, name__in=["host2", "host3"]).update(
        failures=[{"point": "finish_migration"}])
    run = resized(nova, web, sent)

    server = nova("GET", f"/servers/{web.uuid}", version="latest").json()["server"]
    assert server["status"] == "ERROR" and "progress" not in server
    assert list(server).index("fault") == list(server).index("OS-DCF:diskConfig") + 1
    assert set(server["fault"]) == {"code", "created", "message", "details"}
    assert (server["fault"]["code"], server["fault"]["message"]) == (500, "Virtual Interface creation failed")
    assert server["fault"]["details"].startswith("Traceback (most recent call last):")
    assert server["fault"]["created"].endswith("Z")
    # the same fault as the dashboard's report
    report = build_report(run)
    assert report["server"]["fault"]["message"] == server["fault"]["message"]
    assert (server["OS-EXT-SRV-ATTR:host"], server["flavor"]["original_name"]) == (
        report["server"]["host"], report["server"]["flavor"])


def test_a_hidden_fault_is_not_shown(nova, web, sent):
    # A resize that finds no room leaves the server ACTIVE with a fault Nova's API does not show.
    response = nova("POST", f"/servers/{web.uuid}/action", {"resize": {"flavorRef": "5"}}, "latest")
    assert response.status_code == 202
    Host.objects.all().update(service_up=False)
    Host.objects.filter(name="host1").update(service_up=True)
    run_to_completion(Run.objects.get())
    server = nova("GET", f"/servers/{web.uuid}", version="latest").json()["server"]
    assert server["status"] == "ACTIVE" and "fault" not in server and web.faults.exists()


def test_a_flavor_is_shown_with_the_keys_of_each_microversion(nova, demo_cloud):
    assert list(nova("GET", "/flavors/2").json()["flavor"]) == FLAVOR_2_1
    assert nova("GET", "/flavors/2").json()["flavor"]["swap"] == ""
    small = nova("GET", "/flavors/2", version="latest").json()["flavor"]
    assert list(small) == FLAVOR_LATEST
    assert (small["name"], small["ram"], small["disk"], small["vcpus"], small["swap"]) == ("m1.small", 2048, 20, 1, 0)
    assert fault(nova("GET", "/flavors/m1.small")) == (404, "itemNotFound", "Flavor m1.small could not be found.")
    listed = nova("GET", "/flavors?limit=2").json()
    assert [f["id"] for f in listed["flavors"]] == ["1", "2"]
    assert listed["flavors_links"] == [{"rel": "next", "href": "http://testserver/compute/demo/v2.1/flavors?limit=2&marker=2"}]
    assert [f["name"] for f in nova("GET", "/flavors/detail?minRam=4096").json()["flavors"]] == [
        "m1.medium", "m1.large", "m1.xlarge"]


# -- the server's actions are runs -------------------------------------------------------------
def test_a_resize_is_a_run_of_the_urls_cloud_on_the_workers(nova, web, sent):
    response = nova("POST", f"/servers/{web.uuid}/action", {"resize": {"flavorRef": "2"}}, "latest")

    assert (response.status_code, response.content) == (202, b"")
    run = Run.objects.get()
    assert run.scenario == "custom" and run.cloud.name == "demo" and run.server == web
    assert {key: run.params[key] for key in ("cloud", "server", "action", "new_flavor", "dest_host", "fail_at")} == {
        "cloud": "demo", "server": str(web.uuid), "action": "resize", "new_flavor": "2", "dest_host": None,
        "fail_at": None}
    assert [cast[2:4] for cast in sent] == [("conductor.migrate_server", "conductor")]
    # the answer's request id is the instance action's, as in Nova
    assert response["x-compute-request-id"] == InstanceAction.objects.get(server=web).request_id
    busy = nova("POST", f"/servers/{web.uuid}/action", {"resize": {"flavorRef": "3"}}, "latest")
    assert fault(busy) == (409, "conflictingRequest",
                           f"Cannot 'resize' instance {web.uuid} while it is in task_state resize_prep")


@pytest.mark.parametrize(
    "body, status, message",
    [
        ({"resize": {"flavorRef": "2", "host": "host2"}}, 400, RESIZE_WITH_A_HOST),
        ({"resize": {}}, 400, "Invalid input for field/attribute resize. Value: {}. 'flavorRef' is a required property"),
        ({"resize": None}, 400, "Invalid input for field/attribute resize. Value: None. None is not of type 'object'"),
        ({"resize": {"flavorRef": 1.5}}, 400,
         "Invalid input for field/attribute flavorRef. Value: 1.5. 1.5 is not of type 'string', 'integer'"),
        ({"resize": {"flavorRef": "2", "OS-DCF:diskConfig": "bad"}}, 400,
         "Invalid input for field/attribute OS-DCF:diskConfig. Value: bad. 'bad' is not one of ['AUTO', 'MANUAL']"),
        ({"resize": {"flavorRef": "1"}}, 400, "When resizing, instances must change flavor!"),
        ({"resize": {"flavorRef": "m1.small"}}, 400, "Flavor m1.small could not be found."),
        ({"migrate": {"host": "host1"}}, 400, "Cannot migrate to the host where the server exists."),
        ({"migrate": {"host": "host9"}}, 400, "Compute host host9 could not be found."),
        ({"migrate": {"host": "h/x"}}, 400,
         "Invalid input for field/attribute host. Value: h/x. 'h/x' does not match '^[a-zA-Z0-9-._]*$'"),
        ({"migrate": {"flavorRef": "2"}}, 400, "Invalid input for field/attribute migrate. Value: {'flavorRef': '2'}. "
                                               "Additional properties are not allowed ('flavorRef' was unexpected)"),
        ({"migrate": {"host": ""}}, 400, "Invalid input for field/attribute host. Value: . '' should be non-empty"),
        ({"confirmResize": None}, 409, "Cannot 'confirmResize' instance {uuid} while it is in vm_state active"),
        ({"revertResize": None}, 409, "Cannot 'revertResize' instance {uuid} while it is in vm_state active"),
        ({"reboot": {"type": "SOFT"}}, 400, "There is no such action: reboot"),
        ({"resize": {"flavorRef": "2"}, "migrate": None}, 400, "Malformed request body"),
        ({}, 400, "Malformed request body"),
    ],
)
def test_an_action_is_refused_as_nova_refuses_it(nova, web, sent, body, status, message):
    response = nova("POST", f"/servers/{web.uuid}/action", body, "2.56")
    assert fault(response)[::2] == (status, message.replace("{uuid}", str(web.uuid)))
    assert not Run.objects.exists() and sent == []


def test_a_malformed_body_and_an_unknown_server(nova, web, sent):
    assert fault(nova("POST", f"/servers/{web.uuid}/action", "{not json"))[::2] == (400, "Malformed request body")
    unknown = "/servers/00000000-0000-0000-0000-000000000000/action"
    assert fault(nova("POST", unknown, {"resize": {"flavorRef": "2"}})) == (
        404, "itemNotFound", "Instance 00000000-0000-0000-0000-000000000000 could not be found.")
    # the body's schema is checked before the server is looked up
    assert fault(nova("POST", unknown, {"resize": {"flavorRef": "2", "host": "host2"}}))[::2] == (400, RESIZE_WITH_A_HOST)


def test_a_migrations_host_is_read_from_microversion_2_56(nova, web, sent):
    # Before 2.56 Nova neither checks nor reads the body: the scheduler chooses.
    assert nova("POST", f"/servers/{web.uuid}/action", {"migrate": {"host": "host1", "x": 1}}, "2.55").status_code == 202
    run = Run.objects.get()
    assert (run.params["action"], run.params["dest_host"], run.params["new_flavor"]) == ("migrate", None, None)
    run_to_completion(run)
    nova("POST", f"/servers/{web.uuid}/action", {"revertResize": None})
    run_to_completion(Run.objects.latest("id"))
    assert nova("POST", f"/servers/{web.uuid}/action", {"migrate": {"host": "host3"}}, "2.56").status_code == 202
    assert Run.objects.latest("id").params["dest_host"] == "host3"


def test_confirm_and_revert_of_a_server_left_in_verify_resize_are_runs(nova, web, sent):
    first = resized(nova, web, sent)
    assert first.server_status == "VERIFY_RESIZE"

    response = nova("POST", f"/servers/{web.uuid}/action", {"confirmResize": None}, "latest")
    assert (response.status_code, response.content) == (204, b"")
    confirm = Run.objects.latest("id")
    assert (confirm.params["action"], confirm.params["new_flavor"]) == ("confirm", None)
    assert sent[-1][2:4] == ("compute.confirm_resize", "host1")
    run_to_completion(confirm)
    server = nova("GET", f"/servers/{web.uuid}", version="latest").json()["server"]
    assert (server["status"], server["OS-EXT-SRV-ATTR:host"], server["flavor"]["original_name"]) == (
        "ACTIVE", "host2", "m1.small")

    resized(nova, web, sent, flavor="3")
    assert nova("POST", f"/servers/{web.uuid}/action", {"revertResize": None}).status_code == 202
    run_to_completion(Run.objects.latest("id"))
    server = nova("GET", f"/servers/{web.uuid}", version="latest").json()["server"]
    assert (server["status"], server["flavor"]["original_name"]) == ("ACTIVE", "m1.small")
    assert fault(nova("POST", f"/servers/{web.uuid}/action", {"revertResize": None})) == (
        409, "conflictingRequest", f"Cannot 'revertResize' instance {web.uuid} while it is in vm_state active")


def test_runs_started_here_share_the_rest_apis_rate(nova, api, web, sent, monkeypatch):
    # SimpleRateThrottle copied the rates when DRF was imported: set its copy.
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"runs": "2/min"})
    cache.clear()  # DRF's throttles count in Django's cache
    assert api.post("/api/runs/", {"scenario": "bug-1825537"}, format="json").status_code == 202
    assert nova("POST", f"/servers/{web.uuid}/action", {"migrate": None}).status_code == 202
    response = nova("POST", f"/servers/{web.uuid}/action", {"migrate": None})  # the same user's third run
    assert response.status_code == 429
    assert response.json()["overLimit"]["message"] == "This request was rate-limited."
    assert int(response.json()["overLimit"]["retryAfter"]) == int(response["Retry-After"]) > 0
    cache.clear()


# -- instance actions and migrations -----------------------------------------------------------
def test_instance_actions_and_their_events_per_microversion(nova, demo_cloud, web, sent):
    Host.objects.filter(cloud=demo_cloud, name__in=["host2", "host3"]).update(
        failures=[{"point": "finish_migration"}])
    resized(nova, web, sent)
    path = f"/servers/{web.uuid}/os-instance-actions"

    (action,) = nova("GET", path).json()["instanceActions"]
    assert list(action) == ACTION_2_1
    assert (action["action"], action["message"], action["user_id"]) == ("resize", "Error", "admin")
    assert list(nova("GET", path, version="2.58").json()["instanceActions"][0]) == ACTION_2_1 + ["updated_at"]

    shown = nova("GET", f"{path}/{action['request_id']}").json()["instanceAction"]
    assert list(shown) == ACTION_2_1 + ["events"]
    events = shown["events"]
    assert [list(e) for e in events] == [EVENT_2_1] * 5
    # newest first; the failed one with its traceback (an admin sees it)
    assert [(e["event"], e["result"]) for e in events] == [
        ("compute_finish_resize", "Error"), ("compute_resize_instance", "Success"), ("compute_prep_resize", "Success"),
        ("cold_migrate", "Success"), ("conductor_migrate_server", "Success")]
    assert events[0]["traceback"].startswith("  File ") and events[1]["traceback"] is None
    events_2_62 = nova("GET", f"{path}/{action['request_id']}", version="2.62").json()["instanceAction"]["events"]
    assert list(events_2_62[2]) == EVENT_2_1 + ["host", "hostId"]
    assert (events_2_62[2]["host"], events_2_62[1]["host"], events_2_62[1]["hostId"]) == (
        events_2_62[0]["host"], "host1", HOST1_ID)
    latest = nova("GET", f"{path}/{action['request_id']}", version="latest").json()["instanceAction"]
    assert list(latest) == ACTION_2_1 + ["updated_at", "events"]
    assert latest["events"][0]["details"] == "Virtual Interface creation failed"
    assert latest["updated_at"] == latest["events"][0]["finish_time"]

    assert fault(nova("GET", f"{path}/req-nope")) == (404, "itemNotFound", "Action req-nope not found")
    assert fault(nova("GET", f"{path}?foo=1", version="2.58"))[::2] == (
        400, "Additional properties are not allowed ('foo' was unexpected)")
    assert nova("GET", f"{path}?foo=1", version="2.57").status_code == 200
    assert fault(nova("GET", f"{path}?changes-since=x", version="2.58"))[::2] == (
        400, "Invalid input for query parameters changes-since. Value: x. 'x' is not a 'date-time'")
    assert fault(nova("GET", f"{path}?marker=req-x", version="2.58"))[::2] == (400, "Marker None could not be found.")


def test_migrations_per_microversion(nova, web, sent):
    resized(nova, web, sent)
    (old,) = nova("GET", "/os-migrations").json()["migrations"]
    assert list(old) == MIGRATION_2_1
    assert (old["source_compute"], old["dest_compute"], old["status"], old["instance_uuid"]) == (
        "host1", "host2", "finished", str(web.uuid))
    assert list(nova("GET", "/os-migrations", version="2.23").json()["migrations"][0]) == (
        MIGRATION_2_1[:10] + ["migration_type"] + MIGRATION_2_1[10:])
    (latest,) = nova("GET", "/os-migrations", version="2.80").json()["migrations"]
    assert list(latest) == MIGRATION_2_80 and latest["migration_type"] == "resize"

    resized(nova, booted_server(web.cloud, "db"), sent, flavor="3")
    page = nova("GET", "/os-migrations?limit=1", version="latest").json()
    assert [m["instance_uuid"] for m in page["migrations"]] != [str(web.uuid)]  # newest first
    marker = page["migrations"][0]["uuid"]
    assert page["migrations_links"] == [
        {"rel": "next", "href": f"http://testserver/compute/demo/v2.1/os-migrations?limit=1&marker={marker}"}]
    assert [m["instance_uuid"] for m in nova("GET", f"/os-migrations?marker={marker}", version="latest").json()[
        "migrations"]] == [str(web.uuid)]
    assert len(nova("GET", f"/os-migrations?instance_uuid={web.uuid}", version="latest").json()["migrations"]) == 1
    assert nova("GET", "/os-migrations?host=host9", version="latest").json() == {"migrations": []}
    assert fault(nova("GET", "/os-migrations?foo=bar", version="latest"))[::2] == (
        400, "Additional properties are not allowed ('foo' was unexpected)")
    assert nova("GET", "/os-migrations?foo=bar", version="2.1").status_code == 200
    unknown = "00000000-0000-0000-0000-000000000000"
    assert fault(nova("GET", f"/os-migrations?marker={unknown}", version="latest"))[::2] == (
        400, f"Marker {unknown} could not be found.")
    assert fault(nova("GET", "/os-migrations?limit=x", version="latest"))[::2] == (
        400, "Invalid input for query parameters limit. Value: x. 'x' does not match '^[0-9]*$'")


def test_the_identity_version_document(client, db):
    document = client.get("/identity/v3").json()["version"]
    assert document == {"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
                        "links": [{"rel": "self", "href": "http://testserver/identity/v3"}],
                        "media-types": [{"base": "application/json",
                                         "type": "application/vnd.openstack.identity-v3+json"}]}
    response = client.get("/identity/")
    assert response.status_code == 300 and response.json()["versions"]["values"] == [document]


# -- the real clients on a live stack ----------------------------------------------------------
CLOUDS_YAML = """\
clouds:
  demo:
    auth_type: admin_token
    auth:
      endpoint: {url}/identity/v3
      token: {token}
    identity_endpoint_override: {url}/identity/v3
    compute_endpoint_override: {url}/compute/demo/v2.1
"""
TOKEN = """
import json
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
user = get_user_model().objects.create_user("operator", password="not-used-here")
print(json.dumps(Token.objects.create(user=user).key))
"""
SDK_RESIZE = """
import json, openstack
conn = openstack.connect(cloud="demo")
server = conn.compute.find_server("sdk", ignore_missing=False)
conn.compute.resize_server(server, conn.compute.find_flavor("m1.medium", ignore_missing=False).id)
server = conn.compute.wait_for_server(server, status="VERIFY_RESIZE", interval=0.2, wait=60)
seen = [(server.status, server.compute_host, server.flavor.name)]
conn.compute.confirm_server_resize(server)
server = conn.compute.wait_for_server(server, status="ACTIVE", interval=0.2, wait=60)
seen.append((server.status, server.compute_host, server.flavor.name))
print(json.dumps({"seen": seen, "actions": [a.action for a in conn.compute.server_actions(server)]}))
"""


class Live:
    """The live stack's web server: the dashboard's REST API, and the real clients' environment."""

    def __init__(self, stack, url, token, clouds):
        self.stack, self.url, self.token = stack, url, token
        self.env = {"OS_CLIENT_CONFIG_FILE": str(clouds), "OS_CLOUD": "demo"}

    def rest(self, method, path, body=None):
        request = urllib.request.Request(
            self.url + path, json.dumps(body).encode() if body is not None else None,
            {"Authorization": f"Token {self.token}", "Content-Type": "application/json", "Accept": "application/json"},
            method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return json.load(answer)
        except urllib.error.HTTPError as error:
            raise AssertionError(f"{method} {path}: {error.code} {error.read().decode()}") from None

    def openstack(self, *args, check=True):
        return openstack(*args, env=self.env, check=check)

    def boot(self, name):
        return self.rest("POST", "/api/servers/", {"cloud": "demo", "name": name, "host": "host1", "flavor": "m1.tiny"})

    def last_run(self, server, action, timeout=60, finished_before=False):
        """The report of the newest run in the demo cloud (or the one before it), once it has
        ended: the request of ``action`` just sent to ``server``."""
        deadline = time.monotonic() + timeout
        while True:
            newest = self.rest("GET", "/api/runs/?cloud=demo&limit=2")["results"][1 if finished_before else 0]
            report = self.rest("GET", f"/api/runs/{newest['id']}/")
            if (report["params"]["server"], report["params"]["action"]) == (server["uuid"], action) and (
                    report["status"] in ("done", "crashed")):
                return report
            assert time.monotonic() < deadline, f"no finished {action} run of {server['name']}: {report['status']}"
            time.sleep(0.2)

    def failures(self, hosts, failures):
        for host in self.rest("GET", "/api/hosts/?cloud=demo")["results"]:
            if host["name"] in hosts:
                self.rest("PATCH", f"/api/hosts/{host['id']}/", {"failures": failures})


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """One stack for the module: Redis, a worker serving every queue, the web server, the demo
    cloud, an API token and the clouds.yaml the real clients read."""
    tmp = tmp_path_factory.mktemp("compute-api")
    stack = LiveStack(tmp)
    try:
        stack.start_redis()
        stack.start_worker("w1")
        url = stack.start_web()
        stack.manage("seed_demo", check=True)
        token = stack.python(TOKEN)
        clouds = tmp / "clouds.yaml"
        clouds.write_text(CLOUDS_YAML.format(url=url, token=token))
        yield Live(stack, url, token, clouds)
    finally:
        stack.close()


def shown(live, name):
    server = live.openstack("server", "show", name, "-f", "json").json()
    return server["status"], server["OS-EXT-SRV-ATTR:host"], server["flavor"]["original_name"]


def outcome_of(report):
    return report["server"]["status"], report["server"]["host"], report["server"]["flavor"]


@needs_osc
def test_openstack_server_resize_is_a_run_the_dashboard_shows(live):
    web = live.boot("web")
    done = live.openstack("server", "resize", "--flavor", "m1.small", "--wait", "web")
    assert "Complete" in done.stdout

    report = live.last_run(web, "resize")
    assert (report["label"], report["cloud"], report["status"], report["params"]["new_flavor"]) == (
        "custom", "demo", "done", "2")
    assert outcome_of(report) == shown(live, "web") == ("VERIFY_RESIZE", "host2", "m1.small")
    assert report["params"]["fail_at"] is None  # nothing injected: the hosts' own failures only
    with urllib.request.urlopen(f"{live.url}/runs/{report['id']}/", timeout=30) as page:  # its page
        html = page.read().decode()
    assert "VERIFY_RESIZE" in html and report["migration"]["uuid"] in html

    (action,) = live.openstack("server", "event", "list", "web", "-f", "json").json()
    assert (action["Action"], action["Request ID"]) == ("resize", report["events"][0]["request_id"])
    event = live.openstack("server", "event", "show", "web", action["Request ID"], "-f", "json").json()
    assert [(e["event"], e["host"], e["result"]) for e in reversed(event["events"])] == [
        (e["event"], e["host"], e["result"]) for e in report["events"]]

    (migration,) = live.openstack("server", "migration", "list", "--server", "web", "-f", "json").json()
    assert (migration["Status"], migration["Source Compute"], migration["Dest Compute"], migration["Type"]) == (
        report["migration"]["status"], "host1", "host2", "resize")
    assert migration["UUID"] == report["migration"]["uuid"]

    live.openstack("server", "resize", "confirm", "web")
    confirm = live.last_run(web, "confirm")
    assert [s["name"] for s in confirm["steps"]] == ["compute.confirm_resize"]
    assert outcome_of(confirm) == shown(live, "web") == ("ACTIVE", "host2", "m1.small")
    assert confirm["usages"]["after"]["host1"] == {"VCPU": 0, "MEMORY_MB": 0, "DISK_GB": 0}


@needs_osc
def test_a_resize_onto_a_failing_host_shows_the_dashboards_fault(live):
    db = live.boot("db")
    live.failures(["host2", "host3"], [{"point": "finish_migration"}])  # Host.failures: no run parameter
    try:
        failed = live.openstack("server", "resize", "--flavor", "m1.small", "--wait", "db", check=False)
    finally:
        live.failures(["host2", "host3"], [])
    assert failed.returncode == 1 and "Error resizing server" in failed.stderr

    report = live.last_run(db, "resize")
    server = live.openstack("server", "show", "db", "-f", "json").json()
    assert (server["status"], server["OS-EXT-SRV-ATTR:host"], server["flavor"]["original_name"]) == outcome_of(report)
    assert report["server"]["status"] == "ERROR" and report["server"]["flavor"] == "m1.tiny"
    assert server["fault"]["message"] == report["server"]["fault"]["message"] == "Virtual Interface creation failed"
    assert server["fault"]["code"] == report["server"]["fault"]["code"] == 500
    (action,) = live.openstack("server", "event", "list", "db", "-f", "json").json()
    events = live.openstack("server", "event", "show", "db", action["Request ID"], "-f", "json").json()["events"]
    assert (events[0]["event"], events[0]["result"]) == ("compute_finish_resize", "Error")
    assert "in finish_migration" in events[0]["traceback"]


@needs_osc
def test_openstack_server_resize_revert_and_a_refused_confirm(live):
    app = live.boot("app")
    live.openstack("server", "resize", "--flavor", "m1.small", "--wait", "app")
    live.openstack("server", "resize", "revert", "app")
    revert = live.last_run(app, "revert")
    assert [s["name"] for s in revert["steps"]] == ["compute.revert_resize", "compute.finish_revert_resize"]
    assert outcome_of(revert) == shown(live, "app") == ("ACTIVE", "host1", "m1.tiny")

    refused = live.openstack("server", "resize", "confirm", "app", check=False)
    assert refused.returncode == 1
    assert f"Cannot 'confirmResize' instance {app['uuid']} while it is in vm_state active" in refused.stderr
    assert "409" in refused.stderr


@needs_osc
def test_openstacksdk_resizes_and_confirms(live):
    sdk = live.boot("sdk")
    python = str(settings.OSC_VENV / "bin" / "python")  # openstacksdk's own environment
    done = subprocess.run([python, "-c", SDK_RESIZE], env={**os.environ, **live.env}, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    resize, confirm = live.last_run(sdk, "resize", finished_before=True), live.last_run(sdk, "confirm")
    # (a run's report shows its server as it is now: the resize's, confirmed since, by its migration)
    migration = resize["migration"]
    assert result["seen"][0] == ["VERIFY_RESIZE", migration["dest_compute"], migration["new_flavor"]]
    assert result["seen"][1] == list(outcome_of(confirm)) == ["ACTIVE", migration["dest_compute"], "m1.medium"]
    assert confirm["migration"]["uuid"] == migration["uuid"] and confirm["migration"]["status"] == "confirmed"
    assert result["actions"] == ["confirmResize", "resize"]
