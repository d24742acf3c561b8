"""The real ``openstack`` command (python-openstackclient, osc-placement, openstacksdk), from the
environment ``make osc-env`` creates; tests that need it skip without it."""
import json
import os
import subprocess

import pytest
from django.conf import settings


def openstack_command():
    return settings.OSC_VENV / "bin" / "openstack"


needs_osc = pytest.mark.skipif(
    not openstack_command().exists(), reason="the OpenStack clients' environment is missing: make osc-env"
)


def openstack(*args, env=None, check=True, timeout=120):
    """Run ``openstack ARGS`` with a clean OS_* environment plus ``env``; the completed process.
    With ``-f json`` among the args, ``.json()`` parses what it printed."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    done = subprocess.run(
        [str(openstack_command()), *args], env={**clean, **(env or {})},
        capture_output=True, text=True, timeout=timeout,
    )
    if check and done.returncode != 0:
        raise AssertionError(f"openstack {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    done.json = lambda: json.loads(done.stdout)
    return done
