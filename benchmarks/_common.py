"""Pieces the proxy and integration benchmarks share: starting a server process and
the 50 KB service log they compress."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.proxy.fake_upstream import service_log  # noqa: E402


def start(cmd: list[str], port: int, drop_env: tuple[str, ...] = ()) -> subprocess.Popen[bytes]:
    """Run ``cmd`` from the repository root and wait (30 s at most) until ``/livez`` on
    ``port`` answers; ``drop_env`` names variables the child must not inherit."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for name in drop_env:
        env.pop(name, None)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/livez")
            conn.getresponse().read()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{cmd} did not start")


def log_50k(salt: int) -> str:
    """About 50 KB of service log, made unique by ``salt`` (so no memo or cache helps)."""
    text = service_log(lines=370, error_at=salt % 370)
    return text.replace("payments-svc", f"payments-{salt:06d}")
