"""Reading instance text, shared by the kinds' ``formats`` modules: line-aware reading of
whitespace-separated numeric files, JSON documents (parsed, recognised, validated), and the
dispatch to a format's reader or writer.

Every error names the source, the line (or the field) and what was expected, as
:class:`InstanceError`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from makespan.models.errors import InstanceError
from makespan.models.sizing import looks_like_json

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


@dataclass(frozen=True)
class Row:
    """One non-blank, non-comment line: its 1-based number and its tokens."""

    line: int
    tokens: tuple[str, ...]


class TokenRows:
    """The rows of a text file, consumed front to back, with errors that point at lines."""

    def __init__(self, text: str, source: str) -> None:
        self.source = source
        self.rows = [
            Row(number, tuple(stripped.split()))
            for number, raw in enumerate(text.splitlines(), start=1)
            if (stripped := raw.split("#", 1)[0].strip())
        ]
        self.last_line = text.count("\n") + (0 if text.endswith("\n") else 1)
        self.position = 0

    def error(self, message: str, line: int | None = None) -> InstanceError:
        """An error at ``line`` (default: the current row, or the end of the file)."""
        if line is None:
            line = self.rows[self.position].line if not self.at_end else self.last_line
        return InstanceError(message, source=self.source, line=line)

    @property
    def at_end(self) -> bool:
        """True once every row was consumed."""
        return self.position >= len(self.rows)

    def peek(self) -> Row | None:
        """The next row without consuming it."""
        return None if self.at_end else self.rows[self.position]

    def next_row(self, expected: str) -> Row:
        """Consume the next row; at the end of the file, an error saying what was expected."""
        if self.at_end:
            raise self.error(f"file ends early; expected {expected}")
        row = self.rows[self.position]
        self.position += 1
        return row

    def next_ints(self, count: int | None, expected: str) -> tuple[Row, list[int]]:
        """Consume a row of exactly ``count`` integers (any number when ``count`` is None)."""
        row = self.next_row(expected)
        if count is not None and len(row.tokens) != count:
            raise self.error(
                f"expected {expected} ({count} integers), found {len(row.tokens)} values",
                row.line,
            )
        return row, [self.to_int(token, row.line) for token in row.tokens]

    def to_int(self, token: str, line: int) -> int:
        """An integer token, or an error naming the token."""
        try:
            return int(token)
        except ValueError:
            raise self.error(f"expected an integer, found {token!r}", line) from None

    def expect_end(self) -> None:
        """Error when rows remain after the data that was expected."""
        if not self.at_end:
            raise self.error("unexpected data after the end of the instance")

    def rows_iter(self) -> Iterator[Row]:
        """Consume and yield the remaining rows."""
        while not self.at_end:
            yield self.next_row("a row")


Reader = Callable[[str, str, str | None], T]
"""Parses ``(text, source, name)`` into an instance."""

REQUEST_TEXT_SOURCE = "instance_text"
"""The source name of instance text posted to the REST API: errors read ``instance_text:3: ...``."""

NOT_FILES = ("<instance>", "", REQUEST_TEXT_SOURCE)
"""Sources that are not file names, so an instance read from them is not named after them."""


def require_format(kind: str, formats: Collection[str], format: str, source: str) -> None:
    """An error naming the known formats unless ``format`` is one of them."""
    if format not in formats:
        expected = ", ".join(formats)
        raise InstanceError(
            f"unknown {kind} format {format!r}; expected one of {expected}", source=source
        )


def read_in_format(
    kind: str,
    readers: Mapping[str, Reader[T]],
    text: str,
    format: str,
    source: str,
    name: str | None,
) -> T:
    """Parse ``text`` with the reader of ``format``; the instance is named after the file when it
    has no name of its own."""
    require_format(kind, tuple(readers), format, source)
    if name is None and source not in NOT_FILES:
        name = Path(source).stem
    return readers[format](text, source, name)


def load_json_document(text: str, source: str) -> Any:
    """Parse JSON text; a syntax error names its line."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InstanceError(
            f"invalid JSON: {error.msg} (column {error.colno})", source=source, line=error.lineno
        ) from None
    except ValueError:  # an integer of more digits than Python converts (4300)
        raise InstanceError("invalid JSON: a number has too many digits", source=source) from None
    except RecursionError:
        raise InstanceError(
            "invalid JSON: arrays or objects nested too deeply", source=source
        ) from None


def json_object_with_key(text: str, keys: Collection[str]) -> bool:
    """Whether ``text`` is a JSON object with one of ``keys`` at its top level, or at the top
    of the instance it wraps (``{"instance": {...}}``): the JSON half of a kind's ``sniff``.

    Text that names a key but is not valid JSON counts as such an object, so that the kind's
    reader reports the syntax error with its line. Text that names none of the keys is
    refused without being parsed.
    """
    if not looks_like_json(text) or not any(f'"{key}"' in text for key in keys):
        return False
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):  # invalid, too deep, or too long a number
        return True
    if not isinstance(document, dict):
        return False
    wrapped = document.get("instance")
    found = document.keys() | (wrapped.keys() if isinstance(wrapped, dict) else set())
    return not found.isdisjoint(keys)


def without_problem(document: Any) -> Any:
    """A JSON document without its ``problem`` key (the kind it names, read by the registry),
    for the kinds whose files may carry one."""
    if isinstance(document, dict):
        return {key: value for key, value in document.items() if key != "problem"}
    return document


JSON_ONLY: tuple[str, ...] = ("json",)
"""The formats of a kind that has no file format but JSON."""


def read_json_only(
    kind: str,
    model: type[M],
    text: str,
    format: str | None,
    source: str,
    adapt: Callable[[Any], Any] = lambda document: document,
) -> M:
    """An instance of a kind whose one format is JSON (a ``problem`` key is tolerated);
    ``adapt`` turns another tool's document into the kind's. Errors name the source, line or
    field."""
    require_format(kind, JSON_ONLY, format or "json", source)
    document = without_problem(load_json_document(text, source))
    return validate_document(model, adapt(document), source)


def named_instance(model: type[M], data: Any, source: str | None, name: str | None) -> M:
    """Validate ``data`` as ``model``; an instance without a name of its own takes ``name``
    (its file's, see :func:`read_in_format`)."""
    instance = validate_document(model, data, source)
    if name is not None and getattr(instance, "name", None) is None:
        instance = instance.model_copy(update={"name": name})
    return instance


Writer = Callable[[T], str]
"""Serialises an instance in one text format."""


def write_in_format(kind: str, writers: Mapping[str, Writer[M]], instance: M, format: str) -> str:
    """``instance`` as text in ``format``: ``json``, or one of the kind's ``writers``."""
    if format == "json":
        return instance.model_dump_json(indent=1, exclude_none=True) + "\n"
    if format not in writers:
        raise ValueError(f"unknown {kind} format {format!r}")
    return writers[format](instance)


def validation_error(error: ValidationError, source: str | None) -> InstanceError:
    """The first pydantic validation error as an :class:`InstanceError` naming the field."""
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or None
    message = str(first["msg"]).removeprefix("Value error, ")
    count = error.error_count()
    if count > 1:
        message += f" (and {count - 1} more errors)"
    return InstanceError(message, source=source, field=field)


def validate_document(model: type[M], data: Any, source: str | None) -> M:
    """Validate ``data`` as ``model``, errors as :class:`InstanceError` naming the field."""
    if isinstance(data, model):
        return data
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise validation_error(error, source) from None
