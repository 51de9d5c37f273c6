"""Helpers of the benchmarks that run `attentext serve` (or torchrun) on this machine only."""

from __future__ import annotations

import socket
import subprocess
import time
from typing import IO

import httpx

HOST = "127.0.0.1"  # loopback only: no benchmark sends traffic anywhere else


def free_port() -> int:
    """A TCP port free on the loopback interface now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def log_tail(log: IO[bytes]) -> str:
    """The last 3,000 characters of a server's log file (opened for reading and writing)."""
    log.seek(0)
    return log.read().decode(errors="replace")[-3000:]


def wait_ready(server: subprocess.Popen, url: str, log: IO[bytes], timeout: float = 120.0) -> None:
    """Wait until `url`/readyz answers 200; exit with the server's log if it dies or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited:\n{log_tail(log)}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the server was not ready within {timeout:.0f} s")
