"""Serializers of the REST API: runs, scenarios, and the simulated cloud's records."""
from collections.abc import Mapping

from rest_framework import serializers

from simulator import params, placement
from simulator.driver import DRIVERS, failure_problem
from simulator.models import (
    Cloud,
    ConformanceCheck,
    Flavor,
    Host,
    InstanceAction,
    Migration,
    ResourceProvider,
    Run,
    Server,
)
from simulator.report import event_dict, fault_dict
from simulator.presets import SCENARIO
from simulator.states import RunStatus, VmState


def param_field(param):
    """The serializer field of one declared run parameter. Omitted, a parameter keeps the
    scenario's value; the declared default is what ``custom`` starts from."""
    help_text = f"{param.help} Omitted: the scenario's value (custom: {param.default_json()})."
    if param.nullable:
        help_text += f" null: {param.empty}."
    common = {"required": False, "help_text": help_text}
    optional = {"allow_null": param.nullable}
    unknown = {"invalid_choice": param.unknown.format(value="{input}", known=", ".join(param.values))}
    if param.kind == params.TEXT:
        return serializers.CharField(max_length=params.MAX_NAME, allow_blank=param.nullable, **optional, **common)
    if param.kind == params.CHOICE:
        return serializers.ChoiceField(
            choices=param.choices, allow_blank=param.nullable, error_messages=unknown, **optional, **common
        )
    if param.kind == params.NAMES:
        child = serializers.CharField(max_length=params.MAX_NAME)
        return serializers.ListField(child=child, allow_empty=False, **optional, **common)
    if param.kind == params.CHOICES:
        return serializers.ListField(child=serializers.CharField(max_length=params.MAX_NAME), **common)
    if param.kind == params.FLAG:
        return serializers.BooleanField(**common)
    number = serializers.IntegerField if param.kind == params.INTEGER else serializers.FloatField
    return number(min_value=param.minimum, max_value=param.maximum, **common)


class RunCreateSerializer(serializers.Serializer):
    """A run to start: a scenario, and any of its parameters to override (the report's ``params``)."""

    scenario = serializers.ChoiceField(
        choices=SCENARIO.choices,
        default=SCENARIO.default,
        help_text=SCENARIO.help,
        error_messages={"invalid_choice": SCENARIO.unknown.format(value="{input}", known=", ".join(SCENARIO.values))},
    )

    def get_fields(self):
        return {**super().get_fields(), **{name: param_field(param) for name, param in params.PARAMS.items()}}

    def to_internal_value(self, data):
        """A parameter the run does not know is an error (as for the CLI), not silently dropped."""
        unknown = sorted(set(data) - set(self.fields)) if isinstance(data, Mapping) else []
        errors = {key: [f"Unknown parameter '{key}'."] for key in unknown}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as error:
            raise serializers.ValidationError({**error.detail, **errors}) from error
        if errors:
            raise serializers.ValidationError(errors)
        return value

    def overrides(self):
        data = dict(self.validated_data)
        return data.pop("scenario"), data


class InjectedSerializer(serializers.Serializer):
    """What a run injected."""

    fail_at = serializers.CharField(allow_null=True)
    exception = serializers.CharField(allow_null=True)
    fail_host = serializers.CharField(allow_null=True, help_text="null: every host (or the scheduler)")
    then = serializers.ChoiceField(choices=params.PARAMS["then"].values)
    bugs = serializers.ListField(child=serializers.CharField())
    summary = serializers.CharField()


class RunSummarySerializer(serializers.ModelSerializer):
    """A run in a list: what it ran, its lifecycle and outcome, not its whole report."""

    label = serializers.CharField(read_only=True, help_text='The preset, or "custom, based on NAME"')
    injected = InjectedSerializer(read_only=True)
    cloud = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    matched = serializers.SerializerMethodField()
    verdict = serializers.SerializerMethodField()
    audit = serializers.CharField(source="audit_summary", read_only=True, allow_null=True)
    url = serializers.HyperlinkedIdentityField(view_name="api:run-detail")

    class Meta:
        model = Run
        fields = ["id", "url", "scenario", "label", "injected", "status", "cloud", "created", "started", "finished",
                  "next_step", "next_host", "redispatches", "error", "verdict", "matched", "audit"]

    def get_matched(self, run) -> bool | None:
        return (run.verdict or {}).get("matched")

    def get_verdict(self, run) -> str | None:
        """matched, mismatch, none (no expectation) or aborted; null until the run ends."""
        return (run.verdict or {}).get("result")


