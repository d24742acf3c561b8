"""The lists' filters and sorts: one FilterSet per listed model, for the pages and the API alike.

Each FilterSet declares its filters once (django-filter), with the labels and widgets the list
pages' filter bars render, and its sort keys once (``sorts``: key -> ``Sort``, the fields it
orders by; ``-key`` sorts the other way). The list pages (``dashboard/lists.py``) sort by
``?sort=``; the API (``filterset_class`` of its viewsets) by ``?ordering=`` through
``SortOrdering``. An invalid filter value is shown and ignored on a page and a 400 naming the
field in the API; an unknown sort key falls back to the default sort on a page and is ignored in
the API (which keeps its viewset's ``ordering``).
"""
import uuid

import django_filters
from django import forms
from django.db.models import Count, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.filters import OrderingFilter

from simulator.models import Flavor, Host, Migration, ResourceProvider, Run, Server
from simulator.presets import SCENARIO
from simulator.states import MigrationStatus, MigrationType, RunStatus, VerdictResult, VmState

ANY = "any"


class Sort:
    """One sort key of a list: its label and the fields it orders by, tie-breakers included."""

    def __init__(self, label, *fields):
        self.label, self.fields = label, fields


# Hosts, providers and servers sort by name or by cloud (their pages' default), and by keys of their own.
BY_NAME_OR_CLOUD = {
    "name": Sort("Name", "name", "cloud__name", "id"),
    "cloud": Sort("Cloud", "cloud__name", "name", "id"),
}


def _text(placeholder):
    return forms.TextInput(attrs={"placeholder": placeholder, "size": 12})


class ListFilterSet(django_filters.FilterSet):
    """A list's filters, every one of them by cloud name (free text: an unknown cloud matches
    nothing), and its ``sorts`` with the page's ``default_sort``."""

    sorts: dict = {}
    default_sort = ""

    cloud = django_filters.CharFilter(
        field_name="cloud__name",
        label="Cloud",
        help_text="Name of the cloud",
        widget=forms.TextInput(attrs={"list": "cloud-names", "placeholder": "any cloud", "size": 12, "maxlength": 100}),
    )

    @classmethod
    def known_sort(cls, term):
        return isinstance(term, str) and term.removeprefix("-") in cls.sorts

    @classmethod
    def order_by(cls, terms):
        """The fields that sort keys (``-key``: the other way) order by; unknown keys are left out."""
        fields, seen = [], set()
        for term in terms:
            if not cls.known_sort(term):
                continue
            for field in cls.sorts[term.removeprefix("-")].fields:
                if term.startswith("-"):
                    field = field[1:] if field.startswith("-") else f"-{field}"
                if field.lstrip("-") not in seen:
                    seen.add(field.lstrip("-"))
                    fields.append(field)
        return fields


class SortOrdering(OrderingFilter):
    """DRF's ``?ordering=`` over the sort keys of the view's FilterSet (``?ordering=-name`` sorts
    as a page's ``?sort=-name``); without a known key, the viewset's ``ordering``."""

    def get_valid_fields(self, queryset, view, context=None):
        return [(key, key) for key in view.filterset_class.sorts]

    def get_ordering(self, request, queryset, view):
        terms = request.query_params.get(self.ordering_param, "").split(",")
        return view.filterset_class.order_by(term.strip() for term in terms) or self.get_default_ordering(view)


# The filter backends of the API's list viewsets.
BACKENDS = [DjangoFilterBackend, SortOrdering]


def _choices(choices):
    return [("", ANY), *choices]


class WholeNumberFilter(django_filters.NumberFilter):
    """An id: a whole number ("1.5" is refused, not taken for 1)."""

    field_class = forms.IntegerField


# -- runs --------------------------------------------------------------------------------------
VERDICTS = {
    **{result: Q(verdict__result=result) for result in VerdictResult.values},
    "pending": Q(verdict__isnull=True),  # not judged yet (queued or running)
}


class RunFilter(ListFilterSet):
    status = django_filters.MultipleChoiceFilter(
        choices=RunStatus.choices,
        distinct=False,
        label="Status",
        help_text="One or more statuses",
        widget=forms.CheckboxSelectMultiple,
    )
    # Free text (a scenario no longer offered still finds its runs); the page offers the known ones.
    scenario = django_filters.CharFilter(
        label="Scenario",
        help_text="A preset's name, or custom",
        widget=forms.Select(choices=_choices(SCENARIO.choices)),
    )
    verdict = django_filters.ChoiceFilter(
        choices=[*VerdictResult.choices, ("pending", "not judged yet")],
        field_name="verdict__result",
        method="filter_verdict",
        label="Verdict",
        empty_label=ANY,
        help_text="The verdict's result, or pending: not judged yet",
    )

    campaign = WholeNumberFilter(
        field_name="campaign__id",  # an integer in the API's schema
        label="Campaign",
        help_text="A campaign's id: its runs",
        widget=forms.NumberInput(attrs={"placeholder": "any", "min": 1, "style": "width: 6em"}),
    )

    sorts = {
        "id": Sort("Id", "id"),
        "created": Sort("Created", "created", "id"),
        "finished": Sort("Finished", "finished", "id"),
    }
    default_sort = "-created"

    class Meta:
        model = Run
        fields = ["cloud", "status", "scenario", "verdict", "campaign"]

    def filter_verdict(self, queryset, name, value):
        return queryset.filter(VERDICTS[value])


