"""The command line, run as a user runs it: a fresh database, real processes, exit codes.

Runs execute ``--in-process`` here; tests/test_workers.py runs them on Celery workers."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.factories import SMALL, ZERO

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def manage(tmp_path_factory):
    var = tmp_path_factory.mktemp("var")
    env = {**os.environ, "DASHBOARD_VAR_DIR": str(var)}
    env.pop("DATABASE_URL", None)

    def _manage(*args):
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )

    assert _manage("migrate", "--noinput").returncode == 0
    return _manage


def test_seed_demo_is_idempotent(manage):
    first = manage("seed_demo")
    second = manage("seed_demo")
    assert first.returncode == second.returncode == 0
    assert "Created cloud 'demo': host1, host2, host3" in first.stdout
    assert "Checked cloud 'demo'" in second.stdout


def test_seed_scenario_json_report(manage):
    result = manage("resize_run", "--in-process", "--scenario", "bug-1825537", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report) >= {
        "id", "status", "scenario", "cloud", "params", "server", "migration", "usages", "allocations",
        "events", "audit", "verdict",
    }
    assert set(report["params"]) >= {
        "flavor", "new_flavor", "source_host", "dest_host", "fail_at", "exception", "bugs", "then",
    }
    assert set(report["server"]) >= {"uuid", "name", "status", "vm_state", "task_state", "host", "node", "flavor", "fault"}
    assert set(report["server"]["fault"]) >= {"code", "message", "details", "created"}
    assert set(report["migration"]) >= {
        "uuid", "status", "migration_type", "source_compute", "dest_compute", "old_flavor", "new_flavor",
    }
    assert set(report["allocations"]["after"][0]) == {"provider", "consumer_uuid", "consumer_type", "resources"}
    assert set(report["events"][0]) >= {"action", "event", "host", "result", "start_time", "finish_time", "traceback"}
    assert report["usages"]["after"]["host2"] == ZERO
    assert report["verdict"]["matched"] is True


def test_overrides_switch_the_bug_off(manage):
    result = manage("resize_run", "--in-process", "--bugs", "", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["params"]["bugs"] == []
    assert report["usages"]["after"]["host2"] == SMALL


def test_human_output_tells_the_story(manage):
    result = manage("resize_run", "--in-process", "--scenario", "confirm-delete-conflict")
    assert result.returncode == 0, result.stderr
    assert "Server server1: ERROR (vm_state error, task_state None) on host2, flavor m1.small" in result.stdout
    assert "Fault: 500 Failed to delete allocations for consumer" in result.stdout
    assert "Audit: exit code 3" in result.stdout
    assert "Verdict: Matches the expected outcome." in result.stdout


def test_a_resize_in_the_demo_cloud(manage):
    manage("seed_demo")
    result = manage("resize_run", "--in-process", "--scenario", "custom", "--cloud", "demo", "--server", "web", "--then", "confirm", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["cloud"] == "demo"
    audit = manage("placement_audit", "--cloud", "demo")
    assert audit.returncode == 0
    assert "no inconsistent allocations found" in audit.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--new-flavor", "m1.tiny"], "new_flavor: When resizing, instances must change flavor!"),
        (["--new-flavor", "m1.huge"], "new_flavor: Flavor m1.huge could not be found."),
        (["--dest-host", "host2"], "dest_host: Invalid input for field/attribute resize. Value: "
                                   "{'flavorRef': '2', 'host': 'host2'}. Additional properties are not allowed "
                                   "('host' was unexpected)"),
        (["--action", "migrate", "--dest-host", "host9"], "dest_host: Compute host host9 could not be found."),
        (["--action", "migrate", "--dest-host", "host1"], "dest_host: Cannot migrate to the host where the server exists."),
        (["--scenario", "nope"], "scenario: Unknown scenario 'nope'."),
    ],
)
def test_bad_input_exits_2_with_one_line(manage, args, message):
    runs_before = manage("shell", "-c", "from simulator.models import Run; print(Run.objects.count())").stdout
    result = manage("resize_run", *args)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    runs_after = manage("shell", "-c", "from simulator.models import Run; print(Run.objects.count())").stdout
    assert runs_after == runs_before


def test_placement_audit_exits_3_on_a_leak(manage):
    report = json.loads(manage("resize_run", "--in-process", "--scenario", "confirm-delete-conflict", "--json").stdout)
    result = manage("placement_audit", "--cloud", report["cloud"])
    assert result.returncode == 3
    assert f"Allocations were set against consumer UUID {report['migration']['uuid']}" in result.stdout


def test_list_names_every_preset(manage):
    result = manage("resize_run", "--list")
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert names[:3] == ["bug-1825537", "resize-confirm", "resize-revert"]
    assert "prep-resize-reschedule" in names and "confirm-delete-conflict" in names
