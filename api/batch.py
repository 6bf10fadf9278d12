"""``makespan batch``: solve every instance file under some folders, in parallel, on an executor.

Files are found recursively and their kind inferred as ``makespan solve`` does. Each solve is a
job on the same executors the REST service uses (warm job processes here, or a Ray task), at most
``jobs`` at a time. A row per instance is appended to the output (CSV or JSONL) the moment it
finishes, so an interrupted run keeps what finished and ``--resume`` skips it.
"""

from __future__ import annotations

import csv
import json
import queue
import statistics
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from makespan.api.executor import Executor, JobStartError
from makespan.api.inputs import LoadedInstance, load_instance, with_capacity
from makespan.api.worker import JobTask
from makespan.models.errors import InstanceError
from makespan.models.spec import NamedBenchmarks
from makespan.solvers.options import SolveOptions

COLUMNS = (
    "file",
    "set",
    "name",
    "problem",
    "status",
    "termination",
    "objective",
    "bound",
    "gap",
    "best_known",
    "gap_to_best",
    "wall_time_s",
    "backend",
    "message",
)
"""One output row per instance; ``gap_to_best`` = objective / best_known - 1."""

NO_SOLUTION = ("infeasible", "unknown", "error")

NOT_INSTANCES = frozenset({".md", ".rst", ".pdf", ".png", ".jpg", ".svg", ".py", ".sh", ".gz"})
"""Suffixes of files that sit beside instances in benchmark folders and are never read."""


@dataclass(frozen=True)
class Item:
    """One instance file of the batch and the set (its folder) it belongs to."""

    path: Path
    set_name: str


def discover(paths: Iterable[Path]) -> list[Item]:
    """Instance files under ``paths`` (files as given; folders recursively, hidden ones
    skipped), each with its set: the folder it lies in, relative to the path given."""
    items: list[Item] = []
    for root in paths:
        if root.is_file():
            items.append(Item(root, root.parent.name or "."))
            continue
        for path in sorted(root.rglob("*")):
            relative = path.relative_to(root)
            hidden = any(part.startswith(".") for part in relative.parts)
            if path.is_file() and not hidden and path.suffix.lower() not in NOT_INSTANCES:
                set_name = str(relative.parent) if relative.parent != Path(".") else root.name
                items.append(Item(path, set_name))
    return items


def load_bounds(path: Path) -> dict[str, float]:
    """Best known values by instance name from a JSON file: ``{name: value}``, or
    ``{name: {optimum | upper_bound | best_known: value, file: ...}}``, optionally under an
    ``instances`` key (PSPLIB's bounds file); a ``file`` entry also names the instance by its
    file stem.

    Raises:
        InstanceError: the file cannot be read or has no usable entry.
    """
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InstanceError(f"cannot read bounds: {error}", source=str(path)) from None
    entries = document.get("instances", document) if isinstance(document, dict) else None
    if not isinstance(entries, dict):
        raise InstanceError("expected a JSON object of instance bounds", source=str(path))
    bounds: dict[str, float] = {}
    for name, entry in entries.items():
        value = _best_value(entry)
        if value is None:
            continue
        bounds[name] = value
        if isinstance(entry, dict) and isinstance(entry.get("file"), str):
            bounds[Path(entry["file"]).stem] = value
    if not bounds:
        raise InstanceError("no instance with a best known value", source=str(path))
    return bounds


def _best_value(entry: Any) -> float | None:
    if isinstance(entry, int | float) and not isinstance(entry, bool):
        return float(entry)
    if isinstance(entry, dict):
        for key in ("optimum", "best_known", "upper_bound", "bks"):
            value = entry.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
    return None


