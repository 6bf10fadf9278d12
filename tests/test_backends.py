"""One behaviour spec for every backend: each IR constraint kind, status and stop semantics."""

from __future__ import annotations

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
