"""How much the resize pipeline costs on top of bare Celery messaging.

It compares two things on the same Redis and the same worker, in one run:

* **no-op chain**: four Celery tasks that do nothing but send the next one, like
  the casts of the seed scenario ``bug-1825537`` (conductor.migrate_server ->
  compute.prep_resize -> compute.resize_instance -> compute.finish_resize), on the
  same queues (``conductor``, ``compute.host2``, ``compute.host1``,
  ``compute.host2``). The last task RPUSHes to a Redis list the bench waits on
  with BLPOP. Latency runs from the first publish to that push.
* **seed scenario**: ``start_run("bug-1825537", {}, on_cast=cast)`` in this
  process, then the four real steps on the worker. Latency runs from the call to
  the run's status becoming ``done`` (the bench reads the status with one raw
  SELECT every 2 ms).

With the Nova environment (``make nova-env``), the bench also replays the seed
scenario ``--nova`` times in real Nova 34 (``conformance/nova_replay.py``: Nova's own
functional-test fixtures, one test case per replay) and sets the median test case's
duration against the seed run's median latency.

For each: median and p95 latency of ``--runs`` sequential runs after a few
warm-up runs, and throughput (runs completed per second) of ``--batch`` runs
started at once: the no-op batch is ``--batch`` first publishes in a row, the
seed batch ``--batch`` calls of ``start_run`` in a row, as an API process would
make them while the worker already executes the first runs. A single no-op
task's round trip is printed for scale.

The bench starts its own Redis on a free port (``tests.live.LiveStack``) and one
Celery worker (``-Q conductor,api --all-hosts --concurrency 2``) on a migrated
SQLite database in a temporary folder, with the settings' default timings (not
LiveStack's shortened test ones). The worker imports this module
(``--include bench.pipeline``) for the no-op task, so importing it must stay
free of side effects: the bench-only imports are inside the functions. Everything
is stopped and the folder removed at the end, on Ctrl-C and on errors too.

Reproduce from the repository root::

    .venv/bin/python bench/pipeline.py [--runs 30] [--batch 40] [--nova 3]

The exit status is 0 whether or not the targets (latency ratio <= 2x, throughput
ratio >= 50%, >= 100x faster than Nova's functional test) are met; it is non-zero only if
something broke.
"""
import argparse
import functools
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import redis
from celery import shared_task

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = "bug-1825537"
CHAIN_QUEUES = ("conductor", "compute.host2", "compute.host1", "compute.host2")  # the seed scenario's casts
CONCURRENCY = 2
WARMUP = 3
POLL = 0.002  # seconds between two reads of a run's status
TIMEOUT = 120  # seconds any one wait may take before the bench gives up
# LiveStack shortens these for tests; the bench runs with the settings' defaults.
TEST_TIMINGS = ("CELERY_VISIBILITY_TIMEOUT", "CELERY_UNACKED_RESTORE_INTERVAL", "RUN_STALE_AFTER",
                "RUN_REAPER_INTERVAL", "WORKER_HOST_QUEUES_INTERVAL")


# -- the no-op task (imported by the worker) ------------------------------------------
@functools.cache
def _redis(url):
    return redis.Redis.from_url(url)


@shared_task(bind=True, name="bench.noop_cast")
def noop_cast(self, queues, done_key):
    """Send the rest of the chain to its next queue; the last task pushes to ``done_key``."""
    if len(queues) > 1:
        noop_cast.apply_async((queues[1:], done_key), queue=queues[1])
    else:
        _redis(self.app.conf.broker_url).rpush(done_key, 1)


# -- the stack --------------------------------------------------------------------------
def setup_django(env):
    """Configure Django (and the Celery app) in this process on the stack's database and Redis."""
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    import django

    django.setup()
    import config.celery_app  # noqa: F401  (the Celery app, so tasks publish to the stack's Redis)


# -- the two workloads ------------------------------------------------------------------
class NoopChain:
    """Chains of no-op tasks over ``queues``; completion is a push to a Redis list."""

    def __init__(self, client, queues):
        self.client = client
        self.queues = list(queues)

    def start(self, done_key):
        noop_cast.apply_async((self.queues, done_key), queue=self.queues[0])

    def wait(self, done_key, count):
        for _ in range(count):
            if self.client.blpop(done_key, timeout=TIMEOUT) is None:
                raise RuntimeError(f"no-op chain over {self.queues} did not complete in {TIMEOUT} s")

    def once(self):
        key = f"bench:{uuid.uuid4()}"
        self.start(key)
        self.wait(key, 1)

    def batch(self, size):
        key = f"bench:{uuid.uuid4()}"
        for _ in range(size):
            self.start(key)
        self.wait(key, size)


class SeedScenario:
    """Runs of the seed scenario through the real pipeline; completion is the run's status."""

    def __init__(self):
        from django.db import connection

        from simulator.models import Run
        from simulator.pipeline import start_run
        from simulator.tasks import cast

        self.connection = connection
        self.table = Run._meta.db_table
        self.start_run = functools.partial(start_run, SCENARIO, {}, on_cast=cast)

    def wait(self, ids):
        """Read the runs' status every POLL seconds until all are done; raise if one crashed."""
        sql = (f"SELECT COUNT(*), COALESCE(SUM(status = 'crashed'), 0) FROM {self.table} "
               f"WHERE id IN ({','.join(map(str, ids))}) AND status IN ('done', 'crashed')")
        deadline = time.monotonic() + TIMEOUT
        with self.connection.cursor() as cursor:
            while True:
                cursor.execute(sql)
                finished, crashed = cursor.fetchone()
                if crashed:
                    raise RuntimeError(f"{crashed} run(s) of {SCENARIO} crashed (runs {ids[0]}..{ids[-1]})")
                if finished == len(ids):
                    return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"runs {ids[0]}..{ids[-1]} not finished after {TIMEOUT} s")
                time.sleep(POLL)

    def once(self):
        self.wait([self.start_run().pk])

    def batch(self, size):
        self.wait([self.start_run().pk for _ in range(size)])


