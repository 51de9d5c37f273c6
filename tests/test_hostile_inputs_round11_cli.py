"""Hostile inputs, round 11: the commands and the Python API (R11-C). Each test failed before
its fix:

R11-C1 `compare RUNS --limit 500` on a split of 80 texts: every text measured without a word,
       as if 500 had been. One note saying the split has fewer texts and all are measured.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from conftest import run_cli_here

import attentext
from attentext.errors import AttentextNote


@pytest.fixture(scope="module")
def tfidf_run(ag_news_dir, tmp_path_factory) -> Path:
    """A TF-IDF run on ag_news_tiny (seconds)."""
    folder = tmp_path_factory.mktemp("round11cli")
    return Path(attentext.train("tfidf-logreg", ag_news_dir, folder / "tfidf").run_dir)


def _one_line(result, *words: str) -> None:
    """Exit 2 and one stderr line `error: ...` holding `words`."""
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


def test_r11_c1_a_compare_limit_above_the_texts_says_all_are_measured(
    tfidf_run, ag_news_dir, tmp_path
):
    result = run_cli_here(
        "compare", tfidf_run, "-d", ag_news_dir, "-o", tmp_path / "b", "--limit", "500"
    )
    assert result.returncode == 0, result.stderr
    assert (
        "note: --limit 500 is more than the 80 texts there are; all 80 are measured"
        in result.stderr
    )
    with pytest.warns(AttentextNote, match="--limit 500 is more than the 80 texts there are"):
        attentext.compare([tfidf_run], ag_news_dir, limit=500)
    with warnings.catch_warnings():  # a limit within the split, or its exact size: no note
        warnings.simplefilter("error", AttentextNote)
        attentext.compare([tfidf_run], ag_news_dir, limit=80)
