"""Print the report of a run (optionally waiting for it to finish)."""
import json

from django.core.management.base import BaseCommand, CommandError

from simulator.models import Run
from simulator.report import build_report, format_report

from ._watch import follow


class Command(BaseCommand):
    help = "Print a run's report."

    def add_arguments(self, parser):
        parser.add_argument("run_id", type=int)
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")
        parser.add_argument("--wait", action="store_true", help="Follow the run until it finishes.")
        parser.add_argument("--timeout", type=float, default=600)

    def handle(self, *args, run_id, **options):
        if not Run.objects.filter(pk=run_id).exists():
            raise CommandError(f"Run {run_id} does not exist.", returncode=2)
        if options["wait"]:
            progress = self.stderr.write if options["json"] else self.stdout.write
            if not follow(run_id, progress, options["timeout"]):
                raise CommandError(f"Run {run_id} is not finished after {options['timeout']:g} s.", returncode=3)
        report = build_report(Run.objects.select_related("cloud", "server").get(pk=run_id))
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2))
        else:
            self.stdout.write("\n".join(format_report(report, steps=not (options["wait"] and not options["json"]))))
