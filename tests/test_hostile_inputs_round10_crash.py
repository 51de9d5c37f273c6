"""Nothing lost on a crash, round 10: every place attentext writes files, tried with a Ctrl-C
(KeyboardInterrupt raised by a write after N calls), a full disk (OSError ENOSPC) or a kill -9 in
the middle, and for a user's file it could overwrite. Each test failed before its fix:

R10-W1 `evaluate RUN --output R` over an earlier report, interrupted (Ctrl-C, a full disk) while
       writing: the earlier report's files were removed first, then the new ones written one
       by one, so R held half a new report (metrics.json new, report.md gone) read as whole.
       The report is written into a staging folder inside R and its files renamed in together,
       Ctrl-C held for those renames (`files.files_replaced_together`).
R10-W2 `explain RUN TEXTS -o FOLDER` where FOLDER holds the user's own explanation.html (a page
       of theirs): deleted (or replaced) without a word, as an earlier call's file; and a
       Ctrl-C while writing left the earlier call's files removed and half the new ones.
       A file of explain's names that explain did not write (its page's title, its PNGs'
       Software tag) is refused unless --overwrite; the files are replaced together
       (`explain.check_explain_folder`, `write_explanations`).
R10-W3 `compare RUNS --output L` over an earlier leaderboard, interrupted (a full disk, Ctrl-C)
       while writing: leaderboard.md/.json/.csv new, the plots old (and a CSV cut short where
       the disk filled), read as one leaderboard. Written in a staging folder and renamed in
       together (`leaderboard.write_leaderboard`).
R10-W4 `attentext.recalibrate(RUN, ...)` (and `set_label_prior`, `recalibrate_labels`, and
       `recalibrate` of a multi-label run on the command line) interrupted between the files
       it saves (a full disk, Ctrl-C): metrics.json recorded the new calibration while
       calibration.json held the old (a multi-label run's thresholds.json moved for
       temperatures it did not hold). Only the CLI's single-label path put them back; now
       `recalibrate.save_calibration` itself keeps them all or none; and they are put back
       by renaming hard links kept to them, not by writing their bytes again, which on a
       full disk failed too and left the run torn (`recalibrate.as_it_was_on_failure`).
R10-W5 `tune ... --output OUT --overwrite` (and `auto`) over an earlier search: the earlier
       output (its best run and best.yaml: hours of trials) was removed before the first
       trial, so a Ctrl-C, a crash or "no trial completed" left nothing of either. It is
       moved aside and removed only once the new search finished or kept a best trial; else
       put back (after a kill -9, by the next call) (`folders.writing_output`).
R10-W6 The frozen-feature / teacher-logit / word-vector cache ($ATTENTEXT_CACHE): a full disk
       (or a read-only cache) when storing an entry failed the command after the encoder's
       pass, for a file kept only for next time; and each writer killed mid-write left its
       temporary (as big as the entry) for ever. A store that fails is one warning and the
       command goes on; temporaries over an hour old are removed by the next store (a
       younger one may be another process writing the same entry) (`features._store`).
R10-W7 `export RUN -o FOLDER` over an earlier export, stopped (a full disk, Ctrl-C) after the
       graphs were renamed in but before export.json: the earlier int8 file already deleted
       (an export without --int8), model.onnx new, export.json the earlier export's (listing
       an int8 file, another run's weights), read as one export. The three files are written
       into a staging folder and renamed in together (`onnx._write_export`).
R10-W8 `ensemble A B -o E` stopped while writing E (a full disk, Ctrl-C): E.partial was left,
       holding a copy of every member run (hundreds of MB with encoder members, on a disk
       already full), removed only by a later ensemble into E; an ensemble is never resumed.
       Its work folder is removed whatever ends the write (`ensemble._write`).
R10-W9 `predict RUN -i IN -o OUT --overwrite` over an earlier OUT, Ctrl-C (or a full disk)
       while the chunks were joined into OUT: OUT.errors.jsonl was already renamed in, so the
       new errors file (its row numbers this input's) sat beside the earlier OUT. Both are
       joined first and renamed in together, Ctrl-C held (`workdir.WorkDir.finish`); the
       work folder stays for --resume.
R10-W10 `export RUN` killed (-9) leaves its lock RUN/.onnx.lock (or holds it while
       `recalibrate RUN` runs); recalibrate's marker listed it as a file of the run, and once
       the next export removed it, every command refused RUN: "missing file(s) .onnx.lock;
       ... train it again". Hidden files (locks, temporaries) are never listed, nor missed
       where an earlier marker lists them (`rundir.is_passing_file`).
R10-W11 A full disk (or quota) while evaluate, compare, explain, export, recalibrate, ensemble,
       tune or auto wrote their files: a Python traceback (train and predict said it in one
       line). One line now, naming the file as the user knows it (not the staging folder it
       was written in first): "...: could not write it (No space left on device); free space
       and run the command again", exit 2 (`cli.app.disk_full_line`).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import run_cli_here

import attentext
from attentext.automl import auto as auto_module
from attentext.automl import ensemble as ensemble_module
from attentext.automl import tune as tune_module
from attentext.errors import AttentextError, AttentextWarning
from attentext.evaluation import leaderboard, reports
from attentext.evaluation import recalibrate as recalibrate_module
from attentext.export import onnx as onnx_module
from attentext.interpret import explain as explain_module
from attentext.scoring import workdir
from attentext.scoring.engine import BatchOptions, predict_file
from attentext.training import features


@pytest.fixture(scope="module")
def tfidf_run(ag_news_dir, tmp_path_factory) -> Path:
    """A TF-IDF run on ag_news_tiny (seconds)."""
    folder = tmp_path_factory.mktemp("round10crash")
    return Path(attentext.train("tfidf-logreg", ag_news_dir, folder / "tfidf").run_dir)


def _contents(folder: Path) -> dict[str, bytes]:
    """Every entry of `folder` (hidden ones too) and the bytes of its files."""
    return {p.name: p.read_bytes() if p.is_file() else b"<dir>" for p in folder.iterdir()}


def _first_rows(source: Path, target: Path, rows: int) -> Path:
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    target.write_text("".join(lines[: rows + 1]), encoding="utf-8")
    return target


@pytest.mark.parametrize(
    "failure", [KeyboardInterrupt(), OSError(errno.ENOSPC, "No space left on device")]
)
def test_r10_w1_an_interrupted_report_leaves_the_earlier_one_whole(
    failure, tfidf_run, ag_news_dir, tmp_path, monkeypatch
):
    report = tmp_path / "report"
    attentext.evaluate(tfidf_run, ag_news_dir, output=report)
    before = _contents(report)

    def fail(*args, **kwargs):
        raise failure

    # metrics.json, mistakes.jsonl and the confusion matrix are written by then
    monkeypatch.setattr(reports, "plot_reliability", fail)
    fewer = _first_rows(ag_news_dir / "test.csv", tmp_path / "fewer.csv", 40)
    with pytest.raises(type(failure)):
        attentext.evaluate(tfidf_run, fewer, output=report)
    assert _contents(report) == before
    monkeypatch.undo()
    attentext.evaluate(tfidf_run, fewer, output=report)
    assert sorted(_contents(report)) == sorted(before)
    assert (report / "metrics.json").read_bytes() != before["metrics.json"]


def test_r10_w1_a_new_report_folder_is_not_left_half_made(
    tfidf_run, ag_news_dir, tmp_path, monkeypatch
):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(reports, "plot_reliability", interrupt)
    with pytest.raises(KeyboardInterrupt):
        attentext.evaluate(tfidf_run, ag_news_dir, output=tmp_path / "new")
    assert not (tmp_path / "new").exists()
    # and the folders made above it (round 10 left them: only the last one was removed)
    with pytest.raises(KeyboardInterrupt):
        attentext.evaluate(tfidf_run, ag_news_dir, output=tmp_path / "a" / "b" / "report")
    assert not (tmp_path / "a").exists()


def test_r10_w1_a_folder_named_like_a_report_file_stops_the_report_before_any_is_replaced(
    tfidf_run, ag_news_dir, tmp_path
):
    report = tmp_path / "report"
    attentext.evaluate(tfidf_run, ag_news_dir, output=report)
    (report / "reliability.png").unlink()
    (report / "reliability.png").mkdir()  # a folder of the user's, by a report file's name
    before = _contents(report)
    # one line naming it (R16-E3), where an IsADirectoryError was a traceback from the CLI
    with pytest.raises(AttentextError, match="reliability.png: a folder"):
        attentext.evaluate(tfidf_run, ag_news_dir, output=report, overwrite=True)
    assert _contents(report) == before


KILLED_MID_REPORT = """
import os, sys
import attentext
from attentext.evaluation import reports
reports.plot_reliability = lambda *args, **kwargs: os.kill(os.getpid(), 9)  # kill -9 mid-write
attentext.evaluate(sys.argv[1], sys.argv[2], output=sys.argv[3])
"""


def test_r10_w1_a_report_killed_mid_write_leaves_the_earlier_one_and_is_cleaned_next_time(
    tfidf_run, ag_news_dir, tmp_path
):
    report = tmp_path / "report"
    attentext.evaluate(tfidf_run, ag_news_dir, output=report)
    before = _contents(report)
    fewer = _first_rows(ag_news_dir / "test.csv", tmp_path / "fewer.csv", 40)
    script = [sys.executable, "-c", KILLED_MID_REPORT, tfidf_run, fewer, report]
    killed = subprocess.run(list(map(str, script)), capture_output=True, timeout=120)
    assert killed.returncode == -9, killed.stderr[-2000:]
    left = _contents(report)
    assert {name: left[name] for name in before} == before  # the earlier report, whole
    assert [name for name in left if name not in before] == [
        name for name in left if name.startswith(".attentext-staging.")
    ]
    attentext.evaluate(tfidf_run, fewer, output=report)  # not refused for the leftover
    assert sorted(_contents(report)) == sorted(before)  # the leftover removed


TEXTS = ["stocks rallied as the central bank held rates", "the striker scored twice", "a new chip"]


def test_r10_w2_explain_keeps_a_users_own_explanation_html(tfidf_run, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "explanation.html").write_text("<p>how our model works</p>\n", encoding="utf-8")
    (docs / "index.html").write_text("<p>home</p>\n", encoding="utf-8")
    with pytest.raises(AttentextError, match=r"explanation.html, which explain did not write"):
        attentext.explain(tfidf_run, TEXTS, output_dir=docs, fmt="png")
    assert (docs / "explanation.html").read_text(encoding="utf-8") == "<p>how our model works</p>\n"
    attentext.explain(tfidf_run, TEXTS, output_dir=docs, fmt="html", overwrite=True)
    assert "<title>attentext explanations" in (docs / "explanation.html").read_text("utf-8")
    attentext.explain(tfidf_run, TEXTS[:1], output_dir=docs)  # its own files: replaced
    assert sorted(p.name for p in docs.iterdir()) == [
        "explanation-0.png", "explanation.html", "index.html"
    ]  # fmt: skip


def test_r10_w2_an_interrupted_explain_leaves_the_earlier_files_whole(
    tfidf_run, tmp_path, monkeypatch
):
    out = tmp_path / "out"
    attentext.explain(tfidf_run, TEXTS, output_dir=out)
    before = _contents(out)
    calls = []
    render_png = explain_module.render_png

    def interrupted_on_the_second(explanation, path):
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return render_png(explanation, path)

    monkeypatch.setattr(explain_module, "render_png", interrupted_on_the_second)
    with pytest.raises(KeyboardInterrupt):
        attentext.explain(tfidf_run, TEXTS[1:], output_dir=out)
    assert _contents(out) == before


@pytest.mark.parametrize(
    "failure", [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()]
)
def test_r10_w3_an_interrupted_compare_leaves_the_earlier_leaderboard_whole(
    failure, tfidf_run, ag_news_dir, tmp_path, monkeypatch
):
    board = tmp_path / "board"
    attentext.compare([tfidf_run], ag_news_dir, output=board)
    before = _contents(board)

    def fail(*args, **kwargs):
        raise failure

    monkeypatch.setattr(leaderboard, "_scatter", fail)  # the tables are written by then
    with pytest.raises(type(failure)):
        attentext.compare([tfidf_run], ag_news_dir, output=board, limit=40)
    assert _contents(board) == before


@pytest.mark.parametrize(
    "failure", [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()]
)
def test_r10_w4_recalibrate_interrupted_between_its_files_keeps_the_run_as_it_was(
    failure, tfidf_run, ag_news_dir, tmp_path, monkeypatch
):
    run = Path(shutil.copytree(tfidf_run, tmp_path / "run"))
    before = _contents(run)
    write_json = recalibrate_module.write_json

    def fail_after_metrics(path, payload):
        if path.name != "metrics.json":
            raise failure
        write_json(path, payload)

    monkeypatch.setattr(recalibrate_module, "write_json", fail_after_metrics)
    with pytest.raises(type(failure)):
        attentext.recalibrate(run, ag_news_dir / "test.csv")
    assert _contents(run) == before


def _tree(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` by its relative path, and its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_r10_w5_an_interrupted_tune_overwrite_keeps_the_earlier_search(
    ag_news_dir, tmp_path, monkeypatch
):
    out = tmp_path / "search"
    attentext.tune("tfidf-logreg", ag_news_dir, out, trials=1)
    before = _tree(out)
    assert "best.yaml" in before

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C in the first trial's training

    monkeypatch.setattr(tune_module, "train", interrupted)
    with pytest.raises(KeyboardInterrupt, match="none complete; .*keeps the earlier search's"):
        attentext.tune("tfidf-logreg", ag_news_dir, out, trials=2, overwrite=True)
    assert _tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["search"]  # nothing left aside
    # a call killed (-9) mid-search left the earlier output aside: the next call puts it back
    out.rename(tmp_path / ".search.earlier.tmp")
    (out / "trials").mkdir(parents=True)
    with pytest.raises(AttentextError, match="already exists"):
        attentext.tune("tfidf-logreg", ag_news_dir, out, trials=1)
    assert _tree(out) == before


def test_r10_w5_an_interrupted_auto_overwrite_keeps_the_earlier_output(
    ag_news_dir, tmp_path, monkeypatch
):
    out = tmp_path / "auto"
    attentext.auto(ag_news_dir, out, 120, recipes=["tfidf-logreg"], ensemble=False)
    before = _tree(out)
    assert "best/attentext.json" in before

    def interrupted(self):
        raise KeyboardInterrupt  # Ctrl-C while the baseline trains

    monkeypatch.setattr(auto_module._Auto, "run_baseline", interrupted)
    with pytest.raises(KeyboardInterrupt):
        attentext.auto(ag_news_dir, out, 120, recipes=["tfidf-logreg"], overwrite=True)
    assert _tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["auto"]


def test_r10_w6_a_cache_that_cannot_be_written_does_not_fail_the_command(tmp_path, monkeypatch):
    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(features, "save_file", full_disk)
    values = torch.arange(6, dtype=torch.float32).reshape(3, 2)
    with pytest.warns(AttentextWarning, match="No space left on device.*going on without it"):
        got, hit = features.cached_features("k", lambda: values, 3, "d", cache_dir=tmp_path)
    assert torch.equal(got, values) and not hit
    assert list(tmp_path.iterdir()) == []  # no temporary left


def test_r10_w6_temporaries_a_killed_cache_writer_left_are_removed(tmp_path):
    abandoned = tmp_path / ".old.safetensors.x1.tmp"  # a writer killed mid-write, long ago
    abandoned.write_bytes(b"\0" * 1000)
    hour_ago = time.time() - 2 * 3600
    os.utime(abandoned, (hour_ago, hour_ago))
    live = tmp_path / ".k.safetensors.x2.tmp"  # another process writing now
    live.write_bytes(b"\0" * 10)
    values = torch.ones(2, 2)
    features.cached_features("k", lambda: values, 2, "d", cache_dir=tmp_path)
    assert not abandoned.exists() and live.exists()
    assert features.cached_features("k", lambda: values * 0, 2, "d", cache_dir=tmp_path)[1]


@pytest.mark.parametrize(
    "failure", [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()]
)
def test_r10_w7_an_interrupted_export_leaves_the_earlier_export_whole(
    failure, run_dir, tmp_path, monkeypatch
):
    folder = tmp_path / "models"
    onnx_module.export_onnx(run_dir, output=folder, int8=True)
    before = _contents(folder)
    assert "model.int8.onnx" in before

    def fail(*args, **kwargs):
        raise failure

    monkeypatch.setattr(onnx_module, "_export_record", fail)  # the graphs are written by then
    with pytest.raises(type(failure)):
        onnx_module.export_onnx(run_dir, output=folder)
    assert _contents(folder) == before


@pytest.mark.parametrize(
    "failure", [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()]
)
def test_r10_w8_an_interrupted_ensemble_leaves_no_copies_of_its_members(
    failure, tfidf_run, ag_news_dir, tmp_path, monkeypatch
):
    other = attentext.train(
        "tfidf-logreg", ag_news_dir, tmp_path / "other", overrides=["model.options.C=0.1"]
    ).run_dir

    def fail(*args, **kwargs):
        raise failure

    monkeypatch.setattr(ensemble_module, "write_text", fail)  # the card, after the members
    with pytest.raises(type(failure)):
        attentext.ensemble([tfidf_run, other], ag_news_dir, tmp_path / "both")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other"]


@pytest.mark.parametrize(
    ("failure", "raised"),
    [
        (KeyboardInterrupt(), KeyboardInterrupt),
        (OSError(errno.ENOSPC, "No space left on device"), AttentextError),  # one line: free space
    ],
)
def test_r10_w9_an_interrupted_predict_overwrite_keeps_the_earlier_output_and_its_errors(
    failure, raised, tfidf_run, tmp_path, monkeypatch
):
    first, second = tmp_path / "first.txt", tmp_path / "second.txt"
    first.write_text("stocks fell\n\nthe match ended\n", encoding="utf-8")
    second.write_text("\nrain\n\nchips\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    predict_file(tfidf_run, first, out, BatchOptions(progress=False))
    before = _contents(tmp_path)

    def fail(*args, **kwargs):
        raise failure

    monkeypatch.setattr(workdir, "assemble", fail)
    with pytest.raises(raised):
        predict_file(tfidf_run, second, out, BatchOptions(progress=False, overwrite=True))
    after = _contents(tmp_path)
    assert {name: after[name] for name in before} == before
    monkeypatch.undo()  # the work folder left is resumed
    predict_file(tfidf_run, second, out, BatchOptions(progress=False, resume=True))
    assert len((tmp_path / "out.jsonl.errors.jsonl").read_text("utf-8").splitlines()) == 2


def test_r10_w4_a_full_disk_still_lets_recalibrate_put_the_run_back(
    tfidf_run, ag_news_dir, tmp_path, monkeypatch
):
    run = Path(shutil.copytree(tfidf_run, tmp_path / "run"))
    before = _contents(run)
    real_replace, disk_full = os.replace, []

    def replace(source, target):
        real_replace(source, target)
        if Path(target).name == "metrics.json":
            disk_full.append(True)  # the disk fills up once metrics.json is written

    def write(real):
        def write_when_space_is_left(self, *args, **kwargs):
            if disk_full:
                raise OSError(errno.ENOSPC, "No space left on device")
            return real(self, *args, **kwargs)

        return write_when_space_is_left

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(Path, "write_text", write(Path.write_text))
    monkeypatch.setattr(Path, "write_bytes", write(Path.write_bytes))
    with pytest.raises(OSError, match="No space left"):
        attentext.recalibrate(run, ag_news_dir / "test.csv")
    monkeypatch.undo()
    assert _contents(run) == before


def test_r10_w10_an_exports_lock_left_in_a_run_never_makes_it_incomplete(
    tfidf_run, ag_news_dir, tmp_path
):
    run = Path(shutil.copytree(tfidf_run, tmp_path / "run"))
    lock = run / ".onnx.lock"  # what a kill -9 of `export RUN` leaves (or holds meanwhile)
    lock.write_text("pid 1 on host since 2026-12-07 07:00:00 (export)", encoding="utf-8")
    attentext.recalibrate(run, ag_news_dir / "test.csv")
    lock.unlink()  # the next export takes the lock and removes it
    assert attentext.load(run).labels
    marker = json.loads((run / "attentext.json").read_text(encoding="utf-8"))
    marker["files"].append(".onnx.lock")  # as a marker written before the fix lists it
    (run / "attentext.json").write_text(json.dumps(marker), encoding="utf-8")
    assert attentext.load(run).labels


def test_r10_w11_a_full_disk_while_writing_an_output_is_one_line(
    tfidf_run, ag_news_dir, tmp_path, monkeypatch
):
    def full_disk(values, ece, path, before=None):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(reports, "plot_reliability", full_disk)
    report = tmp_path / "report"
    result = run_cli_here("evaluate", tfidf_run, "--data", ag_news_dir, "--output", report)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr == (
        f"error: {report / 'reliability.png'}: could not write it (No space left on device); "
        "free space and run the command again\n"
    )
    assert not report.exists()
