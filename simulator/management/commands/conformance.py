"""Replay presets (default: every one) or runs in real Nova 34 and compare with the simulator."""
import json
from xml.etree import ElementTree

from django.core.management.base import BaseCommand, CommandError

from simulator.conformance import HOW_TO, describe, nova_python, run_checks
from simulator.models import ConformanceCheck, Run
from simulator.presets import SCENARIOS
from simulator.states import ConformanceStatus


def document(check):
    return {
        "name": f"run {check.run_id}" if check.run_id else check.scenario,
        "run": check.run_id,
        "scenario": check.scenario,
        "status": check.status,
        "nova_version": check.nova_version,
        "notes": check.notes,
        "differences": [{"field": f, "simulator": mine, "nova": theirs} for f, mine, theirs in check.differences],
        "error": check.error or None,
        "simulator": check.simulator,
        "nova": check.nova,
    }


def junit(checks):
    """JUnit XML: one testcase per check; a difference or a failed replay fails it."""
    version = next((c.nova_version for c in checks if c.nova_version), "34")
    suite = ElementTree.Element(
        "testsuite",
        name=f"conformance with Nova {version}",
        tests=str(len(checks)),
        failures=str(sum(c.status == ConformanceStatus.DIFFERS for c in checks)),
        errors=str(sum(c.status == ConformanceStatus.FAILED for c in checks)),
        skipped=str(sum(c.status == ConformanceStatus.SKIPPED for c in checks)),
    )
    for check in checks:
        case = ElementTree.SubElement(suite, "testcase", classname="conformance", name=document(check)["name"])
        if check.status == ConformanceStatus.DIFFERS:
            failure = ElementTree.SubElement(case, "failure", message=f"{len(check.differences)} field(s) differ")
            failure.text = describe(check)
        elif check.status == ConformanceStatus.FAILED:
            ElementTree.SubElement(case, "error", message="the replay failed").text = check.error
        elif check.status == ConformanceStatus.SKIPPED:
            ElementTree.SubElement(case, "skipped", message=check.error)
    return ElementTree.tostring(suite, encoding="unicode")


class Command(BaseCommand):
    help = "Replay presets (default: all) or runs in real Nova 34 and compare each outcome with the simulator's."

    def add_arguments(self, parser):
        parser.add_argument("--scenario", action="append", default=[], help="A preset to check (repeatable).")
        parser.add_argument("--run", action="append", type=int, default=[], help="A run to check (repeatable).")
        parser.add_argument("--json", dest="json_path", help="Write the results as JSON to this file.")
        parser.add_argument("--junit", dest="junit_path", help="Write the results as JUnit XML to this file.")
        parser.add_argument("--jobs", type=int, default=None, help="Nova replays in parallel.")

    def handle(self, *args, **options):
        if nova_python() is None:
            raise CommandError(f"No Nova environment. {HOW_TO}", returncode=2)
        unknown = [name for name in options["scenario"] if name not in SCENARIOS]
        if unknown:
            raise CommandError(f"Unknown scenario '{unknown[0]}'. Known: {', '.join(SCENARIOS)}.", returncode=2)
        checks = [ConformanceCheck.objects.create(scenario=name, params=SCENARIOS[name].all_params())
                  for name in options["scenario"]]
        for pk in options["run"]:
            run = Run.objects.filter(pk=pk).first()
            if run is None:
                raise CommandError(f"There is no run {pk}.", returncode=2)
            checks.append(ConformanceCheck.objects.create(run=run, scenario=run.scenario, params=run.params))
        if not checks:
            checks = [ConformanceCheck.objects.create(scenario=name, params=s.all_params()) for name, s in SCENARIOS.items()]
        run_checks(checks, options["jobs"])
        for check in checks:
            self.stdout.write(describe(check))
        if options["json_path"]:
            with open(options["json_path"], "w") as out:
                json.dump([document(check) for check in checks], out, indent=2)
        if options["junit_path"]:
            with open(options["junit_path"], "w") as out:
                out.write(junit(checks))
        bad = [c for c in checks if c.status in (ConformanceStatus.DIFFERS, ConformanceStatus.FAILED)]
        matched = sum(c.status == ConformanceStatus.MATCHED for c in checks)
        self.stdout.write(f"{matched} of {len(checks)} match Nova {checks[0].nova_version or '34'}"
                          + (f"; {len(bad)} do not." if bad else "."))
        if bad:
            raise CommandError(f"{len(bad)} check(s) differ from Nova or failed.", returncode=1)
