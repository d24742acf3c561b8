"""What the run pages show, computed in Python from the run report."""
import json

from simulator.audit import audit_cloud, audit_summary, findings
from simulator.conformance import HOW_TO, last_result, nova_python, side_by_side
from simulator.models import ConformanceCheck
from simulator.params import KNOWN_BUGS
from simulator.presets import SCENARIOS, differences, preset_run
from simulator.report import build_report, snapshot
from simulator.states import RESOURCE_CLASSES, RunStatus
from simulator.tasks import queue_for

from .usage import asked_text, build_bars, consumer_names, human, run_scales

STAGES = [
    ("conductor", "conductor", ["conductor.migrate_server"]),
    ("prep_resize", "prep_resize (dest)", ["compute.prep_resize"]),
    ("resize_instance", "resize_instance (source)", ["compute.resize_instance"]),
    ("finish_resize", "finish_resize (dest)", ["compute.finish_resize"]),
    ("confirm", "confirm", ["api.confirm_resize", "compute.confirm_resize"]),
    ("revert", "revert", ["api.revert_resize", "compute.revert_resize", "compute.finish_revert_resize"]),
]


def stepper(report):
    """The stages of the resize with their state: done, failed, current, pending or skipped."""
    then = report["params"].get("then")
    answer = report["params"].get("action") in ("confirm", "revert")  # the run is the user's confirm or revert
    if answer:
        then = report["params"]["action"]
    finished = report["status"] in RunStatus.TERMINAL
    stages = []
    for key, title, names in STAGES:
        if (key in ("confirm", "revert") and then != key) or (answer and key != then):
            continue
        steps = [s for s in report["steps"] if s["name"] in names]
        waiting = report["next_step"] in names
        if steps and steps[-1]["failed"]:
            state = "failed"
        elif waiting:
            state = "current"
        elif steps:
            state = "done"
        else:
            state = "skipped" if finished else "pending"
        retries = sum(1 for s in steps[:-1] if s["failed"])
        hosts = sorted({s["host"] for s in steps if s["host"] not in ("conductor", "api")})
        note = ""
        if waiting:
            queue = queue_for(report["next_step"], report["next_host"])
            note = f"executing on {report['executing']}" if report["executing"] else f"queued on {queue}"
        elif retries:
            note = f"{retries} failed attempt{'s' if retries > 1 else ''}, rescheduled"
        elif steps and steps[-1]["failed"]:
            note = steps[-1]["error"]
        stages.append({"key": key, "title": title, "state": state, "hosts": hosts, "note": note})
    if then not in ("confirm", "revert"):
        stages.append({"key": "leave", "title": "confirm / revert", "state": "skipped" if finished else "pending",
                       "hosts": [], "note": "not requested (left in VERIFY_RESIZE)"})
    return stages


def describe_outcome(expected):
    """A one-line summary of an expected outcome."""
    if not expected:
        return ""
    server = expected["server"]
    usages = ", ".join(
        f"{provider} {'/'.join(str(used[rc]) for rc in RESOURCE_CLASSES)}"
        for provider, used in expected["usages"].items()
    )
    fault = f"; fault “{expected['fault']['message']}”" if expected.get("fault") else ""
    return f"{server['status']} on {server['host']}; migration {expected['migration']['status']}{fault}; after: {usages}"


def presets():
    """The presets with their description, expected outcome and last check against Nova, for the form."""
    checks = ConformanceCheck.objects.latest_per_preset()
    return [
        {
            "name": s.name,
            "title": s.title,
            "description": s.description,
            "reference": s.reference,
            "outcomes": [
                {"bugs": ", ".join(bugs) or "none", "text": describe_outcome(expected)}
                for bugs, expected in s.expected.items()
            ],
            "conformance": last_result(checks.get(s.name)),
        }
        for s in SCENARIOS.values()
    ]


