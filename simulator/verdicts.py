"""Verdicts: a finished run's report against the outcome its preset expects."""
from .presets import SCENARIOS, expected_outcome
from .states import RunStatus, VerdictResult


def verdict(scenario_name, params, report, aborted=False):
    """Compare a finished run's report with the expected outcome."""
    expected = expected_outcome(scenario_name, params)
    if aborted:
        return {
            "result": VerdictResult.ABORTED.value,
            "expected": expected,
            "matched": None,
            "mismatches": [],
            "summary": f"{report['error']} Nothing to judge: the run did not reach Nova's outcome.",
        }
    if report["status"] == RunStatus.CRASHED:
        return {
            "result": VerdictResult.MISMATCH.value,
            "expected": expected,
            "matched": False,
            "mismatches": [f"the run crashed: {report['error']}"],
            "summary": "The run crashed before Nova's outcome was reached.",
        }
    if expected is None:
        return {
            "result": VerdictResult.NONE.value,
            "expected": None,
            "matched": None,
            "mismatches": [],
            "summary": (
                f"No expected outcome: its parameters differ from {scenario_name}'s."
                if scenario_name in SCENARIOS
                else "No expected outcome: a custom run."
            ),
        }
    mismatches = []

    def check(label, want, got):
        if want != got:
            mismatches.append(f"{label}: expected {want!r}, got {got!r}")

    server = report["server"] or {}
    for key, want in expected["server"].items():
        check(f"server.{key}", want, server.get(key))
    check("migration.status", expected["migration"]["status"], (report["migration"] or {}).get("status"))
    fault = server.get("fault")
    if expected["fault"] is None:
        check("server.fault", None, fault and fault["message"])
    elif fault is None:
        mismatches.append(f"server.fault: expected {expected['fault']['message']!r}, got None")
    else:
        check("server.fault.code", expected["fault"]["code"], fault["code"])
        if expected["fault"]["message"] not in fault["message"]:
            mismatches.append(f"server.fault.message: expected to contain {expected['fault']['message']!r}, got {fault['message']!r}")
    if expected["faults"] is not None:
        got = [f["message"] for f in report["faults"]]
        if len(got) != len(expected["faults"]) or any(w not in g for w, g in zip(expected["faults"], got)):
            mismatches.append(f"faults: expected {expected['faults']!r}, got {got!r}")
    after = report["usages"]["after"] or {}
    for provider, want in expected["usages"].items():
        check(f"usages.after.{provider}", want, after.get(provider))
    check("events", expected["events"], [[e["event"], e["result"]] for e in report["events"]])
    audit = report["audit"] or {}
    for kind, count in expected["audit"].items():
        check(f"audit.{kind}", count, len(audit.get(kind, [])))
    return {
        "result": (VerdictResult.MISMATCH if mismatches else VerdictResult.MATCHED).value,
        "expected": expected,
        "matched": not mismatches,
        "mismatches": mismatches,
        "summary": "Matches the expected outcome." if not mismatches else f"{len(mismatches)} mismatch(es).",
    }
