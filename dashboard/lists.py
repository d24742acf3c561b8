"""The dashboard's list pages: providers (overview and detail), hosts, servers, migrations, runs.

Every list is a ``Listing``: the FilterSet of its model (``dashboard/filters.py``, the same the
API filters with), whose form is the page's GET filter bar (no JavaScript needed), a sort among
the FilterSet's sort keys, its columns, and a page of ``PER_PAGE`` rows from Django's Paginator,
drawn by ``templates/lists/list.html`` with one row partial per list. Bad input never breaks a
page: an invalid filter value shows its error and is ignored (a free-text name simply matches
nothing), an unknown sort key falls back to the default sort, and ``?page=`` that is not a number
or is out of range gives the first or last page.

Each page costs a fixed number of SQL queries whatever its number of rows
(``select_related``, subquery annotations, and one query per kind of data for the
whole page); ``tests/test_pages_lists.py`` pins the numbers. Everything shown is
computed here, not in templates, and the domain rules (capacity, usages, the
audit, the API status) come from the simulator.
"""
from dataclasses import dataclass

from django import forms
from django.core.paginator import Paginator
from django.db.models import Count, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404, render
from django.urls import reverse

from simulator.audit import FINDING_KINDS, audit_cloud, findings
from simulator.driver import POINTS, failure_problem
from simulator.models import Cloud, Host, Migration, ResourceProvider, Run, RunStep, Server
from simulator.report import snapshot
from simulator.states import RESOURCE_CLASSES, AuditKind

from . import filters
from .usage import build_bars, cloud_scales, consumer_names, human

PER_PAGE = 25
CLOUD_SUGGESTIONS = 100  # newest cloud names offered in the cloud filter's datalist
SEED_HINT = "Seed the demo cloud (python manage.py seed_demo) or start a run: each run builds its own cloud."


# -- the lists' skeleton: columns, sort, filters, page ----------------------------------------------
@dataclass(frozen=True)
class Column:
    label: str
    sort: str = ""  # the sort key this header toggles; "" for a column that does not sort
    num: bool = False


@dataclass(frozen=True)
class Listing:
    """One list page: its FilterSet, title, columns, and what its empty state says.

    ``templates/lists/rows/<what>.html`` draws one row; ``hidden`` filters are accepted (the API
    has them) but not shown in the filter bar, where another filter says the same.
    """

    filterset: type
    title: str
    what: str
    hint: str
    columns: tuple
    template: str = "lists/list.html"
    hidden: tuple = ()

    def __post_init__(self):
        unknown = [c.sort for c in self.columns if c.sort and c.sort not in self.filterset.sorts]
        assert not unknown, f"{self.what}: columns sort by unknown keys {unknown}"

    @property
    def row(self):
        return f"lists/rows/{self.what}.html"


class SortForm(forms.Form):
    """The sort select, last in the filter bar; it shows the sort in effect (the default one for
    an unknown key)."""

    sort = forms.CharField(required=False, widget=forms.Select)

    def __init__(self, data, filterset):
        self.value = data.get("sort") if filterset.known_sort(data.get("sort")) else filterset.default_sort
        super().__init__({"sort": self.value})
        self.fields["sort"].widget.choices = [
            (prefix + key, f"{sort.label} {arrow}")
            for key, sort in filterset.sorts.items()
            for prefix, arrow in (("", "↑"), ("-", "↓"))
        ]


def _headers(request, columns, sort):
    """Header links that sort by a column (ascending first, then the other way) and keep the filters."""
    headers = []
    for column in columns:
        header = {"label": column.label, "num": column.num, "href": "", "arrow": "", "aria_sort": ""}
        if column.sort:
            query = request.GET.copy()
            query.pop("page", None)
            if sort == column.sort:
                query["sort"], header["arrow"], header["aria_sort"] = f"-{column.sort}", "▲", "ascending"
            elif sort == f"-{column.sort}":
                query["sort"], header["arrow"], header["aria_sort"] = column.sort, "▼", "descending"
            else:
                query["sort"] = column.sort
            header["href"] = f"?{query.urlencode()}"
        headers.append(header)
    return headers


def _cloud_names():
    return list(Cloud.objects.order_by("-shared", "-created", "-id").values_list("name", flat=True)[:CLOUD_SUGGESTIONS])


