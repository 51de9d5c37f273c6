"""Hostile inputs, round 12, "interrupted": a long command stopped part-way (Ctrl-C, a SIGTERM
from a scheduler, kill -9) loses as little as it can and says how to go on. Each signal is sent
at a fixed point (a trial recorded in trials.json, a progress line), never after a guessed sleep.
Each test failed before its fix:

R12-I1 `tune` stopped after some trials, then run again: the same command was refused ("already
       exists"), and with --overwrite started over (trial 1 drawn again, hours of trials
       lost); a kill -9 left the best trial in trials/ with no best.yaml. `tune --resume`
       (`resume=True`) goes on from trials.json: its trials kept and told to the sampler, the
       best kept (found in trials/ after a kill -9), only the trials left run; the Ctrl-C line
       names --resume (`tune._Search.restore`, `folders.writing_output(resume=...)`).
R12-I2 SIGTERM (Slurm's stop, `kill`, `docker stop`) to a command: the process ended at once,
       without a word, keeping nothing a Ctrl-C keeps (a tune's best trial left in trials/).
       The CLI answers it as Ctrl-C, exit 130 (`cli.app.terminate_as_interrupt`); the
       renames a command makes together hold it as they hold Ctrl-C (`files.interrupts_held`).
R12-I3 `evaluate` and `compare` on many texts (an encoder reads a few hundred a second on a
       CPU: 100,000 test texts are minutes): no progress at all, where train, features and
       predict show theirs. Above 2,048 texts the pass runs a slice at a time under a bar
       (`evaluation.progress.scored`).
R12-I4 `auto` stopped after some recipes trained: "interrupted" and nothing more; its finished
       runs left in OUT/runs/ with no way to use them (the same command refused, --overwrite
       trained them all again). The line names the runs kept and `--resume`, which takes a
       run finished with the settings asked again instead of training it
       (`auto._Auto.trained_before`, `same_request`; `cli.app.main` prints an interrupt's own
       message).
R12-I5 `tune` or `auto` killed (-9, a closed lid: no line said anything) and run again as it
       was: "already exists; ... pass --overwrite", which starts over. The refusal of an
       earlier output of the same command names --resume first (`folders._replaceable`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import assert_one_line_error, labelled_csv, run_cli_here, write_file

import attentext
from attentext import files
from attentext.automl import auto as auto_module
from attentext.cli.app import terminate_as_interrupt

WAIT_S = 60  # the most a test waits for a subprocess to reach the point it is stopped at


def _records(folder: Path) -> list[dict]:
    """The trials a search's trials.json records (none while it is being written)."""
    try:
        return json.loads((folder / "trials.json").read_text(encoding="utf-8"))["trials"]
    except (FileNotFoundError, ValueError, KeyError):
        return []


def _tune_until_a_trial(data: Path, out: Path) -> subprocess.Popen:
    """`attentext tune tfidf-logreg` of many trials in a subprocess, returned once trials.json
    records its first trial (so a signal then finds a search with a trial kept)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "attentext", "tune", "tfidf-logreg", "--data", str(data)]
        + ["--trials", "200", "-o", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + WAIT_S
    while not _records(out):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no trial recorded"
        time.sleep(0.05)
    return process


@pytest.fixture
def ctrl_c_raises():
    """Python's own Ctrl-C handler for the test, as a process in a terminal has it: one started
    in the background (`make test &`, as CI may start the suite) inherits SIGINT ignored, and
    its Ctrl-C sent to itself did nothing ("DID NOT RAISE KeyboardInterrupt")."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_r12_i1_an_interrupted_tune_goes_on_with_resume(ag_news_dir, tmp_path, ctrl_c_raises):
    out = tmp_path / "search"
    lines: list[str] = []

    def ctrl_c_after_two(line: str) -> None:
        lines.append(line)
        if len(lines) == 2:
            os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C, as the second trial ends

    with pytest.raises(KeyboardInterrupt, match="with --resume .* runs the 2 left"):
        attentext.tune("tfidf-logreg", ag_news_dir, out, trials=4, progress=ctrl_c_after_two)
    first = _records(out)
    assert [r["number"] for r in first] == [1, 2]
    result = attentext.tune("tfidf-logreg", ag_news_dir, out, trials=4, resume=True)
    assert [r.number for r in result.trials] == [1, 2, 3, 4]  # two more, not four again
    assert [r.values for r in result.trials[:2]] == [r["values"] for r in first]
    drawn = [tuple(sorted(r.values.items())) for r in result.trials]
    assert len(set(drawn)) == 4  # the sampler knew the first two: it did not draw them again
    best = max(result.trials, key=lambda r: (r.metric, -r.number))
    assert best.best and result.value == best.metric and (out / "best.yaml").is_file()
    assert sorted(p.name for p in out.iterdir()) == [
        "best",
        "best.yaml",
        "trials.json",
        "trials.md",
    ]


def test_r12_i1_tune_resume_refuses_what_it_cannot_go_on_with(ag_news_dir, tmp_path):
    out = tmp_path / "search"
    args = ["tune", "tfidf-logreg", "--data", ag_news_dir, "-o", out, "--resume"]
    assert_one_line_error(run_cli_here(*args), "nothing to resume", "without --resume")
    attentext.tune("tfidf-logreg", ag_news_dir, out, trials=1)
    result = run_cli_here(*args, "--metric", "macro_f1")
    assert_one_line_error(result, "metric accuracy, not macro_f1")
    result = run_cli_here(*args, "--set", "model.options.ngram_max=1")
    assert_one_line_error(result, "other settings", "same --set")


