"""What `attentext serve` does below the app (issue #23, findings 5, 6 and 13): the header
timeout, the connection cap and its fit to the file limit, JSON errors for requests h11 cannot
parse, rate-limited logs, and a failing text that fails only its own request.

The connection tests run uvicorn in a thread with the options `attentext serve` gives it
(`serving.connections.uvicorn_options`) around a tiny ASGI app: no model is needed to test
connections. The real server is tested in test_hostile_inputs.py and test_server_process.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
import pytest
from conftest import uvicorn_in_thread

from attentext.errors import AttentextError
from attentext.serving import connections
from attentext.serving.batcher import MicroBatcher
from attentext.serving.errors import validation_message
from attentext.serving.logs import RateLimit, ShortArgs
from attentext.serving.settings import ServerSettings

HOST = "127.0.0.1"
SLOW_S = 1.5  # how long GET /slow takes: longer than the header timeouts below


async def tiny_app(scope, receive, send) -> None:
    """GET /slow answers after SLOW_S; any other path at once."""
    if scope["path"] == "/slow":
        await asyncio.sleep(SLOW_S)
    body = b'{"status": "ok"}'
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@contextmanager
def serving(**limits) -> Iterator[int]:
    """uvicorn with the options of `attentext serve` for `limits`, in a thread: yields its port."""
    with uvicorn_in_thread(tiny_app, ServerSettings(**limits), "off", 10.0) as port:
        yield port


def connect(port: int) -> socket.socket:
    return socket.create_connection((HOST, port), timeout=5)


def read_until_closed(sock: socket.socket, timeout: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and how long that took."""
    start, raw = time.monotonic(), b""
    sock.settimeout(timeout)
    try:
        while chunk := sock.recv(65536):
            raw += chunk
    except ConnectionResetError:
        pass
    return raw, time.monotonic() - start


def read_one_response(sock: socket.socket) -> bytes:
    """One response of tiny_app on a kept-alive connection (its body ends the response)."""
    sock.settimeout(5)
    raw = b""
    while not raw.endswith(b'"ok"}'):
        chunk = sock.recv(65536)
        assert chunk, raw
        raw += chunk
    return raw


def json_error(raw: bytes) -> tuple[int, dict]:
    """(status, error object) of a raw HTTP response with the JSON error body."""
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower(), head
    return int(head.split(b" ", 2)[1]), json.loads(body)["error"]


def get(port: int, path: str = "/healthz", sock: socket.socket | None = None) -> bytes:
    """A GET with Connection: close; the raw response."""
    sock = sock or connect(port)
    with sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        return read_until_closed(sock, 5)[0]


# --- the header timeout ---------------------------------------------------------------------


def test_a_silent_connection_is_closed_at_the_header_timeout():
    with serving(header_timeout_s=0.5, keep_alive_timeout_s=30) as port, connect(port) as sock:
        raw, seconds = read_until_closed(sock, 5)
    assert raw == b"" and 0.4 < seconds < 2


def test_a_trickled_request_head_gets_a_408_at_the_header_timeout():
    """Each byte arrives well within the timeout, but the head never completes: data does not
    restart the timer."""
    with serving(header_timeout_s=1.0) as port, connect(port) as sock:
        start = time.monotonic()
        for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaa":
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break
            time.sleep(0.1)
            if time.monotonic() - start > 3:
                break
        raw, _ = read_until_closed(sock, 5)
        seconds = time.monotonic() - start
    status, error = json_error(raw)
    assert status == 408 and error["type"] == "request_timeout" and seconds < 2.5


def test_the_header_timeout_restarts_after_a_response_and_never_cuts_an_answer():
    """A request slower than the header timeout is answered; on the kept-alive connection the
    next request head has the whole timeout again, then the connection is closed."""
    with serving(header_timeout_s=0.5, keep_alive_timeout_s=30) as port, connect(port) as sock:
        for path in ("/slow", "/healthz"):
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            assert read_one_response(sock).startswith(b"HTTP/1.1 200")
        raw, seconds = read_until_closed(sock, 5)
    assert raw == b"" and 0.4 < seconds < 2


# --- the connection cap ---------------------------------------------------------------------


def test_past_the_cap_a_new_connection_closes_the_one_waiting_longest():
    with serving(max_connections=4, header_timeout_s=30) as port:
        idle = [connect(port) for _ in range(4)]
        time.sleep(0.2)
        assert get(port).startswith(b"HTTP/1.1 200")  # /healthz still answers
        raw, seconds = read_until_closed(idle[0], 2)  # the oldest was closed for it
        assert raw == b"" and seconds < 1
        for sock in idle:
            sock.close()


def test_past_the_cap_with_every_connection_answering_a_new_one_gets_a_json_503():
    with serving(max_connections=2, header_timeout_s=30) as port:
        busy = [connect(port) for _ in range(2)]
        for sock in busy:
            sock.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        time.sleep(0.3)
        raw = get(port)
        for sock in busy:  # the requests being answered were not cut
            assert read_until_closed(sock, 5)[0].startswith(b"HTTP/1.1 200")
            sock.close()
    status, error = json_error(raw)
    assert status == 503 and error["type"] == "too_many_connections"
    assert b"retry-after: 1" in raw.lower()


