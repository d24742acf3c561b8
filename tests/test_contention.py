"""Twenty resizes at once onto a host with room for ten, on PostgreSQL with two workers."""
import threading
import time

import psycopg
import pytest

from tests.factories import SMALL, TINY
from tests.live import LiveStack
from tests.services import create_database

RUNS = 20
FITS = 10

SETUP = f"""
import json
from simulator.models import Inventory
from tests.factories import booted_server, cloud_with_hosts
cloud = cloud_with_hosts("contention", shared=True)
# host2 has room for {FITS} m1.small: (20992 - 512 reserved) MB = {FITS} x 2048.
Inventory.objects.filter(provider__host__name="host2", provider__cloud=cloud, resource_class="MEMORY_MB").update(total=20992)
for index in range({RUNS}):
    booted_server(cloud, f"s{{index:02}}", "host1", "m1.tiny")
print(json.dumps({{"ok": True}}))
"""

START = f"""
import json
from simulator.pipeline import start_run
from simulator.tasks import cast
# A resize takes no host: with host1 the source, the scheduler's only candidate is host2.
ids = [start_run("custom", {{"cloud": "contention", "server": f"s{{i:02}}", "then": "confirm",
                             "step_delay": 0.2}}, on_cast=cast).pk for i in range({RUNS})]
print(json.dumps(ids))
"""

USAGE = """
SELECT a.resource_class, COALESCE(SUM(a.used), 0)
FROM simulator_allocation a JOIN simulator_resourceprovider p ON p.id = a.provider_id
JOIN simulator_cloud c ON c.id = p.cloud_id
WHERE c.name = 'contention' AND p.name = 'host2' GROUP BY a.resource_class
"""


@pytest.fixture
def stack(tmp_path, postgres_server):
    live = LiveStack(tmp_path, database_url=create_database(postgres_server, "contention"))
    live.start_redis()
    yield live
    live.close()


def test_concurrent_resizes_never_oversubscribe_and_the_losers_end_as_nova_ends_them(stack):
    stack.python(SETUP)
    for name in ("w1", "w2"):
        stack.start_worker(name, concurrency=2)

    peak = {}
    stop = threading.Event()

    def watch():
        with psycopg.connect(stack.env["DATABASE_URL"].replace("postgres://", "postgresql://"), autocommit=True) as db:
            while not stop.is_set():
                for rc, used in db.execute(USAGE).fetchall():
                    peak[rc] = max(peak.get(rc, 0), used)
                time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        run_ids = stack.python(START)
        reports = [stack.report(run_id, timeout=240) for run_id in run_ids]
    finally:
        stop.set()
        watcher.join()

    assert [r["status"] for r in reports] == ["done"] * RUNS
    assert peak["MEMORY_MB"] == FITS * 2048, peak  # reached, never exceeded
    winners = [r for r in reports if r["server"]["host"] == "host2"]
    losers = [r for r in reports if r["server"]["host"] == "host1"]
    assert len(winners) == FITS and len(losers) == RUNS - FITS
    for report in winners:
        assert (report["server"]["status"], report["migration"]["status"]) == ("ACTIVE", "confirmed")
    for report in losers:
        assert report["server"]["status"] == "ACTIVE"
        assert report["server"]["flavor"] == "m1.tiny"
        assert report["migration"]["status"] == "error"
        assert report["faults"][-1]["message"].startswith("No valid host was found."), report["faults"][-1]["details"][-3000:]
        assert report["events"][-1]["result"] == "Error"
    # Steps of different runs ran on both workers.
    assert {s["worker"].split("@")[0] for r in reports for s in r["steps"]} == {"w1", "w2"}

    audit = stack.manage("placement_audit", "--cloud", "contention")
    assert audit.returncode == 0, audit.stdout
    usages = stack.python(
        "import json; from simulator.placement import cloud_usages; from simulator.models import Cloud; "
        "print(json.dumps(cloud_usages(Cloud.objects.get(name='contention'))))"
    )
    assert usages["host2"] == {rc: FITS * amount for rc, amount in SMALL.items()}
    assert usages["host1"] == {rc: (RUNS - FITS) * amount for rc, amount in TINY.items()}
