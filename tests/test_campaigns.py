"""Campaigns: a definition expanded into runs (what Nova cannot express skipped, with the reason),
dispatched with a bound on the runs in flight, summarised by outcome, exported; and, with real
processes, a campaign that loses a worker half-way and still runs each entry exactly once."""
import json
import signal
import time
from xml.etree import ElementTree

import pytest

from simulator import campaigns
from simulator.campaigns import CampaignError
from simulator.models import Campaign, Run
from simulator.pipeline import abort, run_to_completion
from simulator.states import CampaignStatus, RunStatus
from tests.factories import finished_run, run_record, started_run
from tests.live import LiveStack

LEAKING_BASE = {"fail_at": "finish_migration", "exception": "VirtualInterfaceCreateException", "fail_host": "host2"}


@pytest.fixture
def no_wake(monkeypatch):
    """Wake-ups recorded instead of sent (no broker here)."""
    woken = []
    monkeypatch.setattr("simulator.campaigns.wake", woken.append)
    return woken


def test_every_failure_point_by_every_exception_skips_what_nova_cannot_express(db):
    shown = campaigns.preview({"scenario": "custom", "axes": {"fail_at": "all", "exception": "all"}})

    # 12 points (none included) x 10 exceptions (the default included) = 120 combinations: an
    # exception without a point (9) and an exception at a placement write (4 x 9) are refused.
    assert (shown["runs"], shown["skipped"]) == (75, 45)
    reasons = dict(shown["skipped_reasons"])
    assert reasons["exception needs fail_at: say where the failure is injected."] == 9
    assert reasons["confirm_delete fails with a placement generation conflict (409 placement.concurrent_update); "
                   "it takes no exception."] == 9


RESIZE_TO = (
    "Invalid input for field/attribute resize. Value: {{'flavorRef': '2', 'host': '{}'}}. "
    "Additional properties are not allowed ('host' was unexpected)"
)


def test_a_destination_is_tried_by_cold_migration_only_resizes_with_one_are_skipped_in_novas_words(db):
    shown = campaigns.preview({"scenario": "custom", "params": {"hosts": ["host1", "host2", "host3"]},
                               "axes": {"action": "all", "dest_host": [None, "host1", "host2", "host3"]}})

    # resize x 4 destinations, migrate x 4: a resize with a host (3) is refused by Nova's schema,
    # a cold migration to the server's own host (1) by its compute API; 4 runs are left.
    assert (shown["runs"], shown["skipped"]) == (4, 4)
    assert dict(shown["skipped_reasons"]) == {
        RESIZE_TO.format("host1"): 1,
        RESIZE_TO.format("host2"): 1,
        RESIZE_TO.format("host3"): 1,
        "Cannot migrate to the host where the server exists.": 1,
    }
    _, _, _, plan, skipped = campaigns.expand({"scenario": "custom", "params": {"hosts": ["host1", "host2", "host3"]},
                                              "axes": {"action": "all", "dest_host": [None, "host2"]}})
    assert plan == [{"action": "resize", "dest_host": None}, {"action": "migrate", "dest_host": None},
                    {"action": "migrate", "dest_host": "host2"}]
    assert skipped == [{"values": {"action": "resize", "dest_host": "host2"}, "field": "dest_host",
                        "reason": RESIZE_TO.format("host2")}]


def test_a_server_state_nova_cannot_move_is_skipped_with_its_409(db):
    shown = campaigns.preview({"scenario": "custom", "axes": {"vm_state": "all"}})

    # Only an ACTIVE or STOPPED server can be resized (@check_instance_state).
    assert (shown["runs"], shown["skipped"]) == (2, 8)
    reasons = dict(shown["skipped_reasons"])
    assert reasons["Cannot 'resize' instance <uuid> while it is in vm_state building"] == 1
    assert reasons["Cannot 'resize' instance <uuid> while it is in vm_state error"] == 1


def test_a_sample_is_reproducible_from_its_seed(db):
    definition = {"scenario": "custom", "axes": {"fail_at": "all", "then": "all"}, "sample": 5, "seed": 7}
    first = campaigns.expand(definition)[3]
    assert first == campaigns.expand(definition)[3] and len(first) == 5
    assert len({json.dumps(values, sort_keys=True) for values in first}) == 5
    assert campaigns.expand({**definition, "seed": 8})[3] != first


