"""Each cloud's Placement API (``/placement/<cloud>/``): Placement 16.0's answers, microversion by
microversion, its errors and its credentials, with Django's test client; the same requests asked
of Placement 16.0 itself (with the Nova environment); then the real ``openstack`` command
(osc-placement) against a live server, printing the dashboard's numbers.

Reference: openstack/placement, placement/handlers/*.py, placement/microversion.py and
microversion-parse's middleware.
"""
import json
import os
import re
import select
import signal
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.permissions import IsAuthenticated
from rest_framework.views import APIView

from simulator import conformance, placement
from simulator.context import PROJECT_ID, USER_ID
from simulator.models import Consumer, Migration, ResourceProvider, Server
from tests.factories import SMALL, TINY, ZERO, booted_server, cloud_with_hosts, finished_run, provider_of
from tests.live import LiveStack
from tests.osc import needs_osc, openstack

ROOT = Path(__file__).resolve().parent.parent
MISSING = "99999999-9999-4999-8999-999999999999"
NOT_FOUND = "The resource could not be found.\n\n {}  "
BAD_REQUEST = ("The server could not comply with the request since it is either malformed or otherwise "
               "incorrect.\n\n {}  ")


# -- fixtures and helpers ---------------------------------------------------------------------------
@pytest.fixture
def resized(db):
    """A run's cloud after a resize left waiting for confirmation: the server holds m1.small on
    host2, its migration holds m1.tiny on host1 (``resize-confirm`` with no confirm)."""
    run = finished_run("resize-confirm", then="none")
    server = Server.objects.get(cloud=run.cloud)
    return run.cloud, server, Migration.objects.get(server=server)


@pytest.fixture
def production_permissions(settings, monkeypatch):
    """The REST API's policy outside debug mode (as tests/test_api.py sets it): reading needs a token."""
    settings.DEBUG = False
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK,
                               "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"]}
    monkeypatch.setattr(APIView, "permission_classes", [IsAuthenticated])


def get(client, path, version=None, token=None, **headers):
    """GET ``path`` the way the clients send it: Accept JSON, the microversion, the token."""
    headers = {"Accept": "application/json", **headers}
    if version is not None:
        headers["OpenStack-API-Version"] = f"placement {version}"
    if token is not None:
        headers["X-Auth-Token"] = token
    return client.get(path, headers=headers)


def error_of(response):
    """The one error of Placement's error document, checked against the request id header."""
    document = response.json()
    assert list(document) == ["errors"] and len(document["errors"]) == 1, document
    error = document["errors"][0]
    assert error["request_id"] == response["x-openstack-request-id"]
    assert re.fullmatch(r"req-[0-9a-f-]{36}", error["request_id"])
    return error


def url(cloud, path=""):
    return f"/placement/{cloud.name}{path}"


# -- the root and microversions ---------------------------------------------------------------------
VERSIONS_DOCUMENT = {"versions": [{
    "id": "v1.0", "max_version": "1.39", "min_version": "1.0", "status": "CURRENT",
    "links": [{"rel": "self", "href": ""}],
}]}


@pytest.mark.parametrize("path", ["", "/"])
def test_the_root_is_placements_version_document(client, resized, path):
    cloud, _, _ = resized
    response = get(client, url(cloud, path))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == VERSIONS_DOCUMENT
    assert response["OpenStack-API-Version"] == "placement 1.0"
    assert response["Vary"] == "openstack-api-version"
    assert re.fullmatch(r"req-[0-9a-f-]{36}", response["x-openstack-request-id"])
    assert "Cache-Control" not in response and "Last-Modified" not in response  # before 1.15
    assert "Allow" not in response


def test_the_root_needs_no_credentials_even_outside_debug_mode(client, resized, production_permissions):
    cloud, _, _ = resized
    assert get(client, url(cloud, "/")).status_code == 200
    assert get(client, url(cloud, "/"), token="not-a-token").status_code == 200
    assert get(client, url(cloud, "/resource_providers")).status_code == 401


@pytest.mark.parametrize("header, answered", [
    (None, "1.0"),
    ("placement 1.29", "1.29"),
    ("placement latest", "1.39"),
    ("placement 1.05", "1.5"),
    ("compute 2.1, placement 1.29", "1.29"),
    ("placement 1.29, compute 2.1", "1.29"),
    ("compute 2.90", "1.0"),
])
def test_the_microversion_is_negotiated_as_placements(client, resized, header, answered):
    cloud, _, _ = resized
    headers = {"OpenStack-API-Version": header} if header else {}
    response = get(client, url(cloud, "/resource_providers"), **headers)
    assert response.status_code == 200
    assert response["OpenStack-API-Version"] == f"placement {answered}"
    assert response["Vary"] == "openstack-api-version"


