"""Copy an imported cloud, to replay runs on it with its real capacities."""
from django.core.management.base import BaseCommand, CommandError

from simulator.copies import CopyRefused, copy_cloud
from simulator.models import Cloud


class Command(BaseCommand):
    help = "Copy an imported cloud (hosts, providers with their inventories, flavors, servers, allocations) for runs."

    def add_arguments(self, parser):
        parser.add_argument("source", help="The imported cloud.")
        parser.add_argument("--name", help="The copy's name (default: <source>-copy-N).")

    def handle(self, *args, **options):
        source = Cloud.objects.filter(name=options["source"]).first()
        if source is None:
            raise CommandError(f"Cloud {options['source']} does not exist.")
        try:
            copy = copy_cloud(source, options["name"])
        except CopyRefused as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"Copied {source.name} to {copy.name}: {copy.hosts.count()} hosts, {copy.servers.count()} servers. "
            f"Replay on it: python manage.py resize_run --cloud {copy.name} --server <server> ..."
        )
