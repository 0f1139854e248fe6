"""The web page's own tests (Vitest, in web/): the refresh state machine, the session
limit, the stagger timing and the cards. Run here so `make test` fails when they fail."""

import os
import shutil
import subprocess

import pytest

from nocturne_crawl.config import REPO_ROOT

WEB = REPO_ROOT / "web"


def test_vitest_suite_passes():
    npm = shutil.which("npm")
    if npm is None or not (WEB / "node_modules").is_dir():
        if os.environ.get("CI"):
            pytest.fail("CI must have Node and web/node_modules (make web installs them)")
        pytest.skip("npm or web/node_modules missing: run `make web`")
    result = subprocess.run(
        [npm, "test", "--silent"],
        cwd=WEB,
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "CI": "true", "NO_COLOR": "1"},
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "passed" in result.stdout
