"""Conformance with real Nova: a run's parameters replayed in Nova 34 itself, compared with the
simulator's outcome of the same parameters.

Nova lives in its own virtualenv (``make nova-env``; its pins clash with the project's) and
``conformance/nova_replay.py`` runs there, using Nova's functional-test machinery to boot the
same server on the same hosts with the same fake driver, send the same resize, inject the same
failure at the same point and host, and do the same confirm or revert. Both sides are reduced
to one normalised outcome (``OUTCOME_FIELDS``); UUIDs inside messages are the only thing
normalised away. A request Nova's API refuses (a 4xx) has that refusal as its outcome,
``{"refused": {"status", "message"}}``, compared like any other: the simulator must refuse it
too, with the same status and message.
"""
import json
import re
import subprocess
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .models import InstanceAction
from .params import ParamError
from .pipeline import InvalidRun, run_to_completion, start_run
from .presets import CUSTOM
from .report import build_report
from .states import ConformanceStatus

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# Bugs Nova 34 has fixed: a replay runs with them off and says so.
FIXED_IN_NOVA = {"1825537"}
HOW_TO = "Create it with: make nova-env (a separate virtualenv with nova 34.0.0 and openstack-placement 16.0.0)."
REPLAY_TIMEOUT = 600


class NovaUnavailable(Exception):
    """The Nova environment is absent or broken."""


def nova_python():
    """The Nova environment's interpreter, or None when it has not been created."""
    python = Path(settings.NOVA_VENV) / "bin" / "python"
    return python if python.exists() else None


def _messages(text):
    return UUID.sub("<uuid>", text) if isinstance(text, str) else text


# -- what is replayed --------------------------------------------------------------------------
def replayable(params):
    """Why these parameters cannot be replayed in Nova (None when they can), and what the replay
    changes to express them (bugs Nova has fixed are switched off)."""
    if params.get("cloud"):
        return "it ran in the shared cloud " + params["cloud"] + ", whose other servers a replay would not have", []
    notes = []
    fixed = sorted(set(params.get("bugs") or []) & FIXED_IN_NOVA)
    if fixed:
        notes.append(f"bug {', '.join(fixed)} switched off: Nova 34 has it fixed")
    return None, notes


def nova_spec(params):
    """The parameters as the replay takes them: the failure's reason filled in as the fake
    driver words it, the bugs Nova has fixed switched off."""
    spec = dict(params)
    spec["bugs"] = sorted(set(params.get("bugs") or []) - FIXED_IN_NOVA)
    if spec.get("fail_at") and not spec.get("reason"):
        spec["reason"] = f"Simulated {spec['fail_at']} failure"
    return spec


# -- the simulator's side ----------------------------------------------------------------------
def outcome_of(run):
    """The normalised outcome of a finished run, from its report and its records."""
    report = build_report(run)
    server = report["server"] or {}
    fault = server.get("fault")
    migration = report["migration"]
    allocations = {}
    for alloc in report["allocations"]["after"] or []:
        by_type = allocations.setdefault(alloc["provider"], {})
        by_type[alloc["consumer_type"].lower()] = alloc["resources"]
    messages = dict(
        InstanceAction.objects.filter(pk__in=(run.pipeline_state or {}).get("action_ids", [])).values_list(
            "request_id", "message"
        )
    )
    actions = []
    for event in report["events"]:
        if not actions or actions[-1]["request_id"] != event["request_id"]:
            actions.append({"request_id": event["request_id"], "action": event["action"],
                            "message": messages.get(event["request_id"]), "events": []})
        actions[-1]["events"].append([event["event"], event["result"]])
    return {
        "server": {key: server.get(key) for key in ("status", "vm_state", "task_state", "host", "flavor")},
        "fault": {"code": fault["code"], "message": _messages(fault["message"])} if fault else None,
        "faults": [_messages(f["message"]) for f in report["faults"]],
        "migration": (
            {key: migration[key] for key in ("status", "migration_type", "source_compute", "dest_compute")}
            if migration else None
        ),
        "usages": report["usages"]["after"],
        "allocations": allocations,
        "actions": [{key: a[key] for key in ("action", "message", "events")} for a in actions],
    }


def refused(status, message):
    """The outcome of a request the API refuses: nothing was cast, the refusal is what happened."""
    return {"refused": {"status": status, "message": _messages(message)}}


def simulate(scenario, params):
    """The simulator's outcome of these parameters, run in this process and rolled back: it
    leaves no run, cloud or server behind. A request it refuses has its refusal as outcome."""
    with transaction.atomic():
        try:
            run = start_run(scenario, params)
        except (InvalidRun, ParamError) as error:
            transaction.set_rollback(True)
            return refused(getattr(error, "status", 400), error.message)
        outcome = outcome_of(run_to_completion(run))
        transaction.set_rollback(True)
    return outcome


