"""ASGI middleware: the request targets HTTP/1.1 defines besides a path, a cap on the request
body (413), compressed bodies decoded within it (`encodings.py`), HEAD answered as GET, a time
limit on the answer (504/408), and the work of a client that has gone dropped."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote, urlsplit

from fastapi.responses import JSONResponse, Response

from attentext.serving.encodings import ACCEPTED, EncodingError, decoded
from attentext.serving.errors import echo, error_response, log

ALLOWED = "GET, HEAD, POST, OPTIONS"  # what `OPTIONS *` says the server takes


class RequestTarget:
    """ASGI middleware: the two request targets HTTP/1.1 defines for a server besides a path.

    - the absolute form, `GET http://host/healthz HTTP/1.1`: RFC 9112 3.2.2 has a server accept
      it (a client configured with the server as its proxy sends it, so do some proxies). It is
      read as its path, the target's host standing for the Host header, as the RFC says;
    - `OPTIONS *`, a question about the server as a whole (RFC 9110 9.3.7): 200 with `Allow`.

    uvicorn passes either on as the path ("http://host/healthz", "*"): both were 404s. Another
    scheme than http(s), a user name in the URL (RFC 9110 4.2.4: an error), or `*` with another
    method than OPTIONS, is a 400.
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/"):
            await self.app(scope, receive, send)
            return
        if scope["path"] == "*":
            response = (
                Response(headers={"Allow": ALLOWED})
                if scope["method"] == "OPTIONS"
                else _bad_target(
                    f"'*' is the request target of OPTIONS only, not of {scope['method'][:20]}"
                )
            )
            await response(scope, receive, send)
            return
        target = urlsplit(scope.get("raw_path", scope["path"].encode()).decode("latin-1"))
        if target.scheme not in ("http", "https") or not target.netloc or "@" in target.netloc:
            await _bad_target(
                "the request target is neither a path nor an absolute http or https URL "
                "without a user name"
            )(scope, receive, send)
            return
        path = target.path or "/"
        headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"host"]
        scope = {
            **scope,
            "path": unquote(path),
            "raw_path": path.encode("latin-1"),
            "headers": [(b"host", target.netloc.encode("latin-1")), *headers],
        }
        await self.app(scope, receive, send)


def _bad_target(message: str) -> JSONResponse:
    return error_response(400, "bad_request", f"{message}; send a path such as /v1/predict")


def _content_length(declared: bytes) -> int | None:
    """A Content-Length header as a byte count; None unless it is all digits (no sign, no space:
    `int` would take "-1", " 1" and "1_0")."""
    return int(declared) if declared.isdigit() else None


class BodyLimit:
    """ASGI middleware: refuse bodies over `max_bytes` with 413, by Content-Length and as read.

    A request that declares a small Content-Length (or none, chunked) but sends more is cut off
    when the bytes actually received pass the limit, so the declared size is never trusted alone.
    A body sent compressed (Content-Encoding gzip or deflate) is passed on decompressed, within
    the same limit (`encodings.decoded`).
    """

    def __init__(self, app, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    def _too_large(self, size: str, path: str) -> JSONResponse:
        return error_response(
            413,
            "body_too_large",
            f"the request body is {size}; this server accepts at most {self.max_bytes:,} bytes",
            path=path,
        )

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        refused = self._refused_unread(scope)
        if refused is not None:
            await refused(scope, receive, send)
            return
        body = await self._read(scope, receive, send)
        if body is None:
            return
        encoding = _field(scope["headers"], b"content-encoding")
        if encoding is not None:
            try:
                body = decoded(body, encoding, self.max_bytes)
            except EncodingError as error:
                accepted = {"Accept-Encoding": ACCEPTED} if error.status == 415 else None
                response = error_response(
                    error.status, error.type, error.message, accepted, path=scope["path"]
                )
                await response(scope, receive, send)
                return
            scope = {**scope, "headers": _decoded_headers(scope["headers"], len(body))}
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _refused_unread(self, scope) -> JSONResponse | None:
        """The answer to a request its headers refuse before its body is read: a Content-Length
        that is no byte count (400) or over the limit (413); a Content-Type given twice apart
        (400: `text/plain` then `application/json` was a 415, the other order read as JSON,
        where a proxy or filter before the server may take the other line)."""
        path = scope["path"]
        types = [v for k, v in scope["headers"] if k.lower() == b"content-type"]
        if len({value.strip().lower() for value in types}) > 1:
            shown = echo(b", ".join(types).decode("latin-1"))
            return error_response(
                400,
                "bad_request",
                f"Content-Type is given twice ({shown}); send it once: application/json",
                path=path,
            )
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is None:
            return None
        length = _content_length(declared)
        if length is None:
            message = "invalid Content-Length header: expected a byte count"
            return error_response(400, "bad_request", message, path=path)
        return self._too_large(f"{length:,} bytes", path) if length > self.max_bytes else None

    async def _read(self, scope, receive, send) -> bytes | None:
        """The whole body, or None where it was answered (413 past the limit) or the client left."""
        chunks, total, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > self.max_bytes:
                await self._too_large(f"over {self.max_bytes:,} bytes", scope["path"])(
                    scope, receive, send
                )
                return None
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks)


