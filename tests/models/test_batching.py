"""`MicroBatcher`: windowing, grouping, size bound, error fan-out, a free event loop."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from phalanx.models.batching import MicroBatcher


async def test_concurrent_requests_share_one_batch_and_keep_order() -> None:
    seen: list[list[int]] = []

    def run(batch: list[int]) -> list[int]:
        seen.append(batch)
        return [x * 10 for x in batch]

    batcher = MicroBatcher(run, window_s=0.05, max_batch_size=16)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(10)))
    assert results == [i * 10 for i in range(10)]
    assert seen == [list(range(10))]
    await batcher.aclose()


async def test_groups_by_key_and_respects_max_batch_size() -> None:
    seen: list[list[int]] = []

    def run(batch: list[int]) -> list[int]:
        seen.append(batch)
        return batch

    batcher = MicroBatcher(run, window_s=0.05, max_batch_size=4, key=lambda x: x % 2)
    assert await asyncio.gather(*(batcher.submit(i) for i in range(12))) == list(range(12))
    assert all(len(b) <= 4 for b in seen)
    assert all(len({x % 2 for x in b}) == 1 for b in seen)
    assert sorted(x for b in seen for x in b) == list(range(12))
    assert batcher.stats.requests == 12 and batcher.stats.batches == len(seen)
    await batcher.aclose()


async def test_error_fails_every_request_of_the_batch_only() -> None:
    def run(batch: list[int]) -> list[int]:
        if 3 in batch:
            raise ValueError("bad row")
        return batch

    batcher = MicroBatcher(run, window_s=0.02, key=lambda x: x >= 3)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(5)), return_exceptions=True)
    assert results[:3] == [0, 1, 2]
    assert all(isinstance(r, ValueError) for r in results[3:])
    assert await batcher.submit(1) == 1  # the worker survived
    await batcher.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await batcher.submit(1)


async def test_batch_runs_off_the_event_loop() -> None:
    loop_thread = threading.get_ident()
    threads: list[int] = []

    def run(batch: list[int]) -> list[int]:
        threads.append(threading.get_ident())
        time.sleep(0.3)
        return batch

    batcher = MicroBatcher(run, window_s=0.0)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    tick_task = asyncio.create_task(ticker())
    assert await batcher.submit(5) == 5
    tick_task.cancel()
    assert threads and threads[0] != loop_thread
    assert ticks >= 5  # the loop kept running while the batch slept
    await batcher.aclose()


def test_usable_from_several_event_loops() -> None:
    batcher = MicroBatcher(lambda b: [x + 1 for x in b], window_s=0.0)
    assert asyncio.run(batcher.submit(1)) == 2
    assert asyncio.run(batcher.submit(2)) == 3


def test_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="max_batch_size"):
        MicroBatcher(lambda b: b, max_batch_size=0)
    with pytest.raises(ValueError, match="window_s"):
        MicroBatcher(lambda b: b, window_s=-1)


async def test_cancelled_waiter_is_left_out_and_others_complete() -> None:
    seen: list[list[int]] = []

    def run(batch: list[int]) -> list[int]:
        seen.append(batch)
        return batch

    batcher = MicroBatcher(run, window_s=0.1)
    tasks = [asyncio.create_task(batcher.submit(i)) for i in range(3)]
    await asyncio.sleep(0.02)  # all queued, window still open
    tasks[1].cancel()
    assert await tasks[0] == 0 and await tasks[2] == 2
    with pytest.raises(asyncio.CancelledError):
        await tasks[1]
    assert seen == [[0, 2]]
    await batcher.aclose()
