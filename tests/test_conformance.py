"""Checking runs against real Nova: the normalised outcome, the comparison, and the ways a user
asks for a check (command, REST, the run page, resize_run --conform).

The replay itself runs in Nova's own environment (``make nova-env``) and is exercised for real by
``make conformance`` (every preset) and by the last test here when that environment exists. The
other tests stand a small script in for Nova's replay, answering with a chosen outcome, so that
what the project does with an answer — matched, differs, skipped, failed — is checked here.
"""
import json
import os
import sys
import textwrap
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from rest_framework.test import APIClient

from simulator import conformance
from simulator.conformance import describe, differences, nova_spec, outcome_of, replayable, run_checks, simulate
from simulator.models import Cloud, ConformanceCheck, Run
from simulator.params import DEFAULTS
from simulator.presets import SCENARIOS, run_label
from simulator.states import ConformanceStatus
from simulator.validation import requested
from tests.factories import finished_run, run_record

STAND_IN = textwrap.dedent(
    """
    import json, os, sys
    specs = json.load(sys.stdin)
    answer = json.load(open(os.environ["STAND_IN_ANSWER"]))
    print(json.dumps({"nova_version": "34.0.0", "results": {s["id"]: answer for s in specs}}))
    """
)


@pytest.fixture
def stand_in_nova(tmp_path, settings, monkeypatch):
    """A Nova environment whose replay answers ``answer(result)`` for every run."""
    venv = tmp_path / "nova"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    script = tmp_path / "replay.py"
    script.write_text(STAND_IN)
    settings.NOVA_VENV, settings.NOVA_REPLAY = venv, script
    answer_file = tmp_path / "answer.json"
    monkeypatch.setenv("STAND_IN_ANSWER", str(answer_file))

    def answer(result):
        answer_file.write_text(json.dumps(result))

    return answer


@pytest.fixture
def no_nova(settings, tmp_path):
    settings.NOVA_VENV = tmp_path / "absent"


# -- the outcome -------------------------------------------------------------------------------
def test_the_seed_with_the_bug_off_reduces_to_novas_fields(db):
    outcome = outcome_of(finished_run("bug-1825537", bugs=[]))

    assert outcome["server"] == {"status": "ERROR", "vm_state": "error", "task_state": None, "host": "host2",
                                 "flavor": "m1.tiny"}
    assert outcome["fault"] == {"code": 500, "message": "Virtual Interface creation failed"}
    assert outcome["migration"] == {"status": "error", "migration_type": "resize", "source_compute": "host1",
                                    "dest_compute": "host2"}
    assert outcome["usages"]["host1"] == {"VCPU": 0, "MEMORY_MB": 0, "DISK_GB": 0}
    assert outcome["allocations"] == {"host2": {"instance": {"VCPU": 1, "MEMORY_MB": 2048, "DISK_GB": 20}}}
    assert outcome["actions"] == [{
        "action": "resize",
        "message": "Error",
        "events": [["conductor_migrate_server", "Success"], ["cold_migrate", "Success"],
                   ["compute_prep_resize", "Success"], ["compute_resize_instance", "Success"],
                   ["compute_finish_resize", "Error"]],
    }]


def test_uuids_in_fault_messages_are_the_only_thing_normalised(db):
    outcome = outcome_of(finished_run("prep-resize-reschedule-exhausted"))
    assert outcome["faults"][1] == (
        "Exceeded maximum number of retries. Exhausted all hosts available for retrying build failures for "
        "instance <uuid>."
    )


def test_simulating_leaves_nothing_behind(db):
    outcome = simulate("custom", nova_spec(SCENARIOS["resize-confirm"].all_params()))
    assert outcome["migration"]["status"] == "confirmed"
    assert Run.objects.count() == 0 and Cloud.objects.count() == 0


def test_a_fixed_bug_is_switched_off_and_said_so():
    params = SCENARIOS["bug-1825537"].all_params()
    assert replayable(params) == (None, ["bug 1825537 switched off: Nova 34 has it fixed"])
    assert nova_spec(params)["bugs"] == []
    assert nova_spec(params)["reason"] == "Simulated finish_migration failure"


