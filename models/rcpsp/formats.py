"""RCPSP instance files: PSPLIB ``.sm``, Patterson ``.rcp`` and JSON, read and written.

- ``psplib``: the single-mode PSPLIB format (Kolisch & Sprecher 1996), sections
  ``PRECEDENCE RELATIONS``, ``REQUESTS/DURATIONS`` and ``RESOURCEAVAILABILITIES``.
- ``patterson``: a line ``activities resources``, the capacities, then per activity its
  duration, demands, number of successors and successors (numbered from 1); an activity's data
  may wrap over several lines.
- ``json``: :class:`RcpspInstance` as JSON.

Both text formats are parsed by the ``psplib`` package. It reports no line numbers, so the text
is first checked here, row by row (integers, counts, ranges, sections), and every problem is
reported as ``FILE:LINE: message``. Activities keep the file's 1-based job numbers as ids, the
dummy start and end included; resources are named ``R1``, ``R2``, ...
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from makespan.models.errors import InstanceError
from makespan.models.rcpsp.instance import Activity, RcpspInstance
from makespan.models.sizing import (
    LINE_BREAKS,
    content_tokens,
    count_token,
    json_text_size,
    length,
    line_break_count,
    lines,
    looks_like_json,
    member,
)
from makespan.models.textfile import (
    TokenRows,
    json_object_with_key,
    load_json_document,
    named_instance,
    read_in_format,
    write_in_format,
)

FORMATS: tuple[str, ...] = ("psplib", "patterson", "json")
"""The file formats :func:`read_text` understands."""

EXTENSIONS = {".sm": "psplib", ".rcp": "patterson", ".json": "json"}
"""The format each file extension implies."""

FILE_EXTENSIONS: tuple[str, ...] = tuple(e for e, f in EXTENSIONS.items() if f != "json")
"""Extensions that mark an RCPSP file whatever its content (a ``.json`` file may be any kind)."""

JSON_KEYS = ("activities",)
"""Top-level keys of an RCPSP JSON document."""

_JOBS_LINE = re.compile(
    rf"(?:^|(?<=[{LINE_BREAKS}]))[ \t]*jobs[^:{LINE_BREAKS}]*:[ \t]*(\d+)", re.MULTILINE | re.ASCII
)
"""PSPLIB's ``jobs (incl. supersource/sink ):  32`` header line."""

_PRECEDENCE = "PRECEDENCE RELATIONS"
_REQUESTS = "REQUESTS/DURATIONS"
_AVAILABILITIES = "AVAILABILITIES"


@dataclass(frozen=True)
class _Layout:
    """What the text check learned: activity count, resource kinds, and the line of each
    activity's successor list (to place errors found later)."""

    renewable: tuple[bool, ...]
    activity_lines: tuple[int, ...]


# --------------------------------------------------------------------------------------------
# Patterson
# --------------------------------------------------------------------------------------------


class _Tokens:
    """The remaining integers of a file as one stream, each with its line."""

    def __init__(self, rows: TokenRows) -> None:
        self.rows = rows
        self.items = [(token, row.line) for row in rows.rows_iter() for token in row.tokens]
        self.position = 0

    def take(self, expected: str, low: int = 0, high: int | None = None) -> tuple[int, int]:
        """The next integer and its line, checked to lie in ``[low, high]``."""
        if self.position >= len(self.items):
            raise self.rows.error(f"file ends early; expected {expected}", self.rows.last_line)
        token, line = self.items[self.position]
        self.position += 1
        value = self.rows.to_int(token, line)
        if value < low or (high is not None and value > high):
            bound = f"{low}..{high}" if high is not None else f">= {low}"
            raise self.rows.error(f"{expected} must be {bound}, found {value}", line)
        return value, line

    def expect_end(self) -> None:
        """Error at the first token left over."""
        if self.position < len(self.items):
            line = self.items[self.position][1]
            raise self.rows.error("unexpected data after the last activity", line)


def _check_patterson(text: str, source: str) -> _Layout:
    rows = TokenRows(text, source)
    header, (n, r) = rows.next_ints(2, "'activities resources'")
    if n < 1 or r < 0:
        raise rows.error(f"expected >= 1 activities and >= 0 resources, found {n} {r}", header.line)
    if r:
        row, capacities = rows.next_ints(r, f"the capacities of the {r} resources")
        if any(c < 0 for c in capacities):
            raise rows.error("capacities must be >= 0", row.line)
    tokens = _Tokens(rows)
    lines = []
    for i in range(1, n + 1):
        tokens.take(f"the duration of activity {i}")
        for k in range(1, r + 1):
            tokens.take(f"the demand of activity {i} for resource {k}")
        count, line = tokens.take(f"the number of successors of activity {i}", 0, n)
        for _ in range(count):
            tokens.take(f"a successor of activity {i}", 1, n)
        lines.append(line)
    tokens.expect_end()
    return _Layout((True,) * r, tuple(lines))