class RunReportSerializer(serializers.Serializer):
    """The run report: the document ``resize_run --json`` prints."""

    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=RunStatus.choices)
    scenario = serializers.CharField()
    label = serializers.CharField(help_text='The preset, or "custom, based on NAME" when the parameters differ')
    injected = InjectedSerializer()
    cloud = serializers.CharField(allow_null=True)
    params = serializers.DictField()
    created = serializers.DateTimeField()
    started = serializers.DateTimeField(allow_null=True)
    finished = serializers.DateTimeField(allow_null=True)
    error = serializers.CharField(allow_null=True)
    next_step = serializers.CharField(allow_null=True)
    next_host = serializers.CharField(allow_null=True)
    task_id = serializers.CharField(allow_null=True)
    dispatched = serializers.DateTimeField(allow_null=True)
    executing = serializers.CharField(allow_null=True)
    redispatches = serializers.IntegerField()
    steps = serializers.ListField(child=serializers.DictField())
    server = serializers.DictField(allow_null=True)
    faults = serializers.ListField(child=serializers.DictField())
    migration = serializers.DictField(allow_null=True)
    usages = serializers.DictField()
    allocations = serializers.DictField()
    inventories = serializers.DictField(allow_null=True)
    events = serializers.ListField(child=serializers.DictField())
    audit = serializers.DictField(allow_null=True)
    verdict = serializers.DictField(allow_null=True)


class ScenarioSerializer(serializers.Serializer):
    name = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    reference = serializers.CharField()
    params = serializers.DictField()
    expected = serializers.ListField(child=serializers.DictField(), help_text="Outcome per set of bugs switched on")
    conformance = serializers.DictField(
        allow_null=True,
        help_text="The last `make conformance` result for this preset: status (matched, differs, skipped, failed), "
        "Nova's version, when, how many fields differed; null if never checked",
    )


class HostSerializer(serializers.ModelSerializer):
    cloud = serializers.SlugRelatedField(slug_field="name", queryset=Cloud.objects.all())
    driver = serializers.ChoiceField(choices=list(DRIVERS), default="FakeDriver")
    provider = serializers.SerializerMethodField()

    class Meta:
        model = Host
        fields = ["id", "cloud", "name", "service_up", "driver", "supports_migrate_to_same_host", "failures", "provider"]

    def get_provider(self, host) -> str | None:
        provider = getattr(host, "provider", None)
        return str(provider.uuid) if provider else None

    def validate_failures(self, failures):
        if not isinstance(failures, list):
            raise serializers.ValidationError("failures must be a list of objects.")
        problems = [f"Failure {i}: {p}" for i, p in enumerate(map(failure_problem, failures), 1) if p]
        if problems:
            raise serializers.ValidationError(problems)
        return failures

    def validate(self, data):
        if self.instance is None:
            return data
        if "driver" not in self.initial_data:
            data.pop("driver", None)  # a PUT without it: keep the driver, do not reset it to the default
        elif data.get("driver") != self.instance.driver:
            raise serializers.ValidationError({"driver": ["The driver of an existing host cannot change."]})
        if "cloud" in data and data["cloud"] != self.instance.cloud:
            raise serializers.ValidationError({"cloud": ["A host cannot move to another cloud."]})
        if "name" in data and data["name"] != self.instance.name:
            # Its provider, its queue (compute.<name>) and runs' parameters know it by this name.
            raise serializers.ValidationError({"name": ["The name of an existing host cannot change."]})
        return data


class InventorySerializer(serializers.Serializer):
    """Placement's inventory record for one resource class."""

    resource_provider_generation = serializers.IntegerField(
        required=False, help_text="The provider generation the write is based on; a stale one is a 409."
    )
    total = serializers.IntegerField(min_value=1, max_value=2147483647)
    reserved = serializers.IntegerField(min_value=0, max_value=2147483647, default=0)
    min_unit = serializers.IntegerField(min_value=1, max_value=2147483647, default=1)
    max_unit = serializers.IntegerField(min_value=1, max_value=2147483647, default=2147483647)
    step_size = serializers.IntegerField(min_value=1, max_value=2147483647, default=1)
    allocation_ratio = serializers.FloatField(min_value=0.0001, max_value=3.4e38, default=1.0)

    def validate(self, data):
        try:
            placement.check_inventory(data)
        except placement.InvalidInventory as error:
            raise serializers.ValidationError({error.field: [error.detail]}) from error
        return data


