"""What tests build again and again: clouds with hosts, servers booted on a host, runs started or
run to their end; and the usages a flavor leaves on a provider.

Plain functions over the simulator's own builders (``simulator.cloud``, ``simulator.pipeline``),
so that a test gets exactly what the application would have built.
"""
from simulator.cloud import boot_server, build_cloud
from simulator.models import Flavor, Host, ResourceProvider, Run
from simulator.params import DEFAULT_FLAVORS
from simulator.pipeline import run_to_completion, start_run
# What m1.tiny, m1.small and nothing hold on a provider, as the presets' expected outcomes say.
from simulator.presets import SMALL, TINY, ZERO  # noqa: F401


def flavor_usage(name):
    """What a server of Nova's default flavor ``name`` holds on its provider."""
    for _, flavor, vcpus, memory_mb, root_gb in DEFAULT_FLAVORS:
        if flavor == name:
            return {"VCPU": vcpus, "MEMORY_MB": memory_mb, "DISK_GB": root_gb}
    raise KeyError(name)


# -- the simulated cloud ---------------------------------------------------------------------------
def cloud_with_hosts(name="cloud", hosts=("host1", "host2"), driver="FakeDriver", **fields):
    """A fresh cloud: Nova's default flavors, and ``hosts`` with ``driver``'s inventory."""
    return build_cloud(name, list(hosts), driver, **fields)


def host_of(cloud, name):
    """The host ``name`` of ``cloud``, with its provider."""
    return Host.objects.select_related("provider").get(cloud=cloud, name=name)


def provider_of(cloud, name):
    """The resource provider ``name`` of ``cloud`` (a Cloud or its name)."""
    where = {"cloud__name": cloud} if isinstance(cloud, str) else {"cloud": cloud}
    return ResourceProvider.objects.get(name=name, **where)


def flavor_of(cloud, name):
    return Flavor.objects.get(cloud=cloud, name=name)


def booted_server(cloud, name="vm", host="host1", flavor="m1.tiny", **fields):
    """A server running on ``host`` (a name) with ``flavor`` (a name), its allocation held there."""
    return boot_server(cloud, name, host_of(cloud, host), flavor_of(cloud, flavor), **fields)


# -- runs --------------------------------------------------------------------------------------------
def started_run(scenario="custom", on_cast=None, **overrides):
    """A run as the API starts it: validated, its cloud built, the resize requested; the first cast
    (``conductor.migrate_server``) is pending, and sent to ``on_cast`` once committed."""
    return start_run(scenario, overrides, on_cast=on_cast)


def finished_run(scenario="bug-1825537", **overrides):
    """A run executed to its end in this process, one step after the other."""
    return run_to_completion(start_run(scenario, overrides))


def run_record(**fields):
    """A bare Run row (no cloud, no step executed), for what only reads its fields."""
    return Run.objects.create(**{"scenario": "custom", "params": {}, **fields})
