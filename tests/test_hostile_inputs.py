"""Issue #23, "Nothing lost, nothing leaked, nothing wedged": what a hostile user still breaks.

Each test reproduces one finding of the issue as it describes it and asserts the fixed behaviour
the issue asks for (every one of them failed before the fixes; a few "guard" tests check what a
fix had to keep). docs/reliability.md lists the findings with their fixes.

Only stable public surfaces are used, since internal modules are being moved: the CLI as a
subprocess (`python -m attentext ...`), the Python API (`attentext.train/load/evaluate`,
`attentext.errors`), `attentext.serving.create_app` with FastAPI's TestClient, and a real
`python -m attentext serve` on 127.0.0.1 for the connection-level findings. Run directories, the
feature cache and exported files are inspected and damaged with plain file operations.

The contract (docs/reliability.md): CLI exit code 2 and exactly one stderr line `error: ...`, no
traceback; the API raises an `AttentextError` subclass with a one-line message; HTTP answers with a
JSON body `{"error": {"type", "message"}}`.

Findings -> tests
 1. concurrent `train` into one --output:
      test_two_trains_into_one_output_one_wins_and_the_other_names_the_holder
 2. --overwrite deletes any folder; `--output .`; a crash between the renames:
      test_overwrite_refuses_a_folder_that_is_not_a_run, test_overwrite_refuses_a_file,
      test_output_dot_is_a_one_line_error[plain|overwrite],
      test_a_crash_between_the_renames_of_an_overwrite_leaves_a_run_at_output,
      test_overwrite_still_replaces_a_finished_run (guard)
 3. symlinks, special files and unbounded reads in run directories:
      test_a_symlinked_metrics_json_is_not_published_over_http,
      test_a_run_file_linked_to_dev_zero_is_a_one_line_error,
      test_a_fifo_in_a_run_directory_does_not_wedge_the_server
 4. YAML alias bombs, non-scalars formatted into messages:
      test_an_alias_bomb_in_a_run_directory_recipe_is_a_one_line_error,
      test_an_alias_bomb_recipe_is_a_one_line_error,
      test_an_alias_bomb_in_a_served_run_does_not_wedge_the_server,
      test_a_large_non_scalar_recipe_value_is_not_formatted_into_the_message
 5. silent and slow connections:
      test_healthz_answers_while_connections_stay_silent (guard),
      test_silent_and_trickling_connections_are_closed_within_the_header_timeout
 6. tokenizer bigger than the model; one failing row fails a whole micro-batch:
      test_a_tokenizer_bigger_than_the_model_is_refused_at_load,
      test_predict_with_a_tokenizer_bigger_than_the_model_is_a_one_line_error,
      test_one_failing_text_does_not_fail_the_others_in_its_micro_batch
 7. --resume with other data, labels, recipe or class count:
      test_resume_refuses_what_is_not_the_same_run[other-texts|relabelled|other-class-count|
      other-recipe-options], test_tfidf_resume_refuses_and_keeps_a_seed_transformer_checkpoint,
      test_resume_with_the_same_data_and_recipe_still_works (guard)
 8. frozen-feature cache trusted blindly:
      test_a_zeroed_feature_cache_entry_is_recomputed_with_a_warning,
      test_a_feature_cache_entry_with_the_wrong_row_count_is_recomputed
 9. tracebacks: non-string texts in predict --input, --output naming a file, bad tokenizer.json:
      test_predict_input_jsonl_text_that_is_not_a_string[null|number|list],
      test_predict_input_parquet_null_text,
      test_output_naming_a_file_is_a_one_line_error[evaluate|explain|export],
      test_a_malformed_tokenizer_json_is_a_run_dir_error[deeply-nested|a-list]
10. label case variants, numbers mixed with names, long lists of known values:
      test_label_case_variants_are_reported, test_numeric_labels_mixed_with_names_are_reported,
      test_an_unknown_label_error_stays_short
11. predict --input: blank lines and CR-only line ends:
      test_predict_input_keeps_one_output_per_line_with_blank_lines,
      test_predict_input_with_cr_only_line_ends_is_not_one_text,
      test_predict_input_crlf_and_a_final_newline_still_work (guard)
12. stale ONNX temporaries after kill -9:
      test_export_cleans_the_temporaries_a_killed_export_left (passes on the current working
      tree, which cleans them; failed at 52f28ee)
13. format_version type, bad Content-Length, huge model names, "model": "":
      test_a_format_version_that_is_not_the_integer_1_is_refused[1.9|true],
      test_a_bad_content_length_gets_a_json_error_body[abc|-1],
      test_a_huge_unknown_model_name_is_not_echoed_in_full,
      test_an_empty_model_name_is_a_422

Round 2 (docs/reliability.md, "Hostile inputs, round 2"):
R1. Python API texts: None, a dict, a set, non-string items; a Series, an array, a generator:
      test_round2_predict_refuses_what_is_not_a_list_of_texts[<case>-tfidf|seed],
      test_round2_predict_takes_any_ordered_sequence_of_texts
R2. evaluate: labels that are names on some rows and class numbers on others, no classes.txt:
      test_round2_labels_mixing_names_and_class_numbers_are_refused,
      test_round2_labels_that_are_all_class_numbers_still_read_as_indices (guard; numbers among
      names beside a classes.txt stay its classes: test_data's declared-labels test)
R3. HTTP bodies json.loads refuses for other reasons than syntax (not UTF-8, nesting, long numbers):
      test_round2_a_body_json_cannot_read_says_why[<case>-<route>]
R4. evaluate: class numbers indexing the data's classes.txt, in another order than the run's:
      test_round2_evaluate_reads_class_numbers_by_the_datas_classes_txt,
      test_round2_evaluate_refuses_a_class_number_naming_a_class_the_run_lacks
R5. Python API data that is not a path or a name (None, a list of texts):
      test_round2_data_that_is_not_a_path_or_a_name_is_a_type_error[none|texts]

Round 3 (docs/reliability.md, "Hostile inputs, round 3"): R3-2 here,
      test_round3_recalibrate_refuses_the_training_file_named_apart_from_its_folder;
      R3-1 and R3-3 in test_recipes.py, R3-4 in test_ensemble.py.
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import json
import os
import re
import resource
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import SENTIMENT_ROWS, InterruptAt, labelled_csv, run_cli_here, write_file
from fastapi.testclient import TestClient

import attentext
from attentext.automl.folders import writing_output
from attentext.errors import AttentextError, DataError, RunDirError
from attentext.files import LockHeld, exclusive_lock
from attentext.rundir import MARKER
from attentext.serving import create_app

REPO = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
ROWS = labelled_csv(SENTIMENT_ROWS * 3)  # 18 rows, two classes
# ag_news_tiny, 16 steps (8 epochs of 2), fp32: deterministic, and long enough (~10 s of training)
# that two concurrent `train` processes overlap (finding 1).
SEED_OPTIONS = {"max_steps": 16, "precision": "fp32"}
SEED_CLI = ["--max-steps", "16", "--precision", "fp32"]  # the same run from the command line
MEMORY_LIMIT = 3 * 2**30  # address space of a subprocess expected to blow up its memory
SECRET = "s3cr3t-TOKEN-23-do-not-leak"


# ---------------------------------------------------------------------------------------------
# Helpers: subprocesses, the one-line contract, files
# ---------------------------------------------------------------------------------------------

PROGRESS = re.compile(r"\d+%\|.*\|").search
ANSI_CURSOR = re.compile(r"\x1b\[\d*[A-D]").sub


def message_lines(stderr: str) -> list[str]:
    """stderr's lines without progress bars (tqdm redraws with \\r; a terminal overwrites them)."""
    parts = re.split(r"[\r\n]", ANSI_CURSOR("", stderr))
    return [line.strip() for line in parts if line.strip() and not PROGRESS(line)]


def one_line_error(result: subprocess.CompletedProcess) -> str:
    """The CLI contract: exit 2, no traceback, exactly one stderr line `error: ...`."""
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert result.returncode == 2, (result.returncode, result.stderr[-3000:])
    lines = message_lines(result.stderr)
    assert len(lines) == 1, result.stderr[-3000:]
    assert lines[0].startswith("error:"), lines[0]
    return lines[0]