@pytest.mark.parametrize("version", ["1.15", "1.29", "latest"])
def test_from_1_15_answers_are_not_to_be_cached(client, resized, version):
    cloud, _, _ = resized
    response = get(client, url(cloud, "/resource_providers"), version)
    assert response["Cache-Control"] == "no-cache"
    assert response["Last-Modified"].endswith(" GMT")


@pytest.mark.parametrize("version", ["1.40", "2.0", "0.9"])
def test_a_microversion_placement_does_not_have_is_406_stating_its_range(client, resized, version):
    """What osc-placement negotiates with: it falls back to ``max_version``."""
    cloud, _, _ = resized
    for path in ("/", "/resource_providers"):
        response = get(client, url(cloud, path), version)
        assert response.status_code == 406
        error = error_of(response)
        assert error == {
            "status": 406, "title": "Not Acceptable",
            "detail": "The resource could not be generated that was acceptable to your browser (content of type "
                      f"application/json. \n\n Invalid microversion: Unacceptable version header: {version}",
            "request_id": error["request_id"], "max_version": "1.39", "min_version": "1.0",
        }
        assert "OpenStack-API-Version" not in response and "Vary" not in response


@pytest.mark.parametrize("version, why", [
    ("1.x", "invalid literal for int() with base 10: 'x'"),
    ("abc", "invalid literal for int() with base 10: 'abc'"),
    ("1", "Version.__new__() missing 1 required positional argument: 'minor'"),
])
def test_a_malformed_microversion_is_400(client, resized, version, why):
    cloud, _, _ = resized
    response = get(client, url(cloud, "/resource_providers"), version)
    assert response.status_code == 400
    assert error_of(response)["detail"] == BAD_REQUEST.format(
        f"Invalid microversion: invalid version string: {version}; {why}")
    assert "code" not in error_of(response)


# -- resource providers -----------------------------------------------------------------------------
def links(cloud, provider, *rels):
    base = f"/placement/{cloud.name}/resource_providers/{provider.uuid}"
    return [{"rel": "self", "href": base}] + [{"rel": rel, "href": f"{base}/{rel}"} for rel in rels]


@pytest.mark.parametrize("version, rels, tree", [
    ("1.0", ("inventories", "usages"), False),
    ("1.1", ("inventories", "usages", "aggregates"), False),
    ("1.6", ("inventories", "usages", "aggregates", "traits"), False),
    ("1.11", ("inventories", "usages", "aggregates", "traits", "allocations"), False),
    ("1.14", ("inventories", "usages", "aggregates", "traits", "allocations"), True),
    ("1.39", ("inventories", "usages", "aggregates", "traits", "allocations"), True),
])
def test_a_providers_fields_per_microversion(client, resized, version, rels, tree):
    cloud, _, _ = resized
    host1 = provider_of(cloud, "host1")
    expected = {"uuid": str(host1.uuid), "name": "host1", "generation": host1.generation,
                "links": links(cloud, host1, *rels)}
    if tree:  # every provider is a compute node: a root
        expected.update(parent_provider_uuid=None, root_provider_uuid=str(host1.uuid))
    shown = get(client, url(cloud, f"/resource_providers/{host1.uuid}"), version)
    assert shown.status_code == 200 and shown.json() == expected
    listed = get(client, url(cloud, "/resource_providers"), version).json()["resource_providers"]
    assert listed[0] == expected


def test_the_provider_list_is_the_clouds_as_the_rest_api_lists_them(client, api, resized, demo_cloud):
    cloud, _, _ = resized
    listed = get(client, url(cloud, "/resource_providers"), "1.29").json()["resource_providers"]
    rest = api.get(f"/api/providers/?cloud={cloud.name}").json()["results"]
    assert [(p["uuid"], p["name"], p["generation"]) for p in listed] == [
        (p["uuid"], p["name"], p["generation"]) for p in rest]
    assert [p["name"] for p in listed] == ["host1", "host2"]  # not the demo cloud's


@pytest.mark.parametrize("query, names", [
    ("?name=host2", ["host2"]),
    ("?name=host9", []),
    ("?uuid={host2}", ["host2"]),
    ("?in_tree={host2}", ["host2"]),
    (f"?in_tree={MISSING}", []),
    ("?resources=VCPU:1,MEMORY_MB:2048", ["host1", "host2"]),
    ("?resources=VCPU:1000", ["host1", "host2"]),
    ("?resources=VCPU:1001", []),  # above max_unit
    ("?resources=MEMORY_MB:797440", ["host1", "host2"]),  # 799488 of capacity, 2048 used on host2
    ("?resources=MEMORY_MB:797441", ["host1"]),
])
def test_the_provider_list_filters(client, resized, query, names):
    cloud, _, _ = resized
    query = query.format(host2=provider_of(cloud, "host2").uuid)
    response = get(client, url(cloud, f"/resource_providers{query}"), "1.29")
    assert response.status_code == 200, response.content
    assert [p["name"] for p in response.json()["resource_providers"]] == names


