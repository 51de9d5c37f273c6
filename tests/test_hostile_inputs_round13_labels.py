"""Hostile inputs, round 13: what rounds 11 and 12 left about labels and run folders (R13-L).

R13-L1. A multi-label CSV whose label name holds `|` (`R&D|Tech`) without a classes.txt: the
    separator makes it two labels, as documented, without a word; and beside a classes.txt that
    knows `R&D` only, "unknown label 'Tech'", a label the file never wrote alone. Now labels
    split from one cell that are never apart in training are said in one warning (what to write
    if it is one label), and the unknown piece names the cell it was split from.
R13-L2. Labels that print alike (`Sports` / `sports`, `Sports ` inside quotes, `A` / full-width
    `Ａ`, `World` / `World<U+200B>`, `1` / `1.0`), in the data or in classes.txt: a warning, then
    two classes that print alike. Now refused before training, in one line naming both, their
    rows and how to merge them; `--set data.distinct_lookalike_labels=true` keeps them apart.
R13-L3. A run torn by a `recalibrate` killed before round 11's journal (R11-C2): metrics.json
    recording a calibration that calibration.json does not hold (or thresholds.json another
    than metrics.json records). Loaded and evaluated with the mismatched files without a word.
    Now refused by every reader in one line saying how to mend it (recalibrate again), which
    recalibrate itself does.
R13-L4. A rewrite's staging folder on a run folder shared between machines (NFS): its process
    judged by this machine's process table, so a live recalibrate elsewhere looked killed and its
    kept files were put back under it (or removed). Now the folder names its host, a folder of
    another host is left alone, and a reader says which host and what to do if it is stale;
    folders named without a host keep today's reading.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

import attentext
from attentext.data.dataset import load_text_dataset
from attentext.errors import AttentextWarning, DataError, RunDirError
from attentext.files import STAGING_PREFIX, remove_abandoned_staging, staging_folder, staging_owner
from attentext.rundir import open_run
from tests.conftest import assert_one_line_error, labelled_csv, run_cli_here, write_file

CALIBRATION = ("calibration.json",)
PIPED = {"capture_output": True, "text": True, "check": True}
TOPICS = [("a goal in the match", "Sports news"), ("stocks fell today", "Business")] * 5


def _loaded(path: Path, **kwargs) -> tuple[object, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = load_text_dataset(path, val_fraction=0, **kwargs)
    return dataset, [str(w.message) for w in caught if issubclass(w.category, AttentextWarning)]


# ---------------------------------------------------------------------------------------------
# R13-L1: a label holding the separator, in a multi-label CSV
# ---------------------------------------------------------------------------------------------

ML_ROWS = [
    ("new chips for the lab", "R&D|Tech"),
    ("a patent for a battery", "R&D|Tech"),
    ("the league final", "sport"),
    ("a race and a new engine", "sport|R&D|Tech"),
    ("tennis at noon", "sport"),
    ("budget cuts in the lab", "R&D|Tech"),
]


def test_r13_l1_labels_split_from_one_cell_and_never_apart_are_said(tmp_path):
    data = write_file(tmp_path, "ml.csv", labelled_csv(ML_ROWS))

    dataset, said = _loaded(data, multi_label=True)

    assert dataset.label_names == ["R&D", "Tech", "sport"]  # the documented reading
    (warned,) = [m for m in said if "never apart" in m]
    assert "'R&D' and 'Tech'" in warned and "4 rows hold both" in warned and "'R&D|Tech'" in warned
    assert "if 'R&D|Tech' is one label, write it without '|'" in warned
    assert "\n" not in warned


def test_r13_l1_labels_that_also_come_apart_are_not_warned_about(tmp_path):
    rows = [*ML_ROWS, ("a lab alone", "R&D"), ("a phone", "Tech")]
    said = _loaded(write_file(tmp_path, "ml.csv", labelled_csv(rows)), multi_label=True)[1]
    assert not [m for m in said if "never apart" in m]  # a control: R&D and Tech are two


def test_r13_l1_an_unknown_piece_of_a_split_cell_names_the_cell(tmp_path):
    write_file(tmp_path, "train.csv", labelled_csv(ML_ROWS))
    write_file(tmp_path, "classes.txt", "R&D\nsport\n")

    with pytest.raises(DataError) as caught:
        load_text_dataset(tmp_path, multi_label=True, val_fraction=0)

    message = str(caught.value)
    assert "row 2: unknown label 'Tech', split from the cell 'R&D|Tech' on '|'" in message


# ---------------------------------------------------------------------------------------------
# R13-L2: labels that print alike
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variant", "differs"),
    [
        ("sports news", "case"),
        ("Sports\u00a0news", "spacing"),  # a no-break space
        ("Sports  news", "spacing"),
        ("\uff33ports news", "width"),  # a full-width S
        ("Spo\u200brts news", "invisible characters"),  # a zero-width space inside
        ("SPORTS  news", "spacing and case"),
    ],
    ids=["case", "no-break-space", "double-space", "full-width", "zero-width-space", "two-ways"],
)
def test_r13_l2_labels_that_print_alike_are_refused_naming_both_and_the_merge(
    tmp_path, variant, differs
):
    rows = [*TOPICS, ("a late winner", variant)]
    data = write_file(tmp_path, "d.csv", labelled_csv(rows))

    with pytest.raises(DataError) as caught:
        load_text_dataset(data, val_fraction=0)

    message = str(caught.value)
    assert (
        "\n" not in message
        and "'Sports news' 5" in message
        and f"differ only in {differs}" in message
    )
    assert "as 'Sports news'" in message  # the rarer spelling's rows written as the common one
    assert "--set data.distinct_lookalike_labels=true" in message
    multi = [(text, f"{label}|news") for text, label in rows]
    ml = write_file(tmp_path, "ml.csv", labelled_csv(multi))
    with pytest.raises(DataError, match="differ only in"):
        load_text_dataset(ml, multi_label=True, val_fraction=0)


def test_r13_l2_numbers_written_two_ways_are_refused(tmp_path):
    rows = [("a", "1"), ("b", "2"), ("c", "1.0")] * 3
    with pytest.raises(DataError, match=r"'1' and '1.0' .*how the number is written"):
        load_text_dataset(write_file(tmp_path, "d.csv", labelled_csv(rows)), val_fraction=0)


def test_r13_l2_classes_txt_listing_labels_that_print_alike_is_refused(tmp_path):
    write_file(tmp_path, "train.csv", labelled_csv([("a goal", "0"), ("a vote", "1")] * 4))
    write_file(tmp_path, "classes.txt", "World\nWorld\u200b\n")

    with pytest.raises(DataError) as caught:
        load_text_dataset(tmp_path, val_fraction=0)

    message = str(caught.value)
    assert "classes.txt: the classes 'World' and 'World\\u200b' differ only in" in message
    assert "remove 'World\\u200b' from classes.txt" in message


def test_r13_l2_the_setting_keeps_them_apart_without_a_word(tmp_path):
    rows = [*TOPICS, ("a late winner", "sports news")]
    data = write_file(tmp_path, "d.csv", labelled_csv(rows))

    dataset, said = _loaded(data, distinct_lookalike_labels=True)

    assert dataset.label_names == ["Business", "Sports news", "sports news"] and said == []


def test_r13_l2_evaluating_against_a_run_takes_its_names_as_they_are(tmp_path):
    """A control: fixed names (a run's) are data to measure, not classes to train."""
    rows = [*TOPICS, ("a late winner", "sports news")]
    data = write_file(tmp_path, "d.csv", labelled_csv(rows))
    names = ["Business", "Sports news", "sports news"]
    assert load_text_dataset(data, label_names=names, val_fraction=0).label_names == names


def test_r13_l2_nfd_and_nfc_spellings_are_one_label(tmp_path):
    """Checked and holding: `e` + U+0301 and `é` are one label (composed when read)."""
    rows = [("bon", "n\u00e9gatif"), ("bien", "positif"), ("mal", "ne\u0301gatif")] * 3
    dataset, said = _loaded(write_file(tmp_path, "d.csv", labelled_csv(rows)))
    assert dataset.label_names == ["n\u00e9gatif", "positif"] and said == []


def test_r13_l2_train_refuses_in_one_line_and_the_setting_trains(tmp_path):
    rows = [*TOPICS, ("a late winner", "sports news"), ("a bank rate", "Business")] * 2
    data = write_file(tmp_path, "train.csv", labelled_csv(rows))
    out = tmp_path / "run"

    refused = run_cli_here("train", "tfidf-logreg", "--data", data, "--output", out)

    assert_one_line_error(refused, "'Sports news' and 'sports news'", "distinct_lookalike_labels")
    assert not out.exists() and not Path(f"{out}.partial").exists()
    kept = run_cli_here(
        "train", "tfidf-logreg", "--data", data, "--output", out,
        "--set", "data.distinct_lookalike_labels=true",
    )  # fmt: skip
    assert kept.returncode == 0, kept.stderr
    assert "distinct_lookalike_labels: true" in (out / "recipe.yaml").read_text()


# ---------------------------------------------------------------------------------------------
# R13-L3: a run torn by a recalibrate killed before round 11's journal
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tfidf_run(ag_news_dir, tmp_path_factory) -> Path:
    """A TF-IDF run on ag_news_tiny (seconds)."""
    folder = tmp_path_factory.mktemp("round13labels")
    return Path(attentext.train("tfidf-logreg", ag_news_dir, folder / "tfidf").run_dir)


def _torn(run: Path, recalibrated: Callable[[], object], kept: tuple[str, ...]) -> bytes:
    """`run` as a recalibrate killed after metrics.json (before the journal) left it: the new
    metrics.json, and `kept` files as they were before it. Returns metrics.json's bytes."""
    before = {name: (run / name).read_bytes() for name in kept}
    recalibrated()
    for name, old in before.items():
        (run / name).write_bytes(old)
    return (run / "metrics.json").read_bytes()


def test_r13_l3_a_run_whose_metrics_and_calibration_disagree_is_refused_until_recalibrated(
    tfidf_run, ag_news_dir, tmp_path
):
    run = Path(shutil.copytree(tfidf_run, tmp_path / "run"))
    _torn(run, lambda: attentext.recalibrate(run, ag_news_dir, split="test"), CALIBRATION)

    with pytest.raises(RunDirError) as caught:
        attentext.load(run)

    message = str(caught.value)
    assert "metrics.json records a calibration (temperature " in message and "\n" not in message
    assert "that calibration.json does not hold (temperature " in message
    assert f"attentext recalibrate {run} --data HELD_OUT" in message
    evaluated = run_cli_here("evaluate", run, "--data", ag_news_dir)
    assert_one_line_error(evaluated, "calibration.json does not hold", "recalibrate")
    attentext.recalibrate(run, ag_news_dir, split="test")  # the mend: both written again
    mended = open_run(run)
    assert mended.metrics["calibration"] == mended.calibration_record
    assert attentext.load(run).predict(["Oil prices rise"])


def test_r13_l3_a_whole_run_and_a_run_recording_no_calibration_still_load(tfidf_run, tmp_path):
    """A control: equal records load, and metrics.json without a record is not compared."""
    attentext.load(tfidf_run)
    run = Path(shutil.copytree(tfidf_run, tmp_path / "run"))
    metrics = json.loads((run / "metrics.json").read_text())
    del metrics["calibration"]
    (run / "metrics.json").write_text(json.dumps(metrics))
    attentext.load(run)


def _multi_label_data(folder: Path) -> Path:
    """Texts of three topics, each text one or two of them: 240 to train, 60 to recalibrate."""
    words = {"grain": "wheat corn harvest", "oil": "crude barrel opec", "money": "rate bank fed"}
    rng = random.Random(0)
    for split, count in (("train", 240), ("test", 60)):
        rows = []
        for _ in range(count):
            labels = rng.sample(sorted(words), rng.choice((1, 2)))
            text = " ".join(rng.choice(words[label].split()) for label in labels for _ in range(3))
            rows.append((f"{text} report {len(rows)}", "|".join(labels)))  # each text new
        write_file(folder, f"{split}.csv", labelled_csv(rows))
    return folder


def test_r13_l3_a_torn_multi_label_run_is_refused_and_recalibrated_from_its_thresholds(
    tmp_path,
):
    data = _multi_label_data(tmp_path / "ml")
    run = Path(attentext.train("tfidf-logreg", data, tmp_path / "run", multi_label=True).run_dir)
    first = lambda: attentext.recalibrate_labels(run, data, split="test")  # noqa: E731
    _torn(run, first, CALIBRATION)  # thresholds.json moved, calibration.json not written
    recorded = json.loads((run / "metrics.json").read_text())["calibration"]

    with pytest.raises(RunDirError, match="a temperature per label.*recalibrate"):
        attentext.load(run)

    record = attentext.recalibrate_labels(run, data, split="test")
    # the thresholds in force were moved for metrics.json's temperatures: moved from those
    assert record["replaces_label_temperatures"] == recorded["label_temperatures"]
    attentext.load(run)


# ---------------------------------------------------------------------------------------------
# R13-L4: a rewrite's staging folder on a run folder shared between machines
# ---------------------------------------------------------------------------------------------


def _gone_pid() -> int:
    """The process id of a process that ran and ended (on this machine)."""
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], **PIPED)
    return int(ended.stdout)


