"""Build the shared demo cloud and the demo user (idempotent)."""
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from simulator.cloud import ensure_flavors, ensure_host
from simulator.models import Cloud

DEMO_HOSTS = ["host1", "host2", "host3"]
DEMO_USER = "demo"


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
        self._demo_user()

    def _demo_user(self):
        """Local debug mode: user demo / demo, who may also open the admin. Otherwise no password
        until an operator sets one, and no admin rights."""
        user, created = get_user_model().objects.get_or_create(username=DEMO_USER)
        if settings.DEBUG:
            if created or not user.has_usable_password():
                user.set_password(DEMO_USER)
            user.is_staff = user.is_superuser = True
            user.save()
            self.stdout.write(f"Log in as {DEMO_USER} / {DEMO_USER} (local debug mode; also the admin's login).")
        else:
            if created or user.check_password(DEMO_USER):  # never the debug mode's known password
                user.set_unusable_password()
            user.is_staff = user.is_superuser = False
            user.save()
            self.stdout.write(f"Set a password for {DEMO_USER} with: python manage.py changepassword {DEMO_USER}")