class ProviderSerializer(serializers.ModelSerializer):
    cloud = serializers.SlugRelatedField(slug_field="name", read_only=True)
    host = serializers.SlugRelatedField(slug_field="name", read_only=True)
    inventories = serializers.SerializerMethodField()
    usages = serializers.SerializerMethodField()

    class Meta:
        model = ResourceProvider
        fields = ["uuid", "name", "cloud", "host", "generation", "inventories", "usages"]

    def get_inventories(self, provider) -> dict:
        return placement.provider_inventories(provider)

    def get_usages(self, provider) -> dict:
        used = self.context["usages"]
        return {inv.resource_class: used.get((provider.pk, inv.resource_class), 0) for inv in provider.inventories.all()}


class FlavorSerializer(serializers.ModelSerializer):
    cloud = serializers.SlugRelatedField(slug_field="name", queryset=Cloud.objects.all())

    class Meta:
        model = Flavor
        fields = ["id", "cloud", "flavorid", "name", "vcpus", "memory_mb", "root_gb", "ephemeral_gb", "swap", "disabled"]
        extra_kwargs = {
            "vcpus": {"min_value": 1, "max_value": 2147483647},
            "memory_mb": {"min_value": 1, "max_value": 2147483647},
            "root_gb": {"max_value": 2147483647},
            "ephemeral_gb": {"max_value": 2147483647},
            "swap": {"max_value": 2147483647},
        }

    def validate(self, data):
        if self.instance is not None and "cloud" in data and data["cloud"] != self.instance.cloud:
            raise serializers.ValidationError({"cloud": ["A flavor cannot move to another cloud."]})
        return data


class InstanceActionSerializer(serializers.ModelSerializer):
    events = serializers.SerializerMethodField()

    class Meta:
        model = InstanceAction
        fields = ["action", "request_id", "user_id", "project_id", "start_time", "message", "events"]

    def get_events(self, action) -> list[dict]:
        return [event_dict(event, when=lambda value: value) for event in action.events.all()]


class ServerSerializer(serializers.ModelSerializer):
    cloud = serializers.SlugRelatedField(slug_field="name", read_only=True)
    # allow_null: these foreign keys are nullable, and the schema must say so
    host = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    node = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    flavor = serializers.SlugRelatedField(slug_field="name", read_only=True)
    old_flavor = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    new_flavor = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    status = serializers.CharField(read_only=True)
    fault = serializers.SerializerMethodField()
    instance_actions = InstanceActionSerializer(source="actions", many=True, read_only=True)

    class Meta:
        model = Server
        fields = ["uuid", "name", "cloud", "status", "vm_state", "task_state", "power_state", "host", "node",
                  "flavor", "old_flavor", "new_flavor", "created", "updated", "fault", "instance_actions"]

    def get_fault(self, server) -> dict | None:
        """As Nova's API shows it: the latest fault, only for ERROR and DELETED servers."""
        return fault_dict(server.api_fault(list(server.faults.all())))


class ServerCreateSerializer(serializers.Serializer):
    """Boot a server straight onto a host (its flavor is claimed in placement)."""

    cloud = serializers.SlugRelatedField(slug_field="name", queryset=Cloud.objects.all())
    name = serializers.CharField(max_length=255)
    host = serializers.CharField(max_length=255)
    flavor = serializers.CharField(max_length=255, help_text="Name or flavorid.")
    vm_state = serializers.ChoiceField(choices=[VmState.ACTIVE.value, VmState.STOPPED.value], default="active")


class MigrationSerializer(serializers.ModelSerializer):
    server = serializers.SlugRelatedField(slug_field="uuid", read_only=True)
    server_name = serializers.CharField(source="server.name", read_only=True)
    cloud = serializers.SlugRelatedField(slug_field="name", read_only=True)
    source_compute = serializers.SlugRelatedField(slug_field="name", read_only=True)
    source_node = serializers.SlugRelatedField(slug_field="name", read_only=True)
    dest_compute = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    dest_node = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    old_flavor = serializers.SlugRelatedField(slug_field="name", read_only=True)
    new_flavor = serializers.SlugRelatedField(slug_field="name", read_only=True)

    class Meta:
        model = Migration
        fields = ["uuid", "cloud", "server", "server_name", "status", "migration_type", "source_compute",
                  "source_node", "dest_compute", "dest_node", "old_flavor", "new_flavor", "created", "updated"]




class ConformanceCheckSerializer(serializers.ModelSerializer):
    """A run replayed in real Nova 34: both normalised outcomes and the fields that differ."""

    differences = serializers.SerializerMethodField()

    class Meta:
        model = ConformanceCheck
        fields = ["id", "run", "scenario", "status", "nova_version", "notes", "differences", "error",
                  "simulator", "nova", "created", "finished"]

    def get_differences(self, check) -> list[dict]:
        return [{"field": field, "simulator": mine, "nova": theirs} for field, mine, theirs in check.differences]
