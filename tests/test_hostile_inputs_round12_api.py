"""Hostile inputs, round 12: the Python API as a data scientist uses it in a notebook or a script.

R12-A1  a model used, then `multiprocessing` with fork: the child's predict hung for ever
R12-A2  `train` left Python's, NumPy's and torch's global generators seeded by the run
R12-A3  `train` wrote the Trainer's log lines to stdout (a script's own output)
R12-A4  `predict` of many texts held every text's tokenizer `Encoding` at once
R12-A5  the repr of a train result or an evaluation report printed every figure, mistakes' texts too
R12-A6  `~/...` given from Python: trained into a folder named '~'; runs and data "not found"
R12-A7  a loaded model's repr named neither its run nor its labels
R12-A8  `overwrite="False"` (a string) read by its truth: a finished run replaced
R12-A9  explain-like and predict calls on one model from two threads encoded under each other's cut
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing as mp
import random
import shutil
import threading
import time
from typing import Any

import numpy as np
import pytest
import torch
from conftest import AG_NEWS_LABELS, InterruptAt

import attentext
from attentext.evaluation.multilabel_report import MultiLabelReport
from attentext.text import encoding

TEXTS = [
    "Oil prices jump as OPEC cuts output",
    "The Yankees beat the Red Sox in extra innings",
    "New chip doubles battery life of phones",
    "Talks on the ceasefire resume in Cairo",
]


def _generators() -> tuple[Any, ...]:
    """The next draw of each global generator, without moving any (states put back)."""
    states = random.getstate(), np.random.get_state(), torch.get_rng_state()
    draws = random.random(), float(np.random.rand()), float(torch.rand(1))
    random.setstate(states[0])
    np.random.set_state(states[1])
    torch.set_rng_state(states[2])
    return draws


@pytest.fixture(scope="module")
def quick_run(ag_news_dir, tmp_path_factory) -> dict[str, Any]:
    """One seed-transformer run of one epoch, trained with the caller's generators seeded apart
    and stdout captured: what `train` left behind for the caller."""
    out = tmp_path_factory.mktemp("r12-api") / "seed"
    random.seed(7)
    np.random.seed(7)
    torch.manual_seed(7)
    before = _generators()
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        result = attentext.train("seed-transformer", ag_news_dir, out, epochs=1, precision="fp32")
    return {
        "result": result,
        "before": before,
        "after": _generators(),
        "stdout": stdout.getvalue(),
        "stderr": stderr.getvalue(),
    }


# R12-A1 ------------------------------------------------------------------------------------------

_FORKED: dict[str, Any] = {}  # the classifier a forked child inherits


def _predict_in_child(text: str) -> str:
    return _FORKED["classifier"].predict([text])[0]


@pytest.mark.skipif("fork" not in mp.get_all_start_methods(), reason="no fork on this system")
def test_r12_a1_a_model_used_before_a_fork_predicts_in_the_forked_child(run_dir):
    """A notebook loads a model, tries it, then maps predict over a fork Pool (Linux's default):
    the child waited for ever on the OpenMP threads of the parent's first predict."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # as on any machine of 2 cores or more (CI's workers run on one)
    try:
        classifier = attentext.load(run_dir)
        expected = classifier.predict(TEXTS[:2])  # torch's thread pool now started here
        _FORKED["classifier"] = classifier
        pool = mp.get_context("fork").Pool(1)
        try:
            answered = pool.map_async(_predict_in_child, TEXTS[:2]).get(timeout=60)
        except mp.TimeoutError:
            pytest.fail("the forked child's predict hung")
        finally:
            pool.terminate()
            pool.join()
        assert answered == expected
        assert torch.get_num_threads() == 2  # the parent's own setting is left alone
    finally:
        _FORKED.clear()
        torch.set_num_threads(threads)


# R12-A2 ------------------------------------------------------------------------------------------


def test_r12_a2_train_leaves_the_callers_random_generators_as_it_found_them(quick_run):
    """`set_seed(42)` inside training, left in force: every draw after `attentext.train` in a
    notebook was the same from run to run, whatever the user had seeded."""
    assert quick_run["after"] == quick_run["before"]


