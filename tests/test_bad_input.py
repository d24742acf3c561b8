"""Bad requests are refused with Nova's words and leave nothing behind."""
import pytest

from simulator.models import Allocation, Cloud, Flavor, InstanceAction, Run, Server
from simulator.pipeline import InvalidRun, start_run


def counts():
    return [m.objects.count() for m in (Cloud, Run, Server, Allocation, InstanceAction)]


def refused(scenario="bug-1825537", **overrides):
    before = counts()
    with pytest.raises(InvalidRun) as info:
        start_run(scenario, overrides)
    assert counts() == before, "a refused run must not write anything"
    return info.value


@pytest.mark.parametrize(
    "overrides, field, message",
    [
        ({"new_flavor": "m1.tiny"}, "new_flavor", "When resizing, instances must change flavor!"),
        ({"new_flavor": "1"}, "new_flavor", "When resizing, instances must change flavor!"),
        ({"new_flavor": "m1.huge"}, "new_flavor", "Flavor m1.huge could not be found."),
        ({"flavor": "m1.huge"}, "flavor", "Flavor m1.huge could not be found."),
        ({"source_host": "host9"}, "source_host", "Compute host host9 could not be found."),
        ({"fail_host": "host9"}, "fail_host", "Compute host host9 could not be found."),
        ({"fail_at": "spawn"}, "fail_at", "Unknown failure point 'spawn'."),
        ({"exception": "KeyError"}, "exception", "Unknown exception 'KeyError'."),
        ({"fail_at": "confirm_delete", "exception": "ResizeError"}, "exception", "takes no exception"),
        ({"fail_at": "conductor_move", "exception": None, "fail_host": "host1"}, "fail_host", "runs in the conductor"),
        ({"fail_at": None, "exception": None, "fail_host": None, "reason": "x"}, "reason", "needs fail_at"),
        ({"inner_exception": "ResizeError"}, "inner_exception", "goes with the InstanceFaultRollback"),
        ({"bugs": ["1"]}, "bugs", "Unknown bug '1'."),
        ({"then": "later"}, "then", "then must be one of none, confirm, revert."),
        ({"hosts": []}, "hosts", "hosts must be a non-empty list"),
        ({"hosts": ["a", "a"], "source_host": "a"}, "hosts", "Host names must be unique in a cloud."),
        ({"driver": "LibvirtDriver"}, "driver", "Unknown driver 'LibvirtDriver'."),
        ({"max_attempts": 0}, "max_attempts", "from 1 to 10"),
        ({"cloud": "nowhere"}, "cloud", "Cloud nowhere does not exist"),
        ({"size": 3}, "size", "Unknown parameter 'size'."),
        ({"vm_state": "sleeping"}, "vm_state", "Unknown vm_state 'sleeping'."),
    ],
)
def test_invalid_parameters_name_the_field(db, overrides, field, message):
    error = refused(**overrides)
    assert error.field == field
    assert message in error.message
    assert error.status == 400


def test_unknown_scenario(db):
    error = refused("bug-0")
    assert error.field == "scenario"
    assert error.message.startswith("Unknown scenario 'bug-0'. Known: bug-1825537, ")


@pytest.mark.parametrize("vm_state", ["error", "resized", "paused"])
def test_resize_in_a_wrong_vm_state_is_a_conflict(db, vm_state):
    error = refused(vm_state=vm_state)
    assert error.status == 409
    assert error.message.startswith("Cannot 'resize' instance ")
    assert error.message.endswith(f" while it is in vm_state {vm_state}")


def test_resize_to_a_zero_disk_flavor_is_refused(demo_cloud):
    Flavor.objects.create(cloud=demo_cloud, flavorid="0", name="m1.nodisk", vcpus=1, memory_mb=1024, root_gb=0)
    error = refused("custom", cloud="demo", new_flavor="m1.nodisk")
    assert error.message == "Server disk was unable to be resized because: Resize to zero disk flavor is not allowed."


def test_resize_to_a_disabled_flavor_is_flavor_not_found(demo_cloud):
    Flavor.objects.filter(cloud=demo_cloud, name="m1.large").update(disabled=True)
    error = refused("custom", cloud="demo", new_flavor="4")
    assert error.message == "Flavor 4 could not be found."


def test_resize_with_the_source_compute_down_is_a_conflict(demo_cloud):
    demo_cloud.hosts.filter(name="host1").update(service_up=False)
    error = refused("custom", cloud="demo")
    assert (error.status, error.message) == (409, "Service is unavailable at this time.")


def test_a_server_already_resizing_cannot_be_resized_again(demo_cloud):
    first = start_run("custom", {"cloud": "demo", "server": "web"})
    error = refused("custom", cloud="demo", server="web", new_flavor="m1.medium")
    assert error.status == 409
    assert error.message.endswith("while it is in task_state resize_prep")
    assert Run.objects.filter(pk=first.pk).exists()


def test_an_existing_server_keeps_its_host_and_flavor(demo_cloud):
    start_run("custom", {"cloud": "demo", "server": "web", "then": "confirm"})
    error = refused("custom", cloud="demo", server="web", source_host="host3")
    assert error.field == "source_host"
    assert error.message == "Server web has source_host host1, not host3."


