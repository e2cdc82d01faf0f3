"""TokenCache: the app-token reuse Feishu and QQ Bot share."""

from __future__ import annotations

import asyncio

from gatewayctl.workers.base import TokenCache


class FakeClock:
    def __init__(self):
        self.t = 1000.0

    def monotonic(self):
        return self.t


def test_reuse_until_the_margin_then_refresh_force_and_invalidate():
    clock = FakeClock()
    cache = TokenCache(clock, margin_s=300)
    issued = iter(f"t{i}" for i in range(10))

    async def fetch():
        return next(issued), 7200.0

    async def scenario():
        assert await cache.get(fetch) == "t0"
        clock.t += 7200 - 300 - 1
        assert await cache.get(fetch) == "t0"  # still inside the lifetime minus the margin
        clock.t += 1
        assert await cache.get(fetch) == "t1"  # refreshed 300 s early
        assert await cache.get(fetch, force=True) == "t2"
        cache.invalidate()
        assert await cache.get(fetch) == "t3"
        assert cache.fetches == 4

    asyncio.run(scenario())


def test_short_lifetime_refreshes_at_half_not_immediately():
    clock = FakeClock()
    cache = TokenCache(clock, margin_s=300)
    issued = iter(["a", "b"])

    async def fetch():
        return next(issued), 100.0  # shorter than twice the margin

    async def scenario():
        assert await cache.get(fetch) == "a"
        clock.t += 49
        assert await cache.get(fetch) == "a"
        clock.t += 1
        assert await cache.get(fetch) == "b"

    asyncio.run(scenario())


def test_concurrent_callers_share_one_fetch():
    cache = TokenCache(FakeClock(), margin_s=60)
    calls = []

    async def fetch():
        calls.append(1)
        await asyncio.sleep(0.01)
        return "only", 7200.0

    async def scenario():
        return await asyncio.gather(*(cache.get(fetch) for _ in range(5)))

    assert asyncio.run(scenario()) == ["only"] * 5
    assert len(calls) == 1
