"""The arena allocator: alignment, first fit by address, merging, and random use."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nbray.core.arena import ALIGNMENT, ArenaAllocator, layout

P = ALIGNMENT


def test_blocks_are_aligned_and_reused_lowest_first() -> None:
    arena = ArenaAllocator(16 * P)
    a, b, c = arena.allocate(10), arena.allocate(P + 1), arena.allocate(P)
    assert (a, b, c) == (0, P, 3 * P)
    arena.free(a)
    arena.free(b)  # merges with a
    assert arena.allocate(2 * P) == 0  # the freed low range, before untouched space
    assert arena.high_water == 4 * P
    arena.validate()


def test_a_full_arena_says_so_and_frees_merge_back() -> None:
    arena = ArenaAllocator(4 * P)
    blocks = [arena.allocate(P) for _ in range(4)]
    assert arena.allocate(1) is None and arena.largest_free == 0
    for offset in blocks[::2] + blocks[1::2]:
        arena.free(offset)  # type: ignore[arg-type]
    assert arena.largest_free == 4 * P and arena.used == 0
    arena.validate()


def test_layout_places_buffers_on_aligned_offsets() -> None:
    size, offsets = layout(10, (P + 100, 7))
    assert offsets == (P, 3 * P) and size == 4 * P
    assert layout(0, ()) == (ALIGNMENT, ())


def test_tiny_capacities_are_refused() -> None:
    with pytest.raises(ValueError, match="at least"):
        ArenaAllocator(P - 1)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(1, 5 * P)), max_size=80))
def test_random_use_keeps_blocks_disjoint_and_covering(ops: list[tuple[bool, int]]) -> None:
    arena = ArenaAllocator(64 * P)
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
