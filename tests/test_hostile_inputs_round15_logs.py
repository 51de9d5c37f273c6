"""Hostile inputs, round 15, logs: what a command writes where its output is a log, not a
terminal, and the order of what `serve` says (items of docs/reliability.md's "Left (round 14)").

R15-G1  `serve RUN` under a hard file limit of 64 (`ulimit -Hn 64`): "attentext: serving on ..."
        printed, then the one-line refusal of a file limit that holds no connection
R15-G2  `train tfidf-logreg` on many classes of 1-2 texts each (encoder-fewshot's head on
        `--shots 1` too): scikit-learn's "The number of unique classes is greater than 50% of
        the number of samples. `y` could represent a regression problem" printed raw
R15-G3  stderr a log (a file or a pipe, not a terminal): the Trainer's bars drew a line a step
        (0.1 s) and five an evaluation (123 lines for 30 steps); `predict -o` drew no bar at all,
        however long; `serve`'s log had transformers' "Loading weights" bar
"""

from __future__ import annotations

import os
import pty
import re
import resource
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import (
    REPO,
    SENTIMENT_ROWS,
    labelled_csv,
    run_cli_here,
    sentiment_tfidf_run,
    write_file,
)

from attentext.recipes import FewShotSpec
from attentext.training.fewshot import fit_regression


@pytest.fixture(scope="module")
def tfidf_run(tmp_path_factory) -> Path:
    """A TF-IDF run on six texts (a second)."""
    return sentiment_tfidf_run(tmp_path_factory, "r15-logs")


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


# R15-G3 ------------------------------------------------------------------------------------------

BAR_DRAW = re.compile(r"(\d+)/(\d+) \[")  # a tqdm draw: "n/total [elapsed<left, rate]"


def _bar_draws(stderr: str) -> list[tuple[int, int]]:
    """(n, total) of each bar drawn: a log keeps every draw, between carriage returns."""
    pieces = re.split(r"[\r\n]", stderr)
    return [tuple(map(int, m.groups())) for p in pieces if (m := BAR_DRAW.search(p))]


def test_r15_g3_a_short_training_into_a_log_draws_no_bar_and_keeps_its_lines_apart(tmp_path):
    """A seed transformer's steps and 3 evaluations with stderr a log (not a terminal), all in
    less than LOG_INTERVAL: no bar drawn at all, the Trainer's log lines on stdout; the old code
    drew every 0.1 s, and an evaluation's bar and the training bar again around each log line."""
    rows = [(f"{word} film number {i}", label) for i in range(20) for word, label in SENTIMENT_ROWS]
    data = write_file(tmp_path, "train.csv", labelled_csv(rows))
    settings = ["training.epochs=3", "training.batch_size=24", "model.embedding_init=random"]
    result = run_cli_here(
        "train", "seed-transformer", "--data", data, "--output", tmp_path / "run",
        *[part for setting in settings for part in ("--set", setting)],
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert _bar_draws(result.stderr) == [], result.stderr
    assert "'eval_loss'" in result.stdout and "'eval_loss'" not in result.stderr


def test_r15_g3_predict_output_and_evaluate_into_a_log_say_only_their_results(tfidf_run, tmp_path):
    """`predict -o` and evaluate's bar over 2,048 texts, each done in a second: nothing drawn in
    a log (evaluate drew its bar there), so their stderr is their result lines alone, and a
    command that fails at once keeps its one-line error."""
    texts = write_file(tmp_path, "in.csv", "text\n" + "".join(f"a film {i}\n" for i in range(30)))
    result = run_cli_here("predict", tfidf_run, "--input", texts, "--output", tmp_path / "p.csv")
    assert result.returncode == 0 and not BAR_DRAW.search(result.stderr), result.stderr
    data = write_file(tmp_path, "eval.csv", labelled_csv(SENTIMENT_ROWS * 350))  # 2,100 texts
    result = run_cli_here("evaluate", tfidf_run, "--data", data)
    assert result.returncode == 0 and _bar_draws(result.stderr) == [], result.stderr


def test_r15_g3_a_bar_in_a_log_is_drawn_each_interval_once_it_has_run_one_and_at_its_end(
    monkeypatch,
):
    """A clock stepped a second an update: in a log, a bar of 100 updates is drawn at 30 s, 60 s
    and 90 s and whole at its end; one closed before 30 s is never drawn."""
    from attentext.bars import LOG_INTERVAL, ProgressBar  # here: the code before had no module

    now = [1000.0]
    monkeypatch.setattr("tqdm.std.time", lambda: now[0])
    with tempfile.TemporaryFile("w+") as log:
        with ProgressBar(total=100, file=log, desc="long") as bar:
            for _ in range(100):
                now[0] += 1.0
                bar.update()
        with ProgressBar(total=10, file=log, desc="short") as bar:
            for _ in range(10):
                now[0] += 1.0
                bar.update()
        log.seek(0)
        drawn = _bar_draws(log.read())
    assert LOG_INTERVAL == 30.0
    assert drawn == [(30, 100), (60, 100), (90, 100), (100, 100)], drawn


def test_r15_g3_a_terminal_keeps_tqdms_own_bars_and_a_log_gets_sparse_ones():
    """A bar on a pseudo-terminal is tqdm's (a draw up to every 0.1 s), one on a file or a pipe
    draws every LOG_INTERVAL seconds (a control of `bars.in_log`; the module is new)."""
    from attentext.bars import LOG_INTERVAL, ProgressBar  # here: the code before had no module

    main, side = pty.openpty()
    with os.fdopen(side, "w") as terminal, tempfile.TemporaryFile("w") as log:
        on_terminal = ProgressBar(total=3, file=terminal)
        in_log = ProgressBar(total=3, file=log)
        on_terminal.close(), in_log.close()
    os.close(main)
    assert not on_terminal.in_log and on_terminal.mininterval == 0.1 and not on_terminal.delay
    assert in_log.in_log and in_log.mininterval == in_log.maxinterval == LOG_INTERVAL
    assert in_log.delay == LOG_INTERVAL


def test_r15_g3_libraries_imported_before_quiet_libraries_draw_no_loading_bar():
    """`serve` reads its runs (datasets, hence huggingface_hub) before quieting the libraries:
    transformers, imported after, drew its "Loading weights" bar in the server's log."""
    probe = (
        "import datasets\n"  # as `serve` has read its runs: huggingface_hub with it
        "from attentext.cli.common import quiet_libraries\n"
        "quiet_libraries()\n"
        "from transformers.utils import logging\n"
        "print(logging.is_progress_bar_enabled())\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_HUB_DISABLE")}
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.stdout.strip() == "False", done.stderr[-2000:]
