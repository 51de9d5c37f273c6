"""Nothing lost on a crash, round 10: every place attentext writes files, tried with a Ctrl-C
(KeyboardInterrupt raised by a write after N calls), a full disk (OSError ENOSPC) or a kill -9 in
the middle, and for a user's file it could overwrite. Each test failed before its fix:

R10-W1 `evaluate RUN --output R` over an earlier report, interrupted (Ctrl-C, a full disk) while
       writing: the earlier report's files were removed first, then the new ones written one
       by one, so R held half a new report (metrics.json new, report.md gone) read as whole.
       The report is written into a staging folder inside R and its files renamed in together,
       Ctrl-C held for those renames (`files.files_replaced_together`).
"""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

import attentext
from attentext.evaluation import reports


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
