"""Hostile inputs, round 8 (three items rounds 6 and 7 left). Each test failed before its fix:

R8-S1  `predict RUN --input - --top-k 0` (a bad --backend, a run folder that is not one): the
       option refused only after standard input had been read whole (a pipe cannot be read
       twice: the texts were gone for the corrected command). The run and every option are
       checked before any text is read.
R8-S2  `compare A B` where A and B have one accuracy: "best" (and the p-values against it) was
       whichever was given first. A tie on accuracy is broken by macro-F1, then the order
       given, and said on the terminal and in leaderboard.md.
R8-S3  One 100 MB text given to tfidf-logreg (training or predict): scikit-learn's vectorizer
       held every word and bigram of it as a Python string (2 GB and more). The baseline reads
       at most `model.options.max_chars` characters of a text (100,000 by default, recorded in
       the recipe), as the token models read at most max_length tokens, and says once per call
       how many texts were cut.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
from conftest import run_cli_here

import attentext


@pytest.fixture(scope="module")
def tfidf_run(ag_news_dir, tmp_path_factory) -> Path:
    """A TF-IDF run on ag_news_tiny (seconds)."""
    folder = tmp_path_factory.mktemp("round8small")
    return Path(attentext.train("tfidf-logreg", ag_news_dir, folder / "tfidf").run_dir)


def piped(monkeypatch) -> io.BytesIO:
    """Standard input holding two texts, as a pipe gives them; returns its bytes' stream, whose
    position tells whether anything was read."""
    stream = io.BytesIO(b"Stocks fell as oil rose\nThe Lakers won again\n")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(stream))
    return stream


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--top-k", "0"), "--top-k must be at least 1, got 0"),
        (("--top-k", "-3"), "--top-k must be at least 1, got -3"),
        (("--backend", "tensorrt"), "unknown backend 'tensorrt'"),
    ],
    ids=["top-k-0", "top-k-negative", "backend"],
)
def test_r8_s1_a_bad_option_is_refused_before_standard_input_is_read(
    tfidf_run, monkeypatch, args, expected
):
    stream = piped(monkeypatch)

    result = run_cli_here("predict", tfidf_run, "--input", "-", *args)

    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and expected in result.stderr
    assert stream.tell() == 0  # the texts are still there for the corrected command


def test_r8_s1_a_folder_that_is_no_run_is_refused_before_standard_input_is_read(
    tmp_path, monkeypatch
):
    stream = piped(monkeypatch)

    result = run_cli_here("predict", tmp_path / "no-such-run", "--input", "-")

    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "no-such-run" in result.stderr
    assert stream.tell() == 0
