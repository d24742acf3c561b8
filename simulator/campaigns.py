"""Campaigns: many runs from one definition, executed on the workers, summarised by outcome.

A definition is a base (a preset, and parameters to override) and axes over the declared run
parameters, each a list of values or "all" (every valid value the declaration allows). Its
expansion is the full product, or ``sample`` combinations drawn with ``seed``; combinations the
simulator's validation refuses — the driver cannot express them, or Nova's API refuses the
request (a resize with a host, a migration to the source host, a server in a state that cannot
move: its 400 or 409, in its words) — are skipped and counted with the reason. Runs go out with
at most ``max_in_flight`` unfinished at once: each run that ends wakes the dispatcher, which
starts the next ones (so the broker is never flooded), and the reaper wakes it too, so a lost
wake-up loses no run.
"""
import csv
import io
import itertools
import json
import math
import random
from xml.etree import ElementTree

from django.db import IntegrityError, transaction
from django.db.models import Case, CharField, Count, F, Q, Value, When
from django.utils import timezone

from . import compute_api
from .models import Campaign, RunStep
from .params import CHOICE, CHOICES, FLAG, INTEGER, NAMES, NUMBER, PARAMS, ParamError
from .pipeline import STEPS, InvalidRun, abort, run_to_completion, start_run
from .presets import SCENARIO
from .states import CampaignStatus, RunStatus
from .validation import resolve

ALL = "all"
MAX_RUNS = 5000  # a campaign larger than this is refused before anything runs
# Every combination is checked before anything runs: how many one definition may expand to. In a
# shared cloud each check reads the cloud's hosts and server, so fewer.
MAX_COMBINATIONS = 4 * MAX_RUNS
MAX_SHARED_CLOUD_COMBINATIONS = 2000
DEFAULT_IN_FLIGHT = 8


NONE_WORDS = ("null", "none")
TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off")


class CampaignError(Exception):
    """A definition that cannot be run; ``field`` names the part at fault."""

    def __init__(self, field, message):
        self.field, self.message = field, message
        super().__init__(message)


# -- definitions -------------------------------------------------------------------------------
def all_values(name, base):
    """Every valid value of a parameter, as the declaration allows it (for an axis set to "all")."""
    param = PARAMS[name]
    if param.kind == FLAG:
        return [False, True]
    if param.kind == CHOICE:
        return ([None] if param.nullable else []) + param.values
    if param.kind == CHOICES:
        return [sorted(subset) for size in range(len(param.values) + 1)
                for subset in itertools.combinations(param.values, size)]
    if name == "fail_host":  # every host of the run's cloud, one at a time, or every host at once
        return [None] + list(base.get("hosts") or [])
    raise CampaignError(f"axes.{name}", f"{name} has no finite set of values: list the ones to try.")


def axes_of(definition, base):
    """{parameter: [values]} of a definition, "all" expanded."""
    axes = definition.get("axes") or {}
    if not isinstance(axes, dict) or not axes:
        raise CampaignError("axes", "A campaign needs at least one axis: {parameter: [values] or \"all\"}.")
    expanded = {}
    for name, values in axes.items():
        if name not in PARAMS:
            raise CampaignError(f"axes.{name}", f"Unknown parameter '{name}'. Known: {', '.join(PARAMS)}.")
        if values == ALL:
            values = all_values(name, base)
        if not isinstance(values, list) or not values:
            raise CampaignError(f"axes.{name}", f"{name}: a non-empty list of values, or \"all\".")
        expanded[name] = values
    return expanded


