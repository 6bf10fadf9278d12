"""The tabu search's compiled kernels against plain references: heads and tails, relocations
(checked by the independent checker), critical paths, the N7 moves, the tabu table, the random
draws, and a search that resumes exactly where a slice stopped."""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Iterator

import numpy as np
import pytest

from makespan.models.jssp import kernels
from makespan.models.jssp.benchmarks import load_named
from makespan.models.jssp.check import check
from makespan.models.jssp.dispatch import giffler_thompson
from makespan.models.jssp.instance import JobShopInstance, JobShopSolution
from makespan.models.jssp.kernels import Graph
from makespan.models.jssp.tabu import (
    TabuRun,
    build_graph,
    kernels_ready,
    run_tabu,
    start_times,
)

FAR = time.monotonic() + 1e9  # a deadline that never cuts


@pytest.fixture(scope="module", autouse=True)
def _compiled() -> None:
    """Load (or compile) the kernels once, before any test uses them."""
    assert kernels_ready(FAR, lambda: False)


def _random_instance(rng: random.Random, zero_durations: bool = True) -> JobShopInstance:
    """Up to 6 jobs of up to 6 operations on up to 4 machines, with machine revisits."""
    num_machines = rng.randint(1, 4)
    durations = [0, 1, 2, 3, 5, 8] if zero_durations else [1, 2, 3, 5, 8]
    rows = [
        [(rng.randrange(num_machines), rng.choice(durations)) for _ in range(rng.randint(1, 6))]
        for _ in range(rng.randint(1, 6))
    ]
    return JobShopInstance.from_matrices(
        [[m for m, _ in row] for row in rows], [[d for _, d in row] for row in rows]
    )


def _instances() -> Iterator[JobShopInstance]:
    rng = random.Random(11)
    yield from (_random_instance(rng) for _ in range(40))
    for name in ("ft06", "la01"):
        instance = load_named(name)
        assert instance is not None
        yield instance


def _graph(instance: JobShopInstance, rule: str = "mwkr") -> Graph:
    return build_graph(instance, giffler_thompson(instance, rule).starts)


def _reference_paths(g: Graph) -> tuple[list[int], list[int]]:
    """Ends and tails by repeated relaxation over every arc until nothing changes."""
    n = g.order.shape[0]
    end = [0] * (n + 1)
    tail = [0] * (n + 1)
    changed = True
    while changed:
        changed = False
        for x in range(n):
            e = max(end[g.jp[x]], end[g.mp[x]]) + int(g.dur[x])
            t = max(tail[g.js[x]], tail[g.ms[x]]) + int(g.dur[x])
            if (e, t) != (end[x], tail[x]):
                end[x], tail[x] = e, t
                changed = True
    return end[:n], tail[:n]


def _assert_consistent(instance: JobShopInstance, g: Graph) -> None:
    """Ends and tails as the reference computes them, a topological order, and a schedule that
    the independent checker accepts with the kernels' makespan."""
    n = g.order.shape[0]
    end, tail = _reference_paths(g)
    assert g.end[:n].tolist() == end
    assert g.tail[:n].tolist() == tail
    assert sorted(g.order.tolist()) == list(range(n))
    assert all(g.pos[g.order[p]] == p for p in range(n))
    for x in range(n):
        for y in (g.js[x], g.ms[x]):
            assert y == n or g.pos[x] < g.pos[y], f"arc {x}->{y} against the order"
    starts = start_times(g, kernels.new_snapshot(g), instance)
    report = check(instance, JobShopSolution.from_starts(instance, [list(r) for r in starts]))
    assert report.feasible, report.violations
    assert report.objective == kernels.makespan(g)


def _machine_sequence(g: Graph, machine: int) -> list[int]:
    n = g.order.shape[0]
    out = []
    x = int(g.mlast[machine])
    while x != n:
        out.append(x)
        x = int(g.mp[x])
    return out[::-1]


