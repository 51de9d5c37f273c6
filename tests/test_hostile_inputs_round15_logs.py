"""Hostile inputs, round 15, logs: what a command writes where its output is a log, not a
terminal, and the order of what `serve` says (items of docs/reliability.md's "Left (round 14)").

R15-G1  `serve RUN` under a hard file limit of 64 (`ulimit -Hn 64`): "attentext: serving on ..."
        printed, then the one-line refusal of a file limit that holds no connection
R15-G2  `train tfidf-logreg` on many classes of 1-2 texts each (encoder-fewshot's head on
        `--shots 1` too): scikit-learn's "The number of unique classes is greater than 50% of
        the number of samples. `y` could represent a regression problem" printed raw
"""

from __future__ import annotations

import resource
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, SENTIMENT_ROWS, labelled_csv, run_cli_here, write_file

import attentext
from attentext.recipes import FewShotSpec
from attentext.training.fewshot import fit_regression


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


# R15-G2 ------------------------------------------------------------------------------------------


def _many_classes_csv(folder: Path, classes: int, texts_a_class: tuple[int, ...]) -> Path:
    """`classes` classes of 1, 2, ... texts in turn (`texts_a_class`), each text its own words."""
    rows = [
        (f"report {c} {k} about topic{c} and item{k}", f"class{c}")
        for c in range(classes)
        for k in range(texts_a_class[c % len(texts_a_class)])
    ]
    return write_file(folder, f"many-{classes}.csv", labelled_csv(rows))


def test_r15_g2_many_classes_of_few_texts_are_said_once_in_one_line(tmp_path):
    """60 classes of 1-2 texts: attentext's one warning, not scikit-learn's raw "could represent
    a regression problem" with its file and source line; 5 texts a class: neither (a control)."""
    data = _many_classes_csv(tmp_path, 60, (1, 2))
    # Python's own display of the raw warning is what pytest records (the CLI prints it so)
    with warnings.catch_warnings(record=True) as raw:
        result = run_cli_here(
            "train", "tfidf-logreg", "--data", data, "--output", tmp_path / "many"
        )
    assert result.returncode == 0, result.stderr
    assert not [str(w.message) for w in raw if "regression problem" in str(w.message)]
    assert "regression problem" not in result.stderr and "sklearn" not in result.stderr
    said = [line for line in result.stderr.splitlines() if "classes for" in line]
    assert len(said) == 1 and said[0].startswith("warning: "), result.stderr
    assert "60 classes for" in said[0] and "with one" in said[0], said
    data = _many_classes_csv(tmp_path, 30, (5,))
    result = run_cli_here("train", "tfidf-logreg", "--data", data, "--output", tmp_path / "five")
    assert result.returncode == 0, result.stderr
    assert "classes for" not in result.stderr and "regression" not in result.stderr


def test_r15_g2_the_few_shot_head_fits_one_text_a_class_without_sklearns_warning():
    """encoder-fewshot's head on `--shots 1` over 30 classes: the draw the user asked for, about
    which scikit-learn said "could represent a regression problem" (raw, once per fit)."""
    features = np.random.default_rng(0).normal(size=(30, 8))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        regression = fit_regression(features, np.arange(30), FewShotSpec(), seed=0)
    assert list(regression.classes_) == list(range(30))