def paired_bars(run, report, after, after_label, names, audit):
    """[(provider, [(before bar, after bar) per resource class])] aligned by provider, on the
    run's own scales; when the resize found no room, the before bars show what it asked for."""
    before = run.before
    if not before:
        return []
    room = report["room"]
    scales = run_scales(before, room and room["requested"])
    before_bars = build_bars(before, "before", names, scales, room=room if room and room["failed_for_room"] else None)
    after_bars = build_bars(after, after_label, names, scales, audit=audit, compare_to=before) if after else {}
    rows = []
    for provider in sorted(set(before_bars) | set(after_bars)):
        b, a = before_bars.get(provider, []), after_bars.get(provider, [])
        rows.append((provider, list(zip(b, a)) if a else [(bar, None) for bar in b]))
    return rows


def room_rows(room):
    """What a resize that found no room asked for against what each candidate had free, in human units."""
    if not room or not room["failed_for_room"]:
        return None
    return {
        "fitted": any(not any(r["refused"] for r in by_rc.values()) for by_rc in room["candidates"].values()),
        "requested": ", ".join(f"{rc} {human(rc, amount)}" for rc, amount in room["requested"].items()),
        "candidates": [
            (
                provider,
                [
                    {"rc": rc, "text": asked_text(rc, r["asked"], r["free"]), "refused": r["refused"]}
                    for rc, r in by_rc.items()
                ],
            )
            for provider, by_rc in room["candidates"].items()
        ],
    }


def run_page(run):
    """Everything the run page and its live partial show."""
    report = build_report(run)
    finished = run.is_finished
    current = None
    if not finished and run.cloud_id:
        current = snapshot(run.cloud)  # while it runs, "after" is now
    after = report_snapshot(report, "after") or current
    names = consumer_names([run.before, after])
    audit = report["audit"] if finished else (audit_cloud(run.cloud) if run.cloud_id else None)
    server = report["server"] or {}
    shown = server.get("fault")
    hidden = [f for f in report["faults"] if not shown or f["created"] != shown["created"]]
    after_label = "after" if finished else "now"
    allocations = []
    for when, snap in (("before", run.before), (after_label, after)):
        for alloc in (snap or {}).get("allocations", []):
            allocations.append({**alloc, "when": when, "name": names.get(alloc["consumer_uuid"], "")})
    preset = preset_run(run.scenario, run.params)
    return {
        "run": run,
        "report": report,
        "finished": finished,
        "preset": preset,
        "based_on": None if preset else SCENARIOS.get(run.scenario),
        "differences": [(key, json.dumps(mine), json.dumps(theirs)) for key, mine, theirs in differences(run.scenario, run.params)],
        "stages": stepper(report),
        "bars": paired_bars(run, report, after, after_label, names, audit),
        "after_label": after_label,
        "room": room_rows(report["room"]),
        "fault": shown,
        "hidden_faults": hidden,
        "audit": audit,
        "audit_findings": findings(audit),
        "audit_summary": audit_summary(audit),
        "allocations": allocations,
        "params": [(key, json.dumps(value)) for key, value in sorted(report["params"].items())],
        "expected_text": describe_outcome((report["verdict"] or {}).get("expected")),
        "toggles": [(bug, bug in report["params"].get("bugs", [])) for bug in KNOWN_BUGS],
    }


def report_snapshot(report, when):
    """A snapshot (usages, allocations, inventories) rebuilt from the report's parts."""
    if report["usages"][when] is None:
        return None
    return {
        "usages": report["usages"][when],
        "allocations": report["allocations"][when],
        "inventories": report["inventories"],
    }


def conformance_page(run):
    """The latest conformance check of a run, its two outcomes side by side (differing fields
    marked), and whether a check can be asked for here."""
    check = run.conformance_checks.first()
    rows = []
    if check is not None and check.simulator is not None and check.nova is not None:
        rows = [
            {"field": field, "simulator": json.dumps(mine), "nova": json.dumps(theirs), "same": same}
            for field, mine, theirs, same in side_by_side(check.simulator, check.nova)
        ]
    return {
        "run": run,
        "check": check,
        "rows": rows,
        "nova_ready": nova_python() is not None,
        "how_to": HOW_TO,
    }
