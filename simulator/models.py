"""The simulated cloud: Nova's compute records and Placement's, grouped by cloud."""
import math
import uuid
from functools import partial

from django.db import models, transaction
from django.db.models import OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from .states import (
    FAULT_STATUSES,
    MIGRATION_DONE_STATUSES,
    CampaignStatus,
    ConformanceStatus,
    ConsumerType,
    MigrationStatus,
    MigrationType,
    PowerState,
    ResourceClass,
    RunStatus,
    TaskState,
    VmState,
    api_status,
)


class Finishing:
    """A record whose ``status`` takes the values of ``STATUSES``, a vocabulary with terminal
    values: it is finished once it holds one of them."""

    STATUSES = None

    @property
    def is_finished(self):
        return self.status in self.STATUSES.TERMINAL


class Cloud(models.Model):
    """A self-contained simulated deployment: hosts, providers, flavors, servers, allocations.

    Runs build a fresh one from their scenario's template by default; the demo cloud
    is shared, so runs against it compete for capacity.
    """

    name = models.SlugField(max_length=100, unique=True)
    description = models.CharField(max_length=255, blank=True)
    shared = models.BooleanField(default=False, help_text="Built by seed_demo; runs may target it.")
    imported = models.JSONField(
        null=True, blank=True,
        help_text="Set on a cloud read from a real Placement and Nova: where from, when, what was found. "
        "Runs never change such a cloud; they run on a copy.",
    )
    copy_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="copies",
        help_text="The imported cloud this one is a copy of, for replays.",
    )
    inherited = models.JSONField(
        null=True, blank=True,
        help_text="A copy's audit findings when it was made (keys of simulator.audit.finding_key): what a run "
        "in it finds again was there before it.",
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def is_imported(self):
        return self.imported is not None


class Host(models.Model):
    """A nova-compute service with the fake virt driver and its injected failures."""

    cloud = models.ForeignKey(Cloud, on_delete=models.CASCADE, related_name="hosts")
    name = models.CharField(max_length=255)
    service_up = models.BooleanField(default=True)
    driver = models.CharField(max_length=64, default="FakeDriver")
    supports_migrate_to_same_host = models.BooleanField(default=False)
    failures = models.JSONField(
        default=list,
        blank=True,
        help_text='Driver failures on this host, e.g. [{"point": "finish_migration", '
        '"exception": "VirtualInterfaceCreateException"}].',
    )

    class Meta:
        ordering = ["cloud_id", "name"]
        constraints = [models.UniqueConstraint(fields=["cloud", "name"], name="host_unique_per_cloud")]

    def __str__(self):
        return self.name


class ResourceProvider(models.Model):
    """Placement's record of a compute node; ``name`` is the hypervisor hostname."""

    cloud = models.ForeignKey(Cloud, on_delete=models.CASCADE, related_name="providers")
    host = models.OneToOneField(Host, on_delete=models.CASCADE, related_name="provider")
    uuid = models.UUIDField(default=uuid.uuid4, unique=True)
    name = models.CharField(max_length=255)
    generation = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["cloud_id", "name"]
        constraints = [models.UniqueConstraint(fields=["cloud", "name"], name="provider_unique_per_cloud")]

    def __str__(self):
        return self.name


class Inventory(models.Model):
    """One resource class of a provider; capacity is ``(total - reserved) * allocation_ratio``."""

    provider = models.ForeignKey(ResourceProvider, on_delete=models.CASCADE, related_name="inventories")
    resource_class = models.CharField(max_length=64, choices=ResourceClass.choices)
    total = models.PositiveIntegerField()
    reserved = models.PositiveIntegerField(default=0)
    min_unit = models.PositiveIntegerField(default=1)
    max_unit = models.PositiveIntegerField(default=2147483647)
    step_size = models.PositiveIntegerField(default=1)
    allocation_ratio = models.FloatField(default=1.0)

    class Meta:
        ordering = ["provider_id", "resource_class"]
        verbose_name_plural = "inventories"
        constraints = [
            models.UniqueConstraint(fields=["provider", "resource_class"], name="inventory_unique_class")
        ]

    def __str__(self):
        return f"{self.provider.name} {self.resource_class}"

    @property
    def capacity(self):
        """What Placement lets consumers use: ``(total - reserved) * allocation_ratio``, rounded down."""
        return int((self.total - self.reserved) * self.allocation_ratio)


class Flavor(models.Model):
    """An instance type; its placement request is VCPU, MEMORY_MB and DISK_GB."""

    cloud = models.ForeignKey(Cloud, on_delete=models.CASCADE, related_name="flavors")
    flavorid = models.CharField(max_length=255)
    name = models.CharField(max_length=255)
    vcpus = models.PositiveIntegerField()
    memory_mb = models.PositiveIntegerField()
    root_gb = models.PositiveIntegerField()
    ephemeral_gb = models.PositiveIntegerField(default=0)
    swap = models.PositiveIntegerField(default=0, help_text="MB")
    disabled = models.BooleanField(default=False)

    class Meta:
        ordering = ["cloud_id", "flavorid"]
        constraints = [
            models.UniqueConstraint(fields=["cloud", "flavorid"], name="flavorid_unique_per_cloud"),
            models.UniqueConstraint(fields=["cloud", "name"], name="flavor_name_unique_per_cloud"),
        ]

    def __str__(self):
        return self.name

    def resources(self):
        """The placement request for this flavor (nova/scheduler/utils.py)."""
        return {
            ResourceClass.VCPU.value: self.vcpus,
            ResourceClass.MEMORY_MB.value: self.memory_mb,
            ResourceClass.DISK_GB.value: self.root_gb + self.ephemeral_gb + math.ceil(self.swap / 1024),
        }


class ServerQuerySet(models.QuerySet):
    def with_latest_fault(self):
        """Each server with its latest fault's ``fault_code`` and ``fault_message`` (None without
        one), in the same query."""
        latest = InstanceFault.objects.filter(server=OuterRef("pk")).order_by("-created", "-id")
        return self.annotate(
            fault_code=Subquery(latest.values("code")[:1]),
            fault_message=Subquery(latest.values("message")[:1]),
        )


class Server(models.Model):
    """An instance; ``host``/``node`` say where the DB thinks it lives."""

    cloud = models.ForeignKey(Cloud, on_delete=models.CASCADE, related_name="servers")
    uuid = models.UUIDField(default=uuid.uuid4, unique=True)
    name = models.CharField(max_length=255)
    host = models.ForeignKey(Host, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    node = models.ForeignKey(ResourceProvider, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    flavor = models.ForeignKey(Flavor, on_delete=models.PROTECT, related_name="+")
    old_flavor = models.ForeignKey(Flavor, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    new_flavor = models.ForeignKey(Flavor, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    vm_state = models.CharField(max_length=32, choices=VmState.choices, default=VmState.ACTIVE)
    task_state = models.CharField(max_length=32, choices=TaskState.choices, null=True, blank=True)
    power_state = models.PositiveSmallIntegerField(choices=PowerState.choices, default=PowerState.RUNNING)
    old_vm_state = models.CharField(max_length=32, blank=True, help_text="system_metadata['old_vm_state']")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    objects = ServerQuerySet.as_manager()

    class Meta:
        ordering = ["cloud_id", "name"]

    def __str__(self):
        return self.name

    @property
    def status(self):
        return api_status(self.vm_state, self.task_state)

    def api_fault(self, faults):
        """The fault Nova's API shows among ``faults`` (faults of this server): the latest one, and
        only while the server is in ERROR or DELETED (``nova/api/openstack/compute/views/servers.py``);
        None otherwise."""
        if self.status not in FAULT_STATUSES or not faults:
            return None
        return max(faults, key=lambda fault: (fault.created, fault.pk))


class MigrationQuerySet(models.QuerySet):
    def in_progress(self):
        """Nova's ``MigrationList.get_in_progress_by_host_and_node``: every status but the done ones
        (``finished``, waiting for confirm or revert, is in progress)."""
        return self.exclude(status__in=MIGRATION_DONE_STATUSES)


class Migration(models.Model):
    """A resize's migration record; its uuid is a placement consumer."""

    cloud = models.ForeignKey(Cloud, on_delete=models.CASCADE, related_name="migrations")
    uuid = models.UUIDField(default=uuid.uuid4, unique=True)
    server = models.ForeignKey(Server, on_delete=models.CASCADE, related_name="migrations")
    source_compute = models.ForeignKey(Host, on_delete=models.PROTECT, related_name="+")
    source_node = models.ForeignKey(ResourceProvider, on_delete=models.PROTECT, related_name="+")
    dest_compute = models.ForeignKey(Host, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    dest_node = models.ForeignKey(ResourceProvider, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    old_flavor = models.ForeignKey(Flavor, on_delete=models.PROTECT, related_name="+")
    new_flavor = models.ForeignKey(Flavor, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=32, choices=MigrationStatus.choices)
    migration_type = models.CharField(max_length=32, choices=MigrationType.choices, default=MigrationType.RESIZE)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    objects = MigrationQuerySet.as_manager()

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["-created", "-id"], name="migration_created_idx")]

    def __str__(self):
        return str(self.uuid)


class Consumer(models.Model):
    """A placement consumer (instance or migration uuid) with its generation."""

    cloud = models.ForeignKey(Cloud, on_delete=models.CASCADE, related_name="consumers")
    uuid = models.UUIDField(unique=True)
    consumer_type = models.CharField(max_length=16, choices=ConsumerType.choices)
    generation = models.PositiveIntegerField(default=0)
    project_id = models.CharField(max_length=255)
    user_id = models.CharField(max_length=255)

    def __str__(self):
        return f"{self.consumer_type} {self.uuid}"


class Allocation(models.Model):
    """An amount of one resource class a consumer holds on a provider."""

    provider = models.ForeignKey(ResourceProvider, on_delete=models.CASCADE, related_name="allocations")
    consumer = models.ForeignKey(Consumer, on_delete=models.CASCADE, related_name="allocations")
    resource_class = models.CharField(max_length=64, choices=ResourceClass.choices)
    used = models.PositiveIntegerField()

    class Meta:
        ordering = ["provider_id", "consumer_id", "resource_class"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "consumer", "resource_class"], name="allocation_unique")
        ]

    def __str__(self):
        return f"{self.consumer.uuid} {self.resource_class}={self.used} on {self.provider.name}"


class InstanceFault(models.Model):
    """A fault recorded for a server: code, message, traceback details, host."""

    server = models.ForeignKey(Server, on_delete=models.CASCADE, related_name="faults")
    code = models.PositiveIntegerField()
    message = models.CharField(max_length=255)
    details = models.TextField(blank=True)
    host = models.CharField(max_length=255, blank=True)
    created = models.DateTimeField()

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self):
        return f"{self.code} {self.message}"


class InstanceAction(models.Model):
    """A user request on a server (``resize``, ``confirmResize``, ``revertResize``)."""

    server = models.ForeignKey(Server, on_delete=models.CASCADE, related_name="actions")
    action = models.CharField(max_length=64)
    request_id = models.CharField(max_length=64)
    user_id = models.CharField(max_length=255)
    project_id = models.CharField(max_length=255)
    start_time = models.DateTimeField()
    message = models.CharField(max_length=255, null=True, blank=True, help_text="'Error' if an event failed")

    class Meta:
        ordering = ["start_time", "id"]

    def __str__(self):
        return f"{self.action} {self.request_id}"


class InstanceActionEvent(models.Model):
    """One service's part of an action, e.g. ``compute_finish_resize`` on the dest."""

    action = models.ForeignKey(InstanceAction, on_delete=models.CASCADE, related_name="events")
    event = models.CharField(max_length=64)
    host = models.CharField(max_length=255, blank=True)
    start_time = models.DateTimeField()
    finish_time = models.DateTimeField(null=True, blank=True)
    result = models.CharField(max_length=16, null=True, blank=True)
    traceback = models.TextField(blank=True)
    details = models.CharField(max_length=255, blank=True)
    worker = models.CharField(max_length=255, blank=True, help_text="Celery worker that ran it")
    queue = models.CharField(max_length=255, blank=True, help_text="Queue it was delivered on")

    class Meta:
        ordering = ["start_time", "id"]

    def __str__(self):
        return self.event


class CampaignQuerySet(models.QuerySet):
    def with_counts(self):
        """Each campaign with ``run_count``, ``runs_done`` and ``first_run`` (when its first run was
        created), in the same query: what its progress needs."""
        return self.annotate(
            run_count=models.Count("runs"),
            runs_done=models.Count("runs", filter=Q(runs__status__in=RunStatus.TERMINAL)),
            first_run=models.Min("runs__created"),
        ).order_by(*Campaign._meta.ordering)  # Meta.ordering does not apply to a GROUP BY


class Campaign(Finishing, models.Model):
    """Many runs from one definition: a base (a preset and overrides) and axes over the declared
    parameters, expanded into ``plan`` (the runs to make) and ``skipped`` (what Nova's API or the
    driver cannot express, with the reason). ``cursor`` is the next plan entry to start."""

    name = models.CharField(max_length=200, blank=True)
    definition = models.JSONField(default=dict)
    plan = models.JSONField(default=list, help_text="[{axis: value}] of each run, in order")
    skipped = models.JSONField(default=list, help_text="[{values, field, reason}] not run")
    STATUSES = CampaignStatus
    status = models.CharField(max_length=16, choices=CampaignStatus.choices, default=CampaignStatus.RUNNING)
    cursor = models.PositiveIntegerField(default=0, help_text="The next plan entry to start")
    max_in_flight = models.PositiveIntegerField(default=8, help_text="Runs unfinished at once, at most")
    created = models.DateTimeField(auto_now_add=True)
    finished = models.DateTimeField(null=True, blank=True)

    objects = CampaignQuerySet.as_manager()

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self):
        return f"campaign {self.pk} {self.name}".strip()



def _started(now):
    """What a step's start writes on an unfinished run: it is running, since its first step."""
    return {"status": RunStatus.RUNNING, "started": Coalesce("started", Value(now))}


class RunQuerySet(models.QuerySet):
    def unfinished(self):
        return self.exclude(status__in=RunStatus.TERMINAL)

    def executing(self, worker, now):
        """Mark these (unfinished) runs as executing a step on ``worker``: a queued run starts
        with its first step."""
        return self.unfinished().update(**_started(now), executing=worker, progressed=now)

    def step_failed(self, text):
        """A step rolled back by an error the reaper will retry: say why on the run, which has
        started (its step was attempted) and is executing nothing now."""
        return self.unfinished().update(**_started(timezone.now()), error=text[:2000], executing="")

    def stale(self, cutoff):
        """Unfinished runs waiting on a cast that have shown no sign of life since ``cutoff``."""
        return self.unfinished().exclude(next_step="").filter(Q(progressed__lt=cutoff) | Q(progressed__isnull=True))


class Run(Finishing, models.Model):
    """One resize scenario executed against a cloud, with its report.

    ``next_step``/``seq`` point at the cast the pipeline executes next; a step
    whose seq is behind the run's has already been executed.
    """

    scenario = models.CharField(max_length=100)
    params = models.JSONField(default=dict)
    STATUSES = RunStatus
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    cloud = models.ForeignKey(Cloud, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs")
    server = models.ForeignKey(Server, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs")
    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, help_text="Why the run crashed")
    next_step = models.CharField(max_length=64, blank=True, help_text="The cast waiting to be executed")
    next_host = models.CharField(max_length=255, blank=True)
    seq = models.PositiveIntegerField(default=0)
    task_id = models.CharField(max_length=64, blank=True, help_text="Celery task id of the pending cast")
    dispatched = models.DateTimeField(null=True, blank=True, help_text="When the pending cast was sent")
    redispatches = models.PositiveIntegerField(default=0, help_text="Lost messages sent again by the reaper")
    executing = models.CharField(max_length=255, blank=True, help_text="Worker executing the pending cast now")
    progressed = models.DateTimeField(null=True, blank=True, help_text="Last sign of life")
    pipeline_state = models.JSONField(default=dict, help_text="What one step hands on to the next (request spec, migration, action)")
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    audit = models.JSONField(null=True, blank=True)
    verdict = models.JSONField(null=True, blank=True)
    server_status = models.CharField(max_length=32, blank=True, help_text="The server's API status when it ended")
    campaign = models.ForeignKey(Campaign, null=True, blank=True, on_delete=models.CASCADE, related_name="runs")
    campaign_index = models.PositiveIntegerField(null=True, blank=True, help_text="Its entry in the campaign's plan")

    objects = RunQuerySet.as_manager()

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["-created", "-id"], name="run_created_idx")]
        constraints = [
            # A campaign's entry is run once, however often its dispatcher is woken.
            models.UniqueConstraint(fields=["campaign", "campaign_index"], name="run_unique_campaign_entry")
        ]

    def __str__(self):
        return f"run {self.pk} ({self.label})"

    # -- lifecycle: queued -> running -> done | crashed ----------------------------------------

    @property
    def duration(self):
        """Seconds from its first step to its end; None until it has both."""
        if self.started and self.finished:
            return (self.finished - self.started).total_seconds()
        return None

    # What a step changes on its run when it hands on to the next cast (a step that ends the run
    # saves it whole: the report's fields too).
    STEP_FIELDS = ("status", "started", "progressed", "error", "executing", "pipeline_state", "seq",
                   "next_step", "next_host", "task_id", "dispatched")

    def hand_on(self, cast, on_cast=None):
        """Record the next cast (step, host) under a new task id; ``on_cast(run_id, seq, step,
        host, task_id)`` sends it once the transaction commits."""
        self.next_step, self.next_host = cast
        self.task_id = str(uuid.uuid4())
        self.dispatched = self.progressed = timezone.now()
        if on_cast is not None:
            self._send_on_commit(on_cast)

    def start_step(self, now):
        """A step begins (in its transaction): a queued run starts with its first step."""
        self.status = RunStatus.RUNNING
        self.started = self.started or now
        self.progressed = now

    def send_again(self, on_cast):
        """The reaper's redispatch of a lost cast: same step, new task id, one more redispatch."""
        self.redispatches += 1
        self.task_id = str(uuid.uuid4())
        self.dispatched = self.progressed = timezone.now()
        self.save(update_fields=["redispatches", "task_id", "dispatched", "progressed"])
        self._send_on_commit(on_cast)

    def _send_on_commit(self, on_cast):
        transaction.on_commit(partial(on_cast, self.pk, self.seq, self.next_step, self.next_host, self.task_id))

    def finish(self, status=RunStatus.DONE, aborted=False):
        """End the run: the 'after' snapshot, the audit, the verdict against its preset."""
        from .audit import audit_cloud
        from .report import build_report, snapshot
        from .verdicts import verdict

        self.next_step = self.next_host = self.task_id = self.executing = ""
        self.dispatched = None
        self.progressed = timezone.now()
        self.after = snapshot(self.cloud)
        self.audit = audit_cloud(self.cloud)
        self.status = status
        self.finished = timezone.now()
        report = build_report(self)
        self.server_status = (report["server"] or {}).get("status") or ""
        self.verdict = verdict(self.scenario, self.params, report, aborted=aborted)
        if self.campaign_id:  # room for the campaign's next run
            from .campaigns import wake

            transaction.on_commit(partial(wake, self.campaign_id))

    def crash(self, reason, aborted=False):
        """End a run that cannot go on; its report keeps the state it reached."""
        self.error = reason
        self.finish(RunStatus.CRASHED, aborted=aborted)

    # -- what it ran ----------------------------------------------------------------------------
    @property
    def label(self):
        """The preset it ran, or "custom, based on NAME" when its parameters differ from the preset's."""
        from .presets import run_label

        return run_label(self.scenario, self.params)

    @property
    def injected(self):
        """What it injected: failure point, exception, host, the user's action, bugs; and a summary."""
        from .params import injected

        return injected(self.params)

    @property
    def audit_summary(self):
        """What the audit at its end found: "clean", or e.g. "orphaned 1 · missing 1"; None until then."""
        from .audit import audit_summary

        return audit_summary(self.audit)


