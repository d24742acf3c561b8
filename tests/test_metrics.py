"""``/metrics``: Prometheus' text format, parsed with prometheus_client's own parser, against what the
dashboard shows (a run's report and audit, the campaigns' outcome rule, the steps' timings); the
histograms' consistency; the same queries whatever the data; the REST API's read policy."""
import os
import re
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.utils import floatToGoString
from rest_framework.permissions import IsAuthenticated
from rest_framework.test import APIClient
from rest_framework.views import APIView

from dashboard.metrics import BUCKETS
from simulator import campaigns
from simulator.cloud import build_cloud
from simulator.models import Campaign, Run, RunStep
from simulator.pipeline import abort
from simulator.report import build_report
from simulator.states import FINDING_KINDS, CampaignStatus, RunStatus, VerdictResult
from tests.factories import SMALL, TINY, ZERO, booted_server, finished_run, run_record, started_run

ROOT = Path(__file__).resolve().parent.parent
PLACEMENT = ("total", "reserved", "allocation_ratio", "usage")
# What Prometheus 3 sends: OpenMetrics first, then the text formats, then anything.
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,"
    "application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,"
    "text/plain;version=0.0.4;q=0.2,*/*;q=0.1"
)


def scrape(client, **params):
    response = client.get("/metrics", params, HTTP_ACCEPT=PROMETHEUS_ACCEPT)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == CONTENT_TYPE_LATEST
    return {family.name: family for family in text_string_to_metric_families(response.content.decode())}


def samples(families, family, name=None, **labels):
    """{label values not given: value} of the samples of ``family`` (sample ``name``, by default the
    family's own) whose labels include ``labels``."""
    found = {}
    for sample in families[family].samples:
        if sample.name != (name or family) or any(sample.labels.get(k) != v for k, v in labels.items()):
            continue
        rest = tuple(value for key, value in sorted(sample.labels.items()) if key not in labels)
        found[rest[0] if len(rest) == 1 else rest] = sample.value
    return found


def value(families, family, name=None, **labels):
    [only] = samples(families, family, name, **labels).values()
    return only


# -- Placement ------------------------------------------------------------------------------------
def test_placement_gauges_are_what_the_seed_runs_report_shows(client, db):
    run = finished_run("bug-1825537")
    report = build_report(run)
    families = scrape(client)
    cloud = run.cloud.name
    for name in PLACEMENT:
        family = families[f"openstack_placement_resource_{name}"]
        assert family.type == "gauge"
        assert {tuple(sorted(s.labels)) for s in family.samples} == {("cloud", "hostname", "resourcetype")}
    usage = "openstack_placement_resource_usage"
    # The bug: host1 still holds m1.tiny although the server lives on host2, which holds nothing.
    assert samples(families, usage, cloud=cloud, hostname="host1") == TINY
    assert samples(families, usage, cloud=cloud, hostname="host2") == ZERO
    for host in ("host1", "host2"):
        assert samples(families, usage, cloud=cloud, hostname=host) == report["usages"]["after"][host]
        for rc, inventory in report["inventories"][host].items():
            for name in ("total", "reserved", "allocation_ratio"):
                assert value(families, f"openstack_placement_resource_{name}", cloud=cloud, hostname=host,
                             resourcetype=rc) == inventory[name]
    # FakeDriver's inventory, as the README states it.
    assert samples(families, "openstack_placement_resource_total", cloud=cloud, hostname="host1") == {
        "VCPU": 1000, "MEMORY_MB": 800000, "DISK_GB": 600000}
    assert value(families, "openstack_placement_resource_reserved", cloud=cloud, hostname="host1",
                 resourcetype="MEMORY_MB") == 512
    assert value(families, "openstack_placement_resource_allocation_ratio", cloud=cloud, hostname="host1",
                 resourcetype="VCPU") == 4.0


