"""A real `python -m attentext serve` process: SIGTERM while requests are in flight.

The server listens on 127.0.0.1 only. Each request carries 64 long texts, so the model runs one
request at a time (64 > the micro-batch of 32) and the later ones are still queued or running when
the signal arrives, sent as soon as the first answer is back.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import REPO

HOST = "127.0.0.1"
N_REQUESTS = 12
TEXTS_PER_REQUEST = 64  # the server's default per-request limit


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def start_server(run_dir: Path, port: int, log) -> subprocess.Popen:
    command = [sys.executable, "-m", "attentext", "serve", str(run_dir)]
    command += ["--host", HOST, "--port", str(port), "--request-timeout", "60"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.Popen(
        command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def wait_ready(server: subprocess.Popen, url: str, log_path: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the server exited early:\n{log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"the server was not ready within {timeout:.0f} s:\n{log_path.read_text()[-3000:]}")


def long_texts(request: int) -> list[str]:
    words = ["oil", "prices", "fall", "as", "stocks", "rally", "and", "the", "striker", "scores"]
    return [
        " ".join(words[(i + j) % len(words)] for j in range(300)) + f" {request}-{i}"
        for i in range(TEXTS_PER_REQUEST)
    ]


async def requests_then_sigterm(url: str, server: subprocess.Popen):
    """Send every request at once; SIGTERM the server when the first answer is back."""
    limits = httpx.Limits(max_connections=N_REQUESTS, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60.0) as client:

        async def post(i: int) -> tuple[httpx.Response, float]:
            response = await client.post("/v1/predict", json={"texts": long_texts(i)})
            return response, time.monotonic()

        pending = [asyncio.create_task(post(i)) for i in range(N_REQUESTS)]
        done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        signalled_at = time.monotonic()
        server.send_signal(signal.SIGTERM)
        answers = await asyncio.gather(*pending, return_exceptions=True)
    return answers, signalled_at


def test_sigterm_finishes_the_requests_in_flight_then_exits_0(run_dir, tmp_path):
    port, log_path = free_port(), tmp_path / "server.log"
    url = f"http://{HOST}:{port}"
    with log_path.open("wb") as log:
        server = start_server(run_dir, port, log)
        try:
            wait_ready(server, url, log_path)
            answers, signalled_at = asyncio.run(requests_then_sigterm(url, server))
            code = server.wait(timeout=30)
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
    output = log_path.read_text()
    failures = [a for a in answers if isinstance(a, BaseException)]
    assert not failures, f"{failures!r}\n{output[-3000:]}"
    assert [response.status_code for response, _ in answers] == [200] * N_REQUESTS, output
    for response, _ in answers:
        assert len(response.json()["predictions"]) == TEXTS_PER_REQUEST
    # They were in flight: most answers came back after the signal.
    after_signal = sum(answered_at > signalled_at for _, answered_at in answers)
    assert after_signal >= N_REQUESTS // 2, (after_signal, output)
    assert code == 0, output
    assert "stopped: queued requests finished" in output
    assert "Traceback" not in output
