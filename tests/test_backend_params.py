"""backend_params are checked, not passed through: what the service owns is refused by name.

Time, threads, the seed, files and output belong to the service (and to ``options``); any
backend parameter that would set them is an :class:`OptionsError` naming it, and refusing it
touches nothing (a HiGHS ``log_file`` is not created). Everything else the backend knows stays
allowed, and a misspelt name is still an error.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import BACKENDS
from google.protobuf import text_format
from ortools.sat import sat_parameters_pb2

from makespan.models.jssp.benchmarks import load_named
from makespan.solvers import cpsat, pyomo_backend, solve
from makespan.solvers import params as backend_params
from makespan.solvers.backend import SolveRequest
from makespan.solvers.backends import get_backend
from makespan.solvers.control import SolveRun
from makespan.solvers.ir import ModelBuilder
from makespan.solvers.options import OptionsError

HIGHS_DENIED = {
    "files": ("write_model_file=model.mps", "write_solution_to_file=true", "read_basis_file=b"),
    "output": ("output_flag=true", "log_to_console=true", "log_dev_level=3"),
    "threads": ("threads=2", "simplex_max_concurrency=2"),
    "time": ("time_limit=1000",),
    "seed": ("random_seed=7",),
    "solution saving": ("mip_improving_solution_save=true",),
}
"""One or more parameters of each denied class, per backend (``name=value`` / text format)."""

DENIED: dict[str, dict[str, tuple[str, ...]]] = {
    "cpsat": {
        "files": ("output_lrat_proof: true", "check_drat_proof: true"),
        "output": ("log_search_progress: true", "log_to_stdout: true", 'log_prefix: "x"'),
        "threads": ("num_workers: 2", "num_search_workers: 2", "shared_tree_num_workers: 2"),
        "time": ("max_time_in_seconds: 1000", "max_deterministic_time: 1000"),
        "seed": ("random_seed: 7", "use_absl_random: true"),
        "debug": ("debug_crash_on_bad_hint: true",),
        "signals": ("catch_sigint_signal: true",),
    },
    "highs": HIGHS_DENIED,
    "pyomo:highs": HIGHS_DENIED,
}

ALLOWED = {
    "cpsat": (
        "linearization_level: 2",
        "relative_gap_limit: 0.1 absolute_gap_limit: 0.5",
        "probing_deterministic_time_limit: 0.5",
        "chronological_backtrack_min_conflicts: 100",
    ),
    "highs": ("presolve=off", "mip_heuristic_effort=0.2 mip_rel_gap=0.01"),
    "pyomo:highs": ("presolve=off", "mip_heuristic_effort=0.2 mip_rel_gap=0.01"),
}

MISSPELT = {
    "cpsat": ("num_workrs: 2", "linearisation_level: 2"),
    "highs": ("presolv=off", "mip_rel_gapp=0.1"),
    "pyomo:highs": ("presolv=off", "mip_rel_gapp=0.1"),
}


def _name(param: str) -> str:
    return param.replace(":", "=").partition("=")[0].strip()


def _denied_cases() -> list[tuple[str, str]]:
    return [
        (backend, param)
        for backend in BACKENDS
        for params in DENIED[backend].values()
        for param in params
    ]


@pytest.mark.parametrize(("backend", "param"), _denied_cases())
def test_every_denied_class_is_refused_by_name(backend: str, param: str) -> None:
    with pytest.raises(OptionsError, match="not allowed") as raised:
        get_backend(backend).check_params(param)
    assert raised.value.field == "backend_params"
    assert _name(param) in raised.value.message


@pytest.mark.parametrize("backend", BACKENDS)
def test_denied_parameters_fail_the_solve_before_it_starts(backend: str) -> None:
    first = next(iter(DENIED[backend].values()))[0]
    instance = load_named("ft06")
    with pytest.raises(OptionsError, match=_name(first)):
        solve("jssp", instance, backend=backend, backend_params=f"{ALLOWED[backend][0]} {first}")


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "cpsat"])
@pytest.mark.parametrize("option", ["log_file", "solution_file", "write_model_file"])
def test_highs_file_options_create_no_file(backend: str, option: str, tmp_path: Path) -> None:
    path = tmp_path / f"{option}.txt"
    with pytest.raises(OptionsError, match=option):
        get_backend(backend).check_params(f"{option}={path}")
    with pytest.raises(OptionsError, match=option):
        solve("jssp", load_named("ft06"), backend=backend, backend_params=f"{option}={path}")
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_every_known_highs_option_the_service_owns_is_refused(tmp_path: Path) -> None:
    assert {"log_file", "threads", "time_limit", "random_seed", "output_flag"} <= set(
        backend_params.DENIED_HIGHS_OPTIONS
    )
    assert len(backend_params.KNOWN_HIGHS_OPTIONS) > len(backend_params.DENIED_HIGHS_OPTIONS) > 20
    for name in backend_params.DENIED_HIGHS_OPTIONS:
        with pytest.raises(OptionsError, match=name):
            backend_params.check_highs_params(f"{name}={tmp_path / name}")
    assert list(tmp_path.iterdir()) == []


def test_every_cpsat_field_the_service_owns_is_refused() -> None:
    assert {"num_workers", "num_search_workers", "max_time_in_seconds", "random_seed"} <= set(
        cpsat.DENIED_PARAMS
    )
    for name in cpsat.DENIED_PARAMS:
        params = sat_parameters_pb2.SatParameters()
        field = params.DESCRIPTOR.fields_by_name[name]
        setattr(params, name, field.default_value)
        with pytest.raises(OptionsError, match=name):
            cpsat.check_params(text_format.MessageToString(params))


def test_cpsat_subsolver_parameters_are_checked_too() -> None:
    with pytest.raises(OptionsError, match=r"subsolver_params\.log_search_progress"):
        cpsat.check_params('subsolver_params { name: "x" log_search_progress: true }')
    cpsat.check_params('subsolver_params { name: "x" linearization_level: 2 }')


@pytest.mark.parametrize("backend", BACKENDS)
def test_allowed_parameters_still_apply(backend: str) -> None:
    b = ModelBuilder()
    x = b.int_var(0, 10, "x")
    b.add_linear(x, lb=3)
    b.minimize(x)
    for params in ALLOWED[backend]:
        get_backend(backend).check_params(params)
        request = SolveRequest(b.build(), 10, 1, 0, params)
        assert get_backend(backend).solve(request, SolveRun()).objective == 3


@pytest.mark.parametrize("backend", BACKENDS)
def test_misspelt_names_are_still_refused(backend: str) -> None:
    for params in MISSPELT[backend]:
        with pytest.raises(OptionsError, match="backend_params"):
            get_backend(backend).check_params(params)


OTHER_SOLVER_DENIED = [
    "logLevel=0",
    "LogFile=x",
    "Threads=2",
    "ConcurrentMIP=2",
    "TimeLimit=100",
    "sec=100",
    "tmlim=100",
    "limits/time=100",
    "randomSeed=3",
    "Seed=3",
    "display/verblevel=0",
    "workdir=x",
    "saveSolution=x",
    "printingOptions=all",
    "ComputeServer=x",
]
"""Options of cbc, Gurobi, CPLEX, SCIP and glpk that the name patterns must refuse."""


@pytest.mark.parametrize("param", OTHER_SOLVER_DENIED)
def test_other_pyomo_solvers_refuse_service_names(param: str) -> None:
    with pytest.raises(OptionsError, match=f"option {_name(param)} is not allowed"):
        pyomo_backend.check_params("cbc", param)


@pytest.mark.parametrize("value", ["/tmp/out.sol", "out.sol", r"C:\model.lp", "../x"])
def test_other_pyomo_solvers_refuse_values_naming_files(value: str) -> None:
    with pytest.raises(OptionsError, match="file or path"):
        pyomo_backend.check_params("gurobi", f"Cutoff={value}")


def test_other_pyomo_solvers_keep_their_tuning_options() -> None:
    pyomo_backend.check_params("cbc", "ratioGap=0.1 presolve=on cuts=root")
    pyomo_backend.check_params("gurobi", "MIPFocus=1 Heuristics=0.2 Cuts=2")
    pyomo_backend.check_params("scip", "limits/gap=0.1 presolving/maxrounds=2")


def test_cli_refuses_a_denied_parameter_with_exit_code_2(
    makespan_command: list[str], data: Path, tmp_path: Path
) -> None:
    log = tmp_path / "highs.log"
    done = subprocess.run(
        [
            *makespan_command,
            "solve",
            str(data / "ft06.txt"),
            "--backend",
            "highs",
            "--params",
            f"log_file={log}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert "backend_params" in done.stderr and "log_file" in done.stderr
    assert not log.exists()