def test_the_same_provider_name_in_two_clouds_is_two_series(client, db):
    leaked, fixed = finished_run("bug-1825537"), finished_run("bug-1825537", bugs=[])
    families = scrape(client)
    usage = "openstack_placement_resource_usage"
    assert samples(families, usage, cloud=leaked.cloud.name, hostname="host2") == ZERO
    assert samples(families, usage, cloud=fixed.cloud.name, hostname="host2") == SMALL
    assert samples(families, usage, cloud=fixed.cloud.name, hostname="host1") == ZERO


def test_cloud_parameters_limit_the_per_provider_families(client, db):
    run, other = finished_run("bug-1825537"), finished_run("resize-confirm")
    families = scrape(client, cloud=run.cloud.name)
    for family in ("openstack_placement_resource_usage", "resize_dashboard_audit_findings"):
        assert {s.labels["cloud"] for s in families[family].samples} == {run.cloud.name}
    assert value(families, "resize_dashboard_runs", status="done") == 2  # runs are not per cloud
    both = scrape(client, cloud=[run.cloud.name, other.cloud.name])
    assert {s.labels["cloud"] for s in both["openstack_placement_resource_usage"].samples} == {
        run.cloud.name, other.cloud.name}
    assert scrape(client, cloud="nowhere")["openstack_placement_resource_usage"].samples == []


# -- the audit ------------------------------------------------------------------------------------
def per_provider(audit):
    counts = Counter((kind, finding["provider"]) for kind in FINDING_KINDS for finding in audit[kind])
    return {(host, kind): counts[kind, host] for host in ("host1", "host2") for kind in FINDING_KINDS}


def test_audit_findings_are_the_runs_audit(client, db):
    leaked, fixed = finished_run("bug-1825537"), finished_run("bug-1825537", bugs=[])
    families = scrape(client)
    findings = "resize_dashboard_audit_findings"
    assert families[findings].type == "gauge"
    # Bug 1825537 on: the allocation went back to host1 (orphaned), the server on host2 holds none.
    assert samples(families, findings, cloud=leaked.cloud.name) == {
        ("host1", "flavor_mismatch"): 0, ("host1", "missing"): 0, ("host1", "orphaned"): 1,
        ("host2", "flavor_mismatch"): 0, ("host2", "missing"): 1, ("host2", "orphaned"): 0,
    }
    # Fixed: host2 keeps m1.small while the server's flavor is reset to m1.tiny.
    assert value(families, findings, cloud=fixed.cloud.name, hostname="host2", kind="flavor_mismatch") == 1
    for run in (leaked, fixed):
        assert samples(families, findings, cloud=run.cloud.name) == per_provider(run.audit)


# -- runs and campaigns ---------------------------------------------------------------------------
def test_runs_are_counted_by_status_outcome_and_verdict_as_the_campaigns_classify_them(client, db):
    for name in ("bug-1825537", "resize-confirm", "prep-resize-reschedule", "resize-instance-fails",
                 "same-host-finish-resize-fails"):
        finished_run(name)
    finished_run("custom", fail_at="finish_migration")  # no expectation
    started_run("resize-confirm")  # queued
    abort(started_run("resize-confirm").pk, "operator")  # crashed, aborted
    run_record(status=RunStatus.RUNNING)
    run_record(status=RunStatus.DONE, verdict={"result": "mismatch"}, audit={"orphaned": [], "missing": []},
               server_status="ACTIVE")
    run_record(status=RunStatus.CRASHED, verdict={"result": "matched"}, audit={"missing": [{"provider": "h"}]})
    run_record(status=RunStatus.DONE, verdict={"result": "matched"}, audit=None, server_status="VERIFY_RESIZE")
    families = scrape(client)

    assert families["resize_dashboard_runs"].type == "gauge"
    assert samples(families, "resize_dashboard_runs") == {"queued": 1, "running": 1, "done": 8, "crashed": 2}
    assert samples(families, "resize_dashboard_runs") == {
        status: Run.objects.filter(status=status).count() for status in RunStatus.values}

    finished = families["resize_dashboard_runs_finished"]
    assert finished.type == "counter"
    counted = {key: count for key, count in samples(families, "resize_dashboard_runs_finished",
                                                      "resize_dashboard_runs_finished_total").items() if count}
    expected = Counter((campaigns.outcome(run), run.verdict["result"])
                       for run in Run.objects.filter(status__in=RunStatus.TERMINAL))
    assert counted == dict(expected)
    assert counted == {
        ("orphaned", "matched"): 1, ("clean", "matched"): 1, ("VERIFY_RESIZE", "matched"): 2,
        ("ERROR", "matched"): 1, ("flavor_mismatch", "matched"): 1, ("flavor_mismatch", "none"): 1,
        ("crashed", "aborted"): 1, ("mismatch", "mismatch"): 1, ("missing", "matched"): 1,
    }
    # Every outcome and verdict has its series from the start, so that increase() sees the first run.
    assert len(finished.samples) == len(campaigns.OUTCOMES) * len(VerdictResult.values)


