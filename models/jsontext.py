"""Reading JSON that a caller sent: bounded before it is built, so hostile input costs little.

What ``json.loads`` alone lets through, or answers with an exception other than a decoding
error, is an :class:`InstanceError` here:

* nesting deeper than :data:`MAX_JSON_DEPTH` (found by a vectorised scan of the bytes before any
  object is built; no instance of any kind nests half as deep);
* ``NaN``, ``Infinity`` and numbers that overflow a float, which no field accepts;
* integers longer than Python converts (4300 digits). Shorter ones are left to each field's
  bounds, which keep every sum inside 64 bits: checking every integer here would cost a Python
  call per number, three times the parse itself on a large instance.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from makespan.models.errors import InstanceError

MAX_JSON_DEPTH = 32
"""Deepest nesting of arrays and objects accepted (instances need at most about eight)."""

_CHUNK = 1 << 20
"""Bytes scanned per step of the depth scan: bounds its temporary arrays to a few MB."""

_QUOTE, _BACKSLASH = 34, 92
_OPENERS, _CLOSERS = (91, 123), (93, 125)  # [ {   and   ] }


class _NumberOutOfRangeError(ValueError):
    """A number literal no field can hold."""


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NumberOutOfRangeError(f"number {_abbreviated(text)} overflows a 64-bit float")
    return value


def _no_constant(text: str) -> Any:
    raise _NumberOutOfRangeError(f"{text} is not a number JSON allows here")


def _abbreviated(text: str) -> str:
    return text if len(text) <= 24 else f"{text[:12]}...({len(text)} characters)"


def parse_json(data: bytes | str, source: str | None = None) -> Any:
    """Parse JSON sent by a caller, refusing deep nesting and out-of-range numbers.

    Raises:
        InstanceError: invalid JSON (naming its line), nesting deeper than
            :data:`MAX_JSON_DEPTH`, or a number outside the 64-bit range.
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    brackets = raw.count(b"[") + raw.count(b"{")  # fewer brackets than the limit: no scan needed
    if brackets > MAX_JSON_DEPTH and (depth := json_depth(raw)) > MAX_JSON_DEPTH:
        raise InstanceError(
            f"JSON nested {depth} levels deep; at most {MAX_JSON_DEPTH} are accepted",
            source=source,
        )
    try:
        return json.loads(raw, parse_float=_finite_float, parse_constant=_no_constant)
    except json.JSONDecodeError as error:
        raise InstanceError(
            f"invalid JSON: {error.msg} (column {error.colno})", source=source, line=error.lineno
        ) from None
    except _NumberOutOfRangeError as error:
        raise InstanceError(str(error), source=source) from None
    except (UnicodeDecodeError, RecursionError, ValueError) as error:
        text = str(error).split(";")[0]  # Python's own digit limit names the cure: not ours
        raise InstanceError(f"invalid JSON: {text}", source=source) from None


def json_depth(data: bytes) -> int:
    """The deepest nesting of arrays and objects in JSON text (brackets inside strings are
    ignored), found without parsing: a few vectorised passes over the bytes."""
    text = np.frombuffer(data, np.uint8)
    quotes = _unescaped_quotes(text)
    level = deepest = 0
    for low in range(0, len(text), _CHUNK):
        chunk = text[low : low + _CHUNK]
        opens = (chunk == _OPENERS[0]) | (chunk == _OPENERS[1])
        closes = (chunk == _CLOSERS[0]) | (chunk == _CLOSERS[1])
        positions = np.flatnonzero(opens | closes)
        outside = np.searchsorted(quotes, positions + low) % 2 == 0
        positions = positions[outside]
        if len(positions) == 0:
            continue
        levels = np.cumsum(np.where(opens[positions], 1, -1), dtype=np.int64) + level
        deepest = max(deepest, int(levels.max()))
        level = int(levels[-1])
    return deepest


def _unescaped_quotes(text: NDArray[np.uint8]) -> NDArray[np.int64]:
    """Positions of the quotes that open or close strings: those not preceded by an odd run
    of backslashes."""
    quotes = np.flatnonzero(text == _QUOTE)
    after_backslash = quotes[(quotes > 0) & (text[np.maximum(quotes - 1, 0)] == _BACKSLASH)]
    if len(after_backslash) == 0:
        return quotes
    backslashes = np.flatnonzero(text == _BACKSLASH)
    starts_run = np.ones(len(backslashes), dtype=bool)
    starts_run[1:] = np.diff(backslashes) != 1
    run_start = backslashes[
        np.maximum.accumulate(np.where(starts_run, np.arange(len(starts_run)), 0))
    ]
    last = np.searchsorted(backslashes, after_backslash - 1)
    escaped = (after_backslash - run_start[last]) % 2 == 1
    return np.setdiff1d(quotes, after_backslash[escaped], assume_unique=True)
