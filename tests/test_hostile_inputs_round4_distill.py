"""Hostile inputs, round 4: `distill`, `predict --output`, `summary`, `card` and `compare` on runs
of other kinds (docs/reliability.md, "Hostile inputs, round 4"). Each test failed before its fix.

Findings -> tests
D1. a student recipe that cannot learn from a teacher: `distill --student tfidf-logreg` fitted
    a plain baseline, published it as the "student" and then died on a KeyError traceback;
    `--student encoder-fewshot` tuned pairs for an hour with the teacher ignored;
    `--student encoder-frozen` was refused only after `<output>.partial` was made:
    test_a_student_that_cannot_learn_from_a_teacher_is_refused_before_anything_is_written,
    test_distill_cli_refuses_a_baseline_student_in_one_line,
    test_a_few_shot_student_is_refused
D2. a teacher trained on the same classes as the data, listed in another order (ag_news_tiny's
    classes.txt against a CSV of the same names) was refused as "the teacher's labels (4)
    differ from the data's (4)", after `<output>.partial` was made and word vectors computed;
    a class more or fewer got the same words, naming none. The teacher's logits are now put
    in the data's order by name; other classes are refused first, named:
    test_a_teacher_of_the_same_classes_in_another_order_teaches_each_class_by_name,
    test_a_student_of_the_same_classes_in_another_order_trains,
    test_a_teacher_of_other_classes_is_refused_first_naming_them[more|fewer]
D3. an `--unlabeled` file that is empty, binary, missing or a folder, or a teacher of one label
    per text for data of several, was refused in one line but left an empty (or half-made)
    `<output>.partial` behind, against "for errors before training no <output>.partial":
    test_a_bad_unlabeled_file_leaves_nothing_behind[empty|binary|missing|folder],
    test_a_teacher_of_other_labels_per_text_leaves_nothing_behind (mended by D2's early
    `check_teacher`)
D4. `compare` of runs of the same classes in another order (a student distilled on a CSV of
    names beside its teacher trained on the folder with classes.txt) was refused as "labels
    [...] differ"; a multi-label run after a single-label one was a TypeError traceback
    (`multi_hot`), a single-label run after a multi-label one was scored on label sets; runs of
    other labels were refused with both label lists whole (90 names for Reuters) and no remedy:
    test_compare_scores_runs_of_the_same_classes_in_another_order_by_name,
    test_compare_refuses_runs_of_one_and_several_labels_per_text[single-first|multi-first],
    test_compare_names_what_differs_between_runs_of_other_labels
D5. `summary RUN` of a killed run (only `RUN.partial` there) said "unknown recipe 'RUN'", and
    `summary RUN.partial` "recipe file not found"; `summary seed-transformer --num-labels 0`
    (or -3, or 1) drew a table without a word, `--num-labels 100000000` built a head of
    billions of weights until memory ran out:
    test_summary_of_a_killed_run_says_it_is_unfinished,
    test_summary_refuses_a_number_of_labels_outside_2_to_100000[0|-3|1|100001]
D6. `predict RUN -i texts.txt -o RUN/training_log.jsonl --overwrite` replaced the run's own
    training log (a file its marker lists) with predictions and added an `.errors.jsonl` to the
    run; any `-o RUN/...` put files in a run that its next `train --overwrite` deletes:
    test_predict_output_inside_a_run_directory_is_refused[own-file|new-file|sub-folder]
D7. a distilled student's model card said nothing of its teacher and counted the texts the
    teacher labelled (unlabeled texts, noisy copies) as its train split ("train | 220" for 190
    labelled texts and 30 unlabeled ones):
    test_a_students_card_names_its_teacher_and_counts_its_train_split
D8. `distill TEACHER --student OLD_STUDENT/recipe.yaml` (an earlier student's recipe) kept that
    recipe's `distill.unlabeled` file and `distill.ensemble` teachers without a word, though no
    --unlabeled or --ensemble was given (its temperature, alpha, loss and augment were replaced
    by the command's): test_a_students_recipe_as_student_keeps_none_of_its_old_distillation
D9. a distillation interrupted after a checkpoint (Ctrl-C, kill) was told on the next run "an
    unfinished run is there; pass --resume to continue it", but `distill` had no --resume
    ("No such option"): test_an_interrupted_distillation_resumes_with_the_distill_command
D10. a run's work folder given as a run (`compare R R.partial`, `card R.partial`) said only "not a
    finished attentext run (no attentext.json)", and a missing run pointed to `train --resume`
    (a distillation's too): test_a_work_folder_given_as_a_run_says_how_to_finish_it
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import AG_NEWS_LABELS, run_cli_here
from transformers import TrainerCallback

import attentext
from attentext.errors import AttentextError, DataError, RecipeError, RunDirError
from attentext.recipes import DistillSpec, resolve_recipe
from attentext.training.distill import check_student, teacher_logits

FAST = ["model.embedding_init=random"]  # no word vectors from the encoder: seconds, not tens


@pytest.fixture(scope="module")
def teacher(ag_news_dir, tmp_path_factory) -> Path:
    """A tfidf-logreg teacher on ag_news_tiny (seconds to fit; its labels: World, Sports, ...)."""
    out = tmp_path_factory.mktemp("round4-distill") / "teacher"
    return Path(attentext.train("tfidf-logreg", ag_news_dir, out).run_dir)


def _nothing_at(output: Path) -> bool:
    return not output.exists() and not output.with_name(output.name + ".partial").exists()


@pytest.mark.parametrize("student", ["tfidf-logreg", "encoder-frozen"])
def test_a_student_that_cannot_learn_from_a_teacher_is_refused_before_anything_is_written(
    student, teacher, ag_news_dir, tmp_path
):
    output = tmp_path / "student"
    with pytest.raises(RecipeError, match="trains the whole student"):
        attentext.distill(teacher, student, ag_news_dir, output, max_steps=1)
    assert _nothing_at(output)


def test_distill_cli_refuses_a_baseline_student_in_one_line(teacher, ag_news_dir, tmp_path):
    output = tmp_path / "student"
    result = run_cli_here(
        "distill", teacher, "--student", "tfidf-logreg", "--data", ag_news_dir, "-o", output
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: tfidf-logreg: is fitted in one go")
    assert "Traceback" not in result.stderr
    assert _nothing_at(output)


def test_a_few_shot_student_is_refused(teacher):
    recipe = resolve_recipe("encoder-fewshot", overrides=[f"distill.teacher={teacher}"])
    with pytest.raises(RecipeError, match="cannot learn from a teacher"):
        check_student(recipe, neural=True)


def _named_copy(source: Path, folder: Path, keep=lambda label: True, extra=()) -> Path:
    """ag_news_tiny as text,label CSVs of class names (no classes.txt: the names are read in
    sorted order, not the folder's), rows whose label `keep` accepts, `extra` rows added."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("train.csv", "test.csv"):
        with open(source / name, newline="", encoding="utf-8") as handle:
            rows = [
                (f"{r[1]} {r[2]}".strip(), AG_NEWS_LABELS[int(r[0]) - 1])
                for r in csv.reader(handle)
            ]
        rows = [row for row in rows if keep(row[1])] + list(extra)
        with open(folder / name, "w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows([("text", "label"), *rows])
    return folder


def test_a_teacher_of_the_same_classes_in_another_order_teaches_each_class_by_name(teacher):
    texts = ["Oil prices jump as OPEC cuts output", "The Yankees win again", "A new chip"]
    data_order = sorted(AG_NEWS_LABELS)  # Business, Sci/Tech, Sports, World
    logits, _ = teacher_logits(DistillSpec(teacher=str(teacher)), texts, data_order)
    own, _ = teacher_logits(DistillSpec(teacher=str(teacher)), texts, AG_NEWS_LABELS)
    for row, own_row in zip(logits, own, strict=True):
        for column, name in enumerate(data_order):
            assert row[column] == own_row[AG_NEWS_LABELS.index(name)]
    answers = attentext.load(teacher).predict(texts)
    assert [data_order[i] for i in np.argmax(logits, axis=1)] == list(answers)


def test_a_student_of_the_same_classes_in_another_order_trains(teacher, ag_news_dir, tmp_path):
    data = _named_copy(ag_news_dir, tmp_path / "named")
    result = attentext.distill(
        teacher, "seed-transformer", data, tmp_path / "student", max_steps=1, overrides=FAST
    )
    assert attentext.load(result.run_dir).labels == sorted(AG_NEWS_LABELS)


@pytest.mark.parametrize(
    ("keep", "extra", "named"),
    [
        (
            lambda label: True,
            [("Flu season starts early", "Health")] * 12,
            "the data has Health only",
        ),
        (lambda label: label != "Sci/Tech", [], "the teacher has Sci/Tech only"),
    ],
    ids=["more", "fewer"],
)
def test_a_teacher_of_other_classes_is_refused_first_naming_them(
    keep, extra, named, teacher, ag_news_dir, tmp_path
):
    data = _named_copy(ag_news_dir, tmp_path / "data", keep, extra)
    output = tmp_path / "student"
    with pytest.raises(RecipeError, match=f"teacher's labels differ from the data's \\({named}\\)"):
        attentext.distill(teacher, "seed-transformer", data, output, max_steps=1, overrides=FAST)
    assert _nothing_at(output)


@pytest.mark.parametrize(
    ("name", "content", "said"),
    [
        ("empty.txt", b"", "file is empty"),
        ("binary.bin", bytes(range(256)) * 4, "NUL bytes"),
        ("missing.txt", None, "not found"),
        ("folder", "folder", "is a directory"),
    ],
    ids=["empty", "binary", "missing", "folder"],
)
def test_a_bad_unlabeled_file_leaves_nothing_behind(
    name, content, said, teacher, ag_news_dir, tmp_path
):
    unlabeled = tmp_path / name
    if content == "folder":
        unlabeled.mkdir()
    elif content is not None:
        unlabeled.write_bytes(content)
    output = tmp_path / "student"
    with pytest.raises(AttentextError, match=said):
        attentext.distill(
            teacher, "seed-transformer", ag_news_dir, output, unlabeled=unlabeled, max_steps=1
        )
    assert _nothing_at(output)


def test_a_teacher_of_other_labels_per_text_leaves_nothing_behind(teacher, ag_news_dir, tmp_path):
    data = _named_copy(ag_news_dir, tmp_path / "data")
    output = tmp_path / "student"
    with pytest.raises(RecipeError, match="differ in labels per text"):
        attentext.distill(teacher, "seed-transformer", data, output, max_steps=1, multi_label=True)
    assert _nothing_at(output)


@pytest.fixture(scope="module")
def named_runs(ag_news_dir, tmp_path_factory) -> tuple[Path, Path, Path]:
    """ag_news_tiny as a CSV of names (labels in sorted order), and two tfidf-logreg runs on it:
    one label per text, and several (each text's set holds its one label)."""
    folder = tmp_path_factory.mktemp("round4-named")
    data = _named_copy(ag_news_dir, folder / "data")
    one = attentext.train("tfidf-logreg", data, folder / "one").run_dir
    several = attentext.train("tfidf-logreg", data, folder / "several", multi_label=True).run_dir
    return data, Path(one), Path(several)


def test_compare_scores_runs_of_the_same_classes_in_another_order_by_name(
    teacher, named_runs, tmp_path
):
    data, one, _ = named_runs
    assert attentext.load(teacher).labels != attentext.load(one).labels  # another order
    both = {row["model"]: row["accuracy"] for row in attentext.compare([teacher, one], data)}
    alone = {
        row["model"]: row["accuracy"]
        for run in (teacher, one)
        for row in attentext.compare([run], data)
    }
    assert both == alone and both[teacher.name] > 0.5


@pytest.mark.parametrize("multi_first", [False, True], ids=["single-first", "multi-first"])
def test_compare_refuses_runs_of_one_and_several_labels_per_text(multi_first, named_runs, tmp_path):
    data, one, several = named_runs
    runs = [several, one] if multi_first else [one, several]
    with pytest.raises(DataError, match="several labels per text, .* one; compare runs of one"):
        attentext.compare(runs, data, tmp_path / "leaderboard")
    assert not (tmp_path / "leaderboard").exists()


def test_compare_names_what_differs_between_runs_of_other_labels(teacher, ag_news_dir, tmp_path):
    data = _named_copy(ag_news_dir, tmp_path / "fewer", lambda label: label != "Sci/Tech")
    fewer = attentext.train("tfidf-logreg", data, tmp_path / "fewer-run").run_dir
    result = run_cli_here("compare", teacher, fewer, "--data", ag_news_dir, "-o", tmp_path / "lb")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {fewer}: its labels differ from {teacher}'s (it lacks Sci/Tech); compare runs "
        "trained on the same labels"
    ]


def test_summary_of_a_killed_run_says_it_is_unfinished(tmp_path):
    killed = tmp_path / "killed"
    (tmp_path / "killed.partial").mkdir()
    (tmp_path / "killed.partial" / "run.json").write_text("{}", encoding="utf-8")
    with pytest.raises(RunDirError, match=r"run directory not found; an unfinished run is in"):
        attentext.summary(killed)
    with pytest.raises(RunDirError, match=r"not a finished attentext run"):
        attentext.summary(tmp_path / "killed.partial")
    result = run_cli_here("summary", killed)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("num_labels", [0, -3, 1, 100_001])
def test_summary_refuses_a_number_of_labels_outside_2_to_100000(num_labels):
    with pytest.raises(AttentextError, match=f"--num-labels {num_labels}: a classifier has 2 to"):
        attentext.summary("seed-transformer", num_labels=num_labels)


@pytest.mark.parametrize(
    "inside",
    ["training_log.jsonl", "predictions.csv", "sub/predictions.jsonl"],
    ids=["own-file", "new-file", "sub-folder"],
)
def test_predict_output_inside_a_run_directory_is_refused(inside, teacher, tmp_path):
    run = Path(shutil.copytree(teacher, tmp_path / "run"))
    (run / "training_log.jsonl").write_text('{"step": 1}\n', encoding="utf-8")
    before = sorted((p.relative_to(run), p.read_bytes()) for p in run.rglob("*") if p.is_file())
    texts = tmp_path / "texts.txt"
    texts.write_text("Oil prices jump\nThe Yankees win again\n", encoding="utf-8")
    output = run / inside
    result = run_cli_here("predict", run, "-i", texts, "-o", output, "--overwrite")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {output}: is inside the run directory {run}; write the predictions outside it"
    ]
    after = sorted((p.relative_to(run), p.read_bytes()) for p in run.rglob("*") if p.is_file())
    assert after == before and not (run / "sub").exists()


