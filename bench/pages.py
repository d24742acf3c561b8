"""How the providers overview and the runs list scale with the size of the database.

The bench builds two datasets, one after the other, in a throwaway SQLite
database (migrated in a temporary folder, given to the settings through
``DASHBOARD_VAR_DIR`` before ``django.setup()``; ``DATABASE_URL`` is ignored):

* **small**: 10 providers (one cloud of 10 hosts), 100 servers, 10 runs;
* **large**: 1,000 providers (100 clouds of 10 hosts), 10,000 servers, 1,000 runs.

Rows are written with ``bulk_create`` rather than through the pipeline, but they
look like the pipeline's: Nova's default flavors per cloud, FakeDriver
inventories, one INSTANCE consumer per server holding its flavor on its node,
one migration per run (some still holding the source as a MIGRATION consumer),
faults on servers in ERROR, runs with a preset's ``params``, a ``verdict``, a
status mix, 4-6 steps and ``before``/``after``/``audit``/``context`` documents of
the size real runs store.

A page shows at most 25 rows, so the small pages show 10 rows and the large
ones 25: part of the ratio is rendering 2.5 times as many rows. The bench also
times the large database filtered to one cloud (``?cloud=bench-0``, 10 rows, as
many as the small pages) to show the effect of the database size alone.

For each dataset it requests ``/providers/`` and ``/runs/`` (and, with ``--all``,
``/hosts/``, ``/servers/``, ``/migrations/`` and one provider's page) with Django's
test ``Client`` in this process, DEBUG off: a few warm-up requests, then
``--requests`` timed ones. It prints the median and p95 in ms and the queries per
request for each page and size, the large/small ratio of the medians, and the
targets: ratio <= 3x and p95 < 200 ms at the large size.

Reproduce from the repository root::

    .venv/bin/python bench/pages.py [--requests 30] [--all]

The exit status is 0 whether or not the targets are met; it is non-zero only if
something broke. The temporary folder is removed at the end.
"""
import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WARMUP = 5
SIZES = {
    "small": {"clouds": 1, "hosts_per_cloud": 10, "servers_per_host": 10, "runs": 10},
    "large": {"clouds": 100, "hosts_per_cloud": 10, "servers_per_host": 10, "runs": 1000},
}
PAGES = ["/providers/", "/runs/"]
MORE_PAGES = ["/hosts/", "/servers/", "/migrations/", "provider-detail"]
TARGET_RATIO = 3.0
TARGET_P95_MS = 200.0


def setup_django(var_dir):
    sys.path.insert(0, str(ROOT))
    os.environ["DASHBOARD_VAR_DIR"] = str(var_dir)
    os.environ.pop("DATABASE_URL", None)
    os.environ["DJANGO_SECRET_KEY"] = uuid.uuid4().hex
    os.environ["DJANGO_ALLOWED_HOSTS"] = "localhost"
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.production"  # as served: no query log, no debug page
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("collectstatic", "--noinput", verbosity=0)  # as the web process does at start


# -- datasets ------------------------------------------------------------------------------------
CLEAN_AUDIT = {"exit_code": 0, "orphaned": [], "missing": [], "flavor_mismatch": []}
SUMMARIES = {True: "As Nova's tests expect.", False: "Differs from Nova's tests.", None: "No expected outcome."}


@contextmanager
def timestamps_as_given(*models):
    """Let bulk_create keep the given created/updated (auto_now would give every row the same instant)."""
    fields = [f for m in models for f in m._meta.fields if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)]
    saved = [(f, f.auto_now, f.auto_now_add) for f in fields]
    for f in fields:
        f.auto_now = f.auto_now_add = False
    try:
        yield
    finally:
        for f, auto_now, auto_now_add in saved:
            f.auto_now, f.auto_now_add = auto_now, auto_now_add


def _consumer(record, consumer_type):
    """The placement consumer of a server or migration (same uuid)."""
    from simulator.models import Consumer

    return Consumer(
        cloud_id=record.cloud_id, uuid=record.uuid, consumer_type=consumer_type, generation=1, project_id="p", user_id="u"
    )