# -- Nova's side -------------------------------------------------------------------------------
def replay(specs, jobs=None):
    """Replay ``[(id, params)]`` in Nova 34: {"nova_version", "results": {id: {"outcome"} |
    {"skipped"} | {"error"}}}."""
    python = nova_python()
    if python is None:
        raise NovaUnavailable(f"The Nova environment ({settings.NOVA_VENV}) does not exist. {HOW_TO}")
    command = [str(python), str(settings.NOVA_REPLAY), "--jobs", str(jobs or settings.NOVA_REPLAY_JOBS)]
    documents = [{"id": key, "params": nova_spec(params)} for key, params in specs]
    done = subprocess.run(
        command, input=json.dumps(documents), capture_output=True, text=True, timeout=REPLAY_TIMEOUT
    )
    if done.returncode != 0:
        raise NovaUnavailable(f"The Nova replay failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}")
    try:
        return json.loads(done.stdout)
    except ValueError as error:
        raise NovaUnavailable(f"The Nova replay printed no JSON: {done.stdout[-500:]!r}") from error


# -- comparing ---------------------------------------------------------------------------------
def side_by_side(simulator, nova, path=""):
    """[(field, simulator's value, Nova's value, same)] for every field of the two outcomes."""
    if isinstance(simulator, dict) and isinstance(nova, dict):
        rows = []
        for key in sorted(set(simulator) | set(nova), key=str):
            rows += side_by_side(simulator.get(key), nova.get(key), f"{path}.{key}" if path else str(key))
        return rows
    if isinstance(simulator, list) and isinstance(nova, list) and path == "actions":
        rows = []
        for index in range(max(len(simulator), len(nova))):
            mine = simulator[index] if index < len(simulator) else None
            theirs = nova[index] if index < len(nova) else None
            rows += side_by_side(mine or {}, theirs or {}, f"actions[{index}]")
        return rows
    return [(path, simulator, nova, simulator == nova)]


def differences(simulator, nova):
    """[(field, simulator's value, Nova's value)] wherever the two outcomes differ."""
    return [(field, mine, theirs) for field, mine, theirs, same in side_by_side(simulator, nova) if not same]


def compare(simulator, nova_result):
    """One check's verdict: "matched", "differs", "skipped" or "failed", with its differences."""
    if "skipped" in nova_result:
        return "skipped", []
    if "error" in nova_result:
        return "failed", []
    found = differences(simulator, nova_result["outcome"])
    return ("differs" if found else "matched"), found

# -- checks ------------------------------------------------------------------------------------
def run_checks(checks, jobs=None):
    """Carry out ``checks`` (ConformanceCheck records): the simulator's outcome of each, then one
    Nova replay for all of them, then the comparison. Each check is saved as it ends."""
    pending = []
    for check in checks:
        check.status = ConformanceStatus.RUNNING
        check.save(update_fields=["status"])
        why_not, check.notes = replayable(check.params)
        if why_not:
            _end(check, ConformanceStatus.SKIPPED, error=f"Not replayable: {why_not}.")
            continue
        if check.run is not None and not check.notes:
            check.simulator = outcome_of(check.run)  # what the run itself did
        else:  # the same parameters as Nova can take them, simulated here and rolled back
            check.simulator = simulate(CUSTOM, nova_spec(check.params))
        pending.append(check)
    if not pending:
        return checks
    try:
        answer = replay([(str(check.pk), check.params) for check in pending], jobs)
    except (NovaUnavailable, subprocess.TimeoutExpired) as error:
        for check in pending:
            _end(check, ConformanceStatus.FAILED, error=str(error))
        return checks
    for check in pending:
        result = answer["results"].get(str(check.pk), {"error": "Nova's replay gave no result."})
        status, found = compare(check.simulator, result)
        check.nova_version = answer.get("nova_version", "")
        check.nova = result.get("outcome")
        check.differences = [list(d) for d in found]
        _end(check, status, error=result.get("skipped") or result.get("error") or "")
    return checks


def _end(check, status, error=""):
    check.status, check.error, check.finished = status, error, timezone.now()
    check.save()


def describe(check):
    """One line per check: what was checked and how it compared, then each differing field with
    both values."""
    name = f"run {check.run_id}" if check.run_id else check.scenario
    notes = f" ({'; '.join(check.notes)})" if check.notes else ""
    line = f"{name}{notes}: {ConformanceStatus.label_of(check.status)}"
    if check.status == ConformanceStatus.MATCHED and "refused" in (check.nova or {}):
        refusal = check.nova["refused"]
        line += f" (both refuse it: {refusal['status']} {refusal['message']})"
    if check.status == ConformanceStatus.DIFFERS:
        line += "".join(
            f"\n    {field}: simulator {json.dumps(mine)}, Nova {json.dumps(theirs)}"
            for field, mine, theirs in check.differences
        )
    elif check.error:
        line += f": {check.error.strip().splitlines()[-1]}"
    return line


def last_result(check):
    """A preset's (or run's) last check in brief: how it compared, with which Nova, when."""
    if check is None:
        return None
    return {
        "status": check.status,
        "summary": ConformanceStatus.label_of(check.status),
        "nova_version": check.nova_version or None,
        "checked": check.finished.isoformat() if check.finished else None,
        "differences": len(check.differences),
        "notes": check.notes,
    }
