"""The REST API under /api/, driven the way an automation user drives it.

What is asserted is what a script relies on: status codes, the Location header, field
messages in Nova's words, Placement's documents and numbers, and that no request, however
malformed, is a 500. No broker runs here: casts and revokes are recorded instead of sent.
"""
import json
import re
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from django.contrib.staticfiles import finders
from django.core.cache import cache
from django.core.management import call_command
from rest_framework.authtoken.models import Token
from rest_framework.permissions import IsAuthenticated
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from simulator.cloud import build_cloud
from simulator.models import Allocation, Cloud, Flavor, Host, Inventory, Migration, Run, Server
from simulator.params import PARAMS
from simulator.pipeline import execute_step, run_to_completion, start_run
from simulator.report import build_report
from simulator.presets import SCENARIOS
from tests.factories import SMALL, TINY, ZERO, booted_server, cloud_with_hosts, flavor_of, host_of, provider_of
from tests.factories import finished_run as finished

ROOT = Path(__file__).resolve().parent.parent
MISSING = "00000000-0000-4000-8000-000000000000"


# -- fixtures and helpers ---------------------------------------------------------------------
@pytest.fixture(autouse=True)
def broker(monkeypatch):
    """Casts and revokes recorded instead of published; a fresh throttle cache for every test."""
    recorded = SimpleNamespace(casts=[], revoked=[])
    monkeypatch.setattr("dashboard.api.views.cast", lambda *args: recorded.casts.append(args))
    monkeypatch.setattr("dashboard.api.views.revoke", recorded.revoked.append)
    cache.clear()  # DRF's throttles count in Django's cache
    yield recorded
    cache.clear()


@pytest.fixture
def post_run(api, django_capture_on_commit_callbacks):
    """POST /api/runs/ and run the on_commit callbacks (the first cast)."""

    def _post(body, client=None):
        with django_capture_on_commit_callbacks(execute=True):
            return (client or api).post("/api/runs/", body, format="json")

    return _post


def finish(response):
    """Execute every step of the run a 202 answered for."""
    return run_to_completion(Run.objects.get(pk=response.json()["id"]))


def jsonable(document):
    return json.loads(json.dumps(document))


def ids(response):
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


# -- POST /api/runs/ ---------------------------------------------------------------------------
def test_post_run_answers_202_with_location_and_the_report(api, post_run, broker):
    response = post_run({"scenario": "bug-1825537"})

    run = Run.objects.get()
    assert response.status_code == 202
    assert response["Location"] == f"/api/runs/{run.pk}/"
    body = response.json()
    assert body == jsonable(build_report(run))
    assert api.get(response["Location"]).json() == body  # the run's document, where Location says
    assert body["status"] == "queued" and body["cloud"] == f"run-{run.pk}"
    assert (body["next_step"], body["next_host"], body["task_id"]) == ("conductor.migrate_server", "conductor", run.task_id)
    assert body["params"]["fail_at"] == "finish_migration" and body["params"]["bugs"] == ["1825537"]
    assert broker.casts == [(run.pk, 1, "conductor.migrate_server", "conductor", run.task_id)]


def test_post_run_without_a_scenario_starts_the_default_one(post_run):
    response = post_run({})
    assert response.status_code == 202
    assert response.json()["scenario"] == "bug-1825537"


def test_a_preset_runs_to_its_expected_outcome(api, post_run):
    response = post_run({"scenario": "bug-1825537"})
    finish(response)

    report = api.get(response["Location"]).json()
    assert report["status"] == "done" and report["verdict"]["matched"] is True
    assert report["usages"]["after"] == {"host1": TINY, "host2": ZERO}
    assert report["server"]["status"] == "ERROR" and report["server"]["host"] == "host2"
    assert report["server"]["fault"]["code"] == 500
    assert report["server"]["fault"]["message"] == "Virtual Interface creation failed"
    assert report["audit"]["exit_code"] == 3


def test_overrides_switch_the_bug_off_and_the_dest_keeps_the_new_flavor(api, post_run):
    response = post_run({"scenario": "bug-1825537", "bugs": []})
    assert response.status_code == 202 and response.json()["params"]["bugs"] == []
    finish(response)

    report = api.get(f"/api/runs/{response.json()['id']}/").json()
    assert report["status"] == "done"
    assert report["verdict"]["matched"] is True
    assert report["usages"]["after"]["host2"] == SMALL
    assert report["usages"]["after"]["host1"] == ZERO
    assert report["next_step"] is None and [s["seq"] for s in report["steps"]] == [1, 2, 3, 4]


def test_a_run_nova_accepts_and_that_fails_later_is_202_then_novalidhost(api, post_run):
    response = post_run({"scenario": "custom", "driver": "SmallFakeDriver", "new_flavor": "m1.large"})
    assert response.status_code == 202
    finish(response)

    report = api.get(response["Location"]).json()
    assert report["status"] == "done"
    assert report["server"]["status"] == "ACTIVE" and report["server"]["host"] == "host1"
    assert report["server"]["fault"] is None  # ACTIVE: Nova's API hides the fault
    assert [f["message"] for f in report["faults"]] == ["No valid host was found. "]
    assert report["migration"]["status"] == "error"
    assert report["verdict"]["matched"] is None  # custom: no expectation
    assert report["usages"]["after"] == {"host1": TINY, "host2": ZERO}


KNOWN_POINTS = "select_destinations, prep_resize, migrate_disk_and_power_off, finish_migration"


@pytest.mark.parametrize(
    "body, field, message",
    [
        ({"new_flavor": "m1.tiny"}, "new_flavor", "When resizing, instances must change flavor!"),
        ({"new_flavor": "1"}, "new_flavor", "When resizing, instances must change flavor!"),
        ({"new_flavor": "m1.huge"}, "new_flavor", "Flavor m1.huge could not be found."),
        ({"flavor": "m1.huge"}, "flavor", "Flavor m1.huge could not be found."),
        ({"action": "migrate", "new_flavor": None, "dest_host": "host9"}, "dest_host",
         "Compute host host9 could not be found."),
        ({"source_host": "host9"}, "source_host", "Compute host host9 could not be found."),
        ({"fail_host": "host9"}, "fail_host", "Compute host host9 could not be found."),
        ({"fail_at": "spawn"}, "fail_at", f"Unknown failure point 'spawn'. Known: {KNOWN_POINTS}, "),
        ({"exception": "KeyError"}, "exception", "Unknown exception 'KeyError'. Known: VirtualInterfaceCreateException, "),
        ({"fail_at": "confirm_delete", "exception": "ResizeError"}, "exception",
         "confirm_delete fails with a placement generation conflict (409 placement.concurrent_update); "
         "it takes no exception."),
        ({"inner_exception": "ResizeError"}, "inner_exception",
         "inner_exception goes with the InstanceFaultRollback exception."),
        ({"bugs": ["1"]}, "bugs", "Unknown bug '1'. Known: 1825537."),
        ({"scenario": "bug-0"}, "scenario", "Unknown scenario 'bug-0'. Known: bug-1825537, "),
        ({"scenario": "custom", "cloud": "nowhere"}, "cloud", "Cloud nowhere does not exist"),
        ({"driver": "LibvirtDriver"}, "driver",
         "Unknown driver 'LibvirtDriver'. Known: FakeDriver, SmallFakeDriver, MediumFakeDriver."),
        ({"then": "later"}, "then", "then must be one of none, confirm, revert."),
        ({"vm_state": "sleeping"}, "vm_state", "Unknown vm_state 'sleeping'."),
        ({"size": 3}, "size", "Unknown parameter 'size'."),
        ({"hosts": ["a", "a"], "source_host": "a"}, "hosts", "Host names must be unique in a cloud."),
        # wrong types
        ({"max_attempts": "x"}, "max_attempts", "A valid integer is required."),
        ({"max_attempts": 0}, "max_attempts", "Ensure this value is greater than or equal to 1."),
        ({"max_attempts": 11}, "max_attempts", "Ensure this value is less than or equal to 10."),
        ({"step_delay": 61}, "step_delay", "Ensure this value is less than or equal to 60."),
        ({"bugs": "1825537"}, "bugs", 'Expected a list of items but got type "str".'),
        ({"hosts": []}, "hosts", "This list may not be empty."),
        ({"hosts": "host1"}, "hosts", 'Expected a list of items but got type "str".'),
        ({"allow_resize_to_same_host": "maybe"}, "allow_resize_to_same_host", "Must be a valid boolean."),
        ({"server": None}, "server", "This field may not be null."),
    ],
)
def test_bad_runs_are_400_naming_the_field_in_novas_words(post_run, broker, body, field, message):
    response = post_run(body)

    assert response.status_code == 400, response.content
    errors = response.json()
    assert list(errors) == [field] and len(errors[field]) == 1
    assert errors[field][0].startswith(message), errors
    assert "Location" not in response
    assert Run.objects.count() == 0 and Cloud.objects.count() == 0 and broker.casts == []


def test_the_messages_are_exactly_novas(post_run):
    assert post_run({"new_flavor": "m1.tiny"}).json() == {"new_flavor": ["When resizing, instances must change flavor!"]}
    assert post_run({"new_flavor": "m1.huge"}).json() == {"new_flavor": ["Flavor m1.huge could not be found."]}
    assert post_run({"action": "migrate", "new_flavor": None, "dest_host": "host9"}).json() == {
        "dest_host": ["Compute host host9 could not be found."]}


