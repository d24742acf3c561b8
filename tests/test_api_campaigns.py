"""Campaigns over the REST API, driven the way a CI script drives them.

A campaign is started with a POST (202 and Location), its runs are executed here (no broker: the
dispatcher's wake-ups and the revokes are recorded instead of sent, and the dispatch is driven with
``simulator.campaigns.run_in_process``), then its progress, outcome totals and exports are read.
The known campaign's outcomes are those the presets expect for the same parameters.
"""
import csv
import io
import json
from types import SimpleNamespace
from xml.etree import ElementTree

import pytest
from django.core.cache import cache
from rest_framework.throttling import ScopedRateThrottle

from simulator import campaigns
from simulator.models import Campaign, Run
from simulator.params import PARAMS
from simulator.presets import SCENARIOS
from tests.test_api import GARBAGE, ODD_VALUES


# -- fixtures and helpers ---------------------------------------------------------------------
@pytest.fixture(autouse=True)
def broker(monkeypatch):
    """Wake-ups of the dispatcher, casts and revokes recorded instead of sent; a fresh throttle cache."""
    recorded = SimpleNamespace(woken=[], casts=[], revoked=[])
    monkeypatch.setattr("simulator.campaigns.wake", recorded.woken.append)
    monkeypatch.setattr("dashboard.api.views.cast", lambda *args: recorded.casts.append(args))
    monkeypatch.setattr("simulator.tasks.revoke", recorded.revoked.append)
    monkeypatch.setattr("dashboard.api.views.revoke", recorded.revoked.append)
    cache.clear()
    yield recorded
    cache.clear()


@pytest.fixture
def post_campaign(api, django_capture_on_commit_callbacks):
    """POST /api/campaigns/ and run the on_commit callbacks (the dispatcher's first wake-up)."""

    def _post(body, client=None):
        with django_capture_on_commit_callbacks(execute=True):
            return (client or api).post("/api/campaigns/", body, format="json")

    return _post


# bug-1825537's cloud and bug, its default exception, confirmed when it gets that far; the failure
# moved over the points and hosts. Two combinations Nova cannot express are skipped.
KNOWN = {
    "scenario": "bug-1825537",
    "params": {"exception": None, "then": "confirm"},
    "axes": {"fail_at": [None, "finish_migration", "select_destinations"], "fail_host": [None, "host2"]},
    "name": "bug 1825537 over the failure points",
}
PLAN = [
    ({"fail_at": None, "fail_host": None}, "resize-confirm"),  # no failure: resized and confirmed
    ({"fail_at": "finish_migration", "fail_host": None}, "bug-1825537"),  # every host fails: the dest does
    ({"fail_at": "finish_migration", "fail_host": "host2"}, "bug-1825537"),
    ({"fail_at": "select_destinations", "fail_host": None}, "no-valid-host"),  # NoValidHost, still ACTIVE
]
SKIPPED = [
    ({"fail_at": None, "fail_host": "host2"}, "fail_host", "fail_host needs fail_at: say where the failure is injected."),
    ({"fail_at": "select_destinations", "fail_host": "host2"}, "fail_host",
     "select_destinations runs in the conductor, not on a compute host."),
]


def expected_outcome(preset):
    """What ``campaigns.outcome`` makes of the outcome a preset expects (with its bugs, if any)."""
    bugs = tuple(SCENARIOS[preset].all_params()["bugs"])
    expected = SCENARIOS[preset].expected[bugs]
    for kind in ("orphaned", "missing", "flavor_mismatch"):
        if expected["audit"].get(kind):
            return kind
    status = expected["server"]["status"]
    return status if status in ("ERROR", "VERIFY_RESIZE") else "clean"


OUTCOMES = [expected_outcome(preset) for _, preset in PLAN]


def run_all(response):
    """Execute every run of the campaign a 202 answered for, in this process."""
    return campaigns.run_in_process(Campaign.objects.get(pk=response.json()["id"]))


@pytest.fixture
def done(api, post_campaign):
    """The known campaign, started over the API and run to its end."""
    response = post_campaign(KNOWN)
    assert response.status_code == 202, response.content
    run_all(response)
    return response.json()["id"]


