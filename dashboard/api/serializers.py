"""Serializers of the REST API: runs, campaigns, scenarios, and the simulated cloud's records."""
import json
from collections.abc import Mapping

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers

from simulator import campaigns, params, placement
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
from simulator.states import CampaignStatus, RunStatus, VmState


THEN_CHOICES = params.PARAMS["then"].choices  # one schema enum wherever the parameter is taken


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


class StrictSerializer(serializers.Serializer):
    """A key the serializer does not know is an error (``unknown(key)`` says it), not silently dropped."""

    def unknown(self, key):
        return f"Unknown field '{key}'."

    def to_internal_value(self, data):
        unknown = sorted(set(data) - set(self.fields)) if isinstance(data, Mapping) else []
        errors = {key: [self.unknown(key)] for key in unknown}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as error:
            raise serializers.ValidationError({**error.detail, **errors}) from error
        if errors:
            raise serializers.ValidationError(errors)
        return value


class RunCreateSerializer(StrictSerializer):
    """A run to start: a scenario, and any of its parameters to override (the report's ``params``)."""

    scenario = serializers.ChoiceField(
        choices=SCENARIO.choices,
        default=SCENARIO.default,
        help_text=SCENARIO.help,
        error_messages={"invalid_choice": SCENARIO.unknown.format(value="{input}", known=", ".join(SCENARIO.values))},
    )

    def get_fields(self):
        return {**super().get_fields(), **{name: param_field(param) for name, param in params.PARAMS.items()}}

    def unknown(self, key):
        return f"Unknown parameter '{key}'."  # as for the CLI

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