def test_a_resize_with_a_destination_is_400_as_novas_api_answers_it(post_run, broker):
    # Nova 34's resize schema takes flavorRef and OS-DCF:diskConfig only, at every microversion.
    response = post_run({"scenario": "custom", "hosts": ["host1", "host2", "host3"], "dest_host": "host3"})

    assert response.status_code == 400
    assert response.json() == {"dest_host": [
        "Invalid input for field/attribute resize. Value: {'flavorRef': '2', 'host': 'host3'}. "
        "Additional properties are not allowed ('host' was unexpected)"]}
    assert Run.objects.count() == 0 and Cloud.objects.count() == 0 and broker.casts == []


def test_a_destination_is_for_a_cold_migration(post_run):
    response = post_run({"scenario": "custom", "action": "migrate", "hosts": ["host1", "host2", "host3"],
                         "dest_host": "host3", "then": "confirm"})
    assert response.status_code == 202
    report = build_report(finish(response))
    assert (report["server"]["host"], report["server"]["flavor"]) == ("host3", "m1.tiny")
    assert (report["migration"]["migration_type"], report["migration"]["status"]) == ("migration", "confirmed")


def test_a_server_already_being_resized_is_409(post_run, demo_cloud, broker):
    first = post_run({"cloud": "demo", "server": "web"})
    assert first.status_code == 202

    second = post_run({"cloud": "demo", "server": "web"})
    server = Server.objects.get(cloud=demo_cloud, name="web")
    assert second.status_code == 409
    assert second.json() == {"detail": f"Cannot 'resize' instance {server.uuid} while it is in task_state resize_prep"}
    assert "Location" not in second
    assert Run.objects.count() == 1 and len(broker.casts) == 1


def test_a_server_in_error_is_409(post_run):
    response = post_run({"vm_state": "error"})
    assert response.status_code == 409
    assert response.json()["detail"].endswith(" while it is in vm_state error")


def test_a_source_compute_down_is_409(api, post_run, demo_cloud):
    host1 = host_of(demo_cloud, "host1")
    assert api.patch(f"/api/hosts/{host1.pk}/", {"service_up": False}, format="json").status_code == 200
    response = post_run({"scenario": "custom", "cloud": "demo"})
    assert (response.status_code, response.json()) == (409, {"detail": "Service is unavailable at this time."})


def test_a_disabled_flavor_cannot_be_resized_to(api, post_run, demo_cloud):
    large = flavor_of(demo_cloud, "m1.large")
    assert api.patch(f"/api/flavors/{large.pk}/", {"disabled": True}, format="json").status_code == 200
    response = post_run({"scenario": "custom", "cloud": "demo", "new_flavor": "4"})
    assert (response.status_code, response.json()) == (400, {"new_flavor": ["Flavor 4 could not be found."]})


@pytest.mark.parametrize("scenario, overrides", [("bug-1825537", {}), ("resize-revert", {"cloud": "demo"})])
def test_a_reports_params_can_be_posted_back(api, post_run, demo_cloud, scenario, overrides):
    """Clone-and-edit: the params of a report (with nulls, and a cloud run's hosts/driver null) are a valid body."""
    first = post_run({"scenario": scenario, **overrides})
    matched = finish(first).verdict["matched"]
    params = api.get(first["Location"]).json()["params"]
    again = post_run({"scenario": scenario, **params})
    assert again.status_code == 202, again.content
    assert again.json()["params"] == params
    assert run_to_completion(Run.objects.get(pk=again.json()["id"])).verdict["matched"] is matched
    assert matched is (True if overrides == {} else None)  # a preset's own cloud only: the demo one has no expectation


# -- rerun, abort, unknown runs ----------------------------------------------------------------
def test_rerun_starts_a_new_run_with_the_same_parameters(api, broker, django_capture_on_commit_callbacks):
    run = finished("resize-revert", step_delay=0)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"/api/runs/{run.pk}/rerun/")

    again = Run.objects.exclude(pk=run.pk).get()
    assert response.status_code == 202
    assert response["Location"] == f"/api/runs/{again.pk}/"
    assert response.json()["id"] == again.pk and response.json()["status"] == "queued"
    assert again.params == run.params and again.scenario == run.scenario
    assert again.cloud.name == f"run-{again.pk}" != run.cloud.name
    assert broker.casts == [(again.pk, 1, "conductor.migrate_server", "conductor", again.task_id)]
    assert run_to_completion(again).verdict["matched"] is True


def test_rerun_of_a_run_whose_server_is_still_resizing_is_409(api, post_run, demo_cloud):
    first = post_run({"cloud": "demo", "server": "web"})
    response = api.post(f"/api/runs/{first.json()['id']}/rerun/")
    assert response.status_code == 409
    assert response.json()["detail"].endswith("while it is in task_state resize_prep")


def test_abort_an_unfinished_run(api, post_run, broker):
    response = post_run({"scenario": "resize-confirm"})
    run = Run.objects.get()

    aborted = api.post(f"/api/runs/{run.pk}/abort/")
    assert aborted.status_code == 200
    body = aborted.json()
    assert body["status"] == "crashed"
    assert body["error"] == "Aborted by automation before conductor.migrate_server."
    assert body["next_step"] is None and body["task_id"] is None and body["finished"] is not None
    assert body["verdict"]["result"] == "aborted" and body["verdict"]["matched"] is None
    assert body["verdict"]["summary"].startswith("Aborted by automation before conductor.migrate_server.")
    assert broker.revoked == [response.json()["task_id"]]
    assert execute_step(run.pk, 1) is None  # the revoked cast, if delivered anyway, does nothing

    again = api.post(f"/api/runs/{run.pk}/abort/")
    assert (again.status_code, again.json()) == (409, {"detail": f"Run {run.pk} is already crashed."})


def test_abort_of_a_finished_run_is_409(api, broker):
    run = finished("resize-confirm")
    response = api.post(f"/api/runs/{run.pk}/abort/")
    assert (response.status_code, response.json()) == (409, {"detail": f"Run {run.pk} is already done."})
    assert broker.revoked == []
    run.refresh_from_db()
    assert run.status == "done" and run.error == ""


@pytest.mark.parametrize("run_id", ["999999", "abc", "99999999999999999999999", "-1", "1.5"])
@pytest.mark.parametrize("method, path", [("get", ""), ("post", "rerun/"), ("post", "abort/")])
def test_unknown_runs_are_404(api, broker, method, path, run_id):
    finished("resize-confirm")
    response = getattr(api, method)(f"/api/runs/{run_id}/{path}")
    assert response.status_code == 404
    assert Run.objects.count() == 1 and broker.casts == [] and broker.revoked == []


# -- GET /api/runs/ ----------------------------------------------------------------------------
@pytest.fixture
def runs(api, demo_cloud):
    """done+matched, done without expectation, crashed (aborted), queued in the demo cloud."""
    matched = finished("bug-1825537")
    custom = finished("custom", new_flavor="m1.medium")
    aborted = start_run("resize-confirm", {})
    assert api.post(f"/api/runs/{aborted.pk}/abort/").status_code == 200
    queued = start_run("resize-revert", {"cloud": "demo"})
    return SimpleNamespace(matched=matched.pk, custom=custom.pk, aborted=aborted.pk, queued=queued.pk)


@pytest.mark.parametrize(
    "query, expected",
    [
        ("", ["queued", "aborted", "custom", "matched"]),
        ("?status=done&status=crashed", ["aborted", "custom", "matched"]),
        ("?status=done", ["custom", "matched"]),
        ("?status=queued", ["queued"]),
        ("?status=running", []),
        ("?scenario=custom", ["custom"]),
        ("?scenario=resize-revert", ["queued"]),
        ("?verdict=matched", ["matched"]),
        ("?verdict=mismatch", []),
        ("?verdict=aborted", ["aborted"]),
        ("?verdict=none", ["custom"]),
        ("?verdict=pending", ["queued"]),
        ("?cloud=demo", ["queued"]),
        ("?cloud=nowhere", []),
        ("?status=done&verdict=matched&scenario=bug-1825537", ["matched"]),
    ],
)
def test_the_run_list_filters(api, runs, query, expected):
    assert ids(api.get(f"/api/runs/{query}")) == [getattr(runs, name) for name in expected]


def test_the_run_list_filters_by_a_runs_own_cloud(api, runs):
    assert ids(api.get(f"/api/runs/?cloud=run-{runs.matched}")) == [runs.matched]


@pytest.mark.parametrize("query", ["?status=bogus", "?verdict=maybe", "?status=done&status=bogus"])
def test_an_invalid_filter_is_400(api, runs, query):
    response = api.get(f"/api/runs/{query}")
    assert response.status_code == 400
    assert list(response.json()) == [query.split("&")[-1].split("=")[0].lstrip("?")]


def test_a_run_in_the_list_is_a_summary_with_its_url(api, runs):
    row = next(r for r in api.get("/api/runs/").json()["results"] if r["id"] == runs.matched)
    assert row["url"] == f"http://testserver/api/runs/{runs.matched}/"
    assert (row["status"], row["scenario"], row["cloud"], row["matched"]) == ("done", "bug-1825537", f"run-{runs.matched}", True)
    assert "steps" not in row and "params" not in row


def test_the_run_list_paginates(api, runs):
    first = api.get("/api/runs/?limit=2").json()
    assert first["count"] == 4 and len(first["results"]) == 2
    assert first["next"] == "http://testserver/api/runs/?limit=2&offset=2" and first["previous"] is None
    second = api.get(first["next"]).json()
    assert second["next"] is None and second["previous"] == "http://testserver/api/runs/?limit=2"
    assert [r["id"] for r in first["results"] + second["results"]] == [runs.queued, runs.aborted, runs.custom, runs.matched]
    filtered = api.get("/api/runs/?status=done&limit=1").json()
    assert filtered["count"] == 2 and filtered["next"] == "http://testserver/api/runs/?limit=1&offset=1&status=done"


