"""Every status vocabulary, declared once, and Nova's API status mapping.

Values are the strings of ``nova/objects/fields.py`` (and of the API for server statuses). Each
vocabulary a page draws is a ``Vocabulary``: its values and labels, the colour a badge draws
each value in, and its terminal subset (the values after which nothing changes any more).
"""
from django.db import models


class Vocabulary:
    """Mixin of a ``TextChoices``: ``colour(value)``, ``label_of(value)`` and ``TERMINAL``.
    ``KEY`` names it for templates (``{% badge "run" value %}``) and for the badge's data attribute."""

    KEY = ""
    ATTRIBUTE = "status"  # the badge's data-<ATTRIBUTE>, e.g. data-status="done"
    COLOURS: dict = {}
    DEFAULT_COLOUR = "gray"
    TERMINAL: frozenset = frozenset()

    @classmethod
    def colour(cls, value):
        return cls.COLOURS.get(value, cls.DEFAULT_COLOUR)

    @classmethod
    def label_of(cls, value):
        try:
            return cls(value).label
        except ValueError:  # a value outside the vocabulary (e.g. an audit summary): shown as it is
            return str(value)


VOCABULARIES = {}


def vocabulary(key, colours, terminal=(), attribute="status", default_colour="gray"):
    """Declare a TextChoices as a vocabulary: its colours, its terminal values, its key."""

    def declare(cls):
        cls.KEY, cls.ATTRIBUTE, cls.DEFAULT_COLOUR = key, attribute, default_colour
        cls.COLOURS = {cls(value).value: colour for value, colour in colours.items()}
        cls.TERMINAL = frozenset(value for value in terminal if value in cls.values)
        VOCABULARIES[key] = cls
        return cls

    return declare


class VmState(models.TextChoices):
    ACTIVE = "active"
    BUILDING = "building"
    STOPPED = "stopped"
    RESIZED = "resized"
    PAUSED = "paused"
    SUSPENDED = "suspended"
    SHELVED = "shelved"
    SHELVED_OFFLOADED = "shelved_offloaded"
    ERROR = "error"
    DELETED = "deleted"


class TaskState(models.TextChoices):
    RESIZE_PREP = "resize_prep"
    RESIZE_MIGRATING = "resize_migrating"
    RESIZE_MIGRATED = "resize_migrated"
    RESIZE_FINISH = "resize_finish"
    RESIZE_REVERTING = "resize_reverting"
    RESIZE_CONFIRMING = "resize_confirming"


class PowerState(models.IntegerChoices):
    """``nova/compute/power_state.py``."""

    NOSTATE = 0
    RUNNING = 1
    PAUSED = 3
    SHUTDOWN = 4
    CRASHED = 6
    SUSPENDED = 7


# MigrationList.get_in_progress_by_host_and_node excludes these statuses (some are other move
# operations'); everything else (``finished`` included) is a migration in progress.
MIGRATION_DONE_STATUSES = frozenset(
    {"confirmed", "reverted", "error", "failed", "completed", "cancelled", "done"}
)


@vocabulary(
    "migration",
    colours={
        "pre-migrating": "blue", "migrating": "blue", "post-migrating": "blue", "finished": "yellow",
        "confirming": "blue", "confirmed": "green", "reverting": "blue", "reverted": "green", "error": "red",
    },
    terminal=MIGRATION_DONE_STATUSES,
)
class MigrationStatus(Vocabulary, models.TextChoices):
    PRE_MIGRATING = "pre-migrating", "pre-migrating"
    MIGRATING = "migrating", "migrating"
    POST_MIGRATING = "post-migrating", "post-migrating"
    FINISHED = "finished", "finished"
    CONFIRMING = "confirming", "confirming"
    CONFIRMED = "confirmed", "confirmed"
    REVERTING = "reverting", "reverting"
    REVERTED = "reverted", "reverted"
    ERROR = "error", "error"


class MigrationType(models.TextChoices):
    RESIZE = "resize"
    MIGRATION = "migration"


class ConsumerType(models.TextChoices):
    INSTANCE = "INSTANCE"
    MIGRATION = "MIGRATION"
    # An imported consumer that is neither a server nor a migration Nova knows (Placement's own
    # name for a consumer without a type is "unknown").
    UNKNOWN = "UNKNOWN"


class ResourceClass(models.TextChoices):
    VCPU = "VCPU"
    MEMORY_MB = "MEMORY_MB"
    DISK_GB = "DISK_GB"


RESOURCE_CLASSES = [rc.value for rc in ResourceClass]


@vocabulary(
    "verdict",
    colours={"matched": "green", "mismatch": "red", "none": "gray", "aborted": "gray"},
    attribute="verdict",
)
class VerdictResult(Vocabulary, models.TextChoices):
    """A finished run's verdict against its preset's expected outcome."""

    MATCHED = "matched", "matched"
    MISMATCH = "mismatch", "mismatch"
    NONE = "none", "no expectation"
    ABORTED = "aborted", "aborted"


@vocabulary(
    "run",
    colours={"queued": "gray", "running": "blue", "done": "green", "crashed": "red"},
    terminal=("done", "crashed"),
)
class RunStatus(Vocabulary, models.TextChoices):
    """A run's lifecycle (``Run`` owns the transitions)."""

    QUEUED = "queued", "queued"
    RUNNING = "running", "running"
    DONE = "done", "done"
    CRASHED = "crashed", "crashed"


