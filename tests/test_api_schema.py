"""The REST API against its own OpenAPI schema: schemathesis, on a live web server.

The schema is the one ``/api/schema/`` serves (drf-spectacular), loaded in-process so that
pytest gets one test per operation; the requests go to a real ``runserver`` in a
``LiveStack`` (Redis running, no worker: a run started over the API is only queued) on a
temporary SQLite database seeded with ``seed_demo`` and three finished runs. Every request
carries a DRF token, so the write operations are exercised too.

What must hold for every generated request, valid or not:

* no server error (5xx);
* a 2xx answer is one the operation documents, and so is its body (``response_schema_conformance``),
  its content type and its headers;
* a 4xx answer is one of the client errors the API means (400, 404, 409). drf-spectacular lists
  only the success responses and OpenAPI does not require error responses to be listed, so an
  unlisted 400/404/409 is not a violation; a 401/403 would be (the token must authenticate), and
  so would any other 4xx, except the 405 (with its Allow header) for a method the path does not
  declare and the 415 for a media type the operation does not take: schemathesis probes both;
* the seeded records themselves conform: every one is read once, and each kind of write is made
  once with a valid body (``test_requests_on_real_records_conform``, not left to chance).

Not enforced: schemathesis's ``positive_data_acceptance`` (a schema-valid request answered 4xx)
and ``negative_data_rejection`` (a schema-invalid request answered 2xx). The first fails on
every reference to a record that does not exist (``{"cloud": "0"}``), which no OpenAPI schema can
express; the second on DRF's lenient query parsing (an invalid ``offset`` or boolean filter is
ignored, not refused). Neither is a server error or a response that contradicts the schema.
"""
import json
import urllib.request

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    unsupported_method,
)

from config.wsgi import application
from tests.live import LiveStack

# The schema the app serves, fetched in-process (no database needed); the requests go to the
# live server through `base_url` (a schema loaded with `from_wsgi` would call the app in-process).
SCHEMA = schemathesis.openapi.from_wsgi("/api/schema/", application).raw_schema
schema = schemathesis.openapi.from_dict(SCHEMA)

MAX_EXAMPLES = 25
CLIENT_ERRORS = {400, 404, 409}
RESOURCE_CLASSES = ["VCPU", "MEMORY_MB", "DISK_GB"]

# Real values for path and query parameters, filled in by the `api` fixture, so that generated
# requests also hit seeded records (and not only ids that do not exist).
KNOWN = {}


def documented_statuses(case):
    codes = set()
    for code in case.operation.responses.status_codes:
        code = str(code)
        if code.upper().endswith("XX"):
            codes.update(range(int(code[0]) * 100, int(code[0]) * 100 + 100))
        elif code.isdigit():
            codes.add(int(code))
    return codes


def status_code_is_meant(ctx, response, case):
    """A documented status, one of the client errors the API answers for bad input, or the
    refusal of a method or a media type the schema does not declare (schemathesis probes both)."""
    status = response.status_code
    if status in documented_statuses(case) or status in CLIENT_ERRORS or status >= 500:
        return None  # a 5xx is not_a_server_error's to report
    declared = SCHEMA["paths"][case.operation.path]
    undeclared_method = case.method.lower() not in declared
    if undeclared_method and (status == 405 or case.method.upper() in ("OPTIONS", "HEAD") and status == 200):
        return None  # unsupported_method checks the 405 (and its Allow header); OPTIONS and HEAD are implicit
    media_types = declared.get(case.operation.method.lower(), {}).get("requestBody", {}).get("content", {})
    sent = (case.headers or {}).get("Content-Type") or case.media_type or ""
    if status == 415 and sent.split(";")[0].strip() not in media_types:
        return None
    raise AssertionError(
        f"{case.method} {case.formatted_path} answered {status}, which is neither documented "
        f"({sorted(documented_statuses(case))}) nor one of the API's client errors {sorted(CLIENT_ERRORS)}: "
        f"{response.text[:500]}"
    )


CHECKS = [
    not_a_server_error,
    status_code_is_meant,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    unsupported_method,
]


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    """Half the time, swap generated path parameters for ones naming real records."""
    if not isinstance(path_parameters, dict):
        return st.just(path_parameters)
    collection = context.operation.path.split("/")[2]
    real = {name: KNOWN.get((collection, name)) for name in path_parameters}
    real = {name: values for name, values in real.items() if values}
    if not real:
        return st.just(path_parameters)
    return st.one_of(
        st.just(path_parameters),
        st.fixed_dictionaries({name: st.sampled_from(values) for name, values in real.items()}).map(
            lambda chosen: {**path_parameters, **chosen}
        ),
    )