def test_the_run_list_orders(api, runs):
    by_id = sorted([runs.matched, runs.custom, runs.aborted, runs.queued])
    assert ids(api.get("/api/runs/?ordering=id")) == by_id
    assert ids(api.get("/api/runs/?ordering=-id")) == by_id[::-1]
    assert ids(api.get("/api/runs/")) == by_id[::-1]  # newest first
    assert ids(api.get("/api/runs/?ordering=params")) == by_id[::-1]  # not orderable: ignored


# -- scenarios ---------------------------------------------------------------------------------
def test_the_scenarios_list_every_preset(anon):
    response = anon.get("/api/scenarios/")
    assert response.status_code == 200
    assert [s["name"] for s in response.json()] == list(SCENARIOS)


def test_a_scenario_shows_its_params_and_the_outcome_per_bug_set(anon):
    response = anon.get("/api/scenarios/bug-1825537/")
    assert response.status_code == 200
    scenario = response.json()
    assert scenario["reference"].startswith("nova/tests/functional/regressions/test_bug_1825537.py")
    assert scenario["params"]["fail_at"] == "finish_migration" and scenario["params"]["fail_host"] == "host2"
    assert scenario["params"]["hosts"] == ["host1", "host2"] and scenario["params"]["new_flavor"] == "m1.small"
    expected = {tuple(e["bugs"]): e["outcome"] for e in scenario["expected"]}
    assert set(expected) == {("1825537",), ()}
    assert expected[("1825537",)]["usages"] == {"host1": TINY, "host2": ZERO}
    assert expected[()]["usages"] == {"host1": ZERO, "host2": SMALL}
    assert expected[()]["fault"] == {"code": 500, "message": "Virtual Interface creation failed"}
    assert expected[("1825537",)]["audit"] == {"orphaned": 1, "missing": 1, "flavor_mismatch": 0}


@pytest.mark.parametrize("name", ["nope", "custom", "BUG-1825537"])
def test_an_unknown_scenario_is_404(anon, name):
    response = anon.get(f"/api/scenarios/{name}/")
    assert response.status_code == 404


# -- hosts -------------------------------------------------------------------------------------
def test_hosts_list_and_filter_by_cloud(api, demo_cloud):
    build_cloud("other", ["hostA"], "SmallFakeDriver")
    response = api.get("/api/hosts/?cloud=demo")
    assert response.status_code == 200 and response.json()["count"] == 3
    rows = response.json()["results"]
    assert [h["name"] for h in rows] == ["host1", "host2", "host3"]
    assert rows[0]["provider"] == str(provider_of("demo", "host1").uuid)
    assert rows[0]["driver"] == "FakeDriver" and rows[0]["service_up"] is True and rows[0]["failures"] == []
    other = api.get("/api/hosts/?cloud=other").json()["results"]
    assert [(h["name"], h["driver"]) for h in other] == [("hostA", "SmallFakeDriver")]
    assert api.get("/api/hosts/?driver=SmallFakeDriver").json()["count"] == 1


def test_create_a_host_creates_its_provider_with_the_drivers_inventory(api, demo_cloud):
    response = api.post("/api/hosts/", {"cloud": "demo", "name": "host4"}, format="json")
    assert response.status_code == 201, response.content
    host = response.json()
    assert (host["cloud"], host["name"], host["driver"], host["service_up"]) == ("demo", "host4", "FakeDriver", True)
    provider = provider_of("demo", "host4")
    assert host["provider"] == str(provider.uuid)

    providers = {p["name"]: p for p in api.get("/api/providers/?cloud=demo").json()["results"]}
    assert set(providers) == {"host1", "host2", "host3", "host4"}
    assert providers["host4"]["inventories"]["VCPU"]["total"] == 1000
    assert providers["host4"]["inventories"]["VCPU"]["capacity"] == 4000
    assert providers["host4"]["usages"] == ZERO


def test_create_a_host_with_another_driver_and_failures(api, demo_cloud):
    failures = [{"point": "finish_migration", "exception": "VirtualInterfaceCreateException"}]
    response = api.post(
        "/api/hosts/",
        {"cloud": "demo", "name": "small1", "driver": "SmallFakeDriver", "service_up": False, "failures": failures},
        format="json",
    )
    assert response.status_code == 201, response.content
    host = host_of(demo_cloud, "small1")
    assert (host.driver, host.service_up, host.failures) == ("SmallFakeDriver", False, failures)
    inventory = api.get(f"/api/providers/{host.provider.uuid}/inventories/").json()["inventories"]
    assert (inventory["VCPU"]["total"], inventory["VCPU"]["capacity"]) == (2, 8)
    assert (inventory["MEMORY_MB"]["total"], inventory["MEMORY_MB"]["capacity"]) == (8192, 7680)


@pytest.mark.parametrize(
    "body, field, message",
    [
        ({"cloud": "demo", "name": "host1"}, "non_field_errors", "The fields cloud, name must make a unique set."),
        ({"cloud": "nowhere", "name": "host4"}, "cloud", "Object with name=nowhere does not exist."),
        ({"cloud": "demo"}, "name", "This field is required."),
        ({"cloud": "demo", "name": "host4", "driver": "LibvirtDriver"}, "driver", '"LibvirtDriver" is not a valid choice.'),
        ({"cloud": "demo", "name": "host4", "failures": [{"point": "spawn"}]}, "failures",
         "Failure 1: Unknown failure point 'spawn'. Host failure points: prep_resize, "),
    ],
)
def test_create_a_bad_host_is_400(api, demo_cloud, body, field, message):
    response = api.post("/api/hosts/", body, format="json")
    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert response.json()[field][0].startswith(message), response.json()
    assert Host.objects.count() == 3


def test_a_host_name_is_unique_per_cloud_only(api, demo_cloud):
    cloud_with_hosts("other", ["hostA"])
    assert api.post("/api/hosts/", {"cloud": "other", "name": "host1"}, format="json").status_code == 201


def test_patch_a_hosts_service_and_failures(api, demo_cloud):
    host = host_of(demo_cloud, "host2")
    response = api.patch(f"/api/hosts/{host.pk}/", {"service_up": False}, format="json")
    assert response.status_code == 200 and response.json()["service_up"] is False

    failures = [{"point": "finish_migration", "exception": "VirtualInterfaceCreateException"}]
    response = api.patch(f"/api/hosts/{host.pk}/", {"failures": failures}, format="json")
    assert response.status_code == 200 and response.json()["failures"] == failures
    host.refresh_from_db()
    assert (host.service_up, host.failures) == (False, failures)
    assert api.patch(f"/api/hosts/{host.pk}/", {"failures": []}, format="json").json()["failures"] == []


