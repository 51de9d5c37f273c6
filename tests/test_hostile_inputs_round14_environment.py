"""Hostile environments, round 14: the machines, containers and shells attentext runs in (R14-E).

R14-E1. Every file attentext wrote atomically was made by `tempfile.mkstemp`, mode 0o600, and
    safetensors writes its weights 0o600 too: a run trained under umask 022 (or a report, an
    export) was readable by its owner alone, so a group's shared run, or a server running under
    its own user id, could not load it. Now files get the mode `open()` gives (0o666 less the
    umask), a file rewritten keeps its own mode, and a published run's files the umask's.
R14-E2. A standard output that cannot encode a label or a text (PYTHONIOENCODING=ascii or
    latin-1, a pipe declared so): `東京` or an emoji was a UnicodeEncodeError traceback from
    predict, evaluate, explain and summary. Now printed as escapes (`\\u6771\\u4eac`).
R14-E3. A run on a read-only mount (or in another user's folder) given to recalibrate or `card
    --write`, or a read-only --output of train: an OSError traceback from the lock or staging
    folder made there first. Now one line naming the folder and what to do.
R14-E4. A working folder deleted under the shell (`cd` into a temporary folder a cleanup then
    removed): "Intel oneMKL FATAL ERROR: Cannot load libtorch_cpu.so" as torch loaded, exit 2,
    whatever the paths. Now one line before anything loads: cd to a folder that exists.
R14-E5. The C locale without UTF-8 mode (LC_ALL=C, PYTHONUTF8=0): a text typed in UTF-8 as an
    argument (`predict RUN '寿司'`) was refused as "not valid Unicode ... an unpaired surrogate"
    (Python's surrogateescape of argv), and any non-ASCII label printed was a traceback (stdout
    there is surrogateescape, not strict). Now read as sent, and printed as escapes.
R14-E6. `attentext predict RUN TEXT >&-` (standard output closed, as a service may start a
    command): the predictions went nowhere and the command exited 0. Now one line, before the
    run loads: redirect it, or write them with --output.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import attentext
from attentext.files import write_json
from tests.conftest import REPO, assert_one_line_error, labelled_csv, run_cli_here, write_file

NON_ASCII = [
    ("寿司 電車 駅", "東京"),
    ("great joy smile", "😀 happy"),
    ("auto weg fahrt", "Straße"),
]


@pytest.fixture(scope="module")
def non_ascii_run(tmp_path_factory) -> Path:
    """A TF-IDF run whose labels are 東京, an emoji and Straße (seconds to train)."""
    folder = tmp_path_factory.mktemp("non-ascii")
    rows = [(f"{text} n{i}", label) for i in range(30) for text, label in NON_ASCII]
    data = write_file(folder, "data/train.csv", labelled_csv(rows))
    return Path(attentext.train("tfidf-logreg", data, folder / "run").run_dir)


def _cli(*args: str | Path, **env: str) -> subprocess.CompletedProcess:
    """`python -m attentext ARGS` in a process of its own, with `env` added to ours."""
    return subprocess.run(
        [sys.executable, "-m", "attentext", *map(str, args)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env={**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200", **env},
        cwd=REPO,
        timeout=300,
    )


# ---------------------------------------------------------------------------------------------
# R14-E1: the modes of the files attentext writes
# ---------------------------------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(
    ("umask", "mode"),
    [(0o022, 0o644), (0o077, 0o600)],  # readable by others; its owner's alone (a control)
    ids=["umask-022-readable-by-others", "umask-077-the-owners-alone"],
)
def test_r14_e1_a_run_trained_under_a_umask_has_its_mode(tmp_path, ag_news_dir, umask, mode):
    before = os.umask(umask)
    try:
        run = Path(attentext.train("tfidf-logreg", ag_news_dir, tmp_path / "run").run_dir)
    finally:
        os.umask(before)
    modes = {path.name: oct(_mode(path)) for path in run.iterdir() if path.is_file()}
    assert set(modes.values()) == {oct(mode)}, modes  # weights, recipe, marker and card alike


def test_r14_e1_an_atomic_write_keeps_the_mode_of_the_file_it_replaces(tmp_path):
    mask = os.umask(0o022)
    try:
        new = tmp_path / "new.json"
        write_json(new, {"a": 1})
        kept = tmp_path / "kept.json"
        write_json(kept, {"a": 1})
        kept.chmod(0o640)
        write_json(kept, {"a": 2})
    finally:
        os.umask(mask)
    assert (_mode(new), _mode(kept)) == (0o644, 0o640)
    assert kept.read_text() == '{\n  "a": 2\n}\n'


# ---------------------------------------------------------------------------------------------
# R14-E2: a standard output that cannot encode what it prints
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_r14_e2_labels_a_terminal_cannot_encode_print_as_escapes(non_ascii_run, encoding):
    result = _cli("predict", non_ascii_run, "寿司 電車", "great joy", PYTHONIOENCODING=encoding)
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()
    assert re.fullmatch(r"\\u6771\\u4eac [01]\.\d{3}\s+\\u5bff\\u53f8 \\u96fb\\u8eca", first)
    assert re.fullmatch(r"\\U0001f600 happy [01]\.\d{3}\s+great joy", second)


def test_r14_e2_evaluate_and_explain_print_under_an_ascii_terminal(non_ascii_run, tmp_path):
    data = non_ascii_run.parent / "data" / "train.csv"
    evaluated = _cli("evaluate", non_ascii_run, "--data", data, PYTHONIOENCODING="ascii")
    assert evaluated.returncode == 0, evaluated.stderr
    assert "\\u6771\\u4eac" in evaluated.stdout and "Stra\\xdfe" in evaluated.stdout
    explained = _cli(
        "explain", non_ascii_run, "寿司", "-o", tmp_path / "pages", PYTHONIOENCODING="ascii"
    )
    assert explained.returncode == 0, explained.stderr
    assert "[0] \\u6771\\u4eac" in explained.stdout


# ---------------------------------------------------------------------------------------------
# R14-E3: a run on a read-only mount given to a command that writes there
# ---------------------------------------------------------------------------------------------


def _read_only(monkeypatch, folder: Path) -> None:
    """`folder` answers as a read-only mount does (EROFS) to any file or folder made in it."""
    real_open, real_mkdir = os.open, os.mkdir

    def refused(path) -> OSError:
        return OSError(errno.EROFS, os.strerror(errno.EROFS), os.fspath(path))

    def guarded_open(path, flags, *args, **kwargs):
        if flags & os.O_CREAT and Path(path).resolve().is_relative_to(folder):
            raise refused(path)
        return real_open(path, flags, *args, **kwargs)

    def guarded_mkdir(path, *args, **kwargs):
        if Path(path).resolve().is_relative_to(folder):
            raise refused(path)
        return real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", guarded_open)
    monkeypatch.setattr(os, "mkdir", guarded_mkdir)


def test_r14_e3_a_read_only_run_given_to_a_writing_command_is_one_line(non_ascii_run, monkeypatch):
    data = non_ascii_run.parent / "data" / "train.csv"
    _read_only(monkeypatch, non_ascii_run.parent.resolve())
    card = run_cli_here("card", non_ascii_run, "--write")
    assert_one_line_error(card, f"{non_ascii_run.parent}: cannot write in it", "Read-only", "cp -r")
    recalibrated = run_cli_here("recalibrate", non_ascii_run, "--data", data)
    assert_one_line_error(recalibrated, f"{non_ascii_run}: cannot write in it", "cp -r")
    trained = run_cli_here("train", "tfidf-logreg", "--data", data, "-o", data.parent / "new")
    assert_one_line_error(trained, f"{data.parent}: cannot write in it", "Read-only")


# ---------------------------------------------------------------------------------------------
# R14-E4: a working folder deleted under the shell
# ---------------------------------------------------------------------------------------------


def test_r14_e4_a_deleted_working_folder_is_one_line(non_ascii_run, tmp_path):
    gone = tmp_path / "gone"
    gone.mkdir()
    data, out = non_ascii_run.parent / "data", tmp_path / "out"  # absolute paths
    script = 'cd "$1" && rmdir "$1" && exec "$2" -m attentext train tfidf-logreg -d "$3" -o "$4"'
    result = subprocess.run(
        ["sh", "-c", script, "sh", gone, sys.executable, data, out],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=300,
    )
    assert_one_line_error(result, "the working folder no longer exists", "cd to a folder")
    assert not out.exists()


# ---------------------------------------------------------------------------------------------
# R14-E5: texts given as arguments under a locale that is not UTF-8
# ---------------------------------------------------------------------------------------------

C_LOCALE = {"LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}


def test_r14_e5_texts_typed_in_utf8_under_the_c_locale_are_classified_as_sent(non_ascii_run):
    result = _cli("predict", non_ascii_run, "--json", "寿司 電車", **C_LOCALE)
    assert result.returncode == 0, result.stderr
    row = json.loads(result.stdout)
    assert (row["text"], row["label"]) == ("寿司 電車", "東京")


def test_r14_e5_the_c_locale_prints_labels_as_escapes(non_ascii_run, tmp_path):
    printed = _cli("predict", non_ascii_run, "great joy", **C_LOCALE)  # an ASCII text
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.startswith("\\U0001f600 happy ")
    explained = _cli("explain", non_ascii_run, "great", "-o", tmp_path / "pages", **C_LOCALE)
    assert explained.returncode == 0, explained.stderr
    assert "[0] \\U0001f600 happy" in explained.stdout


# ---------------------------------------------------------------------------------------------
# R14-E6: predictions printed to a standard output that is closed
# ---------------------------------------------------------------------------------------------


def test_r14_e6_predict_to_a_closed_standard_output_is_one_line(non_ascii_run):
    script = 'exec "$0" -m attentext predict "$1" "great joy" >&-'
    result = subprocess.run(
        ["sh", "-c", script, sys.executable, non_ascii_run],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=300,
    )
    assert_one_line_error(result, "standard output is closed", "--output FILE")
