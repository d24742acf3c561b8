"""Build the shared demo cloud (idempotent)."""
from django.core.management.base import BaseCommand
from django.db import transaction

from simulator.cloud import ensure_flavors, ensure_host
from simulator.models import Cloud

DEMO_HOSTS = ["host1", "host2", "host3"]


class Command(BaseCommand):
    help = "Create the 'demo' cloud: host1..host3 with FakeDriver inventory and Nova's default flavors."

    def handle(self, *args, **options):
        with transaction.atomic():
            cloud, created = Cloud.objects.get_or_create(
                name="demo",
                defaults={"description": "Shared demo cloud: runs with --cloud demo compete for it.", "shared": True},
            )
            ensure_flavors(cloud)
            for name in DEMO_HOSTS:
                ensure_host(cloud, name)
        verb = "Created" if created else "Checked"
        self.stdout.write(f"{verb} cloud 'demo': {', '.join(DEMO_HOSTS)}; flavors m1.tiny .. m1.xlarge.")
