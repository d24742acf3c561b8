"""How fast campaigns run, and how that scales with worker processes, on SQLite and PostgreSQL.

For each database (SQLite in a temporary folder; PostgreSQL in a throwaway cluster when
``initdb`` is installed) and each number of worker processes (1, 2, 4 by default; every worker
consumes every queue, ``--concurrency 1``), the bench starts Redis and the workers
(``tests.live.LiveStack``, with the settings' default timings), runs one campaign of ``--runs``
entries drawn from the exhaustive one over the default cloud (every failure point x every valid
exception x none/confirm/revert x bug 1825537 on/off; ``--runs 0`` runs all of it) with
``--max-in-flight`` runs at once, and prints runs per second from the first run created to the
campaign's end. Everything is stopped and removed at the end.

Reproduce from the repository root::

    .venv/bin/python bench/campaign.py [--runs 120] [--workers 1 2 4] [--max-in-flight 16]
                                       [--databases sqlite postgresql]

``--runs 0 --workers 2 --databases sqlite`` times the whole exhaustive campaign on the default set-up.
"""
import argparse
import os
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TIMINGS = ("CELERY_VISIBILITY_TIMEOUT", "CELERY_UNACKED_RESTORE_INTERVAL", "RUN_STALE_AFTER",
           "RUN_REAPER_INTERVAL", "WORKER_HOST_QUEUES_INTERVAL")
EXHAUSTIVE = ["--axis", "fail_at=all", "--axis", "exception=all", "--axis", "then=all", "--axis", "bugs=all"]


def measure(database_url, workers, runs, in_flight):
    from tests.live import LiveStack

    tmp = Path(tempfile.mkdtemp(prefix="bench-campaign-"))
    stack = None
    try:
        stack = LiveStack(tmp, database_url=database_url)
        for key in TIMINGS:
            stack.env.pop(key)
        stack.start_redis()
        for index in range(workers):
            stack.start_worker(f"bench{index}", concurrency=1)
        sample = ["--sample", str(runs), "--seed", "1"] if runs else []
        started = time.monotonic()
        campaign = int(stack.manage("resize_campaign", "--scenario", "custom", *EXHAUSTIVE, *sample,
                                    "--max-in-flight", str(in_flight), "--no-wait", check=True)
                       .stdout.strip().splitlines()[-1])
        final = stack.wait_for_campaign(campaign, lambda c: c["status"] == "done", timeout=3600, poll=0.5)
        return final["total"], time.monotonic() - started
    finally:
        if stack is not None:
            stack.close()
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=120, help="Entries of the exhaustive campaign (0: all).")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--max-in-flight", type=int, default=16)
    parser.add_argument("--databases", nargs="+", choices=("sqlite", "postgresql"), default=["sqlite", "postgresql"])
    options = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    from tests.services import create_database, postgres_cluster

    print(f"{os.cpu_count()} CPUs; campaign of {options.runs or 'all'} runs, {options.max_in_flight} in flight")
    print(f"{'database':12} {'workers':>7} {'runs':>6} {'seconds':>8} {'runs/s':>7}")
    with ExitStack() as stack:
        databases = [("sqlite", None)] if "sqlite" in options.databases else []
        if "postgresql" in options.databases:
            try:
                server = stack.enter_context(postgres_cluster())
                databases.append(("postgresql", server))
            except Exception as error:  # no initdb here
                print(f"(PostgreSQL skipped: {error})")
        for label, server in databases:
            for workers in options.workers:
                url = create_database(server, f"bench{workers}") if server else None
                total, seconds = measure(url, workers, options.runs, options.max_in_flight)
                print(f"{label:12} {workers:7} {total:6} {seconds:8.1f} {total / seconds:7.1f}", flush=True)


if __name__ == "__main__":
    main()