@pytest.mark.parametrize(
    "failures, message",
    [
        ([{"point": "spawn"}], "Failure 1: Unknown failure point 'spawn'. Host failure points: prep_resize, "),
        ([{"point": "finish_migration", "exception": "KeyError"}],
         "Failure 1: Unknown exception 'KeyError'. Known: VirtualInterfaceCreateException, "),
        ([{"point": "confirm_delete"}], "Failure 1: 'confirm_delete' is a placement write, not a driver call."),
        ([{"point": "select_destinations"}], "Failure 1: 'select_destinations' runs in the conductor"),
        ([{"exception": "ResizeError"}], "Failure 1: A failure needs a point."),
        ([{"point": "destroy", "when": "always"}], "Failure 1: unknown key(s) when."),
        ([{"point": "destroy"}, "destroy"], "Failure 2: 'destroy' is not an object with a \"point\"."),
        ({"point": "destroy"}, "failures must be a list of objects."),
        ("destroy", "failures must be a list of objects."),
    ],
)
def test_patch_invalid_failures_is_400_with_the_message(api, demo_cloud, failures, message):
    host = host_of(demo_cloud, "host2")
    response = api.patch(f"/api/hosts/{host.pk}/", {"failures": failures}, format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["failures"]
    assert response.json()["failures"][0].startswith(message), response.json()
    host.refresh_from_db()
    assert host.failures == []


def test_a_hosts_driver_name_and_cloud_cannot_change(api, demo_cloud):
    cloud_with_hosts("other", ["hostA"])
    host = host_of(demo_cloud, "host1")
    url = f"/api/hosts/{host.pk}/"

    response = api.patch(url, {"driver": "SmallFakeDriver"}, format="json")
    assert (response.status_code, response.json()) == (400, {"driver": ["The driver of an existing host cannot change."]})
    assert api.patch(url, {"driver": "FakeDriver"}, format="json").status_code == 200  # unchanged is fine
    response = api.patch(url, {"cloud": "other"}, format="json")
    assert (response.status_code, response.json()) == (400, {"cloud": ["A host cannot move to another cloud."]})
    response = api.patch(url, {"name": "host9"}, format="json")
    assert (response.status_code, response.json()) == (400, {"name": ["The name of an existing host cannot change."]})
    host.refresh_from_db()
    assert (host.driver, host.cloud, host.name, host.provider.name) == ("FakeDriver", demo_cloud, "host1", "host1")


def test_put_a_host_without_its_driver_keeps_the_driver(api, demo_cloud):
    created = api.post("/api/hosts/", {"cloud": "demo", "name": "small1", "driver": "SmallFakeDriver"}, format="json")
    url = f"/api/hosts/{created.json()['id']}/"
    response = api.put(url, {"cloud": "demo", "name": "small1", "service_up": False}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["driver"] == "SmallFakeDriver" and response.json()["service_up"] is False
    assert Host.objects.get(name="small1").driver == "SmallFakeDriver"


def test_delete_an_empty_host_is_204_and_its_provider_goes(api, demo_cloud):
    created = api.post("/api/hosts/", {"cloud": "demo", "name": "host4"}, format="json").json()
    response = api.delete(f"/api/hosts/{created['id']}/")
    assert response.status_code == 204
    assert not Host.objects.filter(pk=created["id"]).exists()
    assert api.get(f"/api/providers/{created['provider']}/").status_code == 404
    assert api.delete(f"/api/hosts/{created['id']}/").status_code == 404


def test_delete_a_host_with_a_server_is_409(api, demo_cloud):
    host = host_of(demo_cloud, "host1")
    api.post("/api/servers/", {"cloud": "demo", "name": "web", "host": "host1", "flavor": "m1.tiny"}, format="json")
    response = api.delete(f"/api/hosts/{host.pk}/")
    assert response.status_code == 409
    assert response.json() == {
        "detail": "Unable to delete host host1: its resource provider has allocations or servers.",
        "code": "placement.resource_provider.inuse",
    }
    assert Host.objects.filter(pk=host.pk).exists()


def test_delete_a_host_a_migration_record_refers_to_is_409(api):
    run = finished("resize-confirm")  # the server lives on host2 now; host1 holds nothing
    host1 = host_of(run.cloud, "host1")
    assert api.get(f"/api/providers/{host1.provider.uuid}/usages/").json()["usages"] == ZERO
    response = api.delete(f"/api/hosts/{host1.pk}/")
    assert (response.status_code, response.json()) == (409, {"detail": "It is still used by: migration."})
    assert Host.objects.filter(pk=host1.pk).exists()


@pytest.mark.parametrize("host_id", ["999999", "abc", "99999999999999999999999"])
def test_unknown_hosts_are_404(api, demo_cloud, host_id):
    assert api.get(f"/api/hosts/{host_id}/").status_code == 404
    assert api.patch(f"/api/hosts/{host_id}/", {"service_up": False}, format="json").status_code == 404
    assert api.delete(f"/api/hosts/{host_id}/").status_code == 404


# -- providers ---------------------------------------------------------------------------------
def test_providers_list_inventories_capacity_and_usages(api, demo_cloud):
    api.post("/api/servers/", {"cloud": "demo", "name": "web", "host": "host1", "flavor": "m1.tiny"}, format="json")
    response = api.get("/api/providers/?cloud=demo")
    assert response.status_code == 200 and response.json()["count"] == 3
    providers = {p["name"]: p for p in response.json()["results"]}
    host1 = providers["host1"]
    assert (host1["cloud"], host1["host"], host1["uuid"]) == ("demo", "host1", str(provider_of("demo", "host1").uuid))
    assert host1["inventories"]["VCPU"] == {
        "total": 1000, "reserved": 0, "min_unit": 1, "max_unit": 1000, "step_size": 1,
        "allocation_ratio": 4.0, "capacity": 4000,
    }
    assert host1["inventories"]["MEMORY_MB"]["reserved"] == 512
    assert host1["inventories"]["MEMORY_MB"]["capacity"] == 799488
    assert host1["inventories"]["DISK_GB"]["capacity"] == 600000
    assert host1["usages"] == TINY
    assert providers["host2"]["usages"] == ZERO
    assert api.get("/api/providers/?name=host2").json()["count"] == 1


def test_a_provider_by_uuid(api, demo_cloud):
    provider = provider_of("demo", "host2")
    response = api.get(f"/api/providers/{provider.uuid}/")
    assert response.status_code == 200
    assert response.json()["name"] == "host2" and response.json()["generation"] == provider.generation
    assert response.json()["usages"] == ZERO


def test_provider_usages_as_placement_answers(api, demo_cloud):
    api.post("/api/servers/", {"cloud": "demo", "name": "web", "host": "host1", "flavor": "m1.small"}, format="json")
    provider = provider_of("demo", "host1")
    response = api.get(f"/api/providers/{provider.uuid}/usages/")
    assert response.status_code == 200
    assert response.json() == {"resource_provider_generation": provider.generation, "usages": SMALL}
    assert provider.generation == 1


def test_provider_inventories_as_placement_answers(api, demo_cloud):
    provider = provider_of("demo", "host1")
    everything = api.get(f"/api/providers/{provider.uuid}/inventories/")
    assert everything.status_code == 200
    assert everything.json()["resource_provider_generation"] == provider.generation
    assert sorted(everything.json()["inventories"]) == ["DISK_GB", "MEMORY_MB", "VCPU"]
    memory = api.get(f"/api/providers/{provider.uuid}/inventories/MEMORY_MB/")
    assert memory.status_code == 200
    assert memory.json() == {
        "resource_provider_generation": provider.generation, "total": 800000, "reserved": 512, "min_unit": 1,
        "max_unit": 800000, "step_size": 1, "allocation_ratio": 1.0, "capacity": 799488,
    }


def test_put_an_inventory_with_the_current_generation(api, demo_cloud):
    provider = provider_of("demo", "host1")
    url = f"/api/providers/{provider.uuid}/inventories/VCPU/"
    body = {"resource_provider_generation": provider.generation, "total": 64, "allocation_ratio": 2.0, "max_unit": 16}
    response = api.put(url, body, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["resource_provider_generation"] == provider.generation + 1
    assert (response.json()["total"], response.json()["capacity"], response.json()["reserved"]) == (64, 128, 0)
    provider.refresh_from_db()
    assert provider.generation == body["resource_provider_generation"] + 1
    assert Inventory.objects.get(provider=provider, resource_class="VCPU").max_unit == 16

    stale = api.put(url, body, format="json")  # the same generation again: someone wrote in between
    assert stale.status_code == 409
    assert stale.json()["errors"][0]["code"] == "placement.concurrent_update"
    assert stale.json()["errors"][0]["status"] == 409
    provider.refresh_from_db()
    assert provider.generation == body["resource_provider_generation"] + 1


def test_put_an_inventory_without_a_generation_is_accepted(api, demo_cloud):
    provider = provider_of("demo", "host1")
    response = api.put(f"/api/providers/{provider.uuid}/inventories/DISK_GB/", {"total": 100}, format="json")
    assert response.status_code == 200 and response.json()["capacity"] == 100


@pytest.mark.parametrize(
    "body, field, message",
    [
        ({"total": 10, "reserved": 11}, "reserved", "The reserved value is greater than total."),
        ({"total": 10, "min_unit": 5, "max_unit": 4}, "min_unit", "min_unit is greater than max_unit."),
        ({"total": 0}, "total", "Ensure this value is greater than or equal to 1."),
        ({"total": 2**40}, "total", "Ensure this value is less than or equal to 2147483647."),
        ({"total": 10, "allocation_ratio": 0}, "allocation_ratio", "Ensure this value is greater than or equal to 0.0001."),
        ({"reserved": 1}, "total", "This field is required."),
        ({"total": "ten"}, "total", "A valid integer is required."),
    ],
)
def test_put_an_invalid_inventory_is_400(api, demo_cloud, body, field, message):
    provider = provider_of("demo", "host1")
    response = api.put(f"/api/providers/{provider.uuid}/inventories/VCPU/", body, format="json")
    assert (response.status_code, response.json()) == (400, {field: [message]})
    assert provider_of("demo", "host1").generation == provider.generation


def test_inventories_of_an_unknown_resource_class_are_404(api, demo_cloud):
    provider = provider_of("demo", "host1")
    url = f"/api/providers/{provider.uuid}/inventories/VGPU/"
    assert api.get(url).status_code == 404
    response = api.put(url, {"total": 4}, format="json")
    assert response.status_code == 404
    assert response.json()["detail"] == "No resource class VGPU (known: VCPU, MEMORY_MB, DISK_GB)."
    assert api.delete(url).status_code == 404
    assert not Inventory.objects.filter(resource_class="VGPU").exists()


def test_delete_an_inventory(api, demo_cloud):
    provider = provider_of("demo", "host3")
    url = f"/api/providers/{provider.uuid}/inventories/DISK_GB/"
    assert api.delete(url).status_code == 204
    provider.refresh_from_db()
    assert provider.generation == 1
    assert api.get(url).status_code == 404
    assert api.delete(url).status_code == 404
    assert sorted(api.get(f"/api/providers/{provider.uuid}/").json()["inventories"]) == ["MEMORY_MB", "VCPU"]
    assert api.put(url, {"total": 10, "resource_provider_generation": 1}, format="json").status_code == 200


def test_delete_an_inventory_with_allocations_is_409(api, demo_cloud):
    api.post("/api/servers/", {"cloud": "demo", "name": "web", "host": "host1", "flavor": "m1.tiny"}, format="json")
    provider = provider_of("demo", "host1")
    response = api.delete(f"/api/providers/{provider.uuid}/inventories/MEMORY_MB/")
    assert response.status_code == 409
    error = response.json()["errors"][0]
    assert error["code"] == "placement.inventory.inuse"
    assert error["detail"].startswith("Unable to delete inventory of class MEMORY_MB")
    assert Inventory.objects.filter(provider=provider, resource_class="MEMORY_MB").exists()


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("get", "", None),
        ("get", "usages/", None),
        ("get", "inventories/", None),
        ("get", "inventories/VCPU/", None),
        ("put", "inventories/VCPU/", {"total": 4}),
        ("delete", "inventories/VCPU/", None),
    ],
)
@pytest.mark.parametrize("provider_uuid", [MISSING, "not-a-uuid"])
def test_unknown_providers_are_404(api, demo_cloud, method, path, body, provider_uuid):
    response = getattr(api, method)(f"/api/providers/{provider_uuid}/{path}", body, format="json")
    assert response.status_code == 404


# -- allocations -------------------------------------------------------------------------------
def test_allocations_of_a_server_as_placement_answers(api, demo_cloud):
    server = api.post("/api/servers/", {"cloud": "demo", "name": "web", "host": "host2", "flavor": "m1.small"},
                      format="json").json()
    provider = provider_of("demo", "host2")
    response = api.get(f"/api/allocations/{server['uuid']}/")
    assert response.status_code == 200
    body = response.json()
    assert body["allocations"] == {str(provider.uuid): {"resources": SMALL, "generation": provider.generation}}
    assert body["consumer_generation"] == 1 and body["consumer_type"] == "INSTANCE"


def test_allocations_of_a_resizing_server_and_its_migration(api):
    run = finished("prep-resize-reschedule")  # VERIFY_RESIZE on host3, m1.tiny held on host1 by the migration
    migration = Migration.objects.get(server=run.server)
    host1, host3 = provider_of(run.cloud.name, "host1"), provider_of(run.cloud.name, "host3")
    server = api.get(f"/api/allocations/{run.server.uuid}/").json()
    held = api.get(f"/api/allocations/{migration.uuid}/").json()
    assert server["allocations"] == {str(host3.uuid): {"resources": SMALL, "generation": host3.generation}}
    assert held["allocations"] == {str(host1.uuid): {"resources": TINY, "generation": host1.generation}}
    assert held["consumer_type"] == "MIGRATION"


def test_allocations_of_an_unknown_consumer_are_empty(anon):
    response = anon.get(f"/api/allocations/{MISSING}/")
    assert (response.status_code, response.json()) == (200, {"allocations": {}})


@pytest.mark.parametrize("consumer", ["not-a-uuid", "1234", "00000000-0000-4000-8000-00000000000g"])
def test_allocations_of_a_malformed_uuid_are_404(anon, consumer):
    assert anon.get(f"/api/allocations/{consumer}/").status_code == 404


# -- flavors -----------------------------------------------------------------------------------
NANO = {"cloud": "demo", "flavorid": "42", "name": "m1.nano", "vcpus": 1, "memory_mb": 128, "root_gb": 1}


def test_flavors_list_and_filter(api, demo_cloud):
    build_cloud("other", ["hostA"], "FakeDriver")
    response = api.get("/api/flavors/?cloud=demo")
    assert response.status_code == 200 and response.json()["count"] == 5
    rows = response.json()["results"]
    assert [(f["flavorid"], f["name"]) for f in rows] == [
        ("1", "m1.tiny"), ("2", "m1.small"), ("3", "m1.medium"), ("4", "m1.large"), ("5", "m1.xlarge")
    ]
    assert rows[1] | {"id": None} == {
        "id": None, "cloud": "demo", "flavorid": "2", "name": "m1.small", "vcpus": 1, "memory_mb": 2048,
        "root_gb": 20, "ephemeral_gb": 0, "swap": 0, "disabled": False,
    }
    assert api.get("/api/flavors/?name=m1.tiny").json()["count"] == 2
    assert api.get(f"/api/flavors/{rows[0]['id']}/").json()["name"] == "m1.tiny"


def test_flavors_create_update_delete(api, demo_cloud):
    created = api.post("/api/flavors/", NANO, format="json")
    assert created.status_code == 201, created.content
    flavor_id = created.json()["id"]
    assert created.json()["ephemeral_gb"] == 0 and created.json()["disabled"] is False

    updated = api.patch(f"/api/flavors/{flavor_id}/", {"memory_mb": 256}, format="json")
    assert updated.status_code == 200 and updated.json()["memory_mb"] == 256
    replaced = api.put(f"/api/flavors/{flavor_id}/", {**NANO, "vcpus": 2}, format="json")
    assert replaced.status_code == 200 and replaced.json()["vcpus"] == 2 and replaced.json()["memory_mb"] == 128

    assert api.delete(f"/api/flavors/{flavor_id}/").status_code == 204
    assert not Flavor.objects.filter(pk=flavor_id).exists()
    assert api.delete(f"/api/flavors/{flavor_id}/").status_code == 404


@pytest.mark.parametrize(
    "changes, field, message",
    [
        ({"flavorid": "1"}, "non_field_errors", "The fields cloud, flavorid must make a unique set."),
        ({"name": "m1.tiny"}, "non_field_errors", "The fields cloud, name must make a unique set."),
        ({"vcpus": 0}, "vcpus", "Ensure this value is greater than or equal to 1."),
        ({"memory_mb": -1}, "memory_mb", "Ensure this value is greater than or equal to 1."),
        ({"root_gb": 2**31}, "root_gb", "Ensure this value is less than or equal to 2147483647."),
        ({"cloud": "nowhere"}, "cloud", "Object with name=nowhere does not exist."),
        ({"name": ""}, "name", "This field may not be blank."),
    ],
)
def test_create_a_bad_flavor_is_400(api, demo_cloud, changes, field, message):
    response = api.post("/api/flavors/", {**NANO, **changes}, format="json")
    assert (response.status_code, response.json()) == (400, {field: [message]})
    assert Flavor.objects.count() == 5


def test_a_flavor_cannot_move_to_another_cloud(api, demo_cloud):
    cloud_with_hosts("other", ["hostA"])
    tiny = flavor_of(demo_cloud, "m1.tiny")
    response = api.patch(f"/api/flavors/{tiny.pk}/", {"cloud": "other", "flavorid": "42", "name": "m1.nano"}, format="json")
    assert (response.status_code, response.json()) == (400, {"cloud": ["A flavor cannot move to another cloud."]})
    tiny.refresh_from_db()
    assert (tiny.cloud, tiny.flavorid) == (demo_cloud, "1")


def test_the_same_flavorid_in_another_cloud_is_fine(api, demo_cloud):
    cloud_with_hosts("other", ["hostA"])
    assert api.post("/api/flavors/", NANO, format="json").status_code == 201
    assert api.post("/api/flavors/", {**NANO, "cloud": "other"}, format="json").status_code == 201


def test_delete_a_flavor_in_use_is_409(api, demo_cloud):
    api.post("/api/servers/", {"cloud": "demo", "name": "web", "host": "host1", "flavor": "m1.tiny"}, format="json")
    tiny = flavor_of(demo_cloud, "m1.tiny")
    response = api.delete(f"/api/flavors/{tiny.pk}/")
    assert (response.status_code, response.json()) == (409, {"detail": "It is still used by: server."})
    assert Flavor.objects.filter(pk=tiny.pk).exists()
    assert api.get("/api/flavors/?cloud=demo").json()["count"] == 5  # the connection is still usable


def test_delete_a_flavor_a_migration_refers_to_is_409(api):
    run = finished("resize-confirm")  # the server now has m1.small; its migration still refers to m1.tiny
    tiny = flavor_of(run.cloud, "m1.tiny")
    response = api.delete(f"/api/flavors/{tiny.pk}/")
    assert (response.status_code, response.json()) == (409, {"detail": "It is still used by: migration."})


# -- servers -----------------------------------------------------------------------------------
def boot(api, **changes):
    return api.post("/api/servers/", {"cloud": "demo", "name": "web", "host": "host1", "flavor": "m1.tiny", **changes},
                    format="json")


def test_boot_a_server_onto_a_host(api, demo_cloud):
    response = boot(api, flavor="2")
    assert response.status_code == 201, response.content
    server = response.json()
    assert (server["name"], server["cloud"], server["host"], server["node"], server["flavor"]) == (
        "web", "demo", "host1", "host1", "m1.small"
    )
    assert (server["status"], server["vm_state"], server["task_state"], server["power_state"]) == ("ACTIVE", "active", None, 1)
    assert server["fault"] is None and server["instance_actions"] == []
    assert api.get(f"/api/providers/{provider_of('demo', 'host1').uuid}/usages/").json()["usages"] == SMALL
    stopped = boot(api, name="db", vm_state="stopped").json()
    assert (stopped["status"], stopped["power_state"]) == ("SHUTOFF", 4)


@pytest.mark.parametrize(
    "changes, field, message",
    [
        ({"host": "host9"}, "host", "Compute host host9 could not be found."),
        ({"flavor": "m1.huge"}, "flavor", "Flavor m1.huge could not be found."),
        ({"cloud": "nowhere"}, "cloud", "Object with name=nowhere does not exist."),
        ({"vm_state": "error"}, "vm_state", '"error" is not a valid choice.'),
        ({"name": ""}, "name", "This field may not be blank."),
    ],
)
def test_boot_with_bad_input_is_400(api, demo_cloud, changes, field, message):
    response = boot(api, **changes)
    assert (response.status_code, response.json()) == (400, {field: [message]})
    assert Server.objects.count() == 0 and Allocation.objects.count() == 0


def test_boot_onto_a_disabled_flavor_is_400(api, demo_cloud):
    Flavor.objects.filter(cloud=demo_cloud, name="m1.tiny").update(disabled=True)
    assert boot(api).json() == {"flavor": ["Flavor m1.tiny could not be found."]}


def test_boot_without_room_on_the_host_is_409(api, demo_cloud):
    api.post("/api/hosts/", {"cloud": "demo", "name": "small1", "driver": "SmallFakeDriver"}, format="json")
    response = boot(api, host="small1", flavor="m1.xlarge")
    assert response.status_code == 409
    provider = provider_of("demo", "small1")
    assert response.json()["detail"] == (
        "Unable to allocate inventory: Unable to create allocation for 'VCPU' on resource provider "
        f"'{provider.uuid}'. The requested amount would violate inventory constraints."
    )
    assert Server.objects.count() == 0 and Allocation.objects.count() == 0
    assert boot(api, host="small1", flavor="m1.medium").status_code == 201  # 4096 of 7680 MB
    response = boot(api, name="web2", host="small1", flavor="m1.medium")
    assert response.status_code == 409 and response.json()["detail"].endswith("would exceed the capacity.")
    assert boot(api, name="web3", host="small1", flavor="m1.small").status_code == 201


def test_servers_list_and_filter(api, demo_cloud):
    boot(api, name="web")
    boot(api, name="db", host="host2", vm_state="stopped")
    build_cloud("other", ["hostA"], "FakeDriver")
    response = api.get("/api/servers/?cloud=demo")
    assert response.status_code == 200 and response.json()["count"] == 2
    assert [s["name"] for s in response.json()["results"]] == ["db", "web"]
    assert [s["name"] for s in api.get("/api/servers/?vm_state=stopped").json()["results"]] == ["db"]
    assert [s["name"] for s in api.get("/api/servers/?host=host1").json()["results"]] == ["web"]
    assert api.get("/api/servers/?cloud=other").json()["count"] == 0
    assert api.get("/api/servers/?vm_state=sleeping").status_code == 400


def test_a_server_after_the_seed_run_shows_its_fault_and_instance_actions(api):
    run = finished("bug-1825537")
    response = api.get(f"/api/servers/{run.server.uuid}/")
    assert response.status_code == 200
    server = response.json()
    assert (server["status"], server["host"], server["flavor"]) == ("ERROR", "host2", "m1.tiny")
    assert server["fault"]["code"] == 500 and server["fault"]["message"] == "Virtual Interface creation failed"
    assert server["fault"]["host"] == "host2" and server["fault"]["details"].startswith("Traceback")
    [resize] = server["instance_actions"]
    assert resize["action"] == "resize" and resize["message"] == "Error"
    assert [(e["event"], e["result"]) for e in resize["events"]] == [
        ("conductor_migrate_server", "Success"), ("cold_migrate", "Success"), ("compute_prep_resize", "Success"),
        ("compute_resize_instance", "Success"), ("compute_finish_resize", "Error"),
    ]
    assert resize["events"][-1]["host"] == "host2" and resize["events"][-1]["traceback"].startswith("  File ")


def test_an_active_server_hides_its_fault(api):
    run = finished("no-valid-host")
    server = api.get(f"/api/servers/{run.server.uuid}/").json()
    assert server["status"] == "ACTIVE" and server["fault"] is None
    assert [e["result"] for e in server["instance_actions"][0]["events"]] == ["Error", "Error"]


def test_delete_a_server_frees_its_allocations(api, demo_cloud):
    server = boot(api).json()
    assert api.get(f"/api/allocations/{server['uuid']}/").json()["allocations"] != {}
    response = api.delete(f"/api/servers/{server['uuid']}/")
    assert response.status_code == 204
    assert api.get(f"/api/allocations/{server['uuid']}/").json() == {"allocations": {}}
    assert api.get(f"/api/providers/{provider_of('demo', 'host1').uuid}/usages/").json()["usages"] == ZERO
    assert api.get(f"/api/servers/{server['uuid']}/").status_code == 404
    assert api.delete(f"/api/servers/{server['uuid']}/").status_code == 404


def test_delete_a_resized_server_confirms_and_frees_the_source_too(api):
    """Nova's _confirm_resize_on_deleting: the migration's allocation on the source goes with the server."""
    run = finished("prep-resize-reschedule")  # VERIFY_RESIZE on host3; the migration holds m1.tiny on host1
    migration = Migration.objects.get(server=run.server)
    assert api.get(f"/api/allocations/{migration.uuid}/").json()["allocations"] != {}

    assert api.delete(f"/api/servers/{run.server.uuid}/").status_code == 204
    assert api.get(f"/api/allocations/{run.server.uuid}/").json() == {"allocations": {}}
    assert api.get(f"/api/allocations/{migration.uuid}/").json() == {"allocations": {}}
    providers = api.get(f"/api/providers/?cloud={run.cloud.name}").json()["results"]
    assert {p["name"]: p["usages"] for p in providers} == {"host1": ZERO, "host2": ZERO, "host3": ZERO}
    assert api.get(f"/api/audit/?cloud={run.cloud.name}").json()["exit_code"] == 0


def test_delete_the_seed_runs_server_frees_its_misplaced_allocation(api):
    """With bug 1825537 on, the instance holds m1.tiny on host1 although it lives on host2: deleting it
    frees the instance's allocations wherever they are."""
    run = finished("bug-1825537")
    assert api.delete(f"/api/servers/{run.server.uuid}/").status_code == 204
    providers = api.get(f"/api/providers/?cloud={run.cloud.name}").json()["results"]
    assert {p["name"]: p["usages"] for p in providers} == {"host1": ZERO, "host2": ZERO}
    assert api.get(f"/api/audit/?cloud={run.cloud.name}").json()["exit_code"] == 0


def test_delete_a_server_a_run_is_resizing_is_409(api, post_run, demo_cloud):
    post_run({"cloud": "demo", "server": "web"})
    server = Server.objects.get(name="web")
    response = api.delete(f"/api/servers/{server.uuid}/")
    assert (response.status_code, response.json()) == (409, {"detail": "Cannot delete server web while a run is resizing it."})
    assert api.get(f"/api/allocations/{server.uuid}/").json()["allocations"] != {}


@pytest.mark.parametrize("server_uuid", [MISSING, "not-a-uuid", "1"])
def test_unknown_servers_are_404(api, db, server_uuid):
    assert api.get(f"/api/servers/{server_uuid}/").status_code == 404
    assert api.delete(f"/api/servers/{server_uuid}/").status_code == 404


# -- migrations --------------------------------------------------------------------------------
def test_migrations_list_filter_and_detail(api):
    failed = finished("bug-1825537", server="alpha")  # error, host1 -> host2
    confirmed = finished("resize-confirm", server="beta")  # confirmed, host1 -> host2
    rescheduled = finished("prep-resize-reschedule", server="gamma")  # finished, host1 -> host3
    by_server = {m.server.name: m for m in Migration.objects.select_related("server")}

    def uuids(query):
        response = api.get(f"/api/migrations/{query}")
        assert response.status_code == 200, response.content
        return [m["uuid"] for m in response.json()["results"]]

    everything = uuids("")
    assert everything == [str(by_server[n].uuid) for n in ("gamma", "beta", "alpha")]  # newest first
    assert uuids("?status=error") == [str(by_server["alpha"].uuid)]
    assert uuids("?status=confirmed&status=finished") == [str(by_server[n].uuid) for n in ("gamma", "beta")]
    assert uuids("?server=beta") == [str(by_server["beta"].uuid)]
    assert uuids(f"?server={rescheduled.server.uuid}") == [str(by_server["gamma"].uuid)]
    assert uuids("?server=nobody") == []
    assert uuids("?host=host3") == [str(by_server["gamma"].uuid)]
    assert len(uuids("?host=host1")) == 3
    assert uuids(f"?cloud={confirmed.cloud.name}") == [str(by_server["beta"].uuid)]
    assert uuids("?migration_type=resize") == everything
    assert api.get("/api/migrations/?status=lost").status_code == 400

    detail = api.get(f"/api/migrations/{by_server['alpha'].uuid}/")
    assert detail.status_code == 200
    body = detail.json()
    assert (body["status"], body["migration_type"], body["server"], body["server_name"]) == (
        "error", "resize", str(failed.server.uuid), "alpha"
    )
    assert (body["source_compute"], body["dest_compute"], body["old_flavor"], body["new_flavor"]) == (
        "host1", "host2", "m1.tiny", "m1.small"
    )
    assert api.get(f"/api/migrations/{MISSING}/").status_code == 404
    assert api.get("/api/migrations/not-a-uuid/").status_code == 404


# -- audit -------------------------------------------------------------------------------------
def test_the_audit_finds_the_orphan_a_confirm_conflict_leaks(api):
    run = finished("confirm-delete-conflict")
    migration = Migration.objects.get(server=run.server)
    response = api.get(f"/api/audit/?cloud={run.cloud.name}")
    assert response.status_code == 200
    audit = response.json()
    assert audit["cloud"] == run.cloud.name and audit["exit_code"] == 3
    [orphan] = audit["orphaned"]
    assert (orphan["provider"], orphan["consumer_uuid"], orphan["consumer_type"], orphan["resources"]) == (
        "host1", str(migration.uuid), "MIGRATION", TINY
    )
    assert orphan["message"].startswith(f"Allocations were set against consumer UUID {migration.uuid}")
    assert audit["missing"] == [] and audit["flavor_mismatch"] == []


def test_the_audit_of_a_clean_cloud_is_exit_code_0(anon, demo_cloud):
    response = anon.get("/api/audit/?cloud=demo")
    assert response.json() == {"cloud": "demo", "exit_code": 0, "orphaned": [], "missing": [], "flavor_mismatch": []}


def test_the_audit_needs_a_known_cloud(anon, db):
    response = anon.get("/api/audit/")
    assert (response.status_code, response.json()) == (400, {"cloud": ["This query parameter is required."]})
    response = anon.get("/api/audit/?cloud=nowhere")
    assert (response.status_code, response.json()) == (404, {"detail": "Cloud nowhere does not exist."})


# -- authentication and permissions ------------------------------------------------------------
@pytest.fixture
def targets(demo_cloud):
    """One of each record, to aim every write endpoint at: an unfinished run in the demo cloud (on
    server web, host1), a finished one in its own cloud, server db on host3; host2 is empty."""
    run = start_run("resize-confirm", {"cloud": "demo", "server": "web"})
    server = booted_server(demo_cloud, "db", "host3")
    return SimpleNamespace(
        run=run.pk,
        done=finished("resize-confirm").pk,
        host=host_of(demo_cloud, "host2").pk,
        flavor=flavor_of(demo_cloud, "m1.xlarge").pk,
        server=server.uuid,
        provider=provider_of("demo", "host2").uuid,
    )


WRITES = [
    ("post", "/api/runs/", {"scenario": "resize-confirm"}),
    ("post", "/api/runs/{done}/rerun/", None),
    ("post", "/api/runs/{run}/abort/", None),
    ("post", "/api/hosts/", {"cloud": "demo", "name": "host4"}),
    ("put", "/api/hosts/{host}/", {"cloud": "demo", "name": "host2", "service_up": False}),
    ("patch", "/api/hosts/{host}/", {"service_up": False}),
    ("delete", "/api/hosts/{host}/", None),
    ("post", "/api/flavors/", NANO),
    ("put", "/api/flavors/{flavor}/", {**NANO, "flavorid": "5", "name": "m1.xlarge"}),
    ("patch", "/api/flavors/{flavor}/", {"disabled": True}),
    ("delete", "/api/flavors/{flavor}/", None),
    ("post", "/api/servers/", {"cloud": "demo", "name": "x", "host": "host1", "flavor": "m1.tiny"}),
    ("delete", "/api/servers/{server}/", None),
    ("put", "/api/providers/{provider}/inventories/VCPU/", {"total": 8}),
    ("delete", "/api/providers/{provider}/inventories/VCPU/", None),
]

READS = [
    "/api/runs/", "/api/runs/{run}/", "/api/scenarios/", "/api/scenarios/bug-1825537/", "/api/hosts/",
    "/api/hosts/{host}/", "/api/providers/", "/api/providers/{provider}/", "/api/providers/{provider}/usages/",
    "/api/providers/{provider}/inventories/", "/api/providers/{provider}/inventories/VCPU/", "/api/flavors/",
    "/api/flavors/{flavor}/", "/api/servers/", "/api/servers/{server}/", "/api/migrations/",
    "/api/allocations/{server}/", "/api/audit/?cloud=demo", "/api/schema/", "/api/docs/",
]


def state():
    return [
        (model.__name__, sorted(map(str, model.objects.values_list(*fields))))
        for model, fields in (
            (Run, ("pk", "status")), (Host, ("pk", "service_up")), (Flavor, ("pk", "disabled", "vcpus")),
            (Server, ("pk",)), (Inventory, ("pk", "total")), (Allocation, ("pk",)),
        )
    ]


@pytest.mark.parametrize("method, url, body", WRITES, ids=[f"{m} {u}" for m, u, _ in WRITES])
def test_writes_need_authentication(anon, targets, broker, method, url, body):
    before = state()
    response = getattr(anon, method)(url.format(**vars(targets)), body, format="json")
    assert response.status_code in (401, 403)
    assert response.json() == {"detail": "Authentication credentials were not provided."}
    assert state() == before and broker.casts == [] and broker.revoked == []


@pytest.mark.parametrize("method, url, body", WRITES, ids=[f"{m} {u}" for m, u, _ in WRITES])
def test_writes_with_a_bad_token_are_refused(targets, broker, method, url, body):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")
    before = state()
    response = getattr(client, method)(url.format(**vars(targets)), body, format="json")
    assert response.status_code in (401, 403)
    assert response.json() == {"detail": "Invalid token."}
    assert state() == before


@pytest.mark.parametrize("method, url, body", WRITES, ids=[f"{m} {u}" for m, u, _ in WRITES])
def test_writes_with_a_token_succeed(api, targets, method, url, body):
    response = getattr(api, method)(url.format(**vars(targets)), body, format="json")
    assert response.status_code in (200, 201, 202, 204), response.content


@pytest.mark.parametrize("url", READS)
def test_reading_is_open_in_debug_mode(anon, targets, url):
    assert anon.get(url.format(**vars(targets))).status_code == 200


@pytest.fixture
def production_permissions(settings, monkeypatch):
    """What the settings configure when DJANGO_DEBUG is off.

    DRF copies DEFAULT_PERMISSION_CLASSES onto APIView when it is imported, so reloading
    api_settings (the ``settings`` fixture's setting_changed signal does) does not reach the
    views: the class attribute is patched too. test_production_settings_require_authentication
    checks that a process started with DJANGO_DEBUG=false gets exactly this.
    """
    settings.DEBUG = False
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    }
    monkeypatch.setattr(APIView, "permission_classes", [IsAuthenticated])