@vocabulary(
    "campaign",
    colours={"running": "blue", "done": "green", "cancelled": "gray"},
    terminal=("done", "cancelled"),
)
class CampaignStatus(Vocabulary, models.TextChoices):
    """A campaign: its runs going out on the workers, all ended, or cancelled."""

    RUNNING = "running", "running"
    DONE = "done", "done"
    CANCELLED = "cancelled", "cancelled"


@vocabulary(
    "conformance",
    colours={"queued": "gray", "running": "blue", "matched": "green", "differs": "red", "skipped": "yellow",
             "failed": "red"},
    terminal=("matched", "differs", "skipped", "failed"),
    attribute="conformance",
)
class ConformanceStatus(Vocabulary, models.TextChoices):
    """A replay in real Nova: waiting, running, or how Nova's outcome compared with the simulator's."""

    QUEUED = "queued", "queued"
    RUNNING = "running", "running"
    MATCHED = "matched", "matches Nova 34"
    DIFFERS = "differs", "differs from Nova 34"
    SKIPPED = "skipped", "not replayable"
    FAILED = "failed", "replay failed"


@vocabulary("event", colours={"Success": "green", "Error": "red"}, terminal=("Success", "Error"))
class EventResult(Vocabulary, models.TextChoices):
    """An instance action event's result (null while it is not finished)."""

    SUCCESS = "Success", "Success"
    ERROR = "Error", "Error"


@vocabulary(
    "audit",
    colours={"clean": "green"},
    attribute="audit",
    default_colour="red",  # any finding, e.g. "orphaned 1 · missing 1"
)
class AuditKind(Vocabulary, models.TextChoices):
    """What the allocation audit finds (and "clean" when it finds nothing)."""

    CLEAN = "clean", "clean"
    ORPHANED = "orphaned", "orphaned"
    MISSING = "missing", "missing"
    FLAVOR_MISMATCH = "flavor_mismatch", "flavor mismatch"


FINDING_KINDS = {kind.value: kind.label for kind in AuditKind if kind != AuditKind.CLEAN}


@vocabulary("service", colours={"up": "green", "down": "red"})
class ServiceState(Vocabulary, models.TextChoices):
    """A nova-compute service's state (``Host.service_up``)."""

    UP = "up", "up"
    DOWN = "down", "down"


@vocabulary(
    "server",
    colours={
        "ACTIVE": "green", "BUILD": "blue", "RESIZE": "blue", "VERIFY_RESIZE": "yellow", "REVERT_RESIZE": "yellow",
        "ERROR": "red",
    },
)
class ServerStatus(Vocabulary, models.TextChoices):
    """The ``status`` Nova's API shows for a server (``nova/api/openstack/common.py``)."""

    ACTIVE = "ACTIVE", "ACTIVE"
    BUILD = "BUILD", "BUILD"
    SHUTOFF = "SHUTOFF", "SHUTOFF"
    RESIZE = "RESIZE", "RESIZE"
    VERIFY_RESIZE = "VERIFY_RESIZE", "VERIFY_RESIZE"
    REVERT_RESIZE = "REVERT_RESIZE", "REVERT_RESIZE"
    PAUSED = "PAUSED", "PAUSED"
    SUSPENDED = "SUSPENDED", "SUSPENDED"
    SHELVED = "SHELVED", "SHELVED"
    SHELVED_OFFLOADED = "SHELVED_OFFLOADED", "SHELVED_OFFLOADED"
    ERROR = "ERROR", "ERROR"
    DELETED = "DELETED", "DELETED"
    UNKNOWN = "UNKNOWN", "UNKNOWN"


# The API shows a server's latest fault only in these statuses (views/servers.py _fault_statuses).
FAULT_STATUSES = frozenset({ServerStatus.ERROR.value, ServerStatus.DELETED.value})


RESIZE_TASK_STATES = frozenset(
    {TaskState.RESIZE_PREP, TaskState.RESIZE_MIGRATING, TaskState.RESIZE_MIGRATED, TaskState.RESIZE_FINISH}
)

# nova/api/openstack/common.py _STATE_MAP, for the states the simulator uses:
# vm_state -> {task_state or "default": API status}.
_STATE_MAP = {
    VmState.ACTIVE: {"default": ServerStatus.ACTIVE, **{t: ServerStatus.RESIZE for t in RESIZE_TASK_STATES}},
    VmState.STOPPED: {"default": ServerStatus.SHUTOFF, **{t: ServerStatus.RESIZE for t in RESIZE_TASK_STATES}},
    VmState.RESIZED: {"default": ServerStatus.VERIFY_RESIZE, TaskState.RESIZE_REVERTING: ServerStatus.REVERT_RESIZE},
    VmState.BUILDING: {"default": ServerStatus.BUILD},
    VmState.PAUSED: {"default": ServerStatus.PAUSED},
    VmState.SUSPENDED: {"default": ServerStatus.SUSPENDED},
    VmState.SHELVED: {"default": ServerStatus.SHELVED},
    VmState.SHELVED_OFFLOADED: {"default": ServerStatus.SHELVED_OFFLOADED},
    VmState.ERROR: {"default": ServerStatus.ERROR},
    VmState.DELETED: {"default": ServerStatus.DELETED},
}


def api_status(vm_state, task_state):
    """The server ``status`` the compute API shows for a vm_state/task_state pair."""
    states = _STATE_MAP.get(vm_state)
    if states is None:
        return ServerStatus.UNKNOWN.value
    return states.get(task_state, states["default"]).value