def _verdict(matched, expected):
    return {
        "expected": expected if matched is not None else None,
        "matched": matched,
        "mismatches": [] if matched in (True, None) else ["migration.status: expected 'error', got 'confirmed'"],
        "summary": SUMMARIES[matched],
    }


def _allocations(provider, consumer, resources):
    from simulator.models import Allocation

    return [Allocation(provider=provider, consumer=consumer, resource_class=rc, used=n) for rc, n in resources.items()]


def _snapshot_doc(cloud_hosts, server_uuid, resources):
    """A ``report.snapshot``-sized document for a two-provider run cloud."""
    from simulator.driver import inventory_for
    from simulator.placement import inventory_record
    from simulator.models import Inventory

    inventories = {rc: inventory_record(Inventory(**fields)) for rc, fields in inventory_for("FakeDriver").items()}
    zero = {rc: 0 for rc in resources}
    return {
        "usages": {cloud_hosts[0]: dict(resources), cloud_hosts[1]: zero},
        "allocations": [
            {"provider": cloud_hosts[0], "consumer_uuid": server_uuid, "consumer_type": "INSTANCE", "resources": resources}
        ],
        "inventories": {name: inventories for name in cloud_hosts[:2]},
    }


def build(size, seed=1):
    """Write one dataset with bulk_create; returns its row counts."""
    from django.db import transaction
    from django.utils import timezone

    from simulator.cloud import DEFAULT_FLAVORS
    from simulator.driver import inventory_for
    from simulator.models import (
        Allocation,
        Cloud,
        Consumer,
        Flavor,
        Host,
        InstanceFault,
        Inventory,
        Migration,
        ResourceProvider,
        Run,
        RunStep,
        Server,
    )
    from simulator.presets import SCENARIOS

    rnd = random.Random(seed)
    start = time.perf_counter()
    now = timezone.now()

    def spread(i):
        return now - timedelta(minutes=10 * (size["runs"] - i))

    with timestamps_as_given(Cloud, Server, Migration, Run), transaction.atomic():
        clouds = Cloud.objects.bulk_create(
            Cloud(name=f"bench-{i}", description="bench", shared=i == 0, created=spread(i))
            for i in range(size["clouds"])
        )
        flavors = Flavor.objects.bulk_create(
            Flavor(cloud=c, flavorid=fid, name=name, vcpus=v, memory_mb=m, root_gb=d)
            for c in clouds
            for fid, name, v, m, d in DEFAULT_FLAVORS
        )
        flavors_of = {}
        for f in flavors:
            flavors_of.setdefault(f.cloud_id, []).append(f)
        hosts = Host.objects.bulk_create(
            Host(cloud=c, name=f"host{j + 1}", service_up=rnd.random() > 0.05)
            for c in clouds
            for j in range(size["hosts_per_cloud"])
        )
        providers = ResourceProvider.objects.bulk_create(
            ResourceProvider(cloud_id=h.cloud_id, host=h, name=h.name, generation=rnd.randint(1, 40)) for h in hosts
        )
        inventory = inventory_for("FakeDriver")
        Inventory.objects.bulk_create(
            Inventory(provider=p, resource_class=rc, **fields) for p in providers for rc, fields in inventory.items()
        )
        servers = []
        for h, p in zip(hosts, providers):
            for k in range(size["servers_per_host"]):
                state = rnd.choices(["active", "error", "resized", "stopped"], [80, 10, 5, 5])[0]
                servers.append(
                    Server(
                        cloud_id=h.cloud_id,
                        name=f"server-{h.name}-{k}",
                        host=h,
                        node=p,
                        flavor=rnd.choice(flavors_of[h.cloud_id][:3]),
                        vm_state=state,
                        created=spread(len(servers) % size["runs"]),
                        updated=now,
                    )
                )
        servers = Server.objects.bulk_create(servers, batch_size=2000)
        consumers = Consumer.objects.bulk_create((_consumer(s, "INSTANCE") for s in servers), batch_size=2000)
        allocations = [a for s, c in zip(servers, consumers) for a in _allocations(s.node, c, s.flavor.resources())]
        InstanceFault.objects.bulk_create(
            (
                InstanceFault(
                    server=s,
                    code=500,
                    message="Virtual Interface creation failed",
                    details="Traceback (most recent call last):\n" + "  ...\n" * 20,
                    host=s.host.name,
                    created=now - timedelta(seconds=i),
                )
                for i, s in enumerate(servers)
                if s.vm_state == "error"
                for _ in range(2)
            ),
            batch_size=2000,
        )

        by_cloud = {}
        for s in servers:
            by_cloud.setdefault(s.cloud_id, []).append(s)
        hosts_of = {}
        for h, p in zip(hosts, providers):
            hosts_of.setdefault(h.cloud_id, []).append((h, p))
        names = list(SCENARIOS)
        runs, migrations, migration_consumers = [], [], []
        for i in range(size["runs"]):
            cloud = clouds[i % len(clouds)]
            server = rnd.choice(by_cloud[cloud.id])
            (src, src_p), (dst, dst_p) = rnd.sample(hosts_of[cloud.id], 2)
            old, new = flavors_of[cloud.id][0], flavors_of[cloud.id][1]
            status = rnd.choices(["done", "crashed", "running", "queued"], [85, 5, 5, 5])[0]
            mstatus = rnd.choice(["error", "confirmed", "reverted", "finished"]) if status == "done" else "migrating"
            migrations.append(
                Migration(
                    cloud=cloud, server=server, source_compute=src, source_node=src_p, dest_compute=dst,
                    dest_node=dst_p, old_flavor=old, new_flavor=new, status=mstatus, created=spread(i), updated=spread(i),
                )
            )
            scenario = SCENARIOS[names[i % len(names)]]
            expected = next(iter(scenario.expected.values()))
            matched = {"done": rnd.choices([True, False, None], [80, 5, 15])[0], "crashed": False}.get(status)
            doc = _snapshot_doc([src.name, dst.name], str(server.uuid), old.resources())
            created = spread(i)
            runs.append(
                Run(
                    scenario=scenario.name,
                    params=scenario.all_params(),
                    status=status,
                    cloud=cloud,
                    server=server,
                    created=created,
                    started=created + timedelta(milliseconds=5) if status != "queued" else None,
                    finished=created + timedelta(milliseconds=rnd.randint(40, 400))
                    if status in ("done", "crashed")
                    else None,
                    error="OperationalError: database is locked" if status == "crashed" else "",
                    seq=5,
                    pipeline_state={"action_ids": [i], "migration_id": None, "request_spec": {"flavor": new.name}},
                    before=doc,
                    after=doc if status == "done" else None,
                    audit=CLEAN_AUDIT if status == "done" else None,
                    verdict=_verdict(matched, expected) if status in ("done", "crashed") else None,
                )
            )
        migrations = Migration.objects.bulk_create(migrations, batch_size=2000)
        for m in migrations:
            if m.status == "finished":  # VERIFY_RESIZE: the migration still holds the source
                migration_consumers.append((m, _consumer(m, "MIGRATION")))
        Consumer.objects.bulk_create([c for _, c in migration_consumers], batch_size=2000)
        for m, c in migration_consumers:
            allocations += _allocations(m.source_node, c, m.old_flavor.resources())
        Allocation.objects.bulk_create(allocations, batch_size=5000)
        runs = Run.objects.bulk_create(runs, batch_size=500)
        steps = []
        for run in runs:
            if run.started is None:
                continue
            for seq in range(1, rnd.randint(4, 6) + 1):
                t = run.started + timedelta(milliseconds=10 * seq)
                steps.append(
                    RunStep(
                        run=run, seq=seq, name="compute.prep_resize", host="host2", queued=t, started=t,
                        finished=t + timedelta(milliseconds=8), log=[f"INFO nova.compute.manager step {seq}"] * 3,
                    )
                )
        RunStep.objects.bulk_create(steps, batch_size=2000)
    return {
        "providers": len(providers),
        "servers": len(servers),
        "allocations": len(allocations),
        "runs": len(runs),
        "steps": len(steps),
        "seconds": time.perf_counter() - start,
    }


