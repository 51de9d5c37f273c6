"""Hostile inputs, round 9: the HTTP server (`attentext serve`) and the protocols beside /v1, with
the requests real clients send. Each test failed before its fix:

R9-H1  `serve RUN --torch-threads 2147483648`: torch's "Overflow when unpacking long" traceback
       (`torch.set_num_threads` ran before any check); the range `load` takes (0 to 1,024) is
       now checked with the other options, in one line naming --torch-threads.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_cli_here

import attentext


@pytest.fixture(scope="module")
def tfidf_run(ag_news_dir, tmp_path_factory) -> Path:
    """A TF-IDF run on ag_news_tiny (seconds)."""
    folder = tmp_path_factory.mktemp("round9serve")
    return Path(attentext.train("tfidf-logreg", ag_news_dir, folder / "tfidf").run_dir)


@pytest.mark.parametrize("threads", ["2147483648", "-1"])
def test_r9_h1_a_torch_thread_count_out_of_range_is_one_line_before_torch_takes_it(
    tfidf_run, threads
):
    result = run_cli_here("serve", tfidf_run, "--port", "0", "--torch-threads", threads)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"error: --torch-threads must be from 1 to 1,024 (0: torch's default), got {threads}"
    ]
