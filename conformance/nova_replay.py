"""Replay simulated resize runs in real Nova and print what Nova records.

Runs with the interpreter of a separate Nova virtualenv (see conformance/README.md); it imports
nothing from this project. Each run is replayed with Nova's own functional-test machinery used as
a library: ProviderUsageBaseTestCase (in-process API, conductor, scheduler, placement and fake
computes), HostNameWeigherFixture, and failures injected the way Nova's own tests inject them
(mock patches on the fake driver and on the resource claim), or, for the placement points, by a
concurrent write through Placement's API that makes Placement itself answer Nova's write with a
consumer generation conflict.

    python conformance/nova_replay.py [--jobs N] [--verbose] < specs.json > outcomes.json

Input: [{"id": "...", "params": {...}}, ...], the simulator's resolved run parameters.
Output (stdout, one JSON document):
    {"nova_version": ..., "placement_version": ...,
     "results": {id: {"outcome": {...}} | {"skipped": "why"} | {"error": "traceback"}},
     "seconds": {id: how long its test case took: setUp, the test, tearDown}}
A move request Nova's API refuses (a 4xx: a resize with a host, a migration to the source host,
...) has the refusal as its outcome: {"refused": {"status": 400, "message": "..."}}.
Progress goes to stderr. The script runs the replays itself from empty temporary folders with
the environment Nova's functional tests need; the caller only runs the command.
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

# What Nova's functional tests expect of their environment (tox.ini of nova).
NOVA_ENV = {
    "LANGUAGE": "en_US",
    "LC_ALL": "C.UTF-8",
    "OS_TEST_TIMEOUT": "160",
    "NOVA_RAISE_ON_GREENLET_LEAK": "True",
    "OS_NOVA_DISABLE_EVENTLET_PATCHING": "False",
}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
DRIVERS = ("FakeDriver", "SmallFakeDriver", "MediumFakeDriver")
VM_STATES = ("active", "stopped")
THEN = ("none", "confirm", "revert")
# The request a run sends: a move, or the user's answer to one (on a server the replay boots, which
# was never resized: Nova refuses it, and that refusal is the outcome).
ACTIONS = {"resize": "resize", "migrate": "migrate", "confirm": "confirmResize", "revert": "revertResize"}
POINTS = (
    "select_destinations", "prep_resize", "migrate_disk_and_power_off", "finish_migration",
    "confirm_migration", "destroy", "finish_revert_migration",
    "conductor_move", "scheduler_claim", "confirm_delete", "revert_move",
)
DEFAULT_EXCEPTIONS = {
    "select_destinations": "NoValidHost",
    "prep_resize": "ComputeResourcesUnavailable",
    "migrate_disk_and_power_off": "ResizeError",
    "finish_migration": "VirtualInterfaceCreateException",
    "confirm_migration": "MigrationPreCheckError",
    "destroy": "ResizeError",
    "finish_revert_migration": "ResizeError",
}
EXCEPTIONS = (
    "VirtualInterfaceCreateException", "ResizeError", "MigrationError", "MigrationPreCheckError",
    "ComputeResourcesUnavailable", "NoValidHost", "UnableToMigrateToSelf", "InstanceFaultRollback",
    "TestingException",
)
# Migration statuses of a move still under way.
IN_PROGRESS = {"accepted", "pre-migrating", "migrating", "post-migrating", "confirming", "reverting"}
SETTLE_TIMEOUT = 90  # seconds for one request's work to end
SETTLE_GRACE = 1.5  # then this long, so late event finishes and faults land
RESOURCES = ("VCPU", "MEMORY_MB", "DISK_GB")


def log(message):
    print(message, file=sys.stderr, flush=True)


def scrub(text):
    return UUID.sub("<uuid>", text) if isinstance(text, str) else text


# -- what can be replayed (no Nova needed) --------------------------------------------------------
def not_replayable(params):
    """Why these parameters are not replayed (None when they are)."""
    if params.get("cloud"):
        return f"ran in the shared cloud {params['cloud']!r}, whose other servers a replay would not have"
    if params.get("vm_state", "active") not in VM_STATES:
        return f"vm_state {params.get('vm_state')!r} is not replayed (only {', '.join(VM_STATES)})"
    problems = []
    if params.get("driver", "FakeDriver") not in DRIVERS:
        problems.append(f"unknown driver {params.get('driver')!r}")
    if params.get("action", "resize") not in ACTIONS:
        problems.append(f"unknown action {params.get('action')!r}")
    if params.get("then", "none") not in THEN:
        problems.append(f"unknown then {params.get('then')!r}")
    point = params.get("fail_at")
    if point is not None and point not in POINTS:
        problems.append(f"unknown failure point {point!r}")
    for key in ("exception", "inner_exception"):
        if params.get(key) is not None and params[key] not in EXCEPTIONS:
            problems.append(f"unknown {key} {params[key]!r}")
    hosts = params.get("hosts") or []
    if params.get("source_host") not in hosts:
        problems.append(f"source_host {params.get('source_host')!r} is not one of the hosts")
    return "; ".join(problems) or None


def refusal(response):
    """A 4xx answer of Nova's API as an outcome: {"status", "message"} (the message of its error
    document, ``{"badRequest": {"code": 400, "message": ...}}``); None for any other answer."""
    if response is None or not 400 <= response.status_code < 500:
        return None
    try:
        document = response.json()
        message = next(iter(document.values()))["message"]
    except (ValueError, StopIteration, TypeError, KeyError, AttributeError):
        message = response.text
    return {"status": response.status_code, "message": scrub(message)}


# -- the parent: run workers, gather results ------------------------------------------------------
def versions():
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for key, dist in (("nova_version", "nova"), ("placement_version", "openstack-placement")):
        try:
            found[key] = version(dist)
        except PackageNotFoundError:
            found[key] = None
    return found


def run_all(specs, jobs, verbose):
    results, todo = {}, []
    for spec in specs:
        why = not_replayable(spec.get("params") or {})
        if why:
            results[spec["id"]] = {"skipped": why}
        else:
            todo.append(spec)
    header = versions()
    if not todo:
        return {**header, "results": results, "seconds": {}}

    seconds = {}  # id -> how long its test case took (setUp, the test, tearDown)
    top, workers = tempfile.mkdtemp(prefix="nova-replay-"), []
    try:
        with open(os.path.join(top, "specs.json"), "w") as f:
            json.dump(todo, f)
        os.mkdir(os.path.join(top, "claims"))
        os.mkdir(os.path.join(top, "results"))
        env = {**os.environ, **NOVA_ENV}
        env.pop("PYTHONPATH", None)  # nothing of the caller's project
        for n in range(max(1, min(jobs, len(todo)))):
            cwd = os.path.join(top, f"worker{n}")
            os.mkdir(cwd)  # each worker runs from its own empty folder
            logfile = open(os.path.join(top, f"worker{n}.log"), "wb")
            # Nova's own output (warnings, log lines) goes to the worker's log, or to stderr.
            proc = subprocess.Popen(
                [sys.executable, os.path.abspath(__file__), "--worker", top, str(os.getpid())],
                cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                stdout=sys.stderr if verbose else logfile, stderr=subprocess.STDOUT,
            )
            workers.append((proc, logfile))
        reported, started = set(), time.monotonic()
        while True:
            alive = [p for p, _ in workers if p.poll() is None]
            for index, spec in enumerate(todo):
                path = os.path.join(top, "results", f"{index}.json")
                if index not in reported and os.path.exists(path):
                    reported.add(index)
                    with open(path) as f:
                        done = json.load(f)
                    kind = next(iter(done["result"]))
                    log(f"[{len(reported)}/{len(todo)}] {spec['id']}: {kind} "
                        f"({done['seconds']:.1f} s; {time.monotonic() - started:.0f} s so far)")
                    for note in done.get("notes") or []:
                        log(f"  after the outcome was read, the test case reported:\n{note}")
            if not alive:
                break
            time.sleep(0.5)
        for index, spec in enumerate(todo):
            path = os.path.join(top, "results", f"{index}.json")
            if os.path.exists(path):
                with open(path) as f:
                    done = json.load(f)
                results[spec["id"]] = done["result"]
                seconds[spec["id"]] = round(done["seconds"], 3)
                header["nova_version"] = done.get("nova_version") or header["nova_version"]
            else:
                tails = []
                for n, (proc, logfile) in enumerate(workers):
                    logfile.flush()
                    with open(logfile.name, "rb") as f:
                        tails.append(f"worker{n} exit {proc.returncode}: "
                                     + f.read()[-3000:].decode("utf-8", "replace"))
                results[spec["id"]] = {"error": "the replay ended without a result.\n" + "\n".join(tails)}
    finally:
        for proc, logfile in workers:
            if proc.poll() is None:  # interrupted: stop the workers started here
                proc.kill()
                proc.wait()
            logfile.close()
        shutil.rmtree(top, ignore_errors=True)
    return {**header, "results": results, "seconds": seconds}


# -- a worker: replay specs in Nova ---------------------------------------------------------------
def die_with_parent(parent):
    """A worker ends when the script that started it does (killed on a caller's timeout, say)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG, Linux
    except (OSError, AttributeError):
        pass  # elsewhere: checked between runs only
    if os.getppid() != parent:
        sys.exit(1)


def worker(top, parent):
    """Claim specs one at a time (a file created exclusively) and replay each as one test-case run."""
    die_with_parent(parent)
    with open(os.path.join(top, "specs.json")) as f:
        todo = json.load(f)
    replay_case = make_test_case()
    from nova import version as nova_version

    for index, spec in enumerate(todo):
        if os.getppid() != parent:
            sys.exit(1)
        try:
            os.close(os.open(os.path.join(top, "claims", str(index)), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            continue
        started = time.monotonic()
        log(f"--- replaying {spec['id']}")
        try:
            result, notes = run_case(replay_case, spec["params"])
        except Exception:
            result, notes = {"error": traceback.format_exc()}, []
        path = os.path.join(top, "results", f"{index}.json")
        with open(path + ".part", "w") as f:
            json.dump({"result": result, "notes": notes, "seconds": time.monotonic() - started,
                       "nova_version": nova_version.version_string()}, f)
        os.rename(path + ".part", path)


def run_case(replay_case, params):
    import unittest

    case = replay_case("test_replay")
    # Nova's TestCase deletes its public attributes in a cleanup: keep what is read elsewhere.
    sink = {}
    case.params, case.sink = params, sink
    case.compute_driver = "fake." + params.get("driver", "FakeDriver")
    result = unittest.TestResult()
    case.run(result)
    problems = [text for _, text in result.errors + result.failures]
    if "outcome" in sink:
        # e.g. a cleanup complaint after the outcome was read: said on stderr, not a result
        return {"outcome": sink["outcome"]}, problems
    if result.skipped:
        return {"skipped": result.skipped[0][1]}, []
    return {"error": "\n".join(problems) or "the test case ended without an outcome"}, []


def make_test_case():
    """The TestCase class; built here so that only workers import Nova (after the env is set)."""
    import warnings
    from unittest import mock

    import fixtures
    from keystoneauth1 import adapter
    from sqlalchemy import exc as sqla_exc

    from nova import context as nova_context
    from nova import exception
    from nova import objects
    from nova import test
    from nova.compute import claims
    from nova.conf import paths
    from nova.scheduler import manager as scheduler_manager
    from nova.tests import fixtures as nova_fixtures
    from nova.tests.functional import integrated_helpers
    from nova.tests.functional.api import client as api_client
    from nova.virt import fake

    venv_prefix = os.path.abspath(
        os.path.join(os.path.dirname(exception.__file__), "..", "..", "..", ".."))
    real_state_path_def = paths.state_path_def

    def state_path_def(*args):
        # The wheel installs api-paste.ini under <venv>/etc/nova, not <site-packages>/etc/nova.
        if args == ("etc/nova/api-paste.ini",):
            return os.path.join(venv_prefix, *args)
        return real_state_path_def(*args)

    def build_exception(name, reason, instance_uuid, host, inner=None):
        if name == "VirtualInterfaceCreateException":
            return exception.VirtualInterfaceCreateException()
        if name in ("ResizeError", "MigrationError", "MigrationPreCheckError",
                    "ComputeResourcesUnavailable", "NoValidHost"):
            return getattr(exception, name)(reason=reason)
        if name == "UnableToMigrateToSelf":
            return exception.UnableToMigrateToSelf(instance_id=instance_uuid, host=host)
        if name == "InstanceFaultRollback":
            if inner == "InstanceFaultRollback":
                raise ValueError("InstanceFaultRollback cannot wrap itself")
            return exception.InstanceFaultRollback(
                inner_exception=build_exception(inner or "UnableToMigrateToSelf", reason, instance_uuid, host))
        if name == "TestingException":
            return test.TestingException(reason)
        raise ValueError(f"unknown exception {name!r}")

    # Where each driver point finds the instance among the method's arguments (after self).
    driver_points = {
        "migrate_disk_and_power_off": 1,  # (context, instance, dest, flavor, ...)
        "finish_migration": 2,  # (context, migration, instance, ...)
        "confirm_migration": 2,  # (context, migration, instance, network_info)
        "destroy": 1,  # (context, instance, network_info, ...)
        "finish_revert_migration": 1,  # (context, instance, network_info, migration, ...)
    }
    # The requests (phases) in which a point can fail; the others fail in any request after the setup.
    point_phases = {
        "select_destinations": {"resize"},  # not the boot's scheduling
        "prep_resize": {"resize"},
        "destroy": {"revert"},  # the dest's destroy in revert_resize, not confirm's
        "scheduler_claim": {"resize"},
        "conductor_move": {"resize"},
        "confirm_delete": {"confirm"},
        "revert_move": {"revert"},
    }

    class Replay(integrated_helpers.ProviderUsageBaseTestCase):
        compute_driver = "fake.FakeDriver"  # set per run before setUp
        params = None
        sink = None

        def setUp(self):
            with mock.patch("nova.conf.paths.state_path_def", state_path_def):
                super().setUp()
            # A deployment only warns about orm.noload() (SQLAlchemy 2.1); keep it a warning.
            warnings.filterwarnings("default", message=".*noload.*", category=sqla_exc.SADeprecationWarning)
            hosts = self.params["hosts"]
            weights = {"host1": 100, "host2": 50, "host3": 10}
            if not set(hosts) <= set(weights):  # other names: the same idea, by name
                weights = {name: 10 * (len(hosts) - i) for i, name in enumerate(sorted(hosts))}
            self.useFixture(nova_fixtures.HostNameWeigherFixture(weights))
            self.scheduler_service.stop()
            self.scheduler_service = self.start_service("scheduler")
            self.ctxt = nova_context.get_admin_context()
            self.phase, self.server_id = "setup", None
            self.injected = self.injection_error = None  # a placement point's request, once hit

        # -- waiting ------------------------------------------------------------------------------
        def _migration(self, server_id):
            migrations = [m for m in self.api.api_get("/os-migrations").body["migrations"]
                          if m["instance_uuid"] == server_id]
            return max(migrations, key=lambda m: m["id"]) if migrations else None

        def settle(self, server_id):
            """Until the request's work has ended: no task_state, no move under way."""
            deadline = time.monotonic() + SETTLE_TIMEOUT
            while True:
                server = self.api.get_server(server_id)
                migration = self._migration(server_id)
                if server["OS-EXT-STS:task_state"] is None and (
                        migration is None or migration["status"] not in IN_PROGRESS):
                    break
                if time.monotonic() > deadline:
                    self.fail(f"the server did not settle: task_state {server['OS-EXT-STS:task_state']}, "
                              f"migration {migration and migration['status']}")
                time.sleep(0.25)
            time.sleep(SETTLE_GRACE)
            return self.api.get_server(server_id)

        def request(self, phase, server_id, body):
            self.phase = phase
            self.api.post_server_action(server_id, body)
            return self.settle(server_id)

        # -- failures -----------------------------------------------------------------------------
        # Patched before any service is used (Nova's RPC endpoint wrapper keeps the method it
        # first dispatched to), armed only once the setup (boot, stop) is done.
        def armed(self, host):
            point = self.params["fail_at"]
            # fail_host names one host, or several comma separated; none: every host.
            fail_hosts = [h.strip() for h in (self.params.get("fail_host") or "").split(",") if h.strip()]
            phases = point_phases.get(point, {"resize", "confirm", "revert"})
            return self.phase in phases and (not fail_hosts or host is None or host in fail_hosts)

        def failure(self, instance_uuid, host):
            p = self.params
            name = p.get("exception") or DEFAULT_EXCEPTIONS[p["fail_at"]]
            return build_exception(name, p.get("reason"), instance_uuid, host, p.get("inner_exception"))

        def inject(self):
            point = self.params.get("fail_at")
            case = self
            if not point:
                return
            if point in driver_points:
                position = driver_points[point]
                real = getattr(fake.FakeDriver, point)

                def failing(driver, *args, **kwargs):
                    instance = kwargs.get("instance", args[position] if len(args) > position else None)
                    if instance is not None and instance.uuid == case.server_id and case.armed(driver._host):
                        raise case.failure(instance.uuid, driver._host)
                    return real(driver, *args, **kwargs)

                self.useFixture(fixtures.MockPatchObject(fake.FakeDriver, point, failing))
            elif point == "prep_resize":
                real_claim_test = claims.Claim._claim_test

                def claim_test(claim, *args, **kwargs):
                    host = claim.tracker.host
                    if isinstance(claim, claims.MoveClaim) and case.armed(host):
                        raise case.failure(claim.instance.uuid, host)
                    return real_claim_test(claim, *args, **kwargs)

                self.useFixture(fixtures.MockPatchObject(claims.Claim, "_claim_test", claim_test))
            elif point == "select_destinations":
                real_select = scheduler_manager.SchedulerManager.select_destinations

                def select_destinations(manager, *args, **kwargs):
                    if case.armed(None):
                        raise case.failure(case.server_id, case.params["source_host"])
                    return real_select(manager, *args, **kwargs)

                self.useFixture(fixtures.MockPatchObject(
                    scheduler_manager.SchedulerManager, "select_destinations", select_destinations))
            else:
                self.inject_placement(point)

        def inject_placement(self, point):
            """Placement's own 409 placement.concurrent_update for the one write the point names.

            Just before that request is sent, a concurrent writer changes the consumer whose
            generation the request carries, through Placement's API (PUT /allocations/{consumer}),
            so that Nova's request, carrying the generation Nova read before, gets Placement's real
            conflict. An existing consumer is rewritten with its current generation and the same
            allocations: its generation goes up, no usage changes. A consumer that does not exist
            yet (the scheduler's claim for the instance, whose allocation the conductor has moved to
            the migration: Nova sends a null generation) is created by a racing claim of the very
            allocations Nova asks for, which the writer gives back as soon as Nova has its answer,
            so the usages end as before. Only the first matching request; every other request goes
            through untouched."""
            case, placement = self, self.placement

            def body_allocations(kwargs, consumer):
                return ((kwargs.get("json") or {}).get(consumer) or {}).get("allocations")

            def emptied(kwargs):
                # POST /allocations: the consumer whose allocations the move empties (its source)
                return next((c for c, body in (kwargs.get("json") or {}).items()
                             if isinstance(body, dict) and body.get("allocations") == {}), None)

            def stale_consumer(method, url, kwargs):
                """The consumer to change under this request, or None if it is not the point's."""
                url, server_id = url.split("?")[0], case.server_id
                instance_url = f"/allocations/{server_id}"
                if point == "scheduler_claim":  # the scheduler's claim for the instance on the dest
                    return server_id if method == "PUT" and url == instance_url else None
                if point == "conductor_move":  # instance -> migration, by the conductor
                    if method == "POST" and url == "/allocations" and body_allocations(kwargs, server_id) == {}:
                        return server_id
                if point == "revert_move":  # migration -> instance, by the source compute
                    if method == "POST" and url == "/allocations" and body_allocations(kwargs, server_id):
                        return emptied(kwargs)
                if point == "confirm_delete":  # the migration's allocation emptied on confirm
                    if (method == "PUT" and url.startswith("/allocations/") and url != instance_url
                            and (kwargs.get("json") or {}).get("allocations") == {}):
                        return url.rsplit("/", 1)[1]
                return None

            def put(consumer, allocations, project_id, user_id, generation):
                response = placement.put(f"/allocations/{consumer}", {
                    "allocations": {rp: {"resources": a["resources"]} for rp, a in allocations.items()},
                    "project_id": project_id, "user_id": user_id, "consumer_generation": generation,
                }, version="1.28")
                if response.status != 204:
                    raise RuntimeError(f"PUT /allocations/{consumer}: HTTP {response.status} {response.content}")

            def concurrent_write(consumer, request_body):
                """Change the consumer's generation; returns what undoes a change of usage, if any."""
                current = placement.get(f"/allocations/{consumer}", version="1.28").body
                if current.get("allocations"):  # the same allocations again
                    put(consumer, current["allocations"], current["project_id"], current["user_id"],
                        current["consumer_generation"])
                    return None
                # no such consumer: claim what Nova claims, and give it back afterwards
                put(consumer, request_body["allocations"], request_body["project_id"],
                    request_body["user_id"], None)

                def give_back():
                    now = placement.get(f"/allocations/{consumer}", version="1.28").body
                    put(consumer, {}, now["project_id"], now["user_id"], now["consumer_generation"])

                return give_back

            for method in ("put", "post"):
                real = getattr(adapter.Adapter, method)

                def write(client, url, *args, _method=method.upper(), _real=real, **kwargs):
                    consumer = None
                    if case.injected is None and case.armed(None):
                        consumer = stale_consumer(_method, url, kwargs)
                    if consumer is None:
                        return _real(client, url, *args, **kwargs)
                    case.injected = f"{_method} {url.split('?')[0]}"  # set before the writer's own PUTs
                    undo = None
                    try:
                        undo = concurrent_write(consumer, kwargs.get("json") or {})
                    except Exception as error:
                        case.injection_error = f"the concurrent writer failed: {error!r}"
                    response = _real(client, url, *args, **kwargs)
                    if case.injection_error is None and not (
                            response.status_code == 409 and "consumer generation conflict" in response.text):
                        case.injection_error = (f"{case.injected} answered {response.status_code}, not a "
                                                f"consumer generation conflict: {response.text}")
                    if undo is not None:
                        try:
                            undo()
                        except Exception as error:
                            case.injection_error = case.injection_error or f"giving back failed: {error!r}"
                    return response

                self.useFixture(fixtures.MockPatchObject(adapter.Adapter, method, write))

        # -- the run ------------------------------------------------------------------------------
        def test_replay(self):
            p = self.params
            self.flags(allow_resize_to_same_host=bool(p.get("allow_resize_to_same_host")))
            self.flags(max_attempts=int(p.get("max_attempts") or 3), group="scheduler")
            self.inject()
            hosts = p["hosts"]
            for host in hosts:
                self._start_compute(host)
            for spec in p.get("extra_flavors") or []:  # name:vcpus:memory_mb:root_gb, as the admin creates it
                name, vcpus, ram, disk = spec.split(":")
                self.admin_api.post_flavor({"flavor": {"name": name, "vcpus": int(vcpus), "ram": int(ram),
                                                       "disk": int(disk)}})
            flavors = self.api.get_flavors()

            def flavor_ref(ref):  # a flavor named by its flavorid or its name, as its flavorid
                return next((f["id"] for f in flavors if ref in (f["id"], f["name"])), ref)

            boot_flavor = next(f for f in flavors if f["id"] == flavor_ref(p["flavor"]))
            server = self._boot_and_check_allocations(boot_flavor, p["source_host"])
            self.server_id = server_id = server["id"]
            if p.get("vm_state") == "stopped":
                self.request("setup", server_id, {"os-stop": None})
            setup_requests = {a["request_id"] for a in self.api.get_instance_actions(server_id)}
            # The body the parameters make, whether or not Nova takes it: a cold migration (a host
            # from microversion 2.56), or a resize (a flavorRef), each with whatever else was asked;
            # a confirm or revert.
            body = {}
            if p.get("action", "resize") in ("confirm", "revert"):
                body = {ACTIONS[p["action"]]: None}
            elif p.get("action", "resize") == "migrate":
                if p.get("dest_host"):
                    body["host"] = p["dest_host"]
                if p.get("new_flavor"):
                    body["flavorRef"] = flavor_ref(p["new_flavor"])
                body = {"migrate": body or None}
            else:
                if p.get("new_flavor"):
                    body["flavorRef"] = flavor_ref(p["new_flavor"])
                if p.get("dest_host"):
                    body["host"] = p["dest_host"]
                body = {"resize": body}
            try:
                server = self.request("resize", server_id, body)
            except api_client.OpenStackApiException as error:
                refused = refusal(error.response)
                if refused is None:
                    raise
                self.phase = "done"
                self.sink["outcome"] = {"refused": refused}  # nothing was cast: the refusal is the outcome
                return
            then = p.get("then") or "none"
            if then != "none" and server["status"] == "VERIFY_RESIZE":
                body = {"confirmResize": None} if then == "confirm" else {"revertResize": None}
                self.request(then, server_id, body)
            self.phase = "done"
            if self.injection_error:
                self.fail(self.injection_error)
            self.sink["outcome"] = self.read_outcome(server_id, hosts, setup_requests)

        def read_outcome(self, server_id, hosts, setup_requests):
            server = self.api.get_server(server_id)
            fault = server.get("fault")
            faults = objects.InstanceFaultList.get_by_instance_uuids(self.ctxt, [server_id])
            migration = self._migration(server_id)
            providers = {self._get_provider_uuid_by_host(host): host for host in hosts}
            usages = {}
            for rp_uuid, host in providers.items():
                found = self._get_provider_usages(rp_uuid)
                usages[host] = {**dict.fromkeys(RESOURCES, 0), **found}
            allocations = {}
            consumers = [("instance", server_id)] + ([("migration", migration["uuid"])] if migration else [])
            for kind, consumer in consumers:
                for rp_uuid, allocation in self._get_allocations_by_server_uuid(consumer).items():
                    if allocation.get("resources"):
                        host = providers.get(rp_uuid, rp_uuid)
                        allocations.setdefault(host, {})[kind] = allocation["resources"]
            actions = []
            for action in sorted(objects.InstanceActionList.get_by_instance_uuid(self.ctxt, server_id),
                                 key=lambda a: a.id):
                if action.request_id in setup_requests:
                    continue
                events = sorted(objects.InstanceActionEventList.get_by_action(self.ctxt, action.id),
                                key=lambda e: e.id)
                actions.append({"action": action.action, "message": action.message,
                                "events": [[e.event, e.result] for e in events]})
            return {
                "server": {
                    "status": server["status"],
                    "vm_state": server["OS-EXT-STS:vm_state"],
                    "task_state": server["OS-EXT-STS:task_state"],
                    "host": server["OS-EXT-SRV-ATTR:host"],
                    "flavor": server["flavor"]["original_name"],
                },
                "fault": {"code": fault["code"], "message": scrub(fault["message"])} if fault else None,
                "faults": [scrub(f.message) for f in sorted(faults, key=lambda f: f.id)],
                "migration": (
                    {k: migration[k] for k in ("status", "migration_type", "source_compute", "dest_compute")}
                    if migration else None
                ),
                "usages": usages,
                "allocations": allocations,
                "actions": actions,
            }

    return Replay


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--verbose", action="store_true", help="pass Nova's own output to stderr")
    parser.add_argument("--worker", nargs=2, metavar=("DIR", "PARENT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], int(args.worker[1]))
        return
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the workers are stopped too
    import importlib.util

    if importlib.util.find_spec("nova") is None or importlib.util.find_spec("placement") is None:
        sys.exit(f"{sys.executable} has no nova/placement: run this with the Nova venv's python "
                 "(see conformance/README.md).")
    specs = json.load(sys.stdin)
    if not isinstance(specs, list) or not all(isinstance(s, dict) and "id" in s for s in specs):
        parser.error('stdin must be a JSON list of {"id": ..., "params": {...}}')
    started = time.monotonic()
    document = run_all(specs, args.jobs, args.verbose)
    log(f"{len(specs)} specs in {time.monotonic() - started:.0f} s")
    json.dump(document, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