@pytest.mark.parametrize("version, query, detail", [
    ("1.29", "?uuid=nope", "Invalid query string parameters: 'nope' is not a 'uuid'"),
    ("1.29", "?foo=1", "Invalid query string parameters: Additional properties are not allowed ('foo' was unexpected)"),
    ("1.13", "?in_tree=" + MISSING, "Invalid query string parameters: Additional properties are not allowed "
                                    "('in_tree' was unexpected)"),
    ("1.29", "?resources=VCPU", "Badly formed resources parameter. Expected resources query string parameter in "
                                "form: ?resources=VCPU:2,MEMORY_MB:1024. Got: VCPU."),
    ("1.29", "?resources=VCPU:0", "Requested resource VCPU requires amount >= 1. Got: 0."),
    ("1.29", "?resources=CUSTOM_X:1", "Invalid resource class in resources parameter: No such resource class "
                                      "CUSTOM_X."),
    ("1.29", "?member_of=" + MISSING, "Invalid query string parameters: 'member_of' is not supported here: the "
                                      "simulated providers have no aggregates."),
])
def test_a_bad_provider_filter_is_400_in_placements_words(client, resized, version, query, detail):
    cloud, _, _ = resized
    response = get(client, url(cloud, f"/resource_providers{query}"), version)
    assert response.status_code == 400
    # jsonschema's explanation follows its message on the same line, as in Placement's answers.
    assert error_of(response)["detail"].startswith(BAD_REQUEST.format(detail).rstrip())


def test_the_provider_list_takes_constant_queries(client, resized, django_assert_num_queries):
    cloud, _, _ = resized
    for name in ("host3", "host4", "host5"):
        ResourceProvider.objects.create(cloud=cloud, host=cloud.hosts.create(name=name), name=name)
    with django_assert_num_queries(2):  # the cloud, its providers
        response = get(client, url(cloud, "/resource_providers"), "1.29")
    assert len(response.json()["resource_providers"]) == 5


# -- inventories and usages -------------------------------------------------------------------------
def test_inventories_are_the_dashboards_in_placements_shape(client, api, resized):
    cloud, _, _ = resized
    host1 = provider_of(cloud, "host1")
    response = get(client, url(cloud, f"/resource_providers/{host1.uuid}/inventories"), "1.29")
    assert response.status_code == 200
    rest = api.get(f"/api/providers/{host1.uuid}/").json()["inventories"]
    assert response.json() == {
        "resource_provider_generation": host1.generation,
        "inventories": {rc: {k: v for k, v in record.items() if k != "capacity"} for rc, record in rest.items()},
    }
    assert list(response.json()["inventories"]) == ["VCPU", "MEMORY_MB", "DISK_GB"]  # Placement's order
    assert response.json()["inventories"]["MEMORY_MB"] == {
        "total": 800000, "reserved": 512, "min_unit": 1, "max_unit": 800000, "step_size": 1, "allocation_ratio": 1.0}


def test_one_inventory(client, resized):
    cloud, _, _ = resized
    host1 = provider_of(cloud, "host1")
    response = get(client, url(cloud, f"/resource_providers/{host1.uuid}/inventories/VCPU"), "1.29")
    assert response.json() == {"total": 1000, "reserved": 0, "min_unit": 1, "max_unit": 1000, "step_size": 1,
                               "allocation_ratio": 4.0, "resource_provider_generation": host1.generation}


def test_one_inventory_of_a_generation_0_provider_has_no_generation_as_in_placement(client, db):
    cloud = cloud_with_hosts("fresh")
    host1 = provider_of(cloud, "host1")
    assert host1.generation == 0
    response = get(client, url(cloud, f"/resource_providers/{host1.uuid}/inventories/DISK_GB"), "1.29")
    assert "resource_provider_generation" not in response.json()
    listed = get(client, url(cloud, f"/resource_providers/{host1.uuid}/inventories"), "1.29").json()
    assert listed["resource_provider_generation"] == 0


def test_provider_usages_are_the_dashboards(client, api, resized):
    cloud, _, _ = resized
    for name, expected in (("host1", TINY), ("host2", SMALL)):
        provider = provider_of(cloud, name)
        response = get(client, url(cloud, f"/resource_providers/{provider.uuid}/usages"), "1.29")
        assert response.status_code == 200
        assert response.json() == api.get(f"/api/providers/{provider.uuid}/usages/").json()
        assert response.json() == {"resource_provider_generation": provider.generation, "usages": expected}
        assert list(response.json()["usages"]) == ["VCPU", "MEMORY_MB", "DISK_GB"]