def test_a_students_card_names_its_teacher_and_counts_its_train_split(
    teacher, ag_news_dir, tmp_path
):
    unlabeled = tmp_path / "unlabeled.txt"
    unlabeled.write_text(
        "".join(f"Markets report number {i} on shares\n" for i in range(30)), encoding="utf-8"
    )
    student = attentext.distill(
        teacher,
        "seed-transformer",
        ag_news_dir,
        tmp_path / "student",
        unlabeled=unlabeled,
        max_steps=1,
        overrides=FAST,
    ).run_dir
    card = (Path(student) / "README.md").read_text(encoding="utf-8")
    assert "| train | 190 |" in card
    assert (
        f"Distilled from the teacher run(s) `{teacher}`: the student learned their "
        "probabilities on 190 training texts, 30 unlabeled texts, each labelled by the teacher"
    ) in card


def test_a_students_recipe_as_student_keeps_none_of_its_old_distillation(
    teacher, ag_news_dir, tmp_path
):
    unlabeled = tmp_path / "unlabeled.txt"
    unlabeled.write_text("".join(f"Markets report {i}\n" for i in range(30)), encoding="utf-8")
    old = resolve_recipe(
        "seed-transformer",
        overrides=[
            f"distill.teacher={teacher}",
            f"distill.unlabeled={unlabeled}",
            f"distill.ensemble=[{teacher}]",
        ],
    )
    recipe = tmp_path / "old-student.yaml"
    recipe.write_text(old.to_yaml(), encoding="utf-8")
    result = attentext.distill(
        teacher, recipe, ag_news_dir, tmp_path / "student", max_steps=1, overrides=FAST
    )
    facts = result.metrics["distillation"]
    assert facts["n_unlabeled"] == 0 and "ensemble" not in facts