def expand(definition):
    """(base scenario, overrides, axes, plan, skipped): the runs a definition makes and the
    combinations refused, each with the field and Nova's (or the simulator's) reason."""
    in_flight = definition.get("max_in_flight", DEFAULT_IN_FLIGHT)
    if isinstance(in_flight, bool) or not isinstance(in_flight, int) or not 1 <= in_flight <= 200:
        raise CampaignError("max_in_flight", "max_in_flight must be a whole number from 1 to 200.")
    scenario = definition.get("scenario") or SCENARIO.default
    if scenario not in SCENARIO.values:
        raise CampaignError("scenario", SCENARIO.unknown_message(scenario))
    overrides = definition.get("params") or {}
    try:
        base = resolve(scenario, overrides)
    except ParamError as error:
        raise CampaignError(f"params.{error.field}", error.message) from error
    axes = axes_of(definition, base)
    count = math.prod(len(values) for values in axes.values())
    shared = bool(base["cloud"]) or "cloud" in axes
    limit = MAX_SHARED_CLOUD_COMBINATIONS if shared else MAX_COMBINATIONS
    if count > limit:
        where = " in a shared cloud" if shared else ""
        raise CampaignError("axes", f"{count} combinations: a campaign has at most {limit}{where}: "
                                    "use fewer axes or values.")
    combinations = [dict(zip(axes, values)) for values in itertools.product(*axes.values())]
    sample = definition.get("sample")
    if sample is not None:
        if isinstance(sample, bool) or not isinstance(sample, int) or sample < 1:
            raise CampaignError("sample", "sample must be a whole number of runs, at least 1.")
        seed = definition.get("seed", 0)
        random.Random(seed).shuffle(combinations)
    plan, skipped = [], []
    for values in combinations:
        try:
            params = resolve(scenario, {**overrides, **values})
        except ParamError as error:
            skipped.append({"values": values, "field": error.field, "reason": error.message})
            continue
        refused = compute_api.refusal(params)  # Nova's API would answer 400 or 409
        if refused is not None:
            skipped.append({"values": values, "field": refused.field, "reason": refused.message})
            continue
        plan.append(values)
        if sample is not None and len(plan) == sample:
            break
    if len(plan) > MAX_RUNS:
        raise CampaignError("axes", f"{len(plan)} runs: a campaign makes at most {MAX_RUNS}.")
    return scenario, overrides, axes, plan, skipped


def parse_value(param, text):
    """One axis value as typed: ``null`` (or ``none``) for none; true/false, numbers, lists joined
    with ``+`` (bugs: ``1825537+...``; host names: ``host1+host2``). ValueError says what is wrong
    in the declaration's words ("max_attempts must be a whole number from 1 to 10.")."""
    text = text.strip()
    if text.lower() in NONE_WORDS and (param.nullable or param.kind == CHOICES):
        return [] if param.kind == CHOICES else None
    if param.kind == FLAG:
        if text.lower() in TRUE_WORDS:
            return True
        if text.lower() in FALSE_WORDS:
            return False
        raise ValueError(param.must_be())
    if param.kind in (INTEGER, NUMBER):
        try:
            number = int(text) if param.kind == INTEGER else float(text)
        except ValueError:
            raise ValueError(param.must_be()) from None
        return int(number) if isinstance(number, float) and number.is_integer() else number
    if param.kind in (CHOICES, NAMES):
        return [item.strip() for item in text.split("+") if item.strip()]
    return text


def parse_values(param, text):
    """A comma separated list of axis values (at least one)."""
    values = [parse_value(param, item) for item in text.split(",") if item.strip()]
    if not values:
        raise ValueError(f"{param.name}: list the values to try, comma separated.")
    return values