def test_an_unused_provider_has_zero_usages(client, db):
    cloud = cloud_with_hosts("idle")
    provider = provider_of(cloud, "host2")
    response = get(client, url(cloud, f"/resource_providers/{provider.uuid}/usages"), "1.29")
    assert response.json()["usages"] == ZERO


# -- allocations ------------------------------------------------------------------------------------
@pytest.mark.parametrize("version, with_generation", [("1.0", False), ("1.27", False), ("1.28", True), ("1.39", True)])
def test_a_providers_allocations_by_consumer(client, resized, version, with_generation):
    cloud, server, migration = resized
    for name, consumer, resources in (("host1", migration, TINY), ("host2", server, SMALL)):
        provider = provider_of(cloud, name)
        response = get(client, url(cloud, f"/resource_providers/{provider.uuid}/allocations"), version)
        entry = {"resources": resources}
        if with_generation:
            entry["consumer_generation"] = placement.get_allocations(consumer.uuid)["consumer_generation"]
        assert response.json() == {"allocations": {str(consumer.uuid): entry},
                                   "resource_provider_generation": provider.generation}


@pytest.mark.parametrize("version, fields", [
    ("1.0", []),
    ("1.11", []),
    ("1.12", ["project_id", "user_id"]),
    ("1.28", ["project_id", "user_id", "consumer_generation"]),
    ("1.38", ["project_id", "user_id", "consumer_generation", "consumer_type"]),
])
def test_a_consumers_allocations_per_microversion(client, resized, version, fields):
    cloud, server, migration = resized
    for consumer, host, resources, kind in ((server, "host2", SMALL, "INSTANCE"), (migration, "host1", TINY, "MIGRATION")):
        provider = provider_of(cloud, host)
        response = get(client, url(cloud, f"/allocations/{consumer.uuid}"), version)
        assert response.status_code == 200
        document = placement.get_allocations(consumer.uuid)
        everything = {
            "allocations": {str(provider.uuid): {"resources": resources, "generation": provider.generation}},
            "project_id": PROJECT_ID, "user_id": USER_ID,
            "consumer_generation": document["consumer_generation"], "consumer_type": kind,
        }
        assert response.json() == {key: everything[key] for key in ["allocations", *fields]}


def test_the_rest_apis_allocations_are_the_same_numbers(client, api, resized):
    cloud, server, _ = resized
    wire = get(client, url(cloud, f"/allocations/{server.uuid}"), "1.38").json()
    assert wire == api.get(f"/api/allocations/{server.uuid}/").json()


@pytest.mark.parametrize("consumer", [MISSING, "not-a-uuid", MISSING.upper()])
def test_a_consumer_without_allocations_is_empty_never_404(client, resized, consumer):
    cloud, _, _ = resized
    response = get(client, url(cloud, f"/allocations/{consumer}"), "1.38")
    assert response.status_code == 200 and response.json() == {"allocations": {}}


def test_a_consumer_of_another_cloud_is_not_seen(client, resized):
    _, server, _ = resized
    other = cloud_with_hosts("other")
    response = get(client, url(other, f"/allocations/{server.uuid}"), "1.38")
    assert response.json() == {"allocations": {}}


# -- usages of a project ----------------------------------------------------------------------------
def test_usages_of_a_project_appear_in_1_9(client, resized):
    cloud, _, _ = resized
    query = f"/usages?project_id={PROJECT_ID}"
    before = get(client, url(cloud, query), "1.8")
    assert before.status_code == 404
    assert error_of(before) == {"status": 404, "title": "Not Found", "detail": NOT_FOUND.format(""),
                                "request_id": error_of(before)["request_id"]}
    response = get(client, url(cloud, query), "1.9")
    assert response.status_code == 200
    total = {rc: TINY[rc] + SMALL[rc] for rc in TINY}
    assert response.json() == {"usages": total}
    assert get(client, url(cloud, query + f"&user_id={USER_ID}"), "1.37").json() == {"usages": total}
    assert get(client, url(cloud, query + "&user_id=nobody"), "1.37").json() == {"usages": {}}
    assert get(client, url(cloud, "/usages?project_id=nobody"), "1.37").json() == {"usages": {}}