def test_a_run_in_a_shared_cloud_is_not_replayable():
    why, _ = replayable({"cloud": "demo"})
    assert why.startswith("it ran in the shared cloud demo")


def test_differences_name_each_field_with_both_values():
    mine = {"server": {"host": "host2"}, "actions": [{"action": "resize", "events": [["a", "Success"]]}]}
    theirs = {"server": {"host": "host3"}, "actions": [{"action": "resize", "events": [["a", "Error"]]}]}
    assert differences(mine, theirs) == [
        ("actions[0].events", [["a", "Success"]], [["a", "Error"]]),
        ("server.host", "host2", "host3"),
    ]
    assert differences(mine, mine) == []


# -- what a check records ----------------------------------------------------------------------
def test_a_run_that_nova_agrees_with_matches(db, stand_in_nova):
    run = finished_run("resize-confirm")
    stand_in_nova({"outcome": outcome_of(run)})

    (check,) = run_checks([ConformanceCheck.objects.create(run=run, scenario=run.scenario, params=run.params)])

    assert (check.status, check.nova_version, check.differences) == (ConformanceStatus.MATCHED, "34.0.0", [])


def test_a_difference_is_recorded_field_by_field(db, stand_in_nova):
    run = finished_run("resize-confirm")
    nova = outcome_of(run)
    nova["server"]["host"] = "host3"
    stand_in_nova({"outcome": nova})

    (check,) = run_checks([ConformanceCheck.objects.create(run=run, scenario=run.scenario, params=run.params)])

    assert check.status == ConformanceStatus.DIFFERS
    assert check.differences == [["server.host", "host2", "host3"]]


def test_what_nova_cannot_replay_is_skipped_with_its_reason(db, stand_in_nova):
    run = finished_run("resize-confirm")
    stand_in_nova({"skipped": "vm_state paused cannot be set up"})
    (check,) = run_checks([ConformanceCheck.objects.create(run=run, scenario=run.scenario, params=run.params)])
    assert (check.status, check.error) == (ConformanceStatus.SKIPPED, "vm_state paused cannot be set up")


def test_without_the_nova_environment_a_check_fails_saying_how_to_create_it(db, no_nova):
    run = finished_run("resize-confirm")
    (check,) = run_checks([ConformanceCheck.objects.create(run=run, scenario=run.scenario, params=run.params)])
    assert check.status == ConformanceStatus.FAILED and "make nova-env" in check.error


# -- a refusal is an outcome -------------------------------------------------------------------
RESIZE_WITH_A_HOST = {"refused": {
    "status": 400,
    "message": "Invalid input for field/attribute resize. Value: {'flavorRef': '2', 'host': 'host3'}. "
               "Additional properties are not allowed ('host' was unexpected)",
}}
THREE_HOSTS = ["host1", "host2", "host3"]


def refused_request_check(scenario="custom", **overrides):
    params = requested(scenario, overrides)
    return ConformanceCheck.objects.create(scenario=run_label(scenario, params), params=params)


def test_a_resize_with_a_host_is_refused_and_compared_on_its_refusal(db, stand_in_nova):
    stand_in_nova({"outcome": RESIZE_WITH_A_HOST})  # what Nova 34 answers

    (check,) = run_checks([refused_request_check(hosts=THREE_HOSTS, dest_host="host3")])

    assert check.simulator == RESIZE_WITH_A_HOST
    assert (check.status, check.differences) == (ConformanceStatus.MATCHED, [])
    assert describe(check) == (
        "custom: matches Nova 34 (both refuse it: 400 Invalid input for field/attribute resize. Value: "
        "{'flavorRef': '2', 'host': 'host3'}. Additional properties are not allowed ('host' was unexpected))"
    )
    assert Run.objects.count() == 0 and Cloud.objects.count() == 0


