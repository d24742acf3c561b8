"""The README's curl examples, run as written against the whole stack in real processes."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.live import LiveStack

ROOT = Path(__file__).resolve().parent.parent


def readme_block():
    text = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- automation:begin -->\n```sh\n(.*?)```\n<!-- automation:end -->", text, re.S)
    expected = re.search(r"<!-- automation:end -->\n\nprints\n\n```text\n(.*?)```", text, re.S)
    return block[1], expected[1]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_readme_automation_example_works_as_written(tmp_path):
    script, expected = readme_block()
    stack = LiveStack(tmp_path)
    try:
        stack.manage("seed_demo", check=True)
        stack.start_redis()
        stack.start_worker("readme")
        url = stack.start_web()
        env = {**stack.env, "DASHBOARD": url, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
        )
    finally:
        stack.close()
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected
