"""Nova's state vocabularies and the API status mapping.

Values are the strings of ``nova/objects/fields.py``; every choice carries the
colour the dashboard draws it in, so there is one place per concept.
"""
from django.db import models


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


class MigrationStatus(models.TextChoices):
    PRE_MIGRATING = "pre-migrating"
    MIGRATING = "migrating"
    POST_MIGRATING = "post-migrating"
    FINISHED = "finished"
    CONFIRMING = "confirming"
    CONFIRMED = "confirmed"
    REVERTING = "reverting"
    REVERTED = "reverted"
    ERROR = "error"


# MigrationList.get_in_progress_by_host_and_node excludes these statuses;
# everything else (``finished`` included) is a migration in progress.
MIGRATION_DONE_STATUSES = frozenset(
    {"confirmed", "reverted", "error", "failed", "completed", "cancelled", "done"}
)


class MigrationType(models.TextChoices):
    RESIZE = "resize"
    MIGRATION = "migration"


class ConsumerType(models.TextChoices):
    INSTANCE = "INSTANCE"
    MIGRATION = "MIGRATION"


class ResourceClass(models.TextChoices):
    VCPU = "VCPU"
    MEMORY_MB = "MEMORY_MB"
    DISK_GB = "DISK_GB"


RESOURCE_CLASSES = [rc.value for rc in ResourceClass]


class VerdictResult(models.TextChoices):
    """A finished run's verdict against its preset's expected outcome."""

    MATCHED = "matched", "matched"
    MISMATCH = "mismatch", "mismatch"
    NONE = "none", "no expectation"
    ABORTED = "aborted", "aborted"

RESIZE_TASK_STATES = frozenset(
    {TaskState.RESIZE_PREP, TaskState.RESIZE_MIGRATING, TaskState.RESIZE_MIGRATED, TaskState.RESIZE_FINISH}
)

# nova/api/openstack/common.py _STATE_MAP, for the states the simulator uses:
# vm_state -> {task_state or "default": API status}.
_STATE_MAP = {
    VmState.ACTIVE: {"default": "ACTIVE", **{t: "RESIZE" for t in RESIZE_TASK_STATES}},
    VmState.STOPPED: {"default": "SHUTOFF", **{t: "RESIZE" for t in RESIZE_TASK_STATES}},
    VmState.RESIZED: {"default": "VERIFY_RESIZE", TaskState.RESIZE_REVERTING: "REVERT_RESIZE"},
    VmState.BUILDING: {"default": "BUILD"},
    VmState.PAUSED: {"default": "PAUSED"},
    VmState.SUSPENDED: {"default": "SUSPENDED"},
    VmState.SHELVED: {"default": "SHELVED"},
    VmState.SHELVED_OFFLOADED: {"default": "SHELVED_OFFLOADED"},
    VmState.ERROR: {"default": "ERROR"},
    VmState.DELETED: {"default": "DELETED"},
}


def api_status(vm_state, task_state):
    """The server ``status`` the compute API shows for a vm_state/task_state pair."""
    states = _STATE_MAP.get(vm_state)
    if states is None:
        return "UNKNOWN"
    return states.get(task_state, states["default"])


# Status colours (Bootstrap-like names) used by the dashboard's badges.
STATUS_COLOURS = {
    "ACTIVE": "green",
    "SHUTOFF": "gray",
    "RESIZE": "blue",
    "VERIFY_RESIZE": "yellow",
    "REVERT_RESIZE": "yellow",
    "ERROR": "red",
    "DELETED": "gray",
    MigrationStatus.PRE_MIGRATING: "blue",
    MigrationStatus.MIGRATING: "blue",
    MigrationStatus.POST_MIGRATING: "blue",
    MigrationStatus.FINISHED: "yellow",
    MigrationStatus.CONFIRMING: "blue",
    MigrationStatus.CONFIRMED: "green",
    MigrationStatus.REVERTING: "blue",
    MigrationStatus.REVERTED: "green",
    MigrationStatus.ERROR: "red",
    # Run lifecycle
    "queued": "gray",
    "running": "blue",
    "done": "green",
    "crashed": "red",
    # Verdicts
    VerdictResult.MATCHED: "green",
    VerdictResult.MISMATCH: "red",
    VerdictResult.NONE: "gray",
    VerdictResult.ABORTED: "gray",
    # Instance action event results
    "Success": "green",
    "Error": "red",
}


def status_colour(value):
    """The colour a status is drawn in (gray when it has none)."""
    return STATUS_COLOURS.get(value, "gray")