def test_a_request_nova_refuses_and_the_simulator_runs_differs(db, stand_in_nova):
    stand_in_nova({"outcome": {"refused": {"status": 400, "message": "Compute host host3 could not be found."}}})

    (check,) = run_checks([refused_request_check(action="migrate", hosts=THREE_HOSTS, dest_host="host3")])

    assert check.status == ConformanceStatus.DIFFERS
    differing = {field: (mine, theirs) for field, mine, theirs in check.differences}
    assert differing["refused"] == (None, {"status": 400, "message": "Compute host host3 could not be found."})
    assert differing["server"][0]["status"] == "VERIFY_RESIZE" and differing["server"][1] is None


def test_a_refusal_with_another_status_or_message_differs(db, stand_in_nova):
    stand_in_nova({"outcome": {"refused": {"status": 409, "message": "Cannot migrate to the host where the server exists."}}})

    (check,) = run_checks([refused_request_check(action="migrate", dest_host="host1")])

    assert check.differences == [["refused.status", 400, 409]]


def test_uuids_in_a_refusal_are_normalised(db):
    assert simulate("custom", {**DEFAULTS, "vm_state": "error"}) == {"refused": {
        "status": 409, "message": "Cannot 'resize' instance <uuid> while it is in vm_state error"}}


def test_resize_run_conform_checks_a_refused_request_against_nova(db, stand_in_nova):
    stand_in_nova({"outcome": RESIZE_WITH_A_HOST})
    out = StringIO()

    with pytest.raises(CommandError) as refused:
        call_command("resize_run", "--scenario", "resize-confirm", "--hosts", "host1,host2,host3", "--dest-host",
                     "host3", "--conform", stdout=out)

    assert refused.value.returncode == 2  # refused, as before; and Nova refuses it alike
    assert out.getvalue().startswith("custom, based on resize-confirm: matches Nova 34 (both refuse it: 400 Invalid")
    check = ConformanceCheck.objects.get()
    assert (check.run, check.params["dest_host"], check.params["action"]) == (None, "host3", "resize")


def test_resize_run_conform_exits_1_when_nova_takes_what_the_simulator_refuses(db, stand_in_nova):
    stand_in_nova({"outcome": outcome_of(finished_run("resize-confirm"))})

    with pytest.raises(CommandError) as differs:
        call_command("resize_run", "--scenario", "resize-confirm", "--dest-host", "host2", "--conform", stdout=StringIO())

    assert differs.value.returncode == 1


# -- asking for a check ------------------------------------------------------------------------
def test_the_command_prints_a_line_per_preset_and_writes_junit(db, stand_in_nova, tmp_path):
    nova = simulate("custom", nova_spec(SCENARIOS["resize-revert"].all_params()))
    nova["migration"]["status"] = "error"
    stand_in_nova({"outcome": nova})
    out = StringIO()

    with pytest.raises(CommandError) as failed:
        call_command("conformance", "--scenario", "resize-revert", "--junit", str(tmp_path / "c.xml"),
                     "--json", str(tmp_path / "c.json"), stdout=out)

    assert failed.value.returncode == 1
    assert 'resize-revert: differs from Nova 34\n    migration.status: simulator "reverted", Nova "error"' in out.getvalue()
    junit = (tmp_path / "c.xml").read_text()
    assert 'name="conformance with Nova 34.0.0"' in junit and '<failure message="1 field(s) differ">' in junit
    (result,) = json.loads((tmp_path / "c.json").read_text())
    assert result["differences"] == [{"field": "migration.status", "simulator": "reverted", "nova": "error"}]


def test_the_command_without_nova_says_how_to_create_it(db, no_nova):
    with pytest.raises(CommandError) as failed:
        call_command("conformance")
    assert failed.value.returncode == 2 and "make nova-env" in str(failed.value)


@pytest.fixture
def api(db, django_user_model, monkeypatch):
    queued = []
    monkeypatch.setattr("simulator.tasks._send_conformance", queued.append)
    client = APIClient()
    client.force_authenticate(django_user_model.objects.create_user("operator"))
    client.queued = queued
    return client