@schema.hook
def flatmap_query(context, query):
    """Half the time, a generated `cloud` filter names a real cloud."""
    if not isinstance(query, dict) or "cloud" not in query or not KNOWN.get("clouds"):
        return st.just(query)
    return st.one_of(st.just(query), st.sampled_from(KNOWN["clouds"]).map(lambda cloud: {**query, "cloud": cloud}))


# Real values for some body fields, so that creates and edits do not all stop at "no such cloud".
BODY_VALUES = {"cloud": "cloud_names", "host": "host_names", "flavor": "flavor_names"}


@schema.hook
def flatmap_body(context, body):
    """Half the time, the cloud, host and flavor of a host, flavor or server body are real ones."""
    collection = context.operation.path.split("/")[2]
    if not isinstance(body, dict) or collection not in ("hosts", "flavors", "servers"):
        return st.just(body)
    real = {key: KNOWN.get(values) for key, values in BODY_VALUES.items() if key in body}
    real = {key: values for key, values in real.items() if values}
    if not real:
        return st.just(body)
    return st.one_of(
        st.just(body),
        st.fixed_dictionaries({key: st.sampled_from(values) for key, values in real.items()}).map(
            lambda chosen: {**body, **chosen}
        ),
    )


class Api:
    def __init__(self, url, token, records):
        self.url = url
        self.headers = {"Authorization": f"Token {token}"}
        self.records = records
        self.failures = []

    def call(self, method, path, expected, path_parameters=None, query=None, body=None):
        """One request built from the schema's operation, checked like the generated ones.

        A failed check is recorded and the sequence goes on (later steps use the answer);
        the test reports every failure at the end."""
        operation = schema[path][method]
        kwargs = {} if body is None else {"body": body, "media_type": "application/json"}
        case = operation.Case(path_parameters=path_parameters, query=query, **kwargs)
        response = case.call(base_url=self.url, headers=self.headers, timeout=60)
        try:
            case.validate_response(response, checks=CHECKS)
        except FailureGroup as error:
            sent = "" if body is None else f" {json.dumps(body)}"
            self.failures.append(f"{method} {case.formatted_path}{sent}:\n{error}")
        assert response.status_code == expected, (
            f"{method} {case.formatted_path}: {response.status_code} {response.text[:500]}"
        )
        return response


RECORDS = """
import json
from simulator.models import Campaign, Cloud, Flavor, Host, Migration, ResourceProvider, Run, Server
from simulator.presets import SCENARIOS
print(json.dumps({
    "clouds": list(Cloud.objects.values_list("name", flat=True)),
    "runs": list(Run.objects.filter(campaign=None).values_list("id", flat=True)),
    "campaigns": list(Campaign.objects.values_list("id", flat=True)),
    "hosts": list(Host.objects.values_list("id", flat=True)),
    "flavors": list(Flavor.objects.values_list("id", flat=True)),
    "providers": [str(u) for u in ResourceProvider.objects.values_list("uuid", flat=True)],
    "servers": [str(u) for u in Server.objects.values_list("uuid", flat=True)],
    "migrations": [str(u) for u in Migration.objects.values_list("uuid", flat=True)],
    "scenarios": list(SCENARIOS),
    "host_names": sorted(set(Host.objects.values_list("name", flat=True))),
    "flavor_names": sorted(set(Flavor.objects.values_list("name", flat=True))),
}))
"""

