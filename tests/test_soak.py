"""A short loopback soak of a real server (benchmarks/serve_soak.py with a small budget).

400 requests of the soak's fixed mix (predictions of 1-32 texts, explanations, and bad requests
that must get their 4xx, on /v1; predictions through the Hugging Face, TEI and v2 routes) from 4
clients to `attentext serve` on 127.0.0.1, then SIGTERM. Marked slow: a server process and a few
hundred requests (about 30 s on 2 busy cores). The full soak
(3,000+ requests, with the memory check) is `python benchmarks/serve_soak.py RUN_DIR`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import REPO


@pytest.mark.slow
def test_a_short_soak_has_no_errors_and_a_clean_exit(run_dir, ag_news_dir):
    command = [sys.executable, "serve_soak.py", str(run_dir), "--data", str(ag_news_dir)]
    command += ["--requests", "400", "--concurrency", "4", "--time-limit", "240", "--no-save"]
    result = subprocess.run(
        command,
        cwd=REPO / "benchmarks",
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=400,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    report, _ = json.JSONDecoder().raw_decode(result.stdout[result.stdout.index("{") :])
    soak = report["result"]
    assert soak["requests"] == 400 and soak["errors"] == 0, output[-5000:]
    assert soak["server_exit_code"] == 0
    # Every kind of request of the mix was sent (errors == 0: the bad ones got their 4xx).
    assert set(soak["statuses"]) >= {"predict-1", "explain-1", "bad-json", "body-too-large"}
    assert set(soak["statuses"]) >= {"huggingface-1", "tei-8", "v2-8"}
