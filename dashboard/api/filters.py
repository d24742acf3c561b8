"""django-filter filter sets of the API's lists: every list filters by cloud."""
import uuid

import django_filters
from django.db.models import Q

from simulator.models import Flavor, Host, Migration, ResourceProvider, Run, RunStatus, Server
from simulator.states import MigrationStatus, MigrationType, VerdictResult, VmState


class CloudFilterSet(django_filters.FilterSet):
    cloud = django_filters.CharFilter(field_name="cloud__name", help_text="Name of the cloud")


class RunFilter(CloudFilterSet):
    status = django_filters.MultipleChoiceFilter(choices=RunStatus.choices, help_text="One or more statuses")
    scenario = django_filters.CharFilter()
    verdict = django_filters.ChoiceFilter(choices=VerdictResult.choices, field_name="verdict__result")

    class Meta:
        model = Run
        fields = ["cloud", "status", "scenario", "verdict"]


class HostFilter(CloudFilterSet):
    class Meta:
        model = Host
        fields = ["cloud", "name", "service_up", "driver"]


class ProviderFilter(CloudFilterSet):
    class Meta:
        model = ResourceProvider
        fields = ["cloud", "name"]


class FlavorFilter(CloudFilterSet):
    class Meta:
        model = Flavor
        fields = ["cloud", "name", "flavorid", "disabled"]


class ServerFilter(CloudFilterSet):
    vm_state = django_filters.ChoiceFilter(choices=VmState.choices)
    host = django_filters.CharFilter(field_name="host__name")

    class Meta:
        model = Server
        fields = ["cloud", "name", "vm_state", "host"]


class MigrationFilter(CloudFilterSet):
    status = django_filters.MultipleChoiceFilter(choices=MigrationStatus.choices)
    migration_type = django_filters.ChoiceFilter(choices=MigrationType.choices)
    server = django_filters.CharFilter(method="filter_server", help_text="Server name or uuid")
    host = django_filters.CharFilter(method="filter_host", help_text="Source or destination compute")

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