# --------------------------------------------------------------------------------------------
# PSPLIB
# --------------------------------------------------------------------------------------------


class _Sections:
    """The non-blank lines of a PSPLIB file, stripped, with their numbers (as ``psplib`` sees
    them), and errors that name lines."""

    def __init__(self, text: str, source: str) -> None:
        self.source = source
        numbered = enumerate(text.splitlines(), start=1)
        self.lines = [(number, raw.strip()) for number, raw in numbered if raw.strip()]
        self.last_line = max(1, text.count("\n") + (0 if text.endswith("\n") else 1))

    def error(self, message: str, index: int | None = None) -> InstanceError:
        """An error at the ``index``-th non-blank line (default: the end of the file)."""
        line = self.last_line if index is None or index >= len(self.lines) else self.lines[index][0]
        return InstanceError(message, source=self.source, line=line)

    def find(self, pattern: str) -> int:
        """Index of the first line containing ``pattern``; a missing section is a truncation."""
        for index, (_, line) in enumerate(self.lines):
            if pattern in line:
                return index
        raise self.error(f"file ends early; expected the {pattern!r} section")

    def ints(self, index: int, expected: str) -> list[int]:
        """The integers of one line (the file ends early when there is none)."""
        if index >= len(self.lines):
            raise self.error(f"file ends early; expected {expected}")
        values = []
        for token in self.lines[index][1].split():
            try:
                values.append(int(token))
            except ValueError:
                raise self.error(f"expected an integer, found {token!r}", index) from None
        return values

    def header_count(self, label: str) -> tuple[int, int] | None:
        """``(value, index)`` of a ``label ... : value`` header line, if the file has one."""
        for index, (_, line) in enumerate(self.lines):
            if line.startswith(label) and ":" in line:
                # At most 18 digits: a longer count is no count (and int() refuses 4300+).
                match = re.match(r"\s*(-?\d{1,18})(?!\d)", line.split(":", 1)[1], re.ASCII)
                if match is None:
                    raise self.error(f"expected an integer after {label!r}", index)
                return int(match.group(1)), index
        return None


def _psplib_resources(sections: _Sections, avail: int) -> tuple[bool, ...]:
    """Resource kinds from the availability header (``R 1  R 2  N 1``)."""
    if avail + 1 >= len(sections.lines):
        raise sections.error("file ends early; expected the resource names")
    kinds = [t for t in sections.lines[avail + 1][1].split() if t.isalpha()]
    if any(kind not in ("R", "N") for kind in kinds):
        raise sections.error("only renewable (R) and non-renewable (N) resources are supported")
    capacities = sections.ints(avail + 2, "the resource availabilities")
    if len(capacities) != len(kinds) or any(c < 0 for c in capacities):
        raise sections.error(
            f"expected {len(kinds)} availabilities >= 0, found {capacities}", avail + 2
        )
    return tuple(kind == "R" for kind in kinds)


def _psplib_precedences(sections: _Sections, first: int, stop: int, jobs: int | None) -> list[int]:
    rows = list(range(first, stop))
    n = len(rows) if jobs is None else jobs
    if len(rows) != n:
        raise sections.error(f"expected {n} precedence rows, found {len(rows)}", stop)
    for number, index in enumerate(rows, start=1):
        values = sections.ints(index, f"the precedences of job {number}")
        if len(values) < 3 or values[0] != number:
            raise sections.error(f"expected 'job modes successors...' for job {number}", index)
        if values[1] != 1:
            raise sections.error(f"job {number} has {values[1]} modes; expected 1", index)
        successors = values[3:]
        if len(successors) != values[2]:
            raise sections.error(
                f"job {number} lists {len(successors)} successors, not {values[2]}", index
            )
        if any(not 1 <= s <= n for s in successors):
            raise sections.error(f"a successor of job {number} is out of range 1..{n}", index)
    return rows


def _psplib_requests(
    sections: _Sections, first: int, stop: int, n: int, renewable: tuple[bool, ...]
) -> None:
    rows = list(range(first, stop))
    if len(rows) != n:
        raise sections.error(f"expected {n} request rows, found {len(rows)}", stop)
    width = 3 + len(renewable)
    for number, index in enumerate(rows, start=1):
        values = sections.ints(index, f"the requests of job {number}")
        if len(values) != width or values[0] != number or values[1] != 1:
            raise sections.error(
                f"expected 'job 1 duration' and {len(renewable)} demands for job {number}", index
            )
        if any(v < 0 for v in values[2:]):
            raise sections.error(f"durations and demands must be >= 0 (job {number})", index)
        if any(d and not r for d, r in zip(values[3:], renewable, strict=True)):
            raise sections.error(f"job {number} uses a non-renewable resource", index)