def test_usages_of_a_project_are_grouped_by_consumer_type_from_1_38(client, resized):
    cloud, _, _ = resized
    query = url(cloud, f"/usages?project_id={PROJECT_ID}")
    assert get(client, query, "1.38").json() == {"usages": {
        "INSTANCE": {**SMALL, "consumer_count": 1},
        "MIGRATION": {**TINY, "consumer_count": 1},
    }}
    assert get(client, query + "&consumer_type=INSTANCE", "1.38").json() == {
        "usages": {"INSTANCE": {**SMALL, "consumer_count": 1}}}
    assert get(client, query + "&consumer_type=all", "1.38").json() == {
        "usages": {"all": {**{rc: TINY[rc] + SMALL[rc] for rc in TINY}, "consumer_count": 2}}}
    assert get(client, query + "&consumer_type=unknown", "1.38").json() == {"usages": {}}


def test_usages_of_a_project_count_each_consumer_once(client, db):
    cloud = cloud_with_hosts("busy", hosts=("host1",))
    for name in ("a", "b", "c"):
        booted_server(cloud, name)
    response = get(client, url(cloud, f"/usages?project_id={PROJECT_ID}"), "1.38")
    assert response.json() == {"usages": {"INSTANCE": {"VCPU": 3, "MEMORY_MB": 1536, "DISK_GB": 3,
                                                       "consumer_count": 3}}}


@pytest.mark.parametrize("version, query, detail", [
    ("1.9", "", "Invalid query string parameters: 'project_id' is a required property"),
    ("1.37", f"?project_id={PROJECT_ID}&consumer_type=INSTANCE",
     "Invalid query string parameters: Additional properties are not allowed ('consumer_type' was unexpected)"),
    ("1.38", f"?project_id={PROJECT_ID}&consumer_type=bad-x",
     "Invalid query string parameters: 'bad-x' does not match '^[A-Z0-9_]+$|^all|^unknown$'"),
])
def test_bad_usages_queries_are_400(client, resized, version, query, detail):
    cloud, _, _ = resized
    response = get(client, url(cloud, f"/usages{query}"), version)
    assert response.status_code == 400
    assert error_of(response)["detail"].startswith(BAD_REQUEST.format(detail).rstrip())


# -- errors -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("path, detail, vary", [
    ("/resource_providers/{missing}", "No resource provider with uuid {missing} found", False),
    ("/resource_providers/not-a-uuid", "No resource provider with uuid not-a-uuid found", False),
    ("/resource_providers/{missing}/inventories",
     "No resource provider with uuid {missing} found : No resource provider with uuid {missing} found", True),
    ("/resource_providers/{missing}/inventories/VCPU",
     "No resource provider with uuid {missing} found : No resource provider with uuid {missing} found", True),
    ("/resource_providers/{host1}/inventories/VGPU", "No inventory of class VGPU for {host1}", True),
    ("/resource_providers/{host1}/inventories/CUSTOM_FOO", "No inventory of class CUSTOM_FOO for {host1}", True),
    ("/resource_providers/{missing}/usages",
     "No resource provider with uuid {missing} found: No resource provider with uuid {missing} found", True),
    ("/resource_providers/{missing}/allocations",
     "Resource provider '{missing}' not found: No resource provider with uuid {missing} found", True),
    ("/traits", "", False),
    ("/resource_providers/", "", False),
])
def test_not_found_in_placements_words(client, resized, path, detail, vary):
    cloud, _, _ = resized
    names = {"missing": MISSING, "host1": provider_of(cloud, "host1").uuid}
    for version, coded in (("1.22", False), ("1.23", True)):
        response = get(client, url(cloud, path.format(**names)), version)
        assert response.status_code == 404
        error = error_of(response)
        expected = {"status": 404, "title": "Not Found", "detail": NOT_FOUND.format(detail.format(**names)),
                    "request_id": error["request_id"]}
        if coded:
            expected["code"] = "placement.undefined_code"
        assert error == expected
        assert response["OpenStack-API-Version"] == f"placement {version}"
        assert ("Vary" in response) is vary


def test_a_provider_of_another_cloud_is_not_found(client, resized):
    cloud, _, _ = resized
    other = cloud_with_hosts("other")
    response = get(client, url(other, f"/resource_providers/{provider_of(cloud, 'host1').uuid}"), "1.29")
    assert response.status_code == 404


@pytest.mark.parametrize("path", ["/", "/resource_providers"])
def test_an_unknown_cloud_is_404(client, db, path):
    response = get(client, f"/placement/nowhere{path}", "1.29")
    assert response.status_code == 404
    assert error_of(response)["detail"] == NOT_FOUND.format(
        "No cloud named nowhere: each cloud's Placement API is at /placement/NAME/.")


@pytest.mark.parametrize("path", ["/placement/", "/placement/not%20a%20cloud/resource_providers"])
def test_a_url_naming_no_cloud_is_404_whoever_asks(client, db, production_permissions, path):
    response = get(client, path, "1.29")
    assert response.status_code == 404
    assert error_of(response)["detail"] == NOT_FOUND.format(
        "No cloud here: each cloud's Placement API is at /placement/NAME/.")


