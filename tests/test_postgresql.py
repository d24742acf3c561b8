"""The simulator on PostgreSQL: the seed, every preset, the state table and concurrent
writers, run by pytest in a child process with DATABASE_URL pointing at a fresh cluster."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.services import postgres_cluster

ROOT = Path(__file__).resolve().parent.parent
MODULES = [
    "tests/test_bug_1825537.py",
    "tests/test_failures.py",
    "tests/test_state_table.py",
    "tests/test_concurrent_writes.py",
    "tests/test_bad_input.py",
]


@pytest.fixture(scope="module")
def postgres_url():
    if os.environ.get("DATABASE_URL", "").startswith("postgres"):
        pytest.skip("this run is already on PostgreSQL")
    try:
        with postgres_cluster() as url:
            yield url
    except FileNotFoundError as error:
        pytest.skip(str(error))


def test_simulator_suite_passes_on_postgresql(postgres_url):
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *MODULES],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": postgres_url},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout.splitlines()[-1]
    assert "failed" not in result.stdout.splitlines()[-1]
