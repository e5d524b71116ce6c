"""The block prefix cache and the loop detector (pure logic, real tensors)."""

from __future__ import annotations

import torch
from hypothesis import given
from hypothesis import strategies as st

from phalanx.models.prefix_cache import PrefixCache, block_hashes
from phalanx.models.row_state import loop_period


def _kv(tokens: int, layers: int = 2, fill: float = 0.0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    base = torch.arange(tokens, dtype=torch.float32).view(1, tokens, 1).expand(3, tokens, 4) + fill
    return [(base.clone() + layer, -base.clone() - layer) for layer in range(layers)]


def test_block_hashes_name_whole_prefixes() -> None:
    a = block_hashes(list(range(10)), 4)
    assert len(a) == 2  # the partial third block has no hash
    b = block_hashes([0, 1, 2, 3, 9, 9, 9, 9], 4)
    assert a[0] == b[0] and a[1] != b[1]
    # the same block after a different prefix is a different block
    assert block_hashes([7, 7, 7, 7, 4, 5, 6, 7], 4)[1] != a[1]


def test_store_match_gather_round_trip() -> None:
    cache = PrefixCache(block_tokens=4, budget_bytes=1 << 20)
    hashes = block_hashes(list(range(12)), 4)
    assert cache.match(hashes) == 0
    assert cache.store(hashes, _kv(12)) == 3
    assert cache.store(hashes[:2], _kv(8)) == 0  # already there: only touched
    assert cache.match(hashes) == 3
    assert cache.match(block_hashes([*range(8), 0, 0, 0, 0], 4)) == 2
    got = cache.gather(hashes[1:3])
    assert got is not None and got[1][0].shape == (1, 3, 8, 4)
    assert torch.equal(got[1][0][0], _kv(12)[1][0][:, 4:12])


def test_lru_eviction_within_the_budget() -> None:
    one_block = 2 * 2 * 3 * 4 * 4 * 4  # layers x (k, v) x heads x tokens x dim x float32
    cache = PrefixCache(block_tokens=4, budget_bytes=2 * one_block)
    first = block_hashes(list(range(8)), 4)
    cache.store(first, _kv(8))
    assert len(cache) == 2 and cache.used_bytes == 2 * one_block
    cache.match(first[:1])  # touch the first block: the second is now the oldest
    other = block_hashes([5] * 4, 4)
    cache.store(other, _kv(4, fill=1.0))
    assert len(cache) == 2 and cache.stats.evicted_blocks == 1
    assert cache.match(first) == 1 and cache.match(other) == 1
    assert cache.gather(first) is None  # a block of the chain is gone
    off = PrefixCache(block_tokens=4, budget_bytes=0)
    assert not off.enabled and off.store(first, _kv(8)) == 0


@given(
    unit=st.lists(st.integers(0, 50), min_size=1, max_size=64),
    head=st.lists(st.integers(100, 200), max_size=10),
)
def test_a_repeated_unit_is_a_loop(unit: list[int], head: list[int]) -> None:
    repeats = max(4, -(-32 // len(unit))) + 1
    period = loop_period(head + unit * repeats)
    assert period and len(unit) % period == 0


@given(st.lists(st.integers(0, 10**6), min_size=0, max_size=200, unique=True))
def test_distinct_tokens_are_no_loop(tokens: list[int]) -> None:
    assert loop_period(tokens) == 0


def test_two_repeats_of_a_long_unit_are_no_loop_three_are() -> None:
    unit = list(range(20))
    assert loop_period(unit * 2) == 0 and loop_period([99, *unit * 3]) == 20
