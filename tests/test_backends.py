"""One behaviour spec for every backend: each IR constraint kind, status and stop semantics."""

from __future__ import annotations

import itertools
import threading
import time

import pytest
from conftest import BACKENDS

from makespan.models.jssp.benchmarks import load_named
from makespan.models.jssp.compile import compile_instance
from makespan.solvers.backend import SolveRequest
from makespan.solvers.backends import get_backend
from makespan.solvers.control import SolveRun
from makespan.solvers.ir import Model, ModelBuilder
from makespan.solvers.options import OptionsError
from makespan.solvers.result import Status, Termination

pytestmark = pytest.mark.parametrize("backend", BACKENDS)


def _solve(backend: str, model: Model, time_limit_s: float = 20.0) -> tuple[Status, float | None]:
    request = SolveRequest(model, time_limit_s, 1, 0, None)
    outcome = get_backend(backend).solve(request, SolveRun())
    return outcome.status, outcome.objective


def test_linear_with_enforcement(backend: str) -> None:
    b = ModelBuilder()
    x, flag = b.int_var(0, 10, "x"), b.bool_var("flag")
    b.add_linear(x, lb=7, enforce=[flag.lit()])
    b.add_linear(x, lb=2, enforce=[~flag.lit()])
    b.add_linear(flag, lb=1)
    b.minimize(x)
    assert _solve(backend, b.build()) == (Status.OPTIMAL, 7)


def _makespan_of(b: ModelBuilder, intervals: list[int], horizon: int) -> None:
    makespan = b.int_var(0, horizon, "makespan")
    b.add_max_equality(makespan, [b.interval_at(i).end for i in intervals])
    b.minimize(makespan)


def test_no_overlap_sequences_tasks(backend: str) -> None:
    b = ModelBuilder()
    intervals = [b.interval(b.int_var(0, 20, f"s{d}"), d, f"t{d}") for d in (2, 3, 4)]
    b.add_no_overlap(intervals)
    _makespan_of(b, intervals, 20)
    assert _solve(backend, b.build()) == (Status.OPTIMAL, 9)


def test_cumulative_respects_capacity(backend: str) -> None:
    b = ModelBuilder()
    intervals = [b.interval(b.int_var(0, 20, f"s{i}"), 4, f"t{i}") for i in range(3)]
    b.add_cumulative(intervals, [1, 1, 1], 2)
    _makespan_of(b, intervals, 20)
    assert _solve(backend, b.build()) == (Status.OPTIMAL, 8)


def test_no_overlap_2d_packs_rectangles(backend: str) -> None:
    b = ModelBuilder()
    xs = [b.interval(b.int_var(0, 1, f"x{i}"), 2, f"x{i}") for i in range(2)]
    ys = [b.interval(b.int_var(0, 10, f"y{i}"), 2, f"y{i}") for i in range(2)]
    b.add_no_overlap_2d(xs, ys)
    _makespan_of(b, ys, 12)
    assert _solve(backend, b.build()) == (Status.OPTIMAL, 4)


def test_optional_intervals_can_be_left_out(backend: str) -> None:
    b = ModelBuilder()
    present = [b.bool_var(f"p{i}") for i in range(2)]
    intervals = [
        b.interval(b.int_var(0, 1, f"s{i}"), 3, f"t{i}", presence=present[i].lit())
        for i in range(2)
    ]
    b.add_no_overlap(intervals)
    b.minimize(-(present[0] + present[1]))
    assert _solve(backend, b.build()) == (Status.OPTIMAL, -1)


def test_infeasible_is_proven(backend: str) -> None:
    b = ModelBuilder()
    x = b.int_var(0, 10, "x")
    b.add_linear(x, lb=5)
    b.add_linear(x, ub=3)
    b.minimize(x)
    assert _solve(backend, b.build()) == (Status.INFEASIBLE, None)


def _hard_model() -> Model:
    instance = load_named("ta21")  # 20x20: no backend proves it in seconds
    assert instance is not None
    return compile_instance(instance).ir


def test_time_limit_is_a_normal_outcome(backend: str) -> None:
    outcome = get_backend(backend).solve(SolveRequest(_hard_model(), 1.0, 1, 0, None), SolveRun())
    assert outcome.termination is Termination.TIME_LIMIT
    assert outcome.status in (Status.FEASIBLE, Status.UNKNOWN)


