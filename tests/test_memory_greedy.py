"""Greedy memory placement: best fit is valid, aligned and agrees with a plain reference
implementation; place() keeps to its stopping rules and reaches max_live on a real trace."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from makespan.models.memory_mapping.greedy import (
    ORDERINGS,
    OrderFn,
    best_fit,
    decreasing_size_order,
    overlap_violations,
    peak,
    place,
)
from makespan.models.memory_mapping.instance import max_live

IREE = (
    Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "memory" / "idealloc" / "iree"
)


def arrays(*rows: list[int]) -> tuple[np.ndarray, ...]:
    return tuple(np.array(row, dtype=np.int64) for row in rows)


def ones(n: int) -> np.ndarray:
    return np.ones(n, dtype=np.int64)


def reference_best_fit(
    lower: np.ndarray,
    upper: np.ndarray,
    size: np.ndarray,
    alignment: np.ndarray,
    order: np.ndarray,
    first_fit: bool,
) -> np.ndarray:
    """The placement rule written out directly: sort the overlapping placed buffers, scan gaps."""
    offsets = np.zeros(len(size), dtype=np.int64)
    placed = np.zeros(len(size), dtype=bool)
    occupies = (upper > lower) & (size > 0)
    for b in order:
        placed[b] = True
        if not occupies[b]:
            continue
        near = np.flatnonzero(placed & occupies & (lower < upper[b]) & (upper > lower[b]))
        near = near[near != b]
        near = near[np.argsort(offsets[near], kind="stable")]
        al = int(alignment[b])
        top, best, best_gap = 0, -1, 0
        for j in near:
            start, end = int(offsets[j]), int(offsets[j] + size[j])
            aligned = -(-top // al) * al
            fits = start > top and aligned + size[b] <= start
            if fits and (best < 0 or (not first_fit and start - top < best_gap)):
                best, best_gap = aligned, start - top
            top = max(top, end)
        offsets[b] = best if best >= 0 else -(-top // al) * al
    return offsets


def random_instance(n: int, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    lower = rng.integers(0, 300, n)
    upper = lower + rng.geometric(0.05, n)
    upper[:5] = lower[:5]  # empty lifetimes occupy nothing
    size = rng.integers(1, 1000, n)
    size[5:8] = 0
    alignment = rng.choice([1, 2, 8, 64], n)
    return tuple(np.asarray(a, dtype=np.int64) for a in (lower, upper, size, alignment))


# --------------------------------------------------------------------------------- max_live


def test_max_live_lifetimes_are_half_open() -> None:
    lower, upper, size = arrays([0, 2], [2, 4], [3, 5])
    assert max_live(lower, upper, size) == 5
    lower, upper, size = arrays([0, 1], [2, 4], [3, 5])
    assert max_live(lower, upper, size) == 8


def test_max_live_ignores_empty_lifetimes() -> None:
    lower, upper, size = arrays([0, 1, 1], [3, 1, 2], [4, 100, 2])
    assert max_live(lower, upper, size) == 6
    assert max_live(*arrays([], [], [])) == 0


# ------------------------------------------------------------------------ overlap_violations


def test_violations_count_pairs_and_misalignment() -> None:
    lower, upper, size = arrays([0, 1, 2], [2, 3, 4], [4, 4, 4])
    assert overlap_violations(lower, upper, size, ones(3), np.array([0, 0, 0])) == 2
    assert overlap_violations(lower, upper, size, ones(3), np.array([0, 4, 0])) == 0
    assert overlap_violations(lower, upper, size, np.array([1, 8, 1]), np.array([0, 4, 0])) == 1


# -------------------------------------------------------------------------------- best_fit


def test_buffers_alive_together_stack() -> None:
    lower, upper, size = arrays([0, 1], [3, 4], [4, 6])
    offsets = best_fit(lower, upper, size, ones(2), decreasing_size_order(lower, upper, size))
    assert offsets.tolist() == [6, 0]
    assert peak(offsets, size) == 10


def test_disjoint_and_touching_lifetimes_share_addresses() -> None:
    lower, upper, size = arrays([0, 2, 7], [2, 5, 9], [8, 3, 5])
    offsets = best_fit(lower, upper, size, ones(3), decreasing_size_order(lower, upper, size))
    assert offsets.tolist() == [0, 0, 0]
    assert peak(offsets, size) == 8 == max_live(lower, upper, size)


def test_tightest_gap_versus_lowest_gap() -> None:
    # buffers 0..4 leave the last one the gaps [2, 12) and [15, 18) during [5, 10)
    lower, upper, size = arrays([0, 0, 0, 0, 0, 5], [10, 5, 10, 5, 10, 10], [2, 10, 3, 3, 1, 3])
    order = np.arange(6)
    assert best_fit(lower, upper, size, ones(6), order).tolist() == [0, 2, 12, 15, 18, 15]
    lowest = best_fit(lower, upper, size, ones(6), order, first_fit=True)
    assert lowest.tolist() == [0, 2, 12, 15, 18, 2]


def test_alignment_moves_a_buffer_up() -> None:
    lower, upper, size, alignment = arrays([0, 0], [2, 2], [5, 3], [1, 4])
    offsets = best_fit(lower, upper, size, alignment, np.arange(2))
    assert offsets.tolist() == [0, 8]


def test_gap_too_small_once_aligned_is_skipped() -> None:
    # the gap [3, 7) holds 4 bytes, but not 4 bytes at a multiple of 4
    lower, upper, size, alignment = arrays([0, 0, 0, 2], [4, 2, 4, 4], [3, 4, 2, 4], [1, 1, 1, 4])
    offsets = best_fit(lower, upper, size, alignment, np.arange(4))
    assert offsets.tolist() == [0, 3, 7, 12]


@pytest.mark.parametrize("first_fit", [False, True])
@pytest.mark.parametrize("seed", [1, 2])
def test_matches_reference_on_random_instances(seed: int, first_fit: bool) -> None:
    # 1500 buffers fill several 512-entry blocks of the offset-sorted heap, so blocks split
    lower, upper, size, alignment = random_instance(1500, seed)
    order = np.random.default_rng(seed).permutation(1500).astype(np.int64)
    offsets = best_fit(lower, upper, size, alignment, order, first_fit=first_fit)
    expected = reference_best_fit(lower, upper, size, alignment, order, first_fit)
    np.testing.assert_array_equal(offsets, expected)
    assert overlap_violations(lower, upper, size, alignment, offsets) == 0
    assert peak(offsets, size) >= max_live(lower, upper, size)


@pytest.mark.parametrize(("name", "ordering"), ORDERINGS)
def test_orderings_give_valid_placements(name: str, ordering: OrderFn) -> None:
    lower, upper, size, alignment = random_instance(400, 7)
    order = ordering(lower, upper, size)
    assert sorted(order.tolist()) == list(range(400)), name
    offsets = best_fit(lower, upper, size, alignment, order)
    assert overlap_violations(lower, upper, size, alignment, offsets) == 0
    assert np.all(offsets % alignment == 0)


# ----------------------------------------------------------------------------------- place

# decreasing size gives 9 here, but max_live is 7 and some order reaches it
Int64s = np.ndarray[tuple[int], np.dtype[np.int64]]
HARD: tuple[Int64s, Int64s, Int64s] = (
    np.array([1, 0, 2, 0, 2], dtype=np.int64),
    np.array([3, 1, 5, 2, 3], dtype=np.int64),
    np.array([2, 4, 3, 3, 2], dtype=np.int64),
)


def _counted(answer: bool) -> tuple[list[int], Callable[[], bool]]:
    """A ``should_stop`` that always gives ``answer``, and the list that counts its calls."""
    calls: list[int] = []

    def stop() -> bool:
        calls.append(1)
        return answer

    return calls, stop


def test_place_stops_when_told() -> None:
    calls, stop = _counted(True)
    offsets, method = place(*HARD, ones(5), time_budget_s=60.0, should_stop=stop)
    assert calls == [1]
    assert method == "decreasing_size/best_fit"
    assert peak(offsets, HARD[2]) == 9


def test_place_keeps_going_until_it_reaches_max_live() -> None:
    calls, stop = _counted(False)
    offsets, method = place(*HARD, ones(5), time_budget_s=10.0, should_stop=stop)
    assert peak(offsets, HARD[2]) == 7 == max_live(*HARD)
    assert overlap_violations(*HARD, ones(5), offsets) == 0
    assert calls, "should_stop is polled between runs"
    assert method != "decreasing_size/best_fit"


def test_place_at_the_bound_does_not_search_further() -> None:
    lower, upper, size = arrays([0, 0, 2], [2, 4, 4], [3, 1, 3])

    def never() -> bool:
        raise AssertionError("polled after reaching max_live")

    offsets, method = place(lower, upper, size, ones(3), time_budget_s=60.0, should_stop=never)
    assert peak(offsets, size) == 4 == max_live(lower, upper, size)
    assert method == "decreasing_size/best_fit"


def test_place_with_no_budget_runs_one_ordering() -> None:
    lower, upper, size, alignment = random_instance(300, 3)
    offsets, method = place(
        lower, upper, size, alignment, time_budget_s=0.0, should_stop=lambda: False
    )
    assert method == "decreasing_size/best_fit"
    assert overlap_violations(lower, upper, size, alignment, offsets) == 0


def test_place_empty_instance() -> None:
    empty = np.zeros(0, dtype=np.int64)
    offsets, _ = place(empty, empty, empty, empty, time_budget_s=1.0, should_stop=lambda: False)
    assert offsets.shape == (0,)


def test_place_rejects_zero_alignment() -> None:
    lower, upper, size = arrays([0], [1], [1])
    with pytest.raises(ValueError, match="alignment"):
        place(lower, upper, size, np.zeros(1, np.int64), time_budget_s=1, should_stop=lambda: False)


def test_place_reaches_max_live_on_iree_trace() -> None:
    path = IREE / "iree_first.csv"
    if not path.exists():
        pytest.skip(f"{IREE} not present")
    data = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.int64, usecols=(1, 2, 3))
    lower, upper, size = (np.ascontiguousarray(data[:, k]) for k in range(3))
    alignment = ones(len(size))
    offsets, _ = place(lower, upper, size, alignment, time_budget_s=5.0, should_stop=lambda: False)
    assert len(size) == 56
    assert overlap_violations(lower, upper, size, alignment, offsets) == 0
    assert max_live(lower, upper, size) == 5706112  # as recorded in the benchmark README
    assert peak(offsets, size) <= 1.01 * 5706112
