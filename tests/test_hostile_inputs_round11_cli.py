"""Hostile inputs, round 11: the commands and the Python API (R11-C). Each test failed before
its fix:

R11-C1 `compare RUNS --limit 500` on a split of 80 texts: every text measured without a word,
       as if 500 had been. One note saying the split has fewer texts and all are measured.
R11-C2 `recalibrate RUN` killed (-9) between metrics.json and calibration.json: the run loaded
       torn (metrics.json recording a temperature calibration.json did not hold), and the next
       recalibrate deleted the old files it had kept without putting them back. The files it
       may change are kept with a journal; the next reader of the run (or writer) puts them
       back as they were before the killed call, said in one warning.
R11-C3 two precision probes at once (two processes choosing `--precision auto` for two
       models): each read precision.json, added its entry and wrote the file whole, so the
       one that wrote last dropped the other's entry (probed again next time). Read, merged and
       written under a lock beside the file (`precision._store_cache`).
R11-C4 `ensemble A B` where B has A's classes listed in another order (trained on a folder
       whose classes.txt lists them otherwise, or on a CSV of the names, read sorted): refused,
       "its labels differ from A's", untrue. Averaged by label name, at build and at load
       (`inference.ensemble.label_columns`), as compare and distill do; other classes are
       refused naming the difference.
R11-C5 a recipe YAML giving a key twice in one section (`C: 10`, then `C: 1` further down;
       `training:` twice): PyYAML kept the last without a word. One line naming the key and
       both lines (`recipes._NoAliasLoader.construct_mapping`), before anything is written.
R11-C6 `--set model.options.c=2` (tfidf-logreg's `C`), `train TFIDF-LOGREG`: the known names
       listed, the one meant not suggested (difflib compares case: 'c' and 'C' share nothing).
       Suggestions compare without case (`errors.did_you_mean`).
R11-C7 a recipe YAML written as changes to a built-in one: `training: {epochs: 2}` alone
       trained the default model (seed-transformer) without a word; `base: tfidf-logreg` was
       "unknown key 'base'" with no word of why. A recipe file naming no model type is refused
       before anything is written, and both say a recipe file is whole and how to change a
       built-in (`--set`) (`recipes.WHOLE_RECIPE`).
R11-C8 `summary TFIDF_RUN` / `summary ENSEMBLE`: "has no layers to summarize; summary shows a
       neural run's" (the ensemble: "its members'"), a sentence without its end or a way on.
       Names what to run instead: `card RUN`, or `summary` of a member by its path
       (`api._check_has_layers`).
R11-C9 `RANK= attentext train ...` (a variable a script left empty), `WORLD_SIZE=x`,
       `LOCAL_RANK=x`: a ValueError traceback from int() (transformers' for LOCAL_RANK). One
       line naming the variable and to unset it, before anything is written
       (`processes.launch_number`).
R11-C10 `tune --timeout nan` / `inf` / `1e999`, `auto --budget 999...9h` (400 digits): float()
       takes them; nan and inf reached tune's Python check ("timeout nan", not the option
       given), the 400 digits an infinite budget, taken. One line naming the option
       (`budget.parse_duration`); "0s", "1h30", "-5m" and "1e9s" were already refused.
R11-C11 `train ... -o RUN --overwrite` where RUN holds more than the run: another run trained
       into RUN/sub, an evaluate report, a tune output, the user's notes.txt: all deleted with
       the run, without a word. Refused in one line naming them before anything is written
       (`rundir.foreign_to_run`, in `workdir.check_destination`: train, distill, ensemble).
R11-C12 `auto --budget 1h30` (`2m30`): "expected a duration such as 90s, 10m or 1h", with no
       word of what was wrong. Says the duration it reads as a clock would: "did you mean
       1h30m?" (`budget._unit_left_out`).
R11-C13 `explain SEED_RUN "<10,000 words>"`: the line showed the top words as if the text had
       been read whole, where the model read its first 256 tokens (only the HTML page marked
       the rest). The line says how much was read (`cli.explain._cut`); a short text, or a
       long one TF-IDF reads whole, gets no such words.
R11-C14 HOME unset and a user id without a passwd entry (`docker run -u 12345`, OpenShift):
       `train seed-transformer` a RuntimeError traceback ("Could not determine home
       directory") from the cache's path, once the work folder was made (`OUT.partial` left).
       The cache goes to the temporary folder, said once (`files.cache_root`), as matplotlib
       does; $ATTENTEXT_CACHE still wins.
R11-C15 ATTENTEXT_CACHE=~/cache set where no shell expands it (a Docker env file, systemd's
       Environment=, a .env read by python-dotenv): the cache written to a folder named `~`
       in the working folder. `~` is expanded (`files.cache_root`).
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import assert_one_line_error, run_cli_here

import attentext
from attentext.automl.budget import BudgetError, parse_duration
from attentext.errors import (
    AttentextError,
    AttentextNote,
    AttentextWarning,
    RecipeError,
    RunDirError,
)
from attentext.inference.ensemble import EnsembleClassifier
from attentext.rundir import open_run


@pytest.fixture(scope="module")
def tfidf_run(ag_news_dir, tmp_path_factory) -> Path:
    """A TF-IDF run on ag_news_tiny (seconds)."""
    folder = tmp_path_factory.mktemp("round11cli")
    return Path(attentext.train("tfidf-logreg", ag_news_dir, folder / "tfidf").run_dir)


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


_KILLED_BETWEEN_FILES = """
import os, signal, sys
import attentext
from attentext.evaluation import recalibrate as module
write_json = module.write_json

