"""Connections below the app: uvicorn's HTTP/1.1 protocol (h11) with the limits a server on a
network needs, and its errors in the app's JSON shape.

uvicorn times out only idle keep-alive connections, after a response. A client that opens a
connection and never sends a request, or sends one a byte at a time, holds it forever; a few
hundred of them exhaust the process's file descriptors, and then /healthz stops answering. So
`GuardedH11Protocol` adds:

- a header timeout: a connection must deliver a complete request head within `header_timeout_s`
  of opening, or of its previous response. The timer is not reset by data, so trickling bytes does
  not extend it: a partial head is answered 408, a silent connection closed.
- a connection cap: at most `max_connections` open. A new connection past the cap closes the one
  that has waited longest for a request (a request being answered is never cut); when every
  connection is being answered, the new one gets a 503 and is closed.
- JSON errors: a request h11 cannot parse (a bad Content-Length, a head over 16 KB) gets the
  app's `{"error": {"type", "message"}}` body instead of uvicorn's plain text.
- a head within the limit however it arrives: h11's 16 KB limit holds only a head still
  incomplete, so one sent at once (a read takes up to 256 KB) was parsed whole (`OneFraming`).
- one framing: a request giving both Transfer-Encoding and Content-Length is a 400 and its
  connection closed (`OneFraming`), as nginx answers it.

`fit_to_file_limit` keeps the cap within what the file limit holds, so `accept` never fails.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import (
    DEFAULT_MAX_INCOMPLETE_EVENT_SIZE,
    STATUS_PHRASES,
    H11Protocol,
)

from attentext.errors import AttentextError
from attentext.serving.errors import echo, error_content, retry_after
from attentext.serving.settings import ServerSettings

try:
    import resource
except ImportError:  # Windows: no file limit to fit
    resource = None  # type: ignore[assignment]

log = logging.getLogger("attentext.serving")
# how long the rest of a body refused as too large is read and dropped after the 413, so that
# the client reads the answer (a close with its bytes unread resets the connection, and the
# reset can lose the 413); nginx's lingering_timeout is 5 s
LINGER_S = 2.0
FD_MARGIN = 64  # descriptors kept free for what the server opens besides connections
MAX_BACKLOG = 2048  # uvicorn's default listen backlog


def raw_error(
    status: int, type_: str, message: str, extra: list[tuple[bytes, bytes]] | None = None
) -> bytes:
    """A complete HTTP/1.1 error response with the JSON body, for answers the app never sees."""
    body = json.dumps(error_content(type_, message)).encode()
    head = [
        b"HTTP/1.1 %d %s" % (status, STATUS_PHRASES.get(status, b"")),
        b"content-type: application/json",
        b"content-length: %d" % len(body),
        b"connection: close",
        *(b"%s: %s" % header for header in extra or []),
    ]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


class OneFraming(h11.Connection):
    """h11's server connection, refusing a request whose body is framed twice.

    With both Transfer-Encoding and Content-Length, h11 reads the chunks and keeps the
    connection open. A proxy before the server that goes by Content-Length then sees another
    end of the body: the bytes after the chunks' end were answered as a request of their own
    (request smuggling). RFC 9112 6.3 lets a server refuse such a request, and has it close the
    connection either way.
    """

    def __init__(self, our_role: Any, max_head_bytes: int, max_body_bytes: int) -> None:
        super().__init__(our_role, max_head_bytes)
        self.max_head_bytes, self.max_body_bytes = max_head_bytes, max_body_bytes
        self.chunked_bytes: int | None = None  # a chunked body's bytes as sent, so far

    def next_event(self) -> Any:
        unread = len(self._receive_buffer)  # h11's own: `trailing_data` copies it at each call
        event = super().next_event()
        if self.chunked_bytes is not None:
            self._count_chunked(unread - len(self._receive_buffer))
        if isinstance(event, h11.Request):
            _check_head_size(event, self.max_head_bytes)
            names = {name for name, _ in event.headers}  # lower case, as h11 gives them
            if b"transfer-encoding" in names and b"content-length" in names:
                raise h11.RemoteProtocolError(
                    "Transfer-Encoding with Content-Length: send one",
                    error_status_hint=400,
                )
            self.chunked_bytes = 0 if b"transfer-encoding" in names else None
        elif isinstance(event, h11.EndOfMessage):
            self.chunked_bytes = None
            if event.headers:
                _check_head_size(event, self.max_head_bytes)
        return event

    def _count_chunked(self, read: int) -> None:
        """A 413 once a chunked body's bytes as sent, its chunk lines included, pass the body
        limit. h11 drops a chunk's extensions (`5;name=value`) unread, and a line of one
        arriving in a read (up to 256 KB) it parsed whole: the app's limit, which counts the
        data, never saw them, so a client could send megabytes of them a request."""
        self.chunked_bytes = (self.chunked_bytes or 0) + read
        if self.chunked_bytes > self.max_body_bytes:
            limit = self.max_body_bytes
            raise h11.RemoteProtocolError(
                f"the request body is over {limit:,} bytes as sent, its chunk lines and "
                f"extensions included; this server accepts at most {limit:,} bytes",
                error_status_hint=413,
            )


def _check_head_size(event: h11.Request | h11.EndOfMessage, limit: int) -> None:
    """A 431 for a request head (or a chunked body's trailers) over `limit` bytes. h11 refuses a
    head that is still incomplete past its limit (16 KB), but one that arrives at once in a read
    (up to 256 KB: a 100 KB header line, 3,000 headers or trailers) it parsed whole; nginx
    refuses heads past 32 KB by default."""
    size = sum(len(name) + len(value) + 4 for name, value in event.headers.raw_items())
    what = "trailers"
    if isinstance(event, h11.Request):  # the request line, "HTTP/1.1" and its CRLF
        size, what = size + len(event.method) + len(event.target) + 12, "a head"
    if size > limit:
        raise h11.RemoteProtocolError(
            f"{what} of {size:,} bytes, over {limit:,}",  # cut at 60 characters (`echo`)
            error_status_hint=431,
        )


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a header timeout, a connection cap, JSON errors, a cap on the
    request head and one framing of a body (`OneFraming`).

    `protocol_class` makes a subclass per server, with its limits and its own register of the
    connections waiting for a request (oldest first: whom the cap closes first).
    """

    header_timeout_s: float = 10.0
    max_connections: int = 1000
    max_body_bytes: int = 1_000_000
    waiting: dict[GuardedH11Protocol, None] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._lingering = False  # a 413 was answered: what else arrives is dropped (`_linger`)
        size = self.config.h11_max_incomplete_event_size or DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
        self.conn = OneFraming(h11.SERVER, size, self.max_body_bytes)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections and not self._make_room():
            log.warning(
                "%d connections open, every one being answered: refused a new one",
                self.max_connections,
            )
            self._refuse(
                503,
                "too_many_connections",
                "the server has as many connections open as it takes; retry shortly",
                [(key.lower().encode(), value.encode()) for key, value in retry_after().items()],
            )
            return
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_watching()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self._lingering:  # else the rest of a refused body, dropped
            super().data_received(data)

    def handle_events(self) -> None:
        super().handle_events()
        self._watch()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch()

    def send_400_response(self, msg: str) -> None:
        """Called by uvicorn inside its `except h11.RemoteProtocolError`: answer it in JSON."""
        error = sys.exception()
        status = getattr(error, "error_status_hint", 400)
        # h11 may quote the offending line (up to 16 KB): cut like any echo of the client's bytes
        reason = echo(error) if isinstance(error, h11.RemoteProtocolError) else msg
        status = status if 400 <= status < 500 else 400
        if status == 413:  # our own words (`OneFraming._count_chunked`), not the client's
            self._refuse(status, "body_too_large", str(error))
            return
        self._refuse(
            status,
            "headers_too_large" if status == 431 else "bad_request",
            f"the request is not valid HTTP/1.1 ({reason}); check the request line and headers",
        )

    def _busy(self) -> bool:
        """A request is being answered on this connection."""
        return self.cycle is not None and not self.cycle.response_complete

    def _watch(self) -> None:
        """Time the wait for a request head while no request is being answered (the timer is
        started once per wait: data that does not complete the head does not restart it)."""
        if self.transport.is_closing() or self._busy():
            self._stop_watching()
        elif self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout_s, self._timed_out)
            self.waiting[self] = None

    def _stop_watching(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        self.waiting.pop(self, None)

    def _timed_out(self) -> None:
        """No complete request head in time: a 408 to a partial one, a silent close otherwise."""
        self._header_timer = None
        self.waiting.pop(self, None)
        if self.transport.is_closing() or self._busy():
            return
        if self.conn.our_state is h11.IDLE and self.conn.trailing_data[0]:
            self._refuse(
                408,
                "request_timeout",
                f"the request line and headers did not arrive within the server's "
                f"{self.header_timeout_s:g} s; send them at once",
            )
        else:
            self.transport.close()

    def _make_room(self) -> bool:
        """Close the connection that has waited longest for a request; False if there is none."""
        victim = next((other for other in self.waiting if other is not self), None)
        if victim is None:
            return False
        log.warning(
            "%d connections open (the limit): closed the one waiting longest for a request",
            self.max_connections,
        )
        victim._stop_watching()
        self.connections.discard(victim)  # counted out now, not when its close completes
        victim.transport.close()
        return True

    def _refuse(
        self,
        status: int,
        type_: str,
        message: str,
        extra: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        """Answer with the JSON error and close: for what never reaches the app. (Midway through
        the app's own response nothing can be answered any more: the connection is only closed.)"""
        self._stop_watching()
        self.connections.discard(self)
        if self.transport.is_closing():
            return
        responding = self._busy() and self.cycle.response_started
        if not responding:
            headers = [*self.server_state.default_headers, *(extra or [])]
            self.transport.write(raw_error(status, type_, message, headers))
        if status == 413 and not responding and self.transport.can_write_eof():
            self._linger()
        else:
            self.transport.close()

    def _linger(self) -> None:
        """Close after the client has read the 413 while it was still sending: the answer and
        then the end of our side; what the client sends meanwhile is dropped, and the connection
        closed when it closes its side or after LINGER_S."""
        self._lingering = True
        self.transport.write_eof()
        self.loop.call_later(LINGER_S, self.transport.close)


def protocol_class(settings: ServerSettings, max_connections: int) -> type[GuardedH11Protocol]:
    """`GuardedH11Protocol` bound to one server's limits, with its own register of waiting
    connections (a class per server: uvicorn makes each protocol from the class it is given)."""
    return type(
        "AttentextH11Protocol",
        (GuardedH11Protocol,),
        {
            "header_timeout_s": settings.header_timeout_s,
            "max_connections": max_connections,
            "max_body_bytes": settings.max_body_bytes,
            "waiting": {},
        },
    )


def _open_descriptors() -> int:
    """File descriptors the process has open now (0 where the system does not list them)."""
    for folder in ("/proc/self/fd", "/dev/fd"):
        if os.path.isdir(folder):
            return len(os.listdir(folder))
    return 0


def fit_to_file_limit(max_connections: int) -> int:
    """The connection cap the process's file limit holds, raising the soft limit if needed.

    Each connection takes a descriptor, and asyncio may accept a backlog's worth before the cap
    sees them: the limit must hold twice the cap, plus what is open now and a margin. The soft
    limit is raised towards the hard one; if that is not enough, the cap is lowered (warned).
    """
    if resource is None:
        return max_connections
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    in_use = _open_descriptors()
    needed = in_use + FD_MARGIN + 2 * max_connections
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return max_connections
    fitting = (soft - in_use - FD_MARGIN) // 2
    if fitting < 1:
        raise AttentextError(
            f"the file limit ({soft} descriptors, {in_use} in use) leaves no room for "
            "connections; raise it (ulimit -n)"
        )
    log.warning(
        "the file limit (ulimit -n %d) holds %d connections: --max-connections lowered from %d",
        soft,
        fitting,
        max_connections,
    )
    return fitting


def uvicorn_options(settings: ServerSettings) -> dict[str, Any]:
    """What `uvicorn.Config` takes from the settings: the guarded protocol, its limits, no
    WebSockets (nothing here speaks them), and a backlog the file limit was fitted to."""
    max_connections = fit_to_file_limit(settings.max_connections)
    return {
        "http": protocol_class(settings, max_connections),
        "ws": "none",
        "timeout_keep_alive": settings.keep_alive_timeout_s,
        "backlog": min(MAX_BACKLOG, max_connections),
    }
