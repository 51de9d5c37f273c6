"""Hostile inputs, round 10: `distill`, `auto`, `tune`, `ensemble`, `compare`, `explain` and the
Python API given unusual values. Each test failed before its fix:

R10-C1 `train|distill|ensemble ... --output notes.txt/run` (a folder inside a file): a
       FileExistsError traceback from the lock's mkdir (distill after loading its teacher).
       One line before anything is read (`workdir.check_folders_above`).
R10-C2 `distill T --augment 1000000000`: taken; noisy copies drawn in a Python loop without
       end (190 billion on ag_news_tiny), `<output>.partial` left. At most 10,000,000 copies,
       refused before the teacher loads (`distill.check_noisy_copies`).
R10-C3 `ensemble R R/` or `ensemble R LINK_TO_R`: "two runs are named 'R'; ... rename or copy
       one", advice that weighs one model twice as an ensemble. Said to be one run given twice
       (`ensemble._check_each_once`, as `compare` and `serve` say it).
R10-C4 `explain TFIDF_RUN "text" --layer 3 --head 5` (or layer/head= in Python): ignored
       without a word, the n-grams shown as if no matrix were chosen. Refused in one line
       before anything is written, as occlusion refuses them (`explain._read_attention`).
R10-C5 `attentext.train(..., overrides="training.epochs=1")` (also `distill`, `tune`,
       `resolve_recipe`, `load_recipe`), or a dict `{"training.epochs": 1}`, or a list of
       (key, value) tuples: the string read character by character ("--set t: expected
       key=value"), the dict by its keys, the tuples an AttributeError traceback. One
       `TypeError` naming what overrides must be and how to write them
       (`recipes.override_list`).
R10-C6 Ctrl-C in `train`, `distill`, `compare` (any command but tune and predict --output):
       exit 130 without a word, where `main` was to say how to go on (`--resume`): Typer 0.29
       answers a KeyboardInterrupt with Exit(130) itself, so `main`'s handler never ran. Carried
       past Typer (`cli.app.carrying_interrupt`): one line, for train and distill naming
       --resume; predict --output keeps its own line, once.
R10-C7 `train tfidf-logreg --epochs 7 --max-steps 3 --batch-size 8 --precision bf16` (or
       `--set training.learning_rate=0.5`; `tune tfidf-logreg --precision bf16`): recorded in
       recipe.yaml, the same model fitted, without a word. One note naming them
       (`training.run.one_fit_ignores`); the settings it reads (class weight, calibration,
       label prior, seed) and a recipe's own values give none.
R10-C8 `distill A --ensemble B --ensemble B` (or `--ensemble A`, or B by a link): accepted;
       the student learned the mean of [A, B, B], B counting twice, without a word. A teacher
       named twice is refused before anything is written (`distill.check_each_teacher_once`).
R10-C9 `train|distill|ensemble --output runs/latest --overwrite` where runs/latest is a link to
       a run (or a broken link): "is a file, not a run directory", untrue of both. Said to be a
       link, with where it points and what to give instead (`workdir.check_destination`).
R10-C10 Python: `compare("runs/a", data)`, `ensemble("runs/a", ...)`, `distill(...,
       ensemble="runs/b")`, `auto(..., recipes="tfidf-logreg")`: the one path or name read
       character by character: "/: given twice", "/: not a finished attentext run", "is inside
       the teacher run /", "--recipe t". One `TypeError` saying it must be a list
       (`errors.listed`).
R10-C11 Python: `ensemble(..., rounds=2.5)` or `rounds="3"`, `tune(..., trials="2")`,
       `explain(..., layer="0")` or `head=1.0`, `compare(..., limit=10.5)`: builtins TypeError
       and IndexError tracebacks from inside (`'<' not supported between instances of 'str'
       and 'int'`, "only integers, slices ... are valid indices"), scikit-learn's ValueError
       ("test_size=10.5 should be ..."); `trials=1.5` taken. One `TypeError` naming the
       parameter (`errors.whole_number`).
R10-C12 `distill T --temperature 1e-300` (or 1e300): the first trained a student of NaN loss
       (eval_loss NaN, one label for every text) and published it without a word; the second
       an OverflowError traceback with `<output>.partial` left. From 0.01 to 100, refused before
       anything is written (`recipes._validate_distill`).
R10-C13 `train seed-transformer --set training.learning_rate=1e30` (any run that diverges):
       the loss NaN from the first step, the run published as finished (accuracy of one
       label, every probability NaN), without a word. Refused before publishing, saying it
       diverged and how to start over (`training.run._check_finite`); no `<output>`.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from conftest import assert_one_line_error, run_cli_here

import attentext
from attentext.errors import AttentextError, AttentextNote, PrecisionError, RecipeError, RunDirError


@pytest.fixture(scope="module")
def tfidf_run(ag_news_dir, tmp_path_factory) -> Path:
    """A TF-IDF run on ag_news_tiny (seconds)."""
    folder = tmp_path_factory.mktemp("round10cli")
    return Path(attentext.train("tfidf-logreg", ag_news_dir, folder / "tfidf").run_dir)


def test_r10_c1_an_output_inside_a_file_is_one_line(tfidf_run, ag_news_dir, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("mine\n", encoding="utf-8")
    inside = notes / "run"
    commands = [
        ("train", "tfidf-logreg", "--data", ag_news_dir, "--output", inside),
        ("distill", tfidf_run, "--student", "seed-transformer", "-d", ag_news_dir, "-o", inside),
        ("ensemble", tfidf_run, _copy(tfidf_run, tmp_path / "b"), "-d", ag_news_dir, "-o", inside),
    ]
    for command in commands:
        assert_one_line_error(run_cli_here(*command), "is inside", "which is a file")
    with pytest.raises(RunDirError, match="which is a file"):
        attentext.train("tfidf-logreg", ag_news_dir, inside)
    assert notes.read_text(encoding="utf-8") == "mine\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["b", "notes.txt"]


def _copy(run: Path, to: Path) -> Path:
    """A copy of `run` at `to` (another folder name: an ensemble's second member)."""
    shutil.copytree(run, to)
    return to


def test_r10_c2_more_noisy_copies_than_a_distillation_can_hold_is_one_line(
    tfidf_run, ag_news_dir, tmp_path
):
    out = tmp_path / "student"
    result = run_cli_here(
        "distill", tfidf_run, "--student", "seed-transformer", "-d", ag_news_dir, "-o", out,
        "--augment", "1000000000",
    )  # fmt: skip
    assert_one_line_error(result, "190,000,000,000 noisy copies", "--augment 52,631 or fewer")
    with pytest.raises(RecipeError, match="noisy copies"):
        attentext.distill(tfidf_run, "seed-transformer", ag_news_dir, out, augment=10**8)
    assert list(tmp_path.iterdir()) == []


def test_r10_c3_an_ensemble_of_one_run_given_twice_says_so(tfidf_run, ag_news_dir, tmp_path):
    link = tmp_path / "link"
    link.symlink_to(tfidf_run, target_is_directory=True)
    for second in (f"{tfidf_run}/", link):
        result = run_cli_here(
            "ensemble", tfidf_run, second, "-d", ag_news_dir, "-o", tmp_path / "e"
        )
        assert_one_line_error(result, "is given twice", "give each run directory once")
        assert "rename or copy" not in result.stderr
    with pytest.raises(AttentextError, match="given twice"):
        attentext.ensemble([tfidf_run, link], ag_news_dir, tmp_path / "e")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["link"]


def test_r10_c4_explain_of_tfidf_refuses_an_attention_layer_or_head(tfidf_run, tmp_path):
    for option in (("--layer", "3"), ("--head", "5")):
        result = run_cli_here("explain", tfidf_run, "a text", *option, "-o", tmp_path / "x")
        assert_one_line_error(result, "tfidf-logreg has no attention matrix", "leave them out")
    with pytest.raises(AttentextError, match="no attention matrix"):
        attentext.explain(tfidf_run, ["a text"], layer=0)
    assert list(tmp_path.iterdir()) == []
    assert attentext.explain(tfidf_run, ["a text"])  # neither given: its n-grams, as before


@pytest.mark.parametrize(
    ("overrides", "said"),
    [
        ("training.epochs=1", "got a single string"),
        ({"training.epochs": 1}, "got dict"),
        ([("training.epochs", 1)], r"overrides\[0\] is a tuple"),
        ([None], r"overrides\[0\] is a NoneType"),
    ],
    ids=["string", "dict", "tuples", "none-item"],
)
def test_r10_c5_overrides_that_are_not_a_list_of_strings_are_one_type_error(
    overrides, said, tfidf_run, ag_news_dir, tmp_path
):
    calls = [
        lambda: attentext.train("tfidf-logreg", ag_news_dir, tmp_path / "r", overrides=overrides),
        lambda: attentext.distill(
            tfidf_run, "seed-transformer", ag_news_dir, tmp_path / "s", overrides=overrides
        ),
        lambda: attentext.tune("tfidf-logreg", ag_news_dir, tmp_path / "t", overrides=overrides),
        lambda: attentext.load_recipe("tfidf-logreg", overrides),
    ]
    for call in calls:
        with pytest.raises(
            TypeError, match=f"overrides must be a list of 'key=value' strings.*{said}"
        ):
            call()
    assert list(tmp_path.iterdir()) == []
    recipe = attentext.resolve_recipe("tfidf-logreg", overrides=("training.epochs=2",))
    assert recipe.training.epochs == 2  # any sequence of strings, as before


@pytest.mark.parametrize(
    ("argv", "target", "said"),
    [
        (["train", "tfidf-logreg", "-d", "D", "-o", "OUT"], "attentext.training.run.train",
         "the same train command with --resume"),
        (["distill", "RUN", "--student", "seed-transformer", "-d", "D", "-o", "OUT"],
         "attentext.api.distill", "the same distill command with --resume"),
        (["compare", "RUN", "-d", "D", "-o", "OUT"], "attentext.evaluation.evaluate.compare",
         "interrupted"),
        (["predict", "RUN", "-i", "IN", "-o", "OUT/p.jsonl"],
         "attentext.scoring.engine.predict_file", "the same command with --resume continues"),
    ],
    ids=["train", "distill", "compare", "predict-output"],
)  # fmt: skip
def test_r10_c6_ctrl_c_in_a_command_says_so_in_one_line(
    argv, target, said, tfidf_run, ag_news_dir, tmp_path, monkeypatch
):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(target, interrupted)
    texts = tmp_path / "texts.txt"
    texts.write_text("a text\n", encoding="utf-8")
    where = {"D": ag_news_dir, "OUT": tmp_path / "out", "RUN": tfidf_run, "IN": texts}
    result = run_cli_here(*[where.get(arg, arg) for arg in argv])
    assert result.returncode == 130
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("interrupted") and said in result.stderr, result.stderr


def test_r10_c7_training_settings_a_one_go_fit_ignores_are_said(ag_news_dir, tmp_path):
    result = run_cli_here(
        "train", "tfidf-logreg", "-d", ag_news_dir, "-o", tmp_path / "a", "--epochs", "7",
        "--max-steps", "3", "--set", "training.learning_rate=0.5", "--set", "training.seed=3",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stderr.splitlines() if "fitted in one go" in line]
    assert len(notes) == 1, result.stderr
    assert "training.epochs, training.max_steps, training.learning_rate do nothing" in notes[0]
    assert "training.seed" not in notes[0]
    quiet = run_cli_here(
        "train", "tfidf-logreg", "-d", ag_news_dir, "-o", tmp_path / "b", "--class-weight",
        "balanced", "--set", "training.calibrate=false",
    )  # fmt: skip
    assert quiet.returncode == 0 and "fitted in one go" not in quiet.stderr, quiet.stderr
    with pytest.warns(AttentextNote, match="training.precision does nothing"):
        attentext.tune("tfidf-logreg", ag_news_dir, tmp_path / "t", trials=1, precision="bf16")


def test_r10_c8_a_teacher_named_twice_is_refused(tfidf_run, ag_news_dir, tmp_path):
    link = tmp_path / "link"
    link.symlink_to(tfidf_run, target_is_directory=True)
    other = _copy(tfidf_run, tmp_path / "other")
    for ensemble in ([other, other], [tfidf_run], [link]):
        argv = ["distill", tfidf_run, "--student", "seed-transformer", "-d", ag_news_dir]
        argv += ["-o", tmp_path / "s", *[item for run in ensemble for item in ("--ensemble", run)]]
        assert_one_line_error(run_cli_here(*argv), "would count twice", "give each teacher once")
    with pytest.raises(RecipeError, match="count twice"):
        attentext.distill(tfidf_run, "seed-transformer", ag_news_dir, tmp_path / "s",
                          ensemble=[other, f"{other}/"])  # fmt: skip
    assert sorted(path.name for path in tmp_path.iterdir()) == ["link", "other"]


def test_r10_c9_an_output_that_is_a_link_is_said_to_be_one(tfidf_run, ag_news_dir, tmp_path):
    latest = tmp_path / "latest"
    latest.symlink_to(tfidf_run, target_is_directory=True)
    broken = tmp_path / "broken"
    broken.symlink_to(tmp_path / "nowhere")
    for link in (latest, broken):
        result = run_cli_here("train", "tfidf-logreg", "-d", ag_news_dir, "-o", link, "--overwrite")
        assert_one_line_error(result, "is a link (to ", "give the folder itself as --output")
        assert "is a file" not in result.stderr
    with pytest.raises(RunDirError, match="is a link"):
        attentext.train("tfidf-logreg", ag_news_dir, latest, overwrite=True)
    assert latest.is_symlink() and (latest / "attentext.json").is_file()


def test_r10_c10_a_single_path_where_a_list_is_expected_is_one_type_error(
    tfidf_run, ag_news_dir, tmp_path
):
    single = "must be a list of .*, got a single one; write \\["
    calls = [
        lambda: attentext.compare(str(tfidf_run), ag_news_dir, output=tmp_path / "c"),
        lambda: attentext.ensemble(tfidf_run, ag_news_dir, tmp_path / "e"),
        lambda: attentext.distill(
            tfidf_run, "seed-transformer", ag_news_dir, tmp_path / "d", ensemble=str(tfidf_run)
        ),
        lambda: attentext.auto(ag_news_dir, tmp_path / "a", 60, recipes="tfidf-logreg"),
    ]
    for call in calls:
        with pytest.raises(TypeError, match=single):
            call()
    assert list(tmp_path.iterdir()) == []


def test_r10_c11_a_count_or_index_that_is_not_a_whole_number_is_one_type_error(
    tfidf_run, run_dir, ag_news_dir, tmp_path
):
    runs = [tfidf_run, run_dir]
    calls = {
        "rounds": lambda: attentext.ensemble(runs, ag_news_dir, tmp_path / "e", rounds=2.5),
        "trials": lambda: attentext.tune("tfidf-logreg", ag_news_dir, tmp_path / "t", trials="2"),
        "layer": lambda: attentext.explain(run_dir, ["a text"], layer="0"),
        "head": lambda: attentext.explain(run_dir, ["a text"], head=1.0),
        "limit": lambda: attentext.compare([tfidf_run], ag_news_dir, limit=10.5),
    }
    for name, call in calls.items():
        with pytest.raises(TypeError, match=f"^{name} must be a whole number, not "):
            call()
    with pytest.raises(TypeError, match="trials must be a whole number, not 1.5"):
        attentext.tune("tfidf-logreg", ag_news_dir, tmp_path / "t", trials=1.5)
    assert list(tmp_path.iterdir()) == []


def test_r10_c12_a_temperature_the_loss_cannot_hold_is_one_line(tfidf_run, ag_news_dir, tmp_path):
    for temperature in ("1e-300", "1e300", "0.001"):
        result = run_cli_here(
            "distill", tfidf_run, "--student", "seed-transformer", "-d", ag_news_dir,
            "-o", tmp_path / "s", "--temperature", temperature,
        )  # fmt: skip
        assert_one_line_error(result, "distill.temperature", "give one from 0.01 to 100")
    with pytest.raises(RecipeError, match="out of range"):
        attentext.distill(tfidf_run, "seed-transformer", ag_news_dir, tmp_path / "s",
                          temperature=1000.0)  # fmt: skip
    assert list(tmp_path.iterdir()) == []


def _diverged_line(ag_news_dir, out: Path, max_steps: int) -> str:
    """`train` at a learning rate of 1e30 for `max_steps`: its last stderr line, once it is
    checked that the command failed in one line and published nothing."""
    result = run_cli_here(
        "train", "seed-transformer", "-d", ag_news_dir, "-o", out, "--max-steps", str(max_steps),
        "--set", "training.learning_rate=1e30", "--set", "model.embedding_init=random",
    )  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert not out.exists()
    return result.stderr.splitlines()[-1]  # after the data-aware defaults' note and the bars


def test_r10_c13_a_run_that_diverged_is_not_published(ag_news_dir, tmp_path):
    last = _diverged_line(ag_news_dir, tmp_path / "run", 2)  # its weights still numbers at step 1
    assert last.startswith("error: training diverged"), last
    assert "lower training.learning_rate (it was 1e+30)" in last and "--overwrite" in last


def test_r10_c13_a_run_that_diverges_stops_at_the_first_check_not_at_its_last_step(
    ag_news_dir, tmp_path
):
    """Before: a diverged run trained every planned step (an encoder's hours) before the
    outputs were found not numbers. Now the weights are checked after step 1 and every 10."""
    last = _diverged_line(ag_news_dir, tmp_path / "run", 200)
    match = re.search(r"training diverged: its weights at step (\d+) of 200 are not numbers", last)
    assert match, last
    assert int(match.group(1)) <= 10


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_r10_c14_load_refuses_a_device_name_no_engine_runs_whatever_the_run(tfidf_run, backend):
    """Before: a TF-IDF run (and any run on an ONNX backend) took device="gpu" without a word,
    where a PyTorch run refused it; a real device name still loads a CPU engine."""
    with pytest.raises(PrecisionError, match="unknown device 'gpu'") as raised:
        attentext.load(tfidf_run, device="gpu", backend=backend)
    assert "\n" not in str(raised.value)
    with pytest.raises(TypeError, match="device must be a string"):
        attentext.load(tfidf_run, device=0, backend=backend)
    assert attentext.load(tfidf_run, device="cpu", backend=backend).predict(["a text"])