# -- POST /api/campaigns/ ----------------------------------------------------------------------
def test_post_campaign_answers_202_with_location_and_the_campaign(api, post_campaign, broker):
    response = post_campaign(KNOWN)

    campaign = Campaign.objects.get()
    assert response.status_code == 202
    assert response["Location"] == f"/api/campaigns/{campaign.pk}/"
    body = response.json()
    assert api.get(response["Location"]).json() == body  # the campaign's document, where Location says
    assert body["id"] == campaign.pk and body["name"] == KNOWN["name"] and body["status"] == "running"
    assert body["definition"]["axes"] == KNOWN["axes"] and body["definition"]["params"] == KNOWN["params"]
    assert body["skipped"] == 2 and body["max_in_flight"] == campaigns.DEFAULT_IN_FLIGHT
    assert body["progress"] == {"status": "running", "total": 4, "done": 0, "running": 0, "queued": 4, "skipped": 2,
                                "runs_per_second": None, "seconds_left": None}
    assert body["outcomes"] == dict.fromkeys(campaigns.OUTCOMES, 0) and body["failures"] == 0
    base = f"http://testserver/api/campaigns/{campaign.pk}"
    assert (body["url"], body["results"], body["export_csv"], body["export_junit"]) == (
        f"{base}/", f"{base}/results/", f"{base}/export.csv", f"{base}/export.xml")
    # Its runs go out from the dispatcher, woken once the campaign is committed.
    assert broker.woken == [campaign.pk] and Run.objects.count() == 0
    assert campaign.plan == [values for values, _ in PLAN]


def test_the_dispatcher_starts_at_most_max_in_flight_runs(post_campaign):
    response = post_campaign({**KNOWN, "max_in_flight": 3})
    assert campaigns.dispatch(response.json()["id"], on_cast=None) == 3
    assert Run.objects.filter(campaign_id=response.json()["id"]).count() == 3
    assert campaigns.dispatch(response.json()["id"], on_cast=None) == 0  # none has ended yet


def test_a_campaign_run_to_its_end_shows_its_progress_and_outcome_totals(api, done):
    body = api.get(f"/api/campaigns/{done}/").json()

    assert OUTCOMES == ["clean", "orphaned", "orphaned", "clean"]
    assert body["status"] == "done" and body["finished"] is not None
    progress = body["progress"]
    assert (progress["status"], progress["done"], progress["total"], progress["running"], progress["queued"]) == (
        "done", 4, 4, 0, 0)
    assert progress["skipped"] == body["skipped"] == 2
    assert body["outcomes"] == {**dict.fromkeys(campaigns.OUTCOMES, 0), "orphaned": 2, "clean": 2}
    assert body["failures"] == 2  # the leaks


def test_the_results_are_one_row_per_run_in_plan_order(api, done):
    body = api.get(f"/api/campaigns/{done}/results/").json()

    assert body == json.loads(json.dumps(campaigns.as_json(Campaign.objects.get(pk=done))))
    assert [(row["index"], row["values"], row["status"], row["outcome"]) for row in body["runs"]] == [
        (index, values, "done", outcome) for index, ((values, _), outcome) in enumerate(zip(PLAN, OUTCOMES))
    ]
    assert [row["audit"] for row in body["runs"]] == ["clean", "orphaned 1 · missing 1", "orphaned 1 · missing 1", "clean"]
    for row in body["runs"]:
        assert api.get(f"/api/runs/{row['run']}/").json()["params"]["fail_at"] == row["values"]["fail_at"]
    assert [(s["values"], s["field"], s["reason"]) for s in body["skipped"]] == [tuple(entry) for entry in SKIPPED]


def test_the_csv_export_has_one_row_per_run_with_the_axis_columns(api, done):
    response = api.get(f"/api/campaigns/{done}/export.csv", HTTP_ACCEPT="application/json")  # a CSV all the same

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="campaign-{done}.csv"'
    header, *rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert header == ["run", "fail_at", "fail_host", "status", "outcome", "verdict", "audit", "server_status", "duration"]
    runs = list(Run.objects.filter(campaign_id=done).order_by("campaign_index"))
    assert [row[:5] for row in rows] == [
        [str(run.pk), values["fail_at"] or "null", values["fail_host"] or "null", "done", outcome]
        for run, (values, _), outcome in zip(runs, PLAN, OUTCOMES)
    ]
    assert [row[7] for row in rows] == ["ACTIVE", "ERROR", "ERROR", "ACTIVE"]
    assert all(float(row[8]) >= 0 for row in rows)


