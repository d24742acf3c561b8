"""The fake virt driver: Nova's FakeDriver inventory, with configurable failures.

A failure is injected at a *point* (a driver call, the resource claim, or a
placement write) on one host or on every host, and raises a Nova exception
built from its name. Placement points fail the way placement does under a
concurrent writer: a consumer generation conflict.
"""
from dataclasses import dataclass

from . import exceptions as exc
from .states import ResourceClass

# nova/virt/fake.py class attributes: vcpus, memory_mb, local_gb.
DRIVERS = {
    "FakeDriver": (1000, 800000, 600000),
    "SmallFakeDriver": (2, 8192, 1028),
    "MediumFakeDriver": (10, 8192, 1028),
}
# nova.conf defaults: reserved_host_memory_mb and the initial_*_allocation_ratio options.
RESERVED_HOST_MEMORY_MB = 512
ALLOCATION_RATIOS = {ResourceClass.VCPU: 4.0, ResourceClass.MEMORY_MB: 1.0, ResourceClass.DISK_GB: 1.0}


def inventory_for(driver):
    """The inventory ``update_provider_tree`` reports for a node of ``driver``."""
    vcpus, memory_mb, local_gb = DRIVERS[driver]
    totals = {ResourceClass.VCPU: vcpus, ResourceClass.MEMORY_MB: memory_mb, ResourceClass.DISK_GB: local_gb}
    return {
        rc.value: {
            "total": total,
            "reserved": RESERVED_HOST_MEMORY_MB if rc == ResourceClass.MEMORY_MB else 0,
            "min_unit": 1,
            "max_unit": total,
            "step_size": 1,
            "allocation_ratio": ALLOCATION_RATIOS[rc],
        }
        for rc, total in totals.items()
    }


@dataclass(frozen=True)
class Point:
    name: str
    runs_on: str  # "source", "dest" or "conductor"
    where: str  # what fails, for people
    default_exception: str | None  # None: a placement generation conflict


POINTS = {
    p.name: p
    for p in [
        Point("select_destinations", "conductor", "scheduler select_destinations", "NoValidHost"),
        Point("prep_resize", "dest", "prep_resize resource claim", "ComputeResourcesUnavailable"),
        Point("migrate_disk_and_power_off", "source", "driver.migrate_disk_and_power_off", "ResizeError"),
        Point("finish_migration", "dest", "driver.finish_migration", "VirtualInterfaceCreateException"),
        Point("confirm_migration", "source", "driver.confirm_migration", "MigrationPreCheckError"),
        Point("destroy", "dest", "driver.destroy in revert_resize", "ResizeError"),
        Point("finish_revert_migration", "source", "driver.finish_revert_migration", "ResizeError"),
        Point("conductor_move", "conductor", "conductor moves the instance allocation to the migration", None),
        Point("scheduler_claim", "conductor", "scheduler claims the new flavor on the dest", None),
        Point("confirm_delete", "source", "confirm deletes the migration allocation", None),
        Point("revert_move", "source", "revert moves the migration allocation back to the instance", None),
    ]
}
PLACEMENT_POINTS = frozenset(name for name, p in POINTS.items() if p.default_exception is None)


def _reasoned(cls):
    return lambda reason, server, host, inner: cls(reason=reason)


# Exception name -> builder(reason, server, host, inner exception name).
EXCEPTIONS = {
    "VirtualInterfaceCreateException": lambda reason, server, host, inner: exc.VirtualInterfaceCreateException(),
    "ResizeError": _reasoned(exc.ResizeError),
    "MigrationError": _reasoned(exc.MigrationError),
    "MigrationPreCheckError": _reasoned(exc.MigrationPreCheckError),
    "ComputeResourcesUnavailable": _reasoned(exc.ComputeResourcesUnavailable),
    "NoValidHost": _reasoned(exc.NoValidHost),
    "UnableToMigrateToSelf": lambda reason, server, host, inner: exc.UnableToMigrateToSelf(
        instance_id=server.uuid, host=host
    ),
    "InstanceFaultRollback": lambda reason, server, host, inner: exc.InstanceFaultRollback(
        inner_exception=build_exception(inner or "UnableToMigrateToSelf", reason, server, host)
    ),
    "TestingException": lambda reason, server, host, inner: exc.TestingException(reason),
}