def test_stop_request_ends_the_solve_early(backend: str) -> None:
    model = _hard_model()
    control = SolveRun()
    threading.Timer(1.0, control.control.request_stop).start()
    started = time.monotonic()
    outcome = get_backend(backend).solve(SolveRequest(model, 60.0, 1, 0, None), control)
    assert time.monotonic() - started < 30
    assert outcome.termination is Termination.CANCELLED


MISSPELT = {"cpsat": "num_workrs: 2", "highs": "mip_rel_gapp=0.1", "pyomo:highs": "time_limit"}


def test_misspelt_parameter_is_rejected(backend: str) -> None:
    with pytest.raises(OptionsError, match="backend_params"):
        get_backend(backend).check_params(MISSPELT[backend])


def test_backend_parameters_apply(backend: str) -> None:
    good = {
        "cpsat": "linearization_level: 2",
        "highs": "presolve=off",
        "pyomo:highs": "presolve=off",
    }
    b = ModelBuilder()
    x = b.int_var(0, 10, "x")
    b.add_linear(x, lb=3)
    b.minimize(x)
    request = SolveRequest(b.build(), 10, 1, 0, good[backend])
    assert get_backend(backend).solve(request, SolveRun()).objective == 3


def _setup_model(durations: list[int], setup: list[list[int]]) -> Model:
    """One interval per group in a no-overlap with setups; minimise the makespan."""
    b = ModelBuilder()
    horizon = sum(durations) + sum(map(sum, setup))
    intervals = [
        b.interval(b.int_var(0, horizon, f"s{g}"), d, f"t{g}") for g, d in enumerate(durations)
    ]
    b.add_no_overlap_setup(intervals, list(range(len(durations))), setup)
    _makespan_of(b, intervals, horizon)
    return b.build()


def _best_sequence(durations: list[int], setup: list[list[int]]) -> int:
    """The shortest makespan over every order, setups between neighbours only."""
    return min(
        sum(durations) + sum(setup[a][b] for a, b in itertools.pairwise(order))
        for order in itertools.permutations(range(len(durations)))
    )


def test_no_overlap_setup_with_triangle_setups(backend: str) -> None:
    durations, setup = [2, 3, 4, 1], [[0, 2, 3, 4], [2, 0, 2, 3], [3, 2, 0, 2], [4, 3, 2, 0]]
    model = _setup_model(durations, setup)
    assert _solve(backend, model) == (Status.OPTIMAL, _best_sequence(durations, setup))


def test_no_overlap_setup_counts_only_direct_successors(backend: str) -> None:
    # A -> C costs 10, but A -> B -> C costs nothing: the setup of a pair that does not follow
    # directly does not apply (a pairwise model would find 13 at best).
    durations, setup = [1, 1, 1], [[0, 0, 10], [5, 0, 0], [5, 5, 0]]
    assert _best_sequence(durations, setup) == 3
    assert _solve(backend, _setup_model(durations, setup)) == (Status.OPTIMAL, 3)


def test_no_overlap_setup_sequences_only_present_intervals(backend: str) -> None:
    # A mandatory interval of group 0 and one of two optional ones: group 1 (5 away from group
    # 0 either way) or group 2 (no setup, but longer). The absent one takes no part.
    b = ModelBuilder()
    first = b.interval(b.int_var(0, 20, "s0"), 2, "t0")
    chosen = [b.bool_var("p1"), b.bool_var("p2")]
    optional = [
        b.interval(b.int_var(0, 20, f"s{g}"), d, f"t{g}", presence=chosen[g - 1].lit())
        for g, d in ((1, 2), (2, 3))
    ]
    b.add_linear(chosen[0] + chosen[1], lb=1, ub=1)
    b.add_no_overlap_setup([first, *optional], [0, 1, 2], [[0, 5, 0], [5, 0, 5], [0, 5, 0]])
    makespan = b.int_var(0, 30, "makespan")
    b.add_linear(makespan - b.interval_at(first).end, lb=0)
    for present, interval in zip(chosen, optional, strict=True):
        b.add_linear(makespan - b.interval_at(interval).end, lb=0, enforce=[present.lit()])
    b.minimize(makespan)
    assert _solve(backend, b.build()) == (Status.OPTIMAL, 5)