def test_the_junit_export_fails_the_leaks_and_skips_what_nova_cannot_express(api, done):
    response = api.get(f"/api/campaigns/{done}/export.xml")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/xml; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="campaign-{done}.xml"'
    suite = ElementTree.fromstring(response.content)
    assert suite.tag == "testsuite"
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("4", "2", "2")
    cases = suite.findall("testcase")
    assert len(cases) == len(PLAN) + len(SKIPPED)  # one per run, one per skipped combination
    by_name = {case.get("name"): case for case in cases}
    for (values, _), outcome in zip(PLAN, OUTCOMES):
        case = by_name[campaigns.case_name(values)]
        failure = case.find("failure")
        assert (failure is not None) == (outcome == "orphaned")
        if failure is not None:
            assert failure.get("message").startswith("orphaned: audit orphaned 1 · missing 1")
        assert case.find("skipped") is None
    for values, field, reason in SKIPPED:
        case = by_name[campaigns.case_name(values)]
        assert case.find("skipped").get("message") == f"{field}: {reason}" and case.find("failure") is None


def test_a_campaign_of_the_presets_then_axis_leaks_in_every_run(api, post_campaign):
    """``custom`` with bug-1825537's parameters, whatever the user does afterwards: a leak each time."""
    preset = SCENARIOS["bug-1825537"]
    response = post_campaign({"scenario": "custom", "params": preset.params, "axes": {"then": "all"}})
    assert response.status_code == 202, response.content
    run_all(response)

    body = api.get(response["Location"]).json()
    assert body["definition"]["axes"] == {"then": ["none", "confirm", "revert"]}
    assert body["outcomes"]["orphaned"] == 3 == body["progress"]["done"] and body["failures"] == 3
    assert expected_outcome("bug-1825537") == "orphaned"


# -- cancel ------------------------------------------------------------------------------------
def test_cancel_stops_the_campaign_and_aborts_its_unfinished_runs(api, post_campaign, broker):
    response = post_campaign({**KNOWN, "max_in_flight": 2})
    pk = response.json()["id"]
    assert campaigns.dispatch(pk, on_cast=None) == 2  # two runs queued, two waiting
    started = list(Run.objects.filter(campaign_id=pk).order_by("campaign_index"))
    pending_casts = sorted(run.task_id for run in started)

    cancelled = api.post(f"/api/campaigns/{pk}/cancel/")

    assert cancelled.status_code == 200, cancelled.content
    body = cancelled.json()
    assert body["status"] == "cancelled" and body["finished"] is not None
    assert body["progress"]["done"] == 2 and body["progress"]["queued"] == 2 and body["progress"]["running"] == 0
    assert body["outcomes"]["crashed"] == 2
    for run in started:
        run.refresh_from_db()
        assert run.status == "crashed" and run.verdict["result"] == "aborted"
        assert run.error.startswith("Aborted by automation")
    assert sorted(broker.revoked) == pending_casts and all(pending_casts)  # their casts are dropped
    # No further run starts, however often the dispatcher is woken.
    assert campaigns.dispatch(pk, on_cast=None) == 0
    assert Run.objects.filter(campaign_id=pk).count() == 2
    assert api.get(f"/api/campaigns/{pk}/").json()["status"] == "cancelled"

    again = api.post(f"/api/campaigns/{pk}/cancel/")
    assert again.status_code == 409 and again.json() == {"detail": f"Campaign {pk} is already cancelled."}


def test_a_finished_campaign_cannot_be_cancelled(api, done):
    response = api.post(f"/api/campaigns/{done}/cancel/")
    assert response.status_code == 409 and response.json() == {"detail": f"Campaign {done} is already done."}
    assert Campaign.objects.get(pk=done).status == "done"