@pytest.mark.parametrize(
    "definition, field, message",
    [
        ({"axes": {}}, "axes", "A campaign needs at least one axis"),
        ({"axes": {"size": [1]}}, "axes.size", "Unknown parameter 'size'."),
        ({"axes": {"server": "all"}}, "axes.server", "server has no finite set of values"),
        ({"axes": {"then": []}}, "axes.then", "a non-empty list of values"),
        ({"scenario": "nope", "axes": {"then": "all"}}, "scenario", "Unknown scenario 'nope'."),
        ({"params": {"flavor": "m1.huge"}, "axes": {"then": "all"}}, "params.flavor", "Flavor m1.huge could not be found."),
        ({"axes": {"then": "all"}, "sample": 0}, "sample", "at least 1"),
    ],
)
def test_a_bad_definition_names_its_field(db, definition, field, message):
    with pytest.raises(CampaignError) as error:
        campaigns.create(definition)
    assert error.value.field == field and message in error.value.message
    assert Campaign.objects.count() == 0


def test_no_more_runs_are_in_flight_than_allowed(db, no_wake, django_capture_on_commit_callbacks):
    campaign = campaigns.create({"scenario": "custom", "axes": {"fail_at": "all"}, "max_in_flight": 2}, on_cast=None)
    sent = []

    def cast(*message):
        sent.append(message)

    assert campaigns.dispatch(campaign.pk, cast) == 2
    assert campaigns.dispatch(campaign.pk, cast) == 0  # woken again: no room, nothing twice
    first = campaign.runs.order_by("campaign_index").first()
    with django_capture_on_commit_callbacks(execute=True):
        run_to_completion(first)
    assert no_wake == [campaign.pk]  # its end woke the dispatcher
    assert campaigns.dispatch(campaign.pk, cast) == 1
    assert sorted(campaign.runs.values_list("campaign_index", flat=True)) == [0, 1, 2]


def test_a_campaign_run_in_process_classifies_every_run(db):
    campaign = campaigns.create(
        {"scenario": "custom", "params": LEAKING_BASE, "axes": {"bugs": "all", "then": ["none", "revert"]}}
    )
    campaigns.run_in_process(campaign)

    assert campaign.status == CampaignStatus.DONE and campaign.runs.count() == 4
    by_values = {json.dumps(row["values"], sort_keys=True): row["outcome"] for row in campaigns.results(campaign)}
    assert by_values == {
        '{"bugs": [], "then": "none"}': "flavor_mismatch",  # fixed Nova: ERROR on host2, which holds m1.small
        '{"bugs": ["1825537"], "then": "none"}': "orphaned",  # the bug: the allocation leaks back to host1
        '{"bugs": [], "then": "revert"}': "flavor_mismatch",  # an ERROR server cannot be reverted
        '{"bugs": ["1825537"], "then": "revert"}': "orphaned",
    }
    assert campaigns.progress(campaign)["done"] == 4


def test_the_database_classifies_runs_as_outcome_does(db):
    """outcome_expression, outcome's twin in SQL (what /metrics counts by), on runs of every outcome
    and on rows that reach each of its branches."""
    for name in ("bug-1825537", "same-host-finish-resize-fails", "resize-instance-fails", "prep-resize-reschedule",
                 "resize-confirm"):
        finished_run(name)
    started_run("resize-confirm")
    abort(started_run("resize-confirm").pk, "operator")
    run_record(status=RunStatus.DONE, verdict={"result": "mismatch"}, audit={"orphaned": []}, server_status="ERROR")
    run_record(status=RunStatus.CRASHED, verdict={"result": "none"}, audit={"missing": [{"provider": "host1"}]})
    run_record(status=RunStatus.DONE, verdict={"result": "matched"}, audit=None, server_status="VERIFY_RESIZE")
    run_record(status=RunStatus.DONE, verdict=None, audit={}, server_status="")
    run_record(status=RunStatus.RUNNING, audit={"orphaned": [{"provider": "host1"}]})
    classified = dict(Run.objects.annotate(outcome=campaigns.outcome_expression()).values_list("pk", "outcome"))
    assert classified == {run.pk: campaigns.outcome(run) if run.is_finished else None for run in Run.objects.all()}
    assert set(classified.values()) == {*campaigns.OUTCOMES, None}


def test_exports_carry_one_row_or_testcase_per_run(db):
    campaign = campaigns.create({"scenario": "custom", "params": LEAKING_BASE, "axes": {"bugs": "all"}})
    campaigns.run_in_process(campaign)

    rows = campaigns.as_csv(campaign).splitlines()
    assert rows[0] == "run,bugs,status,outcome,verdict,audit,server_status,duration"
    assert len(rows) == 3 and ',"[""1825537""]",done,orphaned,none,orphaned 1 · missing 1,ERROR,' in rows[2]
    suite = ElementTree.fromstring(campaigns.as_junit(campaign))
    assert (suite.get("tests"), suite.get("failures")) == ("2", "2")  # both leave a finding behind
    assert [case.get("name") for case in suite] == ['bugs=[]', 'bugs=["1825537"]']


