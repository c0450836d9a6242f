"""The savings ledger and the retrieval-round policy."""

from __future__ import annotations

import asyncio
import threading

import pytest

from headroom import compress
from headroom.errors import ConfigError
from headroom.ledger import SavingsLedger
from headroom.messages import tool_exchange
from headroom.retrieval_policy import Action, RetrievalPolicy, retrieval_mode
from tests.proxy.fake_upstream import service_log


def test_summary_schema_and_arithmetic() -> None:
    ledger = SavingsLedger()
    ledger.record(1000, 100, model="m")
    ledger.record(500, 500)
    ledger.add_retrieval(1, 300)
    s = ledger.summary()
    assert s.as_dict() == {
        "calls": 2,
        "tokens_before": 1500,
        "tokens_after": 600,
        "tokens_saved": 900,
        "retrieval_rounds": 1,
        "retrieval_tokens": 300,
        "net_tokens_saved": 600,
        "compression_ratio": 0.6,
    }
    assert [r.compressed for r in ledger.records()] == [True, False]
    assert ledger.total_tokens_saved == 900


def test_never_counts_a_loss_and_records_compress_results() -> None:
    ledger = SavingsLedger(keep=1)
    ledger.record(10, 50)
    result = compress(tool_exchange(service_log()), model="gpt-4o")
    rec = ledger.record_result(result, source="test")
    assert rec.tokens_saved == result.tokens_saved > 0
    assert ledger.summary().tokens_saved == result.tokens_saved
    assert len(ledger.records()) == 1


def test_threads_and_tasks_add_up() -> None:
    ledger = SavingsLedger()

    def work() -> None:
        for _ in range(2000):
            ledger.record(3, 1)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    async def tasks() -> None:
        async def one() -> None:
            for _ in range(100):
                ledger.add_retrieval(1, 1)
                await asyncio.sleep(0)

        await asyncio.gather(*(one() for _ in range(10)))

    asyncio.run(tasks())
    s = ledger.summary()
    assert (s.calls, s.tokens_saved, s.retrieval_rounds) == (16000, 32000, 1000)


def test_policy_decisions() -> None:
    p = RetrievalPolicy(max_rounds=2)
    assert p.decide(0, 0, 3) is Action.PASS
    assert p.decide(0, 1, 0) is Action.ANSWER
    assert p.decide(1, 2, 0) is Action.ANSWER
    assert p.decide(2, 1, 0) is Action.OVER_LIMIT
    assert p.decide(0, 1, 1) is Action.STRIP
    assert p.offers_tool(True) and not p.offers_tool(False)
    assert not p.offers_tool(True, caller_has_tool=True)
    assert not RetrievalPolicy("tool").offers_tool(True)
    assert not RetrievalPolicy("off").lossy and RetrievalPolicy("tool").lossy


def test_retrieval_settings_map_onto_modes() -> None:
    assert retrieval_mode(None) == retrieval_mode(True) == "auto"
    assert retrieval_mode(False) == "tool"
    assert retrieval_mode("off") == "off"
    with pytest.raises(ConfigError):
        retrieval_mode("sometimes")
    with pytest.raises(ConfigError):
        RetrievalPolicy(max_rounds=-1)
