"""The MILP of an IR as a HiGHS model, and as an MPS or LP file for any other solver.

The ``highs`` backend solves the HiGHS model; ``makespan export`` writes it to a file.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import highspy

from makespan.solvers.ir import Model
from makespan.solvers.linear import LinearForm, linearize
from makespan.solvers.params import quiet_highs


def file_safe_names(names: tuple[str, ...]) -> list[str]:
    """Column names MPS and LP files accept: ``[A-Za-z0-9_]`` only, made unique by index."""
    safe = [re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_") or "x" for name in names]
    counts = Counter(safe)
    return [name if counts[name] == 1 else f"{name}_{j}" for j, name in enumerate(safe)]


def highs_model(form: LinearForm) -> highspy.Highs:
    """A HiGHS instance holding ``form``, rows passed in one call."""
    h = quiet_highs()
    lp = highspy.HighsLp()
    lp.num_col_ = form.num_cols
    lp.num_row_ = form.num_rows
    lp.col_cost_ = form.cost
    lp.col_lower_ = form.col_lb
    lp.col_upper_ = form.col_ub
    lp.row_lower_ = form.row_lb
    lp.row_upper_ = form.row_ub
    lp.offset_ = form.offset
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = form.row_start
    lp.a_matrix_.index_ = form.row_index
    lp.a_matrix_.value_ = form.row_value
    lp.col_names_ = file_safe_names(form.col_names)
    lp.integrality_ = [
        highspy.HighsVarType.kInteger if flag else highspy.HighsVarType.kContinuous
        for flag in form.integral
    ]
    if h.passModel(lp) == highspy.HighsStatus.kError:
        raise RuntimeError("HiGHS rejected the model")
    return h


def write_model(ir: Model, path: Path) -> None:
    """Write the MILP of ``ir`` as MPS or LP (by the file extension) for any other solver."""
    h = highs_model(linearize(ir))
    if h.writeModel(str(path)) == highspy.HighsStatus.kError:
        raise OSError(f"HiGHS could not write {path}")