def one_line(error: BaseException) -> str:
    message = str(error)
    assert message and "\n" not in message, message
    return message


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def cli_env(**extra: str | Path) -> dict[str, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "COLUMNS": "200"}
    return {**env, **{key: str(value) for key, value in extra.items()}}


def cli_limited(*args: str | Path, timeout: float, cwd: Path | None = None):
    """`python -m attentext ARGS` with a memory cap and a time limit (for inputs that blow up)."""
    return subprocess.run(
        [sys.executable, "-m", "attentext", *map(str, args)],
        capture_output=True,
        text=True,
        env=cli_env(),
        cwd=cwd or REPO,
        timeout=timeout,
        preexec_fn=_limit_memory,
    )


def python_limited(code: str, *args: str | Path, timeout: float):
    """`python -c CODE ARGS` with the memory cap and a time limit."""
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        capture_output=True,
        text=True,
        env=cli_env(),
        cwd=REPO,
        timeout=timeout,
        preexec_fn=_limit_memory,
    )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` and its content."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def listing(folder: Path) -> list[str]:
    """The names in `folder`, lock files aside (a fix may keep `<out>.lock`-like files)."""
    return sorted(p.name for p in folder.iterdir() if "lock" not in p.name.lower())


def copy_run(run: Path, tmp_path: Path, name: str = "run") -> Path:
    return Path(shutil.copytree(run, tmp_path / name))


def metrics_of(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text(encoding="utf-8"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------------------------------------
# Shared runs
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seed_run(ag_news_dir, tmp_path_factory) -> Path:
    """A seed-transformer on ag_news_tiny, 16 steps, fp32 (byte-identical to `train ... SEED_CLI`)."""
    out = tmp_path_factory.mktemp("hostile-seed") / "seed"
    return Path(attentext.train("seed-transformer", ag_news_dir, out, **SEED_OPTIONS).run_dir)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory) -> Path:
    """A seed-transformer on 18 sentiment rows: a vocabulary of about 20 words."""
    root = tmp_path_factory.mktemp("hostile-small")
    data = write_file(root, "d.csv", ROWS)
    return Path(
        attentext.train(
            "seed-transformer", data, root / "small", max_steps=1, precision="fp32"
        ).run_dir
    )


@pytest.fixture(scope="module")
def http(seed_run):
    with TestClient(create_app([seed_run])) as client:
        yield client


# =============================================================================================
# Finding 1: two `train` runs into the same --output
# =============================================================================================


def test_two_trains_into_one_output_one_wins_and_the_other_names_the_holder(
    seed_run, ag_news_dir, tmp_path
):
    """#23 finding 1: two `train` subprocesses into one --output, started 0.5 s apart (each
    trains ~10 s, so they overlap; the issue saw both exit 0 at 0.6 s, a traceback at 0.3 s).

    Exactly one succeeds; the other exits 2 with one line naming the holder of the lock (its
    pid); the surviving run directory is complete and is exactly the deterministic solo run
    (byte-identical weights to `seed_run`), and nothing but lock files is left beside it.
    """
    delay = 0.5
    out = tmp_path / "dup"
    command = [sys.executable, "-m", "attentext", "train", "seed-transformer"]
    command += ["--data", str(ag_news_dir), "--output", str(out), *SEED_CLI]
    procs = []
    for i in range(2):
        if i:
            time.sleep(delay)
        stderr = open(tmp_path / f"stderr-{i}.txt", "w+")  # noqa: SIM115 (closed below)
        procs.append(
            (
                subprocess.Popen(
                    command, cwd=REPO, env=cli_env(), stdout=subprocess.DEVNULL, stderr=stderr
                ),
                stderr,
            )
        )
    results = []
    for proc, stderr in procs:
        try:
            proc.wait(timeout=300)
        finally:
            proc.kill()
        stderr.seek(0)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, "", stderr.read()))
        stderr.close()
    pids = [proc.pid for proc, _ in procs]

    codes = sorted(r.returncode for r in results)
    assert codes == [0, 2], [(r.returncode, r.stderr[-1500:]) for r in results]
    winner = 0 if results[0].returncode == 0 else 1
    line = one_line_error(results[1 - winner])
    assert re.search(rf"\b{pids[winner]}\b", line), f"the holder's pid is not named: {line}"
    assert "Traceback" not in results[winner].stderr
    assert sha256(out / "model.safetensors") == sha256(seed_run / "model.safetensors"), (
        "the surviving run is not the deterministic solo run"
    )
    assert attentext.load(out, precision="fp32").predict(["stocks rally"])
    left = [name for name in listing(tmp_path) if not name.startswith("stderr-")]
    assert left == ["dup"], f"left beside the run: {left}"


def test_a_lock_taken_but_not_yet_signed_names_its_holder_once_signed(tmp_path):
    """The holder writes its note just after taking the lock; a loaded machine can pause it in
    between, and the second train then said "another attentext process is writing it
    (unknown)" (seen once in the test above, two pytest workers on 2 cores)."""
    path = tmp_path / ".run.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        signing = threading.Timer(0.3, os.pwrite, (fd, b"pid 4242 on here (train)", 0))
        signing.start()
        with pytest.raises(LockHeld, match="pid 4242"), exclusive_lock(path, "train"):
            pass
        signing.join()
    finally:
        os.close(fd)


# =============================================================================================
# Finding 2: --overwrite, `--output .`, a crash between the two renames
# =============================================================================================


def test_overwrite_refuses_a_folder_that_is_not_a_run(tmp_path):
    """#23 finding 2: `train tfidf-logreg --data runs/mydata --output runs/mydata --overwrite`.

    --overwrite replaces only a finished run directory: a data folder is refused in one line and
    every file in it is still there, unchanged.
    """
    data = tmp_path / "mydata"
    write_file(data, "train.csv", ROWS)
    write_file(data, "notes.txt", "my own notes\n")
    before = snapshot(data)

    result = run_cli_here("train", "tfidf-logreg", "--data", data, "--output", data, "--overwrite")

    one_line_error(result)
    assert snapshot(data) == before
    assert listing(tmp_path) == ["mydata"]


def test_overwrite_refuses_a_file(tmp_path):
    """#23 finding 2: --output names a regular file, with --overwrite: refused in one line, the
    file unchanged, nothing left beside it (no `.NAME.old-PID`, no `.partial`)."""
    data = write_file(tmp_path, "d.csv", ROWS)
    precious = write_file(tmp_path, "thesis.txt", "three years of work\n")

    result = run_cli_here(
        "train", "tfidf-logreg", "--data", data, "--output", precious, "--overwrite"
    )

    one_line_error(result)
    assert precious.read_text(encoding="utf-8") == "three years of work\n"
    assert listing(tmp_path) == ["d.csv", "thesis.txt"]


@pytest.mark.parametrize("overwrite", [False, True], ids=["plain", "overwrite"])
def test_output_dot_is_a_one_line_error(overwrite, tmp_path):
    """#23 finding 2: `train ... --output .` (with and without --overwrite) is a one-line error,
    not a traceback, and the current folder keeps its files."""
    data = write_file(tmp_path, "d.csv", ROWS)
    work = tmp_path / "work"
    keep = write_file(work, "keep.txt", "keep me\n")

    result = run_cli_here(
        "train",
        "tfidf-logreg",
        "--data",
        data,
        "--output",
        ".",
        *(["--overwrite"] if overwrite else []),
        cwd=work,
    )

    one_line_error(result)
    assert keep.read_text(encoding="utf-8") == "keep me\n"


# Runs `python -m attentext ARGS` and SIGKILLs it right after any rename or removal that leaves
# <out> missing: the moment between "old run moved away" and "new run moved in". An overwrite
# that never leaves <out> missing (an atomic exchange) runs to its end instead.
CRASH_WHEN_OUTPUT_IS_GONE = r"""
import os, runpy, shutil, signal, sys
from pathlib import Path

out = Path(sys.argv[1])

def guard(function):
    def guarded(*args, **kwargs):
        result = function(*args, **kwargs)
        if not os.path.lexists(out):
            os.kill(os.getpid(), signal.SIGKILL)
        return result
    return guarded

os.rename, os.replace, os.rmdir, shutil.rmtree = map(
    guard, (os.rename, os.replace, os.rmdir, shutil.rmtree)
)
sys.argv = ["attentext", *sys.argv[2:]]
runpy.run_module("attentext", run_name="__main__", alter_sys=True)
"""


def test_a_crash_between_the_renames_of_an_overwrite_leaves_a_run_at_output(tmp_path):
    """#23 finding 2: `train --overwrite` over a finished run, killed (SIGKILL) at the moment the
    old run has left <out> and the new one is not there yet. Afterwards <out> loads, as the old
    run or the new one; never neither (before the fix the old one hid in `.NAME.old-PID`)."""
    out = tmp_path / "run"
    old_data = write_file(tmp_path, "old.csv", ROWS)
    new_data = write_file(
        tmp_path, "new.csv", ROWS.replace(",pos", ",good").replace(",neg", ",bad")
    )
    attentext.train("tfidf-logreg", old_data, out)

    result = subprocess.run(
        [sys.executable, "-c", CRASH_WHEN_OUTPUT_IS_GONE, str(out)]
        + ["train", "tfidf-logreg", "--data", str(new_data), "--output", str(out), "--overwrite"],
        capture_output=True,
        text=True,
        env=cli_env(),
        cwd=REPO,
        timeout=300,
    )

    assert result.returncode in (0, -signal.SIGKILL), result.stderr[-3000:]
    labels = attentext.load(out).labels  # before the fix: RunDirError, <out> was gone
    assert sorted(labels) in (["neg", "pos"], ["bad", "good"])


def test_overwrite_still_replaces_a_finished_run(tmp_path):
    """#23 finding 2 (guard): --overwrite of a finished run directory replaces it
    with the new run and leaves nothing beside it."""
    out = tmp_path / "run"
    data = write_file(tmp_path, "d.csv", ROWS)
    relabelled = write_file(
        tmp_path, "r.csv", ROWS.replace(",pos", ",good").replace(",neg", ",bad")
    )
    attentext.train("tfidf-logreg", data, out)

    attentext.train("tfidf-logreg", relabelled, out, overwrite=True)

    assert sorted(attentext.load(out).labels) == ["bad", "good"]
    assert listing(tmp_path) == ["d.csv", "r.csv", "run"]


def test_overwrite_never_replaces_a_run_that_holds_the_data(tmp_path):
    """Found in session 60: the data file saved inside an earlier run, trained on with
    `--output` that run and --overwrite, was deleted with the old run. Refused in one line now,
    the data still there; tune and auto refuse the same (`writing_output`)."""
    out = tmp_path / "run"
    attentext.train("tfidf-logreg", write_file(tmp_path, "d.csv", ROWS), out)
    data = write_file(out, "mine.csv", ROWS)

    result = run_cli_here("train", "tfidf-logreg", "--data", data, "--output", out, "--overwrite")

    one_line_error(result)
    assert "holds the data" in result.stderr
    assert data.read_text(encoding="utf-8") == ROWS
    search = tmp_path / "search"  # an earlier search's folder, the data saved in it
    write_file(search, "record.json", "{}")
    kept = write_file(search, "mine.csv", ROWS)
    for command in ("tune", "auto"):
        refused = pytest.raises(RunDirError, match="holds the data")
        with refused, writing_output(search, "record.json", command, overwrite=True, data=kept):
            pass
    assert data.read_text(encoding="utf-8") == ROWS and kept.read_text(encoding="utf-8") == ROWS
    with writing_output(tmp_path / "new", MARKER, "tune", overwrite=True, data=tmp_path) as inside:
        assert inside.is_dir()  # an output inside the data's folder is fine


def test_a_users_folder_named_like_the_work_folder_is_never_cleared(tmp_path):
    """Found in session 60: `train ... --output results` removed a `results.partial/` the user
    kept notes in (taken for a run stopped before its first checkpoint). Refused in one line,
    the notes kept; a work folder holding only what training writes is still cleared."""
    data = write_file(tmp_path, "d.csv", ROWS)
    notes = write_file(tmp_path / "results.partial", "notes.txt", "my notes\n")

    result = run_cli_here("train", "tfidf-logreg", "--data", data, "--output", tmp_path / "results")

    one_line_error(result)
    assert "training never writes (notes.txt)" in result.stderr
    assert notes.read_text(encoding="utf-8") == "my notes\n"
    assert not (tmp_path / "results").exists()
    notes.unlink()
    write_file(tmp_path / "results.partial", "run.json", "{}")  # a run stopped early
    (tmp_path / "results.partial" / "tokenizer").mkdir()
    attentext.train("tfidf-logreg", data, tmp_path / "results")
    assert listing(tmp_path) == ["d.csv", "results"]


def test_a_report_is_never_written_into_a_run_directory(tmp_path):
    """Found in session 60: `evaluate RUN --output RUN` wrote the report's metrics.json over the
    run's own (its recipe, sizes and training record gone). Refused in one line for every
    command writing a folder of files; a new folder inside the run is fine."""
    data = write_file(tmp_path, "d.csv", ROWS)
    run = tmp_path / "run"
    attentext.train("tfidf-logreg", data, run)
    before = snapshot(run)

    for command in (["evaluate", run, "--data", data], ["explain", run, "good film"]):
        result = run_cli_here(*command, "--output", run)
        one_line_error(result)
        assert "is a run directory" in result.stderr
    assert snapshot(run) == before
    assert run_cli_here("evaluate", run, "--data", data, "--output", run / "report").returncode == 0
    assert (run / "report" / "metrics.json").is_file()


def test_recalibrate_refuses_the_texts_the_run_trained_on(ag_news_dir, tmp_path):
    """Found in session 60: `recalibrate RUN --data DATA --split train` fitted the temperature
    on texts the model learned (ECE 0.19 -> 0.007 there, a model made sure of itself). The run's
    training data, read whole or by its train split, is refused; its test split is taken."""
    run = tmp_path / "run"
    attentext.train("tfidf-logreg", ag_news_dir, run)
    before = snapshot(run)

    result = run_cli_here("recalibrate", run, "--data", ag_news_dir, "--split", "train")

    one_line_error(result)
    assert "its train split is what" in result.stderr
    assert snapshot(run) == before
    with pytest.raises(DataError, match="its rows are what"):
        data = ag_news_dir / "train.csv"
        attentext.train("tfidf-logreg", data, tmp_path / "file_run")
        attentext.recalibrate(tmp_path / "file_run", data)
    assert (
        run_cli_here("recalibrate", run, "--data", ag_news_dir, "--split", "test").returncode == 0
    )


def test_round3_recalibrate_refuses_the_training_file_named_apart_from_its_folder(
    ag_news_dir, tmp_path
):
    """Round 3: a run trained on a folder, recalibrated on that folder's `train.csv` named as a
    file (or a run trained on `train.csv`, on the folder's train split), was not recognised: the
    temperature was fitted on the 200 texts it learned (ECE 0.19 -> 0.007 there). The files a
    run trained on are compared, not the paths given."""
    run = tmp_path / "run"
    attentext.train("tfidf-logreg", ag_news_dir, run)
    before = snapshot(run)

    result = run_cli_here("recalibrate", run, "--data", ag_news_dir / "train.csv")

    one_line_error(result)
    assert "was trained on" in result.stderr
    assert snapshot(run) == before
    file_run = tmp_path / "file_run"
    attentext.train("tfidf-logreg", ag_news_dir / "train.csv", file_run)
    with pytest.raises(DataError, match="was trained on"):
        attentext.recalibrate(file_run, ag_news_dir, split="train")


# =============================================================================================
# Finding 3: symlinks, special files and unbounded reads in run directories
# =============================================================================================


def test_a_symlinked_metrics_json_is_not_published_over_http(seed_run, tmp_path):
    """#23 finding 3: metrics.json is a symlink to another JSON file the server can read. The
    server refuses the run directory (RunDirError, one line) or serves it without that content;
    the file's content never reaches a client."""
    secret = write_file(tmp_path, "elsewhere/credentials.json", json.dumps({"token": SECRET}))
    run = copy_run(seed_run, tmp_path)
    (run / "metrics.json").unlink()
    (run / "metrics.json").symlink_to(secret)

    try:
        app = create_app([run])
    except RunDirError as error:
        assert SECRET not in one_line(error)
        return
    with TestClient(app) as client:
        response = client.get("/v1/models")
    assert SECRET not in response.text


def test_a_run_file_linked_to_dev_zero_is_a_one_line_error(seed_run, tmp_path):
    """#23 finding 3: attentext.json is a symlink to /dev/zero. `predict` refuses it in one line
    (no MemoryError), under a 3 GiB address-space cap, within 60 s."""
    run = copy_run(seed_run, tmp_path)
    (run / "attentext.json").unlink()
    (run / "attentext.json").symlink_to("/dev/zero")

    result = cli_limited("predict", run, "some text", timeout=60)

    one_line_error(result)


def test_a_fifo_in_a_run_directory_does_not_wedge_the_server(seed_run, tmp_path):
    """#23 finding 3 (special files): metrics.json is a FIFO nobody writes to. `create_app`
    refuses the run directory (RunDirError) or serves it, within 15 s; it never waits on it."""
    run = copy_run(seed_run, tmp_path)
    (run / "metrics.json").unlink()
    os.mkfifo(run / "metrics.json")
    outcome: dict[str, object] = {}

    def start() -> None:
        try:
            create_app([run])
            outcome["result"] = "served"
        except BaseException as error:  # noqa: BLE001 (checked below)
            outcome["result"] = error

    thread = threading.Thread(target=start, daemon=True)
    thread.start()
    thread.join(15)
    if thread.is_alive():  # blocked opening the FIFO: feed it so the thread ends, then fail
        try:
            fd = os.open(run / "metrics.json", os.O_WRONLY | os.O_NONBLOCK)
            os.write(fd, b"{}")
            os.close(fd)
        except OSError:
            pass
        thread.join(30)
        pytest.fail("create_app was still waiting on the FIFO after 15 s")
    result = outcome["result"]
    assert result == "served" or isinstance(result, RunDirError), repr(result)


# =============================================================================================
# Finding 4: YAML alias bombs
# =============================================================================================


def alias_bomb(prefix: str, suffix: str) -> str:
    """A 'billion laughs' YAML value (9 levels of 9 aliases: 9**9 strings once expanded), in
    about 350 bytes, between `prefix` and `suffix`."""
    levels = "abcdefghi"
    nodes = ["&a [" + ",".join(['"lol"'] * 9) + "]"]
    for prev, cur in zip(levels, levels[1:], strict=False):
        nodes.append(f"&{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    return f"{prefix}[{', '.join(nodes)}]{suffix}"


def test_an_alias_bomb_in_a_run_directory_recipe_is_a_one_line_error(
    seed_run, ag_news_dir, tmp_path
):
    """#23 finding 4: a run directory's recipe.yaml is a YAML alias bomb. `evaluate` refuses it
    in one line within 60 s (under a 3 GiB cap; uncapped it eats memory and hangs)."""
    run = copy_run(seed_run, tmp_path)
    (run / "recipe.yaml").write_text(alias_bomb("training:\n  epochs: ", "\n"), encoding="utf-8")

    result = cli_limited("evaluate", run, "--data", ag_news_dir, timeout=60)

    line = one_line_error(result)
    assert len(line) < 1000


def test_an_alias_bomb_recipe_is_a_one_line_error(tmp_path):
    """#23 finding 4: `train BOMB.yaml` (a recipe whose training.epochs is an alias bomb) is
    refused in one short line within 60 s (under a 3 GiB cap)."""
    recipe = write_file(tmp_path, "bomb.yaml", alias_bomb("training:\n  epochs: ", "\n"))
    data = write_file(tmp_path, "d.csv", ROWS)

    result = cli_limited("train", recipe, "--data", data, "--output", tmp_path / "out", timeout=60)

    line = one_line_error(result)
    assert len(line) < 1000
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()


SERVE_PROBE = r"""
import json, sys, time
from fastapi.testclient import TestClient
from attentext.errors import AttentextError
from attentext.serving import create_app

try:
    app = create_app([sys.argv[1]])
except AttentextError as error:
    print(json.dumps({"refused": type(error).__name__, "message": str(error)}))
    sys.exit(0)
with TestClient(app, raise_server_exceptions=False) as client:  # a 500 is an answer here
    start = time.monotonic()
    status = client.get("/v1/models").status_code
    seconds = time.monotonic() - start
    healthz = client.get("/healthz").status_code
print(json.dumps({"status": status, "seconds": seconds, "healthz": healthz}))
"""


def test_an_alias_bomb_in_a_served_run_does_not_wedge_the_server(seed_run, tmp_path):
    """#23 finding 4: a served run directory whose metrics.json names no recipe and whose
    recipe.yaml `name` is an alias bomb. `create_app` refuses it (RunDirError, one short line),
    or GET /v1/models answers 200 within 3 s (before the fix: the event loop was blocked for seconds,
    then a 500). Run in a subprocess under a 3 GiB cap."""
    run = copy_run(seed_run, tmp_path)
    metrics = metrics_of(run)
    metrics.pop("recipe", None)
    (run / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    (run / "recipe.yaml").write_text(alias_bomb("name: ", "\n"), encoding="utf-8")

    result = python_limited(SERVE_PROBE, run, timeout=90)

    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    if "refused" in outcome:
        assert outcome["refused"] == "RunDirError"
        assert "\n" not in outcome["message"] and len(outcome["message"]) < 1000
    else:
        assert outcome["status"] == 200 and outcome["seconds"] < 3, outcome
        assert outcome["healthz"] == 200


def test_a_large_non_scalar_recipe_value_is_not_formatted_into_the_message(tmp_path):
    """#23 finding 4 ("never format a parsed non-scalar value into a message"): a recipe whose
    training.epochs is a list of 100,000 numbers (no aliases) raises a RecipeError whose one
    line stays short."""
    numbers = ", ".join(str(i) for i in range(100_000))
    recipe = write_file(tmp_path, "long.yaml", f"training:\n  epochs: [{numbers}]\n")
    data = write_file(tmp_path, "d.csv", ROWS)

    with pytest.raises(AttentextError) as info:
        attentext.train(recipe, data, tmp_path / "out", precision="fp32")

    assert len(one_line(info.value)) < 1000


# =============================================================================================
# Finding 5: connections that never send a request (real server)
# =============================================================================================

HEADER_TIMEOUT_S = 10  # the most the fix may let a connection sit without a complete request


@pytest.fixture(scope="module")
def server(seed_run, tmp_path_factory):
    """`python -m attentext serve SEED_RUN` on 127.0.0.1 and a free port: yields the port."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("hostile-serve") / "serve.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "attentext", "serve", str(seed_run)]
            + ["--host", HOST, "--port", str(port)],
            cwd=REPO,
            env=cli_env(TOKENIZERS_PARALLELISM="false"),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 120
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"the server exited early:\n{log_path.read_text()[-3000:]}")
                if time.monotonic() > deadline:
                    pytest.fail(f"the server did not start:\n{log_path.read_text()[-3000:]}")
                try:
                    if http_get(port, "/healthz", timeout=1.0)[0] == 200:
                        break
                except OSError:
                    pass
                time.sleep(0.2)
            yield port
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def http_get(port: int, path: str, timeout: float) -> tuple[int, bytes]:
    """A minimal HTTP/1.1 GET with Connection: close: (status, raw response)."""
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        return read_response(sock)


def read_response(sock: socket.socket) -> tuple[int, bytes]:
    raw = b""
    while chunk := sock.recv(65536):
        raw += chunk
    status = int(raw.split(b" ", 2)[1]) if raw.startswith(b"HTTP/") else 0
    return status, raw


def closed_by_peer(sock: socket.socket) -> bool:
    """True once the server has closed this connection (EOF or reset); drains what it sent."""
    try:
        while select.select([sock], [], [], 0)[0]:
            if not sock.recv(65536):
                return True
    except OSError:
        return True
    return False


def test_healthz_answers_while_connections_stay_silent(server):
    """#23 finding 5 (guard): with 30 connections that never send a byte and 3
    that sent one byte of a request, GET /healthz still answers 200 within 5 s."""
    sockets = [socket.create_connection((HOST, server), timeout=5) for _ in range(33)]
    try:
        for sock in sockets[30:]:
            sock.sendall(b"G")
        start = time.monotonic()
        status, _ = http_get(server, "/healthz", timeout=5)
        assert status == 200 and time.monotonic() - start < 5
    finally:
        for sock in sockets:
            sock.close()


def test_silent_and_trickling_connections_are_closed_within_the_header_timeout(server):
    """#23 finding 5: 5 connections that never send a byte and 1 that sends one byte of a request
    every 0.5 s (never finishing its headers) are all closed by the server within
    HEADER_TIMEOUT_S (+2 s slack). Adjust HEADER_TIMEOUT_S to the documented limit if it
    differs."""
    silent = [socket.create_connection((HOST, server), timeout=5) for _ in range(5)]
    trickle = socket.create_connection((HOST, server), timeout=5)
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 1000
    open_ = {id(s): s for s in [*silent, trickle]}
    start = time.monotonic()
    sent = 0
    try:
        while open_ and time.monotonic() - start < HEADER_TIMEOUT_S + 2:
            if id(trickle) in open_:
                try:
                    trickle.sendall(request[sent : sent + 1])
                    sent += 1
                except OSError:
                    open_.pop(id(trickle))
            for key, sock in list(open_.items()):
                if closed_by_peer(sock):
                    open_.pop(key)
            time.sleep(0.5)
        assert not open_, (
            f"{len(open_)} of 6 connections still open after {HEADER_TIMEOUT_S + 2} s "
            f"(the trickling one sent {sent} bytes)"
        )
    finally:
        for sock in [*silent, trickle]:
            sock.close()


# =============================================================================================
# Finding 6: a tokenizer that does not fit the model; one failing row fails its whole batch
# =============================================================================================


@pytest.fixture
def frankenrun(small_run, seed_run, tmp_path) -> Path:
    """The small run (vocabulary ~20) with the tokenizer.json of the ag_news run (~2,900)."""
    run = copy_run(small_run, tmp_path)
    shutil.copy(seed_run / "tokenizer.json", run / "tokenizer.json")
    return run


RARE_WORDS = "Oil prices surged to a new high on Wednesday after a threat by rebel militia"


def test_a_tokenizer_bigger_than_the_model_is_refused_at_load(frankenrun):
    """#23 finding 6: a run whose tokenizer.json comes from a bigger run (more token ids than the
    model's embedding has rows) is refused by `attentext.load` with a one-line RunDirError."""
    with pytest.raises(RunDirError) as info:
        attentext.load(frankenrun, precision="fp32")

    one_line(info.value)


def test_predict_with_a_tokenizer_bigger_than_the_model_is_a_one_line_error(frankenrun):
    """#23 finding 6: `predict` on that run with words only the bigger vocabulary knows is a
    one-line error, not an IndexError traceback."""
    result = run_cli_here("predict", frankenrun, "a great film", RARE_WORDS)

    one_line_error(result)


class FailsOn:
    """A served classifier that fails on any batch holding `marker` (as the IndexError above)."""

    def __init__(self, classifier, marker: str) -> None:
        self.classifier, self.marker = classifier, marker
        self.labels = classifier.labels

    def predict_proba(self, texts):
        if any(self.marker in text for text in texts):
            raise IndexError("index out of range in self")
        return self.classifier.predict_proba(texts)

    def predict(self, texts):
        return self.classifier.predict(texts)


def test_one_failing_text_does_not_fail_the_others_in_its_micro_batch(seed_run):
    """#23 finding 6: requests that share a micro-batch with a text the model fails on get their
    200; only the failing request gets an error (JSON body). The micro-batcher waits 500 ms so
    that the 4 concurrent requests share one batch."""
    app = create_app(
        [seed_run],
        max_wait_ms=500,
        loader=lambda run: FailsOn(attentext.load(run, precision="fp32"), "POISON"),
    )
    texts = ["stocks rally", "POISON pill", "a goal in extra time", "new chip released"]
    answers: dict[str, object] = {}
    with TestClient(app, raise_server_exceptions=False) as client:  # a 500 is an answer here

        def ask(text: str) -> None:
            answers[text] = client.post("/v1/predict", json={"texts": [text]})

        threads = [threading.Thread(target=ask, args=(text,)) for text in texts]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)

    statuses = {text: answers[text].status_code for text in texts}
    assert all(statuses[t] == 200 for t in texts if t != "POISON pill"), statuses
    assert statuses["POISON pill"] >= 400
    assert answers["POISON pill"].json()["error"]["message"]


# =============================================================================================
# Finding 7: --resume of another run
# =============================================================================================


# ag_news_tiny: 190 train rows / batch 64 = 3 steps per epoch: a checkpoint at step 3; stop at 4.
RESUMABLE = {
    "max_steps": 6,
    "batch_size": 64,
    "precision": "fp32",
    "overrides": ["training.group_by_length=false"],
}


def interrupted_run(data: Path, out: Path) -> dict[str, bytes]:
    """A seed-transformer run on `data` stopped at step 4 (complete checkpoint at 3): what its
    `<out>.partial` holds."""
    with pytest.raises(KeyboardInterrupt):
        attentext.train("seed-transformer", data, out, callbacks=[InterruptAt(4)], **RESUMABLE)
    partial = out.with_name(out.name + ".partial")
    assert partial.is_dir() and not out.exists()
    return snapshot(partial)


def relabelled_copy(ag_news: Path, folder: Path) -> Path:
    """ag_news_tiny with every class index moved by one (1->2, ..., 4->1): same texts and label
    names, other labels."""
    folder.mkdir()
    shutil.copy(ag_news / "classes.txt", folder / "classes.txt")
    for name in ("train.csv", "test.csv"):
        lines = (ag_news / name).read_text(encoding="utf-8").splitlines(keepends=True)
        moved = [re.sub(r'^"(\d)"', lambda m: f'"{int(m[1]) % 4 + 1}"', line) for line in lines]
        (folder / name).write_text("".join(moved), encoding="utf-8")
    return folder


RESUME_CASES = {
    # id: (data for the resume, extra overrides for the resume)
    "other-texts": (lambda ag, tmp: ag / "test.csv", []),  # same 4 labels (classes.txt)
    "relabelled": (lambda ag, tmp: relabelled_copy(ag, tmp / "relabelled"), []),
    "other-class-count": (lambda ag, tmp: write_file(tmp, "two.csv", ROWS), []),
    "other-recipe-options": (lambda ag, tmp: ag, ["model.options.dropout=0.1"]),
}


@pytest.mark.parametrize("case", list(RESUME_CASES))
def test_resume_refuses_what_is_not_the_same_run(case, ag_news_dir, tmp_path):
    """#23 finding 7: an interrupted seed-transformer run on ag_news_tiny, resumed with other
    texts (same labels), relabelled texts, a 2-class file, or other model options (same
    shapes). Each resume raises a one-line AttentextError and leaves `<out>.partial` as it
    was, with no run published."""
    out = tmp_path / "run"
    left = interrupted_run(ag_news_dir, out)
    data_of, extra = RESUME_CASES[case]
    data = data_of(ag_news_dir, tmp_path)
    options = {**RESUMABLE, "overrides": RESUMABLE["overrides"] + extra}

    with pytest.raises(AttentextError) as info:
        attentext.train("seed-transformer", data, out, resume=True, **options)

    one_line(info.value)
    assert not out.exists()
    partial = snapshot(out.with_name("run.partial"))
    assert set(left) <= set(partial), "files of the unfinished run were removed"


def test_tfidf_resume_refuses_and_keeps_a_seed_transformer_checkpoint(ag_news_dir, tmp_path):
    """#23 finding 7: `train tfidf-logreg --resume` on a seed-transformer's unfinished run is
    refused in one line; the checkpoints are all still there and no run is published."""
    out = tmp_path / "run"
    left = interrupted_run(ag_news_dir, out)

    result = run_cli_here(
        "train", "tfidf-logreg", "--data", ag_news_dir, "--output", out, "--resume"
    )

    one_line_error(result)
    assert not out.exists()
    assert snapshot(out.with_name("run.partial")) == left


def test_resume_with_the_same_data_and_recipe_still_works(ag_news_dir, tmp_path):
    """#23 finding 7 (guard): resuming with the same data and recipe finishes the
    run (6 steps) and publishes it."""
    out = tmp_path / "run"
    interrupted_run(ag_news_dir, out)

    result = attentext.train("seed-transformer", ag_news_dir, out, resume=True, **RESUMABLE)

    assert result.metrics["global_steps"] == 6
    labels = attentext.load(out, precision="fp32").labels
    assert labels == ["World", "Sports", "Business", "Sci/Tech"]
    assert not out.with_name("run.partial").exists()


# =============================================================================================
# Finding 8: the frozen-feature cache
# =============================================================================================

FROZEN_CLI = ["--epochs", "3", "--precision", "fp32"]


@pytest.fixture(scope="module")
def frozen(tmp_path_factory):
    """One encoder-frozen run (packaged MiniLM) on 18 rows with its own feature cache folder:
    the clean reference and the cache files it wrote (safetensors under <cache>/features/)."""
    root = tmp_path_factory.mktemp("hostile-frozen")
    data = write_file(root, "d.csv", ROWS)
    cache = root / "cache"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ATTENTEXT_CACHE", str(cache))
        result = run_cli_here(
            "train", "encoder-frozen", "--data", data, "--output", root / "clean", *FROZEN_CLI
        )
    assert result.returncode == 0, result.stderr[-3000:]
    files = sorted((cache / "features").glob("*.safetensors"))
    assert files, "the encoder-frozen run wrote no feature cache"
    return SimpleNamespace(data=data, cache=cache, run=root / "clean")


def safetensors_rows(path: Path) -> tuple[int, int]:
    """(header end offset, row count of its first tensor) of a safetensors file."""
    raw = path.read_bytes()
    size = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + size])
    tensor = next(v for k, v in header.items() if k != "__metadata__")
    return 8 + size, tensor["shape"][0]


def run_frozen_on(cache: Path, frozen, out: Path, monkeypatch) -> subprocess.CompletedProcess:
    monkeypatch.setenv("ATTENTEXT_CACHE", str(cache))
    return run_cli_here(
        "train", "encoder-frozen", "--data", frozen.data, "--output", out, *FROZEN_CLI
    )


def test_a_zeroed_feature_cache_entry_is_recomputed_with_a_warning(frozen, tmp_path, monkeypatch):
    """#23 finding 8: every feature-cache file keeps its header and has its data zeroed. The
    next identical run recomputes the features (a warning on stderr mentions the cache) and
    gives exactly the clean run: same validation report, byte-identical weights."""
    cache = Path(shutil.copytree(frozen.cache, tmp_path / "cache"))
    for path in (cache / "features").glob("*.safetensors"):
        start, _ = safetensors_rows(path)
        raw = path.read_bytes()
        path.write_bytes(raw[:start] + bytes(len(raw) - start))

    result = run_frozen_on(cache, frozen, tmp_path / "run", monkeypatch)

    assert result.returncode == 0, result.stderr[-3000:]
    assert metrics_of(tmp_path / "run")["validation"] == metrics_of(frozen.run)["validation"]
    assert sha256(tmp_path / "run" / "model.safetensors") == sha256(
        frozen.run / "model.safetensors"
    ), "the head was trained on the zeroed features"
    assert any("cache" in line.lower() for line in message_lines(result.stderr)), (
        "no warning about the bad cache entry"
    )


def test_a_feature_cache_entry_with_the_wrong_row_count_is_recomputed(
    frozen, tmp_path, monkeypatch
):
    """#23 finding 8: the train split's cache file is replaced by a valid file of another
    split (another row count). The next run recomputes it, exits 0, leaves no `.partial` and
    gives exactly the clean run."""
    cache = Path(shutil.copytree(frozen.cache, tmp_path / "cache"))
    files = sorted((cache / "features").glob("*.safetensors"), key=lambda p: safetensors_rows(p)[1])
    smallest, largest = files[0], files[-1]  # validation (1 row) and train (17 rows)
    assert safetensors_rows(smallest)[1] != safetensors_rows(largest)[1]
    shutil.copy(smallest, largest)

    result = run_frozen_on(cache, frozen, tmp_path / "run", monkeypatch)

    assert result.returncode == 0, result.stderr[-3000:]
    assert not (tmp_path / "run.partial").exists()
    assert sha256(tmp_path / "run" / "model.safetensors") == sha256(
        frozen.run / "model.safetensors"
    )


# =============================================================================================
# Finding 9: tracebacks instead of one line
# =============================================================================================


def without_paths(line: str, *folders: Path) -> str:
    for folder in folders:
        line = line.replace(str(folder), "<dir>")
    return line


@pytest.mark.parametrize("value", ["null", "42", '["a", "list"]'], ids=["null", "number", "list"])
def test_predict_input_jsonl_text_that_is_not_a_string(value, seed_run, tmp_path):
    """#23 finding 9: `predict --input texts.jsonl` where row 2's text is null, a number or a
    list: one line naming row 2 and not calling the text a label."""
    path = write_file(tmp_path, "texts.jsonl", f'{{"text": "fine"}}\n{{"text": {value}}}\n')

    result = run_cli_here("predict", seed_run, "--input", path)

    line = without_paths(one_line_error(result), tmp_path, seed_run)
    assert re.search(r"\b2\b", line), line
    assert "label" not in line.lower(), line


def test_predict_input_parquet_null_text(seed_run, tmp_path):
    """#23 finding 9: `predict --input texts.parquet` whose second text is null: one line
    naming row 2."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "texts.parquet"
    pq.write_table(pa.table({"text": ["fine", None, "also fine"]}), path)

    result = run_cli_here("predict", seed_run, "--input", path)

    line = without_paths(one_line_error(result), tmp_path, seed_run)
    assert re.search(r"\b2\b", line), line


@pytest.mark.parametrize("command", ["evaluate", "explain", "export"])
def test_output_naming_a_file_is_a_one_line_error(command, seed_run, ag_news_dir, tmp_path):
    """#23 finding 9: `evaluate|explain|export --output FILE` where FILE is an existing regular
    file: one line, and the file is unchanged."""
    target = write_file(tmp_path, "report.txt", "not a folder\n")
    args = {
        "evaluate": ["evaluate", seed_run, "--data", ag_news_dir],
        "explain": ["explain", seed_run, "stocks rally on wall street"],
        "export": ["export", seed_run],
    }[command]

    result = run_cli_here(*args, "--output", target)

    one_line_error(result)
    assert target.read_text(encoding="utf-8") == "not a folder\n"


@pytest.mark.parametrize(
    "content", ["[" * 100_000 + "]" * 100_000, "[1, 2, 3]"], ids=["deeply-nested", "a-list"]
)
def test_a_malformed_tokenizer_json_is_a_run_dir_error(content, seed_run, tmp_path):
    """#23 finding 9: tokenizer.json is valid JSON of the wrong shape (100,000 nested arrays; a
    list of numbers): `attentext.load` raises a one-line RunDirError."""
    run = copy_run(seed_run, tmp_path)
    (run / "tokenizer.json").write_text(content, encoding="utf-8")

    with pytest.raises(RunDirError) as info:
        attentext.load(run, precision="fp32")

    one_line(info.value)


# =============================================================================================
# Finding 10: labels
# =============================================================================================


def reported(result: subprocess.CompletedProcess, *names: str) -> bool:
    """The run was refused in one line naming `names`, or it went on with a stderr line (a
    warning) naming them."""
    if result.returncode != 0:
        line = one_line_error(result)
        return all(re.search(rf"(?<!\w){re.escape(n)}(?!\w)", line) for n in names)
    return any(
        all(re.search(rf"(?<!\w){re.escape(n)}(?!\w)", line) for n in names)
        for line in message_lines(result.stderr)
    )


def test_label_case_variants_are_reported(tmp_path):
    """#23 finding 10: train labels `Sports` and `sports` (and `World`): a warning naming both
    variants, or a one-line refusal naming them; never two silent classes."""
    rows = [("a goal in extra time", "Sports"), ("the match was won", "sports")]
    rows += [("an election was held", "World")]
    data = write_file(tmp_path, "d.csv", labelled_csv(rows * 4))

    result = run_cli_here("train", "tfidf-logreg", "--data", data, "--output", tmp_path / "out")

    assert "Traceback" not in result.stderr
    assert reported(result, "Sports", "sports"), result.stderr[-3000:]


def test_numeric_labels_mixed_with_names_are_reported(tmp_path):
    """#23 finding 10: train labels `1`, `Business` and `World` (an index mixed with names): a
    warning naming `1` and `Business`, or a one-line refusal naming them."""
    rows = [("stocks rally", "1"), ("profits fall", "Business"), ("an election", "World")]
    data = write_file(tmp_path, "d.csv", labelled_csv(rows * 4))

    result = run_cli_here("train", "tfidf-logreg", "--data", data, "--output", tmp_path / "out")

    assert "Traceback" not in result.stderr
    assert reported(result, "1", "Business"), result.stderr[-3000:]


def test_an_unknown_label_error_stays_short(tmp_path):
    """#23 finding 10: a run with 300 labels evaluated on a file with an unseen label: the
    one-line DataError, paths aside, stays under 300 characters."""
    rows = [(f"text number {i} about things", f"label-{i:03d}") for i in range(300)]
    rows += [(f"another text {i} about stuff", f"label-{i:03d}") for i in range(300)]
    data = write_file(tmp_path, "many.csv", labelled_csv(rows))
    run = attentext.train("tfidf-logreg", data, tmp_path / "run").run_dir
    unseen = write_file(tmp_path, "unseen.csv", labelled_csv([("some words", "Weather")]))

    with pytest.raises(AttentextError) as info:
        attentext.evaluate(run, unseen, precision="fp32")

    message = without_paths(one_line(info.value), tmp_path)
    assert "Weather" in message
    assert len(message) < 300, f"{len(message)} characters"


# =============================================================================================
# Finding 11: predict --input line handling
# =============================================================================================


def predictions(result: subprocess.CompletedProcess) -> list[dict]:
    assert result.returncode == 0, result.stderr[-3000:]
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def test_predict_input_keeps_one_output_per_line_with_blank_lines(seed_run, tmp_path):
    """#23 finding 11: `predict --input` of "first\\n\\nthird\\n": one output per input line
    (3, the blank one with an empty text), or a one-line error naming line 2."""
    path = write_file(tmp_path, "texts.txt", "stocks rally\n\na goal in extra time\n")

    result = run_cli_here("predict", seed_run, "--input", path, "--json")

    if result.returncode != 0:
        line = without_paths(one_line_error(result), tmp_path, seed_run)
        assert re.search(r"\b2\b", line), line
        return
    records = predictions(result)
    assert len(records) == 3, records
    assert records[0]["text"] == "stocks rally" and records[2]["text"] == "a goal in extra time"
    assert not (records[1].get("text") or "").strip()


def test_predict_input_with_cr_only_line_ends_is_not_one_text(seed_run, tmp_path):
    """#23 finding 11: `predict --input` of a file with CR-only line ends (old Mac style): one
    output per line (3), or a one-line error; never one text holding the whole file."""
    path = write_file(tmp_path, "texts.txt", "stocks rally\rprofits fall\ra goal in extra time\r")

    result = run_cli_here("predict", seed_run, "--input", path, "--json")

    if result.returncode != 0:
        one_line_error(result)
        return
    texts = [r["text"] for r in predictions(result)]
    assert texts == ["stocks rally", "profits fall", "a goal in extra time"], texts


def test_predict_input_crlf_and_a_final_newline_still_work(seed_run, tmp_path):
    """#23 finding 11 (guard): CRLF line ends and a final newline give one output
    per line, without the CR."""
    path = write_file(tmp_path, "texts.txt", "stocks rally\r\nprofits fall\r\n")

    result = run_cli_here("predict", seed_run, "--input", path, "--json")

    assert [r["text"] for r in predictions(result)] == ["stocks rally", "profits fall"]


# =============================================================================================
# Finding 12: temporaries left by a killed export
# =============================================================================================

EXPORT_FINAL = {"model.onnx", "model.int8.onnx", "export.json"}


def test_export_cleans_the_temporaries_a_killed_export_left(seed_run, tmp_path):
    """#23 finding 12: `export --output DIR` is SIGKILLed as soon as a temporary file appears in
    DIR; the temporaries it left (aged by an hour, so an age-based check counts them stale too)
    are gone after the next `export` to the same DIR, which succeeds."""
    target = tmp_path / "exported"
    proc = subprocess.Popen(
        [sys.executable, "-m", "attentext", "export", str(seed_run), "--output", str(target)],
        cwd=REPO,
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stale: list[str] = []
    deadline = time.monotonic() + 180
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if target.is_dir():
                stale = [
                    p.name
                    for p in target.iterdir()
                    if p.name not in EXPORT_FINAL and not p.name.endswith(".lock")
                ]
                if stale:
                    proc.send_signal(signal.SIGKILL)
                    break
            time.sleep(0.01)
    finally:
        proc.kill()
        proc.wait()
    assert stale, "the export finished before a temporary file was seen"
    stale = [name for name in stale if (target / name).exists()]
    assert stale, "precondition: the killed export left its temporaries"
    hour_ago = time.time() - 3600
    for name in stale:
        os.utime(target / name, (hour_ago, hour_ago))

    result = run_cli_here("export", seed_run, "--output", target)

    assert result.returncode == 0, result.stderr[-3000:]
    assert (target / "model.onnx").is_file()
    left = [name for name in stale if (target / name).exists()]
    assert not left, f"stale temporaries left: {left}"


# =============================================================================================
# Finding 13: smaller ones
# =============================================================================================


@pytest.mark.parametrize("version", [1.9, True], ids=["1.9", "true"])
def test_a_format_version_that_is_not_the_integer_1_is_refused(version, seed_run, tmp_path):
    """#23 finding 13: attentext.json's format_version is 1.9 or `true`: `attentext.load`
    refuses it with a one-line RunDirError (the type is checked, unknown versions refused)."""
    run = copy_run(seed_run, tmp_path)
    marker = json.loads((run / "attentext.json").read_text(encoding="utf-8"))
    marker["format_version"] = version
    (run / "attentext.json").write_text(json.dumps(marker), encoding="utf-8")

    with pytest.raises(RunDirError) as info:
        attentext.load(run, precision="fp32")

    one_line(info.value)


@pytest.mark.parametrize("value", ["abc", "-1"])
def test_a_bad_content_length_gets_a_json_error_body(value, server):
    """#23 finding 13: POST /v1/predict with `Content-Length: <value>` to the real server: a 400
    whose body is the JSON error of the contract (before the fix: uvicorn's text/plain 400)."""
    request = (
        "POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {value}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection((HOST, server), timeout=5) as sock:
        sock.sendall(request)
        status, raw = read_response(sock)

    assert status == 400, raw[:500]
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"application/json" in head.lower(), head
    if b"transfer-encoding: chunked" in head.lower():
        body = b"".join(body.split(b"\r\n")[1::2])
    error = json.loads(body)["error"]
    assert error["type"] and error["message"]


def test_a_huge_unknown_model_name_is_not_echoed_in_full(http):
    """#23 finding 13: POST /v1/predict with a 900 KB unknown model name: a 404 whose body
    stays under 2 KB (the name is truncated)."""
    response = http.post("/v1/predict", json={"texts": ["x"], "model": "m" * 900_000})

    assert response.status_code == 404
    assert response.json()["error"]["message"]
    assert len(response.content) < 2000, f"{len(response.content):,} bytes"


def test_an_empty_model_name_is_a_422(http):
    """#23 finding 13: POST /v1/predict with `"model": ""` is a 422 naming the field, not a
    prediction of the default model."""
    response = http.post("/v1/predict", json={"texts": ["x"], "model": ""})

    assert response.status_code == 422, response.text
    assert "model" in response.json()["error"]["message"]


# =============================================================================================
# Round 2 of the audit: inputs the findings above did not cover
# =============================================================================================


@pytest.fixture(scope="module")
def tfidf_run(ag_news_dir, tmp_path_factory) -> Path:
    """The TF-IDF baseline on ag_news_tiny (seconds to train)."""
    out = tmp_path_factory.mktemp("hostile-tfidf") / "tfidf"
    return Path(attentext.train("tfidf-logreg", ag_news_dir, out).run_dir)


NOT_A_LIST_OF_TEXTS = {
    "none": (None, "NoneType"),
    "a-dict": ({"id-1": "Stocks rally on Wall Street"}, "dict"),
    "a-set": ({"Stocks rally", "The striker scored"}, "set"),
    "numbers": ([1, 2], r"texts\[0\]: text is a number"),
    "a-none-item": (["Stocks rally", None], r"texts\[1\]: text is missing"),
    "a-nested-list": ([["Stocks rally"]], r"texts\[0\]: text is a list"),
    "bytes-items": ([b"Stocks rally"], r"texts\[0\]: text is of type bytes"),
}


@pytest.mark.parametrize("kind", ["tfidf", "seed"])
@pytest.mark.parametrize("case", list(NOT_A_LIST_OF_TEXTS))
def test_round2_predict_refuses_what_is_not_a_list_of_texts(case, kind, tfidf_run, seed_run):
    """Round 2: `clf.predict(None)` was [] on the baseline; a dict was classified by its keys and a
    set in its own order (results not in the user's order); a None or a number among the texts
    was AttributeError "'int' object has no attribute 'lower'" or a tokenizer's TypeError; bytes
    were read as text by one model and refused by the other. Each is now a TypeError that says
    which argument or item is wrong."""
    texts, expect = NOT_A_LIST_OF_TEXTS[case]
    clf = attentext.load(tfidf_run if kind == "tfidf" else seed_run)

    for method in (clf.predict, clf.predict_proba):
        with pytest.raises(TypeError, match=expect) as error:
            method(texts)
        assert "texts" in one_line(error.value)


def test_round2_predict_takes_any_ordered_sequence_of_texts(tfidf_run, seed_run):
    """Round 2: a pandas Series or a NumPy array was a ValueError ("The truth value of a Series is
    ambiguous") on the baseline, a generator a TypeError on both models; each is read in its
    order, like a list."""
    import numpy as np
    import pandas as pd

    texts = ["Stocks rally as oil prices fall", "The striker scored twice", ""]
    for run in (tfidf_run, seed_run):
        clf = attentext.load(run)
        expected = clf.predict(texts)
        for given in (
            tuple(texts),
            np.array(texts),
            pd.Series(texts, index=[7, 3, 5]),
            (text for text in texts),
        ):
            assert clf.predict(given) == expected, type(given).__name__
        assert clf.predict_proba(iter(texts)).shape == (3, len(clf.labels))


MIXED_LABELS = [
    ("Oil prices rise as OPEC cuts output", "Business"),
    ("The striker scored twice in the final", "1"),
    ("Rebels seize the capital after a week of fighting", "World"),
    ("Chip maker unveils a faster processor", "Sci/Tech"),
]


def test_round2_labels_mixing_names_and_class_numbers_are_refused(tfidf_run, tmp_path):
    """Round 2: `evaluate` on a file whose labels are names on some rows and a number on another
    read the number silently as a class index ('1' -> Sports, the second class), so the report
    measured labels the user never wrote; now a one-line DataError names the row, the number and
    a row with a name (API and CLI)."""
    data = write_file(tmp_path, "test.csv", labelled_csv(MIXED_LABELS))

    with pytest.raises(DataError, match=r"row 3: label '1' is a number") as error:
        attentext.evaluate(tfidf_run, data)
    assert "row 2" in one_line(error.value)
    line = one_line_error(run_cli_here("evaluate", tfidf_run, "--data", data))
    assert "row 3" in line


def test_round2_labels_that_are_all_class_numbers_still_read_as_indices(tfidf_run, tmp_path):
    """Guard: a file whose labels are all numbers is still read by index (0-based) against the
    run's named classes."""
    rows = [
        (text, str(["World", "Sports", "Business", "Sci/Tech"].index(label)))
        for text, label in MIXED_LABELS
        if label != "1"
    ]
    data = write_file(tmp_path, "test.csv", labelled_csv(rows))

    assert attentext.evaluate(tfidf_run, data).accuracy >= 0


UNPARSED_BODIES = {
    "latin-1": ('{"texts": ["café"], "inputs": "café"}'.encode("latin-1"), "not UTF-8"),
    "nested-deeply": (b'{"texts": ' + b"[" * 5000 + b"]" * 5000 + b"}", "nested too deeply"),
    "a-number-too-long": (b'{"texts": ["a"], "top_k": ' + b"9" * 5000 + b"}", "number too long"),
}
ROUTES = ["/v1/predict", "/v1/explain", "/", "/models/tfidf", "/predict", "/v2/models/tfidf/infer"]


@pytest.fixture(scope="module")
def tfidf_http(tfidf_run):
    with TestClient(create_app([tfidf_run])) as client:
        yield client


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("case", list(UNPARSED_BODIES))
def test_round2_a_body_json_cannot_read_says_why(case, route, tfidf_http):
    """Round 2: a JSON body with Latin-1 bytes, nested 5,000 deep, or holding a 5,000-digit
    number was a 400 "There was an error parsing the body" (type http_error) on every route:
    FastAPI's words for anything json.loads raises besides a syntax error. Now the 400 says what
    is wrong with the body, in each protocol's error shape."""
    body, reason = UNPARSED_BODIES[case]

    response = tfidf_http.post(route, content=body, headers={"Content-Type": "application/json"})

    assert response.status_code == 400, response.text
    error = response.json()["error"]
    message = error if isinstance(error, str) else error["message"]
    assert "not valid JSON" in message and reason in message, message
    if route.startswith("/v1"):
        assert error["type"] == "invalid_json"


def _numbered_by(folder: Path, classes: list[str], ag_news_dir: Path) -> Path:
    """ag_news_tiny's test split with each label written as its index in `classes`, which are
    listed in classes.txt beside it."""
    names = ["World", "Sports", "Business", "Sci/Tech"]
    rows = []
    for line in (ag_news_dir / "test.csv").read_text(encoding="utf-8").splitlines():
        index, title, description = next(csv.reader([line]))
        rows.append((f"{title} {description}", classes.index(names[int(index) - 1])))
    lines = [json.dumps({"text": text, "label": label}) for text, label in rows]
    write_file(folder, "test.jsonl", "\n".join(lines) + "\n")
    write_file(folder, "classes.txt", "\n".join(classes) + "\n")
    return folder


def test_round2_evaluate_reads_class_numbers_by_the_datas_classes_txt(
    tfidf_run, ag_news_dir, tmp_path
):
    """Round 2: `evaluate RUN --data FOLDER` whose labels are numbers indexing the folder's own
    classes.txt, listed in another order than the run's classes, read each number as the run's
    class at that index instead: accuracy 0.11 for a run at 0.69, without a word. The numbers now
    index the data's classes.txt, whose names are the run's."""
    expected = attentext.evaluate(tfidf_run, ag_news_dir).accuracy
    folder = _numbered_by(
        tmp_path / "sorted", ["Business", "Sci/Tech", "Sports", "World"], ag_news_dir
    )

    assert attentext.evaluate(tfidf_run, folder).accuracy == pytest.approx(expected)


def test_round2_evaluate_refuses_a_class_number_naming_a_class_the_run_lacks(tfidf_run, tmp_path):
    """Round 2: the same, with a classes.txt whose first class the run does not have: rows
    numbered 0 (Politics) were scored as the run's first class (World); now a one-line DataError
    names the row and the class."""
    folder = tmp_path / "other"
    rows = [("The striker scored twice", 1), ("Parliament passed the budget", 0)]
    write_file(
        folder, "test.jsonl", "".join(json.dumps({"text": t, "label": n}) + "\n" for t, n in rows)
    )
    write_file(folder, "classes.txt", "Politics\nSports\n")

    with pytest.raises(DataError, match="row 2: label '0' is the class 'Politics'") as error:
        attentext.evaluate(tfidf_run, folder)
    one_line(error.value)


@pytest.mark.parametrize(
    "data", [None, ["Stocks rally", "The striker scored"]], ids=["none", "texts"]
)
def test_round2_data_that_is_not_a_path_or_a_name_is_a_type_error(data, tfidf_run, tmp_path):
    """Round 2: `attentext.train(recipe, None, out)` (or a list of texts as data) was sent to the
    Hugging Face hub as the dataset 'None' (online: about 20 s of retries) and came back as
    "not a local file or folder, and loading it as a Hugging Face dataset failed"; `evaluate`
    the same. Now a TypeError says what `data` must be, before anything is written."""
    with pytest.raises(TypeError, match="data must be a path"):
        attentext.train("tfidf-logreg", data, tmp_path / "run")
    with pytest.raises(TypeError, match="data must be a path"):
        attentext.evaluate(tfidf_run, data)
    assert not (tmp_path / "run").exists()