# -- campaigns ---------------------------------------------------------------------------------
def _shown(value, width=40):
    """A value as JSON, cut short: what a message about one value of a list quotes."""
    text = json.dumps(value, default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


class _NoUnknownKeys:
    """A serializer of named parameters: a key it does not know is an error, not silently dropped."""

    def unknown_message(self, key):
        return f"Unknown parameter '{key}'."

    def to_internal_value(self, data):
        unknown = sorted(set(data) - set(self.fields)) if isinstance(data, Mapping) else []
        errors = {key: [self.unknown_message(key)] for key in unknown}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as error:
            detail = error.detail if isinstance(error.detail, Mapping) else {"non_field_errors": error.detail}
            raise serializers.ValidationError({**detail, **errors}) from error
        if errors:
            raise serializers.ValidationError(errors)
        return {key: value[key] for key in data if key in value}  # in the order given: axes make the columns


class CampaignParamsSerializer(_NoUnknownKeys, serializers.Serializer):
    """The base's parameters to override, as ``POST /api/runs/`` takes them."""

    def get_fields(self):
        return {name: param_field(param) for name, param in params.PARAMS.items()}


class AxisField(serializers.ListField):
    """One axis: the values of a run parameter to try, or "all" (every value its declaration allows,
    for the parameters that have a finite set). Each value is checked as ``POST /api/runs/`` checks
    it; combinations Nova cannot express are skipped by the campaign, not refused."""

    def __init__(self, param, **kwargs):
        self.param = param
        super().__init__(child=param_field(param), allow_empty=False, **kwargs)

    def to_internal_value(self, data):
        if data == campaigns.ALL:
            return data
        name = self.param.name
        if not isinstance(data, list) or not data:
            raise serializers.ValidationError(f'{name}: a non-empty list of values, or "{campaigns.ALL}".')
        values, problems = [], []
        for value in data:
            try:
                checked = self.child.run_validation(value)
            except serializers.ValidationError as error:
                problems += [f"{_shown(value)}: {message}" for message in _messages(error.detail)]
                continue
            if self.param.kind == params.CHOICES:  # each item one of the declared values (a bug number)
                problems += [self.param.unknown_message(item) for item in checked if item not in self.param.values]
            values.append(checked)
        if problems:
            raise serializers.ValidationError(list(dict.fromkeys(problems)))
        return values


class CampaignAxesSerializer(_NoUnknownKeys, serializers.Serializer):
    """{parameter: [values] or "all"}: the campaign runs every combination (or a sample of them)."""

    def unknown_message(self, key):
        return f"Unknown parameter '{key}'. Known: {', '.join(params.PARAMS)}."

    def get_fields(self):
        return {name: AxisField(param, required=False, help_text=f'{param.help} A list of values, or "all".')
                for name, param in params.PARAMS.items()}


class CampaignCreateSerializer(StrictSerializer):
    """A campaign: a base (a preset and parameters to override) and axes over the run parameters."""

    scenario = serializers.ChoiceField(
        choices=SCENARIO.choices,
        default=SCENARIO.default,
        help_text="The base preset (or custom).",
        error_messages={"invalid_choice": SCENARIO.unknown.format(value="{input}", known=", ".join(SCENARIO.values))},
    )
    params = CampaignParamsSerializer(required=False, help_text="The base's parameters to override.")
    axes = CampaignAxesSerializer(help_text='{parameter: [values] or "all"}: at least one.')
    sample = serializers.IntegerField(
        min_value=1, max_value=campaigns.MAX_RUNS, required=False,
        help_text="Run this many combinations, drawn at random with seed, instead of all of them.",
    )
    seed = serializers.IntegerField(min_value=0, max_value=2**63 - 1, default=0, help_text="The seed of sample.")
    max_in_flight = serializers.IntegerField(
        min_value=1, max_value=200, default=campaigns.DEFAULT_IN_FLIGHT, help_text="Runs unfinished at once, at most."
    )
    name = serializers.CharField(max_length=200, allow_blank=True, default="")

    def unknown(self, key):
        return f"Unknown field '{key}': a run parameter goes in params or axes."

    def definition(self):
        """The definition ``simulator.campaigns`` expands (as ``resize_campaign`` builds it)."""
        data = self.validated_data
        definition = {"scenario": data["scenario"], "params": data.get("params", {}), "axes": data["axes"],
                      "max_in_flight": data["max_in_flight"]}
        if "sample" in data:
            definition.update(sample=data["sample"], seed=data["seed"])
        return definition


def _messages(detail):
    """Every message of a DRF error detail, however nested, in order."""
    if isinstance(detail, Mapping):
        return [message for value in detail.values() for message in _messages(value)]
    if isinstance(detail, list):
        return [message for value in detail for message in _messages(value)]
    return [str(detail)]


def field_errors(detail):
    """A campaign's errors keyed as ``simulator.campaigns.CampaignError`` names the field:
    ``{"axes.exception": [...], "params.new_flavor": [...], "sample": [...]}``."""
    if not isinstance(detail, Mapping):
        return {"non_field_errors": _messages(detail)}
    errors = {}
    for key, value in detail.items():
        if key in ("params", "axes") and isinstance(value, Mapping):
            for name, inner in value.items():
                field = key if name == "non_field_errors" else f"{key}.{name}"
                errors.setdefault(field, []).extend(_messages(inner))
        else:
            errors.setdefault(key, []).extend(_messages(value))
    return errors


class CampaignProgressSerializer(serializers.Serializer):
    """``simulator.campaigns.progress``: where a campaign is."""

    status = serializers.ChoiceField(choices=CampaignStatus.choices)
    total = serializers.IntegerField(help_text="Runs in the plan")
    done = serializers.IntegerField(help_text="Runs ended")
    running = serializers.IntegerField(help_text="Runs started and not ended")
    queued = serializers.IntegerField(help_text="Runs not started yet")
    skipped = serializers.IntegerField(help_text="Combinations not run")
    runs_per_second = serializers.FloatField(allow_null=True)
    seconds_left = serializers.FloatField(allow_null=True, help_text="An estimate")


class CampaignOutcomesSerializer(serializers.Serializer):
    """How many of the campaign's ended runs came to each outcome (worst first)."""

    def get_fields(self):
        return {key: serializers.IntegerField(help_text=label) for key, (label, _, _) in campaigns.OUTCOMES.items()}


class CampaignSummarySerializer(serializers.Serializer):
    """A campaign in a list: what it runs and where it is."""

    id = serializers.IntegerField()
    url = serializers.URLField()
    name = serializers.CharField(allow_blank=True)
    status = serializers.ChoiceField(choices=CampaignStatus.choices)
    definition = serializers.DictField(help_text="scenario, params, axes (\"all\" expanded), max_in_flight, "
                                                 "sample and seed")
    max_in_flight = serializers.IntegerField()
    created = serializers.DateTimeField()
    finished = serializers.DateTimeField(allow_null=True, help_text="When every run had ended, or it was cancelled")
    skipped = serializers.IntegerField(help_text="Combinations not run (GET …/results/ says why)")
    progress = CampaignProgressSerializer()


class CampaignSerializer(CampaignSummarySerializer):
    """A campaign: its progress, its outcome totals, and where its results are."""

    outcomes = CampaignOutcomesSerializer()
    failures = serializers.IntegerField(
        help_text="Ended runs a CI pipeline fails on: the audit found something, the expected outcome was not met, "
        "or the run crashed (the JUnit export's failures)"
    )
    results = serializers.URLField(help_text="One row per run (JSON)")
    export_csv = serializers.URLField(help_text="One row per run (CSV)")
    export_junit = serializers.URLField(help_text="JUnit XML: a testcase per run and per skipped combination")


class CampaignPreviewSerializer(serializers.Serializer):
    axes = serializers.DictField(child=serializers.ListField(), help_text='The axes, "all" expanded')
    runs = serializers.IntegerField(help_text="Runs the campaign would make")
    skipped = serializers.IntegerField(help_text="Combinations it would skip")
    skipped_reasons = serializers.ListField(
        child=serializers.DictField(), help_text="[{reason, count}], the most frequent first"
    )


class CampaignRowSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Its entry in the plan")
    run = serializers.IntegerField(help_text="The run's id (GET /api/runs/{id}/)")
    values = serializers.DictField(help_text="Its value on each axis")
    status = serializers.ChoiceField(choices=RunStatus.choices)
    outcome = serializers.ChoiceField(choices=list(campaigns.OUTCOMES), allow_null=True,
                                      help_text="null until the run ends")
    verdict = serializers.CharField(allow_null=True)
    audit = serializers.CharField(allow_null=True)
    server_status = serializers.CharField(allow_null=True)
    duration = serializers.FloatField(allow_null=True)
    error = serializers.CharField(allow_null=True)


class CampaignSkippedSerializer(serializers.Serializer):
    values = serializers.DictField()
    field = serializers.CharField(help_text="The parameter at fault")
    reason = serializers.CharField(help_text="Nova's (or the simulator's) reason")


class CampaignResultsSerializer(serializers.Serializer):
    """``simulator.campaigns.as_json``: the document ``resize_campaign --json`` writes."""

    id = serializers.IntegerField()
    name = serializers.CharField(allow_blank=True)
    definition = serializers.DictField()
    progress = CampaignProgressSerializer()
    runs = CampaignRowSerializer(many=True)
    skipped = CampaignSkippedSerializer(many=True)


class AxisFieldExtension(OpenApiSerializerFieldExtension):
    """An axis in the schema: a list of the parameter's values, or "all"."""

    target_class = AxisField

    def map_serializer_field(self, auto_schema, direction):
        listed = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        listed.pop("description", None)  # the axis says it once, below
        listed.get("items", {}).pop("description", None)  # "Omitted: …" is about a run's own field
        return {"oneOf": [listed, {"type": "string", "enum": [campaigns.ALL]}], "description": self.target.help_text}