def format_value(param, value):
    """An axis value as ``parse_value`` reads it back."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "+".join(str(item) for item in value) or "none"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def preview(definition):
    """How many runs a definition makes and how many it skips (and why), before it starts."""
    _, _, axes, plan, skipped = expand(definition)
    reasons = {}
    for entry in skipped:
        reasons[entry["reason"]] = reasons.get(entry["reason"], 0) + 1
    return {"axes": axes, "runs": len(plan), "skipped": len(skipped),
            "skipped_reasons": sorted(reasons.items(), key=lambda item: -item[1])}


def create(definition, on_cast=None, name=""):
    """Expand a definition and start its first runs (once committed)."""
    scenario, overrides, axes, plan, skipped = expand(definition)
    in_flight = definition.get("max_in_flight", DEFAULT_IN_FLIGHT)
    campaign = Campaign.objects.create(
        name=name or definition.get("name", ""),
        definition={**definition, "scenario": scenario, "params": overrides, "axes": axes},
        plan=plan,
        skipped=skipped,
        max_in_flight=in_flight,
    )
    if on_cast is not None:
        transaction.on_commit(lambda: wake(campaign.pk))
    return campaign


# -- execution ---------------------------------------------------------------------------------
def dispatch(campaign_id, on_cast):
    """Start the campaign's next runs, up to ``max_in_flight`` unfinished at once; end it when every
    run has ended. Safe to call any number of times: each plan entry is run once."""
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().filter(pk=campaign_id).first()
        if campaign is None or campaign.is_finished:
            return 0
        unfinished = campaign.runs.unfinished().count()
        room = max(0, campaign.max_in_flight - unfinished)
        started = 0
        definition = campaign.definition
        while started < room and campaign.cursor < len(campaign.plan):
            index = campaign.cursor
            campaign.cursor += 1
            values = campaign.plan[index]
            try:
                with transaction.atomic():
                    start_run(definition["scenario"], {**definition["params"], **values}, on_cast=on_cast,
                              campaign=campaign, campaign_index=index)
            except InvalidRun as error:  # refused by the compute API (e.g. a shared cloud's server is busy)
                campaign.skipped = [*campaign.skipped, {"values": values, "field": error.field,
                                                         "reason": error.message}]
                continue
            except IntegrityError:  # already started by an earlier wake-up
                continue
            started += 1
        if campaign.cursor >= len(campaign.plan) and unfinished + started == 0:
            campaign.status, campaign.finished = CampaignStatus.DONE, timezone.now()
        campaign.save()
    return started


def wake(campaign_id):
    """A run of the campaign ended (or the reaper looked): let the dispatcher start the next ones."""
    from .tasks import send_dispatch

    send_dispatch(campaign_id)


def with_room():
    """Running campaigns with room for more runs (or all theirs ended): the reaper wakes them, in
    case a wake-up message was lost."""
    unfinished = Count("runs", filter=~Q(runs__status__in=RunStatus.TERMINAL))
    return list(
        Campaign.objects.filter(status=CampaignStatus.RUNNING)
        .annotate(unfinished=unfinished)
        .filter(unfinished__lt=F("max_in_flight"))
        .values_list("pk", flat=True)
    )


def run_in_process(campaign):
    """Run a whole campaign in this process, one run after the other (no Redis or worker)."""
    while True:
        with transaction.atomic():
            dispatch(campaign.pk, on_cast=None)
        pending = list(campaign.runs.unfinished())
        if not pending:
            campaign.refresh_from_db()
            if campaign.is_finished:
                return campaign
            continue
        for run in pending:
            run_to_completion(run)


def cancel(campaign, who):
    """Stop a campaign: no further run starts, the unfinished ones are aborted."""
    from .tasks import revoke

    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if locked.is_finished:
            return locked
        locked.status, locked.finished = CampaignStatus.CANCELLED, timezone.now()
        locked.save(update_fields=["status", "finished"])
    for run in campaign.runs.unfinished().only("pk"):
        try:
            _, task_id = abort(run.pk, who)
        except Exception:  # it ended meanwhile
            continue
        if task_id:
            revoke(task_id)
    return locked


# -- results -----------------------------------------------------------------------------------
OUTCOMES = {  # outcome -> (label, colour, severity: the worst colours a matrix cell)
    "orphaned": ("orphaned allocation (leak)", "red", 6),
    "missing": ("missing allocation", "red", 5),
    "flavor_mismatch": ("flavor mismatch", "orange", 4),
    "mismatch": ("verdict mismatch", "red", 3),
    "crashed": ("crashed", "red", 3),
    "ERROR": ("server ERROR", "yellow", 2),
    "VERIFY_RESIZE": ("server VERIFY_RESIZE", "blue", 1),
    "clean": ("clean", "green", 0),
}


def outcome(run):
    """What a finished run amounts to, worst first: a leak, a missing allocation, a flavor
    mismatch, a verdict mismatch or crash, the server in ERROR or VERIFY_RESIZE, or clean."""
    audit = run.audit or {}
    for kind in ("orphaned", "missing", "flavor_mismatch"):
        if audit.get(kind):
            return kind
    if run.status == RunStatus.CRASHED:
        return "crashed"
    if (run.verdict or {}).get("result") == "mismatch":
        return "mismatch"
    return run.server_status if run.server_status in ("ERROR", "VERIFY_RESIZE") else "clean"


def outcome_expression():
    """``outcome`` as an SQL expression of a run's row, for counting runs by outcome in the database
    (None for an unfinished run). A test keeps the two equal."""
    found = [When(Q(**{f"audit__{kind}__0__isnull": False}), then=Value(kind))
             for kind in ("orphaned", "missing", "flavor_mismatch")]
    return Case(
        When(~Q(status__in=RunStatus.TERMINAL), then=Value(None)),
        *found,
        When(status=RunStatus.CRASHED, then=Value("crashed")),
        When(verdict__result="mismatch", then=Value("mismatch")),
        When(server_status__in=("ERROR", "VERIFY_RESIZE"), then=F("server_status")),
        default=Value("clean"),
        output_field=CharField(),
    )


def progress(campaign):
    """done / total, runs per second and seconds left (an estimate). Uses the counts of
    ``Campaign.objects.with_counts()`` when the campaign carries them (a list's page), else one query."""
    if not hasattr(campaign, "run_count"):
        campaign = Campaign.objects.with_counts().get(pk=campaign.pk)
    total, runs, done = len(campaign.plan), campaign.run_count, campaign.runs_done
    elapsed = ((campaign.finished or timezone.now()) - campaign.first_run).total_seconds() if campaign.first_run else 0
    rate = done / elapsed if elapsed > 0 else None
    return {
        "status": campaign.status,
        "total": total,
        "done": done,
        "running": runs - done,
        "queued": total - runs,
        "skipped": len(campaign.skipped),
        "runs_per_second": round(rate, 2) if rate else None,
        "seconds_left": round((total - done) / rate, 1) if rate else None,
    }


def _percentile(ordered, share):
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def step_latencies(campaign):
    """Per pipeline step (in the pipeline's order): how many, and the median, p95 and maximum of
    the time it waited on its queue and the time it took, in milliseconds (one query)."""
    waited, took = {}, {}
    for name, queued, started, finished in RunStep.objects.filter(run__campaign=campaign).values_list(
        "name", "queued", "started", "finished"
    ):
        took.setdefault(name, []).append((finished - started).total_seconds() * 1000)
        if queued:
            waited.setdefault(name, []).append(max(0.0, (started - queued).total_seconds() * 1000))
    rows = []
    for name in [step for step in STEPS if step in took]:
        durations, waits = sorted(took[name]), sorted(waited.get(name, [0.0]))
        rows.append({
            "step": name,
            "count": len(durations),
            "took_ms": {"median": round(_percentile(durations, 0.5), 1), "p95": round(_percentile(durations, 0.95), 1),
                        "max": round(durations[-1], 1)},
            "waited_ms": {"median": round(_percentile(waits, 0.5), 1), "p95": round(_percentile(waits, 0.95), 1),
                          "max": round(waits[-1], 1)},
        })
    return rows


def results(campaign):
    """One row per run of the campaign, in plan order: its axis values, outcome and verdict."""
    rows = []
    for run in campaign.runs.order_by("campaign_index").only(
        "pk", "campaign", "campaign_index", "status", "audit", "verdict", "server_status", "started", "finished",
        "error",
    ):
        rows.append({
            "index": run.campaign_index,
            "run": run.pk,
            "values": campaign.plan[run.campaign_index],
            "status": run.status,
            "outcome": outcome(run) if run.is_finished else None,
            "verdict": (run.verdict or {}).get("result"),
            "audit": run.audit_summary,
            "server_status": run.server_status or None,
            "duration": run.duration,
            "error": run.error or None,
        })
    return rows


def failing(row):
    """A run a CI pipeline fails on: the audit found something, or the expected outcome was not met."""
    return row["audit"] not in (None, "clean") or row["verdict"] == "mismatch" or row["status"] == RunStatus.CRASHED


def case_name(values):
    return " ".join(f"{name}={json.dumps(value)}" for name, value in values.items())


def as_csv(campaign):
    rows = results(campaign)
    axes = list(campaign.definition.get("axes", {}))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["run", *axes, "status", "outcome", "verdict", "audit", "server_status", "duration"])
    for row in rows:
        writer.writerow([row["run"], *(_cell(row["values"].get(axis)) for axis in axes), row["status"],
                         row["outcome"] or "", row["verdict"] or "", row["audit"] or "", row["server_status"] or "",
                         "" if row["duration"] is None else f"{row['duration']:.3f}"])
    return out.getvalue()


