"""Log lines a client can cause, rate-limited: a flood of bad requests must not flood the log.

Without a limit each malformed request logs a warning (uvicorn), each failed model call a
traceback (the server), and at the process's file limit asyncio logs every failed `accept`, up to
2048 tracebacks per second: 64 MB of log in 35 s. `RateLimit` lets the first few lines of each
kind through per period and counts the rest, which the next line let through reports; `ShortArgs`
cuts long arguments (a 16 KB path in the access log line of its request).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# The loggers of what happens per connection or request: asyncio's accept loop, uvicorn's
# protocol (malformed requests), and the server's own warnings and errors.
SERVER_LOGGERS = ("asyncio", "uvicorn.error", "attentext.serving")
ACCESS_LOGGER = "uvicorn.access"  # one line per request: cut, never rate-limited
MAX_KINDS = 1000  # distinct kinds tracked; past it the counts start again (memory stays bounded)


@dataclass
class _Window:
    start: float
    passed: int = 0
    suppressed: int = 0


class RateLimit(logging.Filter):
    """A logging filter: at most `burst` records of one kind per `period_s` seconds.

    A kind is the logger, the level and the first line of the message template (not of the
    formatted message: "unexpected error on %s %s" is one kind whatever the path). The first record
    let through after some were held back says how many.
    """

    def __init__(
        self, burst: int = 5, period_s: float = 10.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.burst, self.period_s, self.clock = burst, period_s, clock
        self._windows: dict[tuple[str, int, str], _Window] = {}
        self._lock = threading.Lock()  # the inference thread logs too

    def filter(self, record: logging.LogRecord) -> bool:
        template = str(record.msg)
        key = (record.name, record.levelno, template.partition("\n")[0][:200])
        now = self.clock()
        with self._lock:
            window = self._windows.get(key)
            if window is None or now - window.start >= self.period_s:
                held = window.suppressed if window is not None else 0
                if len(self._windows) >= MAX_KINDS:
                    self._windows.clear()
                window = self._windows[key] = _Window(start=now)
                if held:
                    record.msg = (
                        f"{template} [and {held} more like this in {self.period_s:g} s, not logged]"
                    )
            if window.passed >= self.burst:
                window.suppressed += 1
                return False
            window.passed += 1
            return True


class ShortArgs(logging.Filter):
    """A logging filter that cuts long string arguments: the access log line of a request for a
    16 KB path, or a 900 KB model name in a message, is logged with its first `max_chars`."""

    def __init__(self, max_chars: int = 200) -> None:
        super().__init__()
        self.max_chars = max_chars

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(
            isinstance(arg, str) and len(arg) > self.max_chars for arg in record.args
        ):
            record.args = tuple(
                arg[: self.max_chars] + "…"
                if isinstance(arg, str) and len(arg) > self.max_chars
                else arg
                for arg in record.args
            )
        return True


def limit_server_logs(**limits: Any) -> RateLimit:
    """Rate-limit the server's per-request log lines and cut their long arguments, access log
    included (call after uvicorn has configured logging: it resets its loggers)."""
    limit, short = RateLimit(**limits), ShortArgs()
    for name in SERVER_LOGGERS:
        logging.getLogger(name).addFilter(limit)
    for name in (*SERVER_LOGGERS, ACCESS_LOGGER):
        logging.getLogger(name).addFilter(short)
    return limit
