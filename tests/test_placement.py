"""Placement's rules on numbers: capacity, inventory constraints, usages,
consumer generations, atomic writes, moves, allocation candidates and inventory
writes; and the Nova records they are audited against (migrations in progress,
the fault the API shows).

Reference: openstack/placement, placement/objects/allocation.py and placement/handlers/allocation.py.
"""
import json
import re
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from simulator import placement
from simulator.context import PROJECT_ID, USER_ID
from simulator.models import Consumer, InstanceFault, Inventory, Migration, Server
from simulator.states import MigrationStatus, VmState
from tests.factories import ZERO, booted_server, cloud_with_hosts, flavor_of, provider_of

CONSTRAINTS_MSG = (
    "Unable to allocate inventory: Unable to create allocation for '{rc}' on resource provider "
    "'{rp}'. The requested amount would violate inventory constraints."
)
CAPACITY_MSG = (
    "Unable to allocate inventory: Unable to create allocation for '{rc}' on resource provider "
    "'{rp}'. The requested amount would exceed the capacity."
)


# --- helpers ----------------------------------------------------------------------------------


def inventory(provider, rc):
    return Inventory.objects.get(provider=provider, resource_class=rc)


def set_inventory(provider, rc, **fields):
    Inventory.objects.filter(provider=provider, resource_class=rc).update(**fields)


def on(provider, **resources):
    """An allocations body holding ``resources`` on ``provider``."""
    return {str(provider.uuid): {"resources": resources}}


def put(cloud, consumer, allocations, generation=None, consumer_type="INSTANCE"):
    placement.put_allocations(cloud, consumer, allocations, generation, consumer_type, PROJECT_ID, USER_ID)


def body(allocations, generation=None, consumer_type="INSTANCE"):
    """One consumer's part of a POST /allocations payload."""
    return {
        "allocations": allocations,
        "consumer_generation": generation,
        "consumer_type": consumer_type,
        "project_id": PROJECT_ID,
        "user_id": USER_ID,
    }


def generation_of(consumer):
    return placement.get_allocations(consumer)["consumer_generation"]


def resources_of(consumer):
    """{provider uuid: resources} held by ``consumer``."""
    return {rp_uuid: e["resources"] for rp_uuid, e in placement.get_allocations(consumer)["allocations"].items()}


def new_uuid():
    return str(uuid.uuid4())


@pytest.fixture
def small(db):
    """Two SmallFakeDriver hosts: capacity 8 VCPU (max_unit 2), 7680 MB (max_unit 8192), 1028 GB."""
    return cloud_with_hosts("small", driver="SmallFakeDriver")


@pytest.fixture
def fake(db):
    """Two FakeDriver hosts, as in the seed scenario."""
    return cloud_with_hosts("fake")


# --- capacity = (total - reserved) * allocation_ratio -----------------------------------------


def test_fake_driver_capacity_is_total_minus_reserved_times_ratio(fake):
    """1000 VCPU x 4.0, 800000 - 512 MB x 1.0, 600000 GB x 1.0."""
    provider = provider_of(fake, "host1")
    capacities = {inv.resource_class: inv.capacity for inv in provider.inventories.all()}
    assert capacities == {"VCPU": 4000, "MEMORY_MB": 799488, "DISK_GB": 600000}


def test_small_fake_driver_capacity_is_total_minus_reserved_times_ratio(small):
    """2 VCPU x 4.0, 8192 - 512 MB, 1028 GB."""
    provider = provider_of(small, "host1")
    capacities = {inv.resource_class: inv.capacity for inv in provider.inventories.all()}
    assert capacities == {"VCPU": 8, "MEMORY_MB": 7680, "DISK_GB": 1028}


def test_small_fake_driver_inventory_fields(small):
    vcpu = inventory(provider_of(small, "host1"), "VCPU")
    memory = inventory(provider_of(small, "host1"), "MEMORY_MB")
    assert (vcpu.total, vcpu.reserved, vcpu.min_unit, vcpu.max_unit, vcpu.step_size, vcpu.allocation_ratio) == (
        2, 0, 1, 2, 1, 4.0,
    )
    assert (memory.total, memory.reserved, memory.max_unit, memory.allocation_ratio) == (8192, 512, 8192, 1.0)


@pytest.mark.parametrize(
    "total, reserved, ratio, expected",
    [
        (7, 0, 1.5, 10),  # 10.5 -> 10
        (7, 1, 1.5, 9),  # 9.0
        (10, 3, 1.5, 10),  # 10.5 -> 10
        (3, 0, 0.5, 1),  # 1.5 -> 1
        (100, 0, 1.15, 114),  # 114.99999999999999 in floating point
    ],
)
def test_fractional_capacity_rounds_down(total, reserved, ratio, expected):
    inv = Inventory(resource_class="VCPU", total=total, reserved=reserved, allocation_ratio=ratio)
    assert inv.capacity == expected


def test_fractional_capacity_admits_the_whole_part_and_not_one_more(small):
    """total 7, ratio 1.5: capacity 10.5 holds 10 units, the 11th is over capacity."""
    provider = provider_of(small, "host1")
    set_inventory(provider, "VCPU", total=7, reserved=0, max_unit=100, allocation_ratio=1.5)

    put(small, new_uuid(), on(provider, VCPU=10))
    assert placement.usages(provider)["VCPU"] == 10

    with pytest.raises(placement.AllocationConflict) as err:
        put(small, new_uuid(), on(provider, VCPU=1))
    assert err.value.detail == CAPACITY_MSG.format(rc="VCPU", rp=provider.uuid)
    assert placement.usages(provider)["VCPU"] == 10


# --- inventory constraints: min_unit / max_unit / step_size -----------------------------------


@pytest.mark.parametrize(
    "rc, fields, amount",
    [
        ("VCPU", {"min_unit": 2}, 1),  # below min_unit
        ("VCPU", {}, 3),  # above max_unit (= total 2), although capacity is 8
        ("MEMORY_MB", {"step_size": 256}, 1000),  # not a multiple of step_size
        ("DISK_GB", {"step_size": 10}, 25),
    ],
    ids=["below-min_unit", "above-max_unit", "off-step_size-memory", "off-step_size-disk"],
)
def test_amount_violating_inventory_constraints_is_rejected(small, rc, fields, amount):
    provider = provider_of(small, "host1")
    set_inventory(provider, rc, **fields)
    consumer = new_uuid()

    with pytest.raises(placement.AllocationConflict) as err:
        put(small, consumer, on(provider, **{rc: amount}))

    assert err.value.detail == CONSTRAINTS_MSG.format(rc=rc, rp=provider.uuid)
    assert str(err.value) == err.value.detail
    assert err.value.status == 409
    assert placement.get_allocations(consumer) == {"allocations": {}}
    assert placement.usages(provider) == ZERO


