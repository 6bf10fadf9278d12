"""Job-shop instance files: Taillard, OR-Library, FJSPLIB and JSON, read and written.

- ``taillard``: a line ``n m`` (Taillard's original files add seeds and bounds, and may put a
  text header above it), then ``n`` rows of ``m`` processing times, then ``n`` rows of ``m``
  machines numbered from 1; optional ``Times`` / ``Machines`` label lines.
- ``orlib``: a line ``n m``, then one row per job of ``m`` pairs ``machine time`` with machines
  numbered from 0 (OR-Library ``jobshop1.txt`` entries, DMU files).
- ``fjsp``: FJSPLIB, the flexible job shop: a line ``n m [average machines per operation]``,
  then one line per job: its number of operations, then per operation the number ``k`` of
  machines it may run on followed by ``k`` pairs ``machine duration`` (machines numbered from 1).
  Operations with one machine read as classic ones, so a file without choices is a classic job
  shop.
- ``json``: :class:`JobShopInstance` as JSON; job-shop-lib's ``duration_matrix`` /
  ``machines_matrix`` documents are accepted too.

Only JSON carries releases, due dates, weights, downtime, setups and objectives: the text
writers refuse instances that have them, and Taillard and OR-Library flexible operations.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from makespan.models.bounds import KnownBounds
from makespan.models.errors import InstanceError
from makespan.models.jssp.instance import (
    MAX_DURATION,
    MAX_MACHINES,
    Alternative,
    JobShopInstance,
    Operation,
)
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

FORMATS: tuple[str, ...] = ("taillard", "orlib", "fjsp", "json")
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


def _fjsp_header(rows: TokenRows) -> tuple[int, int]:
    """``n m`` and an optional average (any number) of an FJSPLIB file."""
    row = rows.next_row("'jobs machines [average]'")
    if len(row.tokens) not in (2, 3) or not all(_is_int(t) for t in row.tokens[:2]):
        raise rows.error(
            f"expected 'jobs machines [average machines per operation]', found "
            f"{' '.join(row.tokens[:4])!r}",
            row.line,
        )
    if len(row.tokens) == 3 and not _is_number(row.tokens[2]):
        raise rows.error(f"expected a number, found {row.tokens[2]!r}", row.line)
    n, m = (rows.to_int(token, row.line) for token in row.tokens[:2])
    if n < 1 or m < 1:
        raise rows.error(f"jobs and machines must be >= 1, found {n} {m}", row.line)
    if m > MAX_MACHINES:
        raise rows.error(f"{m} machines; at most {MAX_MACHINES} are supported", row.line)
    return n, m


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def read_fjsp(text: str, source: str = "<instance>", name: str | None = None) -> JobShopInstance:
    """Parse FJSPLIB (flexible job shop, machines 1-based)."""
    rows = TokenRows(text, source)
    n, m = _fjsp_header(rows)
    jobs = [_fjsp_job(rows, j, n, m) for j in range(n)]
    rows.expect_end()
    try:
        return JobShopInstance(name=name, num_machines=m, jobs=tuple(jobs))
    except ValidationError as error:
        raise validation_error(error, source) from None


def _fjsp_job(rows: TokenRows, j: int, n: int, m: int) -> tuple[Operation, ...]:
    """One job line: its operations, each ``k`` then ``k`` pairs ``machine duration``."""
    row, values = rows.next_ints(None, f"the operations of job {j + 1} of {n}")
    what = f"job {j + 1} of {n}"
    if not values or values[0] < 1:
        raise rows.error(f"{what}: expected its number of operations (>= 1)", row.line)
    operations = []
    p = 1
    for k in range(values[0]):
        if p >= len(values):
            raise rows.error(
                f"{what}: the line ends after {k} of its {values[0]} operations", row.line
            )
        count = values[p]
        pairs = values[p + 1 : p + 1 + 2 * count]
        if count < 1:
            raise rows.error(f"{what}, operation {k + 1}: machine count {count} < 1", row.line)
        if len(pairs) < 2 * count:
            raise rows.error(
                f"{what}, operation {k + 1}: expected {count} 'machine duration' pairs "
                f"({2 * count} integers), found {len(pairs)} values",
                row.line,
            )
        machines, durations = pairs[0::2], pairs[1::2]
        for machine in machines:
            if not 1 <= machine <= m:
                raise rows.error(f"machine {machine} is out of range 1..{m}", row.line)
        if len(set(machines)) != len(machines):
            raise rows.error(f"{what}, operation {k + 1}: a machine is listed twice", row.line)
        _check_durations(rows, row, durations)
        choices = tuple(
            Alternative(machine=a - 1, duration=d) for a, d in zip(machines, durations, strict=True)
        )
        if len(choices) == 1:
            operations.append(Operation(machine=choices[0].machine, duration=choices[0].duration))
        else:
            operations.append(Operation(alternatives=choices))
        p += 1 + 2 * count
    if p != len(values):
        raise rows.error(f"{what}: unexpected values after its last operation", row.line)
    return tuple(operations)


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
    """``json`` for JSON; ``fjsp`` for a ``n m average`` header, or a ``n m`` header over a
    first job row that is neither ``m`` nor ``2m`` values but reads as an FJSPLIB job; else
    ``orlib`` when the first job row holds ``2m`` values, else ``taillard``."""
    if (filename and filename.lower().endswith(".json")) or text.lstrip().startswith("{"):
        return "json"
    if _looks_like_fjsp(text):
        return "fjsp"
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


def _looks_like_fjsp(text: str) -> bool:
    """An FJSPLIB header (``n m`` and a third number) over a first job row that reads as an
    FJSPLIB job; or ``n m`` over one that does and is neither a Taillard nor an OR-Library
    row."""
    rows = TokenRows(text, "<instance>")
    header = rows.peek()
    if header is None or len(header.tokens) not in (2, 3):
        return False
    try:
        _, m = _fjsp_header(rows)
    except InstanceError:
        return False
    first = rows.peek()
    if first is None or not _fjsp_row_shape(first.tokens, m):
        return len(header.tokens) == 3  # an FJSPLIB header: its reader says what is wrong
    return len(header.tokens) == 3 or len(first.tokens) not in (m, 2 * m)


def _fjsp_row_shape(tokens: tuple[str, ...], m: int) -> bool:
    """Whether a row is an FJSPLIB job: integers, an operation count, then per operation a
    machine count ``k`` and ``k`` pairs with machines in ``1..m`` (checked without building
    anything, so that sniffing a long row stays cheap)."""
    if not all(_is_int(t) and len(t) <= 18 for t in tokens):
        return False
    values = [int(t) for t in tokens]
    p = 1
    for _ in range(values[0] if values else 0):
        if p >= len(values) or values[p] < 1:
            return False
        pairs = values[p + 1 : p + 1 + 2 * values[p]]
        if len(pairs) < 2 * values[p] or not all(1 <= a <= m for a in pairs[0::2]):
            return False
        p += 1 + 2 * values[p]
    return bool(values) and values[0] >= 1 and p == len(values)


def sniff(text: str) -> bool:
    """True when ``text`` opens (after any text lines) with a ``jobs machines`` header followed
    by a job row of the Taillard or OR-Library format, or is FJSPLIB (see :func:`infer_format`),
    or is a JSON document with one of :data:`JSON_KEYS`."""
    if looks_like_json(text):
        return json_object_with_key(text, JSON_KEYS)
    if _looks_like_fjsp(text):
        return True
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
    OR-Library header, the operation counts of the first ``n`` job rows of an FJSPLIB file, or
    the JSON document's; 0 when unreadable (parsing says why)."""
    if format == "json" or (format is None and looks_like_json(text)):
        return json_text_size(text, document_size)
    if format == "fjsp" or (format is None and _looks_like_fjsp(text)):
        return _fjsp_operations(text)
    return _header_operations(text)


