"""``/metrics``: the dashboard's state in Prometheus' text exposition format, read from the database
at scrape time by a custom collector on its own registry. No value lives in a process, so any web
process answers a scrape, and all answer alike.

- Placement, per provider and resource class, under openstack-exporter's names and labels
  (``hostname``, ``resourcetype``) plus ``cloud``, since provider names repeat across clouds:
  ``openstack_placement_resource_{total,reserved,allocation_ratio,usage}``;
- the audit's findings per provider and kind: ``resize_dashboard_audit_findings``;
- runs by status, finished runs by outcome and verdict, campaigns by status;
- each pipeline step's queue wait and duration as histograms.

A scrape makes the same few queries whatever the number of clouds, runs and steps: the counts and
histograms are aggregated by the database; only the audit reads the clouds' rows, with the audit's
own code (``simulator.audit.audit_clouds``). ``?cloud=NAME`` (repeatable) limits the per-provider
families to those clouds. Read access is the REST API's: open in local debug mode, a token
(``Authorization: Token …``) or a session otherwise.
"""
from collections import Counter

from django.db.models import BigIntegerField, Count, F, Func, Q, Sum, Value
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce, Greatest
from django.http import HttpResponse
from django.urls import path
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from simulator.audit import audit_clouds, findings
from simulator.campaigns import OUTCOMES, outcome_expression
from simulator.models import Campaign, Cloud, Inventory, ResourceProvider, Run, RunStep
from simulator.pipeline import STEPS
from simulator.states import FINDING_KINDS, CampaignStatus, RunStatus, VerdictResult

PLACEMENT = "openstack_placement"
NAMESPACE = "resize_dashboard"
PROVIDER_LABELS = ["cloud", "hostname", "resourcetype"]
# Upper bounds (seconds) of the step histograms' buckets: a step takes milliseconds, a hop through
# the broker a few, a step_delay up to a minute.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class DashboardCollector(Collector):
    """Reads the database each time the registry collects (a scrape)."""

    def __init__(self, clouds=None):
        self.clouds = clouds  # names, or None for every cloud

    def _clouds(self):
        clouds = Cloud.objects.all()
        return clouds if self.clouds is None else clouds.filter(name__in=self.clouds)

    def collect(self):
        yield from self.placement()
        yield self.audit()
        yield from self.runs()
        yield self.campaigns()
        yield from self.steps()

    def placement(self):
        """openstack-exporter's placement gauges: one query (usage summed from the allocations)."""
        about = {
            "total": "Inventory total of the resource class on the provider.",
            "reserved": "Inventory reserved of the resource class on the provider.",
            "allocation_ratio": "Inventory allocation ratio of the resource class on the provider.",
            "usage": "What the provider's allocations hold of the resource class (Placement's usages).",
        }
        families = [GaugeMetricFamily(f"{PLACEMENT}_resource_{name}", text, labels=PROVIDER_LABELS)
                    for name, text in about.items()]
        of_class = Q(provider__allocations__resource_class=F("resource_class"))
        rows = (
            Inventory.objects.filter(provider__cloud__in=self._clouds())
            .annotate(usage=Coalesce(Sum("provider__allocations__used", filter=of_class), 0))
            .order_by("provider__cloud__name", "provider__name", "resource_class")
            .values_list("provider__cloud__name", "provider__name", "resource_class", *about)
        )
        for cloud, hostname, rc, *values in rows:
            for family, value in zip(families, values):
                family.add_metric([cloud, hostname, rc], value)
        return families

    def audit(self):
        """Every provider's findings per kind, 0 included: each cloud's audit, as the pages show it."""
        family = GaugeMetricFamily(
            f"{NAMESPACE}_audit_findings",
            "Findings of the allocation audit on the provider, by kind (orphaned, missing, flavor_mismatch).",
            labels=["cloud", "hostname", "kind"],
        )
        clouds = self._clouds()
        providers = (ResourceProvider.objects.filter(cloud__in=clouds)
                     .order_by("cloud__name", "name").values_list("cloud_id", "cloud__name", "name"))
        found = Counter()  # (cloud id, provider name, kind) -> findings
        for cloud_id, audit in audit_clouds(clouds).items():
            for kind, finding in findings(audit):
                found[cloud_id, finding["provider"], kind] += 1
        for cloud_id, cloud, hostname in providers:
            for kind in FINDING_KINDS:
                family.add_metric([cloud, hostname, kind], found[cloud_id, hostname, kind])
        return family

    def runs(self):
        """Runs by status, finished runs by outcome and verdict: one GROUP BY."""
        by_status = GaugeMetricFamily(f"{NAMESPACE}_runs", "Runs by status.", labels=["status"])
        finished = CounterMetricFamily(f"{NAMESPACE}_runs_finished",
                                       "Finished runs by outcome (as campaigns classify them) and verdict.",
                                       labels=["outcome", "verdict"])
        statuses = dict.fromkeys(RunStatus.values, 0)
        outcomes = {(outcome, verdict): 0 for outcome in OUTCOMES for verdict in VerdictResult.values}
        rows = (
            Run.objects.annotate(outcome=outcome_expression(), verdict_result=KT("verdict__result"))
            .values_list("status", "outcome", "verdict_result")
            .annotate(count=Count("pk"))
            .order_by()
        )
        for status, outcome, verdict, count in rows:
            statuses[status] = statuses.get(status, 0) + count
            if outcome is not None:  # finished (Run.finish gives it its verdict)
                key = (outcome, verdict or VerdictResult.NONE.value)
                outcomes[key] = outcomes.get(key, 0) + count
        for status, count in statuses.items():
            by_status.add_metric([status], count)
        for (outcome, verdict), count in outcomes.items():
            finished.add_metric([outcome, verdict], count)
        return by_status, finished

    def campaigns(self):
        family = GaugeMetricFamily(f"{NAMESPACE}_campaigns", "Campaigns by status.", labels=["status"])
        counts = dict.fromkeys(CampaignStatus.values, 0)
        counts.update(Campaign.objects.values_list("status").annotate(count=Count("pk")).order_by())
        for status, count in counts.items():
            family.add_metric([status], count)
        return family

    def steps(self):
        """Per pipeline step: the queue wait (started − queued, for a step whose cast time is known,
        never below 0) and the duration (finished − started), bucketed by the database, in
        microseconds."""
        took = Microseconds("finished") - Microseconds("started")
        waited = Greatest(Microseconds("started") - Microseconds("queued"), Value(0))
        queued = Q(queued__isnull=False)  # PostgreSQL's GREATEST skips a NULL: only these steps have a wait
        aggregates = {"took_count": Count("pk"), "took_sum": Sum("took"),
                      "waited_count": Count("pk", filter=queued), "waited_sum": Sum("waited", filter=queued)}
        for index, bound in enumerate(BUCKETS):
            limit = round(bound * 1_000_000)
            aggregates[f"took_{index}"] = Count("pk", filter=Q(took__lte=limit))
            aggregates[f"waited_{index}"] = Count("pk", filter=queued & Q(waited__lte=limit))
        steps = RunStep.objects.annotate(took=took, waited=waited).values("name").annotate(**aggregates).order_by()
        rows = {row["name"]: row for row in steps}
        wait = HistogramMetricFamily(f"{NAMESPACE}_step_queue_wait_seconds",
                                     "Time a pipeline step's cast waited on its queue before a worker started it.",
                                     labels=["step"])
        duration = HistogramMetricFamily(f"{NAMESPACE}_step_duration_seconds",
                                         "Time a pipeline step took, from its start to its end.", labels=["step"])
        order = [name for name in STEPS if name in rows] + sorted(set(rows) - set(STEPS))
        for name in order:
            row = rows[name]
            for family, prefix in ((wait, "waited"), (duration, "took")):
                buckets = [(floatToGoString(bound), row[f"{prefix}_{index}"]) for index, bound in enumerate(BUCKETS)]
                buckets.append(("+Inf", row[f"{prefix}_count"]))
                family.add_metric([name], buckets, (row[f"{prefix}_sum"] or 0) / 1_000_000)
        return wait, duration


