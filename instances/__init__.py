"""Small bundled example instances of every problem kind (data files beside this module).

:data:`EXAMPLES` is the catalogue the web page and ``GET /v1/examples`` offer; README.md beside
this module shows the same table for people.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path


def example_path(relative: str) -> Path:
    """The installed path of a bundled example, e.g. ``example_path("jssp/ft06.txt")``."""
    return Path(str(files(__name__).joinpath(relative)))


@dataclass(frozen=True)
class Example:
    """One bundled instance: where it lives, its kind and file format, and what it shows."""

    name: str
    problem: str
    file: str
    format: str
    description: str

    @property
    def path(self) -> Path:
        """The installed file."""
        return example_path(self.file)

    def text(self) -> str:
        """The file's text."""
        return self.path.read_text(encoding="utf-8")


EXAMPLES: tuple[Example, ...] = (
    Example("ft06", "jssp", "jssp/ft06.txt", "taillard", "Fisher & Thompson 6x6; optimum 55"),
    Example("la01", "jssp", "jssp/la01.txt", "orlib", "Lawrence 10x5; optimum 666"),
    Example("rcpsp_small", "rcpsp", "rcpsp/small.sm", "psplib", "PSPLIB-format project"),
    Example(
        "rcpsp_features",
        "rcpsp",
        "rcpsp/features.json",
        "json",
        "downtime, release and deadline, a disjunctive pair and time lags",
    ),
    Example(
        "trace60",
        "memory_mapping",
        "memory_mapping/trace60.csv",
        "minimalloc",
        "60 activation-like buffers; minimise the peak",
    ),
    Example(
        "moe_4x16",
        "expert_placement",
        "expert_placement/moe_4x16.json",
        "json",
        "4 layers of 16 experts on 4 GPUs, Zipf loads",
    ),
    Example(
        "fleet",
        "gpu_packing",
        "gpu_packing/fleet.json",
        "json",
        "L4, A10G, A100 and H100 serving a 3x3 request mix at 40 req/s",
    ),
)


def get_example(name: str) -> Example | None:
    """The bundled example called ``name``, or None."""
    return next((example for example in EXAMPLES if example.name == name), None)
