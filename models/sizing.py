"""Cheap readers for sizing an instance before it is validated or parsed.

A service refuses an oversize instance before doing work proportional to it, so each kind's
``document_size`` and ``text_size`` read only the few numbers and lengths that fix its size.
Every helper here never raises: what it cannot read counts as 0 (or, for a number too long to
read, as :data:`UNREADABLY_LARGE`), and validation reports the error later.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from typing import Any

UNREADABLY_LARGE = 2**63
"""The count given to a number written with more digits than any limit can admit."""

_MAX_DIGITS = 18
"""Longest digit string read as a number; longer ones are :data:`UNREADABLY_LARGE`."""

_NUMERIC_TEXT = re.compile(r"\s*\+?(\d[\d_]*)(?:\.0*)?\s*", re.ASCII)
"""A non-negative integer as pydantic's lax mode reads it from a string (``" 4 "``, ``"4.0"``,
``"1_000"``)."""

_JSON_START = re.compile(r"\s*[{\[]")


def count(value: Any) -> int:
    """``value`` as a non-negative count, read as pydantic's lax mode reads an integer (a
    bool, an integral float, a numeric string), so that no spelling escapes the limit; 0 for
    anything else."""
    if isinstance(value, bool | int):
        return max(0, int(value))
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() and value > 0 else 0
    if isinstance(value, str):
        return _count_in_text(value)
    return 0


def _count_in_text(text: str) -> int:
    match = _NUMERIC_TEXT.fullmatch(text)
    if match is None:
        return 0
    digits = match.group(1).replace("_", "")
    return int(digits) if len(digits) <= _MAX_DIGITS else UNREADABLY_LARGE


def length(value: Any) -> int:
    """The length of a JSON array (a list or tuple), else 0."""
    return len(value) if isinstance(value, list | tuple) else 0


def lengths_sum(value: Any) -> int:
    """The summed lengths of the arrays inside a JSON array (rows of a matrix), else 0."""
    return sum(length(row) for row in value) if isinstance(value, list | tuple) else 0


def member(document: Any, name: str, default: Any = None) -> Any:
    """``document[name]`` when ``document`` is a JSON object that has it, else ``default``."""
    return document.get(name, default) if isinstance(document, dict) else default


def looks_like_json(text: str) -> bool:
    """Whether ``text`` opens (after blanks) with a JSON object or array; O(leading blanks)."""
    return _JSON_START.match(text) is not None


def json_text_size(text: str, document_size: Callable[[Any], int]) -> int:
    """The ``document_size`` of JSON text; 0 when it does not parse (its reader says why)."""
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        return 0
    return document_size(document)


LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
"""Every character that ends a line for ``str.splitlines``, which the text parsers use."""

_LINE = re.compile(f"[^{LINE_BREAKS}]*")


def lines(text: str) -> Iterator[str]:
    """The lines of ``text`` as ``str.splitlines`` cuts them (plus empty ones, between ``\\r``
    and ``\\n``), one at a time, so that reading a header costs only the header."""
    for match in _LINE.finditer(text):
        yield match.group()


def line_break_count(text: str) -> int:
    """An upper bound on the lines of ``text`` however they are cut: every line break counted
    (``\\r\\n`` twice), plus one; counted with ``str.count``, no line is built."""
    return 1 + sum(text.count(mark) for mark in LINE_BREAKS)


def content_tokens(line: str) -> list[str]:
    """The whitespace-separated tokens of a line before any ``#`` comment."""
    return line.split("#", 1)[0].split()


def count_token(token: str) -> int | None:
    """A token as a non-negative integer, None when it is not one (a sign or a letter)."""
    text = token.removeprefix("+")
    if not text.isdigit() or not text.isascii():
        return None
    return int(text) if len(text) <= _MAX_DIGITS else UNREADABLY_LARGE


def nonblank_line_count(text: str) -> int:
    """An upper bound on the lines of ``text`` that hold something, as the csv module cuts them
    (at ``\\n``, ``\\r`` or ``\\r\\n``): the line breaks, less runs of empty lines;
    counted with ``str.count``, no line is built."""
    if not text:
        return 0
    breaks = max(text.count("\n"), text.count("\r"))
    total = breaks + (0 if text[-1] in "\r\n" else 1)
    empty = 0 if "\r" in text else text.count("\n\n") + (1 if text[0] == "\n" else 0)
    return max(0, total - empty)