def test_r12_a2_an_interrupted_train_leaves_them_too(ag_news_dir, tmp_path):
    """Ctrl-C in a notebook cell that trains: the generators as they were, the interrupt
    carried to the caller."""
    random.seed(3)
    before = _generators()
    with pytest.raises(KeyboardInterrupt):
        attentext.train(
            "seed-transformer",
            ag_news_dir,
            tmp_path / "seed",
            max_steps=2,
            precision="fp32",
            callbacks=[InterruptAt(1)],
        )
    assert _generators() == before


# R12-A3 ------------------------------------------------------------------------------------------


def test_r12_a3_train_writes_nothing_to_stdout(quick_run):
    """The Trainer's dicts (`{'eval_loss': ...}`) went to stdout, into a script's own output."""
    assert quick_run["stdout"] == ""


def test_r12_a3_the_log_lines_still_show_on_stderr(quick_run):
    assert "train_runtime" in quick_run["stderr"]


# R12-A4 ------------------------------------------------------------------------------------------


class _CountingTokenizer:
    """The run's tokenizer, recording how many texts each call was given."""

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer, self.calls = tokenizer, []

    def __call__(self, texts: Any, *args: Any, **kwargs: Any) -> Any:
        self.calls.append(len(texts) if isinstance(texts, list) else 1)
        return self._tokenizer(texts, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tokenizer, name)


@pytest.mark.parametrize("truncation", ["head", "tail"])
def test_r12_a4_many_texts_are_tokenized_a_slice_at_a_time(run_dir, monkeypatch, truncation):
    """predict of 100,000 texts held 630 MB of tokenizer encodings at once (1,000,000: GBs);
    the answer is the same, a slice at a time."""
    classifier = attentext.load(run_dir)
    texts = [f"{TEXTS[i % 4]} {i}" for i in range(25)]
    classifier.truncation = truncation
    expected = classifier.predict_proba(texts)
    monkeypatch.setattr(encoding, "ENCODE_SLICE", 10, raising=False)
    counting = _CountingTokenizer(classifier.tokenizer)
    classifier.tokenizer = counting
    np.testing.assert_array_equal(classifier.predict_proba(texts), expected)
    assert max(counting.calls) <= 10


def test_r12_a4_no_texts_still_give_no_rows(run_dir):
    classifier = attentext.load(run_dir)
    assert encoding.encode(classifier.tokenizer, [], classifier.max_length) == []
    assert classifier.predict_proba([]).shape == (0, len(classifier.labels))


# R12-A5 ------------------------------------------------------------------------------------------


def test_r12_a5_a_train_result_shows_its_run_and_scores_not_its_metrics_whole(quick_run):
    """A notebook cell ending in `attentext.train(...)` printed metrics.json whole (3 KB for
    4 classes, a screenful a class beyond)."""
    result = quick_run["result"]
    shown = repr(result)
    test = result.metrics["test"]
    assert len(shown) < 400, shown
    assert repr(result.run_dir) in shown and f"accuracy={test['accuracy']:.4f}" in shown
    assert "per_class" not in shown and "confusion" not in shown


def test_r12_a5_an_evaluation_report_shows_its_scores_not_its_mistakes(quick_run, ag_news_dir):
    """`attentext.evaluate(...)` as a cell's last line printed the 50 most confident mistakes
    with their whole texts (20 KB for 80 short texts; megabytes for long documents)."""
    report = attentext.evaluate(quick_run["result"].run_dir, ag_news_dir)
    shown = repr(report)
    assert report.extra["confident_mistakes"]  # the report still holds them
    assert len(shown) < 300, shown[:500]
    assert f"accuracy={report.accuracy:.4f}" in shown and "n_examples=80" in shown
    assert report.extra["confident_mistakes"][0]["text"][:30] not in shown


def test_r12_a5_a_multi_label_report_shows_its_scores_too():
    values = {"accuracy": 0.5, "micro_f1": 0.75, "n_examples": 8, "per_label": {"x" * 5000: {}}}
    shown = repr(MultiLabelReport(values))
    assert shown.startswith("MultiLabelReport(accuracy=0.5000, micro_f1=0.7500, n_examples=8")
    assert "x" * 100 not in shown