def wipe():
    from django.core.management import call_command

    call_command("flush", interactive=False, verbosity=0)


# -- measuring -----------------------------------------------------------------------------------
def p95(samples):
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def timed(client, url, requests):
    """GET ``url`` as the TLS-terminating proxy forwards it (a secure request) WARMUP times (each
    must be 200), once more counting its queries, then ``requests`` timed times: {"median", "p95"
    (ms), "queries", "bytes"} and the last response."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(WARMUP):
        response = client.get(url, secure=True)
        if response.status_code != 200:
            raise RuntimeError(f"GET {url}: {response.status_code}")
    with CaptureQueriesContext(connection) as captured:
        client.get(url, secure=True)
    queries = len(captured)  # now: the next request clears the connection's query log
    samples = []
    for _ in range(requests):
        start = time.perf_counter()
        client.get(url, secure=True)
        samples.append((time.perf_counter() - start) * 1000)
    figures = {"median": statistics.median(samples), "p95": p95(samples), "queries": queries,
               "bytes": len(response.content)}
    return figures, response


def measure(url, requests):
    """A page as a logged-in operator sees it (production settings need a login to read)."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client(HTTP_HOST="localhost")
    client.force_login(get_user_model().objects.get_or_create(username="bench")[0])
    figures, response = timed(client, url, requests)
    html = response.content.decode()
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in html else ""
    return {**figures, "rows": body.count("<tr") - body.count('<tr class="empty"')}