TOKEN = """
import json
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
user = get_user_model().objects.create_user("schemathesis", password="not-used-here")
print(json.dumps(Token.objects.create(user=user).key))
"""


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    # The run and campaign throttles would turn the generated POST /api/runs/, rerun and
    # POST /api/campaigns/ into 429s.
    stack = LiveStack(tmp_path_factory.mktemp("api-schema"), API_RUN_RATE="100000/min",
                      API_CAMPAIGN_RATE="100000/min")
    try:
        stack.start_redis()  # a run started over the API publishes its first cast here
        stack.manage("seed_demo", check=True)
        # no-valid-host leaves a migration that never got a destination (dest_compute is null).
        for scenario in ("bug-1825537", "confirm-delete-conflict", "no-valid-host"):
            stack.manage("resize_run", "--in-process", "--scenario", scenario, check=True)
        # A campaign that leaks in two of its three runs and skips two combinations.
        stack.manage("resize_campaign", "--in-process", "--scenario", "bug-1825537", "--axis", "bugs=all",
                     "--axis", "fail_at=finish_migration,select_destinations", check=True)
        token = stack.python(TOKEN)
        records = stack.python(RECORDS)
        assert records["runs"] and records["campaigns"] and records["servers"] and records["migrations"], records
        KNOWN.update({
            "clouds": records["clouds"],
            "cloud_names": ["demo"],
            "host_names": records["host_names"],
            "flavor_names": records["flavor_names"],
            ("runs", "id"): records["runs"],
            ("campaigns", "id"): records["campaigns"],
            ("hosts", "id"): records["hosts"],
            ("flavors", "id"): records["flavors"],
            ("providers", "uuid"): records["providers"],
            ("providers", "resource_class"): RESOURCE_CLASSES,
            ("servers", "uuid"): records["servers"],
            ("migrations", "uuid"): records["migrations"],
            ("allocations", "consumer_uuid"): records["servers"] + records["migrations"],
            ("scenarios", "name"): records["scenarios"],
        })
        yield Api(stack.start_web(), token, records)
    finally:
        KNOWN.clear()
        stack.close()


def test_the_live_server_serves_the_schema_under_test(api):
    with urllib.request.urlopen(f"{api.url}/api/schema/?format=json", timeout=30) as response:
        assert json.load(response) == SCHEMA