@pytest.mark.parametrize("method", ["put", "post", "delete", "patch"])
def test_it_is_read_only_405_as_placement_refuses_a_method(client, resized, token, method):
    cloud, _, _ = resized
    path = url(cloud, f"/resource_providers/{provider_of(cloud, 'host1').uuid}/inventories")
    assert getattr(client, method)(path).status_code == 401  # a write needs a token first, as in the REST API
    response = getattr(client, method)(path, headers={"OpenStack-API-Version": "placement 1.29",
                                                      "X-Auth-Token": token.key})
    assert response.status_code == 405
    assert response["Allow"] == "GET"
    assert error_of(response)["detail"] == (f"The method {method.upper()} is not allowed for this resource. \n\n "
                                            "The method specified is not allowed for this resource.")


def test_a_client_that_refuses_json_is_406(client, resized):
    cloud, _, _ = resized
    response = get(client, url(cloud, "/resource_providers"), "1.29", Accept="text/html")
    assert response.status_code == 406
    assert error_of(response)["detail"] == ("The resource could not be generated that was acceptable to your "
                                            "browser (content of type text/html. \n\n Only application/json is provided")
    assert get(client, url(cloud, "/"), "1.29", Accept="text/html").status_code == 200  # the root does not check


# -- credentials ------------------------------------------------------------------------------------
def test_reading_is_open_in_local_debug_mode(client, resized):
    cloud, _, _ = resized
    assert get(client, url(cloud, "/resource_providers"), "1.29").status_code == 200


def test_a_bad_token_is_401_in_placements_shape(client, resized):
    cloud, _, _ = resized
    response = get(client, url(cloud, "/resource_providers"), "1.29", token="not-a-token")
    assert response.status_code == 401
    error = error_of(response)
    assert error == {"status": 401, "title": "Unauthorized",
                     "detail": "The request you have made requires authentication.", "request_id": error["request_id"]}
    assert response["WWW-Authenticate"] == 'Keystone uri="local"'
    assert "OpenStack-API-Version" not in response  # refused before the microversion is read, as there


@pytest.mark.parametrize("path", ["/resource_providers", "/resource_providers/{host1}/usages", "/allocations/{missing}",
                                  f"/usages?project_id={PROJECT_ID}", "/nowhere"])
def test_outside_debug_mode_a_token_is_needed(client, resized, user, production_permissions, path):
    cloud, _, _ = resized
    path = url(cloud, path.format(host1=provider_of(cloud, "host1").uuid, missing=MISSING))
    refused = get(client, path, "1.29")
    assert refused.status_code == 401
    assert error_of(refused)["detail"] == "The request you have made requires authentication."
    key = Token.objects.create(user=user).key
    assert get(client, path, "1.29", token=key).status_code == (404 if path.endswith("/nowhere") else 200)


# -- compared with Placement 16.0 itself ------------------------------------------------------------
@pytest.fixture
def real_placement(tmp_path):
    """Placement 16.0 from the Nova environment on a free port (conformance/placement_server.py),
    mounted at /placement/real; its base URL."""
    python = conformance.nova_python()
    if python is None:
        pytest.skip("no Nova environment (make nova-env)")
    log = tmp_path / "placement.log"
    process = subprocess.Popen(
        [str(python), str(ROOT / "conformance" / "placement_server.py"), "/placement/real"],
        stdout=subprocess.PIPE, stderr=open(log, "w"), text=True, start_new_session=True,
    )
    try:
        ready, _, _ = select.select([process.stdout], [], [], 120)
        line = process.stdout.readline() if ready else ""
        if not line.startswith("listening "):
            raise RuntimeError(f"Placement did not start:\n{log.read_text()[-3000:]}")
        yield f"http://127.0.0.1:{line.split()[1]}/placement/real"
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def call(base, method, path, version=None, body=None, token="admin"):
    """One request to a Placement over HTTP: (status, headers, body bytes)."""
    headers = {"X-Auth-Token": token, "Accept": "application/json", "Content-Type": "application/json"}
    if version:
        headers["OpenStack-API-Version"] = f"placement {version}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def copy_into(base, cloud):
    """Give the real Placement the cloud's providers (same uuids, names, inventories) and its
    consumers' allocations (same uuids, types, projects, users)."""
    for provider in ResourceProvider.objects.filter(cloud=cloud).order_by("id"):
        status, _, _ = call(base, "POST", "/resource_providers", "1.20", {"name": provider.name, "uuid": str(provider.uuid)})
        assert status == 200
        inventories = placement.provider_inventories(provider)
        body = {"resource_provider_generation": 0, "inventories": {
            rc: {name: record[name] for name in placement.INVENTORY_FIELDS} for rc, record in inventories.items()}}
        assert call(base, "PUT", f"/resource_providers/{provider.uuid}/inventories", "1.20", body)[0] == 200
    for consumer in Consumer.objects.filter(cloud=cloud).order_by("id"):
        document = placement.get_allocations(consumer.uuid)
        body = {"allocations": {rp: {"resources": entry["resources"]} for rp, entry in document["allocations"].items()},
                "project_id": consumer.project_id, "user_id": consumer.user_id, "consumer_generation": None,
                "consumer_type": consumer.consumer_type}
        assert call(base, "PUT", f"/allocations/{consumer.uuid}", "1.38", body)[0] == 204