@pytest.mark.parametrize("url", [url for url in READS if not url.startswith(("/api/schema/", "/api/docs/"))])
def test_reading_needs_authentication_outside_debug_mode(anon, api, targets, production_permissions, url):
    url = url.format(**vars(targets))
    refused = anon.get(url)
    assert refused.status_code in (401, 403)
    assert refused.json() == {"detail": "Authentication credentials were not provided."}
    assert api.get(url).status_code == 200


@pytest.mark.parametrize("url", ["/api/schema/", "/api/docs/"])
def test_the_schema_and_docs_stay_public_outside_debug_mode(anon, db, production_permissions, url):
    """drf-spectacular serves them with its own SERVE_PERMISSIONS (AllowAny unless settings say otherwise)."""
    assert anon.get(url).status_code == 200


def test_production_settings_require_authentication():
    """A process started with DJANGO_DEBUG=false: every API view needs an authenticated user."""
    script = """
import django
django.setup()
from rest_framework.permissions import IsAuthenticated
from rest_framework.test import APIRequestFactory
from dashboard.api import views
from rest_framework.views import APIView
assert APIView.permission_classes == [IsAuthenticated], APIView.permission_classes
for view in (views.RunViewSet, views.CampaignViewSet, views.HostViewSet, views.ProviderViewSet, views.FlavorViewSet, views.ServerViewSet,
             views.MigrationViewSet, views.ScenarioViewSet, views.InventoryView, views.InventoryClassView,
             views.AllocationView, views.AuditView):
    assert view.permission_classes == [IsAuthenticated], view
response = views.ScenarioViewSet.as_view({"get": "list"})(APIRequestFactory().get("/api/scenarios/"))
print(response.status_code)
"""
    env = {**os.environ, "DJANGO_DEBUG": "false", "DJANGO_SECRET_KEY": "test-only", "DJANGO_SETTINGS_MODULE": "config.settings.local"}
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() in ("401", "403")