def test_requests_on_real_records_conform(api):
    """Every read on every seeded record, then each kind of write once, all validated."""
    records = api.records
    # Runs before the generated requests below, which delete and edit records at random.
    for path, operation in schema.raw_schema["paths"].items():
        if "get" in operation and "{" not in path and path != "/api/audit/":
            api.call("GET", path, 200)
    for cloud in records["clouds"]:
        api.call("GET", "/api/audit/", 200, query={"cloud": cloud})
        api.call("GET", "/api/runs/", 200, query={"cloud": cloud})
    for run_id in records["runs"]:
        report = api.call("GET", "/api/runs/{id}/", 200, {"id": run_id}).json()
        assert report["status"] == "done" and report["verdict"]["matched"] is True
    for campaign_id in records["campaigns"]:
        campaign = api.call("GET", "/api/campaigns/{id}/", 200, {"id": campaign_id}).json()
        assert campaign["status"] == "done" and campaign["progress"]["done"] == 2 and campaign["skipped"] == 2
        for path in ("/api/campaigns/{id}/results/", "/api/campaigns/{id}/export.csv", "/api/campaigns/{id}/export.xml"):
            api.call("GET", path, 200, {"id": campaign_id})
        api.call("POST", "/api/campaigns/{id}/cancel/", 409, {"id": campaign_id})
    for host_id in records["hosts"]:
        api.call("GET", "/api/hosts/{id}/", 200, {"id": host_id})
    for flavor_id in records["flavors"]:
        api.call("GET", "/api/flavors/{id}/", 200, {"id": flavor_id})
    for provider in records["providers"]:
        api.call("GET", "/api/providers/{uuid}/", 200, {"uuid": provider})
        api.call("GET", "/api/providers/{uuid}/usages/", 200, {"uuid": provider})
        api.call("GET", "/api/providers/{uuid}/inventories/", 200, {"uuid": provider})
        for resource_class in RESOURCE_CLASSES:
            api.call(
                "GET", "/api/providers/{uuid}/inventories/{resource_class}/", 200,
                {"uuid": provider, "resource_class": resource_class},
            )
    for server in records["servers"]:
        api.call("GET", "/api/servers/{uuid}/", 200, {"uuid": server})
        api.call("GET", "/api/allocations/{consumer_uuid}/", 200, {"consumer_uuid": server})
    for migration in records["migrations"]:
        api.call("GET", "/api/migrations/{uuid}/", 200, {"uuid": migration})
        api.call("GET", "/api/allocations/{consumer_uuid}/", 200, {"consumer_uuid": migration})
    for name in records["scenarios"]:
        api.call("GET", "/api/scenarios/{name}/", 200, {"name": name})

    # A run: started (queued, no worker here), read, aborted, aborted again, re-run.
    started = api.call("POST", "/api/runs/", 202, body={"scenario": "resize-confirm"})
    run_id = started.json()["id"]
    assert started.headers["location"] == [f"/api/runs/{run_id}/"]
    assert api.call("GET", "/api/runs/{id}/", 200, {"id": run_id}).json()["status"] in ("queued", "running")
    assert api.call("POST", "/api/runs/{id}/abort/", 200, {"id": run_id}).json()["status"] == "crashed"
    api.call("POST", "/api/runs/{id}/abort/", 409, {"id": run_id})
    api.call("POST", "/api/runs/{id}/rerun/", 202, {"id": run_id})

    # A campaign: previewed, started (its runs are not dispatched: no worker here), read, cancelled.
    definition = {"scenario": "bug-1825537", "axes": {"then": "all", "fail_host": ["host1", "host2"]}, "name": "api"}
    assert api.call("POST", "/api/campaigns/preview/", 200, body=definition).json()["runs"] == 6
    started = api.call("POST", "/api/campaigns/", 202, body=definition)
    campaign_id = started.json()["id"]
    assert started.headers["location"] == [f"/api/campaigns/{campaign_id}/"]
    api.call("GET", "/api/campaigns/{id}/", 200, {"id": campaign_id})
    assert api.call("POST", "/api/campaigns/{id}/cancel/", 200, {"id": campaign_id}).json()["status"] == "cancelled"
    api.call("POST", "/api/campaigns/{id}/cancel/", 409, {"id": campaign_id})

    # A host with its provider's inventory, a flavor, a server: created, edited, deleted.
    host = api.call("POST", "/api/hosts/", 201, body={"cloud": "demo", "name": "host-api"}).json()
    api.call("PATCH", "/api/hosts/{id}/", 200, {"id": host["id"]}, body={"service_up": False})
    api.call("PUT", "/api/hosts/{id}/", 200, {"id": host["id"]}, body={"cloud": "demo", "name": "host-api"})
    inventory = {"uuid": host["provider"], "resource_class": "VCPU"}
    api.call("PUT", "/api/providers/{uuid}/inventories/{resource_class}/", 200, inventory, body={"total": 64})
    api.call(
        "PUT", "/api/providers/{uuid}/inventories/{resource_class}/", 409, inventory,
        body={"total": 32, "resource_provider_generation": 0},
    )
    api.call("DELETE", "/api/providers/{uuid}/inventories/{resource_class}/", 204, inventory)
    api.call("DELETE", "/api/hosts/{id}/", 204, {"id": host["id"]})

    flavor = api.call(
        "POST", "/api/flavors/", 201,
        body={"cloud": "demo", "flavorid": "api-1", "name": "api.small", "vcpus": 1, "memory_mb": 256, "root_gb": 1},
    ).json()
    api.call("PATCH", "/api/flavors/{id}/", 200, {"id": flavor["id"]}, body={"disabled": True})
    api.call("DELETE", "/api/flavors/{id}/", 204, {"id": flavor["id"]})

    server = api.call(
        "POST", "/api/servers/", 201, body={"cloud": "demo", "name": "api-server", "host": "host3", "flavor": "m1.tiny"}
    ).json()
    assert server["status"] == "ACTIVE" and server["host"] == "host3"
    api.call("GET", "/api/allocations/{consumer_uuid}/", 200, {"consumer_uuid": server["uuid"]})
    api.call("DELETE", "/api/servers/{uuid}/", 204, {"uuid": server["uuid"]})

    if api.failures:
        pytest.fail(f"{len(api.failures)} requests on real records failed checks:\n\n" + "\n\n".join(api.failures))


# Nothing is excluded: DELETEs that remove seeded records only make later examples 404 (fine),
# and POST /api/runs/ only queues runs (Redis is up; there is no worker).
FUZZ_SETTINGS = {
    "deadline": None,
    "database": None,  # no .hypothesis/ folder in the checkout
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
}
# Creating or previewing a campaign expands every combination it names (up to 20000): fewer
# examples there keep the suite's time; tests/test_api_campaigns.py covers their bad input.
CAMPAIGN_DEFINITIONS = "^/api/campaigns/(preview/)?$"


@schema.exclude(method="POST", path_regex=CAMPAIGN_DEFINITIONS).parametrize()
@settings(max_examples=MAX_EXAMPLES, **FUZZ_SETTINGS)
def test_generated_requests_conform(case, api):
    case.call_and_validate(base_url=api.url, headers=api.headers, checks=CHECKS, timeout=60)


@schema.include(method="POST", path_regex=CAMPAIGN_DEFINITIONS).parametrize()
@settings(max_examples=MAX_EXAMPLES // 5, **FUZZ_SETTINGS)
def test_generated_campaign_definitions_conform(case, api):
    case.call_and_validate(base_url=api.url, headers=api.headers, checks=CHECKS, timeout=60)