# Headers either side adds on its own (the servers, Django's security middleware); those whose
# value is the moment or the request's own are compared by presence.
OWN_HEADERS = {"date", "server", "content-length", "x-frame-options", "x-content-type-options", "referrer-policy",
               "cross-origin-opener-policy"}
MOMENTARY = {"last-modified", "x-openstack-request-id"}


def comparable(status, headers, body, prefix):
    """An answer without what legitimately differs: the generations (each side counts its own
    writes), request ids, times, the mount point."""
    headers = {k.lower(): ("…" if k.lower() in MOMENTARY else v) for k, v in headers.items()
               if k.lower() not in OWN_HEADERS}
    text = body.decode().replace(prefix, "/placement/P")
    text = re.sub(r'"(generation|resource_provider_generation|consumer_generation)": \d+', r'"\1": "…"', text)
    text = re.sub(r"req-[0-9a-f-]{36}", "req-…", text)
    try:
        return status, headers, json.loads(text)
    except ValueError:
        return status, headers, text


COMPARED_VERSIONS = [None, "1.0", "1.1", "1.6", "1.8", "1.9", "1.11", "1.12", "1.14", "1.15", "1.22", "1.23", "1.28",
                     "1.29", "1.37", "1.38", "latest", "1.40", "1.x"]


def test_the_answers_are_placements_own(client, resized, real_placement):
    """Every endpoint at every microversion that changes it, and their errors, asked of Placement
    16.0 holding the same providers and consumers and of the dashboard: the same statuses,
    headers and documents (generations, request ids and times aside)."""
    cloud, server, migration = resized
    copy_into(real_placement, cloud)
    host1, host2 = (str(provider_of(cloud, name).uuid) for name in ("host1", "host2"))
    paths = [
        "/", "/resource_providers", f"/resource_providers/{host1}", f"/resource_providers/{host1}/inventories",
        f"/resource_providers/{host2}/inventories/MEMORY_MB", f"/resource_providers/{host1}/usages",
        f"/resource_providers/{host1}/allocations", f"/resource_providers/{host2}/allocations",
        f"/allocations/{server.uuid}", f"/allocations/{migration.uuid}", f"/allocations/{MISSING}", "/allocations/x",
        f"/usages?project_id={PROJECT_ID}", f"/usages?project_id={PROJECT_ID}&user_id={USER_ID}",
        f"/usages?project_id={PROJECT_ID}&consumer_type=MIGRATION", f"/usages?project_id={PROJECT_ID}&consumer_type=all",
        "/usages?project_id=nobody", "/usages", "/resource_providers?name=host2", f"/resource_providers?uuid={host2}",
        f"/resource_providers?in_tree={host1}", "/resource_providers?resources=VCPU:1000,MEMORY_MB:797441",
        "/resource_providers?resources=DISK_GB:0", "/resource_providers?uuid=nope", "/resource_providers?foo=1",
        f"/resource_providers/{MISSING}", "/resource_providers/x", f"/resource_providers/{MISSING}/inventories",
        f"/resource_providers/{host1}/inventories/VGPU", f"/resource_providers/{MISSING}/usages",
        f"/resource_providers/{MISSING}/allocations", "/nowhere",
    ]
    ours_prefix = f"/placement/{cloud.name}"
    differences = []
    for version in COMPARED_VERSIONS:
        for path in paths:
            real = comparable(*call(real_placement, "GET", path, version), "/placement/real")
            headers = {"OpenStack-API-Version": f"placement {version}"} if version else {}
            response = client.get(ours_prefix + path, headers={"Accept": "application/json", **headers})
            ours = comparable(response.status_code, dict(response.headers), response.content, ours_prefix)
            if ours != real:
                differences.append(f"GET {path} at {version}:\n  Placement {real}\n  ours      {ours}")
    assert not differences, "\n".join(differences)


