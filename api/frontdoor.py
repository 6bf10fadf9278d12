"""The front door: what every request passes before any route sees it.

In order, each refusal a JSON error body:

1. ``Host``: when the service runs without an API key (trusting whoever reaches loopback), a
   request whose ``Host`` is not a loopback name or one of ``MAKESPAN_ALLOWED_HOSTS`` is a
   ``400``. A web page on another site can make a browser send requests to
   ``127.0.0.1`` through a DNS name it controls (DNS rebinding); the ``Host`` it sends is that
   name, so it is refused here.
2. ``Authorization``: with an API key, every ``/v1/`` route needs ``Bearer KEY``; a missing,
   malformed, non-ASCII or wrong header is a ``401`` (compared in constant time, as bytes).
3. The body: over ``max_body_bytes`` by ``Content-Length`` or while it streams (chunked) is a
   ``413``, before any route reads it. The body is read here once and handed on.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from makespan.api.errors import error_response

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
"""Host names that only reach this machine."""

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def host_name(header: str) -> str:
    """The host of a ``Host`` header value, without port or IPv6 brackets, lower case."""
    value = header.strip().lower()
    if value.startswith("["):
        return value[1:].partition("]")[0]
    return value.rpartition(":")[0] if value.count(":") == 1 else value


class FrontDoor:
    """ASGI middleware: host check, API key, body limit (see the module docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        allowed_hosts: frozenset[str] | None,
        api_key: str | None,
        max_body_bytes: int,
    ) -> None:
        self.app = app
        self.allowed_hosts = allowed_hosts
        self.api_key = None if api_key is None else api_key.encode("utf-8")
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {name.lower(): value for name, value in scope.get("headers", [])}
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        if scope.get("method") not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        body = await self._read_body(headers, receive)
        if body is None:
            too_large = error_response(
                413, f"request body over the limit of {self.max_body_bytes} bytes", field="body"
            )
            await too_large(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    def _refusal(self, scope: Scope, headers: dict[bytes, bytes]) -> ASGIApp | None:
        if self.allowed_hosts is not None:
            host = host_name(headers.get(b"host", b"").decode("latin-1"))
            if host not in self.allowed_hosts:
                return error_response(
                    400,
                    f"Host {host!r} is not served here; allowed: "
                    f"{', '.join(sorted(self.allowed_hosts))} (MAKESPAN_ALLOWED_HOSTS)",
                    field="Host",
                )
        path = str(scope.get("path", ""))
        guarded = self.api_key is not None and path.startswith("/v1/")
        if guarded and not self._authorized(headers.get(b"authorization", b"")):
            return error_response(
                401,
                "missing or wrong API key",
                headers={"WWW-Authenticate": "Bearer"},
                field="Authorization",
            )
        return None

    def _authorized(self, header: bytes) -> bool:
        assert self.api_key is not None
        scheme, _, token = header.strip().partition(b" ")
        if scheme.lower() != b"bearer":
            return False
        return hmac.compare_digest(token.strip(), self.api_key)

    async def _read_body(self, headers: dict[bytes, bytes], receive: Receive) -> bytes | None:
        """The whole body, or None as soon as it exceeds the limit."""
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            return None
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client went away; the route sees an empty body
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands on the body read already, then the client's later messages (a
    disconnect, for streaming responses)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
