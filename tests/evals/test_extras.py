"""``headroom evals quick`` on an install without an extra: judge only what it can do."""

from __future__ import annotations

import json
import os
import subprocess
import sys

# A fresh process in which tree-sitter cannot be imported, as after `pip install .`.
_WITHOUT_CODE = """
import sys
sys.modules["tree_sitter"] = None
from headroom.evals.cli import main
sys.exit(main(["quick", "--json", "--no-progress"]))
"""


def test_quick_without_the_code_extra_skips_code_and_passes() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _WITHOUT_CODE],
        capture_output=True,
        text=True,
        env=os.environ,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'not judging code: the code extra is not installed (pip install ".[code]")' in (
        proc.stderr
    )
    data = json.loads(proc.stdout)
    metrics = {m["name"]: m for m in data["metrics"]}
    assert metrics["savings[code]"]["gated"] is False  # reported, not judged
    assert metrics["savings[code]"]["value"] == 0.0  # nothing to compress code with
    assert metrics["savings[json]"]["gated"] is True and metrics["savings[json]"]["passed"]
    assert data["passed"] is True


def test_unjudged_kinds_on_this_install() -> None:
    from headroom.evals.runner import unjudged_kinds

    assert unjudged_kinds(["json", "logs", "code"]) == {}  # the dev install has every extra
    assert unjudged_kinds(["json"]) == {}
