"""How long pictures take to draw and how big they are, on the largest instances of each kind.

Each case is solved once (a short time limit: the picture, not the solve, is measured), then
drawn and rendered ``--repeats`` times per format; the table gives the median seconds and the
file size. The first render of a process also pays for importing matplotlib, reported apart.

    python bench/plots.py --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from makespan.models.expert_placement.generate import generate
from makespan.models.jssp.benchmarks import load_named
from makespan.models.plotting import PlotFormat, plot_result
from makespan.models.registry import MODELS
from makespan.solvers import solve

SHARED = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"
FORMATS: tuple[PlotFormat, ...] = ("svg", "png")


def cases() -> list[tuple[str, str, Callable[[], Any]]]:
    """(name, kind, instance loader) for the largest instance of each kind we have."""
    rcpsp, memory = MODELS["rcpsp"], MODELS["memory_mapping"]
    return [
        ("ta71 (100x20)", "jssp", lambda: load_named("ta71")),
        ("j120_1_1", "rcpsp", lambda: rcpsp.read_file(SHARED / "rcpsp/j120/j120_1_1.rcp")),
        (
            "Y_1 (62,185 buffers)",
            "memory_mapping",
            lambda: memory.read_file(SHARED / "memory/idealloc/iopddl/Y_1.csv"),
        ),
        (
            "8 layers x 64 experts, 8 GPUs",
            "expert_placement",
            lambda: generate(layers=8, experts=64, gpus=8, tokens=100_000, seed=0),
        ),
        (
            "melange_example",
            "gpu_packing",
            lambda: MODELS["gpu_packing"].read_file(SHARED / "gpu_packing/melange_example.json"),
        ),
    ]


def main() -> None:
    """Print one row per case and format: median draw + render seconds, and size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--time-limit", type=float, default=10.0, help="per solve")
    args = parser.parse_args()

    started = time.perf_counter()
    import matplotlib.figure  # noqa: F401  (timed: every process pays it once)

    print(f"import matplotlib: {time.perf_counter() - started:.2f} s\n")
    print("| kind | instance | format | median s | size |")
    print("|---|---|---|---|---|")
    for name, kind, load in cases():
        model = MODELS[kind]
        instance = load()
        result = solve(kind, instance, time_limit_s=args.time_limit, workers=2)
        for fmt in FORMATS:
            times, size = [], 0
            for _ in range(args.repeats):
                begin = time.perf_counter()
                size = len(plot_result(model, instance, result, fmt, name))
                times.append(time.perf_counter() - begin)
            median = statistics.median(times)
            print(f"| {kind} | {name} | {fmt} | {median:.2f} | {size / 1e3:,.0f} kB |")


if __name__ == "__main__":
    main()