def _mid_rewrite(run: Path, owner: str) -> Path:
    """`run` as a recalibrate (process `owner`: `pid` or `pid@host`) leaves it between its
    files: its journal and the old calibration.json kept in its staging folder, the new one
    in place."""
    folder = run / f"{STAGING_PREFIX}{owner}.k3xq_7ab"
    folder.mkdir()
    os.link(run / "calibration.json", folder / "calibration.json")
    (folder / "journal.json").write_text(
        json.dumps({"command": "recalibrate", "files": {"calibration.json": "calibration.json"}})
    )
    record = json.loads((run / "calibration.json").read_text())
    (run / "calibration.json.new").write_text(json.dumps({**record, "temperature": 3.0}))
    os.replace(run / "calibration.json.new", run / "calibration.json")
    return folder


def test_r13_l4_a_staging_folder_names_its_host(tmp_path):
    made = staging_folder(tmp_path)
    assert made.name.startswith(f"{STAGING_PREFIX}{os.getpid()}@{socket.gethostname()}.")
    assert staging_owner(made) == (os.getpid(), socket.gethostname())


def test_r13_l4_a_rewrite_on_another_host_is_left_alone_and_said(tfidf_run, tmp_path):
    run = Path(shutil.copytree(tfidf_run, tmp_path / "run"))
    folder = _mid_rewrite(run, f"{_gone_pid()}@gpu-node-7.cluster")

    with pytest.warns(AttentextWarning) as said:
        open_run(run)
        remove_abandoned_staging(run)

    assert (
        folder.is_dir() and json.loads((run / "calibration.json").read_text())["temperature"] == 3
    )
    (message,) = [str(w.message) for w in said if "gpu-node-7.cluster" in str(w.message)]
    assert "recalibrate on gpu-node-7.cluster (pid " in message and "\n" not in message
    assert f"delete {folder} and run the recalibrate again here" in message


