"""uvicorn's server, saying where it listens once it does.

`attentext serve` said "serving on http://HOST:PORT/" before uvicorn bound the port: a bind that
failed then (the port taken in the moment between the CLI's check and uvicorn's bind) came after
a line telling the user where to go, and `--port 0` (any free port) could only say "a free port
(see below)". Said from the server's own startup, after its sockets are open, the line is true
when it appears and names the port the system gave.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

import uvicorn


class AnnouncingServer(uvicorn.Server):
    """A `uvicorn.Server` that calls `announce(port)` once it listens (not at all if its
    startup fails or it was asked to stop meanwhile)."""

    def __init__(self, config: uvicorn.Config, announce: Callable[[int], None]) -> None:
        super().__init__(config)
        self._announce = announce

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and not self.should_exit:
            self._announce(self.servers[0].sockets[0].getsockname()[1])
