"""The arena allocator: alignment, first fit by address, merging, and random use."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nbray.core.arena import ALIGNMENT, ArenaAllocator, layout


def test_blocks_are_aligned_and_reused_lowest_first() -> None:
    arena = ArenaAllocator(1024)
    a, b, c = arena.allocate(10), arena.allocate(100), arena.allocate(64)
    assert (a, b, c) == (0, 64, 192)
    arena.free(a)
    arena.free(b)  # merges with a
    assert arena.allocate(150) == 0  # the freed low range, before untouched space
    assert arena.high_water == 256
    arena.validate()


def test_a_full_arena_says_so_and_frees_merge_back() -> None:
    arena = ArenaAllocator(256)
    blocks = [arena.allocate(64) for _ in range(4)]
    assert arena.allocate(1) is None and arena.largest_free == 0
    for offset in blocks[::2] + blocks[1::2]:
        arena.free(offset)  # type: ignore[arg-type]
    assert arena.largest_free == 256 and arena.used == 0
    arena.validate()


def test_layout_places_buffers_on_aligned_offsets() -> None:
    size, offsets = layout(10, (100, 7))
    assert offsets == (64, 192) and size == 256
    assert layout(0, ()) == (ALIGNMENT, ())


def test_tiny_capacities_are_refused() -> None:
    with pytest.raises(ValueError, match="at least"):
        ArenaAllocator(10)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(1, 300)), max_size=80))
def test_random_use_keeps_blocks_disjoint_and_covering(ops: list[tuple[bool, int]]) -> None:
    arena = ArenaAllocator(4096)
    live: list[int] = []
    for allocate, size in ops:
        if allocate or not live:
            offset = arena.allocate(size)
            if offset is not None:
                live.append(offset)
        else:
            arena.free(live.pop(size % len(live)))
        arena.validate()
    assert arena.used == sum(arena.size_of(o) for o in live)