def test_r12_i1_a_killed_tune_resumes_from_its_best_trial(ag_news_dir, tmp_path):
    out = tmp_path / "search"
    process = _tune_until_a_trial(ag_news_dir, out)
    process.kill()  # kill -9: no handler runs
    process.communicate()
    done = [r for r in _records(out) if r["state"] == "complete"]
    assert done and not (out / "best.yaml").exists()
    trials = len(_records(out)) + 1
    result = run_cli_here(
        "tune",
        "tfidf-logreg",
        "--data",
        ag_news_dir,
        "-o",
        out,
        "--resume",
        "--trials",
        str(trials),
    )
    assert result.returncode == 0, result.stderr
    records = _records(out)
    assert [r["number"] for r in records] == list(range(1, trials + 1))
    assert (out / "best.yaml").is_file() and (out / "best" / "attentext.json").is_file()
    assert not (out / "trials").exists()  # the trials' runs the kill left were removed


def test_r12_i2_sigterm_keeps_what_a_ctrl_c_keeps_and_says_how_to_go_on(ag_news_dir, tmp_path):
    out = tmp_path / "search"
    process = _tune_until_a_trial(ag_news_dir, out)
    process.send_signal(signal.SIGTERM)  # a scheduler's stop
    _, stderr = process.communicate(timeout=WAIT_S)
    assert process.returncode == 130, (process.returncode, stderr)
    assert stderr.count("\n") == 1 and "--resume" in stderr, stderr
    assert (out / "best.yaml").is_file() and (out / "best" / "attentext.json").is_file()


def test_r12_i2_a_sigterm_waits_for_the_renames_made_together():
    seen: list[str] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append("handled"))
    try:
        with files.interrupts_held():
            os.kill(os.getpid(), signal.SIGTERM)  # as a scheduler stops the job mid-renames
            seen.append("renames done")
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert seen == ["renames done", "handled"]


def test_r12_i3_evaluate_and_compare_of_many_texts_show_their_progress(
    ag_news_dir, tmp_path, monkeypatch
):
    # captured stderr is a log, where a bar waits LOG_INTERVAL before its first draw (R15-G3):
    # at 0 it is drawn from its start, as on a terminal, for a pass of a second
    monkeypatch.setattr("attentext.bars.LOG_INTERVAL", 0.0)
    run = attentext.train("tfidf-logreg", ag_news_dir, tmp_path / "tfidf").run_dir
    rows = [(f"stocks rally {i} as oil falls", "Business") for i in range(2500)]
    data = write_file(tmp_path, "many.csv", labelled_csv(rows))
    evaluated = run_cli_here("evaluate", run, "--data", data)
    assert evaluated.returncode == 0, evaluated.stderr
    assert "Scoring" in evaluated.stderr and "2500/2500" in evaluated.stderr, evaluated.stderr
    compared = run_cli_here("compare", run, "--data", data, "-o", tmp_path / "board")
    assert compared.returncode == 0, compared.stderr
    assert "Scoring tfidf" in compared.stderr and "2500/2500" in compared.stderr, compared.stderr


def test_r12_i4_an_interrupted_auto_takes_the_runs_it_finished_with_resume(
    ag_news_dir, tmp_path, ctrl_c_raises
):
    out, asked = tmp_path / "auto", {"recipes": ["seed-transformer"], "ensemble": False}

    def ctrl_c_once_trained(line: str) -> None:
        if line.startswith("seed-transformer: trained"):
            os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C, both recipes trained

    with pytest.raises(KeyboardInterrupt, match=r"\(tfidf-logreg, seed-transformer\).*--resume"):
        attentext.auto(ag_news_dir, out, "3m", progress=ctrl_c_once_trained, **asked)
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["seed-transformer", "tfidf-logreg"]
    lines: list[str] = []
    result = attentext.auto(ag_news_dir, out, "3m", progress=lines.append, resume=True, **asked)
    taken = [c.recipe for c in result.candidates if c.reason.startswith("taken from")]
    assert taken == ["tfidf-logreg", "seed-transformer"], lines
    assert (out / "best" / "attentext.json").is_file()


def test_r12_i4_auto_says_on_ctrl_c_which_runs_it_kept(ag_news_dir, tmp_path, monkeypatch):
    def ctrl_c(self, names):
        raise KeyboardInterrupt  # after the baseline trained

    monkeypatch.setattr(auto_module._Auto, "run_others", ctrl_c)
    result = run_cli_here("auto", "--data", ag_news_dir, "-o", tmp_path / "auto", "--budget", "3m")
    assert result.returncode == 130, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert "(tfidf-logreg)" in result.stderr and "--resume" in result.stderr, result.stderr


def test_r12_i5_the_same_tune_or_auto_run_again_is_told_of_resume(ag_news_dir, tmp_path):
    for command, record in (("tune", "trials.json"), ("auto", "auto.json")):
        out = tmp_path / command
        write_file(out, record, "{}")  # what a killed call leaves: its record, written first
        args = ["--data", ag_news_dir, "-o", out]
        result = run_cli_here(command, *(["tfidf-logreg"] if command == "tune" else []), *args)
        assert_one_line_error(result, f"earlier `attentext {command}` output", "--resume")


def test_r12_i2_a_sigterm_the_caller_ignores_stays_ignored():
    """A process started with SIGTERM ignored (a supervisor's choice) keeps it ignored, as Python
    keeps an ignored SIGINT; answering it as Ctrl-C would stop what was asked to go on."""
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        assert terminate_as_interrupt() is None
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, previous)
