"""The server's settings: one typed object, checked once when the app is made."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from attentext.errors import AttentextError


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
    """

    max_batch_size: int = 32
    max_wait_ms: float = 5.0
    max_queue: int = 1024
    max_texts: int = 64
    max_chars: int = 10_000
    strict: bool = False
    max_body_bytes: int = 1_000_000
    request_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if field.type == "int" and value < 1:
                raise AttentextError(f"{field.name} must be at least 1, got {value}")
        if not self.max_wait_ms >= 0:
            raise AttentextError(f"max_wait_ms must be 0 or more, got {self.max_wait_ms}")
        if not 0 < self.request_timeout_s < math.inf:  # also refuses nan
            raise AttentextError(
                "request_timeout_s must be a number of seconds more than 0, got "
                f"{self.request_timeout_s}"
            )
