"""The dashboard's list pages: providers (overview and detail), hosts, servers, migrations, runs.

Every list is a GET filter form (no JavaScript needed), a whitelisted sort, and a
page of ``PER_PAGE`` rows from Django's Paginator. Bad input never breaks a page:
an unknown filter value shows its error and is ignored (a free-text cloud name
simply matches nothing), an unknown sort key falls back to the default sort, and
``?page=`` that is not a number or is out of range gives the first or last page.

Each page costs a fixed number of SQL queries whatever its number of rows
(``select_related``, subquery annotations, and one query per kind of data for the
whole page); ``tests/test_pages_lists.py`` pins the numbers. Everything shown is
computed here, not in templates, and the domain rules (capacity, usages, the
audit, the API status) come from the simulator.
"""
from dataclasses import dataclass

from django import forms
from django.core.paginator import Paginator
from django.db.models import Count, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404, render
from django.urls import reverse

from simulator.audit import FINDING_KINDS, audit_cloud, findings
from simulator.driver import POINTS, failure_problem
from simulator.models import (
    Cloud,
    Host,
    InstanceFault,
    Migration,
    ResourceProvider,
    Run,
    RunStatus,
    RunStep,
    Server,
)
from simulator.report import snapshot
from simulator.scenarios import CUSTOM, SCENARIOS
from simulator.states import RESOURCE_CLASSES, MigrationStatus, MigrationType, VerdictResult, VmState

from .usage import build_bars, cloud_scales, consumer_names, human

PER_PAGE = 25
CLOUD_SUGGESTIONS = 100  # newest cloud names offered in the cloud filter's datalist


# -- filters, sorting, pagination -------------------------------------------------------------
class ListFilters(forms.Form):
    """A list's GET filters. ``SORTS`` maps a sort key to (label, order_by fields);
    ``-key`` sorts the other way; anything else falls back to ``DEFAULT_SORT``."""

    SORTS: dict = {}
    DEFAULT_SORT = ""

    cloud = forms.CharField(
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"list": "cloud-names", "placeholder": "any cloud", "size": 12}),
    )
    sort = forms.CharField(required=False, widget=forms.Select)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.is_bound and not self.known_sort(self.data.get("sort")):
            self.data = self.data.copy()  # the select shows the sort in effect
            self.data["sort"] = self.DEFAULT_SORT
        self.order_fields([name for name in self.fields if name != "sort"] + ["sort"])
        self.fields["sort"].widget.choices = [
            (prefix + key, f"{label} {arrow}")
            for key, (label, _) in self.SORTS.items()
            for prefix, arrow in (("", "↑"), ("-", "↓"))
        ]

    def clean_cloud(self):
        return self.cleaned_data["cloud"].strip()

    def known_sort(self, value):
        return isinstance(value, str) and value.removeprefix("-") in self.SORTS

    def clean_sort(self):
        value = self.cleaned_data.get("sort")
        return value if self.known_sort(value) else self.DEFAULT_SORT

    def values(self):
        """The valid filters (invalid ones are left out) with the sort resolved."""
        self.is_valid()
        values = dict(self.cleaned_data)
        values["sort"] = values.get("sort") or self.DEFAULT_SORT
        return values

    def order_by(self, sort):
        fields = self.SORTS[sort.removeprefix("-")][1]
        if sort.startswith("-"):
            fields = [f[1:] if f.startswith("-") else f"-{f}" for f in fields]
        return fields


def _choices(choices, blank="any"):
    return [("", blank), *choices]


@dataclass
class Column:
    label: str
    sort: str = ""  # the sort key this header toggles; "" for a column that does not sort
    num: bool = False
    href: str = ""
    arrow: str = ""
    aria_sort: str = ""


def _columns(request, columns, sort):
    """Header links that sort by a column (ascending first, then the other way) and keep the filters."""
    for column in columns:
        if not column.sort:
            continue
        query = request.GET.copy()
        query.pop("page", None)
        if sort == column.sort:
            query["sort"], column.arrow, column.aria_sort = f"-{column.sort}", "▲", "ascending"
        elif sort == f"-{column.sort}":
            query["sort"], column.arrow, column.aria_sort = column.sort, "▼", "descending"
        else:
            query["sort"] = column.sort
        column.href = f"?{query.urlencode()}"
    return columns