# -- the real openstack command against a live server -----------------------------------------------
@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """A live server on its own database with a run's cloud (``resize-confirm`` left waiting:
    server on host2, migration on host1) and the demo cloud; a token for user demo."""
    stack = LiveStack(tmp_path_factory.mktemp("placement-live"))
    try:
        stack.manage("seed_demo", check=True)
        report = json.loads(stack.manage("resize_run", "--scenario", "resize-confirm", "--then", "none",
                                         "--in-process", "--json", check=True).stdout)
        token = stack.manage("drf_create_token", "demo", check=True).stdout.split()[2]
        base = stack.start_web()
        yield Live(base, token, report)
    finally:
        stack.close()


class Live:
    def __init__(self, base, token, report):
        self.base, self.token, self.report = base, token, report
        self.cloud = report["cloud"]
        self.endpoint = f"{base}/placement/{self.cloud}"

    def rest(self, path):
        """The dashboard's REST API, as a script reads it."""
        request = urllib.request.Request(self.base + path, headers={"Authorization": f"Token {self.token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    def providers(self):
        return {p["name"]: p for p in self.rest(f"/api/providers/?cloud={self.cloud}")["results"]}

    def openstack(self, *args, token=None, check=True):
        return openstack("--os-auth-type", "admin_token", "--os-endpoint", self.endpoint,
                         "--os-token", token or self.token, *args, check=check)


@needs_osc
def test_openstack_resource_provider_list_is_the_dashboards(live):
    printed = live.openstack("resource", "provider", "list", "-f", "json").json()
    providers = live.providers()
    assert [(p["uuid"], p["name"], p["generation"]) for p in printed] == [
        (providers[name]["uuid"], name, providers[name]["generation"]) for name in ("host1", "host2")]
    assert all(p["root_provider_uuid"] == p["uuid"] and p["parent_provider_uuid"] is None for p in printed)
    named = live.openstack("resource", "provider", "list", "--name", "host2", "-f", "json").json()
    assert [p["uuid"] for p in named] == [providers["host2"]["uuid"]]


@needs_osc
def test_openstack_usage_and_inventory_are_the_dashboards(live):
    for name, provider in live.providers().items():
        usage = live.openstack("resource", "provider", "usage", "show", provider["uuid"], "-f", "json").json()
        assert {row["resource_class"]: row["usage"] for row in usage} == provider["usages"]
        assert provider["usages"] == live.report["usages"]["after"][name]
        inventory = live.openstack("resource", "provider", "inventory", "list", provider["uuid"], "-f", "json").json()
        assert {row.pop("resource_class"): row for row in inventory} == {
            rc: {**{k: v for k, v in record.items() if k != "capacity"}, "used": provider["usages"][rc]}
            for rc, record in provider["inventories"].items()
        }


@needs_osc
def test_openstack_allocation_show_for_the_server_and_its_migration(live):
    providers = live.providers()
    report = live.report
    for consumer, host in ((report["server"]["uuid"], "host2"), (report["migration"]["uuid"], "host1")):
        rows = live.openstack("resource", "provider", "allocation", "show", consumer, "-f", "json").json()
        held = [a for a in report["allocations"]["after"] if a["consumer_uuid"] == consumer]
        assert rows == [{
            "resource_provider": providers[host]["uuid"], "generation": providers[host]["generation"],
            "resources": held[0]["resources"], "project_id": PROJECT_ID, "user_id": USER_ID,
        }]
        assert [a["provider"] for a in held] == [host]
    shown = live.openstack("resource", "provider", "show", "--allocations", providers["host1"]["uuid"],
                           "-f", "json").json()
    assert list(shown["allocations"]) == [report["migration"]["uuid"]]
    assert shown["allocations"][report["migration"]["uuid"]]["resources"] == TINY
    project = live.openstack("resource", "usage", "show", PROJECT_ID, "-f", "json").json()
    assert {row["resource_class"]: row["usage"] for row in project} == {rc: TINY[rc] + SMALL[rc] for rc in TINY}


@needs_osc
def test_openstack_negotiates_with_the_root_then_speaks_1_29(live):
    done = live.openstack("--debug", "resource", "provider", "list")
    requests = re.findall(r'REQ: curl -g -i -X GET "?(\S+?)"? .*?-H "OpenStack-API-Version: (placement [\d.]+)"',
                          done.stderr)
    assert requests[0] == (f"{live.endpoint}/", "placement 1.29")
    assert requests[1][0].startswith(f"{live.endpoint}/resource_providers")
    assert {version for _, version in requests} == {"placement 1.29"}


@needs_osc
def test_openstack_prints_placements_errors(live):
    missing = live.openstack("resource", "provider", "show", MISSING, check=False)
    assert missing.returncode == 1
    assert f"No resource provider with uuid {MISSING} found (HTTP 404)" in missing.stderr
    refused = live.openstack("resource", "provider", "list", token="not-a-token", check=False)
    assert refused.returncode == 1
    assert "The request you have made requires authentication. (HTTP 401)" in refused.stderr
