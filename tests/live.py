"""A live stack for tests: a Redis server and Celery workers in real processes, on a
database of their own (a SQLite file, or PostgreSQL)."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import redis

from dashboard.run import redis_server_binary
from tests.services import free_port

ROOT = Path(__file__).resolve().parent.parent
OUTCOME_KEYS = ("status", "vm_state", "task_state", "host", "flavor")
# The seed's casts (bug-1825537), each on its service's queue: (step, queue).
SEED_STEPS = [
    ("conductor.migrate_server", "conductor"),
    ("compute.prep_resize", "compute.host2"),
    ("compute.resize_instance", "compute.host1"),
    ("compute.finish_resize", "compute.host2"),
]


def outcome(report):
    """What a run did, without ids and timings: to compare a run on workers with the same run in-process."""
    return {
        "server": {key: report["server"][key] for key in OUTCOME_KEYS},
        "fault": report["server"]["fault"] and report["server"]["fault"]["message"],
        "migration": report["migration"]["status"],
        "usages": report["usages"]["after"],
        "events": [(e["event"], e["host"], e["result"]) for e in report["events"]],
        "audit": {k: len(report["audit"][k]) for k in ("orphaned", "missing", "flavor_mismatch")},
        "verdict": report["verdict"]["matched"],
    }


class LiveStack:
    def __init__(self, tmp_path, database_url=None, **settings):
        self.tmp = Path(tmp_path)
        self.redis_port = free_port()
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.env = {
            **os.environ,
            "DASHBOARD_VAR_DIR": str(self.tmp / "var"),
            "REDIS_URL": self.redis_url,
            "CELERY_VISIBILITY_TIMEOUT": "4",
            "CELERY_UNACKED_RESTORE_INTERVAL": "1",
            "RUN_STALE_AFTER": "2",
            "RUN_REAPER_INTERVAL": "0.5",
            "WORKER_HOST_QUEUES_INTERVAL": "0.2",
            **{key: str(value) for key, value in settings.items()},
        }
        self.env.pop("DATABASE_URL", None)
        if database_url:
            self.env["DATABASE_URL"] = database_url
        self.redis = None
        self.workers = []
        self.manage("migrate", "--noinput", "-v", "0", check=True)

    # -- processes -------------------------------------------------------------------
    def start_redis(self):
        self.redis = subprocess.Popen(
            [redis_server_binary(), "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.tmp)],
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        client = redis.Redis.from_url(self.redis_url, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if client.ping():
                    return
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill_redis(self):
        os.killpg(self.redis.pid, signal.SIGKILL)
        self.redis.wait()

    def start_worker(self, name, queues=("conductor", "api"), all_hosts=True, concurrency=1, extra=()):
        log = self.tmp / f"worker-{name}-{len(self.workers)}.log"
        command = [sys.executable, "-m", "celery", "-A", "config.celery_app", "worker", "-n", f"{name}@%h",
                   "-Q", ",".join(queues), "--concurrency", str(concurrency), "--loglevel", "INFO",
                   "--without-mingle", "--without-gossip"]
        if all_hosts:
            command.append("--all-hosts")
        command.extend(extra)
        process = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True
        )
        process.log = log
        self.workers.append(process)
        deadline = time.monotonic() + 30
        while " ready." not in log.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker {name} did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        return process

    def start_web(self):
        """The Django development server on a free port; its base URL."""
        port = free_port()
        log = self.tmp / "web.log"
        process = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=ROOT, env=self.env, stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.workers.append(process)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return url
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"web server did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.1)

    def kill_worker(self, process, sig=signal.SIGKILL):
        os.killpg(process.pid, sig)
        process.wait()

    def close(self):
        for process in self.workers:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if self.redis and self.redis.poll() is None:
            self.kill_redis()

    # -- commands --------------------------------------------------------------------
    def manage(self, *args, check=False, timeout=180):
        result = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True,
            timeout=timeout,
        )
        if check and result.returncode:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def python(self, code):
        """Run Django code in a child process; its last line of output is parsed as JSON."""
        result = self.manage("shell", "-c", code, check=True)
        return json.loads(result.stdout.strip().splitlines()[-1])

    def start(self, *args):
        """``resize_run --no-wait``: the run id."""
        result = self.manage("resize_run", "--no-wait", *args, check=True)
        return int(result.stdout.strip().splitlines()[-1])

    def start_many(self, *scenarios, **overrides):
        """Start several runs at once from one process (as many terminals would); their ids."""
        return self.python(
            "import json; from simulator.pipeline import start_run; from simulator.tasks import cast; "
            f"print(json.dumps([start_run(name, {overrides!r}, on_cast=cast).pk for name in {list(scenarios)!r}]))"
        )

    def queued_messages(self, queues):
        """How many messages wait in these Redis queues (not those delivered to a worker)."""
        client = redis.Redis.from_url(self.redis_url, socket_connect_timeout=0.5)
        return sum(client.llen(queue) for queue in queues)

    def in_process(self, *args):
        """The JSON report of ``resize_run --in-process``: the same run without Redis or a worker."""
        result = self.manage("resize_run", "--in-process", "--json", *args, check=True)
        return json.loads(result.stdout)

    def report(self, run_id, wait=True, timeout=120):
        args = ["run_report", str(run_id), "--json"] + (["--wait", "--timeout", str(timeout)] if wait else [])
        result = self.manage(*args, check=True, timeout=timeout + 60)
        return json.loads(result.stdout)

    def reports(self, run_ids, timeout=120):
        """The reports of several runs, once all have ended (one process for all of them)."""
        return self.python(
            "import json, time; from simulator.models import Run; "
            "from simulator.report import build_report; "
            f"ids = {list(run_ids)!r}; deadline = time.monotonic() + {timeout}\n"
            "while Run.objects.filter(pk__in=ids).unfinished().exists() "
            "and time.monotonic() < deadline: time.sleep(0.1)\n"
            "print(json.dumps([build_report(Run.objects.get(pk=i)) for i in ids]))"
        )

    def run_state(self, run_id):
        return self.python(
            "import json; from simulator.models import Run; "
            f"r = Run.objects.get(pk={run_id}); "
            "print(json.dumps({'status': r.status, 'next_step': r.next_step, 'next_host': r.next_host, "
            "'executing': r.executing, 'redispatches': r.redispatches, 'seq': r.seq}))"
        )

    def wait_for_campaign(self, campaign_id, predicate, timeout=60, poll=0.3):
        """The campaign's progress once ``predicate(progress)`` holds (read from another process)."""
        code = ("import json; from simulator.campaigns import progress; from simulator.models import Campaign; "
                f"print(json.dumps(progress(Campaign.objects.get(pk={campaign_id}))))")
        deadline = time.monotonic() + timeout
        while True:
            state = self.python(code)
            if predicate(state):
                return state
            if time.monotonic() > deadline:
                raise AssertionError(f"campaign {campaign_id} did not get there: {state}")
            time.sleep(poll)

    def wait_for(self, run_id, predicate, timeout=60, poll=0.1):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.run_state(run_id)
            if predicate(state):
                return state
            time.sleep(poll)
        raise AssertionError(f"run {run_id} never reached the state; last: {state}")