def _page(request, queryset):
    """One page: ``?page=abc`` gives the first, ``?page=999`` the last (two queries: count, rows)."""
    return Paginator(queryset, PER_PAGE).get_page(request.GET.get("page"))


def _cloud_names():
    return list(Cloud.objects.order_by("-shared", "-created", "-id").values_list("name", flat=True)[:CLOUD_SUGGESTIONS])


def _active(values, *names):
    return any(values.get(name) for name in names)


def _render(request, template, form, values, page, columns, **context):
    return render(
        request,
        template,
        {
            "form": form,
            "page_obj": page,
            "columns": _columns(request, columns, values["sort"]),
            "cloud_names": _cloud_names(),
            **context,
        },
    )


# -- providers ---------------------------------------------------------------------------------
class ProviderFilters(ListFilters):
    SORTS = {"name": ("Name", ["name", "cloud__name", "id"]), "cloud": ("Cloud", ["cloud__name", "name", "id"])}
    DEFAULT_SORT = "cloud"


def _usage_cells(snapshot, name):
    """Per resource class: used, capacity and whether it is over capacity ("—" cells where no inventory)."""
    cells = []
    for rc in RESOURCE_CLASSES:
        inventory = snapshot["inventories"].get(name, {}).get(rc)
        used = snapshot["usages"].get(name, {}).get(rc, 0)
        if inventory is None:
            cells.append({"rc": rc, "used": used, "capacity": None, "over": False})
        else:
            cells.append({"rc": rc, "used": used, "capacity": inventory["capacity"], "over": used > inventory["capacity"]})
    return cells


def _overview_key(provider):
    return f"{provider.cloud.name}/{provider.name}"  # provider names repeat across clouds


def provider_list(request):
    """Every provider's usage bars and used / capacity per class, by cloud."""
    form = ProviderFilters(request.GET)
    values = form.values()
    providers = ResourceProvider.objects.select_related("cloud", "host")
    if values.get("cloud"):
        providers = providers.filter(cloud__name=values["cloud"])
    page = _page(request, providers.order_by(*form.order_by(values["sort"])))
    snap = snapshot(providers=page.object_list, name=_overview_key)
    scales = cloud_scales(page.object_list)
    bars = build_bars(snap, "now", consumer_names([snap]), {_overview_key(p): scales[p.pk] for p in page.object_list})
    rows = [
        {
            "provider": provider,
            "url": reverse("provider-detail", args=[provider.uuid]),
            "bars": bars.get(_overview_key(provider), []),
            "cells": _usage_cells(snap, _overview_key(provider)),
        }
        for provider in page.object_list
    ]
    columns = [
        Column("Provider", "name"),
        Column("Cloud", "cloud"),
        Column("Host"),
        Column("Generation", num=True),
        *(Column(f"{rc} used / capacity", num=True) for rc in RESOURCE_CLASSES),
    ]
    return _render(
        request, "lists/providers.html", form, values, page, columns, rows=rows, filtered=_active(values, "cloud")
    )


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

    flags = {f["consumer_uuid"]: "orphaned" for f in mine["orphaned"]}
    flags.update({f["server_uuid"]: "flavor mismatch" for f in mine["flavor_mismatch"]})
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
    provider_findings = [{"kind": FINDING_KINDS[kind], **finding} for kind, finding in findings(mine)]
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
class HostFilters(ListFilters):
    SORTS = {
        "name": ("Name", ["name", "cloud__name", "id"]),
        "cloud": ("Cloud", ["cloud__name", "name", "id"]),
        "servers": ("Servers", ["server_count", "cloud__name", "name", "id"]),
    }
    DEFAULT_SORT = "cloud"
    service = forms.ChoiceField(required=False, choices=_choices([("up", "up"), ("down", "down")]))


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