def test_a_token_from_drf_create_token_works(anon, user, post_run):
    out = StringIO()
    call_command("drf_create_token", "automation", stdout=out)
    key = Token.objects.get(user=user).key
    assert key in out.getvalue()
    anon.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    response = post_run({"scenario": "resize-confirm"}, client=anon)
    assert response.status_code == 202


def test_session_writes_need_the_csrf_token(user, db):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post("/api/runs/", {"scenario": "resize-confirm"}, format="json")
    assert response.status_code == 403 and response.json()["detail"].startswith("CSRF Failed")
    assert Run.objects.count() == 0


# -- throttling --------------------------------------------------------------------------------
@pytest.fixture
def two_runs_a_minute(settings, monkeypatch):
    """The "runs" scope at 2/min. SimpleRateThrottle copied the rates when DRF was imported, so the
    class attribute is patched as well as the setting."""
    rates = {"runs": "2/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", rates)
    cache.clear()


def test_starting_runs_is_throttled(api, post_run, two_runs_a_minute):
    assert post_run({"scenario": "resize-confirm"}).status_code == 202
    assert post_run({"scenario": "resize-confirm"}).status_code == 202
    third = post_run({"scenario": "resize-confirm"})
    assert third.status_code == 429
    assert third.json()["detail"].startswith("Request was throttled. Expected available in ")
    assert 0 < int(third["Retry-After"]) <= 60
    assert Run.objects.count() == 2
    assert api.post(f"/api/runs/{Run.objects.first().pk}/rerun/").status_code == 429  # same scope
    assert api.get("/api/runs/").status_code == 200  # reading is not throttled
    assert api.post(f"/api/runs/{Run.objects.first().pk}/abort/").status_code == 200  # nor is aborting