def _check_psplib(text: str, source: str) -> _Layout:
    sections = _Sections(text, source)
    prec = sections.find(_PRECEDENCE)
    req = sections.find(_REQUESTS)
    avail = sections.find(_AVAILABILITIES)
    if not prec < req < avail:
        raise sections.error("sections out of order", req)
    jobs = sections.header_count("jobs")
    renewable = _psplib_resources(sections, avail)
    rows = _psplib_precedences(sections, prec + 2, req - 1, None if jobs is None else jobs[0])
    _psplib_requests(sections, req + 3, avail - 1, len(rows), renewable)
    return _Layout(renewable, tuple(sections.lines[i][0] for i in rows))


# --------------------------------------------------------------------------------------------
# Through the psplib package
# --------------------------------------------------------------------------------------------


def _parse_with_psplib(
    parse: Callable[[Path], Any], text: str, source: str, layout: _Layout, name: str | None
) -> RcpspInstance:
    """Run the package's parser on ``text`` (it reads files) and convert what it returns."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "instance"
        path.write_text(text, encoding="utf-8")
        try:
            project = parse(path)
        except (
            ValueError,
            IndexError,
            KeyError,
            StopIteration,
            TypeError,
            AttributeError,
            OverflowError,
        ) as error:
            # The text check above accepts only what psplib reads; name the header line.
            raise InstanceError(
                f"psplib cannot read the file: {error}", source=source, line=1
            ) from None
    names = [f"R{k}" for k in range(1, len(layout.renewable) + 1)]
    # Plain dicts, validated once below, so that an out-of-range number is an error with a line.
    resources = [
        {"name": names[k], "capacity": r.capacity}
        for k, r in enumerate(project.resources)
        if layout.renewable[k]
    ]
    activities = []
    for i, activity in enumerate(project.activities):
        mode = activity.modes[0]
        demands = {names[k]: d for k, d in enumerate(mode.demands) if d > 0 and layout.renewable[k]}
        successors = [s + 1 for s in activity.successors]
        activities.append(
            {"id": i + 1, "duration": mode.duration, "demands": demands, "successors": successors}
        )
    document = {"name": name, "resources": resources, "activities": activities}
    return _validated(document, source, layout)


def _validated(document: dict[str, Any], source: str, layout: _Layout) -> RcpspInstance:
    """Validate a parsed file; an error about an activity points at its line."""
    try:
        return RcpspInstance.model_validate(document)
    except ValidationError as error:
        first = error.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        path = ".".join(str(part) for part in first["loc"])
        if path:
            message = f"{path}: {message}"
        found = re.search(r"activities\.(\d+)", message)
        index = int(found.group(1)) if found else -1
        line = layout.activity_lines[index] if 0 <= index < len(layout.activity_lines) else 1
        raise InstanceError(message, source=source, line=line) from None


def read_psplib(text: str, source: str = "<instance>", name: str | None = None) -> RcpspInstance:
    """Parse a single-mode PSPLIB ``.sm`` file."""
    from psplib import parse_psplib

    return _parse_with_psplib(parse_psplib, text, source, _check_psplib(text, source), name)


def read_patterson(text: str, source: str = "<instance>", name: str | None = None) -> RcpspInstance:
    """Parse a Patterson ``.rcp`` file."""
    from psplib import parse_patterson

    return _parse_with_psplib(parse_patterson, text, source, _check_patterson(text, source), name)


def read_json(text: str, source: str = "<instance>", name: str | None = None) -> RcpspInstance:
    """Parse a JSON instance."""
    return named_instance(RcpspInstance, load_json_document(text, source), source, name)


# --------------------------------------------------------------------------------------------
# Inference
# --------------------------------------------------------------------------------------------


def document_size(data: Any) -> int:
    """The activities of a JSON document, from its length alone."""
    return length(member(data, "activities"))


def text_size(text: str, format: str | None = None) -> int:
    """The activities of instance text before parsing it: PSPLIB's ``jobs`` header line (else
    its line count), the first number of a Patterson file, or the JSON document's."""
    if format is None:
        format = _format_by_content(text)
    if format == "json":
        return json_text_size(text, document_size)
    if format == "psplib":
        found = _JOBS_LINE.search(text)
        jobs = count_token(found.group(1)) if found else None
        return line_break_count(text) if jobs is None else jobs
    if format == "patterson":
        return _patterson_activities(text)
    return 0


