"""The backends by name: the one module that knows them all (and imports them on demand).

Importing the IR, the models or this registry never loads a solver library; a backend's module
is imported when it is first asked for (or by :func:`preload`, in the fork server that starts
job processes).
"""

from __future__ import annotations

import importlib
from functools import cache

from makespan.solvers.backend import Backend
from makespan.solvers.options import OptionsError

BUILT_IN = ("cpsat", "highs")
"""Backends that ship with makespan (their solvers are dependencies)."""

PYOMO_CANDIDATES = ("highs", "cbc", "glpk", "scip", "gurobi", "cplex")
"""Pyomo solvers :func:`available_backends` looks for."""


def get_backend(name: str) -> Backend:
    """The backend called ``name``: ``cpsat``, ``highs`` or ``pyomo:SOLVER``; an
    :class:`OptionsError` naming the option otherwise."""
    if name in BUILT_IN:
        module = importlib.import_module(f"makespan.solvers.{name}")
        backend: Backend = module.BACKEND
        return backend
    if name == "pyomo" or name.startswith("pyomo:"):
        from makespan.solvers import pyomo_backend

        return pyomo_backend.backend(name.partition(":")[2] or "highs")
    raise OptionsError(
        "backend", f"unknown backend {name!r}; expected cpsat, highs or pyomo:SOLVER"
    )


@cache
def available_backends() -> tuple[str, ...]:
    """The backends this installation can run: the built-in ones and ``pyomo:SOLVER`` for each
    solver Pyomo finds installed (and licensed) here. Looked up once per process."""
    from makespan.solvers import pyomo_backend

    found = [f"pyomo:{solver}" for solver in PYOMO_CANDIDATES if pyomo_backend.available(solver)]
    return (*BUILT_IN, *found)


def preload() -> None:
    """Import the built-in backends now (a fork server does, so that jobs start warm)."""
    for name in BUILT_IN:
        get_backend(name)
