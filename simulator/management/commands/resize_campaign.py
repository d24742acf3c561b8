"""Run a campaign (many runs from one definition) on the workers, or in this process, with a
progress bar; export its results as JSON, CSV and JUnit XML."""
import json
import sys
import time

from django.core.management.base import BaseCommand, CommandError

from simulator import campaigns
from simulator.params import PARAMS
from simulator.presets import SCENARIO
from simulator.tasks import cast


def parse_axis(text):
    """``NAME=all`` or ``NAME=v1,v2``."""
    name, _, values = text.partition("=")
    if name not in PARAMS or not values:
        raise CommandError(f"--axis {text}: NAME=all or NAME=v1,v2 with NAME one of {', '.join(PARAMS)}.", returncode=2)
    if values == campaigns.ALL:
        return name, campaigns.ALL
    try:
        return name, campaigns.parse_values(PARAMS[name], values)
    except ValueError as error:
        raise CommandError(f"--axis {text}: {error}", returncode=2) from error


def bar(state, width=30):
    done, total = state["done"], state["total"] or 1
    filled = int(width * done / total)
    rate = f" · {state['runs_per_second']} runs/s" if state["runs_per_second"] else ""
    left = f" · {state['seconds_left']:.0f} s left" if state["seconds_left"] is not None and done < total else ""
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{state['total']}{rate}{left}"


class Command(BaseCommand):
    help = "Run a campaign: a preset's runs over axes of parameters; print its outcome totals."

    def add_arguments(self, parser):
        parser.add_argument("--scenario", default=SCENARIO.default, help="The base preset (or custom).")
        parser.add_argument("--params", default="{}", help="JSON of the base's parameters to override.")
        parser.add_argument("--axis", action="append", default=[], help="NAME=all or NAME=v1,v2 (repeatable).")
        parser.add_argument("--axes", default=None, help='JSON: {"NAME": [values] or "all"}.')
        parser.add_argument("--sample", type=int, default=None, help="N random combinations instead of all.")
        parser.add_argument("--seed", type=int, default=0, help="Seed of --sample (default 0).")
        parser.add_argument("--max-in-flight", type=int, default=campaigns.DEFAULT_IN_FLIGHT)
        parser.add_argument("--name", default="")
        parser.add_argument("--preview", action="store_true", help="Say how many runs it makes, and stop.")
        parser.add_argument("--in-process", action="store_true", help="Every run here: no Redis or worker.")
        parser.add_argument("--no-wait", action="store_true", help="Start it, print its id and return.")
        parser.add_argument("--timeout", type=float, default=3600)
        parser.add_argument("--json", dest="json_path", help="Write the results as JSON to this file.")
        parser.add_argument("--csv", dest="csv_path", help="Write one CSV row per run to this file.")
        parser.add_argument("--junit", dest="junit_path",
                            help="Write JUnit XML (a leak or an unmet expectation fails its testcase).")

    def handle(self, *args, **options):
        try:
            axes = json.loads(options["axes"]) if options["axes"] else {}
            params = json.loads(options["params"])
        except ValueError as error:
            raise CommandError(f"--axes/--params: not JSON ({error})", returncode=2) from error
        axes.update(parse_axis(text) for text in options["axis"])
        definition = {"scenario": options["scenario"], "params": params, "axes": axes,
                      "max_in_flight": options["max_in_flight"]}
        if options["sample"] is not None:
            definition.update(sample=options["sample"], seed=options["seed"])
        try:
            if options["preview"]:
                shown = campaigns.preview(definition)
                self.stdout.write(f"{shown['runs']} runs, {shown['skipped']} combinations skipped")
                for reason, count in shown["skipped_reasons"]:
                    self.stdout.write(f"  {count} skipped: {reason}")
                return
            campaign = campaigns.create(definition, on_cast=None if options["in_process"] else cast,
                                        name=options["name"])
        except campaigns.CampaignError as error:
            raise CommandError(f"{error.field}: {error.message}", returncode=2) from error
        self.stderr.write(f"Campaign {campaign.pk}: {len(campaign.plan)} runs, {len(campaign.skipped)} skipped")
        if options["no_wait"]:
            self.stdout.write(str(campaign.pk))
            return
        if options["in_process"]:
            campaigns.run_in_process(campaign)
        elif not self._follow(campaign, options["timeout"]):
            raise CommandError(f"Campaign {campaign.pk} is not finished after {options['timeout']:g} s.", returncode=3)
        campaign.refresh_from_db()
        self._report(campaign, options)

    def _follow(self, campaign, timeout):
        deadline, tty = time.monotonic() + timeout, sys.stderr.isatty()
        last = ""
        while True:
            campaign.refresh_from_db()
            line = bar(campaigns.progress(campaign))
            if line != last:
                self.stderr.write(f"\r{line}" if tty else line, ending="" if tty else "\n")
                last = line
            if campaign.is_finished:
                if tty:
                    self.stderr.write("")
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.5)

    def _report(self, campaign, options):
        rows = campaigns.results(campaign)
        totals = {}
        for row in rows:
            totals[row["outcome"]] = totals.get(row["outcome"], 0) + 1
        self.stdout.write(f"Campaign {campaign.pk} {campaign.status}: {len(rows)} runs, "
                          f"{len(campaign.skipped)} skipped")
        for key, (label, _, _) in campaigns.OUTCOMES.items():
            if totals.get(key):
                self.stdout.write(f"  {totals[key]:5} {label}")
        for path, text in ((options["json_path"], lambda: json.dumps(campaigns.as_json(campaign), indent=2)),
                           (options["csv_path"], lambda: campaigns.as_csv(campaign)),
                           (options["junit_path"], lambda: campaigns.as_junit(campaign))):
            if path:
                with open(path, "w") as out:
                    out.write(text())
        failing = [row for row in rows if campaigns.failing(row)]
        if failing and options["junit_path"]:
            raise CommandError(f"{len(failing)} run(s) leak or miss their expected outcome.", returncode=1)
