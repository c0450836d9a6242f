"""Prices, spend and budgets, with ``genai-prices``' bundled price data (offline: its
updater is never called).

Each answered request is priced from the usage the provider reported (input, output,
cache reads and writes). Savings are an estimate: the tokens compression removed, priced
at the cached-input rate when the request's prefix hit the provider's cache (those tokens
would mostly have been cache reads) and at the input rate otherwise.

A budget is checked before a request is forwarded and charged after it is answered, so
requests already in flight when the budget runs out still finish: spend may overshoot by
at most the requests in flight (about one per worker under steady load).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .shared import SharedCounters

log = logging.getLogger("headroom.proxy")

PERIODS = {"hourly": ("%Y%m%d%H", 2 * 3600), "daily": ("%Y%m%d", 2 * 86400),
           "monthly": ("%Y%m", 32 * 86400)}  # fmt: skip


def bucket(period: str, now: float | None = None) -> str:
    fmt, _ = PERIODS[period]
    return time.strftime(fmt, time.gmtime(time.time() if now is None else now))


@lru_cache(maxsize=1)
def _prices() -> Any:
    import genai_prices

    return genai_prices


def available() -> bool:
    try:
        _prices()
    except ImportError:
        return False
    return True


def price(model: str, provider: str, usage: dict[str, int], saved: int = 0) -> tuple[float, float]:
    """(cost, estimated savings) in USD; (0, 0) for a model the price data lacks."""
    if not model or not usage:
        return 0.0, 0.0
    gp = _prices()
    provider_id = provider if provider in ("anthropic", "openai") else None
    try:
        calc = gp.calc_price(
            gp.Usage(
                input_tokens=usage.get("input", 0),
                output_tokens=usage.get("output", 0),
                cache_read_tokens=usage.get("cache_read", 0),
                cache_write_tokens=usage.get("cache_write", 0),
            ),
            model_ref=model,
            provider_id=provider_id,
        )
        cost = float(calc.total_price)
        savings = 0.0
        if saved > 0:
            cached = saved if usage.get("cache_read", 0) > 0 else 0
            est = gp.calc_price(
                gp.Usage(input_tokens=saved, cache_read_tokens=cached),
                model_ref=model,
                provider_id=provider_id,
            )
            savings = float(est.total_price)
        return cost, savings
    except Exception:  # an unknown model or provider: not priced
        return 0.0, 0.0


@dataclass(frozen=True)
class BudgetExceeded:
    limit: float
    spent: float
    period: str
    scope: str


class Costs:
    """Spend and savings per period, and an optional budget over them."""

    def __init__(
        self,
        counters: SharedCounters,
        budget: float = 0.0,
        period: str = "daily",
        scope: str = "global",
    ) -> None:
        if period not in PERIODS:
            raise ValueError(f"budget period must be one of {sorted(PERIODS)}")
        if scope not in ("client", "global"):
            raise ValueError("budget scope must be client or global")
        self.counters = counters
        self.budget = budget
        self.period = period
        self.scope = scope

    def _budget_key(self, tenant: str, now: float | None = None) -> str:
        who = tenant if self.scope == "client" else "global"
        return f"spend:{self.period}:{bucket(self.period, now)}:{who}"

    async def check(self, tenant: str) -> BudgetExceeded | None:
        """None while under budget (or without one)."""
        if self.budget <= 0:
            return None
        key = self._budget_key(tenant)
        spent = (await self.counters.get([key]))[key]
        if spent >= self.budget:
            return BudgetExceeded(self.budget, spent, self.period, self.scope)
        return None

    async def record(self, cost: float, savings: float, tenant: str) -> None:
        now = time.time()
        values: dict[str, float] = {}
        for period in PERIODS:
            b = bucket(period, now)
            values[f"spend:{period}:{b}:global"] = cost
            values[f"savings:{period}:{b}:global"] = savings
        if self.budget > 0 and self.scope == "client":
            values[self._budget_key(tenant, now)] = cost
        await self.counters.add(values, ttl=PERIODS["monthly"][1])

    async def summary(self) -> dict[str, Any]:
        now = time.time()
        names: list[str] = []
        for period in PERIODS:
            b = bucket(period, now)
            names += [f"spend:{period}:{b}:global", f"savings:{period}:{b}:global"]
        got = await self.counters.get(names)
        out: dict[str, Any] = {}
        for period in PERIODS:
            b = bucket(period, now)
            out[period] = {
                "period": b,
                "spend_usd": round(got[f"spend:{period}:{b}:global"], 6),
                "savings_usd_estimate": round(got[f"savings:{period}:{b}:global"], 6),
            }
        if self.budget > 0:
            out["budget"] = {"usd": self.budget, "period": self.period, "scope": self.scope}
        return out
