"""Run parameters, the scenario presets from Nova's functional tests, and verdicts.

A preset is a set of parameters plus the outcome Nova's tests assert for them
(per set of known bugs switched on). A run that keeps a preset's parameters is
judged against that outcome; a run that changes them has no expectation.
"""
import uuid
from dataclasses import dataclass, field

from .compute_api import lookup_flavor
from .cloud import DEFAULT_FLAVORS, boot_server, build_cloud
from .driver import DRIVERS, EXCEPTIONS, PLACEMENT_POINTS, POINTS
from .models import Cloud, Host, Server
from .placement import PlacementError
from .states import VerdictResult, VmState

# Known Nova bugs a run can switch back on (their pre-fix behaviour).
KNOWN_BUGS = {
    "1825537": "finish_resize failure moves the migration's allocation back to the instance on the source "
    "(Rocky..Stein), although the server already lives on the dest.",
}

THEN_CHOICES = ("none", "confirm", "revert")

DEFAULTS = {
    "cloud": None,
    "hosts": ["host1", "host2"],
    "driver": "FakeDriver",
    "server": "server1",
    "source_host": "host1",
    "dest_host": None,
    "flavor": "m1.tiny",
    "new_flavor": "m1.small",
    "vm_state": VmState.ACTIVE.value,
    "fail_at": None,
    "exception": None,
    "inner_exception": None,
    "reason": None,
    "fail_host": None,
    "bugs": [],
    "then": "none",
    "allow_resize_to_same_host": False,
    "max_attempts": 3,
    "step_delay": 0,
}
# Parameters that do not change the outcome a preset expects.
NEUTRAL_PARAMS = {"server", "step_delay"}
MAX_STEP_DELAY = 60


class ParamError(Exception):
    """A parameter is invalid; ``field`` names it."""

    def __init__(self, field, message):
        self.field = field
        self.message = message
        super().__init__(message)