def killed_after_metrics(path, value):
    write_json(path, value)
    if path.name == "metrics.json":
        os.kill(os.getpid(), signal.SIGKILL)

module.write_json = killed_after_metrics
attentext.recalibrate(sys.argv[1], sys.argv[2], split="test")
"""


def test_r11_c2_a_recalibrate_killed_between_its_files_is_put_back_by_the_next_reader(
    tfidf_run, ag_news_dir, tmp_path
):
    run = Path(shutil.copytree(tfidf_run, tmp_path / "run"))
    before = {name: (run / name).read_bytes() for name in ("metrics.json", "calibration.json")}
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED_BETWEEN_FILES, str(run), str(ag_news_dir)],
        capture_output=True,
        env={**os.environ, "ATTENTEXT_PRECISION": "fp32"},
        timeout=120,
    )
    assert killed.returncode == -9, killed.stderr
    assert (run / "metrics.json").read_bytes() != before["metrics.json"]  # torn on disk
    with pytest.warns(AttentextWarning, match="recalibrate .*stopped .*put back"):
        attentext.load(run)
    after = {name: (run / name).read_bytes() for name in before}
    assert after == before
    loaded = open_run(run)
    assert loaded.metrics["calibration"]["temperature"] == loaded.temperature
    assert not [entry.name for entry in run.iterdir() if entry.name.startswith(".attentext")]
    attentext.recalibrate(run, ag_news_dir, split="test")  # and the run recalibrates as before
    loaded = open_run(run)
    assert loaded.metrics["calibration"]["temperature"] == loaded.temperature


def test_r11_c3_two_precision_probes_at_once_keep_both_entries(tmp_path, monkeypatch):
    from attentext import precision

    monkeypatch.setenv("ATTENTEXT_CACHE", str(tmp_path / "cache"))
    write_json = precision.write_json

    def slow_write(path, value):  # the window between reading the file and writing it
        time.sleep(0.3)
        write_json(path, value)

    monkeypatch.setattr(precision, "write_json", slow_write)
    probes = [
        threading.Thread(target=precision._store_cache, args=(key, {"fp32": 1.0}))
        for key in ("model-a", "model-b")
    ]
    for probe in probes:
        probe.start()
    for probe in probes:
        probe.join()
    assert sorted(precision._load_cache()) == ["model-a", "model-b"]


def _ag_news_in_order(folder: Path, order: list[str], ag_news_dir: Path) -> Path:
    """ag_news_tiny (AG News's numbers indexing classes.txt) with its classes listed in `order`."""
    names = (ag_news_dir / "classes.txt").read_text(encoding="utf-8").split()
    folder.mkdir()
    (folder / "classes.txt").write_text("\n".join(order) + "\n", encoding="utf-8")
    for split in ("train", "test"):
        with open(ag_news_dir / f"{split}.csv", newline="", encoding="utf-8") as source:
            rows = list(csv.reader(source))
        with open(folder / f"{split}.csv", "w", newline="", encoding="utf-8") as target:
            for number, title, text in rows:
                at = order.index(names[int(number) - 1]) + 1
                csv.writer(target).writerow([str(at), title, text])
    return folder


def test_r11_c4_an_ensemble_of_runs_listing_the_same_labels_otherwise_averages_by_name(
    ag_news_dir, tmp_path
):
    names = (ag_news_dir / "classes.txt").read_text(encoding="utf-8").split()
    first = _ag_news_in_order(tmp_path / "d1", names, ag_news_dir)
    second = _ag_news_in_order(tmp_path / "d2", names[::-1], ag_news_dir)
    a = attentext.train("tfidf-logreg", first, tmp_path / "a").run_dir
    b = attentext.train("tfidf-logreg", second, tmp_path / "b", overrides=["model.options.C=0.3"])
    assert attentext.load(b.run_dir).labels == names[::-1]
    result = run_cli_here("ensemble", a, b.run_dir, "-d", first, "-o", tmp_path / "e")
    assert result.returncode == 0, result.stderr
    texts = [line.split(",", 2)[2] for line in (first / "test.csv").read_text().splitlines()]
    members = SimpleNamespace(members=[(a, 0.5), (b.run_dir, 0.5)])  # both, whatever was kept
    mixed = EnsembleClassifier.from_run(members, attentext.load)
    assert mixed.labels == names
    by_name = [names[::-1].index(label) for label in names]
    expected = 0.5 * attentext.load(a).predict_proba(texts)
    expected += 0.5 * attentext.load(b.run_dir).predict_proba(texts)[:, by_name]
    assert abs(mixed.predict_proba(texts) - expected).max() < 1e-9


def test_r11_c5_a_recipe_giving_a_key_twice_is_one_line(ag_news_dir, tmp_path, write):
    twice = "model:\n  type: tfidf-logreg\n  options:\n    C: 10\n    ngram_max: 2\n    C: 1\n"
    recipe = write("twice.yaml", twice)
    out = tmp_path / "out"
    result = run_cli_here("train", recipe, "-d", ag_news_dir, "-o", out)
    assert_one_line_error(
        result, "twice.yaml: line 6: 'C' is given twice in one section (also on line 4)"
    )
    sections = write(
        "sections.yaml",
        "model:\n  type: tfidf-logreg\ntraining:\n  epochs: 1\ntraining:\n  seed: 3\n",
    )
    with pytest.raises(RecipeError, match="line 5: 'training' is given twice"):
        attentext.train(sections, ag_news_dir, out)
    assert not out.exists() and not Path(f"{out}.partial").exists()


def test_r11_c6_a_name_typed_in_another_case_is_suggested(ag_news_dir, tmp_path):
    out = tmp_path / "out"
    result = run_cli_here(
        "train", "tfidf-logreg", "-d", ag_news_dir, "-o", out, "--set", "model.options.c=2"
    )
    assert_one_line_error(
        result, "unknown option 'model.options.c' for tfidf-logreg; did you mean 'C'?"
    )
    result = run_cli_here("train", "TFIDF-LOGREG", "-d", ag_news_dir, "-o", out)
    assert_one_line_error(result, "unknown recipe 'TFIDF-LOGREG'; did you mean 'tfidf-logreg'?")
    assert not out.exists()


def test_r11_c7_a_recipe_written_as_changes_to_a_built_in_one_says_it_is_read_whole(
    ag_news_dir, tmp_path, write
):
    out = tmp_path / "out"
    changes = write("mine.yaml", "name: mine\ntraining:\n  epochs: 2\n")
    result = run_cli_here("train", changes, "-d", ag_news_dir, "-o", out)
    assert_one_line_error(
        result, "mine.yaml: names no model type", "seed-transformer", "--set KEY=VALUE"
    )
    based = write("based.yaml", "base: tfidf-logreg\ntraining:\n  epochs: 2\n")
    with pytest.raises(RecipeError, match="unknown key 'base'.*a recipe file is a whole recipe"):
        attentext.train(based, ag_news_dir, out)
    assert not out.exists() and not Path(f"{out}.partial").exists()


def test_r11_c8_summary_of_a_run_without_layers_says_what_to_run(tfidf_run, ag_news_dir, tmp_path):
    result = run_cli_here("summary", tfidf_run)
    assert_one_line_error(
        result, "no layers to summarize", f"attentext card {tfidf_run} describes it"
    )
    second = Path(shutil.copytree(tfidf_run, tmp_path / "second"))
    attentext.ensemble([tfidf_run, second], ag_news_dir, tmp_path / "e")
    result = run_cli_here("summary", tmp_path / "e")
    # its members have no layers either: the card is the way on (R16-E1), not a member's summary
    assert_one_line_error(
        result, "an ensemble has no layers of its own", f"attentext card {tmp_path / 'e'}"
    )


@pytest.mark.parametrize(
    ("name", "value", "recipe"),
    [
        ("RANK", "", "tfidf-logreg"),
        ("WORLD_SIZE", "x", "seed-transformer"),
        ("LOCAL_RANK", "-1x", "seed-transformer"),
    ],
)
def test_r11_c9_a_launch_variable_that_is_not_a_number_is_one_line(
    name, value, recipe, ag_news_dir, tmp_path, monkeypatch
):
    monkeypatch.setenv(name, value)
    out = tmp_path / "out"
    result = run_cli_here("train", recipe, "-d", ag_news_dir, "-o", out, "--epochs", "1")
    assert_one_line_error(
        result, f"{name}='{value}' in the environment is not a whole number", f"unset {name}"
    )
    with pytest.raises(AttentextError, match=f"{name}='{value}'"):
        attentext.train(recipe, ag_news_dir, out, epochs=1)
    assert list(tmp_path.iterdir()) == []


def test_r11_c10_a_duration_that_is_not_finite_is_one_line_naming_the_option(ag_news_dir, tmp_path):
    out = tmp_path / "out"
    for value in ("nan", "inf", "1e999"):
        result = run_cli_here(
            "tune",
            "tfidf-logreg",
            "-d",
            ag_news_dir,
            "-o",
            out,
            "--trials",
            "1",
            "--timeout",
            value,
        )
        assert_one_line_error(result, f"--timeout {value}: give a finite duration")
    with pytest.raises(BudgetError, match="--budget 999.*: give a finite duration"):
        parse_duration("9" * 400 + "h", "--budget")
    for value in ("0s", "1h30", "-5m", "1e9s"):  # refused before, still
        with pytest.raises(BudgetError, match=f"--budget {value}: "):
            parse_duration(value, "--budget")
    assert list(tmp_path.iterdir()) == []


def test_r11_c11_overwrite_of_a_run_holding_more_than_the_run_is_refused(
    tfidf_run, ag_news_dir, tmp_path
):
    run = Path(shutil.copytree(tfidf_run, tmp_path / "run"))
    attentext.train("tfidf-logreg", ag_news_dir, run / "sub")  # a run inside the run
    (run / "notes.txt").write_text("mine\n", encoding="utf-8")
    result = run_cli_here("train", "tfidf-logreg", "-d", ag_news_dir, "-o", run, "--overwrite")
    assert_one_line_error(
        result, "holds notes.txt, sub beside the run", "move them out of it first"
    )
    with pytest.raises(RunDirError, match="holds notes.txt, sub beside the run"):
        second = shutil.copytree(tfidf_run, tmp_path / "second")
        attentext.ensemble([tfidf_run, second], ag_news_dir, run, overwrite=True)
    assert (run / "sub" / "attentext.json").is_file() and (run / "notes.txt").is_file()
    (run / "notes.txt").unlink()
    shutil.rmtree(run / "sub")
    attentext.train("tfidf-logreg", ag_news_dir, run, overwrite=True)  # the run alone: replaced


def test_r11_c12_a_duration_whose_last_unit_is_left_out_is_suggested(ag_news_dir, tmp_path):
    result = run_cli_here("auto", "-d", ag_news_dir, "-o", tmp_path / "out", "--budget", "1h30")
    assert_one_line_error(result, "--budget 1h30: expected a duration", "; did you mean 1h30m?")
    with pytest.raises(BudgetError, match="did you mean 2m30s"):
        parse_duration("2m30", "--budget")
    assert list(tmp_path.iterdir()) == []


def test_r11_c13_explain_of_a_text_read_in_part_says_how_much_was_read(
    run_dir, tfidf_run, tmp_path
):
    long = " ".join(f"word{i}" for i in range(10_000))
    result = run_cli_here("explain", run_dir, long, "-o", tmp_path / "a")
    assert result.returncode == 0, result.stderr
    assert f"of its {len(long):,} characters)" in result.stdout, result.stdout
    for run, text in ((run_dir, "one"), (tfidf_run, long)):  # read whole: no word of a cut
        result = run_cli_here("explain", run, text, "-o", tmp_path / "b", "--overwrite")
        assert result.returncode == 0 and "(cut:" not in result.stdout, result.stdout


def test_r11_c14_no_home_folder_puts_the_cache_in_the_temporary_folder(tmp_path, monkeypatch):
    from attentext import files

    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.delenv("ATTENTEXT_CACHE", raising=False)
    monkeypatch.delenv("HOME", raising=False)
    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    if hasattr(files, "_homeless_cache"):  # said once a process: again for this test
        files._homeless_cache.cache_clear()
    with pytest.warns(AttentextWarning, match="no home folder.*set ATTENTEXT_CACHE"):
        root = files.cache_root()
    assert root.parent == tmp_path
    monkeypatch.setenv("ATTENTEXT_CACHE", str(tmp_path / "mine"))
    assert files.cache_root() == tmp_path / "mine"


def test_r11_c15_a_cache_folder_given_with_a_tilde_is_under_the_home_folder(tmp_path, monkeypatch):
    from attentext import files

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ATTENTEXT_CACHE", "~/attentext-cache")
    assert files.cache_root() == tmp_path / "home" / "attentext-cache"