def _field(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    """A header's field lines as HTTP reads them: one comma-separated list (RFC 9110 5.3).
    `dict(headers)` kept the last line alone: "Content-Encoding: gzip" then "Content-Encoding:
    identity" read a gzip body as plain."""
    lines = [value for key, value in headers if key.lower() == name]
    return b", ".join(lines) if lines else None


def _decoded_headers(headers: list[tuple[bytes, bytes]], length: int) -> list[tuple[bytes, bytes]]:
    """The request's headers for its decompressed body: no Content-Encoding, its own length (a
    v2 route counts its JSON part in the body as sent, before compression)."""
    kept = [(k, v) for k, v in headers if k.lower() not in (b"content-encoding", b"content-length")]
    return [*kept, (b"content-length", b"%d" % length)]


class HeadAsGet:
    """ASGI middleware: a HEAD request answered as its GET, without the body.

    HTTP requires HEAD wherever GET is served (RFC 9110 9.3.2): monitors and `curl -I` check a
    health route by HEAD. FastAPI routes take only the methods they are declared with, so
    /healthz, /readyz, /v1/models, /, TEI's /health and the v2 health routes answered HEAD with
    a 405. The GET's headers are kept, its Content-Length too (the size a GET would get).
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)


class TimeLimit:
    """ASGI middleware: a request not answered within `seconds` gets a 504 (a 408 if the client
    is still sending its body), and its handler is cancelled.

    The limit runs until the response starts. Cancelling a prediction cancels its place in the
    micro-batcher's queue (its texts are skipped, or its rows dropped if the batch already runs);
    the inference thread and every other request go on.
    """

    def __init__(self, app, seconds: float) -> None:
        self.app, self.seconds = app, seconds

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body_received = response_started = False

        async def receive_tracked():
            nonlocal body_received
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_received = True
            return message

        async def send_tracked(message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                limit.reschedule(None)  # answered in time: sending the body is not limited
            await send(message)

        try:
            async with asyncio.timeout(self.seconds) as limit:
                await self.app(scope, receive_tracked, send_tracked)
        except TimeoutError:
            # Only our own deadline is answered here: a TimeoutError raised inside the handler
            # is an unexpected failure (500), and one after the response started cannot be.
            if response_started or not limit.expired():
                raise
            if scope["method"] in ("POST", "PUT", "PATCH") and not body_received:
                response = error_response(
                    408,
                    "request_timeout",
                    f"the request body did not arrive within the server's {self.seconds:g} s "
                    "limit; send it at once (check the client's connection)",
                    path=scope["path"],
                )
            else:
                log.warning(
                    "%s %s passed the %g s time limit", scope["method"], scope["path"], self.seconds
                )
                response = error_response(
                    504,
                    "timeout",
                    f"the request was not answered within the server's {self.seconds:g} s limit; "
                    "retry later, or send fewer or shorter texts",
                    path=scope["path"],
                )
            await response(scope, receive, send)


class CancelOnDisconnect:
    """ASGI middleware: a request whose client closes its connection before the answer starts
    is cancelled, as a request past the time limit is (`TimeLimit`): its texts leave the
    micro-batcher's queue at once, or its rows are dropped from a batch that already runs.

    Without it the texts of clients that had left stayed queued and were computed, answered to
    no one: a client sending requests of 64 texts and hanging up filled the queue (503 for
    every other client) at no cost to itself. The client's leaving is seen by reading the
    connection once the body is read (uvicorn then says `http.disconnect`), as Starlette's
    streaming responses listen for it.
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body_read = asyncio.Event()
        started = False

        async def receive_tracked() -> dict[str, Any]:
            message = await receive()
            if message["type"] == "http.disconnect" or not message.get("more_body", False):
                body_read.set()
            return message

        async def send_tracked(message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        handler = asyncio.ensure_future(self.app(scope, receive_tracked, send_tracked))
        watcher = asyncio.ensure_future(_disconnected(body_read, receive))
        try:
            await asyncio.wait({handler, watcher}, return_when=asyncio.FIRST_COMPLETED)
            if handler.done() or started:
                await handler  # its answer, or its exception, as without this middleware
                return
            handler.cancel()  # the client has gone: nobody will read the answer
            await asyncio.gather(handler, return_exceptions=True)
        finally:
            watcher.cancel()
            handler.cancel()  # this request itself cancelled (shutdown): its handler too


async def _disconnected(
    body_read: asyncio.Event, receive: Callable[[], Awaitable[dict[str, Any]]]
) -> None:
    """Return once the client has closed its connection (after the app has read the body: the
    body's messages are the app's)."""
    await body_read.wait()
    while (await receive())["type"] != "http.disconnect":
        pass