@pytest.mark.parametrize(
    "rc, fields, amount",
    [
        ("VCPU", {"min_unit": 2}, 2),  # exactly min_unit
        ("VCPU", {}, 2),  # exactly max_unit
        ("MEMORY_MB", {"step_size": 256}, 1024),  # a multiple of step_size
    ],
    ids=["at-min_unit", "at-max_unit", "on-step_size"],
)
def test_amount_on_the_constraint_boundary_is_accepted(small, rc, fields, amount):
    provider = provider_of(small, "host1")
    set_inventory(provider, rc, **fields)
    put(small, new_uuid(), on(provider, **{rc: amount}))
    assert placement.usages(provider)[rc] == amount


def test_constraint_violation_is_reported_before_capacity(small):
    """3 VCPU on a full host is both over max_unit and over capacity: the constraint wins."""
    provider = provider_of(small, "host1")
    for _ in range(4):
        put(small, new_uuid(), on(provider, VCPU=2))
    with pytest.raises(placement.AllocationConflict) as err:
        put(small, new_uuid(), on(provider, VCPU=3))
    assert err.value.detail == CONSTRAINTS_MSG.format(rc="VCPU", rp=provider.uuid)


# --- capacity ---------------------------------------------------------------------------------


def test_filling_memory_exactly_to_capacity_succeeds(small):
    provider = provider_of(small, "host1")
    put(small, new_uuid(), on(provider, MEMORY_MB=7680))
    assert placement.usages(provider) == {"VCPU": 0, "MEMORY_MB": 7680, "DISK_GB": 0}


def test_one_mb_past_capacity_is_rejected_even_within_max_unit(small):
    """7681 MB passes max_unit (8192) but exceeds capacity 8192 - 512 = 7680."""
    provider = provider_of(small, "host1")
    consumer = new_uuid()
    with pytest.raises(placement.AllocationConflict) as err:
        put(small, consumer, on(provider, MEMORY_MB=7681))
    assert err.value.detail == CAPACITY_MSG.format(rc="MEMORY_MB", rp=provider.uuid)
    assert err.value.status == 409
    assert placement.get_allocations(consumer) == {"allocations": {}}


def test_vcpu_capacity_counts_every_consumer(small):
    """Four consumers of 2 VCPU fill 2 x 4.0 = 8; a fifth VCPU does not fit."""
    provider = provider_of(small, "host1")
    for _ in range(4):
        put(small, new_uuid(), on(provider, VCPU=2))
    assert placement.usages(provider)["VCPU"] == 8

    with pytest.raises(placement.AllocationConflict) as err:
        put(small, new_uuid(), on(provider, VCPU=1))
    assert err.value.detail == CAPACITY_MSG.format(rc="VCPU", rp=provider.uuid)
    assert placement.usages(provider)["VCPU"] == 8