# -- preview -----------------------------------------------------------------------------------
def test_preview_says_how_many_runs_and_why_some_are_skipped_without_starting_anything(api, broker):
    response = api.post("/api/campaigns/preview/", {**KNOWN, "axes": {**KNOWN["axes"], "then": "all"}}, format="json")

    assert response.status_code == 200, response.content
    assert response.json() == {
        "axes": {**KNOWN["axes"], "then": ["none", "confirm", "revert"]},
        "runs": 12,
        "skipped": 6,
        "skipped_reasons": [{"reason": reason, "count": 3} for _, _, reason in SKIPPED],
    }
    assert Campaign.objects.count() == 0 and Run.objects.count() == 0 and broker.woken == []


def test_a_campaign_resizing_to_a_host_skips_each_combination_with_novas_reason(api, post_campaign, broker):
    body = {"scenario": "custom", "params": {"hosts": ["host1", "host2", "host3"]},
            "axes": {"action": ["resize", "migrate"], "dest_host": ["host3"]}}
    reason = ("Invalid input for field/attribute resize. Value: {'flavorRef': '2', 'host': 'host3'}. "
              "Additional properties are not allowed ('host' was unexpected)")

    preview = api.post("/api/campaigns/preview/", body, format="json").json()
    assert (preview["runs"], preview["skipped"], preview["skipped_reasons"]) == (1, 1, [{"reason": reason, "count": 1}])
    campaign = post_campaign(body).json()
    assert (campaign["progress"]["total"], campaign["progress"]["skipped"]) == (1, 1)  # the cold migration runs
    results = api.get(f"/api/campaigns/{campaign['id']}/results/").json()
    assert results["skipped"] == [{"values": {"action": "resize", "dest_host": "host3"}, "field": "dest_host",
                                   "reason": reason}]


def test_a_sample_draws_that_many_runs_with_its_seed(api, post_campaign):
    body = {"scenario": "bug-1825537", "axes": {"exception": "all", "bugs": "all"}, "sample": 5, "seed": 7}
    preview = api.post("/api/campaigns/preview/", body, format="json").json()
    assert preview["runs"] == 5
    first, second = post_campaign(body).json(), post_campaign(body).json()
    assert first["progress"]["total"] == 5 and first["definition"]["sample"] == 5 and first["definition"]["seed"] == 7
    plans = [Campaign.objects.get(pk=c["id"]).plan for c in (first, second)]
    assert plans[0] == plans[1]  # the same seed, the same runs


# -- bad definitions: a 400 naming the field ---------------------------------------------------
BAD = [
    ({"axes": {"exception": ["ResizeError", "Nope"]}}, "axes.exception", '"Nope": Unknown exception \'Nope\'. Known: '),
    ({"axes": {"nope": [1]}}, "axes.nope", "Unknown parameter 'nope'. Known: cloud, hosts, "),
    ({"axes": {}}, "axes", "A campaign needs at least one axis"),
    ({}, "axes", "This field is required."),
    ({"axes": {"server": "all"}}, "axes.server", "server has no finite set of values: list the ones to try."),
    ({"axes": {"then": []}}, "axes.then", 'then: a non-empty list of values, or "all".'),
    ({"axes": {"then": "some"}}, "axes.then", 'then: a non-empty list of values, or "all".'),
    ({"axes": {"bugs": [[], ["999"]]}}, "axes.bugs", "Unknown bug '999'. Known: 1825537."),
    ({"axes": {"max_attempts": [1, "x", 11]}}, "axes.max_attempts", '"x": A valid integer is required.'),
    ({"axes": {"allow_resize_to_same_host": [None]}}, "axes.allow_resize_to_same_host", "null: This field may not be null."),
    ({"params": {"flavor": "m1.huge"}, "axes": {"then": "all"}}, "params.flavor", "Flavor m1.huge could not be found."),
    ({"params": {"bogus": 1}, "axes": {"then": "all"}}, "params.bogus", "Unknown parameter 'bogus'."),
    ({"params": {"then": "later"}, "axes": {"bugs": "all"}}, "params.then", "then must be one of none, confirm, revert."),
    ({"params": [], "axes": {"then": "all"}}, "params", "Invalid data. Expected a dictionary, but got list."),
    ({"scenario": "nope", "axes": {"then": "all"}}, "scenario", "Unknown scenario 'nope'"),
    ({"sample": 0, "axes": {"then": "all"}}, "sample", "Ensure this value is greater than or equal to 1."),
    ({"max_in_flight": 0, "axes": {"then": "all"}}, "max_in_flight", "Ensure this value is greater than or equal to 1."),
    ({"fail_at": "destroy", "axes": {"then": "all"}}, "fail_at", "Unknown field 'fail_at': a run parameter goes in params or axes."),
    # More runs than a campaign makes (the domain's limit), and more combinations than the API expands.
    ({"axes": {"step_delay": [i / 100 for i in range(campaigns.MAX_RUNS + 1)]}}, "axes",
     f"{campaigns.MAX_RUNS + 1} runs: a campaign makes at most {campaigns.MAX_RUNS}."),
    ({"axes": {name: "all" for name in ("exception", "inner_exception", "fail_at", "vm_state", "then")}}, "axes",
     f" combinations: a campaign has at most {campaigns.MAX_COMBINATIONS}: use fewer axes or values."),
    ({"axes": {"cloud": ["a", "b"], "exception": "all", "fail_at": "all", "vm_state": "all", "then": "all"}}, "axes",
     f" combinations: a campaign has at most {campaigns.MAX_SHARED_CLOUD_COMBINATIONS} in a shared cloud"),
]


