"""README audit, round 8: what the README says of the Python API and of `--help` holds.

`attentext.auto` and `attentext.tune` take their budget as the CLI does (`"15m"`, or seconds);
a run directory that exists tells a Python caller what to pass.
"""

from __future__ import annotations

import pytest
from conftest import run_cli_here

import attentext
from attentext.automl.budget import BudgetError
from attentext.errors import RecipeError, RunDirError

# --- 1. auto's budget and tune's timeout: the CLI's duration strings, or seconds ------------------


def test_python_reads_durations_as_the_cli_does():
    from attentext.automl.budget import seconds_given  # new here: the old code fails only this test

    assert seconds_given("15m", "budget") == 900
    assert seconds_given(90, "budget") == 90 and seconds_given(2.5, "budget") == 2.5
    assert seconds_given("45", "timeout", bare_seconds=True) == 45  # as --timeout 45


@pytest.mark.parametrize("budget", ["1s", 1])
def test_auto_takes_its_budget_as_a_duration_or_seconds(ag_news_dir, tmp_path, budget):
    # the budget is read, then found too small for the baseline: refused before any training
    with pytest.raises(BudgetError, match="^--budget 1s is too small for even the baseline"):
        attentext.auto(ag_news_dir, tmp_path / "auto", budget)
    assert not (tmp_path / "auto").exists()


def test_tune_takes_its_timeout_as_a_duration(ag_news_dir, tmp_path):
    result = attentext.tune("tfidf-logreg", ag_news_dir, tmp_path / "tune", trials=1, timeout="30m")
    assert len(result.trials) == 1 and (tmp_path / "tune" / "best.yaml").is_file()


def test_tune_reads_its_timeout_before_anything_else_fails(ag_news_dir, tmp_path):
    with pytest.raises(RecipeError):
        attentext.tune("no-such-recipe", ag_news_dir, tmp_path / "tune", timeout="30m")


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda data, out, value: attentext.auto(data, out, value), "budget"),
        (
            lambda data, out, value: attentext.tune("tfidf-logreg", data, out, timeout=value),
            "timeout",
        ),
    ],
)
@pytest.mark.parametrize(
    ("value", "error", "words"),
    [
        ("15x", BudgetError, "15x: expected a duration such as 90s, 10m or 1h"),
        (0, BudgetError, "0: give a finite number of seconds, more than 0"),
        ([15], TypeError, "must be a number of seconds or a duration such as 90s"),
        (True, TypeError, "must be a number of seconds or a duration such as 90s"),
    ],
)
def test_a_bad_duration_from_python_is_one_line_naming_the_parameter(
    ag_news_dir, tmp_path, call, name, value, error, words
):
    with pytest.raises(error) as caught:
        call(ag_news_dir, tmp_path / "out", value)
    message = str(caught.value)
    assert message.startswith(f"{name} ") and words in message and "\n" not in message
    assert not (tmp_path / "out").exists()


# --- 2. a run directory that exists: what to pass, from the CLI and from Python -------------------

ALREADY_EXISTS = (
    "already exists; choose another --output or pass --overwrite (overwrite=True in Python)"
)


@pytest.mark.parametrize(
    "call",
    [
        lambda data, out: attentext.train("tfidf-logreg", data, out),
        lambda data, out: attentext.tune("tfidf-logreg", data, out, trials=1),
    ],
    ids=["train", "tune"],
)
def test_an_existing_output_tells_a_python_caller_to_pass_overwrite_true(
    ag_news_dir, tmp_path, call
):
    output = tmp_path / "seed"
    output.mkdir()
    (output / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(RunDirError) as caught:
        call(ag_news_dir, output)
    assert str(caught.value) == f"{output}: {ALREADY_EXISTS}"
    assert (output / "notes.txt").read_text(encoding="utf-8") == "mine"


def test_the_cli_says_the_same_of_an_existing_output(ag_news_dir, tmp_path):
    output = tmp_path / "seed"
    output.mkdir()
    (output / "notes.txt").write_text("mine", encoding="utf-8")
    result = run_cli_here("train", "tfidf-logreg", "--data", ag_news_dir, "--output", output)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == f"error: {output}: {ALREADY_EXISTS}"


# --- 3. `--help` says what --max-steps does -------------------------------------------------------


def _help(command: str) -> str:
    result = run_cli_here(command, "--help")
    assert result.returncode == 0, result.stderr
    return " ".join(result.stdout.replace("│", " ").split())  # rich's box and line ends away


@pytest.mark.parametrize("command", ["train", "distill"])
def test_max_steps_is_said_to_set_the_steps_not_to_cap_them(command):
    text = _help(command)
    assert "--max-steps <int> Train this many optimizer steps (overrides --epochs;" in text
    assert "Stop after this many" not in text


# --- 4. `--help` says what --precision auto picks -------------------------------------------------


def test_precision_auto_is_said_to_take_fp16_on_a_gpu_without_bf16():
    # precision.resolve_precision: bf16 on a GPU that supports it, else fp16; on a CPU, bf16 only
    # with native bf16 and a timed gain (BF16_MIN_SPEEDUP), else fp32
    text = _help("train")
    assert (
        "auto: on a GPU, bf16 where the GPU supports it, else fp16; on a CPU, bf16 where the CPU "
        "has native bf16 and the model is timed clearly faster in it, else fp32." in text
    )


def test_data_aware_epochs_count_the_steps_of_every_process(monkeypatch):
    """Under torchrun each process reads a batch a step: the epochs making ~1,200 steps count
    the processes (two made ~600 steps: the epochs were one process's)."""
    from attentext.data.defaults import auto_epochs

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    alone = auto_epochs(14_427, 128, 1_200, 0)
    monkeypatch.setenv("WORLD_SIZE", "2")
    two = auto_epochs(14_427, 128, 1_200, 0)
    assert (alone.value, two.value) == (11, 22)
    assert "57 an epoch" in two.why


def test_distill_refuses_a_pool_of_held_out_texts_only_before_anything_is_written(
    ag_news_dir, tmp_path
):
    """distill --unlabeled FILE where every text is a test text: the few-shot recipe refused
    such a pool in one line; distill trained on the labelled texts alone, with a note."""
    import pandas as pd

    teacher = tmp_path / "teacher"
    attentext.train("seed-transformer", ag_news_dir, teacher, max_steps=2, precision="fp32")
    test = pd.read_csv(ag_news_dir / "test.csv", header=None)
    pool = tmp_path / "test.txt"
    pool.write_text("\n".join(test[1] + " " + test[2]) + "\n", encoding="utf-8")
    out = tmp_path / "student"

    result = run_cli_here(
        "distill", teacher, "--student", "seed-transformer", "--data", ag_news_dir,
        "--unlabeled", pool, "--output", out, "--max-steps", "1",
    )  # fmt: skip

    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert lines[-1].startswith("error: ") and "all validation or test texts" in lines[-1]
    assert "--unlabeled" in lines[-1]
    assert not out.exists() and not out.with_name("student.partial").exists()
