"""Hostile inputs, round 15, environment: what round 14's R14-E5 left (docs/reliability.md).

R15-E1  under the C locale (`LC_ALL=C PYTHONUTF8=0 PYTHONCOERCECLOCALE=0`: ASCII), a text typed
        in Latin-1 (`predict RUN $'caf\\xe9'`): "not valid Unicode ... an unpaired surrogate
        (U+DCE9)", blaming the text for the terminal's encoding
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import (
    REPO,
    assert_one_line_error,
    sentiment_tfidf_run,
)

C_LOCALE = {"LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}


@pytest.fixture(scope="module")
def tfidf_run(tmp_path_factory) -> Path:
    """A TF-IDF run on the sentiment rows (a second)."""
    return sentiment_tfidf_run(tmp_path_factory, "r15-environment")


def _predict_bytes(run: Path, *texts: bytes) -> subprocess.CompletedProcess:
    """`attentext predict RUN TEXTS` with each text given as the terminal's raw bytes."""
    return subprocess.run(
        [sys.executable, "-m", "attentext", "predict", str(run), "--json", *texts],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env={**os.environ, "HF_HUB_OFFLINE": "1", **C_LOCALE},
        cwd=REPO,
        timeout=300,
    )


def test_r15_e1_latin1_bytes_under_the_c_locale_name_the_byte_and_what_to_do(tfidf_run):
    result = _predict_bytes(tfidf_run, b"a great film", "caf\u00e9 film".encode("latin-1"))
    assert_one_line_error(result, "text 2: byte 0xE9 is neither UTF-8 nor", "LC_ALL=C.UTF-8")
    assert "--encoding latin-1" in result.stderr and "surrogate" not in result.stderr