TINY = {"VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 1}
SMALL = {"VCPU": 1, "MEMORY_MB": 2048, "DISK_GB": 20}
ZERO = {"VCPU": 0, "MEMORY_MB": 0, "DISK_GB": 0}
CLEAN = {"orphaned": 0, "missing": 0, "flavor_mismatch": 0}
RESIZE_EVENTS = ["conductor_migrate_server", "cold_migrate", "compute_prep_resize", "compute_resize_instance"]


def events(*results, names=None):
    """[(event, result)] pairing ``names`` (default: a resize's events) with results."""
    names = names or RESIZE_EVENTS + ["compute_finish_resize"]
    return [[name, result] for name, result in zip(names, results)]


def outcome(status, vm_state, host, flavor, migration, usages, event_list, fault=None, faults=None, audit=CLEAN):
    return {
        "server": {"status": status, "vm_state": vm_state, "task_state": None, "host": host, "flavor": flavor},
        "migration": {"status": migration},
        "fault": fault,
        "faults": faults,
        "usages": usages,
        "events": event_list,
        "audit": audit,
    }


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    description: str
    reference: str
    params: dict = field(default_factory=dict)
    expected: dict = field(default_factory=dict)  # tuple(sorted bugs) -> outcome

    def all_params(self):
        return {**DEFAULTS, **self.params}


SUCCESS_5 = events("Success", "Success", "Success", "Success", "Success")
VIF = {"code": 500, "message": "Virtual Interface creation failed"}
CLAIM_FAILED = "Insufficient compute resources: Simulated prep_resize failure."
THREE_HOSTS = ["host1", "host2", "host3"]

SEED_EXPECTED = {
    ("1825537",): outcome(
        "ERROR", "error", "host2", "m1.tiny", "error",
        {"host1": TINY, "host2": ZERO},
        events("Success", "Success", "Success", "Success", "Error"),
        fault=VIF,
        audit={"orphaned": 1, "missing": 1, "flavor_mismatch": 0},
    ),
    (): outcome(
        "ERROR", "error", "host2", "m1.tiny", "error",
        {"host1": ZERO, "host2": SMALL},
        events("Success", "Success", "Success", "Success", "Error"),
        fault=VIF,
        audit={"orphaned": 0, "missing": 0, "flavor_mismatch": 1},
    ),
}

SCENARIOS = {
    s.name: s
    for s in [
        Scenario(
            "bug-1825537",
            "finish_resize fails on the dest (bug 1825537)",
            "Boot on host1 with m1.tiny, resize to m1.small; the scheduler picks host2, whose "
            "finish_migration raises VirtualInterfaceCreateException. With the bug on, the allocation "
            "goes back to host1 although the server lives on host2; with it off, host2 keeps m1.small.",
            "nova/tests/functional/regressions/test_bug_1825537.py FinishResizeErrorAllocationCleanupTestCase",
            {
                "fail_at": "finish_migration",
                "exception": "VirtualInterfaceCreateException",
                "fail_host": "host2",
                "bugs": ["1825537"],
            },
            SEED_EXPECTED,
        ),
        Scenario(
            "resize-confirm",
            "Resize and confirm",
            "The happy path: host1 m1.tiny to host2 m1.small, then confirmResize frees the source.",
            "nova/tests/functional/test_servers.py ServerMovingTests.test_resize_confirm",
            {"then": "confirm"},
            {
                (): outcome(
                    "ACTIVE", "active", "host2", "m1.small", "confirmed",
                    {"host1": ZERO, "host2": SMALL},
                    SUCCESS_5 + [["compute_confirm_resize", "Success"]],
                )
            },
        ),
        Scenario(
            "resize-revert",
            "Resize and revert",
            "host1 m1.tiny to host2 m1.small, then revertResize: the dest is freed in the same placement "
            "write that gives m1.tiny back to the instance on host1.",
            "nova/tests/functional/test_servers.py ServerMovingTests.test_resize_revert",
            {"then": "revert"},
            {
                (): outcome(
                    "ACTIVE", "active", "host1", "m1.tiny", "reverted",
                    {"host1": TINY, "host2": ZERO},
                    SUCCESS_5 + [["compute_revert_resize", "Success"], ["compute_finish_revert_resize", "Success"]],
                )
            },
        ),
        Scenario(
            "prep-resize-reschedule",
            "prep_resize fails on the first dest; the alternate succeeds",
            "Three hosts. The scheduler picks host2 and keeps host3 as an alternate; host2's resize claim "
            "fails, the compute reverts the allocation and calls the conductor back, which reschedules to "
            "host3. host2's fault is recorded, yet its compute_prep_resize event ends Success; the "
            "reschedule's events share the request id and stay unfinished (Nova finishes only the first "
            "event of a name in an action).",
            "nova/tests/functional/test_servers.py ServerMovingTests.test_resize_reschedule_uses_host_lists_1_fail",
            {"hosts": THREE_HOSTS, "fail_at": "prep_resize", "fail_host": "host2"},
            {
                (): outcome(
                    "VERIFY_RESIZE", "resized", "host3", "m1.small", "finished",
                    {"host1": TINY, "host2": ZERO, "host3": SMALL},
                    events(
                        "Success", "Success", "Success", None, None, None, "Success", "Success",
                        names=RESIZE_EVENTS[:3] + RESIZE_EVENTS + ["compute_finish_resize"],
                    ),
                    faults=[CLAIM_FAILED],
                )
            },
        ),
        Scenario(
            "prep-resize-reschedule-exhausted",
            "prep_resize fails on every dest; reschedules run out",
            "Three hosts whose resize claims all fail: host2, then the alternate host3, then no host is "
            "left (MaxRetriesExceeded, which the conductor records and turns into NoValidHost; host3 records "
            "that too, then its own claim failure). The server goes to ERROR on host1 with m1.tiny; no dest "
            "keeps usage. The first event of each name ends Error; the repeated ones stay unfinished.",
            "nova/tests/functional/test_servers.py ServerMovingTests.test_resize_reschedule_uses_host_lists_not_enough_alts",
            {"hosts": THREE_HOSTS, "fail_at": "prep_resize"},
            {
                (): outcome(
                    "ERROR", "error", "host1", "m1.tiny", "error",
                    {"host1": TINY, "host2": ZERO, "host3": ZERO},
                    events(
                        "Error", "Error", "Error", None, None, None, None, None,
                        names=RESIZE_EVENTS[:3] * 2 + RESIZE_EVENTS[:2],
                    ),
                    fault={"code": 400, "message": CLAIM_FAILED},
                    faults=[
                        CLAIM_FAILED,
                        "Exceeded maximum number of retries. Exhausted all hosts available for retrying build "
                        "failures for instance ",
                        "No valid host was found. No valid host found for resize",
                        CLAIM_FAILED,
                    ],
                )
            },
        ),
        Scenario(
            "resize-instance-fails",
            "migrate_disk_and_power_off fails on the source",
            "resize_instance on host1 fails in the driver: the server goes to ERROR on host1 and the "
            "migration's allocation goes back to the instance there; host2 is freed.",
            "nova/tests/functional/test_servers.py ServerMovingTests.test_resize_instance_fails_allocation_cleanup",
            {"fail_at": "migrate_disk_and_power_off", "exception": "ResizeError", "fail_host": "host1"},
            {
                (): outcome(
                    "ERROR", "error", "host1", "m1.tiny", "error",
                    {"host1": TINY, "host2": ZERO},
                    events("Success", "Success", "Success", "Error", names=RESIZE_EVENTS),
                    fault={"code": 500, "message": "Resize error: Simulated migrate_disk_and_power_off failure"},
                )
            },
        ),
        Scenario(
            "resize-instance-rollback",
            "The source driver refuses with InstanceFaultRollback",
            "migrate_disk_and_power_off raises InstanceFaultRollback(ResizeError): the server goes back to "
            "ACTIVE on host1 instead of ERROR; the fault is recorded but hidden by the API.",
            "nova/compute/manager.py _error_out_instance_on_exception (reference §4.3)",
            {
                "fail_at": "migrate_disk_and_power_off",
                "exception": "InstanceFaultRollback",
                "inner_exception": "ResizeError",
                "reason": "Unable to resize disk down.",
                "fail_host": "host1",
            },
            {
                (): outcome(
                    "ACTIVE", "active", "host1", "m1.tiny", "error",
                    {"host1": TINY, "host2": ZERO},
                    events("Success", "Success", "Success", "Error", names=RESIZE_EVENTS),
                    faults=["Resize error: Unable to resize disk down."],
                )
            },
        ),
        Scenario(
            "no-valid-host",
            "No host has room for the new flavor",
            "SmallFakeDriver hosts (2 VCPU, 8192 MB with 512 reserved, 1028 GB) cannot take m1.large "
            "(8192 MB): NoValidHost. The server stays ACTIVE on host1; the fault only shows in the "
            "instance actions.",
            "nova/conductor/manager.py _cold_migrate (reference §4.1)",
            {"driver": "SmallFakeDriver", "new_flavor": "m1.large"},
            {
                (): outcome(
                    "ACTIVE", "active", "host1", "m1.tiny", "error",
                    {"host1": TINY, "host2": ZERO},
                    events("Error", "Error", names=RESIZE_EVENTS[:2]),
                    faults=["No valid host was found. "],
                )
            },
        ),
        Scenario(
            "conductor-move-conflict",
            "Conductor's allocation swap hits a generation conflict",
            "Moving the instance's allocation to the migration gets 409 placement.concurrent_update: "
            "the server stays ACTIVE on host1, the migration is error.",
            "nova/tests/functional/test_servers.py ConsumerGenerationConflictTest.test_migrate_move_allocation_fails_due_to_conflict",
            {"fail_at": "conductor_move"},
            {
                (): outcome(
                    "ACTIVE", "active", "host1", "m1.tiny", "error",
                    {"host1": TINY, "host2": ZERO},
                    events("Error", "Error", names=RESIZE_EVENTS[:2]),
                    faults=["Failed to move allocations from consumer"],
                )
            },
        ),
        Scenario(
            "scheduler-claim-conflict",
            "The scheduler's claim on the dest hits a generation conflict",
            "PUT /allocations for the instance on host2 gets 409 placement.concurrent_update, which Nova's "
            "report client raises as AllocationUpdateFailed (\"another process changed the consumer ... "
            "during the claim\"): the conductor rolls back; the server stays ACTIVE on host1.",
            "nova/tests/functional/test_servers.py ConsumerGenerationConflictTest.test_migrate_claim_on_dest_fails",
            {"fail_at": "scheduler_claim"},
            {
                (): outcome(
                    "ACTIVE", "active", "host1", "m1.tiny", "error",
                    {"host1": TINY, "host2": ZERO},
                    events("Error", "Error", names=RESIZE_EVENTS[:2]),
                    # Nova's report client words the conflict itself; Placement's body is not kept.
                    faults=["Error: another process changed the consumer "],
                )
            },
        ),
        Scenario(
            "confirm-delete-conflict",
            "Confirm cannot delete the migration's allocation: it leaks",
            "The resize succeeds and is confirmed; deleting the migration's allocation on host1 gets a "
            "generation conflict. The server goes to ERROR and m1.tiny stays held on host1 by a "
            "migration in error: an orphan.",
            "nova/tests/functional/test_servers.py ConsumerGenerationConflictTest.test_confirm_migrate_delete_alloc_on_source_fails",
            {"then": "confirm", "fail_at": "confirm_delete"},
            {
                (): outcome(
                    "ERROR", "error", "host2", "m1.small", "error",
                    {"host1": TINY, "host2": SMALL},
                    SUCCESS_5 + [["compute_confirm_resize", "Error"]],
                    fault={"code": 500, "message": "Failed to delete allocations for consumer"},
                    audit={"orphaned": 1, "missing": 0, "flavor_mismatch": 0},
                )
            },
        ),
        Scenario(
            "confirm-driver-error",
            "confirm_migration fails on the source",
            "The source driver raises MigrationPreCheckError while confirming: the server goes to ERROR, "
            "but the migration's allocation is still deleted (it runs in a finally).",
            "nova/tests/functional/test_servers.py ServerMovingTests.test_migration_confirm_resize_error",
            {
                "then": "confirm",
                "fail_at": "confirm_migration",
                "exception": "MigrationPreCheckError",
                "reason": "test_migration_confirm_resize_error",
            },
            {
                (): outcome(
                    "ERROR", "error", "host2", "m1.small", "error",
                    {"host1": ZERO, "host2": SMALL},
                    SUCCESS_5 + [["compute_confirm_resize", "Error"]],
                    fault={"code": 500, "message": "Migration pre-check error: test_migration_confirm_resize_error"},
                )
            },
        ),
        Scenario(
            "revert-move-conflict",
            "Revert cannot move the allocation back: both leak",
            "The resize succeeds and is reverted; finish_revert_resize's move of the migration's "
            "allocation back to the instance gets a generation conflict. The server is ERROR on host1 "
            "with nothing there, while host1 keeps the migration's m1.tiny and host2 the instance's m1.small.",
            "nova/tests/functional/test_servers.py ConsumerGenerationConflictTest.test_revert_migrate_delete_dest_allocation_fails_due_to_conflict",
            {"then": "revert", "fail_at": "revert_move"},
            {
                (): outcome(
                    "ERROR", "error", "host1", "m1.tiny", "error",
                    {"host1": TINY, "host2": SMALL},
                    SUCCESS_5 + [["compute_revert_resize", "Success"], ["compute_finish_revert_resize", "Error"]],
                    fault={"code": 500, "message": "Failed to move allocations from consumer"},
                    audit={"orphaned": 2, "missing": 1, "flavor_mismatch": 0},
                )
            },
        ),
        Scenario(
            "same-host-finish-resize-fails",
            "Same-host resize whose finish fails (bug 1825537, one provider)",
            "One host with allow_resize_to_same_host: during the resize the provider holds both flavors; "
            "finish_migration fails with a plain TestingException. Fixed Nova leaves m1.small; with the "
            "bug on, m1.tiny.",
            "nova/tests/functional/test_servers.py ServerMovingTests.test_finish_resize_fails_allocation_cleanup",
            {
                "hosts": ["host1"],
                "allow_resize_to_same_host": True,
                "fail_at": "finish_migration",
                "exception": "TestingException",
                "reason": "Simulated resize failure.",
            },
            {
                ("1825537",): outcome(
                    "ERROR", "error", "host1", "m1.tiny", "error",
                    {"host1": TINY},
                    events("Success", "Success", "Success", "Success", "Error"),
                    fault={"code": 500, "message": "TestingException"},
                ),
                (): outcome(
                    "ERROR", "error", "host1", "m1.tiny", "error",
                    {"host1": SMALL},
                    events("Success", "Success", "Success", "Success", "Error"),
                    fault={"code": 500, "message": "TestingException"},
                    audit={"orphaned": 0, "missing": 0, "flavor_mismatch": 1},
                ),
            },
        ),
        Scenario(
            "bug-1825537-watch",
            "Bug 1825537 at one second per step, to watch live",
            "The seed scenario with every step taking a second, so the run page and the stepper can be "
            "followed as the failure unfolds and the allocations move.",
            "nova/tests/functional/regressions/test_bug_1825537.py FinishResizeErrorAllocationCleanupTestCase",
            {
                "fail_at": "finish_migration",
                "exception": "VirtualInterfaceCreateException",
                "fail_host": "host2",
                "bugs": ["1825537"],
                "step_delay": 1,
            },
            SEED_EXPECTED,
        ),
    ]
}
DEFAULT_SCENARIO = "bug-1825537"
CUSTOM = "custom"


# -- parameters -----------------------------------------------------------------------------
def _host_error(field, name):
    return ParamError(field, f"Compute host {name} could not be found.")


def resolve(scenario_name, overrides):
    """The complete, validated parameters of a run: the preset's, then ``overrides``."""
    if scenario_name == CUSTOM:
        base = dict(DEFAULTS)
    elif scenario_name in SCENARIOS:
        base = SCENARIOS[scenario_name].all_params()
    else:
        raise ParamError(
            "scenario", f"Unknown scenario '{scenario_name}'. Known: {', '.join([*SCENARIOS, CUSTOM])}."
        )
    unknown = sorted(set(overrides) - set(DEFAULTS))
    if unknown:
        raise ParamError(unknown[0], f"Unknown parameter '{unknown[0]}'.")
    params = {**base, **overrides}
    _validate(params, overrides)
    return params


def _text(params, key, required=True):
    value = params[key]
    if value is None or value == "":
        if required:
            raise ParamError(key, f"{key} is required.")
        params[key] = None
        return None
    if not isinstance(value, str) or len(value) > 255:
        raise ParamError(key, f"{key} must be a name of at most 255 characters.")
    params[key] = value = value.strip()
    return value


def _validate(params, overrides):
    for key in ("server", "flavor", "new_flavor", "source_host"):
        _text(params, key)
    for key in ("cloud", "dest_host", "fail_at", "exception", "inner_exception", "reason", "fail_host"):
        _text(params, key, required=False)

    if params["cloud"]:
        cloud = Cloud.objects.filter(name=params["cloud"]).first()
        if cloud is None:
            raise ParamError("cloud", f"Cloud {params['cloud']} does not exist (python manage.py seed_demo builds 'demo').")
        params["hosts"] = None
        params["driver"] = None
        host_names = set(Host.objects.filter(cloud=cloud).values_list("name", flat=True))
        server = _existing_server(cloud, params["server"])
        if server is not None:
            host = server.host.name if server.host else None
            for key, actual, accepted in (
                ("source_host", host, {host}),
                ("flavor", server.flavor.name, {server.flavor.name, server.flavor.flavorid}),
            ):
                if key in overrides and overrides[key] not in accepted:
                    raise ParamError(key, f"Server {server.name} has {key} {actual}, not {overrides[key]}.")
                params[key] = actual
    else:
        hosts = params["hosts"]
        if (
            not isinstance(hosts, list)
            or not hosts
            or not all(isinstance(h, str) and h.strip() and len(h) <= 255 for h in hosts)
        ):
            raise ParamError("hosts", "hosts must be a non-empty list of host names.")
        params["hosts"] = hosts = [h.strip() for h in hosts]
        if len(set(hosts)) != len(hosts):
            raise ParamError("hosts", "Host names must be unique in a cloud.")
        if params["driver"] not in DRIVERS:
            raise ParamError("driver", f"Unknown driver '{params['driver']}'. Known: {', '.join(DRIVERS)}.")
        host_names = set(hosts)
        names = {f[1] for f in DEFAULT_FLAVORS} | {f[0] for f in DEFAULT_FLAVORS}
        if params["flavor"] not in names:
            raise ParamError("flavor", f"Flavor {params['flavor']} could not be found.")

    for key in ("source_host", "dest_host", "fail_host"):
        if params[key] and params[key] not in host_names:
            raise _host_error(key, params[key])

    if params["vm_state"] not in VmState.values:
        raise ParamError("vm_state", f"Unknown vm_state '{params['vm_state']}'.")
    _validate_failure(params)
    bugs = params["bugs"]
    if isinstance(bugs, str):
        bugs = [b.strip() for b in bugs.split(",") if b.strip()]
    if not isinstance(bugs, list) or not all(isinstance(b, str) for b in bugs):
        raise ParamError("bugs", "bugs must be a list of Launchpad bug numbers.")
    for bug in bugs:
        if bug not in KNOWN_BUGS:
            raise ParamError("bugs", f"Unknown bug '{bug}'. Known: {', '.join(KNOWN_BUGS)}.")
    params["bugs"] = sorted(set(bugs))
    if params["then"] not in THEN_CHOICES:
        raise ParamError("then", f"then must be one of {', '.join(THEN_CHOICES)}.")
    if not isinstance(params["allow_resize_to_same_host"], bool):
        raise ParamError("allow_resize_to_same_host", "allow_resize_to_same_host must be true or false.")
    delay = params["step_delay"]
    if isinstance(delay, bool) or not isinstance(delay, (int, float)) or not 0 <= delay <= MAX_STEP_DELAY:
        raise ParamError("step_delay", f"step_delay must be a number of seconds from 0 to {MAX_STEP_DELAY}.")
    attempts = params["max_attempts"]
    if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 10:
        raise ParamError("max_attempts", "max_attempts must be a whole number from 1 to 10.")


def _validate_failure(params):
    point, exception = params["fail_at"], params["exception"]
    if point is None:
        for key in ("exception", "inner_exception", "reason", "fail_host"):
            if params[key]:
                raise ParamError(key, f"{key} needs fail_at: say where the failure is injected.")
        return
    if point not in POINTS:
        raise ParamError("fail_at", f"Unknown failure point '{point}'. Known: {', '.join(POINTS)}.")
    if point in PLACEMENT_POINTS:
        if exception:
            raise ParamError(
                "exception",
                f"{point} fails with a placement generation conflict (409 placement.concurrent_update); "
                "it takes no exception.",
            )
    elif exception and exception not in EXCEPTIONS:
        raise ParamError("exception", f"Unknown exception '{exception}'. Known: {', '.join(EXCEPTIONS)}.")
    if POINTS[point].runs_on == "conductor" and params["fail_host"]:
        raise ParamError("fail_host", f"{point} runs in the conductor, not on a compute host.")
    inner = params["inner_exception"]
    if inner:
        if (exception or POINTS[point].default_exception) != "InstanceFaultRollback":
            raise ParamError("inner_exception", "inner_exception goes with the InstanceFaultRollback exception.")
        if inner not in EXCEPTIONS or inner == "InstanceFaultRollback":
            raise ParamError("inner_exception", f"Unknown inner exception '{inner}'.")


def _existing_server(cloud, ref):
    query = Server.objects.filter(cloud=cloud).select_related("host", "flavor")
    server = query.filter(name=ref).first()
    if server is None:
        try:
            server = query.filter(uuid=uuid.UUID(ref)).first()
        except ValueError:  # not a uuid: no such server
            pass
    return server


# -- clouds and servers ---------------------------------------------------------------------
def prepare(run, params):
    """The run's cloud (fresh from the template, or the named one) and its server."""
    if params["cloud"]:
        cloud = Cloud.objects.get(name=params["cloud"])
    else:
        cloud = build_cloud(
            f"run-{run.pk}", params["hosts"], params["driver"], description=f"Built for run {run.pk} ({run.scenario})"
        )
    server = _existing_server(cloud, params["server"])
    if server is None:
        flavor = lookup_flavor(cloud, params["flavor"])
        if flavor is None:
            raise ParamError("flavor", f"Flavor {params['flavor']} could not be found.")
        host = Host.objects.select_related("provider").get(cloud=cloud, name=params["source_host"])
        try:
            server = boot_server(cloud, params["server"], host, flavor, params["vm_state"])
        except PlacementError as error:  # no room for the server on its host
            raise ParamError("source_host", f"Cannot boot {params['server']} on {host.name}: {error.detail}") from error
    return cloud, server


# -- what a run ran --------------------------------------------------------------------------
def differences(scenario_name, params):
    """[(parameter, this run's value, the preset's value)] where a run left its preset: every
    parameter but the server name and step_delay, and bugs the preset knows no outcome for."""
    scenario = SCENARIOS.get(scenario_name)
    if scenario is None:
        return []
    preset = scenario.all_params()
    changed = [
        (key, value, preset.get(key))
        for key, value in params.items()
        if key not in NEUTRAL_PARAMS and key != "bugs" and preset.get(key) != value
    ]
    if tuple(params.get("bugs") or ()) not in scenario.expected:
        changed.append(("bugs", params.get("bugs"), preset["bugs"]))
    return changed


def preset_run(scenario_name, params):
    """The preset whose parameters these are, or None: a custom run."""
    if scenario_name not in SCENARIOS or differences(scenario_name, params):
        return None
    return SCENARIOS[scenario_name]


def run_label(scenario_name, params):
    """What a run is called: its preset's name, or "custom, based on NAME" when it changed the
    preset's parameters, or "custom"."""
    if preset_run(scenario_name, params) is not None:
        return scenario_name
    return f"{CUSTOM}, based on {scenario_name}" if scenario_name in SCENARIOS else CUSTOM


THEN_TEXT = {"none": "no confirm or revert", "confirm": "then confirmResize", "revert": "then revertResize"}


def injected(params):
    """What a run injected: failure point, exception, host, the user's action, bugs; and a summary."""
    point = params.get("fail_at")
    exception = host = None
    if point is None:
        failure = "no failure injected"
    elif point in PLACEMENT_POINTS:
        exception = "409 placement.concurrent_update"
        failure = f"{point}: {exception}"
    else:
        exception = params.get("exception") or POINTS[point].default_exception
        if exception == "InstanceFaultRollback":
            exception = f"InstanceFaultRollback({params.get('inner_exception') or 'UnableToMigrateToSelf'})"
        if POINTS[point].runs_on == "conductor":
            where = "in the scheduler"
        else:
            host = params.get("fail_host")
            where = f"on {host}" if host else "on every host"
        failure = f"{point} raises {exception} {where}"
    bugs = list(params.get("bugs") or [])
    bugs_text = f"bug{'s' if len(bugs) > 1 else ''} {', '.join(bugs)} on" if bugs else "known bugs off"
    then = params.get("then") or "none"
    return {
        "fail_at": point,
        "exception": exception,
        "fail_host": host,
        "then": then,
        "bugs": bugs,
        "summary": " · ".join([failure, THEN_TEXT.get(then, then), bugs_text]),
    }


# -- verdicts -------------------------------------------------------------------------------
def expected_outcome(scenario_name, params):
    """The outcome the preset expects for these parameters, or None."""
    scenario = preset_run(scenario_name, params)
    return scenario.expected[tuple(params.get("bugs") or ())] if scenario else None


def verdict(scenario_name, params, report, aborted=False):
    """Compare a finished run's report with the expected outcome."""
    expected = expected_outcome(scenario_name, params)
    if aborted:
        return {
            "result": VerdictResult.ABORTED.value,
            "expected": expected,
            "matched": None,
            "mismatches": [],
            "summary": f"{report['error']} Nothing to judge: the run did not reach Nova's outcome.",
        }
    if report["status"] == "crashed":
        return {
            "result": VerdictResult.MISMATCH.value,
            "expected": expected,
            "matched": False,
            "mismatches": [f"the run crashed: {report['error']}"],
            "summary": "The run crashed before Nova's outcome was reached.",
        }
    if expected is None:
        return {
            "result": VerdictResult.NONE.value,
            "expected": None,
            "matched": None,
            "mismatches": [],
            "summary": (
                f"No expected outcome: its parameters differ from {scenario_name}'s."
                if scenario_name in SCENARIOS
                else "No expected outcome: a custom run."
            ),
        }
    mismatches = []

    def check(label, want, got):
        if want != got:
            mismatches.append(f"{label}: expected {want!r}, got {got!r}")

    server = report["server"] or {}
    for key, want in expected["server"].items():
        check(f"server.{key}", want, server.get(key))
    check("migration.status", expected["migration"]["status"], (report["migration"] or {}).get("status"))
    fault = server.get("fault")
    if expected["fault"] is None:
        check("server.fault", None, fault and fault["message"])
    elif fault is None:
        mismatches.append(f"server.fault: expected {expected['fault']['message']!r}, got None")
    else:
        check("server.fault.code", expected["fault"]["code"], fault["code"])
        if expected["fault"]["message"] not in fault["message"]:
            mismatches.append(f"server.fault.message: expected to contain {expected['fault']['message']!r}, got {fault['message']!r}")
    if expected["faults"] is not None:
        got = [f["message"] for f in report["faults"]]
        if len(got) != len(expected["faults"]) or any(w not in g for w, g in zip(expected["faults"], got)):
            mismatches.append(f"faults: expected {expected['faults']!r}, got {got!r}")
    after = report["usages"]["after"] or {}
    for provider, want in expected["usages"].items():
        check(f"usages.after.{provider}", want, after.get(provider))
    check("events", expected["events"], [[e["event"], e["result"]] for e in report["events"]])
    audit = report["audit"] or {}
    for kind, count in expected["audit"].items():
        check(f"audit.{kind}", count, len(audit.get(kind, [])))
    return {
        "result": (VerdictResult.MISMATCH if mismatches else VerdictResult.MATCHED).value,
        "expected": expected,
        "matched": not mismatches,
        "mismatches": mismatches,
        "summary": "Matches the expected outcome." if not mismatches else f"{len(mismatches)} mismatch(es).",
    }
