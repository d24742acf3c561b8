"""Django admin for the simulated clouds and the runs against them.

Cloud state (hosts, providers, inventories, flavors, servers, migrations,
consumers, allocations) stays editable, so an operator can set up a situation
by hand; history (faults, instance actions and their events, runs and their
steps) is what the simulator recorded and is read-only.
"""
from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from .driver import failure_problem
from .models import (
    Allocation,
    Campaign,
    Cloud,
    ConformanceCheck,
    Consumer,
    Flavor,
    Host,
    InstanceAction,
    InstanceActionEvent,
    InstanceFault,
    Inventory,
    Migration,
    ResourceProvider,
    Run,
    RunStep,
    Server,
)

class HostForm(forms.ModelForm):
    class Meta:
        model = Host
        fields = "__all__"

    def clean_failures(self):
        failures = self.cleaned_data["failures"]
        if failures is None:  # an emptied textarea
            return []
        if not isinstance(failures, list):
            raise ValidationError('Failures must be a list, e.g. [{"point": "finish_migration"}].')
        errors = [f"Failure {i}: {problem}" for i, f in enumerate(failures, 1) if (problem := failure_problem(f))]
        if errors:
            raise ValidationError(errors)
        return failures


class ReadOnly:
    """For records the simulator writes: they can be viewed (and deleted), not added or edited."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ReadOnlyInline(ReadOnly, admin.TabularInline):
    extra = 0
    show_change_link = True

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Cloud)
class CloudAdmin(admin.ModelAdmin):
    list_display = ["name", "description", "shared", "created"]
    list_filter = ["shared"]
    search_fields = ["name", "description"]
    readonly_fields = ["created"]


@admin.register(Host)
class HostAdmin(admin.ModelAdmin):
    form = HostForm
    list_display = ["name", "cloud", "service_up", "driver", "supports_migrate_to_same_host", "failure_points"]
    list_filter = ["cloud", "service_up", "driver"]
    list_select_related = ["cloud"]
    search_fields = ["name", "cloud__name"]
    autocomplete_fields = ["cloud"]

    @admin.display(description="Failures")
    def failure_points(self, host):
        return ", ".join(f["point"] for f in host.failures) or "-"


class InventoryInline(admin.TabularInline):
    model = Inventory
    extra = 0
    readonly_fields = ["capacity"]

    @admin.display(description="Capacity")
    def capacity(self, inventory):
        return inventory.capacity if inventory.pk else "-"  # the blank "add another" row has no total


@admin.register(ResourceProvider)
class ResourceProviderAdmin(admin.ModelAdmin):
    inlines = [InventoryInline]
    list_display = ["name", "cloud", "host", "uuid", "generation"]
    list_filter = ["cloud"]
    list_select_related = ["cloud", "host"]
    search_fields = ["name", "uuid", "cloud__name"]
    autocomplete_fields = ["cloud", "host"]
    readonly_fields = ["uuid", "generation"]


@admin.register(Inventory)
class InventoryAdmin(admin.ModelAdmin):
    list_display = ["provider", "resource_class", "total", "reserved", "allocation_ratio", "capacity"]
    list_filter = ["resource_class", "provider__cloud"]
    list_select_related = ["provider"]
    search_fields = ["provider__name"]
    autocomplete_fields = ["provider"]


@admin.register(Flavor)
class FlavorAdmin(admin.ModelAdmin):
    list_display = ["name", "flavorid", "cloud", "vcpus", "memory_mb", "root_gb", "ephemeral_gb", "swap", "disabled"]
    list_filter = ["cloud", "disabled"]
    list_select_related = ["cloud"]
    search_fields = ["name", "flavorid", "cloud__name"]
    autocomplete_fields = ["cloud"]


@admin.register(Server)
class ServerAdmin(admin.ModelAdmin):
    list_display = ["name", "cloud", "status", "vm_state", "task_state", "host", "node", "flavor"]
    list_filter = ["cloud", "vm_state", "task_state", "power_state"]
    list_select_related = ["cloud", "host", "node", "flavor"]
    search_fields = ["name", "uuid", "cloud__name"]
    autocomplete_fields = ["cloud", "host", "node", "flavor", "old_flavor", "new_flavor"]
    readonly_fields = ["uuid", "created", "updated"]


@admin.register(Migration)
class MigrationAdmin(admin.ModelAdmin):
    list_display = [
        "uuid", "server", "status", "migration_type", "source_compute", "dest_compute", "old_flavor", "new_flavor"
    ]
    list_filter = ["status", "migration_type", "cloud"]
    list_select_related = ["server", "source_compute", "dest_compute", "old_flavor", "new_flavor"]
    search_fields = ["uuid", "server__name", "server__uuid"]
    autocomplete_fields = [
        "cloud", "server", "source_compute", "source_node", "dest_compute", "dest_node", "old_flavor", "new_flavor"
    ]
    readonly_fields = ["uuid", "created", "updated"]


@admin.register(Consumer)
class ConsumerAdmin(admin.ModelAdmin):
    list_display = ["uuid", "consumer_type", "cloud", "generation", "project_id", "user_id"]
    list_filter = ["consumer_type", "cloud"]
    list_select_related = ["cloud"]
    search_fields = ["uuid", "project_id", "user_id"]
    autocomplete_fields = ["cloud"]
    readonly_fields = ["generation"]


@admin.register(Allocation)
class AllocationAdmin(admin.ModelAdmin):
    list_display = ["provider", "consumer_uuid", "consumer_type", "resource_class", "used"]
    list_filter = ["resource_class", "consumer__consumer_type", "provider__cloud"]
    list_select_related = ["provider", "consumer"]
    search_fields = ["consumer__uuid", "provider__name"]
    autocomplete_fields = ["provider", "consumer"]

    @admin.display(description="Consumer", ordering="consumer__uuid")
    def consumer_uuid(self, allocation):
        return allocation.consumer.uuid

    @admin.display(description="Consumer type", ordering="consumer__consumer_type")
    def consumer_type(self, allocation):
        return allocation.consumer.get_consumer_type_display()


@admin.register(InstanceFault)
class InstanceFaultAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["server", "code", "message", "host", "created"]
    list_filter = ["code", "server__cloud"]
    list_select_related = ["server"]
    search_fields = ["message", "server__name", "server__uuid"]


class InstanceActionEventInline(ReadOnlyInline):
    model = InstanceActionEvent


@admin.register(InstanceAction)
class InstanceActionAdmin(ReadOnly, admin.ModelAdmin):
    inlines = [InstanceActionEventInline]
    list_display = ["server", "action", "request_id", "start_time", "message"]
    list_filter = ["action", "server__cloud"]
    list_select_related = ["server"]
    search_fields = ["request_id", "server__name", "server__uuid"]


@admin.register(InstanceActionEvent)
class InstanceActionEventAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["event", "action", "host", "result", "start_time", "finish_time"]
    list_filter = ["result", "event"]
    list_select_related = ["action"]
    search_fields = ["event", "host", "action__request_id"]


class RunStepInline(ReadOnlyInline):
    model = RunStep
    fields = ["seq", "name", "host", "started", "finished", "failed", "error"]


class VerdictFilter(admin.SimpleListFilter):
    title = "verdict"
    parameter_name = "matched"

    def lookups(self, request, model_admin):
        return [("yes", "Matched"), ("no", "Did not match")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(verdict__matched=self.value() == "yes")
        return queryset


@admin.register(Run)
class RunAdmin(ReadOnly, admin.ModelAdmin):
    inlines = [RunStepInline]
    list_display = ["id", "scenario", "status", "cloud", "created", "finished", "matched"]
    list_filter = ["status", "scenario", VerdictFilter]
    list_select_related = ["cloud"]
    search_fields = ["scenario", "cloud__name", "error"]

    @admin.display(boolean=True, description="Verdict matched")
    def matched(self, run):
        return (run.verdict or {}).get("matched")


@admin.register(RunStep)
class RunStepAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["run", "seq", "name", "host", "failed", "started", "finished"]
    list_filter = ["failed", "name"]
    list_select_related = ["run"]
    search_fields = ["name", "host", "error", "run__scenario"]


@admin.register(ConformanceCheck)
class ConformanceCheckAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["id", "scenario", "run", "status", "nova_version", "created", "finished"]
    list_filter = ["status", "scenario", "nova_version"]
    list_select_related = ["run"]
    search_fields = ["scenario", "error"]


@admin.register(Campaign)
class CampaignAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["id", "name", "status", "cursor", "max_in_flight", "created", "finished"]
    list_filter = ["status"]
    search_fields = ["name"]
