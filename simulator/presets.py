"""The scenario presets from Nova's functional tests, with the outcome each expects.

A preset is a set of parameters plus the outcome Nova's tests assert for them (per set of known
bugs switched on). A run that keeps a preset's parameters is judged against that outcome
(``verdicts.py``); a run that changes them has no expectation.
"""
from dataclasses import dataclass, field

from .audit import FINDING_KINDS
from .params import CHOICE, DEFAULTS, GROUP_CLOUD, PARAMS, Param

TINY = {"VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 1}
SMALL = {"VCPU": 1, "MEMORY_MB": 2048, "DISK_GB": 20}
ZERO = {"VCPU": 0, "MEMORY_MB": 0, "DISK_GB": 0}
CLEAN = dict.fromkeys(FINDING_KINDS, 0)
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
            "prep-resize-reschedule-3-fails",
            "prep_resize fails on three dests in turn; the fourth alternate succeeds",
            "Five SmallFakeDriver hosts and max_attempts 5: the resize claims on host2, host3 and host4 fail "
            "one after the other; each time the compute reverts its allocation and the conductor takes the "
            "next alternate from the first scheduling's host list, until host5 takes the resize. One "
            "migration record; host5 holds m1.small, host1 the migration's m1.tiny, the others nothing.",
            "nova/tests/functional/test_servers.py ServerMovingTests.test_resize_reschedule_uses_host_lists_3_fails",
            {
                "hosts": ["host1", "host2", "host3", "host4", "host5"],
                "driver": "SmallFakeDriver",
                "fail_at": "prep_resize",
                "fail_host": "host2,host3,host4",
                "max_attempts": 5,
            },
            {
                (): outcome(
                    "VERIFY_RESIZE", "resized", "host5", "m1.small", "finished",
                    {"host1": TINY, "host2": ZERO, "host3": ZERO, "host4": ZERO, "host5": SMALL},
                    events(
                        "Success", "Success", "Success", *[None] * 9, "Success", "Success",
                        names=RESIZE_EVENTS[:3] * 4 + ["compute_resize_instance", "compute_finish_resize"],
                    ),
                    faults=[CLAIM_FAILED] * 3,
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
            "revert-destroy-fails",
            "Revert whose destroy on the dest fails: both hosts keep an allocation",
            "The resize succeeds and is reverted; the dest driver's destroy raises ResizeError in "
            "revert_resize. The server goes to ERROR on host2 with m1.small and the migration to error: "
            "host2 keeps the instance's m1.small and host1 the migration's m1.tiny, an orphan that "
            "outlives the server. Found by a campaign, confirmed by replaying it in Nova 34.",
            "nova/compute/manager.py ComputeManager.revert_resize (reference §4.6)",
            {"then": "revert", "fail_at": "destroy", "fail_host": "host2"},
            {
                (): outcome(
                    "ERROR", "error", "host2", "m1.small", "error",
                    {"host1": TINY, "host2": SMALL},
                    SUCCESS_5 + [["compute_revert_resize", "Error"]],
                    fault={"code": 500, "message": "Resize error: Simulated destroy failure"},
                    audit={"orphaned": 1, "missing": 0, "flavor_mismatch": 0},
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
            "same-host-resize-instance-fails",
            "Same-host resize whose resize_instance fails",
            "One host with allow_resize_to_same_host: migrate_disk_and_power_off raises ResizeError. The "
            "server goes to ERROR on host1; the provider is left with m1.tiny only (the migration's "
            "allocation goes back to the instance, the new flavor's is dropped).",
            "nova/tests/functional/test_servers.py ServerMovingTests.test_resize_instance_fails_allocation_cleanup (same host)",
            {
                "hosts": ["host1"],
                "allow_resize_to_same_host": True,
                "fail_at": "migrate_disk_and_power_off",
                "exception": "ResizeError",
                "fail_host": "host1",
            },
            {
                (): outcome(
                    "ERROR", "error", "host1", "m1.tiny", "error",
                    {"host1": TINY},
                    events("Success", "Success", "Success", "Error", names=RESIZE_EVENTS),
                    fault={"code": 500, "message": "Resize error: Simulated migrate_disk_and_power_off failure"},
                )
            },
        ),
        Scenario(
            "same-host-prep-resize-fails",
            "Same-host resize whose prep_resize fails",
            "One host with allow_resize_to_same_host: the resize claim fails on host1, and with no other "
            "host to reschedule to the conductor gives up. The server goes to ERROR with m1.tiny; the "
            "provider keeps m1.tiny only.",
            "nova/tests/functional/test_servers.py ServerMovingTests.test_resize_to_same_host_prep_resize_fails",
            {"hosts": ["host1"], "allow_resize_to_same_host": True, "fail_at": "prep_resize", "fail_host": "host1"},
            {
                (): outcome(
                    "ERROR", "error", "host1", "m1.tiny", "error",
                    {"host1": TINY},
                    events("Error", "Error", "Error", None, None, names=RESIZE_EVENTS[:3] + RESIZE_EVENTS[:2]),
                    fault={"code": 400, "message": CLAIM_FAILED},
                    faults=[
                        "Exceeded maximum number of retries. Exhausted all hosts available for retrying build "
                        "failures for instance ",
                        "No valid host was found. No valid host found for resize",
                        CLAIM_FAILED,
                    ],
                )
            },
        ),
        Scenario(
            "same-host-doubled-allocation",
            "Same-host resize that cannot claim the doubled allocation (bug 1790204)",
            "One SmallFakeDriver host (1028 GB of disk, allocation ratio 1.0) with allow_resize_to_same_host: "
            "resizing v1r2d1 (1 VCPU, 2048 MB, 1028 GB) to v2r2d1 (2 VCPU, same RAM and disk) needs the "
            "new flavor claimed while the migration still holds the old one on the same provider, 2056 GB "
            "of 1028. The new flavor alone would fit, yet the scheduler finds no valid host; the server "
            "stays ACTIVE. Still open in Nova 34.",
            "nova/tests/functional/regressions/test_bug_1790204.py ResizeSameHostDoubledAllocations",
            {
                "hosts": ["host1"],
                "driver": "SmallFakeDriver",
                "extra_flavors": ["v1r2d1:1:2048:1028", "v2r2d1:2:2048:1028"],
                "flavor": "v1r2d1",
                "new_flavor": "v2r2d1",
                "allow_resize_to_same_host": True,
            },
            {
                (): outcome(
                    "ACTIVE", "active", "host1", "v1r2d1", "error",
                    {"host1": {"VCPU": 1, "MEMORY_MB": 2048, "DISK_GB": 1028}},
                    events("Error", "Error", names=RESIZE_EVENTS[:2]),
                    faults=["No valid host was found. "],
                )
            },
        ),
        Scenario(
            "cold-migrate",
            "Cold migrate and confirm",
            "The migrate server action: same flavor, the scheduler picks host2; confirmResize frees host1.",
            "nova/tests/functional/test_servers.py ServerMovingTests.test_migrate_confirm",
            {"action": "migrate", "new_flavor": None, "then": "confirm"},
            {
                (): outcome(
                    "ACTIVE", "active", "host2", "m1.tiny", "confirmed",
                    {"host1": ZERO, "host2": TINY},
                    SUCCESS_5 + [["compute_confirm_resize", "Success"]],
                )
            },
        ),
        Scenario(
            "cold-migrate-reschedule",
            "Cold migrate: prep_resize fails on the first dest, the alternate succeeds",
            "Three hosts. The migration's claim fails on host2 and the conductor reschedules to host3, "
            "as for a resize; the server waits in VERIFY_RESIZE on host3 with m1.tiny.",
            "nova/tests/functional/test_servers.py ServerMovingTests.test_rescheduling_when_migrating_instance",
            {"action": "migrate", "new_flavor": None, "hosts": THREE_HOSTS, "fail_at": "prep_resize", "fail_host": "host2"},
            {
                (): outcome(
                    "VERIFY_RESIZE", "resized", "host3", "m1.tiny", "finished",
                    {"host1": TINY, "host2": ZERO, "host3": TINY},
                    events(
                        "Success", "Success", "Success", None, None, None, "Success", "Success",
                        names=RESIZE_EVENTS[:3] + RESIZE_EVENTS + ["compute_finish_resize"],
                    ),
                    faults=[CLAIM_FAILED],
                )
            },
        ),
        Scenario(
            "cold-migrate-targeted-no-reschedule",
            "Targeted cold migrate whose prep_resize fails: no reschedule",
            "migrate with a host (microversion 2.56) to host2, whose prep_resize raises MigrationError: a "
            "targeted move is never rescheduled, so the server goes to ERROR on host1.",
            "nova/tests/functional/test_servers.py ServerTestV256RescheduleTestCase.test_migrate_server_not_reschedule",
            {
                "action": "migrate",
                "new_flavor": None,
                "hosts": THREE_HOSTS,
                "dest_host": "host2",
                "fail_at": "prep_resize",
                "exception": "MigrationError",
                "reason": "Test Exception",
                "fail_host": "host2",
            },
            {
                (): outcome(
                    "ERROR", "error", "host1", "m1.tiny", "error",
                    {"host1": TINY, "host2": ZERO, "host3": ZERO},
                    events("Success", "Success", "Error", names=RESIZE_EVENTS[:3]),
                    fault={"code": 500, "message": "Migration error: Test Exception"},
                )
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
CUSTOM = "custom"  # no preset: the declared defaults, no failure, no expectation

# What a run starts from: a preset, or custom (declared like a run parameter, so the form, the
# REST serializer and the command line offer the same names with the same message).
SCENARIO = Param(
    "scenario", GROUP_CLOUD, CHOICE, DEFAULT_SCENARIO, "A preset whose parameters the run starts from, or custom.",
    choices=tuple((name, name) for name in [*SCENARIOS, CUSTOM]),
    unknown="Unknown scenario '{value}'. Known: {known}.",
)


def differences(scenario_name, params):
    """[(parameter, this run's value, the preset's value)] where a run left its preset: every
    parameter but the neutral ones (server name, step_delay), and bugs the preset knows no outcome for."""
    scenario = SCENARIOS.get(scenario_name)
    if scenario is None:
        return []
    preset = scenario.all_params()
    changed = [
        (key, value, preset.get(key))
        for key, value in params.items()
        if not PARAMS[key].neutral and key != "bugs" and preset.get(key) != value
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


def expected_outcome(scenario_name, params):
    """The outcome the preset expects for these parameters, or None."""
    scenario = preset_run(scenario_name, params)
    return scenario.expected[tuple(params.get("bugs") or ())] if scenario else None
