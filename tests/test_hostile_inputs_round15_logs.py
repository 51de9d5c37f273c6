"""Hostile inputs, round 15, logs: what a command writes where its output is a log, not a
terminal, and the order of what `serve` says (items of docs/reliability.md's "Left (round 14)").

R15-G1  `serve RUN` under a hard file limit of 64 (`ulimit -Hn 64`): "attentext: serving on ..."
        printed, then the one-line refusal of a file limit that holds no connection
"""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, SENTIMENT_ROWS, labelled_csv, write_file

import attentext


@pytest.fixture(scope="module")
def tfidf_run(tmp_path_factory) -> Path:
    """A TF-IDF run on six texts (a second)."""
    folder = tmp_path_factory.mktemp("r15-logs")
    data = write_file(folder, "train.csv", labelled_csv(SENTIMENT_ROWS * 4))
    return attentext.train("tfidf-logreg", data, folder / "tf", val_fraction=0.0).run_dir


def _hard_file_limit_64() -> None:  # run in the child before exec: `ulimit -Hn 64`
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))


# R15-G1 ------------------------------------------------------------------------------------------


def test_r15_g1_serve_under_a_hard_file_limit_refuses_before_saying_it_serves(tfidf_run):
    """The refusal is the command's one line: nothing says it serves, and no run is loaded."""
    result = subprocess.run(
        [sys.executable, "-m", "attentext", "serve", str(tfidf_run), "--port", "0"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        preexec_fn=_hard_file_limit_64,
    )
    assert result.returncode == 2, result.stderr
    assert "serving on" not in result.stdout, result.stdout
    assert result.stderr.startswith("error: the file limit (64 descriptors"), result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