class RunStep(models.Model):
    """One executed pipeline step (an RPC cast) of a run, with its timing."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="steps")
    seq = models.PositiveIntegerField()
    name = models.CharField(max_length=64)
    host = models.CharField(max_length=255, blank=True)
    queued = models.DateTimeField(null=True, blank=True, help_text="When the cast was sent")
    started = models.DateTimeField()
    finished = models.DateTimeField()
    worker = models.CharField(max_length=255, blank=True)
    queue = models.CharField(max_length=255, blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    failed = models.BooleanField(default=False, help_text="An exception ended the step or one of its events")
    error = models.CharField(max_length=255, blank=True)
    log = models.JSONField(default=list, blank=True, help_text="What Nova would have logged")

    class Meta:
        ordering = ["run_id", "seq"]
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="runstep_unique_seq")]

    def __str__(self):
        return f"{self.run_id}#{self.seq} {self.name}"


class ConformanceCheckQuerySet(models.QuerySet):
    def latest_per_preset(self):
        """{preset name: its latest finished check} (checks of presets, not of runs)."""
        presets = self.filter(run__isnull=True, finished__isnull=False)
        last = presets.values("scenario").annotate(last=models.Max("id")).values("last")
        return {check.scenario: check for check in presets.filter(id__in=last)}


class ConformanceCheck(Finishing, models.Model):
    """A run's parameters (a preset's, or a run's) replayed in real Nova and compared with the
    simulator's outcome of the same parameters."""

    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.CASCADE, related_name="conformance_checks")
    scenario = models.CharField(max_length=100, help_text="The preset checked, or the run's scenario")
    params = models.JSONField(default=dict)
    STATUSES = ConformanceStatus
    status = models.CharField(max_length=16, choices=ConformanceStatus.choices, default=ConformanceStatus.QUEUED)
    nova_version = models.CharField(max_length=64, blank=True)
    notes = models.JSONField(default=list, blank=True, help_text="What the replay changed to express the run")
    simulator = models.JSONField(null=True, blank=True, help_text="The simulator's normalised outcome")
    nova = models.JSONField(null=True, blank=True, help_text="Nova's normalised outcome")
    differences = models.JSONField(default=list, blank=True, help_text="[field, simulator, Nova]")
    error = models.TextField(blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    finished = models.DateTimeField(null=True, blank=True)

    objects = ConformanceCheckQuerySet.as_manager()

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self):
        return f"conformance of {self.run or self.scenario}: {self.status}"

