"""Hostile inputs, round 16: what `attentext serve` says at startup. Each test failed before its
fix (docs/reliability.md, round 16):

R16-S1  `serve RUN --port 0` (any free port): "serving on a free port of 127.0.0.1 (see below)",
        the port only in uvicorn's own log line on stderr; and the line came before uvicorn
        bound the port, so a bind that failed followed a line saying where to go. Said from the
        server's startup once it listens (`serving.announce.AnnouncingServer`), with the port
        the system gave.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from conftest import REPO, sentiment_tfidf_run


@pytest.fixture(scope="module")
def tfidf_run(tmp_path_factory) -> Path:
    """A TF-IDF run on six texts (a second)."""
    return sentiment_tfidf_run(tmp_path_factory, "r16-serve")


def _serve(run: Path, *options: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "attentext", "serve", str(run), *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def _stopped(server: subprocess.Popen) -> tuple[str, str]:
    server.terminate()
    try:
        return server.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        server.kill()
        return server.communicate()


def test_r16_s1_port_0_names_the_port_it_got_and_answers_when_said(tfidf_run):
    """The line names a real port, and the server answers at once: it listens when it says so."""
    server = _serve(tfidf_run, "--port", "0")
    try:
        line = server.stdout.readline().strip()
        found = re.fullmatch(
            r"attentext: serving on http://127\.0\.0\.1:(\d+)/ \(API schema at /docs\)", line
        )
        assert found, line
        port = int(found.group(1))
        assert port > 0
        answer = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)  # no retry
        assert answer.json() == {"status": "ok"}
    finally:
        _stopped(server)


def test_r16_s1_a_port_taken_after_the_check_is_never_said_to_be_served(tfidf_run, monkeypatch):
    """A bind that fails in uvicorn (the port taken between the CLI's check and the bind: the
    check is skipped here so that the bind is what fails) says nothing of serving."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        check = "import attentext.cli.serve as s; s.check_port_free = lambda host, port: None; "
        run = (
            check + "from attentext.cli.app import main; import sys; "
            f"sys.argv = ['attentext', 'serve', {str(tfidf_run)!r}, '--port', '{port}']; main()"
        )
        result = subprocess.run(
            [sys.executable, "-c", run], capture_output=True, text=True, cwd=REPO, timeout=120
        )
    assert result.returncode != 0
    assert "serving on" not in result.stdout, result.stdout
    assert "address already in use" in result.stderr.lower(), result.stderr
