"""Job-shop instance files: Taillard, OR-Library and JSON, read and written.

- ``taillard``: a line ``n m`` (Taillard's original files add seeds and bounds, and may put a
  text header above it), then ``n`` rows of ``m`` processing times, then ``n`` rows of ``m``
  machines numbered from 1; optional ``Times`` / ``Machines`` label lines.
- ``orlib``: a line ``n m``, then one row per job of ``m`` pairs ``machine time`` with machines
  numbered from 0 (OR-Library ``jobshop1.txt`` entries, DMU files).
- ``json``: :class:`JobShopInstance` as JSON; job-shop-lib's ``duration_matrix`` /
  ``machines_matrix`` documents are accepted too.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from makespan.models.bounds import KnownBounds
from makespan.models.errors import InstanceError
from makespan.models.jssp.instance import MAX_DURATION, MAX_MACHINES, JobShopInstance
from makespan.models.limits import FLOAT_EXACT
from makespan.models.sizing import (
    content_tokens,
    count_token,
    json_text_size,
    lengths_sum,
    lines,
    looks_like_json,
    member,
)
from makespan.models.textfile import (
    Row,
    TokenRows,
    json_object_with_key,
    load_json_document,
    named_instance,
    read_in_format,
    validation_error,
    write_in_format,
)

FORMATS: tuple[str, ...] = ("taillard", "orlib", "json")
"""The file formats :func:`read_text` understands."""

FILE_EXTENSIONS: tuple[str, ...] = (".jss", ".jsp")
"""Extensions that mark a job-shop file whatever its content."""

JSON_KEYS = ("num_machines", "jobs", "machines_matrix")
"""Top-level keys of a job-shop JSON document (ours, or job-shop-lib's matrices)."""

_LABELS = {"times", "machines"}


def _is_int(token: str) -> bool:
    return token.lstrip("+-").isdigit()


def _read_header(rows: TokenRows) -> tuple[int, int, KnownBounds | None]:
    """``n m`` (and, in Taillard's files, ``seed seed upper lower``), after any text lines."""
    while (row := rows.peek()) is not None and not all(_is_int(t) for t in row.tokens):
        rows.next_row("a header")
    row, values = rows.next_ints(None, "'jobs machines'")
    if len(values) not in (2, 6):
        raise rows.error(
            f"expected 'jobs machines' (2 integers), found {len(values)} values", row.line
        )
    n, m = values[0], values[1]
    if n < 1 or m < 1:
        raise rows.error(f"jobs and machines must be >= 1, found {n} {m}", row.line)
    if m > MAX_MACHINES:
        raise rows.error(f"{m} machines; at most {MAX_MACHINES} are supported", row.line)
    if len(values) == 2:
        return n, m, None
    upper, lower = values[4], values[5]
    if not (0 <= upper <= FLOAT_EXACT and 0 <= lower <= FLOAT_EXACT):
        raise rows.error(f"bounds {upper} {lower} out of range 0..{FLOAT_EXACT}", row.line)
    return n, m, KnownBounds(upper=upper, lower=lower)


def _skip_label(rows: TokenRows) -> None:
    row = rows.peek()
    if row is not None and len(row.tokens) == 1 and row.tokens[0].lower() in _LABELS:
        rows.next_row("a label")


def _matrix(rows: TokenRows, n: int, m: int, what: str) -> list[tuple[Row, list[int]]]:
    _skip_label(rows)
    return [rows.next_ints(m, f"the {what} of job {j + 1} of {n}") for j in range(n)]


def read_taillard(
    text: str, source: str = "<instance>", name: str | None = None
) -> JobShopInstance:
    """Parse Taillard's format (machines 1-based)."""
    rows = TokenRows(text, source)
    n, m, bounds = _read_header(rows)
    times = _matrix(rows, n, m, "processing times")
    machines = _matrix(rows, n, m, "machines")
    rows.expect_end()
    for row, values in times:
        _check_durations(rows, row, values)
    for row, values in machines:
        for value in values:
            if not 1 <= value <= m:
                raise rows.error(f"machine {value} is out of range 1..{m}", row.line)
    return _from_rows(
        [[v - 1 for v in values] for _, values in machines],
        [values for _, values in times],
        source,
        name=name,
        num_machines=m,
        bounds=bounds,
    )


def read_orlib(text: str, source: str = "<instance>", name: str | None = None) -> JobShopInstance:
    """Parse the OR-Library format (``machine time`` pairs, machines 0-based)."""
    rows = TokenRows(text, source)
    n, m, bounds = _read_header(rows)
    machines: list[list[int]] = []
    durations: list[list[int]] = []
    for j in range(n):
        row, values = rows.next_ints(2 * m, f"{m} 'machine time' pairs for job {j + 1} of {n}")
        job_machines, job_durations = values[0::2], values[1::2]
        for machine in job_machines:
            if not 0 <= machine < m:
                raise rows.error(f"machine {machine} is out of range 0..{m - 1}", row.line)
        _check_durations(rows, row, job_durations)
        machines.append(job_machines)
        durations.append(job_durations)
    rows.expect_end()
    return _from_rows(machines, durations, source, name=name, num_machines=m, bounds=bounds)


def _check_durations(rows: TokenRows, row: Row, values: list[int]) -> None:
    for value in values:
        if value < 0:
            raise rows.error(f"processing time must be >= 0, found {value}", row.line)
        if value > MAX_DURATION:
            raise rows.error(f"processing time {value} is above {MAX_DURATION}", row.line)


def _from_rows(
    machines: list[list[int]],
    durations: list[list[int]],
    source: str,
    *,
    name: str | None,
    num_machines: int,
    bounds: KnownBounds | None,
) -> JobShopInstance:
    """The instance of checked rows; what only the whole instance shows (its horizon) is an
    :class:`InstanceError` naming the field."""
    try:
        return JobShopInstance.from_matrices(
            machines, durations, name=name, num_machines=num_machines, bounds=bounds
        )
    except ValidationError as error:
        raise validation_error(error, source) from None


def read_json(text: str, source: str = "<instance>", name: str | None = None) -> JobShopInstance:
    """Parse a JSON instance (ours, or job-shop-lib's matrix form)."""
    return instance_from_document(load_json_document(text, source), source, name)


def instance_from_document(
    data: Any, source: str | None = None, name: str | None = None
) -> JobShopInstance:
    """Validate a JSON document (already parsed) as a job-shop instance."""
    if is_job_shop_lib(data):
        data = from_job_shop_lib(data, source, name)
    return named_instance(JobShopInstance, data, source, name)


def is_job_shop_lib(data: Any) -> bool:
    """Whether a JSON document is job-shop-lib's ``duration_matrix`` / ``machines_matrix``
    form."""
    return isinstance(data, dict) and "duration_matrix" in data and "machines_matrix" in data


def from_job_shop_lib(
    data: dict[str, Any], source: str | None = None, name: str | None = None
) -> dict[str, Any]:
    """job-shop-lib's matrices as our JSON form (machines 0-based, one machine more than the
    largest used); matrices of another shape are an error naming the field."""
    machines, durations = data["machines_matrix"], data["duration_matrix"]
    _matrix_shape(machines, "machines_matrix", source)
    _matrix_shape(durations, "duration_matrix", source)
    if len(machines) != len(durations):
        raise InstanceError(
            f"{len(durations)} rows, but machines_matrix has {len(machines)}",
            source=source,
            field="duration_matrix",
        )
    for j, (ms, ds) in enumerate(zip(machines, durations, strict=True)):
        if len(ms) != len(ds):
            raise InstanceError(
                f"{len(ds)} durations, but machines_matrix.{j} has {len(ms)} machines",
                source=source,
                field=f"duration_matrix.{j}",
            )
    used = [m for row in machines for m in row if isinstance(m, int) and not isinstance(m, bool)]
    return {
        "name": data.get("name", name),
        "num_machines": 1 + max(used, default=0),
        "jobs": [
            [{"machine": m, "duration": d} for m, d in zip(ms, ds, strict=True)]
            for ms, ds in zip(machines, durations, strict=True)
        ],
    }


def _matrix_shape(matrix: Any, field: str, source: str | None) -> None:
    """A list of lists, else an :class:`InstanceError` naming ``field``."""
    if not isinstance(matrix, list):
        raise InstanceError("expected a list of rows", source=source, field=field)
    for j, row in enumerate(matrix):
        if not isinstance(row, list):
            raise InstanceError("expected a list of numbers", source=source, field=f"{field}.{j}")


def infer_format(text: str, filename: str | None = None) -> str:
    """``json`` for JSON; else ``orlib`` when the first job row holds ``2m`` values, else
    ``taillard``."""
    if (filename and filename.lower().endswith(".json")) or text.lstrip().startswith("{"):
        return "json"
    rows = TokenRows(text, filename or "<instance>")
    try:
        _, m, _ = _read_header(rows)
    except InstanceError:
        return "taillard"  # let the parser report the header error
    _skip_label(rows)
    first = rows.peek()
    if first is not None and len(first.tokens) == 2 * m:
        return "orlib"
    return "taillard"


def sniff(text: str) -> bool:
    """True when ``text`` opens (after any text lines) with a ``jobs machines`` header followed
    by a job row of either format, or is a JSON document with one of :data:`JSON_KEYS`."""
    if looks_like_json(text):
        return json_object_with_key(text, JSON_KEYS)
    rows = TokenRows(text, "<instance>")
    try:
        _, m, _ = _read_header(rows)
    except InstanceError:
        return False
    _skip_label(rows)
    first = rows.peek()
    return first is not None and len(first.tokens) in (m, 2 * m)


def document_size(data: Any) -> int:
    """The operations of a JSON document (ours or job-shop-lib's), from the job lengths alone;
    an operation with alternative machines counts once."""
    if is_job_shop_lib(data):
        return max(lengths_sum(data["machines_matrix"]), lengths_sum(data["duration_matrix"]))
    return lengths_sum(member(data, "jobs"))


def text_size(text: str, format: str | None = None) -> int:
    """The operations of instance text before parsing it: ``n * m`` from the Taillard /
    OR-Library header, or the JSON document's; 0 when unreadable (parsing says why)."""
    if format == "json" or (format is None and looks_like_json(text)):
        return json_text_size(text, document_size)
    return _header_operations(text)


def _header_operations(text: str) -> int:
    """``n * m`` of the first all-integer line, as :func:`_read_header` finds it."""
    for line in lines(text):
        tokens = content_tokens(line)
        if not tokens or not all(_is_int(t) for t in tokens):
            continue  # blank, or a text line above the header
        values = [count_token(t) for t in tokens]
        if len(values) not in (2, 6) or values[0] is None or values[1] is None:
            return 0
        return values[0] * values[1]
    return 0


READERS = {"taillard": read_taillard, "orlib": read_orlib, "json": read_json}


def read_text(
    text: str, format: str | None = None, source: str = "<instance>", name: str | None = None
) -> JobShopInstance:
    """Parse ``text`` in ``format`` (inferred when None)."""
    return read_in_format("jssp", READERS, text, format or infer_format(text, source), source, name)


def write_taillard(instance: JobShopInstance) -> str:
    """Taillard's format; every job must visit ``num_machines`` operations."""
    m = instance.num_machines
    if any(len(job) != m for job in instance.jobs):
        raise ValueError("the taillard format needs exactly num_machines operations per job")
    lines = [f"{instance.num_jobs} {m}"]
    lines += [" ".join(str(op.duration) for op in job) for job in instance.jobs]
    lines += [" ".join(str(op.machine + 1) for op in job) for job in instance.jobs]
    return "\n".join(lines) + "\n"


def write_orlib(instance: JobShopInstance) -> str:
    """The OR-Library format; every job must visit ``num_machines`` operations."""
    m = instance.num_machines
    if any(len(job) != m for job in instance.jobs):
        raise ValueError("the orlib format needs exactly num_machines operations per job")
    lines = [f"{instance.num_jobs} {m}"]
    lines += [" ".join(f"{op.machine} {op.duration}" for op in job) for job in instance.jobs]
    return "\n".join(lines) + "\n"


WRITERS = {"taillard": write_taillard, "orlib": write_orlib}
"""The writer of each text format (JSON is written alike for every kind)."""


def write_text(instance: JobShopInstance, format: str) -> str:
    """Serialise ``instance`` in ``format``."""
    return write_in_format("jssp", WRITERS, instance, format)
