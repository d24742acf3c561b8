"""Run a resize scenario and print its report."""
import json

from django.core.management.base import BaseCommand, CommandError

from simulator.models import Run
from simulator.pipeline import InvalidRun, run_to_completion, start_run
from simulator.report import build_report
from simulator.scenarios import CUSTOM, DEFAULT_SCENARIO, SCENARIOS, THEN_CHOICES

TEXT_OPTIONS = [
    ("cloud", "Run in this existing cloud (e.g. demo) instead of a fresh one."),
    ("driver", "Fake driver of a fresh cloud's hosts: FakeDriver, SmallFakeDriver, MediumFakeDriver."),
    ("server", "Server name (or uuid in an existing cloud); booted if it does not exist."),
    ("source_host", "Host the server is booted on."),
    ("dest_host", "Requested destination; default: the scheduler chooses."),
    ("flavor", "Flavor the server is booted with (name or flavorid)."),
    ("new_flavor", "Flavor to resize to (name or flavorid)."),
    ("vm_state", "vm_state of the server before the resize (active, stopped, ...)."),
    ("fail_at", "Failure point: prep_resize, migrate_disk_and_power_off, finish_migration, ..."),
    ("exception", "Exception raised at the failure point."),
    ("inner_exception", "Exception wrapped by InstanceFaultRollback."),
    ("reason", "Reason given to the exception."),
    ("fail_host", "Host whose driver fails; default: every host."),
]


def _fmt_usage(usage):
    if usage is None:
        return "-"
    return " ".join(f"{rc}={amount}" for rc, amount in usage.items())


class Command(BaseCommand):
    help = "Run a resize scenario against a simulated cloud and print the run report."

    def add_arguments(self, parser):
        parser.add_argument("--scenario", default=DEFAULT_SCENARIO, help=f"A preset, or '{CUSTOM}'.")
        parser.add_argument("--list", action="store_true", help="List the scenario presets.")
        parser.add_argument("--json", action="store_true", help="Print the run report as JSON.")
        for name, text in TEXT_OPTIONS:
            parser.add_argument("--" + name.replace("_", "-"), dest=name, default=None, help=text)
        parser.add_argument("--hosts", default=None, help="Comma list of a fresh cloud's hosts.")
        parser.add_argument("--bugs", default=None, help="Comma list of known bugs to switch on; empty for none.")
        parser.add_argument("--then", default=None, choices=THEN_CHOICES, help="After VERIFY_RESIZE.")
        parser.add_argument("--allow-resize-to-same-host", dest="allow_resize_to_same_host", action="store_true", default=None)
        parser.add_argument("--max-attempts", dest="max_attempts", type=int, default=None)

    def handle(self, *args, **options):
        if options["list"]:
            for scenario in SCENARIOS.values():
                self.stdout.write(f"{scenario.name:36} {scenario.title}")
            return
        overrides = {
            name: options[name]
            for name in [n for n, _ in TEXT_OPTIONS] + ["then", "allow_resize_to_same_host", "max_attempts"]
            if options[name] is not None
        }
        if options["hosts"] is not None:
            overrides["hosts"] = [h.strip() for h in options["hosts"].split(",") if h.strip()]
        if options["bugs"] is not None:
            overrides["bugs"] = [b.strip() for b in options["bugs"].split(",") if b.strip()]
        try:
            run = start_run(options["scenario"], overrides)
        except InvalidRun as error:
            raise CommandError(f"{error.field}: {error.message}", returncode=2) from error
        run = run_to_completion(run)
        report = build_report(Run.objects.select_related("cloud", "server").get(pk=run.pk))
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2))
        else:
            self._print(report)

    def _print(self, report):
        out = self.stdout.write
        out(f"Run {report['id']} ({report['scenario']}) {report['status']} in cloud {report['cloud']}")
        for step in report["steps"]:
            mark = f"  FAILED: {step['error']}" if step["failed"] else ""
            out(f"  {step['seq']:>2} {step['name']:30} {step['host']:10} {step['duration_ms']:8.1f} ms{mark}")
        server = report["server"]
        out(
            f"Server {server['name']}: {server['status']} (vm_state {server['vm_state']}, task_state "
            f"{server['task_state']}) on {server['host']}, flavor {server['flavor']}"
        )
        if server["fault"]:
            out(f"Fault: {server['fault']['code']} {server['fault']['message']}")
        for fault in report["faults"]:
            if not server["fault"] or fault["created"] != server["fault"]["created"]:
                out(f"Recorded fault (not shown by the API): {fault['code']} {fault['message']}")
        migration = report["migration"]
        if migration:
            out(
                f"Migration {migration['uuid']}: {migration['status']} ({migration['migration_type']} "
                f"{migration['source_compute']} -> {migration['dest_compute']}, "
                f"{migration['old_flavor']} -> {migration['new_flavor']})"
            )
        out("Usages (before -> after):")
        before, after = report["usages"]["before"], report["usages"]["after"] or {}
        for provider in before:
            out(f"  {provider:10} {_fmt_usage(before[provider]):40} -> {_fmt_usage(after.get(provider))}")
        audit = report["audit"]
        findings = [f for kind in ("orphaned", "missing", "flavor_mismatch") for f in audit[kind]]
        out(f"Audit: exit code {audit['exit_code']}" + ("" if findings else ", nothing found"))
        for finding in findings:
            out(f"  {finding['message']}")
        verdict = report["verdict"]
        out(f"Verdict: {verdict['summary']}")
        for mismatch in verdict["mismatches"]:
            out(f"  {mismatch}")