# -- measuring --------------------------------------------------------------------------
def latencies(workload, runs):
    """Milliseconds of each of ``runs`` sequential runs, after WARMUP unmeasured ones."""
    for _ in range(WARMUP):
        workload.once()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        workload.once()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def throughput(workload, size):
    """Runs per second when ``size`` runs are started at once."""
    started = time.perf_counter()
    workload.batch(size)
    return size / (time.perf_counter() - started)


def p95(samples):
    return statistics.quantiles(samples, n=20, method="inclusive")[-1]


def nova_seconds(repeats):
    """Seconds of each of ``repeats`` replays of the seed scenario in Nova 34 (one after the other),
    or None without the Nova environment."""
    from simulator import conformance
    from simulator.validation import resolve

    if not repeats or conformance.nova_python() is None:
        return None
    params = resolve(SCENARIO, {})
    done = conformance.replay([(f"{SCENARIO}-{n}", params) for n in range(repeats)], jobs=1)
    failed = {key: result for key, result in done["results"].items() if "outcome" not in result}
    if failed:
        raise RuntimeError(f"the Nova replay of {SCENARIO} failed: {failed}")
    return list(done["seconds"].values())


def measure(runs, batch, nova):
    """Start the stack, measure both workloads on it, print the table; always tear down."""
    from tests.live import LiveStack

    tmp = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    stack = None
    try:
        stack = LiveStack(tmp)  # migrates the temporary database
        for key in TEST_TIMINGS:
            stack.env.pop(key)
        stack.start_redis()
        stack.start_worker("bench", concurrency=CONCURRENCY, extra=["--include", "bench.pipeline"])
        setup_django(stack.env)

        seed = SeedScenario()
        client = redis.Redis.from_url(stack.redis_url)
        chain, single = NoopChain(client, CHAIN_QUEUES), NoopChain(client, CHAIN_QUEUES[:1])
        # The seed runs go first: they create host1 and host2, and the worker (--all-hosts)
        # only consumes compute.host1/compute.host2 once those hosts exist.
        seed_ms = latencies(seed, runs)
        chain_ms = latencies(chain, runs)
        single_ms = latencies(single, runs)
        chain_rate = throughput(chain, batch)
        seed_rate = throughput(seed, batch)
    finally:
        if stack is not None:
            stack.close()
        shutil.rmtree(tmp, ignore_errors=True)
    nova_s = nova_seconds(nova)  # after the stack is gone: Nova's fixtures want both cores

    casts = len(CHAIN_QUEUES)
    print(f"{runs} sequential runs after {WARMUP} warm-ups; batches of {batch}; "
          f"{CONCURRENCY} worker processes; {os.cpu_count()} CPUs")
    print(f"{'':26}{'median ms':>10}{'p95 ms':>9}{f'runs/s ({CONCURRENCY} procs)':>20}")
    for label, samples, rate in (
        (f"no-op chain ({casts} casts)", chain_ms, f"{chain_rate:.1f}"),
        (f"seed scenario ({casts} casts)", seed_ms, f"{seed_rate:.1f}"),
        ("no-op round trip (1 task)", single_ms, "-"),
    ):
        print(f"{label:26}{statistics.median(samples):10.1f}{p95(samples):9.1f}{rate:>20}")
    latency_ratio = statistics.median(seed_ms) / statistics.median(chain_ms)
    rate_ratio = seed_rate / chain_rate
    print(f"latency ratio {latency_ratio:.2f}x (target <= 2x)   "
          f"throughput ratio {rate_ratio:.0%} (target >= 50%)")
    if nova_s is None:
        print("Nova's functional test: not measured (no Nova environment: make nova-env)")
    else:
        nova_ms = statistics.median(nova_s) * 1000
        print(f"Nova's functional test of {SCENARIO} (Nova 34 fixtures, median of {len(nova_s)}): "
              f"{nova_ms:.0f} ms; a seed run is {nova_ms / statistics.median(seed_ms):.0f}x faster "
              f"(target >= 100x)")


def _stop_on_signal(signum, frame):
    raise KeyboardInterrupt


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=30, help="sequential runs measured for latency (default 30)")
    parser.add_argument("--batch", type=int, default=40, help="runs started at once for throughput (default 40)")
    parser.add_argument("--nova", type=int, default=3,
                        help="replays of the seed scenario in Nova 34, when its environment exists (default 3; 0: none)")
    args = parser.parse_args(argv)
    if args.runs < 2 or args.batch < 1 or args.nova < 0:
        parser.error("--runs must be at least 2, --batch at least 1 and --nova at least 0")
    signal.signal(signal.SIGTERM, _stop_on_signal)
    try:
        measure(args.runs, args.batch, args.nova)
    except KeyboardInterrupt:
        print("interrupted; stopped Redis and the worker", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))  # run as a script: make the project's packages importable
    sys.exit(main())