def test_campaigns_are_counted_by_status(client, db):
    for status in (CampaignStatus.RUNNING, CampaignStatus.DONE, CampaignStatus.DONE):
        Campaign.objects.create(status=status)
    families = scrape(client)
    assert families["resize_dashboard_campaigns"].type == "gauge"
    assert samples(families, "resize_dashboard_campaigns") == {"running": 1, "done": 2, "cancelled": 0}


# -- step latencies -------------------------------------------------------------------------------
def assert_consistent(family):
    """Cumulative buckets in increasing ``le`` order, +Inf equal to the count, a sum of no negative time."""
    for labels in {tuple(sorted((k, v) for k, v in s.labels.items() if k != "le")) for s in family.samples}:
        step = dict(labels)["step"]
        buckets = samples({family.name: family}, family.name, f"{family.name}_bucket", step=step)
        bounds = sorted(buckets, key=float)
        assert bounds == [floatToGoString(b) for b in BUCKETS] + ["+Inf"]
        counts = [buckets[bound] for bound in bounds]
        assert counts == sorted(counts)
        count = value({family.name: family}, family.name, f"{family.name}_count", step=step)
        assert buckets["+Inf"] == count
        assert value({family.name: family}, family.name, f"{family.name}_sum", step=step) >= 0


def test_step_histograms_bucket_each_steps_wait_and_duration(client, db):
    run = run_record()
    base = timezone.now()
    ms = lambda amount: timedelta(milliseconds=amount)  # noqa: E731
    # (queue wait or None: cast time unknown; duration), in milliseconds; 5 and 10 ms are bounds.
    timings = [(2, 0.5), (None, 3), (-1, 40), (200, 2000), (7, 75000), (5, 10)]
    for seq, (waited, took) in enumerate(timings):
        started = base + timedelta(seconds=seq * 100)
        RunStep.objects.create(run=run, seq=seq, name="compute.prep_resize", started=started,
                               queued=None if waited is None else started - ms(waited), finished=started + ms(took))
    RunStep.objects.create(run=run, seq=9, name="compute.finish_resize", started=base, queued=base, finished=base)
    # Across a second, from a whole second: exact to the microsecond (a datetime without microseconds
    # is stored without a fraction).
    second = base.replace(microsecond=0)
    RunStep.objects.create(run=run, seq=10, name="compute.resize_instance", queued=second,
                           started=second + timedelta(microseconds=999_999),
                           finished=second + timedelta(seconds=1, microseconds=9))
    families = scrape(client)
    wait, duration = (families[f"resize_dashboard_step_{name}_seconds"] for name in ("queue_wait", "duration"))
    assert wait.type == duration.type == "histogram"
    assert_consistent(wait)
    assert_consistent(duration)

    def histogram(family, step):
        def sample(suffix, **labels):
            return value({family.name: family}, family.name, f"{family.name}_{suffix}", step=step, **labels)
        return {str(bound): sample("bucket", le=floatToGoString(bound)) for bound in BUCKETS} | {
            "+Inf": sample("bucket", le="+Inf"), "count": sample("count"), "sum": sample("sum")}

    took = histogram(duration, "compute.prep_resize")
    # A bucket counts what is at most its bound ("le"): 10 ms is in the 0.01 one.
    assert [took[str(b)] for b in BUCKETS] == [1, 1, 2, 3, 3, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5]
    assert took["+Inf"] == took["count"] == 6  # 75 s is above every bound
    assert took["sum"] == pytest.approx(0.0005 + 0.003 + 0.040 + 2.0 + 75.0 + 0.010)
    waited = histogram(wait, "compute.prep_resize")
    # A step sent at an unknown time has no wait; one "started before it was sent" (clocks apart) waited 0.
    assert [waited[str(b)] for b in BUCKETS] == [1, 2, 3, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5]
    assert waited["+Inf"] == waited["count"] == 5
    assert waited["sum"] == pytest.approx(0.002 + 0 + 0.2 + 0.007 + 0.005)
    instant = histogram(duration, "compute.finish_resize")
    assert instant["0.001"] == instant["count"] == 1 and instant["sum"] == 0
    assert histogram(duration, "compute.resize_instance")["sum"] == pytest.approx(0.000010, abs=1e-9)
    crossing = histogram(wait, "compute.resize_instance")
    assert crossing["sum"] == pytest.approx(0.999999, abs=1e-9)
    assert (crossing["0.5"], crossing["1"]) == (0, 1)


