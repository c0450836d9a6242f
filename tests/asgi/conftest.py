"""The middleware tests need an HTTP client, Starlette for the fake app, uvicorn to serve it."""

from __future__ import annotations

import pytest

pytest.importorskip("httpx", reason="the tests' HTTP client (the dev extra)")
pytest.importorskip("starlette", reason="the fake upstream needs starlette (the dev extra)")
pytest.importorskip("uvicorn", reason="uvicorn is not installed (pip install '.[proxy]')")