def _cell(value):
    """A CSV cell: names as they are, anything else (null, lists, booleans) as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def as_junit(campaign):
    """JUnit XML: one testcase per run, named by its parameters; a leak or an unmet expectation fails it."""
    rows = results(campaign)
    suite = ElementTree.Element(
        "testsuite", name=f"campaign {campaign.pk} {campaign.name}".strip(), tests=str(len(rows)),
        failures=str(sum(failing(row) for row in rows)), skipped=str(len(campaign.skipped)),
    )
    for row in rows:
        case = ElementTree.SubElement(suite, "testcase", classname=f"campaign{campaign.pk}",
                                      name=case_name(row["values"]),
                                      time="" if row["duration"] is None else f"{row['duration']:.3f}")
        if failing(row):
            failure = ElementTree.SubElement(case, "failure", message=f"{row['outcome']}: audit {row['audit']}, "
                                                                     f"verdict {row['verdict']}")
            failure.text = f"run {row['run']}: {row['error'] or row['outcome']}"
    for entry in campaign.skipped:
        case = ElementTree.SubElement(suite, "testcase", classname=f"campaign{campaign.pk}", name=case_name(entry["values"]))
        ElementTree.SubElement(case, "skipped", message=f"{entry['field']}: {entry['reason']}")
    return ElementTree.tostring(suite, encoding="unicode")


def as_json(campaign):
    return {
        "id": campaign.pk,
        "name": campaign.name,
        "definition": campaign.definition,
        "progress": progress(campaign),
        "runs": results(campaign),
        "skipped": campaign.skipped,
        "step_latencies": step_latencies(campaign),
    }
