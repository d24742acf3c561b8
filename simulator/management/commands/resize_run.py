"""Run a resize scenario on the Celery workers (or in this process) and print its report."""
import json

from django.core.management.base import BaseCommand, CommandError

from simulator.models import Run
from simulator.pipeline import InvalidRun, run_to_completion, start_run
from simulator.report import build_report, format_report
from simulator.scenarios import CUSTOM, DEFAULT_SCENARIO, SCENARIOS, THEN_CHOICES
from simulator.tasks import cast

from ._watch import follow

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
        parser.add_argument("--step-delay", dest="step_delay", type=float, default=None, help="Seconds each step takes.")
        parser.add_argument("--no-wait", action="store_true", help="Enqueue, print the run id and return.")
        parser.add_argument("--in-process", action="store_true", help="Run every step here: no Redis or worker.")
        parser.add_argument("--timeout", type=float, default=600, help="Seconds to wait for the run (default 600).")

    def handle(self, *args, **options):
        if options["list"]:
            for scenario in SCENARIOS.values():
                self.stdout.write(f"{scenario.name:36} {scenario.title}")
            return
        overrides = {
            name: options[name]
            for name in [n for n, _ in TEXT_OPTIONS] + ["then", "allow_resize_to_same_host", "max_attempts", "step_delay"]
            if options[name] is not None
        }
        if options["hosts"] is not None:
            overrides["hosts"] = [h.strip() for h in options["hosts"].split(",") if h.strip()]
        if options["bugs"] is not None:
            overrides["bugs"] = [b.strip() for b in options["bugs"].split(",") if b.strip()]
        in_process = options["in_process"]
        followed = False
        try:
            run = start_run(options["scenario"], overrides, on_cast=None if in_process else cast)
        except InvalidRun as error:
            raise CommandError(f"{error.field}: {error.message}", returncode=2) from error
        if in_process:
            run_to_completion(run)
        elif options["no_wait"]:
            self.stdout.write(str(run.pk))
            return
        else:
            progress = self.stderr.write if options["json"] else self.stdout.write
            progress(f"Run {run.pk} ({run.label}) queued in cloud {run.cloud.name}: {run.injected['summary']}")
            followed = not options["json"]
            if not follow(run.pk, progress, options["timeout"]):
                raise CommandError(
                    f"Run {run.pk} is not finished after {options['timeout']:g} s; "
                    f"follow it with: python manage.py run_report {run.pk} --wait",
                    returncode=3,
                )
        report = build_report(Run.objects.select_related("cloud", "server").get(pk=run.pk))
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2))
        else:
            self.stdout.write("\n".join(format_report(report, steps=not followed)))
