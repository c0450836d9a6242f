"""The README's HeadroomClient code block, run as written against the fake upstream; the
test fills in its placeholders (``messages=[...]``, ``base``) and the environment."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import openai
import pytest

from headroom import HeadroomClient
from tests.client.helpers import LOG, openai_turn
from tests.proxy.fake_upstream import FakeUpstream

README = Path(__file__).resolve().parents[2] / "README.md"


def _block() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Wrap the OpenAI or Anthropic SDK client", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "the README section has no python block"
    return match.group(1)


def test_readme_block_runs_against_the_fake(
    fake: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    url: str = fake.url  # type: ignore[attr-defined]
    monkeypatch.setenv("OPENAI_BASE_URL", url + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    code = _block()
    assert code.count("messages=[...]") == 2
    code = code.replace("messages=[...]", "messages=MESSAGES")
    namespace = {"MESSAGES": openai_turn(), "base": openai.OpenAI(max_retries=0)}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(README), "exec"), namespace)
    printed = out.getvalue()
    saved = re.fullmatch(r"Would save (\d+) tokens \((\d+\.\d)%\)\n", printed)
    assert saved and int(saved.group(1)) > 0 and float(saved.group(2)) > 50
    # The create call went out compressed; simulate made no call.
    assert len(fake.received) == 1
    assert len(fake.received[0].json()["messages"][2]["content"]) < len(LOG) / 10
    assert isinstance(namespace["client"], HeadroomClient)
    assert namespace["response"].choices[0].message.content == "done"
