"""Hostile inputs, round 15: a run's damaged files and separated validation labels (items of
rounds 13 and 14's left lists, docs/reliability.md).

R15-R1  a half-written or hand-damaged calibration.json: every reader refused the run as damaged,
        `recalibrate --data` included, though a refit needs nothing of the old calibration; the
        run could only be trained again. Now `recalibrate --data` (or --reference) loads the
        model without it, refits, and replaces it whole, said in one warning; --label-prior
        alone still refuses, naming `recalibrate RUN --data HELD_OUT`.
R15-R2  the same for a multi-label run: its thresholds are moved from the temperatures
        metrics.json recorded beside the lost file, so every text keeps its labels.
R15-R3  a damaged metrics.json: "unreadable metrics; the run directory is damaged", naming
        nothing to do. Now the line says the model is intact and to put the file back from a
        copy (or train again): a refit cannot rebuild what training measured.
R15-R4  a multi-label run whose validation split classifies some label's every text right: that
        label's temperature ran off towards its bound (the likelihood has no maximum). Now it
        keeps T = 1, said in one warning counting the labels; a label with mistakes is fitted
        as before.
"""

from __future__ import annotations

import json
import random
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_one_line_error, run_cli_here

import attentext
from attentext.errors import AttentextWarning, RunDirError
from attentext.evaluation.calibration import fit_temperature
from attentext.evaluation.evaluate import raw_logits
from attentext.evaluation.label_calibration import calibrate_labels, pair_logits

DAMAGED = {
    "half-written": lambda good: good[: len(good) // 2],
    "hand-edited temperature": lambda good: good.replace(
        b'"temperature": ', b'"temperature": -', 1
    ),
    "cut inside a character": lambda good: b'{"temperature": 1.5, "fitted_on": "caf\xc3',
}


@pytest.fixture(scope="module")
def single(ag_news_dir, tmp_path_factory) -> Path:
    """One TF-IDF run on ag_news_tiny."""
    out = tmp_path_factory.mktemp("r15-single") / "tf"
    return attentext.train("tfidf-logreg", ag_news_dir, out).run_dir


def _copy(run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run, tmp_path / run.name))


def _json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


# R15-R1 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("damage", list(DAMAGED))
def test_r15_r1_recalibrate_data_replaces_an_unreadable_calibration(
    single, ag_news_dir, tmp_path, damage
):
    run = _copy(single, tmp_path)
    calibration = run / "calibration.json"
    calibration.write_bytes(DAMAGED[damage](calibration.read_bytes()))

    refused = run_cli_here("predict", run, "a football match")
    assert_one_line_error(refused, "calibration.json", f"attentext recalibrate {run} --data")

    result = run_cli_here("recalibrate", run, "--data", ag_news_dir, "--split", "test")
    assert result.returncode == 0, result.stderr  # "the run directory is damaged" before
    assert result.stderr.count("\n") == 1 and "replaced whole" in result.stderr, result.stderr
    assert "temperature (unreadable) ->" in result.stdout
    record = _json(calibration)
    assert record["fitted_on"] == "ag_news_tiny test" and record["replaces_temperature"] is None
    assert _json(run / "metrics.json")["calibration"] == record
    probabilities = attentext.load(run).predict_proba(["a football match"])
    assert probabilities.shape == (1, 4)


def test_r15_r1_label_prior_alone_still_refuses_naming_recalibrate_data(single, tmp_path):
    run = _copy(single, tmp_path)
    (run / "calibration.json").write_text('{"temperature": 0.5, "fitted', encoding="utf-8")
    before = {path.name: path.read_bytes() for path in run.iterdir()}

    refused = run_cli_here("recalibrate", run, "--label-prior", "balanced")
    assert_one_line_error(refused, "calibration.json", "recalibrate", "--data HELD_OUT")
    assert {path.name: path.read_bytes() for path in run.iterdir()} == before


def test_r15_r1_a_refit_that_fails_leaves_the_damaged_file_as_it_was(single, tmp_path):
    """Too few held-out texts: refused before anything is written; the damage is not hidden."""
    run = _copy(single, tmp_path)
    (run / "calibration.json").write_text("{", encoding="utf-8")
    few = tmp_path / "few.csv"
    few.write_text("text,label\n" + "a match,Sports\n" * 5, encoding="utf-8")

    refused = run_cli_here("recalibrate", run, "--data", few)
    assert_one_line_error(refused, "5 labelled texts")
    assert (run / "calibration.json").read_text(encoding="utf-8") == "{"


# R15-R3 ------------------------------------------------------------------------------------------


