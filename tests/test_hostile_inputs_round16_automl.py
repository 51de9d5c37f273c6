"""Hostile inputs, round 16: `tune`, `auto`, `compare` and `ensemble` (the AutoML side). Each test
failed before its fix (docs/reliability.md, round 16):

R16-A1  `tune ... --resume` with another fixed setting (`--set data.val_fraction=0.5` where the
        trials had 0.2) or after the data file was edited: the earlier trials and their best
        were kept, measured on other validation texts, and best.yaml written with the new
        settings beside a best/ run trained with the old ones. trials.json records the settings
        the trials were trained with and a digest of the texts; a resume that differs is one
        line naming the settings.
R16-A2  `ensemble A B` where B trained with another validation share (`data.val_fraction`) or
        held none out (0): "train the runs with one --set data.seed=N", where both had one
        seed; every run held none out: "(a run trained with --shots has none)". Each names what
        differs and the setting that makes the runs alike.
R16-A3  `auto ... --resume` over a finished auto output (as "already exists, an earlier `attentext
        auto` output; ... pass --resume to go on with it" advised), or over one cut while it
        measured the best on the test split: the best recipe trained again, then an OSError
        traceback renaming it onto best/ ("Directory not empty"), auto.json's best erased. A
        finished output is refused in one line (and no message offers --resume for it); the best/
        of a cut one goes back into runs/ and is taken as a run that call finished; the
        interrupt's line names best/, not "the runs finished (...) are in OUT/runs" (emptied).
R16-A4  `auto ... --resume` after the data file was edited (labels mended): the runs the cut call
        had trained on the old labels taken ("taken from the interrupted call") and one kept as
        best/ without a word. auto.json records a SHA-256 of the train and validation texts (as
        trials.json does, R16-A1); a resume on other texts is one line.
R16-A5  `ensemble A B` where A's folder also holds what the user wrote into it (`evaluate A -o
        A/report`, `tune ... -o A/search`, notes.txt): copied whole into the ensemble's
        members/A (a search's best run: hundreds of MB with an encoder). The member's own files
        are copied (`rundir.foreign_to_run`).
R16-A6  `tune ... --set model.options.min_df=1000` (a setting that fails every trial): Optuna
        logged each failed trial's traceback (50 lines a trial), then "no trial completed (0
        pruned, 2 failed ...); give more --trials or a longer --timeout", advice that fails the
        same way. Optuna logs errors only (each trial's line says why it failed), and a search
        whose every trial failed names their errors and says to change the settings.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from conftest import labelled_csv, write_file

import attentext
from attentext.automl.auto import _Auto
from attentext.automl.tune import TuneError
from attentext.errors import DataError, RunDirError

GOOD = ["great", "wonderful", "loved", "superb", "fine"]
BAD = ["dull", "boring", "hated", "awful", "poor"]


def _rows(n: int) -> list[tuple[str, str]]:
    """`n` texts of each of two classes, told apart by their words."""
    rows = []
    for i in range(n):
        rows.append((f"a {GOOD[i % 5]} {GOOD[(i + 2) % 5]} film number {i}", "pos"))
        rows.append((f"a {BAD[i % 5]} {BAD[(i + 3) % 5]} film number {i}", "neg"))
    return rows


@pytest.fixture
def data(tmp_path) -> Path:
    return write_file(tmp_path, "train.csv", labelled_csv(_rows(20)))


def test_r16_a1_a_resumed_tune_of_other_fixed_settings_is_refused(data, tmp_path):
    out = tmp_path / "search"
    attentext.tune("tfidf-logreg", data, out, trials=1, overrides=["data.val_fraction=0.2"])
    before = (out / "trials.json").read_bytes()
    with pytest.raises(RunDirError) as refused:
        attentext.tune(
            "tfidf-logreg", data, out, trials=2, overrides=["data.val_fraction=0.5"], resume=True
        )
    message = str(refused.value)
    assert "data.val_fraction 0.2 (now 0.5)" in message and "\n" not in message
    assert (out / "trials.json").read_bytes() == before  # the earlier search as it was
    # the same settings go on (a control)
    result = attentext.tune(
        "tfidf-logreg", data, out, trials=2, overrides=["data.val_fraction=0.2"], resume=True
    )
    assert [r.number for r in result.trials] == [1, 2]


def test_r16_a1_a_resumed_tune_of_edited_data_is_refused(data, tmp_path):
    out = tmp_path / "search"
    attentext.tune("tfidf-logreg", data, out, trials=1)
    rows = _rows(20)
    rows[0] = (rows[0][0], "neg")  # one label mended in the file
    data.write_text(labelled_csv(rows), encoding="utf-8")
    with pytest.raises(RunDirError, match="measured on other texts than"):
        attentext.tune("tfidf-logreg", data, out, trials=2, resume=True)
    assert len(json.loads((out / "trials.json").read_text(encoding="utf-8"))["trials"]) == 1


@pytest.fixture(scope="module")
def carved(tmp_path_factory) -> tuple[Path, dict[str, Path]]:
    """A data file and four TF-IDF runs on it: validation shares 0.25, 0.5, 0 and 0."""
    folder = tmp_path_factory.mktemp("r16-ensemble")
    data = write_file(folder, "train.csv", labelled_csv(_rows(20)))
    runs = {}
    for name, share in (("quarter", 0.25), ("half", 0.5), ("none", 0.0), ("none2", 0.0)):
        runs[name] = attentext.train(
            "tfidf-logreg", data, folder / name, overrides=[f"data.val_fraction={share}"]
        ).run_dir
    return data, runs


def test_r16_a2_an_ensemble_of_runs_of_other_validation_shares_names_the_share(carved, tmp_path):
    data, runs = carved
    with pytest.raises(DataError) as other_share:
        attentext.ensemble([runs["quarter"], runs["half"]], data, tmp_path / "e1")
    message = str(other_share.value)
    assert "share 0.5) is not" in message and "--set data.val_fraction=0.25" in message
    assert "data.seed" not in message  # one data seed: it is not what differs
    with pytest.raises(DataError) as none_held:
        attentext.ensemble([runs["quarter"], runs["none"]], data, tmp_path / "e2")
    message = str(none_held.value)
    assert "held out none of its train split" in message and "data.seed" not in message


def test_r16_a2_an_ensemble_of_runs_that_held_out_nothing_says_so_not_shots(carved, tmp_path):
    data, runs = carved
    with pytest.raises(DataError) as refused:
        attentext.ensemble([runs["none"], runs["none2"]], data, tmp_path / "e3")
    message = str(refused.value)
    assert "none, none2 trained on all of its train split" in message
    assert "--shots" not in message and "validation file" in message


def test_r16_a3_resume_of_a_finished_auto_is_one_line_and_leaves_it(data, tmp_path):
    out = tmp_path / "auto"
    attentext.auto(data, out, 60, recipes=["tfidf-logreg"])
    record = (out / "auto.json").read_bytes()
    with pytest.raises(RunDirError) as again:
        attentext.auto(data, out, 60, recipes=["tfidf-logreg"])
    assert "finished" in str(again.value) and "--resume" not in str(again.value)
    with pytest.raises(RunDirError, match="a finished `attentext auto` output, nothing to resume"):
        attentext.auto(data, out, 60, recipes=["tfidf-logreg"], resume=True)
    assert (out / "auto.json").read_bytes() == record
    assert attentext.load(out / "best").labels


def test_r16_a3_resume_of_an_auto_cut_while_measuring_the_test_split_takes_its_best(
    data, tmp_path, monkeypatch
):
    out = tmp_path / "auto"

    def cut(self, name, run_dir):
        raise KeyboardInterrupt

    with monkeypatch.context() as patched:
        patched.setattr(_Auto, "_measure_test", cut)
        with pytest.raises(KeyboardInterrupt) as interrupted:
            attentext.auto(data, out, 60, recipes=["tfidf-logreg"])
    assert (out / "best").is_dir()  # chosen, runs/ emptied, auto.json without a best
    assert f"after choosing {out / 'best'}" in str(interrupted.value)  # not "are in OUT/runs"
    lines: list[str] = []
    result = attentext.auto(
        data, out, 60, recipes=["tfidf-logreg"], resume=True, progress=lines.append
    )
    assert result.recipe == "tfidf-logreg" and attentext.load(out / "best").labels
    assert any("taken from the interrupted call" in line for line in lines), lines
    assert json.loads((out / "auto.json").read_text(encoding="utf-8"))["best"] == "tfidf-logreg"


def test_r16_a4_resume_of_an_auto_on_edited_data_takes_no_run_of_the_old(
    data, tmp_path, monkeypatch
):
    out = tmp_path / "auto"

    def cut(self, keep_all):
        raise KeyboardInterrupt

    with monkeypatch.context() as patched:
        patched.setattr(_Auto, "finish", cut)
        with pytest.raises(KeyboardInterrupt):
            attentext.auto(data, out, 60, recipes=["tfidf-logreg"])
    assert (out / "runs" / "tfidf-logreg").is_dir()
    rows = _rows(20)
    rows[:6] = [(text, "neg") for text, _ in rows[:6]]  # labels mended in the file
    data.write_text(labelled_csv(rows), encoding="utf-8")
    with pytest.raises(RunDirError, match="trained on other texts than"):
        attentext.auto(data, out, 60, recipes=["tfidf-logreg"], resume=True)
    assert (out / "runs" / "tfidf-logreg").is_dir()  # left as it was


def test_r16_a5_an_ensemble_copies_its_members_own_files_only(data, tmp_path):
    runs = [
        attentext.train(
            "tfidf-logreg", data, tmp_path / name, overrides=[f"model.options.C={c}"]
        ).run_dir
        for name, c in (("sharp", 10.0), ("soft", 0.1))
    ]
    for run in runs:
        write_file(run, "notes.txt", "my notes")
        attentext.evaluate(run, data, output=run / "report")
    result = attentext.ensemble(runs, data, tmp_path / "ensemble", rounds=4)
    for name in result.weights:
        copied = {entry.name for entry in (tmp_path / "ensemble" / "members" / name).iterdir()}
        assert "notes.txt" not in copied and "report" not in copied, copied
        assert "metrics.json" in copied
    assert attentext.load(tmp_path / "ensemble").predict(["a great film"]) == ["pos"]


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_r16_a6_a_setting_that_fails_every_trial_is_said_once_without_tracebacks(data, tmp_path):
    seen, optuna_log = _Records(), logging.getLogger("optuna")
    optuna_log.addHandler(seen)
    try:
        with pytest.raises(TuneError) as failed:
            attentext.tune(
                "tfidf-logreg",
                data,
                tmp_path / "s",
                trials=2,
                overrides=["model.options.min_df=1000"],
            )
    finally:
        optuna_log.removeHandler(seen)
    message = str(failed.value)
    assert "all 2 failed" in message and "model.options.min_df" in message, message
    assert "--trials" not in message and "\n" not in message
    assert not [record for record in seen.records if record.exc_info], seen.records