def test_step_histograms_of_real_runs_add_up_to_their_steps(client, db):
    finished_run("bug-1825537")
    finished_run("resize-revert")
    families = scrape(client)
    steps = list(RunStep.objects.all())
    for family, observe in (
        ("resize_dashboard_step_duration_seconds", lambda step: (step.finished - step.started).total_seconds()),
        ("resize_dashboard_step_queue_wait_seconds",
         lambda step: max(0.0, (step.started - step.queued).total_seconds()) if step.queued else None),
    ):
        assert_consistent(families[family])
        names = {step.name for step in steps}
        assert set(samples(families, family, f"{family}_count")) == names
        for name in names:
            observed = [x for x in (observe(step) for step in steps if step.name == name) if x is not None]
            assert value(families, family, f"{family}_count", step=name) == len(observed)
            assert value(families, family, f"{family}_sum", step=name) == pytest.approx(sum(observed), abs=1e-6)
            for bound in BUCKETS:
                assert value(families, family, f"{family}_bucket", step=name, le=floatToGoString(bound)) == sum(
                    x <= bound for x in observed)
    # The seed run's four casts, and resize-revert's own steps.
    assert value(families, "resize_dashboard_step_duration_seconds", "resize_dashboard_step_duration_seconds_count",
                 step="compute.finish_resize") == 2
    assert value(families, "resize_dashboard_step_duration_seconds", "resize_dashboard_step_duration_seconds_count",
                 step="api.revert_resize") == 1


def readme_sample():
    text = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- metrics-sample:begin -->\n```text\n\$ curl [^\n]*\n(.*?)```\n<!-- metrics-sample:end -->",
                      text, re.S)
    return block[1].splitlines()


def test_the_readmes_sample_is_what_a_scrape_of_the_same_runs_shows(client, db):
    """The README's sample (the seed scenario with the bug, then without), line for line but for the
    step timings, whose series must be there."""
    first = finished_run("bug-1825537")
    finished_run("bug-1825537", bugs=[])
    lines = client.get("/metrics", {"cloud": first.cloud.name}).content.decode().splitlines()
    sample = [line.replace('cloud="run-1"', f'cloud="{first.cloud.name}"') for line in readme_sample()]
    assert len(sample) > 30
    for line in sample:
        if line.startswith("# …"):  # what the README leaves out
            continue
        if line.startswith("resize_dashboard_step_"):
            series, _ = line.rsplit(" ", 1)
            assert [found for found in lines if found.startswith(f"{series} ")], line
        else:
            assert line in lines