# What Nova 34 answers, asked for real (POST /servers/{id}/action at microversion "latest"): its
# request schema refuses a resize with a host at every microversion, a migrate with a flavorRef.
RESIZE_WITH_A_HOST = (
    "Invalid input for field/attribute resize. Value: {'flavorRef': '2', 'host': 'host3'}. "
    "Additional properties are not allowed ('host' was unexpected)"
)


def test_a_resize_with_a_destination_is_refused_as_novas_api_refuses_it(db):
    error = refused("custom", hosts=["host1", "host2", "host3"], dest_host="host3")
    assert (error.status, error.field, error.message) == (400, "dest_host", RESIZE_WITH_A_HOST)


def test_a_resize_with_a_destination_is_refused_before_the_host_is_looked_up(db):
    # The schema comes first: the unknown host, the unknown flavor are never looked at.
    error = refused("custom", dest_host="host9", new_flavor="m1.huge")
    assert error.message == (
        "Invalid input for field/attribute resize. Value: {'flavorRef': 'm1.huge', 'host': 'host9'}. "
        "Additional properties are not allowed ('host' was unexpected)"
    )


def test_a_resize_names_its_flavor_by_flavorid_in_novas_words(db):
    error = refused("custom", new_flavor="m1.medium", dest_host="host2")
    assert "Value: {'flavorRef': '3', 'host': 'host2'}." in error.message


def test_a_preset_that_migrates_to_a_host_refuses_to_resize_there(db):
    error = refused("cold-migrate-targeted-no-reschedule", action="resize")
    assert (error.field, error.message) == (
        "new_flavor",
        "Invalid input for field/attribute resize. Value: {'host': 'host2'}. 'flavorRef' is a required property",
    )


@pytest.mark.parametrize(
    "overrides, status, field, message",
    [
        ({"dest_host": "host1"}, 400, "dest_host", "Cannot migrate to the host where the server exists."),
        ({"dest_host": "host9"}, 400, "dest_host", "Compute host host9 could not be found."),
        ({"new_flavor": "m1.small"}, 400, "new_flavor",
         "Invalid input for field/attribute migrate. Value: {'flavorRef': '2'}. "
         "Additional properties are not allowed ('flavorRef' was unexpected)"),
        ({"new_flavor": "m1.small", "dest_host": "host2"}, 400, "new_flavor",
         "Invalid input for field/attribute migrate. Value: {'host': 'host2', 'flavorRef': '2'}. "
         "Additional properties are not allowed ('flavorRef' was unexpected)"),
        ({"dest_host": "host 9"}, 400, "dest_host",
         "Invalid input for field/attribute host. Value: host 9. 'host 9' does not match '^[a-zA-Z0-9-._]*$'"),
        ({"vm_state": "error"}, 409, "server", "Cannot 'migrate' instance "),
        # the state first: Nova checks the server before the host it is sent to
        ({"vm_state": "error", "dest_host": "host1"}, 409, "server", "Cannot 'migrate' instance "),
    ],
)
def test_a_cold_migration_is_refused_as_nova_refuses_it(db, overrides, status, field, message):
    error = refused("custom", action="migrate", **overrides)
    assert (error.status, error.field) == (status, field) and error.message.startswith(message)


def test_a_resize_needs_a_new_flavor(db):
    error = refused("custom", new_flavor=None)
    assert (error.field, error.message) == (
        "new_flavor", "Invalid input for field/attribute resize. Value: {}. 'flavorRef' is a required property"
    )


def test_a_targeted_migration_in_a_shared_cloud_is_checked_against_the_servers_host(demo_cloud):
    error = refused("custom", cloud="demo", server="web", action="migrate", dest_host="host1")
    assert (error.status, error.message) == (400, "Cannot migrate to the host where the server exists.")


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"extra_flavors": ["big:1:2048"]}, "extra_flavors must be a list of name:vcpus:memory_mb:root_gb, not 'big:1:2048'."),
        ({"extra_flavors": ["big:0:2048:10"]}, "not 'big:0:2048:10'"),
        ({"extra_flavors": ["m1.tiny:1:512:1"]}, "Flavor with name m1.tiny already exists."),
        ({"extra_flavors": ["big:1:2048:10", "big:2:2048:10"]}, "Flavor with name big already exists."),
        ({"cloud": "demo", "extra_flavors": ["big:1:2048:10"]}, "A shared cloud has its own flavors"),
    ],
)
def test_extra_flavors_are_refused_in_novas_words(demo_cloud, overrides, message):
    error = refused("custom", **overrides)
    assert error.field == "extra_flavors" and message in error.message


def test_a_run_can_use_an_extra_flavor(db):
    params = start_run("custom", {"extra_flavors": ["big:2:4096:40"], "new_flavor": "big"}).params
    assert params["extra_flavors"] == ["big:2:4096:40"]
    assert Flavor.objects.filter(name="big", flavorid="6", vcpus=2, memory_mb=4096, root_gb=40).count() == 1