def _show(request, listing, queryset, rows):
    """The list page: ``queryset`` filtered and sorted, one page of it (``?page=abc`` gives the
    first, ``?page=999`` the last: two queries, count and rows) and ``rows(objects)`` to draw."""
    filterset = listing.filterset(request.GET, queryset=queryset)
    for name, field in filterset.form.fields.items():
        field.help_text = ""  # the API's parameter descriptions; the bar's labels say enough
        if name in listing.hidden:
            field.widget = forms.HiddenInput()
    sorting = SortForm(request.GET, listing.filterset)
    ordered = filterset.qs.order_by(*listing.filterset.order_by([sorting.value]))
    page = Paginator(ordered, PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        listing.template,
        {
            "listing": listing,
            "filterset": filterset,
            "fields": [*filterset.form, sorting["sort"]],
            "filtered": any(value not in (None, "", []) for value in filterset.form.cleaned_data.values()),
            "columns": _headers(request, listing.columns, sorting.value),
            "page_obj": page,
            "rows": rows(page.object_list),
            "cloud_names": _cloud_names(),
        },
    )


# -- providers ---------------------------------------------------------------------------------
PROVIDERS = Listing(
    filters.ProviderFilter, "Resource providers", "providers", SEED_HINT,
    columns=(Column("Provider", "name"), Column("Cloud", "cloud"), Column("Host"), Column("Generation", num=True),
             *(Column(f"{rc} used / capacity", num=True) for rc in RESOURCE_CLASSES)),
    template="lists/providers.html",  # the bars above the table
)


def _usage_cells(snap, name):
    """Per resource class: used, capacity and whether it is over capacity ("—" cells where no inventory)."""
    cells = []
    for rc in RESOURCE_CLASSES:
        inventory = snap["inventories"].get(name, {}).get(rc)
        used = snap["usages"].get(name, {}).get(rc, 0)
        if inventory is None:
            cells.append({"rc": rc, "used": used, "capacity": None, "over": False})
        else:
            cells.append({"rc": rc, "used": used, "capacity": inventory["capacity"], "over": used > inventory["capacity"]})
    return cells


def _overview_key(provider):
    return f"{provider.cloud.name}/{provider.name}"  # provider names repeat across clouds


def _provider_rows(providers):
    snap = snapshot(providers=providers, name=_overview_key)
    scales = cloud_scales(providers)
    bars = build_bars(snap, "now", consumer_names([snap]), {_overview_key(p): scales[p.pk] for p in providers})
    return [
        {
            "provider": provider,
            "url": reverse("provider-detail", args=[provider.uuid]),
            "bars": bars.get(_overview_key(provider), []),
            "cells": _usage_cells(snap, _overview_key(provider)),
        }
        for provider in providers
    ]


def provider_list(request):
    """Every provider's usage bars and used / capacity per class, by cloud."""
    return _show(request, PROVIDERS, ResourceProvider.objects.select_related("cloud", "host"), _provider_rows)


def provider_detail(request, uuid):
    """One provider: inventory, bars, allocations by consumer, and the audit's findings on it."""
    provider = get_object_or_404(ResourceProvider.objects.select_related("cloud", "host"), uuid=uuid)
    audit = audit_cloud(provider.cloud)
    mine = {kind: [f for f in audit[kind] if f["provider"] == provider.name] for kind in FINDING_KINDS}
    snap = snapshot(providers=[provider])
    names = consumer_names([snap])
    scales = {provider.name: cloud_scales([provider])[provider.pk]}
    bars = build_bars(snap, "now", names, scales, audit=mine).get(provider.name, [])

    inventory = []
    for rc, inv in sorted(snap["inventories"].get(provider.name, {}).items(), key=_rc_order):
        used = snap["usages"][provider.name].get(rc, 0)
        inventory.append({"rc": rc, **inv, "used": used, "over": used > inv["capacity"]})

    flags = {f["consumer_uuid"]: AuditKind.ORPHANED for f in mine[AuditKind.ORPHANED]}
    flags.update({f["server_uuid"]: AuditKind.FLAVOR_MISMATCH for f in mine[AuditKind.FLAVOR_MISMATCH]})
    allocations = [
        {
            "consumer_uuid": alloc["consumer_uuid"],
            "consumer_type": alloc["consumer_type"],
            "name": names.get(alloc["consumer_uuid"]),
            "resources": " · ".join(human(rc, amount) for rc, amount in _by_rc(alloc["resources"])),
            "raw": ", ".join(f"{rc}={amount}" for rc, amount in _by_rc(alloc["resources"])),
            "flag": flags.get(alloc["consumer_uuid"], ""),
        }
        for alloc in snap["allocations"]
    ]
    provider_findings = [{"kind": kind, **finding} for kind, finding in findings(mine)]
    return render(
        request,
        "lists/provider_detail.html",
        {
            "provider": provider,
            "inventory": inventory,
            "bars": bars,
            "allocations": allocations,
            "findings": provider_findings,
            "audit_clean": audit["exit_code"] == 0,
        },
    )


def _rc_order(item):
    """Sort key for (resource class, value) pairs: VCPU, MEMORY_MB, DISK_GB, then any other."""
    rc = item[0]
    return (RESOURCE_CLASSES.index(rc) if rc in RESOURCE_CLASSES else len(RESOURCE_CLASSES), rc)