class Microseconds(Func):
    """A datetime column as whole microseconds since the epoch, computed by the database itself.

    Django subtracts datetimes on SQLite with a Python function, called on every row once per use
    (a step row uses each difference in 17 aggregates); SQLite's own date functions count whole
    milliseconds, so the seconds come from them and the microseconds from the text Django stores,
    ``YYYY-MM-DD HH:MM:SS[.ffffff]`` in UTC.
    """

    arity = 1
    output_field = BigIntegerField()

    def as_sqlite(self, compiler, connection, **extra):
        column, params = compiler.compile(self.source_expressions[0])
        seconds = f"CAST(round((julianday(substr({column}, 1, 19)) - 2440587.5) * 86400) AS INTEGER)"
        micro = f"CAST(substr({column} || '.000000', 21, 6) AS INTEGER)"
        return f"({seconds} * 1000000 + {micro})", [*params, *params]

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="(EXTRACT(EPOCH FROM %(expressions)s) * 1000000)::bigint",
                           **extra)


def exposition(clouds=None):
    """The text document a scrape gets."""
    registry = CollectorRegistry()
    registry.register(DashboardCollector(clouds))
    return generate_latest(registry)


class AnyAccept(BaseContentNegotiation):
    """Whatever a scraper accepts (Prometheus asks for OpenMetrics first), it gets the text format;
    a refusal is the API's JSON."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class MetricsView(APIView):
    """``GET /metrics[?cloud=NAME...]``, readable as the REST API is (its default permissions and
    authentication)."""

    schema = None  # not an endpoint of the REST API's schema
    renderer_classes = [JSONRenderer]
    content_negotiation_class = AnyAccept

    def get(self, request):
        clouds = request.query_params.getlist("cloud") or None
        return HttpResponse(exposition(clouds), content_type=CONTENT_TYPE_LATEST)


urlpatterns = [path("", MetricsView.as_view(), name="metrics")]  # config/urls.py mounts it at /metrics