def urls(pages):
    from simulator.models import ResourceProvider

    resolved = []
    for page in pages:
        if page == "provider-detail":
            provider = ResourceProvider.objects.order_by("id").first()
            resolved.append((page, f"/providers/{provider.uuid}/"))
        else:
            resolved.append((page, page))
    return resolved


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=30, help="timed requests per page and size (default 30)")
    parser.add_argument("--all", action="store_true", help="also time the hosts, servers, migrations and provider pages")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="bench-pages-"))
    try:
        setup_django(tmp)
        pages = PAGES + (MORE_PAGES if args.all else [])
        results = {}
        for name, size in SIZES.items():
            counts = build(size)
            print(
                f"{name}: {counts['providers']} providers, {counts['servers']} servers, {counts['allocations']} allocations, "
                f"{counts['runs']} runs, {counts['steps']} steps (built in {counts['seconds']:.1f} s)"
            )
            targets = urls(pages)
            if name == "large":  # the same rows as the small page, out of the large database
                targets += [(f"{page}?cloud=bench-0", f"{page}?cloud=bench-0") for page in PAGES]
            for page, url in targets:
                results[(name, page)] = r = measure(url, args.requests)
                print(
                    f"  {page:26} median {r['median']:6.1f} ms   p95 {r['p95']:6.1f} ms   "
                    f"{r['queries']:2} queries   {r['rows']:3} rows   {r['bytes'] / 1024:6.1f} KiB"
                )
            wipe()

        print(f"\nTargets: large/small ratio of the medians <= {TARGET_RATIO:.0f}x, p95 < {TARGET_P95_MS:.0f} ms at the large size")
        for page in PAGES:
            small, large = results[("small", page)], results[("large", page)]
            same = results[("large", f"{page}?cloud=bench-0")]
            ratio = large["median"] / small["median"]
            ok_ratio = ratio <= TARGET_RATIO
            ok_p95 = large["p95"] < TARGET_P95_MS
            print(
                f"  {page:12} ratio {ratio:4.2f}x {'ok' if ok_ratio else 'MISSED'} "
                f"({small['rows']} -> {large['rows']} rows; {same['median'] / small['median']:4.2f}x for the same "
                f"{same['rows']} rows);   large p95 {large['p95']:5.1f} ms {'ok' if ok_p95 else 'MISSED'};   "
                f"queries {small['queries']} -> {large['queries']}"
            )
    finally:
        from django.db import connections

        connections.close_all()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