def test_the_throttle_counts_per_user(api, post_run, two_runs_a_minute, django_user_model):
    for _ in range(2):
        post_run({"scenario": "resize-confirm"})
    assert post_run({"scenario": "resize-confirm"}).status_code == 429
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=django_user_model.objects.create_user('b')).key}")
    assert post_run({"scenario": "resize-confirm"}, client=other).status_code == 202


# -- never a 500 -------------------------------------------------------------------------------
GARBAGE = [
    b"not json at all",
    b"{",
    b'{"scenario": NaN}',
    b"[]",
    b"[1, 2]",
    b"null",
    b'"a string"',
    b"42",
    b"1e999",
    b'{"a": ' * 100000 + b"1" + b"}" * 100000,  # deeper than Python's recursion limit
    b"[" * 100000,
    b"\xff\xfe\x00",
]
ODD_VALUES = [None, 10**30, -(10**30), 1e308, -1, 0, True, "", "x" * 10000, "nul\x00byte", [], [None], {}, {"a": [1]}]


@pytest.fixture
def endpoints(targets):
    """Every write endpoint with a valid body to derive malformed ones from."""
    t = targets
    return [
        ("post", "/api/runs/", {"scenario": "custom", "hosts": ["a", "b"], "source_host": "a", "new_flavor": "m1.small",
                                "fail_at": "finish_migration", "exception": "ResizeError", "bugs": [], "max_attempts": 2,
                                "step_delay": 0, "then": "none", "vm_state": "active", "dest_host": None,
                                "allow_resize_to_same_host": False, "reason": "r", "fail_host": "b", "driver": "FakeDriver",
                                "server": "s", "flavor": "m1.tiny", "inner_exception": None, "cloud": None}),
        ("post", f"/api/runs/{t.done}/rerun/", {}),
        ("post", f"/api/runs/{t.run}/abort/", {}),
        ("post", "/api/hosts/", {"cloud": "demo", "name": "h9", "driver": "FakeDriver", "service_up": True,
                                 "supports_migrate_to_same_host": False,
                                 "failures": [{"point": "destroy", "exception": "ResizeError", "reason": "r"}]}),
        ("patch", f"/api/hosts/{t.host}/", {"service_up": False, "failures": [{"point": "destroy"}], "driver": "FakeDriver",
                                            "name": "host2", "cloud": "demo"}),
        ("put", f"/api/hosts/{t.host}/", {"cloud": "demo", "name": "host2", "service_up": True, "failures": []}),
        ("post", "/api/flavors/", {**NANO, "ephemeral_gb": 0, "swap": 0, "disabled": False}),
        ("patch", f"/api/flavors/{t.flavor}/", {"vcpus": 2, "name": "m1.xlarge", "disabled": False}),
        ("put", f"/api/flavors/{t.flavor}/", {**NANO, "flavorid": "5", "name": "m1.xlarge"}),
        ("post", "/api/servers/", {"cloud": "demo", "name": "x", "host": "host1", "flavor": "m1.tiny", "vm_state": "active"}),
        ("put", f"/api/providers/{t.provider}/inventories/VCPU/",
         {"resource_provider_generation": 0, "total": 8, "reserved": 0, "min_unit": 1, "max_unit": 8, "step_size": 1,
          "allocation_ratio": 1.0}),
    ]


