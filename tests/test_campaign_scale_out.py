"""One campaign spread over several workers started separately, on PostgreSQL, the way a
scaled-out deployment runs it: one worker serves the conductor and API queues, two serve the
compute hosts' queues, and they share only PostgreSQL and Redis."""
import pytest

from tests.live import LiveStack
from tests.services import create_database

COUNT_RUNS = """
import json
from django.db.models import Count
from simulator.models import Run
runs = Run.objects.filter(campaign_id={id})
print(json.dumps({{
    "indexes": sorted(runs.values_list("campaign_index", flat=True)),
    "statuses": sorted(set(runs.values_list("status", flat=True))),
    "workers": sorted({{s.worker.split("@")[0] for r in runs for s in r.steps.all()}}),
    "twice": runs.values("campaign_index").annotate(n=Count("id")).filter(n__gt=1).count(),
}}))
"""


@pytest.fixture
def stack(tmp_path, postgres_server):
    live = LiveStack(tmp_path, database_url=create_database(postgres_server, "scaleout"))
    live.start_redis()
    yield live
    live.close()


def test_a_campaign_spread_over_separate_workers_runs_each_entry_once(stack):
    stack.start_worker("control", queues=("conductor", "api"), all_hosts=False, concurrency=2)
    for name in ("computeA", "computeB"):  # both consume every compute.<host> queue
        stack.start_worker(name, queues=("compute.host1",), concurrency=2)
    campaign_id = int(stack.manage(
        "resize_campaign", "--scenario", "custom", "--axis", "fail_at=all", "--axis", "then=all",
        "--max-in-flight", "6", "--no-wait", check=True,
    ).stdout.strip().splitlines()[-1])

    final = stack.wait_for_campaign(campaign_id, lambda c: c["status"] == "done", timeout=240)

    assert (final["total"], final["done"], final["running"], final["queued"]) == (36, 36, 0, 0)
    counted = stack.python(COUNT_RUNS.format(id=campaign_id))
    assert counted["indexes"] == list(range(36)) and counted["twice"] == 0
    assert counted["statuses"] == ["done"]
    assert {"control", "computeA", "computeB"} <= set(counted["workers"])