def test_capacity_exceeded_on_one_class_rejects_the_whole_allocation(small):
    provider = provider_of(small, "host1")
    put(small, new_uuid(), on(provider, DISK_GB=1000))
    consumer = new_uuid()
    with pytest.raises(placement.AllocationConflict) as err:
        put(small, consumer, on(provider, VCPU=1, MEMORY_MB=512, DISK_GB=29))
    assert err.value.detail == CAPACITY_MSG.format(rc="DISK_GB", rp=provider.uuid)
    assert placement.usages(provider) == {"VCPU": 0, "MEMORY_MB": 0, "DISK_GB": 1000}
    put(small, consumer, on(provider, VCPU=1, MEMORY_MB=512, DISK_GB=28))
    assert placement.usages(provider) == {"VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 1028}


def test_rewriting_a_consumer_counts_only_its_new_amount(small):
    """A consumer holding 7000 MB may grow to 7680: its old 7000 is not counted twice."""
    provider = provider_of(small, "host1")
    consumer = new_uuid()
    put(small, consumer, on(provider, MEMORY_MB=7000))
    put(small, consumer, on(provider, MEMORY_MB=7680), generation=1)
    assert placement.usages(provider)["MEMORY_MB"] == 7680


class TestOverCapacityTolerance:
    """Once usage exceeds capacity (the operator lowered total), a write may keep or
    reduce the usage but not raise it."""

    @pytest.fixture
    def overcommitted(self, small):
        """host1 holds a=4096 + b=3584 = 7680 MB, then total drops to 4608: capacity 4096."""
        provider = provider_of(small, "host1")
        a, b = new_uuid(), new_uuid()
        put(small, a, on(provider, MEMORY_MB=4096))
        put(small, b, on(provider, MEMORY_MB=3584))
        set_inventory(provider, "MEMORY_MB", total=4608)
        assert inventory(provider, "MEMORY_MB").capacity == 4096
        return small, provider, a, b

    def test_rewriting_the_same_amount_is_accepted(self, overcommitted):
        cloud, provider, a, _ = overcommitted
        put(cloud, a, on(provider, MEMORY_MB=4096), generation=1)
        assert placement.usages(provider)["MEMORY_MB"] == 7680
        assert generation_of(a) == 2

    def test_shrinking_is_accepted_while_still_over_capacity(self, overcommitted):
        cloud, provider, a, _ = overcommitted
        put(cloud, a, on(provider, MEMORY_MB=1024), generation=1)
        assert placement.usages(provider)["MEMORY_MB"] == 4608  # still over 4096

    def test_growing_a_consumer_is_rejected(self, overcommitted):
        cloud, provider, a, _ = overcommitted
        with pytest.raises(placement.AllocationConflict) as err:
            put(cloud, a, on(provider, MEMORY_MB=4097), generation=1)
        assert err.value.detail == CAPACITY_MSG.format(rc="MEMORY_MB", rp=provider.uuid)
        assert placement.usages(provider)["MEMORY_MB"] == 7680
        assert generation_of(a) == 1

    def test_regrowing_after_a_shrink_is_rejected(self, overcommitted):
        """The baseline is the usage at the time of the write, not the old peak."""
        cloud, provider, a, _ = overcommitted
        put(cloud, a, on(provider, MEMORY_MB=1024), generation=1)
        with pytest.raises(placement.AllocationConflict):
            put(cloud, a, on(provider, MEMORY_MB=2048), generation=2)
        assert placement.usages(provider)["MEMORY_MB"] == 4608

    def test_a_new_consumer_is_rejected(self, overcommitted):
        cloud, provider, _, _ = overcommitted
        with pytest.raises(placement.AllocationConflict) as err:
            put(cloud, new_uuid(), on(provider, MEMORY_MB=1))
        assert err.value.detail == CAPACITY_MSG.format(rc="MEMORY_MB", rp=provider.uuid)

    def test_moving_between_consumers_keeps_usage_and_is_accepted(self, overcommitted):
        cloud, provider, a, _ = overcommitted
        migration = new_uuid()
        assert placement.move_allocations(cloud, a, migration, "MIGRATION") is True
        assert resources_of(migration) == {str(provider.uuid): {"MEMORY_MB": 4096}}
        assert placement.usages(provider)["MEMORY_MB"] == 7680


# --- resource classes without inventory ------------------------------------------------------


def test_allocation_on_a_class_without_inventory_is_rejected(small):
    provider = provider_of(small, "host1")
    Inventory.objects.filter(provider=provider, resource_class="DISK_GB").delete()
    consumer = new_uuid()
    with pytest.raises(placement.AllocationConflict) as err:
        put(small, consumer, on(provider, VCPU=1, DISK_GB=1))
    assert err.value.detail == (
        f"Unable to allocate inventory: Inventory for 'DISK_GB' on resource provider '{provider.uuid}' invalid."
    )
    assert err.value.status == 409
    assert placement.get_allocations(consumer) == {"allocations": {}}
    assert placement.usages(provider) == {"VCPU": 0, "MEMORY_MB": 0}


def test_allocation_on_an_unknown_resource_class_is_rejected(small):
    provider = provider_of(small, "host1")
    with pytest.raises(placement.AllocationConflict) as err:
        put(small, new_uuid(), on(provider, VGPU=1))
    assert "Inventory for 'VGPU'" in err.value.detail


def test_allocation_on_an_unknown_provider_is_rejected(small):
    ghost = new_uuid()
    consumer = new_uuid()
    with pytest.raises(placement.PlacementError) as err:
        put(small, consumer, {ghost: {"resources": {"VCPU": 1}}})
    assert err.value.detail == f"Unable to allocate inventory: resource provider {ghost} not found."
    assert placement.get_allocations(consumer) == {"allocations": {}}


# --- usages ----------------------------------------------------------------------------------


def test_usages_report_zero_for_classes_with_inventory_and_no_allocation(small):
    provider = provider_of(small, "host1")
    assert placement.usages(provider) == ZERO
    put(small, new_uuid(), on(provider, VCPU=1))
    assert placement.usages(provider) == {"VCPU": 1, "MEMORY_MB": 0, "DISK_GB": 0}


def test_usages_sum_every_consumer_on_the_provider(small):
    provider = provider_of(small, "host1")
    put(small, new_uuid(), on(provider, **flavor_of(small, "m1.tiny").resources()))
    put(small, new_uuid(), on(provider, **flavor_of(small, "m1.small").resources()), consumer_type="MIGRATION")
    put(small, new_uuid(), on(provider_of(small, "host2"), **flavor_of(small, "m1.medium").resources()))
    assert placement.usages(provider) == {"VCPU": 2, "MEMORY_MB": 512 + 2048, "DISK_GB": 1 + 20}


def test_cloud_usages_lists_every_provider_of_the_cloud_and_only_those(db):
    cloud = cloud_with_hosts("three", ["host1", "host2", "host3"])
    other = cloud_with_hosts("other", ["host1"])
    h1, h2 = provider_of(cloud, "host1"), provider_of(cloud, "host2")
    put(cloud, new_uuid(), on(h1, **flavor_of(cloud, "m1.tiny").resources()))
    put(cloud, new_uuid(), on(h1, **flavor_of(cloud, "m1.small").resources()), consumer_type="MIGRATION")
    put(cloud, new_uuid(), on(h2, **flavor_of(cloud, "m1.large").resources()))
    put(cloud, new_uuid(), on(h2, VCPU=3))
    put(other, new_uuid(), on(provider_of(other, "host1"), VCPU=100))

    assert placement.cloud_usages(cloud) == {
        "host1": {"VCPU": 2, "MEMORY_MB": 2560, "DISK_GB": 21},
        "host2": {"VCPU": 7, "MEMORY_MB": 8192, "DISK_GB": 80},
        "host3": ZERO,
    }
    assert placement.cloud_usages(other) == {"host1": {"VCPU": 100, "MEMORY_MB": 0, "DISK_GB": 0}}


def test_one_consumer_spread_over_two_providers_counts_on_each(small):
    h1, h2 = provider_of(small, "host1"), provider_of(small, "host2")
    consumer = new_uuid()
    put(small, consumer, {**on(h1, VCPU=1, MEMORY_MB=512), **on(h2, VCPU=2, DISK_GB=20)})
    assert placement.cloud_usages(small) == {
        "host1": {"VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 0},
        "host2": {"VCPU": 2, "MEMORY_MB": 0, "DISK_GB": 20},
    }


# --- consumer and provider generations -------------------------------------------------------


def test_new_consumer_is_written_with_generation_none_and_gets_generation_1(small):
    provider = provider_of(small, "host1")
    consumer = new_uuid()
    assert placement.get_allocations(consumer) == {"allocations": {}}

    put(small, consumer, on(provider, VCPU=1, MEMORY_MB=512, DISK_GB=1), consumer_type="MIGRATION")

    assert placement.get_allocations(consumer) == {
        "allocations": {
            str(provider.uuid): {"resources": {"VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 1}, "generation": 1}
        },
        "consumer_generation": 1,
        "consumer_type": "MIGRATION",
        "project_id": PROJECT_ID,
        "user_id": USER_ID,
    }


def test_each_write_with_the_current_generation_bumps_it_by_one(small):
    provider = provider_of(small, "host1")
    consumer = new_uuid()
    put(small, consumer, on(provider, VCPU=1))
    put(small, consumer, on(provider, VCPU=2), generation=1)
    put(small, consumer, on(provider, VCPU=1), generation=2)
    assert generation_of(consumer) == 3
    assert Consumer.objects.get(uuid=consumer).generation == 3


def _conflict_parts(detail):
    match = re.fullmatch(r"consumer generation conflict - expected (\S+) but got (\S+)", detail)
    assert match, detail
    return match.groups()


def test_stale_consumer_generation_is_a_409_concurrent_update(small):
    provider = provider_of(small, "host1")
    consumer = new_uuid()
    put(small, consumer, on(provider, VCPU=1))
    put(small, consumer, on(provider, VCPU=2), generation=1)  # now generation 2

    with pytest.raises(placement.ConcurrentUpdate) as err:
        put(small, consumer, on(provider, VCPU=1, MEMORY_MB=512), generation=1)

    error = err.value
    assert sorted(_conflict_parts(error.detail)) == ["1", "2"]
    assert error.code == "placement.concurrent_update"
    assert error.status == 409
    assert error.title == "Conflict"
    doc = json.loads(error.body())
    assert len(doc["errors"]) == 1
    entry = doc["errors"][0]
    assert entry["code"] == "placement.concurrent_update"
    assert entry["status"] == 409
    assert entry["title"] == "Conflict"
    # As Placement 16 sends it (webob puts the status's explanation first), which Nova keeps in its faults.
    assert entry["detail"] == f"There was a conflict when trying to complete your request.\n\n {error.detail}  "
    assert entry["request_id"].startswith("req-")
    # Nothing was written.
    assert resources_of(consumer) == {str(provider.uuid): {"VCPU": 2}}
    assert generation_of(consumer) == 2


def test_writing_none_for_an_existing_consumer_conflicts(small):
    provider = provider_of(small, "host1")
    consumer = new_uuid()
    put(small, consumer, on(provider, VCPU=1))
    with pytest.raises(placement.ConcurrentUpdate) as err:
        put(small, consumer, on(provider, VCPU=2))
    parts = _conflict_parts(err.value.detail)
    assert "1" in parts and ("null" in parts or "None" in parts)
    assert resources_of(consumer) == {str(provider.uuid): {"VCPU": 1}}


def test_writing_a_generation_for_an_unknown_consumer_conflicts(small):
    consumer = new_uuid()
    with pytest.raises(placement.ConcurrentUpdate) as err:
        put(small, consumer, on(provider_of(small, "host1"), VCPU=1), generation=3)
    parts = _conflict_parts(err.value.detail)
    assert "3" in parts and "null" in parts
    assert placement.get_allocations(consumer) == {"allocations": {}}


@pytest.mark.parametrize(
    "stored_writes, sent, expected_detail",
    [
        (2, 1, "consumer generation conflict - expected 2 but got 1"),  # stale generation
        (1, None, "consumer generation conflict - expected 1 but got None"),  # null for an existing consumer
        (0, 3, "consumer generation conflict - expected null but got 3"),  # generation for a new consumer
    ],
    ids=["stale", "null-for-existing", "int-for-new"],
)
def test_conflict_detail_names_the_stored_generation_first_like_placement(small, stored_writes, sent, expected_detail):
    provider = provider_of(small, "host1")
    consumer = new_uuid()
    for generation in [None, *range(1, stored_writes)][:stored_writes]:
        put(small, consumer, on(provider, VCPU=1), generation=generation)
    with pytest.raises(placement.ConcurrentUpdate) as err:
        put(small, consumer, on(provider, VCPU=2), generation=sent)
    assert err.value.detail == expected_detail


def test_provider_generation_increments_on_each_allocation_write_touching_it(small):
    h1, h2 = provider_of(small, "host1"), provider_of(small, "host2")
    assert (h1.generation, h2.generation) == (0, 0)
    consumer = new_uuid()

    put(small, consumer, on(h1, VCPU=1))
    h1.refresh_from_db(), h2.refresh_from_db()
    assert (h1.generation, h2.generation) == (1, 0)

    put(small, consumer, on(h1, VCPU=2), generation=1)
    h1.refresh_from_db(), h2.refresh_from_db()
    assert (h1.generation, h2.generation) == (2, 0)

    # Moving the consumer to host2 touches both: host1 is freed, host2 is written.
    put(small, consumer, on(h2, VCPU=2), generation=2)
    h1.refresh_from_db(), h2.refresh_from_db()
    assert (h1.generation, h2.generation) == (3, 1)
    assert placement.get_allocations(consumer)["allocations"][str(h2.uuid)]["generation"] == 1


def test_failed_write_does_not_bump_provider_generation(small):
    provider = provider_of(small, "host1")
    with pytest.raises(placement.AllocationConflict):
        put(small, new_uuid(), on(provider, MEMORY_MB=7681))
    provider.refresh_from_db()
    assert provider.generation == 0


# --- PUT replaces wholesale; empty allocations delete -----------------------------------------


def test_put_replaces_allocations_wholesale_and_frees_the_old_provider(small):
    h1, h2 = provider_of(small, "host1"), provider_of(small, "host2")
    consumer = new_uuid()
    put(small, consumer, on(h1, **flavor_of(small, "m1.tiny").resources()))
    put(small, consumer, on(h2, VCPU=1, MEMORY_MB=2048), generation=1)

    assert resources_of(consumer) == {str(h2.uuid): {"VCPU": 1, "MEMORY_MB": 2048}}
    assert placement.cloud_usages(small) == {
        "host1": ZERO,
        "host2": {"VCPU": 1, "MEMORY_MB": 2048, "DISK_GB": 0},
    }


def test_put_drops_resource_classes_left_out_of_the_new_body(small):
    provider = provider_of(small, "host1")
    consumer = new_uuid()
    put(small, consumer, on(provider, VCPU=1, MEMORY_MB=512, DISK_GB=1))
    put(small, consumer, on(provider, MEMORY_MB=512), generation=1)
    assert resources_of(consumer) == {str(provider.uuid): {"MEMORY_MB": 512}}
    assert placement.usages(provider) == {"VCPU": 0, "MEMORY_MB": 512, "DISK_GB": 0}


def test_empty_allocations_delete_the_consumer(small):
    provider = provider_of(small, "host1")
    consumer = new_uuid()
    put(small, consumer, on(provider, VCPU=1, MEMORY_MB=512))
    put(small, consumer, {}, generation=1)

    assert placement.get_allocations(consumer) == {"allocations": {}}
    assert not Consumer.objects.filter(uuid=consumer).exists()
    assert placement.usages(provider) == ZERO
    # The consumer is gone, so the next writer creates it afresh with None.
    put(small, consumer, on(provider, VCPU=1))
    assert generation_of(consumer) == 1


def test_empty_allocations_still_need_the_current_generation(small):
    provider = provider_of(small, "host1")
    consumer = new_uuid()
    put(small, consumer, on(provider, VCPU=1))
    with pytest.raises(placement.ConcurrentUpdate):
        put(small, consumer, {}, generation=5)
    assert resources_of(consumer) == {str(provider.uuid): {"VCPU": 1}}


# --- POST /allocations: several consumers, all or nothing --------------------------------------


def test_post_allocations_writes_several_consumers(small):
    h1, h2 = provider_of(small, "host1"), provider_of(small, "host2")
    instance, migration = new_uuid(), new_uuid()
    placement.post_allocations(
        small,
        {
            instance: body(on(h2, VCPU=1, MEMORY_MB=2048, DISK_GB=20)),
            migration: body(on(h1, VCPU=1, MEMORY_MB=512, DISK_GB=1), consumer_type="MIGRATION"),
        },
    )
    assert (generation_of(instance), generation_of(migration)) == (1, 1)
    assert placement.cloud_usages(small) == {
        "host1": {"VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 1},
        "host2": {"VCPU": 1, "MEMORY_MB": 2048, "DISK_GB": 20},
    }


def test_post_allocations_checks_capacity_over_the_sum_of_its_consumers(small):
    """Two new consumers of 4000 MB each fit alone (7680) but not together."""
    provider = provider_of(small, "host1")
    a, b = new_uuid(), new_uuid()
    with pytest.raises(placement.AllocationConflict) as err:
        placement.post_allocations(small, {a: body(on(provider, MEMORY_MB=4000)), b: body(on(provider, MEMORY_MB=4000))})
    assert err.value.detail == CAPACITY_MSG.format(rc="MEMORY_MB", rp=provider.uuid)
    assert placement.get_allocations(a) == placement.get_allocations(b) == {"allocations": {}}
    assert placement.usages(provider) == ZERO


@pytest.fixture
def two_consumers(small):
    """a holds 1 VCPU / 512 MB on host1, b holds 1 VCPU / 2048 MB on host2; both generation 1."""
    h1, h2 = provider_of(small, "host1"), provider_of(small, "host2")
    a, b = new_uuid(), new_uuid()
    put(small, a, on(h1, VCPU=1, MEMORY_MB=512))
    put(small, b, on(h2, VCPU=1, MEMORY_MB=2048))
    return small, h1, h2, a, b


def _assert_two_consumers_untouched(cloud, h1, h2, a, b):
    assert resources_of(a) == {str(h1.uuid): {"VCPU": 1, "MEMORY_MB": 512}}
    assert resources_of(b) == {str(h2.uuid): {"VCPU": 1, "MEMORY_MB": 2048}}
    assert (generation_of(a), generation_of(b)) == (1, 1)
    assert placement.cloud_usages(cloud) == {
        "host1": {"VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 0},
        "host2": {"VCPU": 1, "MEMORY_MB": 2048, "DISK_GB": 0},
    }
    h1.refresh_from_db(), h2.refresh_from_db()
    assert (h1.generation, h2.generation) == (1, 1)


def test_post_allocations_applies_nothing_when_one_consumer_exceeds_capacity(two_consumers):
    cloud, h1, h2, a, b = two_consumers
    with pytest.raises(placement.AllocationConflict) as err:
        placement.post_allocations(
            cloud,
            {
                a: body({}, generation=1),  # would delete a
                b: body(on(h2, VCPU=1, MEMORY_MB=7681), generation=1),  # over capacity
            },
        )
    assert err.value.detail == CAPACITY_MSG.format(rc="MEMORY_MB", rp=h2.uuid)
    _assert_two_consumers_untouched(cloud, h1, h2, a, b)


def test_post_allocations_applies_nothing_when_one_consumer_generation_is_stale(two_consumers):
    cloud, h1, h2, a, b = two_consumers
    with pytest.raises(placement.ConcurrentUpdate):
        placement.post_allocations(
            cloud,
            {
                a: body(on(h2, VCPU=1, MEMORY_MB=512), generation=1),  # fine on its own
                b: body(on(h1, VCPU=1, MEMORY_MB=2048), generation=7),  # stale
            },
        )
    _assert_two_consumers_untouched(cloud, h1, h2, a, b)


def test_post_allocations_applies_nothing_when_one_consumer_violates_constraints(two_consumers):
    cloud, h1, h2, a, b = two_consumers
    with pytest.raises(placement.AllocationConflict) as err:
        placement.post_allocations(
            cloud,
            {
                a: body(on(h1, VCPU=2, MEMORY_MB=512), generation=1),
                b: body(on(h2, VCPU=3), generation=1),  # over max_unit 2
            },
        )
    assert err.value.detail == CONSTRAINTS_MSG.format(rc="VCPU", rp=h2.uuid)
    _assert_two_consumers_untouched(cloud, h1, h2, a, b)


def test_a_consumer_created_meanwhile_by_another_writer_is_a_concurrent_update(small, monkeypatch):
    """Another writer sent null for the same new consumer and inserted it first: Placement's 409,
    and nothing of this write is left."""
    provider = provider_of(small, "host1")
    consumer = new_uuid()
    check_constraints = placement.check_constraints

    def other_writer_first(*args):  # runs after the write found no such consumer
        if not Consumer.objects.filter(uuid=consumer).exists():
            Consumer.objects.create(
                cloud=small, uuid=consumer, consumer_type="INSTANCE", generation=1, project_id="p", user_id="u"
            )
        check_constraints(*args)

    monkeypatch.setattr(placement, "check_constraints", other_writer_first)
    with pytest.raises(placement.ConcurrentUpdate) as err:
        put(small, consumer, on(provider, VCPU=1))
    assert err.value.detail == "consumer generation conflict - expected 1 but got None"
    assert placement.usages(provider) == ZERO
    provider.refresh_from_db()
    assert provider.generation == 0


def test_post_allocations_costs_eleven_queries(two_consumers, django_assert_max_num_queries):
    """Replacing one consumer and creating another: a savepoint, the consumers locked, what they
    hold, the providers locked, their inventories with usage; the replaced consumer updated, the
    new one inserted, the old allocations deleted, the new ones inserted, the providers'
    generations bumped."""
    cloud, h1, h2, a, b = two_consumers
    new = new_uuid()
    with django_assert_max_num_queries(11):
        placement.post_allocations(
            cloud, {a: body(on(h2, VCPU=1), generation=1), new: body(on(h1, VCPU=1, MEMORY_MB=512))}
        )
    assert resources_of(a) == {str(h2.uuid): {"VCPU": 1}}
    assert resources_of(new) == {str(h1.uuid): {"VCPU": 1, "MEMORY_MB": 512}}


# --- move_allocations ------------------------------------------------------------------------


def test_move_allocations_moves_everything_to_the_target_and_deletes_the_source(small):
    h1 = provider_of(small, "host1")
    instance, migration = new_uuid(), new_uuid()
    tiny = flavor_of(small, "m1.tiny").resources()
    put(small, instance, on(h1, **tiny))

    assert placement.move_allocations(small, instance, migration, "MIGRATION") is True

    assert placement.get_allocations(instance) == {"allocations": {}}
    moved = placement.get_allocations(migration)
    assert moved["allocations"] == {str(h1.uuid): {"resources": tiny, "generation": 2}}
    assert moved["consumer_generation"] == 1
    assert moved["consumer_type"] == "MIGRATION"
    assert (moved["project_id"], moved["user_id"]) == (PROJECT_ID, USER_ID)
    assert placement.usages(h1) == {"VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 1}


def test_move_allocations_replaces_what_the_target_held(small):
    """The target's own allocations are overwritten, not added to."""
    h1, h2 = provider_of(small, "host1"), provider_of(small, "host2")
    migration, instance = new_uuid(), new_uuid()
    put(small, migration, on(h1, VCPU=1, MEMORY_MB=512, DISK_GB=1), consumer_type="MIGRATION")
    put(small, instance, on(h2, VCPU=1, MEMORY_MB=2048, DISK_GB=20))

    # Revert: the migration's (old flavor, source host) allocation goes back to the instance.
    assert placement.move_allocations(small, migration, instance, "INSTANCE") is True

    assert placement.get_allocations(migration) == {"allocations": {}}
    assert resources_of(instance) == {str(h1.uuid): {"VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 1}}
    assert generation_of(instance) == 2
    assert placement.cloud_usages(small) == {
        "host1": {"VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 1},
        "host2": ZERO,
    }


def test_move_allocations_costs_twelve_queries(small, django_assert_max_num_queries):
    """One read of both consumers; then a savepoint, the consumers locked, what they hold, the
    provider locked, its inventories with usage; the source deleted (its allocations first), the
    target and its allocations inserted, the provider's generation bumped."""
    h1 = provider_of(small, "host1")
    instance, migration = new_uuid(), new_uuid()
    put(small, instance, on(h1, VCPU=1, MEMORY_MB=512, DISK_GB=1))
    with django_assert_max_num_queries(12):
        assert placement.move_allocations(small, instance, migration, "MIGRATION") is True
    assert resources_of(migration) == {str(h1.uuid): {"VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 1}}


def test_move_allocations_returns_false_when_the_source_holds_nothing(small):
    h1 = provider_of(small, "host1")
    target = new_uuid()
    put(small, target, on(h1, VCPU=1))
    assert placement.move_allocations(small, new_uuid(), target, "MIGRATION") is False
    assert resources_of(target) == {str(h1.uuid): {"VCPU": 1}}
    assert generation_of(target) == 1


def test_move_allocations_race_is_a_concurrent_update_and_moves_nothing(small):
    h1, h2 = provider_of(small, "host1"), provider_of(small, "host2")
    source, target = new_uuid(), new_uuid()
    put(small, source, on(h1, VCPU=1, MEMORY_MB=512))
    put(small, target, on(h2, VCPU=2))

    with pytest.raises(placement.ConcurrentUpdate) as err:
        placement.move_allocations(small, source, target, "MIGRATION", race=True)

    assert err.value.code == "placement.concurrent_update"
    assert err.value.status == 409
    assert sorted(_conflict_parts(err.value.detail)) == ["1", "2"]
    assert resources_of(source) == {str(h1.uuid): {"VCPU": 1, "MEMORY_MB": 512}}
    assert resources_of(target) == {str(h2.uuid): {"VCPU": 2}}
    # The concurrent writer moved the source on to 2; our write changed nothing.
    assert (generation_of(source), generation_of(target)) == (2, 1)
    assert placement.get_allocations(target)["consumer_type"] == "INSTANCE"
    assert placement.cloud_usages(small) == {
        "host1": {"VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 0},
        "host2": {"VCPU": 2, "MEMORY_MB": 0, "DISK_GB": 0},
    }


# --- delete_allocations ----------------------------------------------------------------------


def test_delete_allocations_frees_the_provider_and_deletes_the_consumer(small):
    h1 = provider_of(small, "host1")
    consumer = new_uuid()
    put(small, consumer, on(h1, VCPU=1, MEMORY_MB=512, DISK_GB=1))
    assert placement.delete_allocations(small, consumer) is True
    assert placement.get_allocations(consumer) == {"allocations": {}}
    assert placement.usages(h1) == ZERO
    h1.refresh_from_db()
    assert h1.generation == 2


def test_delete_allocations_returns_false_when_nothing_is_held(small):
    assert placement.delete_allocations(small, new_uuid()) is False


def test_delete_allocations_race_is_a_concurrent_update_and_keeps_the_allocation(small):
    h1 = provider_of(small, "host1")
    consumer = new_uuid()
    put(small, consumer, on(h1, VCPU=1, MEMORY_MB=512, DISK_GB=1))

    with pytest.raises(placement.ConcurrentUpdate) as err:
        placement.delete_allocations(small, consumer, race=True)

    assert err.value.code == "placement.concurrent_update"
    assert resources_of(consumer) == {str(h1.uuid): {"VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 1}}
    assert generation_of(consumer) == 2  # bumped by the concurrent writer only
    assert placement.usages(h1) == {"VCPU": 1, "MEMORY_MB": 512, "DISK_GB": 1}


# --- allocation_candidates -------------------------------------------------------------------


def test_no_small_host_is_a_candidate_for_m1_large(small):
    """4 VCPU exceeds SmallFakeDriver's max_unit 2 and 8192 MB its 7680 MB capacity."""
    assert flavor_of(small, "m1.large").resources() == {"VCPU": 4, "MEMORY_MB": 8192, "DISK_GB": 80}
    assert placement.allocation_candidates(small, flavor_of(small, "m1.large").resources()) == []


def test_every_small_host_is_a_candidate_for_m1_small(small):
    request = flavor_of(small, "m1.small").resources()
    assert request == {"VCPU": 1, "MEMORY_MB": 2048, "DISK_GB": 20}
    candidates = placement.allocation_candidates(small, request)

    assert [c["provider"].name for c in candidates] == ["host1", "host2"]
    for candidate in candidates:
        provider = candidate["provider"]
        assert candidate["allocation_request"] == {str(provider.uuid): {"resources": request}}
        assert candidate["summary"] == {
            "VCPU": {"capacity": 8, "used": 0},
            "MEMORY_MB": {"capacity": 7680, "used": 0},
            "DISK_GB": {"capacity": 1028, "used": 0},
        }


def test_candidate_allocation_request_can_be_put_as_is(small):
    request = flavor_of(small, "m1.small").resources()
    candidate = placement.allocation_candidates(small, request)[0]
    consumer = new_uuid()
    put(small, consumer, candidate["allocation_request"])
    assert resources_of(consumer) == {str(candidate["provider"].uuid): request}


def test_candidates_leave_out_hosts_without_room_and_summarise_used(small):
    h1 = provider_of(small, "host1")
    put(small, new_uuid(), on(h1, VCPU=2, MEMORY_MB=6000, DISK_GB=100))
    request = {"VCPU": 1, "MEMORY_MB": 2048, "DISK_GB": 20}

    candidates = placement.allocation_candidates(small, request)
    assert [c["provider"].name for c in candidates] == ["host2"]

    # 1680 MB still fits on host1.
    candidates = placement.allocation_candidates(small, {"VCPU": 1, "MEMORY_MB": 1680, "DISK_GB": 20})
    assert [c["provider"].name for c in candidates] == ["host1", "host2"]
    assert candidates[0]["summary"] == {
        "VCPU": {"capacity": 8, "used": 2},
        "MEMORY_MB": {"capacity": 7680, "used": 6000},
        "DISK_GB": {"capacity": 1028, "used": 100},
    }
    assert placement.allocation_candidates(small, {"VCPU": 1, "MEMORY_MB": 1681, "DISK_GB": 20})[0][
        "provider"
    ].name == "host2"


def test_candidates_respect_min_unit_and_step_size(small):
    set_inventory(provider_of(small, "host1"), "MEMORY_MB", step_size=1024)
    set_inventory(provider_of(small, "host2"), "VCPU", min_unit=2)
    assert [c["provider"].name for c in placement.allocation_candidates(small, {"VCPU": 1, "MEMORY_MB": 1000})] == []
    assert [c["provider"].name for c in placement.allocation_candidates(small, {"VCPU": 2, "MEMORY_MB": 1024})] == [
        "host1",
        "host2",
    ]
    assert [c["provider"].name for c in placement.allocation_candidates(small, {"VCPU": 1, "MEMORY_MB": 1024})] == [
        "host1"
    ]


def test_candidates_skip_providers_lacking_a_requested_class(small):
    Inventory.objects.filter(provider=provider_of(small, "host1"), resource_class="DISK_GB").delete()
    assert [c["provider"].name for c in placement.allocation_candidates(small, {"VCPU": 1, "DISK_GB": 1})] == [
        "host2"
    ]


def test_candidates_filtered_by_provider_names(small):
    request = {"VCPU": 1, "MEMORY_MB": 2048, "DISK_GB": 20}
    assert [c["provider"].name for c in placement.allocation_candidates(small, request, provider_names=["host2"])] == [
        "host2"
    ]
    assert placement.allocation_candidates(small, request, provider_names=["nowhere"]) == []
    assert placement.allocation_candidates(small, request, provider_names=[]) == []


def test_candidates_are_limited_in_name_order(db):
    cloud = cloud_with_hosts("five", ["host5", "host3", "host1", "host4", "host2"], "SmallFakeDriver")
    request = {"VCPU": 1, "MEMORY_MB": 2048, "DISK_GB": 20}
    assert [c["provider"].name for c in placement.allocation_candidates(cloud, request)] == [
        "host1",
        "host2",
        "host3",
        "host4",
        "host5",
    ]
    assert [c["provider"].name for c in placement.allocation_candidates(cloud, request, limit=2)] == ["host1", "host2"]
    # The limit applies after filtering: a full host1 does not use up a slot.
    put(cloud, new_uuid(), on(provider_of(cloud, "host1"), MEMORY_MB=7680))
    assert [c["provider"].name for c in placement.allocation_candidates(cloud, request, limit=2)] == ["host2", "host3"]


def test_candidates_only_come_from_the_given_cloud(small, fake):
    request = {"VCPU": 1, "MEMORY_MB": 2048, "DISK_GB": 20}
    candidates = placement.allocation_candidates(small, request)
    assert {c["provider"].cloud_id for c in candidates} == {small.pk}
    fake_candidates = placement.allocation_candidates(fake, flavor_of(fake, "m1.large").resources())
    assert [c["summary"]["VCPU"] for c in fake_candidates] == [{"capacity": 4000, "used": 0}] * 2


# --- inventory writes: PUT and DELETE /resource_providers/{uuid}/inventories/{rc} -------------


def record(**fields):
    """A whole inventory record: Placement's defaults, with ``fields`` over them."""
    return {"total": 4, "reserved": 0, "min_unit": 1, "max_unit": 2147483647, "step_size": 1,
            "allocation_ratio": 1.0, **fields}


def generation(provider):
    provider.refresh_from_db()
    return provider.generation


def test_set_inventory_with_the_current_generation_replaces_the_record_and_bumps_the_generation(small):
    provider = provider_of(small, "host1")
    returned = placement.set_inventory(provider, "VCPU", record(total=64, allocation_ratio=2.0, max_unit=16), 0)
    assert returned.generation == generation(provider) == 1
    assert placement.get_inventory(provider, "VCPU") == {
        "total": 64, "reserved": 0, "min_unit": 1, "max_unit": 16, "step_size": 1, "allocation_ratio": 2.0,
        "capacity": 128,
    }


def test_set_inventory_with_a_stale_generation_is_a_concurrent_update_and_writes_nothing(small):
    provider = provider_of(small, "host1")
    placement.set_inventory(provider, "VCPU", record(total=8), 0)
    with pytest.raises(placement.ConcurrentUpdate) as err:
        placement.set_inventory(provider, "VCPU", record(total=64), 0)
    assert (err.value.status, err.value.code, err.value.detail) == (
        409, "placement.concurrent_update", "resource provider generation conflict"
    )
    assert generation(provider) == 1
    assert inventory(provider, "VCPU").total == 8


def test_set_inventory_without_a_generation_creates_a_missing_class(small):
    provider = provider_of(small, "host1")
    Inventory.objects.filter(provider=provider, resource_class="DISK_GB").delete()
    placement.set_inventory(provider, "DISK_GB", record(total=100, capacity=999))  # capacity is not a field
    assert inventory(provider, "DISK_GB").capacity == 100
    assert generation(provider) == 1


@pytest.mark.parametrize(
    "fields, field, detail",
    [
        ({"total": 10, "reserved": 11}, "reserved", "The reserved value is greater than total."),
        ({"min_unit": 5, "max_unit": 4}, "min_unit", "min_unit is greater than max_unit."),
    ],
)
def test_set_inventory_refuses_an_invalid_record(small, fields, field, detail):
    provider = provider_of(small, "host1")
    with pytest.raises(placement.InvalidInventory) as err:
        placement.set_inventory(provider, "VCPU", record(**fields))
    assert (err.value.field, err.value.detail, err.value.status) == (field, detail, 400)
    assert (generation(provider), inventory(provider, "VCPU").total) == (0, 2)


@pytest.mark.parametrize(
    "at_the_boundary, one_past, field",
    [
        ({"total": 10, "reserved": 10}, {"total": 10, "reserved": 11}, "reserved"),
        ({"min_unit": 4, "max_unit": 4}, {"min_unit": 5, "max_unit": 4}, "min_unit"),
    ],
)
def test_check_inventory_accepts_the_boundary_and_refuses_one_past_it(at_the_boundary, one_past, field):
    assert placement.check_inventory(record(**at_the_boundary)) is None
    with pytest.raises(placement.InvalidInventory) as err:
        placement.check_inventory(record(**one_past))
    assert err.value.field == field


def test_inventory_writes_refuse_an_unknown_resource_class(small):
    provider = provider_of(small, "host1")
    for write in (lambda: placement.set_inventory(provider, "VGPU", record()),
                  lambda: placement.delete_inventory(provider, "VGPU")):
        with pytest.raises(placement.NotFound) as err:
            write()
        assert err.value.detail == "No resource class VGPU (known: VCPU, MEMORY_MB, DISK_GB)."
    assert not Inventory.objects.filter(resource_class="VGPU").exists()
    assert generation(provider) == 0


def test_delete_inventory_with_allocations_is_refused_as_inuse(small):
    provider = provider_of(small, "host1")
    put(small, new_uuid(), on(provider, MEMORY_MB=512))
    before = generation(provider)
    with pytest.raises(placement.InventoryInUse) as err:
        placement.delete_inventory(provider, "MEMORY_MB")
    assert (err.value.status, err.value.code) == (409, "placement.inventory.inuse")
    assert err.value.detail == (
        f"Unable to delete inventory of class MEMORY_MB for resource provider {provider.uuid}: it has allocations."
    )
    assert inventory(provider, "MEMORY_MB").total == 8192
    assert generation(provider) == before


def test_delete_inventory_bumps_the_generation_then_finds_nothing(small):
    provider = provider_of(small, "host1")
    put(small, new_uuid(), on(provider, MEMORY_MB=512))  # another class is allocated: no matter
    before = generation(provider)
    assert placement.delete_inventory(provider, "DISK_GB").generation == before + 1
    assert sorted(placement.provider_inventories(provider)) == ["MEMORY_MB", "VCPU"]
    for again in (placement.delete_inventory, placement.get_inventory):
        with pytest.raises(placement.NotFound) as err:
            again(provider, "DISK_GB")
        assert err.value.detail == f"No inventory of DISK_GB for resource provider {provider.uuid}."
    assert generation(provider) == before + 1


def test_error_document_has_a_request_id_only_when_given():
    error = placement.InventoryInUse("in use")
    entry = {"status": 409, "title": "Conflict", "detail": "in use", "code": "placement.inventory.inuse"}
    assert error.document() == {"errors": [entry]}
    assert error.document(request_id="req-1") == {"errors": [{**entry, "request_id": "req-1"}]}
    assert json.loads(error.body())["errors"][0]["request_id"].startswith("req-")


# --- Nova's records: migrations in progress, the fault the API shows ---------------------------


@pytest.fixture
def server(small):
    return booted_server(small, "vm", "host1")


def test_migrations_in_progress_are_every_status_but_the_done_ones(server):
    host, node = server.host, server.node
    for status in MigrationStatus.values:
        Migration.objects.create(
            cloud=server.cloud, server=server, source_compute=host, source_node=node,
            old_flavor=server.flavor, new_flavor=flavor_of(server.cloud, "m1.small"), status=status,
        )
    in_progress = set(Migration.objects.in_progress().values_list("status", flat=True))
    assert in_progress == {"pre-migrating", "migrating", "post-migrating", "finished", "confirming", "reverting"}
    assert set(Migration.objects.filter(status="error").in_progress()) == set()


def fault(server, message, created):
    return InstanceFault.objects.create(server=server, code=500, message=message, created=created)


def test_the_api_shows_the_latest_fault_only_for_error_and_deleted_servers(server):
    now = timezone.now()
    faults = [fault(server, "old", now - timedelta(seconds=1)), fault(server, "first", now), fault(server, "tie", now)]
    assert server.api_fault(faults) is None  # active
    for vm_state in (VmState.ERROR, VmState.DELETED):
        server.vm_state = vm_state
        assert server.api_fault(faults).message == "tie"  # same time: the one recorded last
        assert server.api_fault(list(reversed(faults))).message == "tie"
        assert server.api_fault([]) is None
    server.vm_state = VmState.STOPPED
    assert server.api_fault(faults) is None


def test_servers_with_their_latest_fault(server, small):
    other = booted_server(small, "clean", server.host.name)
    now = timezone.now()
    fault(server, "first", now - timedelta(seconds=1))
    fault(server, "latest", now)
    rows = {s.name: (s.fault_code, s.fault_message) for s in Server.objects.with_latest_fault()}
    assert rows == {"vm": (500, "latest"), other.name: (None, None)}