# R12-A6 ------------------------------------------------------------------------------------------


def test_r12_a6_a_path_from_python_starting_with_a_tilde_is_under_the_home_folder(
    ag_news_dir, tmp_path, monkeypatch
):
    """No shell expands `~` in a Python string: `train(..., "~/runs/tf")` trained into a folder
    named '~' in the working folder without a word; `load("~/runs/tf")` and data "~/data" were
    "not found" beside them."""
    home, work = tmp_path / "home", tmp_path / "work"
    shutil.copytree(ag_news_dir, home / "data")
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    result = attentext.train("tfidf-logreg", "~/data", "~/runs/tf")
    assert result.run_dir == home / "runs" / "tf"
    assert (home / "runs" / "tf" / "attentext.json").is_file()
    assert list(work.iterdir()) == []  # no folder '~' here
    assert attentext.load("~/runs/tf").predict(TEXTS[:1])[0] in AG_NEWS_LABELS


# R12-A7 ------------------------------------------------------------------------------------------


def test_r12_a7_a_loaded_model_names_its_run_and_labels(run_dir):
    """`clf` in a notebook showed `<...TransformersClassifier object at 0x7f...>`."""
    shown = repr(attentext.load(run_dir))
    assert shown == f"TransformersClassifier(run={str(run_dir)!r}, labels={AG_NEWS_LABELS!r})"
    many = attentext.load(run_dir)
    many.labels = [f"label\n{i}" for i in range(20)]  # escaped, and counted past the first few
    shown = repr(many)
    assert "\n" not in shown and "... (20 labels)" in shown and len(shown) < 400


# R12-A8 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("flags", [{"overwrite": "False"}, {"resume": "no"}, {"overwrite": 1}])
def test_r12_a8_a_flag_that_is_not_a_bool_is_refused_before_anything_is_deleted(
    quick_run, ag_news_dir, tmp_path, flags
):
    """`overwrite="False"` (a config's or argparse's string) was True by its truth: the finished
    run at the output replaced without a word; `resume="no"` resumed."""
    run = tmp_path / "run"
    shutil.copytree(quick_run["result"].run_dir, run)
    marker = (run / "attentext.json").read_bytes()
    with pytest.raises(TypeError, match=r"must be True or False, not '(False|no)'|not 1"):
        attentext.train("tfidf-logreg", ag_news_dir, run, **flags)
    assert (run / "attentext.json").read_bytes() == marker
    assert sorted(path.name for path in tmp_path.iterdir()) == ["run"]


# R12-A9 ------------------------------------------------------------------------------------------


def test_r12_a9_two_threads_tokenizing_one_model_differently_do_not_mix_their_cuts(
    quick_run, monkeypatch
):
    """A fast tokenizer keeps its truncation as state: `predict` (cut by the tokenizer) beside an
    uncut encoding (what explain and long documents do) on the same loaded model, in two
    threads, gave predict the whole 1,400-token text for a 56-token model."""
    clf = attentext.load(quick_run["result"].run_dir)
    long_text = " ".join(["oil prices jump as opec cuts output"] * 200)
    errors: list[str] = []

    def repeat(call) -> None:
        for _ in range(20):
            try:
                call()
            except Exception as error:  # noqa: BLE001 - every failure is the finding
                errors.append(repr(error))

    set_cut = clf.tokenizer.set_truncation_and_padding

    def set_cut_then_pause(*args, **kwargs):  # the window between setting the cut and encoding
        result = set_cut(*args, **kwargs)
        time.sleep(0.002)  # widened, so the race shows in a few calls, not one in a hundred
        return result

    monkeypatch.setattr(clf.tokenizer, "set_truncation_and_padding", set_cut_then_pause)
    threads = [
        threading.Thread(target=repeat, args=(lambda: clf.predict([long_text] * 8),)),
        threading.Thread(
            target=repeat, args=(lambda: encoding.content_ids(clf.tokenizer, [long_text] * 8),)
        ),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