# Points the fake driver of a host checks; placement and conductor points are run parameters.
HOST_POINTS = [name for name, p in POINTS.items() if name not in PLACEMENT_POINTS and p.runs_on != "conductor"]
FAILURE_KEYS = ("point", "exception", "reason", "inner_exception")
INNER_EXCEPTIONS = [name for name in EXCEPTIONS if name != "InstanceFaultRollback"]


def _known(value, names):
    return isinstance(value, str) and value in names


def failure_problem(failure):
    """What is wrong with one entry of ``Host.failures``, or None if ``FakeDriver`` can use it."""
    if not isinstance(failure, dict):
        return f"{failure!r} is not an object with a \"point\"."
    unknown = sorted(set(failure) - set(FAILURE_KEYS))
    if unknown:
        return f"unknown key(s) {', '.join(unknown)}. Allowed: {', '.join(FAILURE_KEYS)}."
    point = failure.get("point")
    if not _known(point, HOST_POINTS):
        if "point" not in failure:
            why = "A failure needs a point"
        elif not _known(point, POINTS):
            why = f"Unknown failure point {point!r}"
        elif point in PLACEMENT_POINTS:
            why = f"{point!r} is a placement write, not a driver call"
        else:
            why = f"{point!r} runs in the conductor, not on a compute host"
        return f"{why}. Host failure points: {', '.join(HOST_POINTS)}."
    exception = failure.get("exception")
    if exception is not None and not _known(exception, EXCEPTIONS):
        return f"Unknown exception {exception!r}. Known: {', '.join(EXCEPTIONS)}."
    if not isinstance(failure.get("reason", ""), str):
        return f"reason must be a string, not {failure['reason']!r}."
    inner = failure.get("inner_exception")
    if inner is not None:
        if exception != "InstanceFaultRollback":
            return "inner_exception goes with the InstanceFaultRollback exception."
        if not _known(inner, INNER_EXCEPTIONS):
            return f"Unknown inner_exception {inner!r}. Known: {', '.join(INNER_EXCEPTIONS)}."
    return None


def build_exception(name, reason, server, host, inner=None):
    if name == "InstanceFaultRollback" and inner == "InstanceFaultRollback":
        raise ValueError("InstanceFaultRollback cannot wrap itself")
    return EXCEPTIONS[name](reason, server, host, inner)


@dataclass(frozen=True)
class Failure:
    """One injected failure: at ``point``, on ``host`` (None: every host), raising ``exception``."""

    point: str
    exception: str | None = None
    host: str | None = None
    reason: str | None = None
    inner_exception: str | None = None

    @classmethod
    def from_dict(cls, data, host=None):
        return cls(
            point=data["point"],
            exception=data.get("exception"),
            host=data.get("host", host),
            reason=data.get("reason"),
            inner_exception=data.get("inner_exception"),
        )

    def applies(self, point, host):
        return self.point == point and (self.host in (None, "") or self.host == host)

    def raise_for(self, server, host):
        name = self.exception or POINTS[self.point].default_exception
        reason = self.reason or f"Simulated {self.point} failure"
        raise build_exception(name, reason, server, host, self.inner_exception)


class FakeDriver:
    """The driver of one compute host: succeeds unless a failure is injected."""

    def __init__(self, host, failures):
        self.host = host
        self.failures = list(failures) + [Failure.from_dict(f, host=host.name) for f in host.failures]

    @property
    def supports_migrate_to_same_host(self):
        return self.host.supports_migrate_to_same_host

    def fails_at(self, point):
        return any(f.applies(point, self.host.name) for f in self.failures)

    def check(self, point, server):
        """Raise the injected exception for ``point`` on this host, if any."""
        for failure in self.failures:
            if failure.applies(point, self.host.name):
                failure.raise_for(server, self.host.name)

    def resize_claim(self, server):
        self.check("prep_resize", server)

    def migrate_disk_and_power_off(self, server):
        self.check("migrate_disk_and_power_off", server)

    def finish_migration(self, server):
        self.check("finish_migration", server)

    def confirm_migration(self, server):
        self.check("confirm_migration", server)

    def destroy(self, server):
        self.check("destroy", server)

    def finish_revert_migration(self, server):
        self.check("finish_revert_migration", server)