def test_r13_l4_a_rewrite_killed_on_this_host_is_still_put_back(tfidf_run, tmp_path):
    """A host-named folder of this machine is judged by its process table, as before."""
    run = Path(shutil.copytree(tfidf_run, tmp_path / "run"))
    before = (run / "calibration.json").read_bytes()
    folder = _mid_rewrite(run, f"{_gone_pid()}@{socket.gethostname()}")

    with pytest.warns(AttentextWarning, match="stopped while writing the run"):
        open_run(run)

    assert not folder.exists() and (run / "calibration.json").read_bytes() == before


def test_r13_l4_a_folder_named_without_a_host_keeps_todays_reading(tfidf_run, tmp_path):
    """A control: a folder named before names held a host, its process gone, is put back."""
    run = Path(shutil.copytree(tfidf_run, tmp_path / "run"))
    before = (run / "calibration.json").read_bytes()
    folder = _mid_rewrite(run, str(_gone_pid()))

    with pytest.warns(AttentextWarning, match="stopped while writing the run"):
        open_run(run)

    assert not folder.exists() and (run / "calibration.json").read_bytes() == before


def test_r13_l4_a_run_torn_by_a_rewrite_not_ended_says_to_wait_for_it(tfidf_run, tmp_path):
    """Its files disagree while another machine's recalibrate may still be writing them: not a
    run torn for good (R13-L3's refusal names the rewrite and says to try again after it)."""
    run = Path(shutil.copytree(tfidf_run, tmp_path / "run"))
    folder = _mid_rewrite(run, f"{_gone_pid()}@gpu-node-7.cluster")

    with pytest.warns(AttentextWarning, match="gpu-node-7"), pytest.raises(RunDirError) as caught:
        attentext.load(run)

    assert f"while a rewrite of the run has not ended (its staging folder {folder.name})" in str(
        caught.value
    )
