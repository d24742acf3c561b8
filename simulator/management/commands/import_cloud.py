"""Import a real cloud, read-only: a live Placement, and Nova from its compute endpoint or from the
openstack command's JSON. The result is drawn and audited like any cloud."""
import json
import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from simulator.imports import (
    FLAVORS_COMMAND,
    MIGRATIONS_COMMAND,
    SERVERS_COMMAND,
    ImportFailed,
    import_cloud,
    keystone_session,
    summary_lines,
)


def _read(path):
    if not path:
        return None
    try:
        return Path(path).read_text()
    except OSError as error:
        raise CommandError(f"Cannot read {path}: {error.strerror}") from error


class Command(BaseCommand):
    help = (
        "Import a real cloud (read-only): Placement's providers, inventories, usages and allocations, and "
        "Nova's servers, migrations and flavors; label each allocation instance or migration, and audit it."
    )

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="The imported cloud's name (a slug).")
        parser.add_argument(
            "--placement-url", help="Placement's endpoint, e.g. http://controller:8778 (else from the Keystone catalog)."
        )
        parser.add_argument("--token", default=os.environ.get("OS_TOKEN"), help="A Keystone token (default: $OS_TOKEN).")
        parser.add_argument("--servers-json", metavar="FILE", help=f"What `{SERVERS_COMMAND}` prints.")
        parser.add_argument("--migrations-json", metavar="FILE", help=f"What `{MIGRATIONS_COMMAND}` prints.")
        parser.add_argument(
            "--flavors-json", metavar="FILE",
            help=f"What `{FLAVORS_COMMAND}` prints (without it, a flavor's sizes are what its servers hold).",
        )
        parser.add_argument(
            "--compute-url", help="Nova's compute endpoint (…/v2.1), read instead of the JSON files: GETs of "
            "/servers/detail?all_tenants=1, /os-migrations and /flavors/detail.",
        )
        parser.add_argument("--replace", action="store_true", help="Replace the cloud imported earlier under this name.")
        parser.add_argument("--json", action="store_true", help="Print the import's record as JSON.")
        keystone = parser.add_argument_group("Keystone password authentication (instead of --token)")
        for option, variable in (
            ("--os-auth-url", "OS_AUTH_URL"), ("--os-username", "OS_USERNAME"), ("--os-password", "OS_PASSWORD"),
            ("--os-project-name", "OS_PROJECT_NAME"), ("--os-user-domain-name", "OS_USER_DOMAIN_NAME"),
            ("--os-project-domain-name", "OS_PROJECT_DOMAIN_NAME"), ("--os-region-name", "OS_REGION_NAME"),
        ):
            keystone.add_argument(option, default=os.environ.get(variable), help=f"Default: ${variable}.")

    def handle(self, *args, **options):
        if options["compute_url"] and (options["servers_json"] or options["migrations_json"] or options["flavors_json"]):
            raise CommandError("Give either --compute-url or the JSON files, not both.")
        token, placement_url, compute_url = options["token"], options["placement_url"], options["compute_url"]
        try:
            if options["os_auth_url"] and not token:
                session = keystone_session(
                    options["os_auth_url"], options["os_username"], options["os_password"],
                    options["os_project_name"], options["os_user_domain_name"] or "Default",
                    options["os_project_domain_name"] or "Default", options["os_region_name"],
                )
                token = session.token
                placement_url = placement_url or session.endpoint("placement")
                files = options["servers_json"] or options["migrations_json"] or options["flavors_json"]
                compute_url = compute_url or (None if files else session.endpoint("compute"))
            if not placement_url:
                raise CommandError("Give --placement-url (or Keystone options whose catalog has Placement).")
            cloud = import_cloud(
                options["name"],
                placement_url,
                token=token,
                servers_json=_read(options["servers_json"]),
                migrations_json=_read(options["migrations_json"]),
                flavors_json=_read(options["flavors_json"]),
                compute_url=compute_url,
                replace=options["replace"],
            )
        except ImportFailed as error:
            raise CommandError(str(error)) from error
        if options["json"]:
            self.stdout.write(json.dumps({"cloud": cloud.name, **cloud.imported}, indent=2))
        else:
            for line in summary_lines(cloud):
                self.stdout.write(line)
