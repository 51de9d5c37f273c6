"""The server's settings: one typed object, checked once when the app is made."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields
from urllib.parse import urlsplit

from attentext.errors import AttentextError

SECONDS = ("request_timeout_s", "header_timeout_s", "keep_alive_timeout_s")
# An origin as a browser sends it in its Origin header: scheme://host[:port], lower case, with no
# path, not even "/" (RFC 6454). CORS compares the header with each allowed origin exactly, so
# "https://app.example.com/" or "https://App.example.com" would never match a request.
ORIGIN = re.compile(r"[a-z][a-z0-9+.-]*://(\[[0-9a-f:.]+\]|[a-z0-9._~-]+)(:[0-9]{1,5})?")
ANY_ORIGIN = "*"


@dataclass(frozen=True)
class ServerSettings:
    """Limits and batching of the HTTP service.

    Args:
        max_batch_size: most texts the micro-batcher runs through a model at once.
        max_wait_ms: longest a request waits for others to share its batch.
        max_queue: texts waiting per model (and texts waiting for explanations); past it, 503.
        max_texts: texts per request.
        max_chars: characters per text; longer texts are cut (or refused when `strict`).
        strict: refuse texts over `max_chars` (422) instead of cutting them.
        max_body_bytes: request body size; past it, 413.
        request_timeout_s: a request not answered in time gets a 504 (408 if its body is late).
        cors_allow_origins: the origins whose web pages may call the server from a browser
            (CORS), e.g. ("https://app.example.com",), or ("*",) for any; none (the default):
            only pages the server serves itself, as browsers allow without CORS.

    The connection limits below apply where `attentext serve` runs the app (uvicorn, through
    `serving.connections`); an app run by another server gets that server's limits.

        header_timeout_s: a connection must send a complete request head (request line and
            headers) within this long of opening, or of its previous response; more data does
            not extend it, so a client trickling bytes is cut off too (408, or closed if silent).
        keep_alive_timeout_s: an idle keep-alive connection is closed after this long.
        max_connections: open connections; past it a new one closes the connection that has
            waited longest for a request, or gets a 503 if every one is being answered.
    """

    max_batch_size: int = 32
    max_wait_ms: float = 5.0
    max_queue: int = 1024
    max_texts: int = 64
    max_chars: int = 10_000
    strict: bool = False
    max_body_bytes: int = 1_000_000
    request_timeout_s: float = 30.0
    header_timeout_s: float = 10.0
    keep_alive_timeout_s: float = 5.0
    max_connections: int = 1000
    cors_allow_origins: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if field.type == "int" and value < 1:
                raise AttentextError(f"{field.name} must be at least 1, got {value}")
        if not 0 <= self.max_wait_ms < math.inf:  # also refuses nan
            raise AttentextError(
                f"max_wait_ms must be a number of milliseconds, 0 or more, got {self.max_wait_ms:g}"
            )
        for name in SECONDS:
            value = getattr(self, name)
            if not 0 < value < math.inf:  # also refuses nan
                raise AttentextError(
                    f"{name} must be a number of seconds more than 0, got {value:g}"
                )
        self._check_wait_within_time_limit()
        for origin in self.cors_allow_origins:
            check_origin(origin)

    def _check_wait_within_time_limit(self) -> None:
        """A request the micro-batcher holds for others waits up to max_wait_ms: at or past the
        time limit, every request that does not fill a batch alone was a 504 (`inf`, or 50,000
        ms under the default 30 s), the server answering nothing at a low rate."""
        if self.max_wait_ms >= 1000 * self.request_timeout_s:
            raise AttentextError(
                f"max_wait_ms {self.max_wait_ms:g} is not below request_timeout_s "
                f"({self.request_timeout_s:g} s): a request that does not fill a batch would "
                "wait past its time limit; give a few milliseconds"
            )


def check_origin(origin: str) -> None:
    """Refuse what is no origin a browser sends: an allowed origin that can never match (a
    trailing "/", a path, upper case, a port past 65535) would leave the page refused by CORS
    with nothing in the server's log to say why."""
    if origin == ANY_ORIGIN:
        return
    match = ORIGIN.fullmatch(origin)
    port = match.group(2) if match else None
    if match is None or (port is not None and int(port[1:]) > 65535):
        path = urlsplit(origin).path if "://" in origin else ""
        hint = f" (without the path '{path}')" if path else ""
        raise AttentextError(
            f"cors_allow_origins: '{origin[:100]}' is not an origin as a browser sends it: "
            f"give scheme://host[:port] in lower case{hint}, e.g. https://app.example.com, "
            "or * for any"
        )