def test_the_cap_is_lowered_to_what_the_file_limit_holds(monkeypatch, caplog):
    resource = connections.resource
    if resource is None:
        pytest.skip("no file limit on this system")

    def refuse(*args):
        raise ValueError("not allowed")

    monkeypatch.setattr(resource, "getrlimit", lambda _: (256, 256))
    monkeypatch.setattr(resource, "setrlimit", refuse)
    monkeypatch.setattr(connections, "_open_descriptors", lambda: 30)
    with caplog.at_level(logging.WARNING, logger="attentext.serving"):
        assert connections.fit_to_file_limit(1000) == (256 - 30 - connections.FD_MARGIN) // 2
    assert "lowered from 1000" in caplog.text
    assert connections.fit_to_file_limit(10) == 10
    monkeypatch.setattr(resource, "getrlimit", lambda _: (64, 64))
    with pytest.raises(AttentextError, match="ulimit -n"):
        connections.fit_to_file_limit(1000)


# --- JSON errors below the app --------------------------------------------------------------


@pytest.mark.parametrize("value", ["abc", "-1", "1, 2", ""])
def test_a_bad_content_length_is_a_json_400(value):
    with serving() as port, connect(port) as sock:
        sock.sendall(
            f"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Length: {value}\r\n\r\n".encode()
        )
        status, error = json_error(read_until_closed(sock, 5)[0])
    assert status == 400 and error["type"] == "bad_request" and "Content-Length" in error["message"]


def test_a_request_head_over_h11s_limit_is_a_json_431():
    with serving() as port, connect(port) as sock:
        for _ in range(4):
            sock.sendall(b"GET /" + b"a" * 8000)
            time.sleep(0.05)
        status, error = json_error(read_until_closed(sock, 5)[0])
    assert status == 431 and error["type"] == "headers_too_large"


# --- settings and options -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--header-timeout", "0", "--header-timeout must be a number of seconds more than 0"),
        ("--keep-alive-timeout", "nan", "--keep-alive-timeout must be a number of seconds"),
        ("--max-connections", "0", "--max-connections must be at least 1, got 0"),
    ],
)
def test_serve_refuses_bad_connection_limits_in_one_line(option, value, message, capsys, tmp_path):
    from attentext import cli

    argv = ["attentext", "serve", str(tmp_path / "no-run"), option, value]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", argv)
        with pytest.raises(SystemExit) as exit_:
            cli.main()
    lines = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and len(lines) == 1 and lines[0].startswith(f"error: {message}")


# --- logs -----------------------------------------------------------------------------------


def record(msg: str, *args, name: str = "uvicorn.error") -> logging.LogRecord:
    return logging.LogRecord(name, logging.WARNING, __file__, 1, msg, args, None)


def test_repeated_log_lines_are_rate_limited_and_the_held_back_ones_counted():
    now = [0.0]
    limit = RateLimit(burst=3, period_s=10, clock=lambda: now[0])
    passed = [limit.filter(record("Invalid HTTP request received.")) for _ in range(100)]
    assert passed.count(True) == 3
    assert limit.filter(record("another kind %s", "x"))  # counted per kind
    now[0] = 10.0
    late = record("Invalid HTTP request received.")
    assert limit.filter(late) and "97 more like this" in late.getMessage()


def test_long_log_arguments_are_cut():
    long = record('%s - "%s %s"', "127.0.0.1:1", "GET", "/" + "a" * 20_000, name="uvicorn.access")
    assert ShortArgs(max_chars=200).filter(long) and len(long.getMessage()) < 300


# --- messages that echo what the client sent ------------------------------------------------


def test_an_unknown_field_with_a_huge_name_is_echoed_cut():
    status, _, message = validation_message(
        [{"type": "extra_forbidden", "loc": ("body", "x" * 900_000), "msg": "Extra inputs"}]
    )
    assert status == 422 and len(message) < 200


# --- one failing text fails only its own request --------------------------------------------


class FailsOn:
    """predict_proba that fails on any batch holding `marker`, or on more than `max_texts`."""

    def __init__(self, marker: str = "POISON", max_texts: int = 1000) -> None:
        self.marker, self.max_texts, self.calls = marker, max_texts, 0

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        if any(self.marker in text for text in texts) or len(texts) > self.max_texts:
            raise IndexError("index out of range in self")
        return np.array([[len(text), 1.0] for text in texts])


async def predict_together(batcher: MicroBatcher, requests: list[list[str]]) -> list:
    batcher.start()
    try:
        return await asyncio.gather(*(batcher.predict(t) for t in requests), return_exceptions=True)
    finally:
        await batcher.stop()


def test_a_failing_text_fails_only_its_own_request_in_a_shared_batch():
    requests = [["stocks rally"], ["a", "POISON pill"], ["a goal", "in extra time"], ["chips"]]
    with ThreadPoolExecutor(1) as executor:
        batcher = MicroBatcher(FailsOn(), executor, max_wait_ms=200)
        answers = asyncio.run(predict_together(batcher, requests))
    assert isinstance(answers[1], IndexError)
    for texts, rows in zip(requests, answers, strict=True):
        if texts != requests[1]:
            assert [row[0] for row in rows] == [len(text) for text in texts]


def test_a_request_a_batch_call_fails_on_is_run_text_by_text():
    """A failure of the batch as a whole (here: more than 2 texts at once, as memory would) is
    not the request's fault: its texts are run one by one and it gets all its rows."""
    texts = ["one", "three", "seven", "eleven"]
    with ThreadPoolExecutor(1) as executor:
        batcher = MicroBatcher(FailsOn(max_texts=2), executor)
        (rows,) = asyncio.run(predict_together(batcher, [texts]))
    assert [row[0] for row in rows] == [len(text) for text in texts]