class RowWriter:
    """Appends rows to a CSV or JSONL file (by extension), flushing each."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.jsonl = path.suffix.lower() in (".jsonl", ".ndjson", ".json")
        fresh = not path.exists() or path.stat().st_size == 0
        self._file: TextIO = path.open("a", encoding="utf-8", newline="")
        self._csv = None if self.jsonl else csv.DictWriter(self._file, COLUMNS)
        if fresh and self._csv is not None:
            self._csv.writeheader()

    def write(self, row: dict[str, Any]) -> None:
        """Append one row and flush it to disk."""
        if self._csv is None:
            self._file.write(json.dumps(row, allow_nan=False) + "\n")
        else:
            self._csv.writerow({k: "" if row.get(k) is None else row[k] for k in COLUMNS})
        self._file.flush()

    def close(self) -> None:
        """Close the file."""
        self._file.close()


def finished_files(path: Path) -> set[str]:
    """The ``file`` column of an earlier output: what ``--resume`` skips."""
    if not path.exists():
        return set()
    with path.open(encoding="utf-8", newline="") as handle:
        if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
            rows: Iterator[dict[str, Any]] = (json.loads(line) for line in handle if line.strip())
        else:
            rows = csv.DictReader(handle)
        return {str(row["file"]) for row in rows if row.get("file")}


@dataclass
class Summary:
    """Per-set counts and gaps, for the closing table."""

    instances: int = 0
    optimal: int = 0
    feasible: int = 0
    no_solution: int = 0
    gaps: list[float] = field(default_factory=list)
    gaps_to_best: list[float] = field(default_factory=list)
    time_s: float = 0.0

    def add(self, row: dict[str, Any]) -> None:
        """Count one row."""
        self.instances += 1
        status = row["status"]
        self.optimal += status == "optimal"
        self.feasible += status == "feasible"
        self.no_solution += status in NO_SOLUTION
        if row.get("gap") is not None:
            self.gaps.append(float(row["gap"]))
        if row.get("gap_to_best") is not None:
            self.gaps_to_best.append(float(row["gap_to_best"]))
        self.time_s += float(row.get("wall_time_s") or 0.0)

    @staticmethod
    def mean(values: list[float]) -> float | None:
        """The mean, None for no values."""
        return statistics.fmean(values) if values else None


class BatchRun:
    """Feeds items to an executor, ``jobs`` at a time, and hands each finished row on."""

    def __init__(
        self,
        items: list[Item],
        *,
        problem: str | None,
        options: SolveOptions,
        capacity: int | None,
        bounds: dict[str, float],
        executor: Executor,
        jobs: int,
    ) -> None:
        self.pending = list(items)
        self.problem = problem
        self.options = options
        self.capacity = capacity
        self.bounds = bounds
        self.executor = executor
        self.jobs = jobs
        self._events: queue.Queue[tuple[str, str, dict[str, Any]]] = queue.Queue()
        self._running: dict[str, tuple[Item, LoadedInstance]] = {}

    # ExecutorEvents -------------------------------------------------------------------------

    def on_incumbent(self, job_id: str, incumbent: dict[str, Any]) -> None:
        """Progress of one solve: not shown per instance in a batch."""

    def on_checkpoint(self, job_id: str, result: dict[str, Any]) -> None:
        """A solve's best answer so far: the executor falls back on it by itself."""

    def on_result(self, job_id: str, result: dict[str, Any]) -> None:
        """A finished solve (from an executor thread)."""
        self._events.put(("result", job_id, result))

    def on_error(self, job_id: str, error: dict[str, Any]) -> None:
        """A solve that ended without a result (from an executor thread)."""
        self._events.put(("error", job_id, error))

    # driving --------------------------------------------------------------------------------

    def rows(self) -> Iterator[dict[str, Any]]:
        """Run everything; yields each instance's row as it finishes (bad files included)."""
        self.executor.start(self)
        try:
            while self.pending or self._running:
                yield from self._fill()
                if not self._running:
                    continue
                kind, job_id, payload = self._events.get()
                item, loaded = self._running.pop(job_id)
                self.executor.forget(job_id)
                yield self._row(item, loaded, payload if kind == "result" else None, payload)
        finally:
            self.executor.shutdown()

    def _fill(self) -> Iterator[dict[str, Any]]:
        while self.pending and len(self._running) < self.jobs:
            item = self.pending.pop(0)
            try:
                loaded = with_capacity(
                    load_instance(str(item.path), problem=self.problem), self.capacity
                )
            except InstanceError as error:
                yield _error_row(item, str(error))
                continue
            job_id = uuid.uuid4().hex
            task = JobTask(
                job_id=job_id,
                problem=loaded.model.kind,
                instance_json=loaded.instance.model_dump_json(),
                options=self.options,
            )
            try:
                self.executor.submit(task)
            except JobStartError as error:
                yield _error_row(item, str(error))
                continue
            self._running[job_id] = (item, loaded)

    def _row(
        self,
        item: Item,
        loaded: LoadedInstance,
        result: dict[str, Any] | None,
        error: dict[str, Any],
    ) -> dict[str, Any]:
        best = self.bounds.get(loaded.name, self.bounds.get(item.path.stem))
        if best is None:
            best = loaded.best_known or _published(loaded)
        if result is None:
            row = _error_row(item, str(error.get("message", error)))
            row.update(name=loaded.name, problem=loaded.model.kind, best_known=best)
            return row
        objective = result.get("objective")
        return {
            "file": str(item.path),
            "set": item.set_name,
            "name": loaded.name,
            "problem": result["problem"],
            "status": result["status"],
            "termination": result["termination"],
            "objective": objective,
            "bound": result.get("bound"),
            "gap": result.get("gap"),
            "best_known": best,
            "gap_to_best": None if objective is None or not best else objective / best - 1,
            "wall_time_s": result["wall_time_s"],
            "backend": result.get("backend"),
            "message": result.get("message"),
        }


def _published(loaded: LoadedInstance) -> float | None:
    """The best known value of the packaged benchmark of the same name (ft06, ta41, ...)."""
    if not isinstance(loaded.model, NamedBenchmarks):
        return None
    try:
        named = loaded.model.load_named(loaded.name)
    except InstanceError:
        return None
    return None if named is None else loaded.model.best_known(named)


def _error_row(item: Item, message: str) -> dict[str, Any]:
    return {
        **dict.fromkeys(COLUMNS),
        "file": str(item.path),
        "set": item.set_name,
        "name": item.path.stem,
        "status": "error",
        "message": message,
    }


def summarise(rows: Iterable[dict[str, Any]]) -> dict[str, Summary]:
    """Rows grouped by set, in first-seen order."""
    sets: dict[str, Summary] = {}
    for row in rows:
        sets.setdefault(str(row["set"]), Summary()).add(row)
    return sets