# -- cost -----------------------------------------------------------------------------------------
SCRAPE_QUERIES = 9  # placement 1, providers 1, the audit 4, runs 1, campaigns 1, steps 1


def test_a_scrape_makes_the_same_queries_whatever_the_data(client, db, django_assert_num_queries):
    with django_assert_num_queries(SCRAPE_QUERIES):
        scrape(client)
    finished_run("bug-1825537")
    with django_assert_num_queries(SCRAPE_QUERIES):
        small = scrape(client)
    for name in ("bug-1825537", "resize-revert", "prep-resize-reschedule", "revert-destroy-fails"):
        finished_run(name)
    started_run("resize-confirm")
    Campaign.objects.create(status=CampaignStatus.CANCELLED)
    booted_server(build_cloud("shared", [f"host{i}" for i in range(1, 9)], "FakeDriver"), "vm", "host4")
    with django_assert_num_queries(SCRAPE_QUERIES):
        large = scrape(client)
    assert len(large["openstack_placement_resource_usage"].samples) > 4 * len(
        small["openstack_placement_resource_usage"].samples)


# -- access ---------------------------------------------------------------------------------------
def test_reading_is_open_in_debug_mode(anon):
    assert "openstack_placement_resource_usage" in scrape(anon)


@pytest.mark.parametrize("accept", ["text/plain", "application/openmetrics-text; version=1.0.0", "application/json"])
def test_whatever_the_scraper_accepts_it_gets_the_text_format(anon, accept):
    response = anon.get("/metrics", HTTP_ACCEPT=accept)
    assert response.status_code == 200
    assert response["Content-Type"] == CONTENT_TYPE_LATEST


@pytest.fixture
def production_permissions(settings, monkeypatch):
    """What the settings configure outside debug mode (as tests/test_api.py's fixture of that name:
    DRF copies the default permissions onto APIView at import, so the class attribute is patched
    too; test_production_settings_require_a_token_for_metrics checks a real process)."""
    settings.DEBUG = False
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK,
                               "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"]}
    monkeypatch.setattr(APIView, "permission_classes", [IsAuthenticated])


def test_outside_debug_mode_reading_needs_a_token_or_a_login(anon, api, operator, production_permissions):
    refused = anon.get("/metrics", HTTP_ACCEPT=PROMETHEUS_ACCEPT)
    assert refused.status_code == 401
    assert refused["WWW-Authenticate"] == "Token"
    assert refused.json() == {"detail": "Authentication credentials were not provided."}
    assert "openstack_placement_resource_usage" in scrape(api)  # Authorization: Token <key>
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")
    assert bad.get("/metrics").status_code == 401
    bearer = APIClient()  # Prometheus' default type; its scrape config must say "type: Token"
    bearer.credentials(HTTP_AUTHORIZATION=api._credentials["HTTP_AUTHORIZATION"].replace("Token", "Bearer"))
    assert bearer.get("/metrics").status_code == 401
    session = APIClient()
    session.force_login(operator)
    assert "resize_dashboard_runs" in scrape(session)


def test_production_settings_require_a_token_for_metrics():
    """A process started with DJANGO_DEBUG=false, its route and settings as they are."""
    script = """
import django
django.setup()
from django.urls import resolve
from rest_framework.test import APIRequestFactory
response = resolve("/metrics").func(APIRequestFactory().get("/metrics"))
print(response.status_code, response["WWW-Authenticate"])
"""
    env = {**os.environ, "DJANGO_DEBUG": "false", "DJANGO_SECRET_KEY": "test-only",
           "DJANGO_SETTINGS_MODULE": "config.settings.local"}
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["401", "Token"]


def test_metrics_are_not_an_endpoint_of_the_rest_apis_schema(anon):
    schema = anon.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert not [path for path in schema["paths"] if "metrics" in path]
