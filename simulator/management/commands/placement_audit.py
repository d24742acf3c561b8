"""Audit a cloud's allocations, like ``nova-manage placement audit``."""
import json

from django.core.management.base import BaseCommand, CommandError

from simulator.audit import audit_cloud, findings
from simulator.models import Cloud


class Command(BaseCommand):
    help = "Find orphaned, missing and flavor-mismatched allocations. Exit 0: none; 3: found."

    def add_arguments(self, parser):
        parser.add_argument("--cloud", default="demo")
        parser.add_argument("--json", action="store_true", help="Print the findings as JSON.")

    def handle(self, *args, **options):
        cloud = Cloud.objects.filter(name=options["cloud"]).first()
        if cloud is None:
            raise CommandError(f"Cloud {options['cloud']} does not exist.", returncode=127)
        result = audit_cloud(cloud)
        if options["json"]:
            self.stdout.write(json.dumps(result, indent=2))
        else:
            for kind, finding in findings(result):
                self.stdout.write(f"{kind}: {finding['message']}")
            if result["exit_code"] == 0:
                self.stdout.write(f"Cloud {cloud.name}: no inconsistent allocations found.")
        if result["exit_code"]:
            raise SystemExit(result["exit_code"])