def _fjsp_operations(text: str) -> int:
    """The first number of each of the ``n`` job rows after an FJSPLIB header (``n`` read from
    it): as many rows as the parser reads, each cut only at its first blank."""
    jobs: int | None = None
    total = 0
    for line in lines(text):
        tokens = content_tokens(line)
        if not tokens:
            continue
        value = count_token(tokens[0])
        if value is None:
            return 0
        if jobs is None:
            jobs = value
            continue
        total += value
        jobs -= 1
        if jobs == 0:
            break
    return total


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


READERS = {"taillard": read_taillard, "orlib": read_orlib, "fjsp": read_fjsp, "json": read_json}


def read_text(
    text: str, format: str | None = None, source: str = "<instance>", name: str | None = None
) -> JobShopInstance:
    """Parse ``text`` in ``format`` (inferred when None)."""
    return read_in_format("jssp", READERS, text, format or infer_format(text, source), source, name)


def _text_writable(instance: JobShopInstance, format: str, *, flexible: bool = False) -> None:
    """A ValueError unless the text ``format`` can carry ``instance``."""
    extras = [
        field
        for field in ("release", "due", "weight", "machine_downtime", "setup_times", "objective")
        if getattr(instance, field) is not None
    ]
    if extras:
        raise ValueError(f"the {format} format cannot carry {', '.join(extras)}; write json")
    if not flexible and instance.is_flexible:
        raise ValueError(f"the {format} format cannot carry flexible operations; write fjsp")