class _InterruptAt(TrainerCallback):
    """Ctrl-C at a training step, as a user would press it."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201
        if state.global_step == self.step:
            raise KeyboardInterrupt


def test_an_interrupted_distillation_resumes_with_the_distill_command(
    teacher, ag_news_dir, tmp_path
):
    output = tmp_path / "student"
    sets = [*FAST, "training.batch_size=64", "training.group_by_length=false"]
    with pytest.raises(KeyboardInterrupt):  # 3 steps an epoch: a checkpoint at 3, stopped at 4
        attentext.distill(
            teacher,
            "seed-transformer",
            ag_news_dir,
            output,
            max_steps=6,
            overrides=sets,
            callbacks=[_InterruptAt(4)],
        )
    assert not output.exists() and (tmp_path / "student.partial").is_dir()
    args = ["distill", teacher, "--student", "seed-transformer", "--data", ag_news_dir]
    args += ["-o", output, "--max-steps", "6", *(f"--set={item}" for item in sets)]
    assert "pass --resume" in run_cli_here(*args).stderr
    result = run_cli_here(*args, "--resume")
    assert result.returncode == 0, result.stderr
    assert attentext.load(output).labels == AG_NEWS_LABELS


def test_a_work_folder_given_as_a_run_says_how_to_finish_it(tmp_path):
    """`compare R R.partial`, `card R.partial`, `load(R.partial)` said only "not a finished
    attentext run": now that it is an unfinished run's work folder and what finishes it."""
    work = tmp_path / "killed.partial"
    (work / "checkpoints" / "checkpoint-4").mkdir(parents=True)
    (work / "run.json").write_text("{}", encoding="utf-8")
    message = r"work folder of an unfinished run: the same command, with --resume, finishes it"
    with pytest.raises(RunDirError, match=message):
        attentext.load(work)
    result = run_cli_here("card", work)
    assert result.returncode == 2 and "--resume, finishes it into" in result.stderr
    # a run that trains in one go (tfidf-logreg, encoder-fewshot) keeps no checkpoint and
    # refuses --resume, which the hint named for it too (round 6's audit)
    shutil.rmtree(work / "checkpoints")
    with pytest.raises(RunDirError, match=r"run again as it was \(it kept no checkpoint"):
        attentext.load(work)
    with pytest.raises(RunDirError, match=r"killed.partial \(the command that started it, run"):
        attentext.load(tmp_path / "killed")