def _by_rc(resources):
    return sorted(resources.items(), key=_rc_order)


# -- hosts -------------------------------------------------------------------------------------
HOSTS = Listing(
    filters.HostFilter, "Compute hosts", "hosts", SEED_HINT,
    columns=(Column("Host", "name"), Column("Cloud", "cloud"), Column("Service"), Column("Driver"),
             Column("Injected failures"), Column("Provider"), Column("Servers", "servers", num=True)),
    hidden=("service_up",),  # the API's service_up=true|false; the bar has service=up|down
)


def describe_failure(failure):
    """One entry of ``Host.failures`` for people: where it fails and with what."""
    if failure_problem(failure):
        return f"invalid: {failure!r}"
    point = POINTS[failure["point"]]
    text = f"{point.where} raises {failure.get('exception') or point.default_exception}"
    if failure.get("inner_exception"):
        text += f"({failure['inner_exception']})"
    if failure.get("reason"):
        text += f": {failure['reason']}"
    return text


def _host_row(host):
    provider = getattr(host, "provider", None)  # None when the host has no provider
    failures = host.failures or []
    failures = failures if isinstance(failures, list) else [failures]  # hand-edited JSON
    return {
        "host": host,
        "provider": provider,
        "provider_url": reverse("provider-detail", args=[provider.uuid]) if provider else "",
        "failures": [describe_failure(f) for f in failures],
    }


def host_list(request):
    """Compute hosts: service state, driver, injected failures, provider, servers on them (the
    FilterSet counts them)."""
    hosts = Host.objects.select_related("cloud", "provider")
    return _show(request, HOSTS, hosts, lambda page: [_host_row(host) for host in page])


# -- servers -----------------------------------------------------------------------------------
SERVERS = Listing(
    filters.ServerFilter, "Servers", "servers", "Start a run: it boots its server.",
    columns=(Column("Server", "name"), Column("Cloud", "cloud"), Column("Status"), Column("vm_state", "vm_state"),
             Column("task_state"), Column("Host"), Column("Flavor"), Column("Latest fault"),
             Column("Updated", "updated")),
)


def _server_row(server):
    return {
        "server": server,
        "status": server.status,
        "node_url": reverse("provider-detail", args=[server.node.uuid]) if server.node else "",
    }


def server_list(request):
    """Servers with their API status, states, host, flavor and latest fault."""
    servers = Server.objects.select_related("cloud", "host", "node", "flavor").with_latest_fault()
    return _show(request, SERVERS, servers, lambda page: [_server_row(server) for server in page])


# -- migrations --------------------------------------------------------------------------------
MIGRATIONS = Listing(
    filters.MigrationFilter, "Migrations", "migrations", "A resize creates one.",
    columns=(Column("Migration"), Column("Cloud"), Column("Server"), Column("Status", "status"), Column("Type"),
             Column("Source → dest"), Column("Old → new flavor"), Column("Created", "created")),
)


def _migration_row(m):
    return {
        "migration": m,
        "route": f"{m.source_compute.name} → {m.dest_compute.name if m.dest_compute else '—'}",
        "flavors": f"{m.old_flavor.name} → {m.new_flavor.name}",
    }


def migration_list(request):
    """Migration records: status, type, source → dest, old → new flavor."""
    migrations = Migration.objects.select_related(
        "cloud", "server", "source_compute", "dest_compute", "old_flavor", "new_flavor"
    )
    return _show(request, MIGRATIONS, migrations, lambda page: [_migration_row(m) for m in page])


# -- runs --------------------------------------------------------------------------------------
RUNS = Listing(
    filters.RunFilter, "Runs", "runs", "Start one from New run.",
    columns=(Column("Run", "id", num=True), Column("Scenario"), Column("Injected"), Column("Status"), Column("Verdict"),
             Column("Audit"), Column("Cloud"), Column("Created", "created"), Column("Finished", "finished"),
             Column("Steps", num=True), Column("Duration", num=True)),
)


def _run_row(run):
    return {
        "run": run,
        "url": reverse("run-detail", args=[run.pk]),
        "injected": run.injected["summary"],
        "duration": "" if run.duration is None else f"{run.duration:.2f} s",
    }


def run_list(request):
    """Runs: scenario, status, verdict, cloud, times and steps."""
    steps = RunStep.objects.filter(run=OuterRef("pk")).order_by().values("run").annotate(n=Count("pk")).values("n")
    runs = (
        Run.objects.select_related("cloud")
        .defer("pipeline_state", "before", "after", "error", "cloud__description")
        .annotate(step_count=Coalesce(Subquery(steps, output_field=IntegerField()), Value(0)))
    )
    return _show(request, RUNS, runs, lambda page: [_run_row(run) for run in page])
