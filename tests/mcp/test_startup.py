"""What the server does before it can answer ``initialize``."""

from __future__ import annotations

import subprocess
import sys

from .conftest import child_env

_BUILD = """
import logging, sys
{setup}
from headroom.mcp_server.server import build_server
server = build_server("memory")
print("rich" in sys.modules, bool(logging.getLogger().handlers))
"""


def _run(setup: str) -> str:
    code = _BUILD.format(setup=setup)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=child_env(), timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_configured_logging_spares_the_sdk_its_rich_handler():
    # `headroom mcp serve` sets up logging first; the SDK's own setup would be a no-op
    # after importing rich, so it is skipped.
    assert _run("logging.basicConfig(stream=sys.stderr)") == "False True"


def test_without_logging_set_up_the_sdk_sets_it_up_as_usual():
    assert _run("") == "True True"
