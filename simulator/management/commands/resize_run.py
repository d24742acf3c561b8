"""Run a resize scenario on the Celery workers (or in this process) and print its report."""
import json

from django.core.management.base import BaseCommand, CommandError

from simulator.conformance import HOW_TO, describe, last_result, nova_python, run_checks
from simulator.models import ConformanceCheck, Run
from simulator.params import CHOICES, FLAG, INTEGER, NAMES, NUMBER, PARAMS, ParamError
from simulator.pipeline import InvalidRun, run_to_completion, start_run
from simulator.presets import SCENARIO, SCENARIOS, run_label
from simulator.report import build_report, format_report
from simulator.states import ConformanceStatus
from simulator.tasks import cast
from simulator.validation import requested

from ._watch import follow


def _comma_list(text):
    return [item.strip() for item in text.split(",") if item.strip()]


def add_param_option(parser, param):
    """The option of one declared run parameter; unset, it keeps the scenario's value."""
    default = f"the scenario's; custom: {param.default_text()}"
    kwargs = {"dest": param.name, "default": None}
    if param.kind == FLAG:
        kwargs["action"] = "store_true"
    elif param.kind in (NAMES, CHOICES):
        kwargs.update(type=_comma_list, metavar="A,B")
        default += '; "" for none' if param.kind == CHOICES else ""
    elif param.kind in (INTEGER, NUMBER):
        kwargs.update(type=int if param.kind == INTEGER else float, metavar="N")
    else:
        kwargs["metavar"] = param.name.upper()
    if param.choices:
        default += f". One of: {', '.join(param.values)}"
    parser.add_argument(param.option, help=f"{param.help} Default: {default}.", **kwargs)


class Command(BaseCommand):
    help = "Run a resize scenario against a simulated cloud and print the run report."

    def add_arguments(self, parser):
        parser.add_argument("--scenario", default=SCENARIO.default, help=f"{SCENARIO.help} One of: {', '.join(SCENARIO.values)}.")
        parser.add_argument("--list", action="store_true", help="List the scenario presets.")
        parser.add_argument("--json", action="store_true", help="Print the run report as JSON.")
        for param in PARAMS.values():
            add_param_option(parser, param)
        parser.add_argument("--no-wait", action="store_true", help="Enqueue, print the run id and return.")
        parser.add_argument("--in-process", action="store_true", help="Run every step here: no Redis or worker.")
        parser.add_argument("--timeout", type=float, default=600, help="Seconds to wait for the run (default 600).")
        parser.add_argument(
            "--conform", action="store_true",
            help="Then replay the run's parameters in real Nova 34 and compare (needs make nova-env); "
            "exit 1 when they differ. A refused request is checked too: Nova must refuse it alike.",
        )

    def handle(self, *args, **options):
        if options["list"]:
            checks = ConformanceCheck.objects.latest_per_preset()
            for scenario in SCENARIOS.values():
                result = last_result(checks.get(scenario.name))
                nova = f"{result['summary']} ({result['nova_version'] or '?'})" if result else "not checked against Nova"
                self.stdout.write(f"{scenario.name:36} {nova:32} {scenario.title}")
            return
        overrides = {name: options[name] for name in PARAMS if options[name] is not None}
        in_process = options["in_process"]
        if options["conform"] and (options["no_wait"] or nova_python() is None):
            raise CommandError(
                "--conform waits for the run" if options["no_wait"] else f"--conform: no Nova environment. {HOW_TO}",
                returncode=2,
            )
        followed = False
        try:
            run = start_run(options["scenario"], overrides, on_cast=None if in_process else cast)
        except InvalidRun as error:
            if options["conform"]:
                self._conform_refusal(options["scenario"], overrides, options["json"])
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
        if options["conform"]:
            self._conform(run, options["json"])

    def _conform_refusal(self, scenario, overrides, as_json):
        """A refused request checked against Nova 34: Nova must refuse it too, with the same
        status and message (exit 1 when it does not)."""
        try:
            params = requested(scenario, overrides)
        except ParamError:  # an unknown scenario: no request to replay
            return
        check = ConformanceCheck.objects.create(scenario=run_label(scenario, params), params=params)
        (check,) = run_checks([check])
        (self.stderr if as_json else self.stdout).write(describe(check))
        if check.status in (ConformanceStatus.DIFFERS, ConformanceStatus.FAILED):
            raise CommandError(f"The refused request: {ConformanceStatus.label_of(check.status)}.", returncode=1)

    def _conform(self, run, as_json):
        (check,) = run_checks([ConformanceCheck.objects.create(run=run, scenario=run.scenario, params=run.params)])
        (self.stderr if as_json else self.stdout).write(describe(check))
        if check.status in (ConformanceStatus.DIFFERS, ConformanceStatus.FAILED):
            raise CommandError(f"Run {run.pk} {ConformanceStatus.label_of(check.status)}.", returncode=1)