def _arrays(g: Graph) -> list[list[int]]:
    """The schedule's arrays; the sentinel's links are scratch, its end and tail stay 0."""
    links = (g.mp[:-1], g.ms[:-1], g.mlast, g.order, g.pos[:-1])
    return [a.tolist() for a in (*links, g.end, g.tail)]


def test_heads_and_tails_match_a_plain_relaxation() -> None:
    for instance in _instances():
        for rule in ("spt", "mwkr"):
            _assert_consistent(instance, _graph(instance, rule))


def test_relocations_keep_the_schedule_feasible_or_change_nothing() -> None:
    rng = random.Random(5)
    refused = 0
    for instance in _instances():
        g = _graph(instance)
        n = g.order.shape[0]
        for _ in range(30):
            x = rng.randrange(n)
            others = [y for y in _machine_sequence(g, int(g.mach[x])) if y != x]
            k = rng.randint(0, len(others))
            pred = others[k - 1] if k > 0 else n
            succ = others[k] if k < len(others) else n
            before = _arrays(g)
            if kernels.relocate(g, x, pred, succ):
                assert _machine_sequence(g, int(g.mach[x])) == [*others[:k], x, *others[k:]]
                _assert_consistent(instance, g)
            else:
                refused += 1
                assert _arrays(g) == before
    assert refused > 0  # random moves close cycles too: that branch was exercised


def test_a_move_that_closes_a_cycle_is_refused() -> None:
    # job 0: m0 then m1; job 1: m1 then m0. Sequences m0: (0,0), (1,1); m1: (0,1), (1,0).
    instance = JobShopInstance.from_matrices([[0, 1], [1, 0]], [[1, 1], [1, 1]])
    g = build_graph(instance, ((0, 1), (2, 3)))
    before = _arrays(g)
    # (1,1) first on m0 would need (0,0) -> (0,1) -> (1,0) -> (1,1) -> (0,0).
    assert not kernels.relocate(g, 3, 4, 0)
    assert _arrays(g) == before


def test_a_cyclic_initial_schedule_is_rejected() -> None:
    instance = JobShopInstance.from_matrices([[0, 1], [1, 0]], [[1, 1], [1, 1]])
    with pytest.raises(ValueError, match="cycle"):
        build_graph(instance, ((5, 0), (1, 2)))


def test_critical_path_is_tight_and_as_long_as_the_makespan() -> None:
    for instance in _instances():
        g = _graph(instance, "lpt")
        path = kernels.new_path(g)
        kernels.critical_path(g, path, kernels.new_stream(0))
        blocks, length = path.size
        ops = path.ops[:length].tolist()
        assert g.end[ops[0]] - g.dur[ops[0]] == 0
        assert g.end[ops[-1]] == kernels.makespan(g)
        for a, b in itertools.pairwise(ops):
            assert g.end[a] == g.end[b] - g.dur[b], "each operation starts as the one before ends"
        for k in range(blocks):
            block = ops[path.start[k] : path.start[k + 1]]
            assert block and len({int(g.mach[x]) for x in block}) == 1
            for a, b in itertools.pairwise(block):
                assert g.ms[a] == b
        assert path.start[blocks] == length


def _n7_moves(size: int, first: bool, last: bool) -> list[tuple[int, int, bool]]:
    """N7 as the pure-Python search listed it: (i, el, forward) within one block."""
    if size < 2:
        return []
    if size == 2:
        return [(0, 1, True)]
    kl, cap = size - 1, kernels.MAX_JUMP
    moves = [(0, el, True) for el in range(1, min(kl, cap + 1)) if not first]
    moves += [(0, kl, True), (0, kl, False)]
    if not last:
        moves += [(i, kl, False) for i in range(max(1, kl - cap), kl)]
        moves += [(i, kl, True) for i in range(max(1, kl - cap), kl - 1)]
    if not first:
        moves += [(0, el, False) for el in range(2, min(kl, cap + 1))]
    return moves


