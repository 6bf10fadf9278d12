"""The one exception type that bad instance input raises, whatever its source."""

from __future__ import annotations


class InstanceError(ValueError):
    """An instance that cannot be read or does not validate.

    ``str(error)`` is one line: ``SOURCE:LINE: message`` for files, ``field: message`` for
    JSON documents, so the CLI can print it as is and the API can return it as a 4xx body.

    Attributes:
        message: what was wrong and what was expected.
        source: the file name (or ``"<instance>"`` for in-memory text), when known.
        line: the 1-based line at fault, when known.
        field: the dotted path of the JSON field at fault, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.source = source
        self.line = line
        self.field = field
        super().__init__(str(self))

    def __str__(self) -> str:
        where = [part for part in (self.source, self.line and str(self.line)) if part]
        if self.field:
            where.append(self.field)
        prefix = ":".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message

    def to_dict(self) -> dict[str, object]:
        """The JSON body the API answers with."""
        return {
            "message": self.message,
            "source": self.source,
            "line": self.line,
            "field": self.field,
        }