def host_list(request):
    """Compute hosts: service state, driver, injected failures, provider, servers on them."""
    form = HostFilters(request.GET)
    values = form.values()
    on_host = (
        Server.objects.filter(host=OuterRef("pk"))
        .exclude(vm_state=VmState.DELETED)
        .order_by()
        .values("host")
        .annotate(n=Count("pk"))
        .values("n")
    )
    hosts = Host.objects.select_related("cloud", "provider").annotate(
        server_count=Coalesce(Subquery(on_host, output_field=IntegerField()), Value(0))
    )
    if values.get("cloud"):
        hosts = hosts.filter(cloud__name=values["cloud"])
    if values.get("service"):
        hosts = hosts.filter(service_up=values["service"] == "up")
    page = _page(request, hosts.order_by(*form.order_by(values["sort"])))
    rows = []
    for host in page.object_list:
        provider = getattr(host, "provider", None)  # None when the host has no provider
        failures = host.failures or []
        failures = failures if isinstance(failures, list) else [failures]  # hand-edited JSON
        rows.append(
            {
                "host": host,
                "provider": provider,
                "provider_url": reverse("provider-detail", args=[provider.uuid]) if provider else "",
                "failures": [describe_failure(f) for f in failures],
            }
        )
    columns = [
        Column("Host", "name"),
        Column("Cloud", "cloud"),
        Column("Service"),
        Column("Driver"),
        Column("Injected failures"),
        Column("Provider"),
        Column("Servers", "servers", num=True),
    ]
    return _render(
        request, "lists/hosts.html", form, values, page, columns, rows=rows, filtered=_active(values, "cloud", "service")
    )


# -- servers -----------------------------------------------------------------------------------
class ServerFilters(ListFilters):
    SORTS = {
        "name": ("Name", ["name", "cloud__name", "id"]),
        "cloud": ("Cloud", ["cloud__name", "name", "id"]),
        "vm_state": ("vm_state", ["vm_state", "cloud__name", "name", "id"]),
        "updated": ("Updated", ["updated", "id"]),
    }
    DEFAULT_SORT = "cloud"
    vm_state = forms.ChoiceField(required=False, choices=_choices(VmState.choices), label="vm_state")


def server_list(request):
    """Servers with their API status, states, host, flavor and latest fault."""
    form = ServerFilters(request.GET)
    values = form.values()
    latest_fault = InstanceFault.objects.filter(server=OuterRef("pk")).order_by("-created", "-id")
    servers = Server.objects.select_related("cloud", "host", "node", "flavor").annotate(
        fault_code=Subquery(latest_fault.values("code")[:1]),
        fault_message=Subquery(latest_fault.values("message")[:1]),
    )
    if values.get("cloud"):
        servers = servers.filter(cloud__name=values["cloud"])
    if values.get("vm_state"):
        servers = servers.filter(vm_state=values["vm_state"])
    page = _page(request, servers.order_by(*form.order_by(values["sort"])))
    rows = [
        {
            "server": server,
            "status": server.status,
            "node_url": reverse("provider-detail", args=[server.node.uuid]) if server.node else "",
        }
        for server in page.object_list
    ]
    columns = [
        Column("Server", "name"),
        Column("Cloud", "cloud"),
        Column("Status"),
        Column("vm_state", "vm_state"),
        Column("task_state"),
        Column("Host"),
        Column("Flavor"),
        Column("Latest fault"),
        Column("Updated", "updated"),
    ]
    return _render(
        request, "lists/servers.html", form, values, page, columns, rows=rows, filtered=_active(values, "cloud", "vm_state")
    )


# -- migrations --------------------------------------------------------------------------------
class MigrationFilters(ListFilters):
    SORTS = {
        "created": ("Created", ["created", "id"]),
        "status": ("Status", ["status", "-created", "-id"]),
    }
    DEFAULT_SORT = "-created"
    status = forms.ChoiceField(required=False, choices=_choices(MigrationStatus.choices))
    migration_type = forms.ChoiceField(required=False, choices=_choices(MigrationType.choices), label="Type")