@pytest.mark.parametrize("url", ["/api/campaigns/", "/api/campaigns/preview/"])
@pytest.mark.parametrize("body, field, message", BAD, ids=[field for _, field, _ in BAD])
def test_bad_definitions_are_a_400_naming_the_field(api, broker, url, body, field, message):
    response = api.post(url, body, format="json")

    assert response.status_code == 400, response.content
    errors = response.json()
    assert field in errors, errors
    assert any(message in text for text in errors[field]), errors
    assert Campaign.objects.count() == 0 and broker.woken == []


def test_bad_values_of_an_axis_are_all_named(api):
    response = api.post("/api/campaigns/", {"axes": {"fail_at": ["x", "destroy", "y"]}}, format="json")
    assert response.json() == {"axes.fail_at": [
        f'"x": Unknown failure point \'x\'. Known: {", ".join(PARAMS["fail_at"].values)}.',
        f'"y": Unknown failure point \'y\'. Known: {", ".join(PARAMS["fail_at"].values)}.',
    ]}


@pytest.mark.parametrize("url", ["/api/campaigns/", "/api/campaigns/preview/"])
def test_malformed_definitions_are_never_a_500(api, url, monkeypatch):
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"campaigns": None})  # hundreds of requests
    problems = []
    for raw in GARBAGE:
        response = api.post(url, raw, content_type="application/json")
        if response.status_code != 400:
            problems.append((raw[:40], response.status_code, response.content[:200]))
    valid = {**KNOWN, "sample": 2, "seed": 1, "max_in_flight": 1}
    for field in valid:
        for value in ODD_VALUES:
            response = api.post(url, {**valid, field: value}, format="json")
            if response.status_code >= 500:
                problems.append((field, repr(value)[:40], response.status_code, response.content[:200]))
    for name in PARAMS:
        for value in ODD_VALUES:
            for body in ({"axes": {name: [value]}}, {"axes": {name: value}}, {"params": {name: value}, "axes": {"then": "all"}}):
                response = api.post(url, body, format="json")
                if response.status_code >= 500:
                    problems.append((name, repr(value)[:40], response.status_code, response.content[:200]))
    assert problems == []


# -- authentication and throttling -------------------------------------------------------------
@pytest.mark.parametrize("url", ["/api/campaigns/", "/api/campaigns/preview/", "/api/campaigns/{pk}/cancel/"])
def test_writes_need_authentication(anon, post_campaign, broker, url):
    pk = post_campaign(KNOWN).json()["id"]
    broker.woken.clear()
    response = anon.post(url.format(pk=pk), KNOWN, format="json")
    assert response.status_code in (401, 403)
    assert response.json() == {"detail": "Authentication credentials were not provided."}
    assert Campaign.objects.count() == 1 and Campaign.objects.get().status == "running" and broker.woken == []