def test_cancel_stops_the_campaign_and_aborts_its_unfinished_runs(db, no_wake, monkeypatch):
    monkeypatch.setattr("simulator.tasks.revoke", lambda task_id: None)
    campaign = campaigns.create({"scenario": "custom", "axes": {"fail_at": "all"}, "max_in_flight": 2})
    campaigns.dispatch(campaign.pk, lambda *message: None)

    campaigns.cancel(campaign, "operator")

    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.CANCELLED
    assert [r.verdict["result"] for r in campaign.runs.all()] == ["aborted", "aborted"]
    assert campaigns.dispatch(campaign.pk, lambda *message: None) == 0  # nothing starts any more


def test_the_reaper_wakes_campaigns_with_room(db, no_wake):
    waiting = campaigns.create({"scenario": "custom", "axes": {"then": "all"}, "max_in_flight": 1})
    full = campaigns.create({"scenario": "custom", "axes": {"then": "all"}, "max_in_flight": 1})
    campaigns.dispatch(full.pk, lambda *message: None)
    assert campaigns.with_room() == [waiting.pk]


# -- real processes ----------------------------------------------------------------------------
def test_a_campaign_that_loses_its_worker_runs_each_entry_exactly_once(tmp_path):
    stack = LiveStack(tmp_path)
    try:
        stack.start_redis()
        doomed = stack.start_worker("doomed", concurrency=2)
        campaign_id = int(stack.manage(
            "resize_campaign", "--scenario", "custom", "--axis", "fail_at=all", "--axis", "then=none,confirm",
            "--max-in-flight", "3", "--no-wait", check=True,
        ).stdout.strip().splitlines()[-1])
        stack.wait_for_campaign(campaign_id, lambda c: c["done"] >= 4)
        stack.kill_worker(doomed, signal.SIGKILL)  # mid-campaign, runs in flight
        stack.start_worker("survivor", concurrency=2)

        final = stack.wait_for_campaign(campaign_id, lambda c: c["status"] == "done", timeout=180)
        assert (final["total"], final["done"], final["running"], final["queued"]) == (24, 24, 0, 0)
        indexes = stack.python(
            "import json; from simulator.models import Run; "
            f"print(json.dumps(sorted(Run.objects.filter(campaign_id={campaign_id}).values_list('campaign_index', flat=True))))"
        )
        assert indexes == list(range(24))  # nothing lost, nothing run twice
    finally:
        stack.close()



def test_step_latencies_are_given_per_step_in_the_pipelines_order(db):
    campaign = campaigns.create({"scenario": "custom", "axes": {"then": ["none", "confirm"]}})
    campaigns.run_in_process(campaign)

    latencies = campaigns.step_latencies(campaign)

    assert [(row["step"], row["count"]) for row in latencies] == [
        ("conductor.migrate_server", 2), ("compute.prep_resize", 2), ("compute.resize_instance", 2),
        ("compute.finish_resize", 2), ("api.confirm_resize", 1), ("compute.confirm_resize", 1),
    ]
    for row in latencies:
        took = row["took_ms"]
        assert 0 < took["median"] <= took["p95"] <= took["max"]
    assert campaigns.as_json(campaign)["step_latencies"] == latencies


def test_a_campaign_survives_redis_losing_every_queued_message(tmp_path):
    stack = LiveStack(tmp_path)
    try:
        stack.start_redis()
        stack.start_worker("w1", concurrency=2)
        campaign_id = int(stack.manage(
            "resize_campaign", "--scenario", "custom", "--axis", "fail_at=all", "--axis", "then=none,revert",
            "--params", '{"step_delay": 0.1}', "--max-in-flight", "6", "--no-wait", check=True,
        ).stdout.strip().splitlines()[-1])
        queues = ["conductor", "api", "compute.host1", "compute.host2"]
        deadline = time.monotonic() + 30
        while stack.queued_messages(queues) < 3:  # casts (and wake-ups) waiting in Redis
            assert time.monotonic() < deadline, "the casts never queued up"
            time.sleep(0.02)
        stack.kill_redis()  # every queued message is gone with it
        stack.start_redis()

        final = stack.wait_for_campaign(campaign_id, lambda c: c["status"] == "done", timeout=180)
        assert (final["total"], final["done"], final["running"], final["queued"]) == (24, 24, 0, 0)
        indexes = stack.python(
            "import json; from simulator.models import Run; "
            f"print(json.dumps(sorted(Run.objects.filter(campaign_id={campaign_id}).values_list('campaign_index', flat=True))))"
        )
        assert indexes == list(range(24))
    finally:
        stack.close()