@pytest.mark.parametrize("size", [1, 2, 3, 4, 8, 9, 20])
def test_block_moves_are_n7_in_order(size: int) -> None:
    out = np.zeros((4 * size + 8, 3), dtype=np.int64)
    for first in (False, True):
        for last in (False, True):
            count = kernels._block_moves(out, 5, size, first, last)
            got = [(int(a) - 5, int(b) - 5, bool(f)) for a, b, f in out[:count]]
            assert got == _n7_moves(size, first, last)


def test_tabu_table_keeps_live_keys_through_purge_and_growth() -> None:
    table = kernels.new_tabu_table(64)
    expiry = {key * 7919: 10 + key % 20 for key in range(25)}
    for key, until in expiry.items():
        kernels._store(table.keys, table.expiry, table.used, key, until)
    kernels._store(table.keys, table.expiry, table.used, 0, 99)  # overwrite, not a new key
    expiry[0] = 99
    assert table.used[0] == 25
    assert all(kernels.tabu_get(table, key) == until for key, until in expiry.items())
    assert kernels.tabu_get(table, 12345) == 0
    kernels.tabu_purge(table, 20)
    live = {key: until for key, until in expiry.items() if until > 20}
    assert table.used[0] == len(live)
    assert all(kernels.tabu_get(table, key) == live.get(key, 0) for key in expiry)
    bigger = kernels.tabu_copy(table, 256)
    assert bigger.keys.shape[0] == 256 and bigger.used[0] == len(live)
    assert all(kernels.tabu_get(bigger, key) == live.get(key, 0) for key in expiry)
    kernels.tabu_clear(bigger)
    assert bigger.used[0] == 0 and kernels.tabu_get(bigger, max(live)) == 0


@pytest.mark.parametrize("seed", [0, 1, 2**40 + 3])
def test_random_draws_are_those_of_python_random(seed: int) -> None:
    python = random.Random(seed)
    stream = kernels.new_stream(seed)
    for k in range(2000):  # several regenerations of the 624-word state
        n = 1 + (k * 7919) % (1 << (1 + k % 31))
        assert kernels.randbelow(stream, n) == python.randrange(n)


def test_a_search_resumes_exactly_where_a_slice_stopped() -> None:
    instance = load_named("ft10")
    assert instance is not None
    start = giffler_thompson(instance, "mwkr")

    def search() -> TabuRun:
        graph = build_graph(instance, start.starts)
        return TabuRun(instance, graph, seed=4, lower_bound=0, max_stall=10**9, iteration_cap=-1)

    whole, sliced = search(), search()
    whole._run(700)
    for _ in range(100):
        sliced._run(7)
    assert sliced.iterations == whole.iterations == 700
    assert sliced.best_makespan == whole.best_makespan < start.makespan
    assert _arrays(sliced.graph) == _arrays(whole.graph)
    assert sliced.best_starts(instance) == whole.best_starts(instance)


def test_the_tabu_table_grows_when_live_keys_fill_it() -> None:
    instance = load_named("ta01")
    assert instance is not None
    start = giffler_thompson(instance, "spt")
    graph = build_graph(instance, start.starts)
    search = TabuRun(instance, graph, seed=0, lower_bound=0, max_stall=10**9, iteration_cap=300)
    search.table = kernels.new_tabu_table(16)  # too small for even one move's keys
    search.run_until(FAR, lambda: False)
    assert search.iterations == 300
    assert search.table.keys.shape[0] > 16
    _assert_consistent(instance, search.graph)


def test_should_stop_is_asked_between_slices() -> None:
    instance = load_named("ft10")
    assert instance is not None
    start = giffler_thompson(instance, "spt")
    _, iterations = run_tabu(instance, start, deadline=FAR, should_stop=lambda: True)
    assert iterations == 0
    asked = []

    def stop_on_second_look() -> bool:
        asked.append(True)
        return len(asked) > 1

    found, iterations = run_tabu(
        instance, start, deadline=FAR, lower_bound=0, should_stop=stop_on_second_look
    )
    assert len(asked) == 2 and 0 < iterations < 10**6
    assert found.makespan <= start.makespan
