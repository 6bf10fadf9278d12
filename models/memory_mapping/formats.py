"""Memory-mapping instance files: MiniMalloc CSV and JSON, read, sized and recognised.

MiniMalloc CSV: a header naming at least ``id,lower,upper,size`` (``alignment`` optional; other
columns, such as a reference ``offset``, are ignored), then one buffer per line. MiniMalloc's
benchmark files are named ``NAME.<capacity>.csv``; such a name supplies the capacity when the
caller gives none.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

from makespan.models.errors import InstanceError
from makespan.models.memory_mapping.instance import MAX_VALUE, MemoryInstance
from makespan.models.sizing import (
    json_text_size,
    length,
    looks_like_json,
    member,
    nonblank_line_count,
)
from makespan.models.textfile import (
    json_object_with_key,
    load_json_document,
    named_instance,
    read_in_format,
    validate_document,
    without_problem,
)

FORMATS: tuple[str, ...] = ("minimalloc", "json")
"""The file formats :func:`read_text` understands."""

FILE_EXTENSIONS: tuple[str, ...] = (".csv",)
"""Extensions that mark a memory-mapping file whatever its content."""

JSON_KEYS = ("buffers",)
"""Top-level keys of a memory-mapping JSON document."""

REQUIRED_COLUMNS = ("id", "lower", "upper", "size")
OPTIONAL_COLUMNS = ("alignment", "benefit")
_CAPACITY_IN_NAME = re.compile(r"\.(\d+)\.csv$", re.IGNORECASE)


def capacity_from_name(source: str) -> int | None:
    """The capacity a MiniMalloc benchmark file name carries (``A.1048576.csv``), if any."""
    match = _CAPACITY_IN_NAME.search(Path(source).name)
    return int(match.group(1)) if match else None


def read_csv(text: str, source: str, name: str | None) -> MemoryInstance:
    """Parse MiniMalloc CSV; errors name the file, the line and what was expected."""
    rows = _records(text, source)
    if not rows:
        raise InstanceError(
            "empty file; expected a header id,lower,upper,size", source=source, line=1
        )
    header_line, header = rows[0]
    columns = _columns(header, source, header_line)
    buffers = [_buffer(row, columns, source, number) for number, row in rows[1:]]
    if not buffers:
        raise InstanceError(
            "no buffers; expected one line per buffer after the header",
            source=source,
            line=header_line + 1,
        )
    _unique_ids(buffers, [number for number, _ in rows[1:]], source)
    document: dict[str, Any] = {"name": name, "buffers": buffers}
    capacity = capacity_from_name(source)
    if capacity is not None:
        document["capacity"] = capacity
    return validate_document(MemoryInstance, document, source)


def _records(text: str, source: str) -> list[tuple[int, list[str]]]:
    """The CSV records that hold something (not blank, not ``#`` comments), each with the line
    it ends on."""
    reader = csv.reader(io.StringIO(text))
    rows = []
    try:
        for row in reader:
            if row and any(cell.strip() for cell in row) and not row[0].lstrip().startswith("#"):
                rows.append((reader.line_num, row))
    except csv.Error as error:  # a field over the csv module's limit, an unclosed quote...
        raise InstanceError(
            f"unreadable CSV: {error}", source=source, line=max(1, reader.line_num)
        ) from None
    return rows


def _columns(header: list[str], source: str, line: int) -> dict[str, int]:
    names = [cell.strip().lower() for cell in header]
    missing = [column for column in REQUIRED_COLUMNS if column not in names]
    if missing:
        raise InstanceError(
            f"header lacks {', '.join(missing)}; expected a header id,lower,upper,size"
            "[,alignment] (got " + ",".join(names) + ")",
            source=source,
            line=line,
        )
    return {
        name: names.index(name) for name in REQUIRED_COLUMNS + OPTIONAL_COLUMNS if name in names
    }


def _buffer(row: list[str], columns: dict[str, int], source: str, line: int) -> dict[str, Any]:
    width = max(columns.values()) + 1
    if len(row) < width:
        raise InstanceError(
            f"expected at least {width} comma-separated values, got {len(row)}",
            source=source,
            line=line,
        )
    buffer: dict[str, Any] = {"id": row[columns["id"]].strip()}
    if not buffer["id"]:
        raise InstanceError("empty buffer id", source=source, line=line)
    for name in ("lower", "upper", "size", *OPTIONAL_COLUMNS):
        if name in columns and (name in REQUIRED_COLUMNS or row[columns[name]].strip()):
            buffer[name] = _integer(row[columns[name]], name, source, line)
    if buffer["upper"] <= buffer["lower"]:
        raise InstanceError(
            f"upper ({buffer['upper']}) must exceed lower ({buffer['lower']}): lifetimes are "
            "half-open [lower, upper)",
            source=source,
            line=line,
        )
    return buffer


def _integer(cell: str, name: str, source: str, line: int) -> int:
    text = cell.strip()
    try:
        value = int(text)
    except ValueError:  # not an integer, or over 4300 digits
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise InstanceError(
            f"expected an integer {name}, got {shown!r}", source=source, line=line
        ) from None
    smallest = 1 if name in ("size", "alignment") else 0
    if not smallest <= value <= MAX_VALUE:
        raise InstanceError(
            f"{name} {value} out of range; expected {smallest} <= {name} <= {MAX_VALUE}",
            source=source,
            line=line,
        )
    return value


def _unique_ids(buffers: list[dict[str, Any]], lines: list[int], source: str) -> None:
    first_line: dict[str, int] = {}
    for buffer, line in zip(buffers, lines, strict=True):
        if buffer["id"] in first_line:
            raise InstanceError(
                f"duplicate buffer id {buffer['id']!r} (first on line {first_line[buffer['id']]})",
                source=source,
                line=line,
            )
        first_line[buffer["id"]] = line


def read_json(text: str, source: str, name: str | None) -> MemoryInstance:
    """Parse the JSON form (the instance schema; a ``problem`` key is tolerated)."""
    document = without_problem(load_json_document(text, source))
    return named_instance(MemoryInstance, document, source, name)


READERS = {"minimalloc": read_csv, "json": read_json}
"""The reader of each format: ``(text, source, name) -> instance``."""


def read_text(
    text: str, format: str | None = None, source: str = "<instance>", name: str | None = None
) -> MemoryInstance:
    """Parse ``text`` in ``format`` (inferred when None: JSON, else MiniMalloc CSV)."""
    if format is None:
        format = "json" if text.lstrip().startswith("{") else "minimalloc"
    return read_in_format("memory_mapping", READERS, text, format, source, name)


def document_size(data: Any) -> int:
    """The buffers of a JSON document, from its length alone."""
    return length(member(data, "buffers"))


def text_size(text: str, format: str | None = None) -> int:
    """The buffers of instance text before parsing it: the CSV's non-blank lines less the
    header (counted, not split), or the JSON document's."""
    if format == "json" or (format is None and looks_like_json(text)):
        return json_text_size(text, document_size)
    return max(0, nonblank_line_count(text) - 1)


def sniff(text: str) -> bool:
    """Whether ``text`` is a memory-mapping JSON document or MiniMalloc CSV."""
    if looks_like_json(text):
        return json_object_with_key(text, JSON_KEYS)
    return _looks_like_csv(text)


def _looks_like_csv(text: str) -> bool:
    """True when the first non-blank line is a MiniMalloc header."""
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            names = {cell.strip().lower() for cell in line.split(",")}
            return set(REQUIRED_COLUMNS) <= names
    return False
