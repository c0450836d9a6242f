"""Shared test setup: nothing touches the user's home, nothing phones home."""

from __future__ import annotations

import os
import tempfile

import pytest

# Set before any test imports the libraries that read them.
_TMP = tempfile.mkdtemp(prefix="headroom-tests-")
os.environ["HEADROOM_DATA_DIR"] = _TMP
os.environ["HEADROOM_CACHE_DIR"] = os.path.join(_TMP, "cache")
os.environ.setdefault("HEADROOM_STORE", os.path.join(_TMP, "store.sqlite3"))
os.environ["AGNO_TELEMETRY"] = "false"
os.environ["LANGCHAIN_TRACING_V2"] = "false"
os.environ["LANGSMITH_TRACING"] = "false"
os.environ["ANONYMIZED_TELEMETRY"] = "false"


@pytest.fixture
def memory_store():
    from headroom import MemoryStore

    return MemoryStore()
