"""The simulator on PostgreSQL: the seed, every preset, the state table, concurrent writers,
the run lifecycle, the step tasks and /metrics' aggregates, run by pytest in a child process with
DATABASE_URL pointing at a fresh cluster."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODULES = [
    "tests/test_bug_1825537.py",
    "tests/test_failures.py",
    "tests/test_state_table.py",
    "tests/test_concurrent_writes.py",
    "tests/test_bad_input.py",
    "tests/test_reaper.py",
    "tests/test_run_lifecycle.py",
    "tests/test_tasks.py",
    "tests/test_metrics.py",
]


def test_simulator_suite_passes_on_postgresql(postgres_server):
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *MODULES],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": postgres_server},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout.splitlines()[-1]
    assert "failed" not in result.stdout.splitlines()[-1]
