"""Hostile inputs, round 14: the small items round 13 left (docs/reliability.md, "Left (round 13)").

R14-X1  `train(..., epoch=2)`: "resolve_recipe() got an unexpected keyword argument 'epoch'",
        naming a function the user never called, without a did-you-mean (distill likewise)
R14-X2  `load(None)`, `evaluate(..., output=123)`, `summary(None)`, `train(..., output=None)`,
        `distill(teacher=None, ...)` and every other public path parameter: pathlib's "expected
        str, bytes or os.PathLike object, not NoneType", naming no parameter
R14-X3  `--set distill.unlabeled=~/x` (any path setting of a recipe: distill.teacher,
        distill.ensemble, fewshot.unlabeled, model.encoder; from --set, a YAML file or Python):
        "~/x: file not found", and recipe.yaml recorded `~/...` as given
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import run_cli_here

import attentext
from attentext.export.onnx import export_onnx

D = "data-folder"  # a data argument the path checks never reach: they come first


@pytest.fixture(scope="module")
def tfidf_run(ag_news_dir, tmp_path_factory) -> Path:
    """One TF-IDF run on ag_news_tiny (a second)."""
    out = tmp_path_factory.mktemp("r14-left") / "tf"
    return attentext.train("tfidf-logreg", ag_news_dir, out).run_dir


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """HOME set to a fresh folder; the working folder another one."""
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    return home


# R14-X1 ------------------------------------------------------------------------------------------


def test_r14_x1_a_misspelt_keyword_names_the_function_called_and_the_closest_one(tmp_path):
    """The TypeError names the public function called and the keyword meant; nothing written."""
    out = tmp_path / "out"
    cases = [
        (lambda: attentext.train("tfidf-logreg", D, out, epoch=2), "train", "epoch", "epochs"),
        (
            lambda: attentext.train("tfidf-logreg", D, out, overwite=True),
            "train",
            "overwite",
            "overwrite",
        ),
        (
            lambda: attentext.distill("t", "seed-transformer", D, out, epoch=2),
            "distill",
            "epoch",
            "epochs",
        ),
        (
            lambda: attentext.distill("t", "seed-transformer", D, out, temprature=3),
            "distill",
            "temprature",
            "temperature",
        ),
        (
            lambda: attentext.distill("t", "seed-transformer", D, out, log_line=False),
            "distill",
            "log_line",
            "log_lines",
        ),
    ]
    for call, called, given, meant in cases:
        with pytest.raises(TypeError) as caught:
            call()
        message = str(caught.value)
        assert message == (
            f"{called}() got an unexpected keyword argument '{given}'; did you mean '{meant}'?"
        )
    assert not out.exists() and not (tmp_path / "out.partial").exists()


def test_r14_x1_a_keyword_far_from_any_lists_those_taken(tmp_path):
    with pytest.raises(TypeError) as caught:
        attentext.train("tfidf-logreg", D, tmp_path / "out", zzz=1)
    message = str(caught.value)
    assert message.startswith("train() got an unexpected keyword argument 'zzz' (known: ")
    assert "epochs" in message and "overwrite" in message and "\n" not in message


# R14-X2 ------------------------------------------------------------------------------------------

OUT = "out-folder"
PATH_CASES = {
    "load-None": (lambda r: attentext.load(None), "run_dir", "None"),
    "load-123": (lambda r: attentext.load(123), "run_dir", "123"),
    "load-bytes": (lambda r: attentext.load(b"runs/x"), "run_dir", "b'runs/x'"),
    "evaluate-run": (lambda r: attentext.evaluate(None, D), "run_dir", "None"),
    "evaluate-output": (lambda r: attentext.evaluate(r, D, output=123), "output", "123"),
    "compare-run": (lambda r: attentext.compare([r, None], D), "run_dirs[1]", "None"),
    "compare-output": (lambda r: attentext.compare([r], D, output=1.5), "output", "1.5"),
    "explain-output": (lambda r: attentext.explain(r, ["a text"], output_dir=7), "output_dir", "7"),
    "summary": (lambda r: attentext.summary(None), "recipe_or_run", "None"),
    "train-output": (lambda r: attentext.train("tfidf-logreg", D, None), "output", "None"),
    "train-recipe": (lambda r: attentext.train(None, D, OUT), "recipe", "None"),
    "resolve_recipe": (lambda r: attentext.resolve_recipe(3), "recipe", "3"),
    "load_recipe": (lambda r: attentext.load_recipe(None), "name_or_path", "None"),
    "distill-teacher": (
        lambda r: attentext.distill(None, "seed-transformer", D, OUT),
        "teacher",
        "None",
    ),
    "distill-student": (lambda r: attentext.distill(r, None, D, OUT), "student", "None"),
    "distill-unlabeled": (
        lambda r: attentext.distill(r, "seed-transformer", D, OUT, unlabeled=5),
        "unlabeled",
        "5",
    ),
    "distill-ensemble": (
        lambda r: attentext.distill(r, "seed-transformer", D, OUT, ensemble=[None]),
        "ensemble[0]",
        "None",
    ),
    "distill-output": (
        lambda r: attentext.distill(r, "seed-transformer", D, None),
        "output",
        "None",
    ),
    "tune-output": (lambda r: attentext.tune("tfidf-logreg", D, None), "output", "None"),
    "auto-output": (lambda r: attentext.auto(D, None, "1m"), "output", "None"),
    "ensemble-run": (lambda r: attentext.ensemble([r, None], D, OUT), "run_dirs[1]", "None"),
    "ensemble-output": (lambda r: attentext.ensemble([r, r], D, None), "output", "None"),
    "recalibrate-run": (lambda r: attentext.recalibrate(None, D), "run_dir", "None"),
    "recalibrate-reference": (lambda r: attentext.recalibrate(r, D, reference=1), "reference", "1"),
    "recalibrate_labels-run": (lambda r: attentext.recalibrate_labels(None, D), "run_dir", "None"),
    "set_label_prior-run": (
        lambda r: attentext.set_label_prior(None, "balanced"),
        "run_dir",
        "None",
    ),
    "set_label_prior-texts": (
        lambda r: attentext.set_label_prior(r, "estimated", texts=1),
        "texts",
        "1",
    ),
    "export-run": (lambda r: export_onnx(None), "run_dir", "None"),
    "export-output": (lambda r: export_onnx(r, 2), "output", "2"),
}


@pytest.mark.parametrize("case", list(PATH_CASES))
def test_r14_x2_a_path_parameter_of_another_type_is_named_in_one_line(case, tmp_path):
    """Each public path parameter given None, a number or bytes: one TypeError naming the
    parameter and the value, before any file is read or written (the run named need not exist:
    the checks come first)."""
    call, parameter, value = PATH_CASES[case]
    with pytest.raises(TypeError) as caught:
        call(str(tmp_path / "no-run"))
    message = str(caught.value)
    assert message.startswith(f"{parameter} must be "), message
    assert message.endswith(f", not {value}"), message
    assert "\n" not in message and "PathLike object" not in message
    assert list(tmp_path.iterdir()) == []


# R14-X3 ------------------------------------------------------------------------------------------


def test_r14_x3_path_settings_of_a_recipe_read_a_leading_tilde_as_home(home):
    """From --set (overrides), a YAML file and a Recipe object alike; a hub name and a path
    without `~` are kept as written."""
    sets = [
        "distill.teacher=~/runs/tf",
        "distill.unlabeled=~/pool.txt",
        'distill.ensemble=["~/runs/a", "runs/b"]',
        "model.encoder=~/encoders/mini",
    ]
    recipe = attentext.resolve_recipe("seed-transformer", overrides=sets)
    assert recipe.distill.teacher == str(home / "runs" / "tf")
    assert recipe.distill.unlabeled == str(home / "pool.txt")
    assert recipe.distill.ensemble == [str(home / "runs" / "a"), "runs/b"]
    assert recipe.model.encoder == str(home / "encoders" / "mini")
    raw = attentext.load_recipe("encoder-fewshot").to_dict()
    raw["fewshot"]["unlabeled"] = "~/pool.txt"
    raw["model"]["encoder"] = "sentence-transformers/all-MiniLM-L6-v2"
    (home / "mine.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    mine = attentext.load_recipe("~/mine.yaml")
    assert mine.fewshot.unlabeled == str(home / "pool.txt")
    assert mine.model.encoder == "sentence-transformers/all-MiniLM-L6-v2"
    given = attentext.load_recipe("encoder-fewshot")
    given.fewshot.unlabeled = "~/more.txt"  # set on the object from Python
    assert attentext.resolve_recipe(given).fewshot.unlabeled == str(home / "more.txt")


def test_r14_x3_set_distill_unlabeled_with_a_tilde_trains_and_records_the_path(
    home, tfidf_run, ag_news_dir
):
    """The CLI: `--set distill.unlabeled=~/pool.txt` was "~/pool.txt: file not found" (exit 2)
    while `distill --unlabeled ~/pool.txt` (the shell's expansion) read it; recipe.yaml recorded
    a teacher given as `~/runs/tf` as written."""
    shutil.copytree(tfidf_run, home / "runs" / "tf")
    (home / "pool.txt").write_text("A new phone was released today\nThe cup final was won\n")
    out = home / "runs" / "student"
    result = run_cli_here(
        "train", "seed-transformer", "--data", ag_news_dir, "--output", out, "--max-steps", "2",
        "--set", "distill.teacher=~/runs/tf", "--set", "distill.unlabeled=~/pool.txt",
        "--set", "model.embedding_init=random", "--set", "model.options.embed_dim=16",
        cwd=home,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    recorded = yaml.safe_load((out / "recipe.yaml").read_text(encoding="utf-8"))["distill"]
    assert recorded["unlabeled"] == str(home / "pool.txt")
    assert recorded["teacher"] == str(home / "runs" / "tf")
    assert not (home / "~").exists()


# R14-X5 (a control: it held before) ----------------------------------------------------------------


@pytest.mark.parametrize("ext", ["jsonl", "parquet"])
def test_r14_x5_never_apart_labels_are_warned_of_from_a_joined_string_not_from_a_list(
    tmp_path, ext
):
    """A list (`["R&D", "Tech"]`) splits its labels itself: two labels as written, warned about
    since round 15 (R15-D4: labels never apart cannot be learned apart, however written), with
    a list's advice; the same labels as one string cell (`"R&D|Tech"`) are split on `|` and
    warned about, as in a CSV (R13-L1); a list item holding `|` is refused (R11-D2)."""

    def rows(label_of):
        return pd.DataFrame(
            {
                "text": [f"text {i} about things" for i in range(40)],
                "label": [label_of(i) for i in range(40)],
            }
        )

    def write(name, frame):
        path = tmp_path / f"{name}.{ext}"
        if ext == "jsonl":
            frame.to_json(path, orient="records", lines=True, force_ascii=False)
        else:
            frame.to_parquet(path)
        return path

    listed = write("listed", rows(lambda i: ["R&D", "Tech"] if i % 2 else ["Sport"]))
    joined = write("joined", rows(lambda i: "R&D|Tech" if i % 2 else "Sport"))
    held = write("held", rows(lambda i: ["R&D|Tech"] if i % 2 else ["Sport"]))
    for path, advice in ((listed, "merge them into one label"), (joined, "write it without")):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            dataset = attentext.load_text_dataset(path, multi_label=True)
        assert dataset.label_names == ["R&D", "Sport", "Tech"]
        never_apart = [str(w.message) for w in caught if "never apart" in str(w.message)]
        assert len(never_apart) == 1 and advice in never_apart[0], [str(w.message) for w in caught]
    with pytest.raises(attentext.AttentextError, match=r"the label 'R&D\|Tech' holds '\|'"):
        attentext.load_text_dataset(held, multi_label=True)


# R14-X4 ------------------------------------------------------------------------------------------

# a library's cleanup (`__del__`) running when SIGTERM comes, then the command's work going on
IN_A_FINALIZER = """
import sys, time
from attentext.cli.app import terminate_as_interrupt

terminate_as_interrupt()  # as `attentext` itself starts


class Cleanup:
    def __del__(self):
        print("cleaning up", flush=True)
        end = time.monotonic() + 30
        while time.monotonic() < end:  # until the signal's KeyboardInterrupt ends it
            pass


try:
    Cleanup()  # dropped at once: its __del__ runs here
    for _ in range(500):  # 5 s more of the command's work
        time.sleep(0.01)
    print("went on", flush=True)
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(130)
"""


def test_r14_x4_a_sigterm_landing_in_a_finalizer_still_stops_the_command():
    """Python runs a signal's handler wherever the main thread is; in a `__del__` (or a weakref
    callback) the KeyboardInterrupt it raises is only reported ("Exception ignored in ...") and
    the command went on, the SIGTERM lost (as a Ctrl-C there is). It is raised again once the
    finalizer has returned: exit 130, and no "Exception ignored" traceback."""
    child = subprocess.Popen(
        [sys.executable, "-c", IN_A_FINALIZER],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout.readline() == "cleaning up\n"
    child.send_signal(signal.SIGTERM)
    out, err = child.communicate(timeout=60)
    assert (child.returncode, out, err) == (130, "interrupted\n", "")