def test_r15_r3_a_damaged_metrics_json_says_the_model_is_intact_and_what_to_do(
    single, ag_news_dir, tmp_path
):
    run = _copy(single, tmp_path)
    metrics = run / "metrics.json"
    metrics.write_bytes(metrics.read_bytes()[:100])

    for command in (
        ("predict", run, "a match"),
        ("recalibrate", run, "--data", ag_news_dir, "--split", "test"),
    ):
        refused = run_cli_here(*command)
        assert_one_line_error(refused, "metrics.json", "its model is not", "from a copy")
    with pytest.raises(RunDirError, match="train it again"):
        attentext.load(run)


# multi-label (R15-R2, R15-R4) --------------------------------------------------------------------

MARKETS, SPORT = ["stocks", "shares", "bonds"], ["match", "goal", "league"]
FILLER = ["today", "report", "news", "week", "people", "city", "talk"]


def _tagged(n: int, seed: int) -> str:
    """A CSV of texts whose `sport` and `markets` labels their words give away, and a `mood`
    label drawn at random (a label the model cannot get all right)."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        labels = [name for name in ("markets", "sport", "mood") if rng.random() < 0.5]
        words = [*rng.sample(FILLER, 3), f"item{seed}x{len(rows)}"]
        words += rng.sample(MARKETS, 2) if "markets" in labels else []
        words += rng.sample(SPORT, 2) if "sport" in labels else []
        rng.shuffle(words)
        rows.append(f"{' '.join(words)},{'|'.join(labels)}\n")
    return "text,label\n" + "".join(rows)


@pytest.fixture(scope="module")
def tagged(tmp_path_factory) -> tuple[Path, Path, Path, list[str]]:
    """(data folder, held-out file, run, its training's warnings): a TF-IDF multi-label run whose
    validation split (80 texts) has `sport` and `markets` all right."""
    root = tmp_path_factory.mktemp("r15-tags")
    data = root / "data"
    data.mkdir()
    for name, n, seed in (("train", 240, 0), ("validation", 80, 1), ("test", 40, 2)):
        (data / f"{name}.csv").write_text(_tagged(n, seed), encoding="utf-8")
    held_out = root / "held_out.csv"
    held_out.write_text(_tagged(80, 3), encoding="utf-8")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = attentext.train("tfidf-logreg", data, root / "run", multi_label=True).run_dir
    return data, held_out, run, [str(w.message) for w in caught]


def test_r15_r4_labels_validation_gets_all_right_keep_the_temperature_one(tagged):
    data, _, run, said = tagged
    assert [w for w in said if "all classified right on 2 of the 3 labels" in w], said
    own = _json(run / "calibration.json")["label_temperatures"]["per_label"]
    assert own["sport"] == 1.0 and own["markets"] == 1.0  # 0.05-0.3, fitted towards the bound

    rows = [line.split(",") for line in (data / "validation.csv").read_text().splitlines()[1:]]
    targets = np.array([[int("mood" in labels)] for _, labels in rows])
    logits = raw_logits(attentext.load(run), [text for text, _ in rows])
    mood = attentext.load(run).labels.index("mood")
    fitted = round(fit_temperature(pair_logits(logits[:, mood]), targets.reshape(-1)), 6)
    assert own["mood"] == fitted != 1.0  # a label with mistakes: fitted as before


def test_r15_r4_a_split_all_right_on_every_pair_keeps_the_pooled_temperature_one():
    targets = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
    logits = np.where(targets == 1, 3.0, -2.0)
    with pytest.warns(AttentextWarning, match="all classified right on 2 of the 2 labels"):
        record = calibrate_labels(targets, logits, ["a", "b"], "validation")
    assert record["label_temperatures"] == {"pooled": 1.0, "per_label": {}}


def test_r15_r2_a_multi_label_runs_unreadable_calibration_is_refitted_keeping_decisions(
    tagged, tmp_path
):
    _, held_out, trained, _ = tagged
    run = _copy(trained, tmp_path)
    texts = [line.split(",")[0] for line in held_out.read_text().splitlines()[1:]]
    decided = attentext.load(run).predict(texts)
    recorded = _json(run / "metrics.json")["calibration"]["label_temperatures"]
    (run / "calibration.json").write_text('{"temperature": 1.0, "label_temp', encoding="utf-8")

    with pytest.warns(AttentextWarning, match="unreadable .*replaced whole"):
        record = attentext.recalibrate_labels(run, held_out)
    assert record["replaces_label_temperatures"] == recorded
    assert attentext.load(run).predict(texts) == decided  # the thresholds moved with them