def _rows(instance: JobShopInstance, format: str) -> list[list[tuple[int, int]]]:
    """Every job's (machine, duration) pairs, for the classic text formats; each job must
    visit ``num_machines`` operations."""
    _text_writable(instance, format)
    m = instance.num_machines
    if any(len(job) != m for job in instance.jobs):
        raise ValueError(f"the {format} format needs exactly num_machines operations per job")
    return [[op.fixed for op in job] for job in instance.jobs]


def write_taillard(instance: JobShopInstance) -> str:
    """Taillard's format; every job must visit ``num_machines`` operations."""
    rows = _rows(instance, "taillard")
    lines = [f"{instance.num_jobs} {instance.num_machines}"]
    lines += [" ".join(str(d) for _, d in row) for row in rows]
    lines += [" ".join(str(m + 1) for m, _ in row) for row in rows]
    return "\n".join(lines) + "\n"


def write_orlib(instance: JobShopInstance) -> str:
    """The OR-Library format; every job must visit ``num_machines`` operations."""
    rows = _rows(instance, "orlib")
    lines = [f"{instance.num_jobs} {instance.num_machines}"]
    lines += [" ".join(f"{m} {d}" for m, d in row) for row in rows]
    return "\n".join(lines) + "\n"


def write_fjsp(instance: JobShopInstance) -> str:
    """FJSPLIB: ``n m average``, then one line per job (machines 1-based)."""
    _text_writable(instance, "fjsp", flexible=True)
    choices = sum(len(op.choices) for job in instance.jobs for op in job)
    average = choices / instance.num_operations
    lines = [f"{instance.num_jobs} {instance.num_machines} {average:g}"]
    for job in instance.jobs:
        parts = [str(len(job))]
        for op in job:
            parts.append(str(len(op.choices)))
            parts += [f"{m + 1} {d}" for m, d in op.choices]
        lines.append(" ".join(parts))
    return "\n".join(lines) + "\n"


WRITERS = {"taillard": write_taillard, "orlib": write_orlib, "fjsp": write_fjsp}
"""The writer of each text format (JSON is written alike for every kind)."""


def write_text(instance: JobShopInstance, format: str) -> str:
    """Serialise ``instance`` in ``format``."""
    return write_in_format("jssp", WRITERS, instance, format)