# -- hosts -------------------------------------------------------------------------------------
def servers_on_host():
    """The number of servers (not deleted) on each host, as a subquery."""
    on_host = (
        Server.objects.filter(host=OuterRef("pk"))
        .exclude(vm_state=VmState.DELETED)
        .order_by()
        .values("host")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(on_host, output_field=IntegerField()), Value(0))


class HostFilter(ListFilterSet):
    name = django_filters.CharFilter(label="Name", widget=_text("any host"))
    service_up = django_filters.BooleanFilter()  # true|false; the same as service=up|down
    driver = django_filters.CharFilter(label="Driver", widget=_text("any driver"))
    service = django_filters.ChoiceFilter(
        choices=[("up", "up"), ("down", "down")],
        method="filter_service",
        label="Service",
        empty_label=ANY,
        help_text="The compute service: up (service_up=true) or down",
    )

    sorts = {
        **BY_NAME_OR_CLOUD,
        "servers": Sort("Servers", "server_count", "cloud__name", "name", "id"),
        "id": Sort("Id", "id"),
    }
    default_sort = "cloud"

    class Meta:
        model = Host
        fields = ["cloud", "name", "service", "service_up", "driver"]

    def filter_service(self, queryset, name, value):
        return queryset.filter(service_up=value == "up")

    def filter_queryset(self, queryset):
        """Hosts come with ``server_count``: the page shows it, and both sort by it."""
        return super().filter_queryset(queryset).annotate(server_count=servers_on_host())


# -- resource providers ------------------------------------------------------------------------
class ProviderFilter(ListFilterSet):
    name = django_filters.CharFilter(label="Name", widget=_text("any provider"))

    sorts = {**BY_NAME_OR_CLOUD, "id": Sort("Id", "id")}
    default_sort = "cloud"

    class Meta:
        model = ResourceProvider
        fields = ["cloud", "name"]


# -- flavors (API only) ------------------------------------------------------------------------
class FlavorFilter(ListFilterSet):
    sorts = {"flavorid": Sort("flavorid", "flavorid", "id"), "name": Sort("Name", "name", "id"), "id": Sort("Id", "id")}

    class Meta:
        model = Flavor
        fields = ["cloud", "name", "flavorid", "disabled"]


# -- servers -----------------------------------------------------------------------------------
class ServerFilter(ListFilterSet):
    name = django_filters.CharFilter(label="Name", widget=_text("any server"))
    vm_state = django_filters.ChoiceFilter(choices=VmState.choices, label="vm_state", empty_label=ANY)
    host = django_filters.CharFilter(field_name="host__name", label="Host", widget=_text("any host"))

    sorts = {
        **BY_NAME_OR_CLOUD,
        "vm_state": Sort("vm_state", "vm_state", "cloud__name", "name", "id"),
        "updated": Sort("Updated", "updated", "id"),
        "created": Sort("Created", "created", "id"),
        "id": Sort("Id", "id"),
    }
    default_sort = "cloud"

    class Meta:
        model = Server
        fields = ["cloud", "name", "vm_state", "host"]


# -- migrations --------------------------------------------------------------------------------
class MigrationFilter(ListFilterSet):
    status = django_filters.MultipleChoiceFilter(
        choices=MigrationStatus.choices, distinct=False, label="Status", widget=forms.CheckboxSelectMultiple
    )
    migration_type = django_filters.ChoiceFilter(choices=MigrationType.choices, label="Type", empty_label=ANY)
    server = django_filters.CharFilter(
        method="filter_server", label="Server", help_text="Server name or uuid", widget=_text("name or uuid")
    )
    host = django_filters.CharFilter(
        method="filter_host", label="Host", help_text="Source or destination compute", widget=_text("any host")
    )

    sorts = {
        "created": Sort("Created", "created", "id"),
        "status": Sort("Status", "status", "-created", "-id"),
        "id": Sort("Id", "id"),
    }
    default_sort = "-created"

    class Meta:
        model = Migration
        fields = ["cloud", "status", "migration_type", "server", "host"]

    def filter_server(self, queryset, name, value):
        query = Q(server__name=value)
        try:
            query |= Q(server__uuid=uuid.UUID(value))
        except ValueError:
            pass
        return queryset.filter(query)

    def filter_host(self, queryset, name, value):
        return queryset.filter(Q(source_compute__name=value) | Q(dest_compute__name=value))
