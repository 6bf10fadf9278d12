"""Small bundled example instances of every problem kind (data files beside this module)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def example_path(relative: str) -> Path:
    """The installed path of a bundled example, e.g. ``example_path("jssp/ft06.txt")``."""
    return Path(str(files(__name__).joinpath(relative)))