@pytest.mark.parametrize("index", range(11))
def test_malformed_bodies_are_never_a_500(api, endpoints, index, monkeypatch):
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"runs": None})  # hundreds of requests
    method, url, valid = endpoints[index]
    send = getattr(api, method)
    problems = []
    for raw in GARBAGE:  # not a JSON object: 400 wherever a body is read
        response = send(url, raw, content_type="application/json")
        if response.status_code >= 500 or (valid and response.status_code != 400):
            problems.append((raw[:40], response.status_code, response.content[:200]))
    for content_type in ("application/json", "text/plain", "application/x-www-form-urlencoded"):
        response = send(url, b"", content_type=content_type)  # no body: the defaults, or the fields it lacks
        if response.status_code >= 500:
            problems.append((content_type, response.status_code, response.content[:200]))
    response = send(url, b"<xml/>", content_type="application/xml")
    if response.status_code >= 500 or (valid and response.status_code != 415):
        problems.append(("xml", response.status_code, response.content[:200]))
    for field in valid:
        for value in ODD_VALUES:
            response = send(url, {**valid, field: value}, format="json")
            if response.status_code >= 500:
                problems.append((field, repr(value)[:40], response.status_code, response.content[:200]))
    for value in ODD_VALUES:  # a whole body of one odd value per field
        response = send(url, {field: value for field in valid}, format="json")
        if response.status_code >= 500:
            problems.append(("all", repr(value)[:40], response.status_code, response.content[:200]))
    assert problems == []


# -- query counts ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url, queries",
    [
        # token lookup + count + page (+ prefetches), whatever the number of rows
        ("/api/runs/", 3),
        ("/api/hosts/", 3),
        ("/api/providers/", 5),
        ("/api/flavors/", 3),
        ("/api/servers/", 6),
        ("/api/migrations/", 3),
    ],
)
def test_lists_use_a_constant_number_of_queries(api, django_assert_num_queries, url, queries):
    for _ in range(2):
        finished("bug-1825537")  # a cloud of 2 hosts and 5 flavors, a server with faults and actions, a migration
    with django_assert_num_queries(queries):
        response = api.get(f"{url}?limit=100")
    rows = response.json()["count"]
    assert rows > 0 and len(response.json()["results"]) == rows
    for _ in range(4):
        finished("bug-1825537")
    with django_assert_num_queries(queries):
        response = api.get(f"{url}?limit=100")
    assert response.json()["count"] == len(response.json()["results"]) == 3 * rows


# -- OpenAPI -----------------------------------------------------------------------------------
API_PATHS = {
    "/api/runs/": {"get", "post"},
    "/api/runs/{id}/": {"get"},
    "/api/runs/{id}/rerun/": {"post"},
    "/api/runs/{id}/abort/": {"post"},
    "/api/runs/{id}/conformance/": {"get", "post"},
    "/api/campaigns/": {"get", "post"},
    "/api/campaigns/preview/": {"post"},
    "/api/campaigns/{id}/": {"get"},
    "/api/campaigns/{id}/results/": {"get"},
    "/api/campaigns/{id}/export.csv": {"get"},
    "/api/campaigns/{id}/export.xml": {"get"},
    "/api/campaigns/{id}/cancel/": {"post"},
    "/api/scenarios/": {"get"},
    "/api/scenarios/{name}/": {"get"},
    "/api/hosts/": {"get", "post"},
    "/api/hosts/{id}/": {"get", "put", "patch", "delete"},
    "/api/providers/": {"get"},
    "/api/providers/{uuid}/": {"get"},
    "/api/providers/{uuid}/usages/": {"get"},
    "/api/providers/{uuid}/inventories/": {"get"},
    "/api/providers/{uuid}/inventories/{resource_class}/": {"get", "put", "delete"},
    "/api/allocations/{consumer_uuid}/": {"get"},
    "/api/flavors/": {"get", "post"},
    "/api/flavors/{id}/": {"get", "put", "patch", "delete"},
    "/api/servers/": {"get", "post"},
    "/api/servers/{uuid}/": {"get", "delete"},
    "/api/migrations/": {"get"},
    "/api/migrations/{uuid}/": {"get"},
    "/api/audit/": {"get"},
}


def test_the_openapi_document_describes_every_endpoint(anon):
    response = anon.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    schema = json.loads(response.content)
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "Resize-failure dashboard API"
    methods = {path: set(ops) - {"parameters"} for path, ops in schema["paths"].items()}
    assert methods == API_PATHS
    create = schema["paths"]["/api/runs/"]["post"]
    assert set(create["responses"]) == {"202"}
    assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/RunCreateRequest")
    run_list = {p["name"] for p in schema["paths"]["/api/runs/"]["get"]["parameters"]}
    assert {"status", "scenario", "verdict", "cloud", "limit", "offset", "ordering"} <= run_list
    assert {"cookieAuth", "tokenAuth"} <= set(schema["components"]["securitySchemes"])
    components = schema["components"]["schemas"]
    nullable = {
        name: sorted(field for field, spec in components[name]["properties"].items() if spec.get("nullable"))
        for name in ("Server", "Migration", "RunSummary")
    }
    assert {"host", "node", "old_flavor", "new_flavor", "task_state", "fault"} <= set(nullable["Server"])
    assert "flavor" not in nullable["Server"]
    assert {"dest_compute", "dest_node"} <= set(nullable["Migration"]) and "source_compute" not in nullable["Migration"]
    assert {"cloud", "started", "finished", "matched"} <= set(nullable["RunSummary"])
    operation_ids = [op["operationId"] for ops in schema["paths"].values() for op in ops.values() if "operationId" in op]
    assert len(operation_ids) == len(set(operation_ids))
    as_yaml = anon.get("/api/schema/")
    assert as_yaml.status_code == 200 and yaml.safe_load(as_yaml.content) == schema  # the same document


def test_the_openapi_document_generates_without_warnings(tmp_path, db):
    call_command("spectacular", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    schema = yaml.safe_load((tmp_path / "schema.yaml").read_text())
    assert schema["openapi"].startswith("3.")
    assert {path: set(ops) - {"parameters"} for path, ops in schema["paths"].items()} == API_PATHS
    run_create = schema["components"]["schemas"]["RunCreateRequest"]["properties"]
    assert set(run_create) == {*PARAMS, "scenario"}


def test_the_docs_are_served_with_local_assets(anon):
    response = anon.get("/api/docs/")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in assets
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css" in assets
    for asset in assets:
        assert asset.startswith("/static/drf_spectacular_sidecar/"), asset
        assert finders.find(asset.removeprefix("/static/")), f"{asset} is not a local static file"
    assert "http://" not in html and "https://" not in html and "cdn" not in html.lower()
    assert '"/api/schema/"' in html


# -- the API's root and URLs that name nothing ------------------------------------------------
def test_the_api_root_lists_every_endpoint_of_the_schema(api):
    root = api.get("/api/")
    assert root.status_code == 200
    body = root.json()
    schema = api.get("/api/schema/?format=json").json()
    assert {e["path"]: e["methods"] for e in body["endpoints"]} == {
        path: sorted(method.upper() for method in operations) for path, operations in schema["paths"].items()
    }
    assert "/api/allocations/{consumer_uuid}/" in [e["path"] for e in body["endpoints"]]
    assert body["schema"] == "http://testserver/api/schema/" and body["docs"] == "http://testserver/api/docs/"


@pytest.mark.parametrize(
    "method, path",
    [("get", "/api/nothing-here/"), ("post", "/api/runs/abc/"), ("get", "/api/runs/1/steps/"), ("delete", "/api/x"),
     ("get", "/api/runs/999999/"), ("get", f"/api/allocations/{MISSING}/x/")],
)
def test_urls_that_name_nothing_under_the_api_are_json_404s(api, method, path):
    response = getattr(api, method)(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["detail"]
