"""Numeric limits shared by every kind: what the solvers' integers and floats hold exactly.

Each kind bounds its own numbers (durations, sizes, weights) in its ``instance`` module so that
the sums its model, compiler and checker form stay below these.
"""

from __future__ import annotations

INT64_SAFE = 2**62
"""Largest value a sum formed from an instance may reach: half the int64 range, so that one more
addition of a bounded term (an end = start + duration, a peak = offset + size) or CP-SAT's own
overflow check (sum of |coefficient| x |bound|) still fits in 64 bits."""

FLOAT_EXACT = 2**53
"""Integers up to here are exact as doubles: objectives reported as JSON numbers, and
coefficients handed to HiGHS, stay exact below it."""

MAX_HORIZON = 10**15
"""Largest time horizon of a scheduling instance (jssp: the sum of durations; rcpsp: the
latest window end plus the sum of durations and lags): every start, end and makespan stays
below it, exact as a double (< :data:`FLOAT_EXACT`) and far inside int64 for the solvers'
sums of a few such times."""