def migration_list(request):
    """Migration records: status, type, source → dest, old → new flavor."""
    form = MigrationFilters(request.GET)
    values = form.values()
    migrations = Migration.objects.select_related(
        "cloud", "server", "source_compute", "dest_compute", "old_flavor", "new_flavor"
    )
    if values.get("cloud"):
        migrations = migrations.filter(cloud__name=values["cloud"])
    if values.get("status"):
        migrations = migrations.filter(status=values["status"])
    if values.get("migration_type"):
        migrations = migrations.filter(migration_type=values["migration_type"])
    page = _page(request, migrations.order_by(*form.order_by(values["sort"])))
    rows = [
        {
            "migration": m,
            "route": f"{m.source_compute.name} → {m.dest_compute.name if m.dest_compute else '—'}",
            "flavors": f"{m.old_flavor.name} → {m.new_flavor.name}",
        }
        for m in page.object_list
    ]
    columns = [
        Column("Migration"),
        Column("Cloud"),
        Column("Server"),
        Column("Status", "status"),
        Column("Type"),
        Column("Source → dest"),
        Column("Old → new flavor"),
        Column("Created", "created"),
    ]
    return _render(
        request,
        "lists/migrations.html",
        form,
        values,
        page,
        columns,
        rows=rows,
        filtered=_active(values, "cloud", "status", "migration_type"),
    )


# -- runs --------------------------------------------------------------------------------------
VERDICTS = {
    **{result: Q(verdict__result=result) for result in VerdictResult.values},
    "pending": Q(verdict__isnull=True),  # not judged yet (queued or running)
}


class RunFilters(ListFilters):
    SORTS = {"id": ("Id", ["id"]), "created": ("Created", ["created", "id"])}
    DEFAULT_SORT = "-created"
    status = forms.MultipleChoiceField(required=False, choices=RunStatus.choices, widget=forms.CheckboxSelectMultiple)
    scenario = forms.ChoiceField(
        required=False, choices=_choices([(name, name) for name in SCENARIOS] + [(CUSTOM, CUSTOM)])
    )
    verdict = forms.ChoiceField(required=False, choices=_choices([*VerdictResult.choices, ("pending", "not judged yet")]))


def _duration(run):
    if run.started and run.finished:
        return f"{(run.finished - run.started).total_seconds():.2f} s"
    return ""


def run_list(request):
    """Runs: scenario, status, verdict, cloud, times and steps."""
    form = RunFilters(request.GET)
    values = form.values()
    steps = RunStep.objects.filter(run=OuterRef("pk")).order_by().values("run").annotate(n=Count("pk")).values("n")
    runs = (
        Run.objects.select_related("cloud")
        .defer("pipeline_state", "before", "after", "error", "cloud__description")
        .annotate(step_count=Coalesce(Subquery(steps, output_field=IntegerField()), Value(0)))
    )
    if values.get("status"):
        runs = runs.filter(status__in=values["status"])
    if values.get("scenario"):
        runs = runs.filter(scenario=values["scenario"])
    if values.get("verdict"):
        runs = runs.filter(VERDICTS[values["verdict"]])
    if values.get("cloud"):
        runs = runs.filter(cloud__name=values["cloud"])
    page = _page(request, runs.order_by(*form.order_by(values["sort"])))
    rows = [
        {
            "run": run,
            "url": reverse("run-detail", args=[run.pk]),
            "injected": run.injected["summary"],
            "duration": _duration(run),
        }
        for run in page.object_list
    ]
    columns = [
        Column("Run", "id", num=True),
        Column("Scenario"),
        Column("Injected"),
        Column("Status"),
        Column("Verdict"),
        Column("Audit"),
        Column("Cloud"),
        Column("Created", "created"),
        Column("Finished"),
        Column("Steps", num=True),
        Column("Duration", num=True),
    ]
    return _render(
        request,
        "lists/runs.html",
        form,
        values,
        page,
        columns,
        rows=rows,
        filtered=_active(values, "status", "scenario", "verdict", "cloud"),
    )