def test_rest_queues_a_check_on_a_worker_and_then_shows_it(api, stand_in_nova, django_capture_on_commit_callbacks):
    run = finished_run("resize-confirm")
    url = f"/api/runs/{run.pk}/conformance/"
    assert api.get(url).status_code == 404

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(url)

    assert response.status_code == 202 and response["Location"] == url
    assert response.json()["status"] == "queued"
    (check,) = api.queued
    stand_in_nova({"outcome": outcome_of(run)})
    from simulator.tasks import conform

    conform(check.pk)  # what the worker on the conformance queue does
    body = api.get(url).json()
    assert (body["status"], body["nova_version"], body["differences"]) == ("matched", "34.0.0", [])


def test_rest_refuses_an_unfinished_run_and_a_server_without_nova(api, no_nova):
    unfinished = run_record(status="running")
    assert api.post(f"/api/runs/{unfinished.pk}/conformance/").status_code == 409
    run = finished_run("resize-confirm")
    response = api.post(f"/api/runs/{run.pk}/conformance/")
    assert response.status_code == 409 and "make nova-env" in response.json()["detail"]


def test_the_run_page_shows_both_outcomes_with_the_differing_fields_marked(client, django_user_model, stand_in_nova):
    run = finished_run("resize-confirm")
    nova = outcome_of(run)
    nova["server"]["host"] = "host3"
    stand_in_nova({"outcome": nova})
    run_checks([ConformanceCheck.objects.create(run=run, scenario=run.scenario, params=run.params)])
    client.force_login(django_user_model.objects.create_user("operator"))

    html = client.get(reverse("run-detail", args=[run.pk])).content.decode()

    assert 'data-conformance="differs from Nova 34"' in html and "nova 34.0.0" in html
    assert '<tr class="differs" data-differs="server.host">' in html
    assert '<td class="mono">&quot;host2&quot;</td><td class="mono">&quot;host3&quot;</td>' in html
    assert 'id="conform"' in html


def test_the_run_page_without_nova_says_how_to_create_it(client, db, no_nova):
    run = finished_run("resize-confirm")
    html = client.get(reverse("run-detail", args=[run.pk])).content.decode()
    assert 'id="nova-missing"' in html and "make nova-env" in html


# -- real Nova -----------------------------------------------------------------------------------
@pytest.mark.skipif(conformance.nova_python() is None, reason="no Nova environment (make nova-env)")
def test_the_seed_matches_real_nova(db):
    params = SCENARIOS["bug-1825537"].all_params()
    (check,) = run_checks([ConformanceCheck.objects.create(scenario="bug-1825537", params=params)])
    assert check.status == ConformanceStatus.MATCHED, check.differences or check.error
    assert check.nova_version.startswith("34.")


@pytest.mark.skipif(conformance.nova_python() is None, reason="no Nova environment (make nova-env)")
def test_real_nova_refuses_a_resize_with_a_host_and_a_migration_to_the_source_as_the_simulator_does(db):
    checks = run_checks([
        refused_request_check(hosts=THREE_HOSTS, dest_host="host3"),
        refused_request_check(action="migrate", dest_host="host1"),
    ])
    for check in checks:
        assert check.status == ConformanceStatus.MATCHED, check.differences or check.error
    assert checks[0].nova == RESIZE_WITH_A_HOST
    assert checks[1].nova == {"refused": {"status": 400, "message": "Cannot migrate to the host where the server exists."}}


def test_the_presets_show_their_last_check(db, client, stand_in_nova):
    nova = simulate("custom", nova_spec(SCENARIOS["resize-revert"].all_params()))
    stand_in_nova({"outcome": nova})
    assert APIClient().get("/api/scenarios/resize-revert/").json()["conformance"] is None
    call_command("conformance", "--scenario", "resize-revert", stdout=StringIO())

    result = APIClient().get("/api/scenarios/resize-revert/").json()["conformance"]
    assert (result["status"], result["nova_version"], result["differences"]) == ("matched", "34.0.0", 0)
    html = client.get(reverse("run-new") + "?scenario=resize-revert").content.decode()
    assert 'Against real Nova: <span class="badge green" data-conformance="matches Nova 34">' in html
    listed = StringIO()
    call_command("resize_run", "--list", stdout=listed)
    line = next(line for line in listed.getvalue().splitlines() if line.startswith("resize-revert "))
    assert "matches Nova 34 (34.0.0)" in line