def test_reading_is_open_in_debug_mode(anon, done):
    for url in ("/api/campaigns/", f"/api/campaigns/{done}/", f"/api/campaigns/{done}/results/",
                f"/api/campaigns/{done}/export.csv", f"/api/campaigns/{done}/export.xml"):
        assert anon.get(url).status_code == 200, url


def test_starting_campaigns_is_throttled(api, post_campaign, settings, monkeypatch):
    rates = {"runs": "100/min", "campaigns": "2/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", rates)
    assert [post_campaign(KNOWN).status_code for _ in range(2)] == [202, 202]
    third = post_campaign(KNOWN)
    assert third.status_code == 429 and 0 < int(third["Retry-After"]) <= 60
    assert Campaign.objects.count() == 2
    assert api.post("/api/campaigns/preview/", KNOWN, format="json").status_code == 200  # previewing is not
    assert api.post("/api/runs/", {"scenario": "resize-confirm"}, format="json").status_code == 202  # nor runs
    assert api.post(f"/api/campaigns/{Campaign.objects.first().pk}/cancel/").status_code == 200  # nor cancelling


# -- the list ----------------------------------------------------------------------------------
def test_the_list_is_newest_first_with_each_campaigns_progress(api, post_campaign, done):
    running = post_campaign({**KNOWN, "name": "later", "max_in_flight": 1}).json()["id"]
    campaigns.dispatch(running, on_cast=None)

    body = api.get("/api/campaigns/").json()

    assert body["count"] == 2 and [c["id"] for c in body["results"]] == [running, done]
    for summary in body["results"]:
        detail = api.get(f"/api/campaigns/{summary['id']}/").json()
        same = {key: detail[key] for key in summary if key != "progress"}
        assert summary == {**same, "progress": summary["progress"]}
        if summary["id"] == done:  # the list counts as campaigns.progress does
            assert summary["progress"] == detail["progress"]
    assert body["results"][0]["progress"] == {**body["results"][0]["progress"], "done": 0, "running": 1, "queued": 3}
    assert [c["id"] for c in api.get("/api/campaigns/?limit=1&offset=1").json()["results"]] == [done]


@pytest.mark.parametrize("campaign_count", [1, 4])
def test_the_list_uses_a_constant_number_of_queries(api, post_campaign, django_assert_num_queries, campaign_count):
    for _ in range(campaign_count):
        campaigns.run_in_process(Campaign.objects.get(pk=post_campaign(KNOWN).json()["id"]))
    with django_assert_num_queries(3):  # token lookup, count, page
        response = api.get("/api/campaigns/?limit=100")
    assert len(response.json()["results"]) == campaign_count
    assert all(c["progress"]["done"] == 4 for c in response.json()["results"])


# -- what names nothing ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "method, path",
    [("get", "/api/campaigns/999999/"), ("get", "/api/campaigns/999999/results/"),
     ("get", "/api/campaigns/999999/export.csv"), ("get", "/api/campaigns/999999/export.xml"),
     ("post", "/api/campaigns/999999/cancel/"), ("get", "/api/campaigns/abc/")],
)
def test_unknown_campaigns_are_json_404s(api, method, path):
    accept = {"HTTP_ACCEPT": "text/csv, application/xml"} if "export" in path else {}  # what curl of a file sends
    response = getattr(api, method)(path, **accept)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["detail"]


def test_the_schema_documents_the_exports_media_types(anon):
    schema = anon.get("/api/schema/?format=json").json()["paths"]
    assert set(schema["/api/campaigns/{id}/export.csv"]["get"]["responses"]["200"]["content"]) == {"text/csv"}
    assert set(schema["/api/campaigns/{id}/export.xml"]["get"]["responses"]["200"]["content"]) == {"application/xml"}
    create = schema["/api/campaigns/"]["post"]
    assert set(create["responses"]) == {"202"}
    assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/CampaignCreateRequest")