def _format_by_content(text: str) -> str:
    if looks_like_json(text):
        return "json"
    return "psplib" if _PRECEDENCE in text else "patterson"


def _patterson_activities(text: str) -> int:
    """The first number of the first line that holds any: Patterson's activity count."""
    for line in lines(text):
        tokens = content_tokens(line)
        if tokens:
            return count_token(tokens[0]) or 0
    return 0


def sniff(text: str) -> bool:
    """Whether ``text`` is an RCPSP JSON document, a PSPLIB file or a well-formed Patterson
    file (checked in full: Patterson files have no keyword to recognise them by)."""
    if looks_like_json(text):
        return json_object_with_key(text, JSON_KEYS)
    if _PRECEDENCE in text and _REQUESTS in text:
        return True
    try:
        _check_patterson(text, "<instance>")
    except InstanceError:
        return False
    return True


def infer_format(text: str, source: str) -> str:
    """The format by extension, else by content (JSON, PSPLIB sections, else Patterson)."""
    return EXTENSIONS.get(Path(source).suffix.lower()) or _format_by_content(text)


READERS: dict[str, Callable[[str, str, str | None], RcpspInstance]] = {
    "psplib": read_psplib,
    "patterson": read_patterson,
    "json": read_json,
}
"""The reader of each format: ``(text, source, name) -> instance``."""


def read_text(
    text: str, format: str | None = None, source: str = "<instance>", name: str | None = None
) -> RcpspInstance:
    """Parse ``text`` in ``format`` (inferred when None)."""
    fmt = format or infer_format(text, source)
    return read_in_format("rcpsp", READERS, text, fmt, source, name)


# --------------------------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------------------------


def _plain_rows(instance: RcpspInstance, format: str) -> Iterator[tuple[Activity, list[int]]]:
    """Every activity with its demand row; only plain RCPSP fits the text formats."""
    extras = instance.disjunctive or instance.lags or any(r.downtime for r in instance.resources)
    windows = any(a.release or a.deadline is not None for a in instance.activities)
    numbered = all(a.id == i for i, a in enumerate(instance.activities, start=1))
    if extras or windows or not numbered:
        raise ValueError(
            f"the {format} format holds only plain RCPSP with activities numbered 1..n "
            "(no downtime, windows, disjunctive pairs or lags)"
        )
    for activity in instance.activities:
        yield activity, [activity.demands.get(r.name, 0) for r in instance.resources]


def write_patterson(instance: RcpspInstance) -> str:
    """The Patterson format."""
    lines = [f"{instance.num_activities} {len(instance.resources)}"]
    if instance.resources:
        lines.append(" ".join(str(r.capacity) for r in instance.resources))
    for activity, demands in _plain_rows(instance, "patterson"):
        values = [activity.duration, *demands, len(activity.successors), *activity.successors]
        lines.append(" ".join(str(v) for v in values))
    return "\n".join(lines) + "\n"


def write_psplib(instance: RcpspInstance) -> str:
    """The single-mode PSPLIB format (every resource renewable)."""
    rows = list(_plain_rows(instance, "psplib"))
    rule = "*" * 72
    r = len(instance.resources)
    names = "  ".join(f"R {k}" for k in range(1, r + 1))
    lines = [
        rule,
        f"jobs (incl. supersource/sink ):  {instance.num_activities}",
        f"horizon                       :  {sum(a.duration for a in instance.activities)}",
        "RESOURCES",
        f"  - renewable                 :  {r}   R",
        "  - nonrenewable              :  0   N",
        "  - doubly constrained        :  0   D",
        rule,
        f"{_PRECEDENCE}:",
        "jobnr.    #modes  #successors   successors",
    ]
    for activity, _ in rows:
        successors = " ".join(str(s) for s in activity.successors)
        lines.append(f"{activity.id}  1  {len(activity.successors)}  {successors}".rstrip())
    lines += [rule, f"{_REQUESTS}:", f"jobnr. mode duration  {names}", "-" * 72]
    for activity, demands in rows:
        lines.append(" ".join(str(v) for v in (activity.id, 1, activity.duration, *demands)))
    lines += [rule, f"RESOURCE{_AVAILABILITIES}:", names]
    lines += [" ".join(str(res.capacity) for res in instance.resources), rule]
    return "\n".join(lines) + "\n"


WRITERS = {"psplib": write_psplib, "patterson": write_patterson}
"""The writer of each text format (JSON is written alike for every kind)."""


def write_text(instance: RcpspInstance, format: str) -> str:
    """Serialise ``instance`` in ``format``."""
    return write_in_format("rcpsp", WRITERS, instance, format)
