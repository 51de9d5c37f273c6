"""Distillation: the student learns the teacher's probabilities (cached once) on the training
texts and unlabeled ones; the loss is the one written in the docs; the student is a normal run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import yaml

import attentext
from attentext.errors import AttentextNote, RecipeError, RunDirError
from attentext.training.distill import (
    IGNORE,
    MASK,
    STUDENT_BIGRAM_BUCKETS,
    augmented_texts,
    distillation_loss,
    keeping_final_weights,
    reading_word_pairs,
)


def test_the_loss_is_alpha_ce_plus_t2_kl_by_hand():
    student = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]])
    teacher = torch.tensor([[1.0, 2.0, 0.0], [0.0, 3.0, 0.0]])
    labels = torch.tensor([0, IGNORE])
    t, alpha = 2.0, 0.3

    def softmax(row):
        e = [math.exp(x / t) for x in row]
        return [v / sum(e) for v in e]

    kl = 0.0
    for s_row, t_row in zip(student.tolist(), teacher.tolist(), strict=True):
        p, q = softmax(t_row), softmax(s_row)
        kl += sum(pi * math.log(pi / qi) for pi, qi in zip(p, q, strict=True))
    kl /= 2  # batchmean
    first = student[0].tolist()
    ce = -(first[0] - math.log(sum(math.exp(x) for x in first)))  # only row 0 is labelled
    expected = alpha * ce + (1 - alpha) * t * t * kl

    got = distillation_loss(student, teacher, labels, t, alpha)
    assert got.item() == pytest.approx(expected, rel=1e-5)


def test_the_mse_term_is_the_squared_distance_of_the_logits_by_hand():
    student = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]])
    teacher = torch.tensor([[1.0, 2.0, 0.0], [0.0, 3.0, 0.0]])
    labels = torch.tensor([0, IGNORE])
    squared = [(1.0 + 4.0 + 1.0), (0.25 + 6.25 + 0.0)]  # (student - teacher)^2 summed per row
    first = student[0].tolist()
    ce = -(first[0] - math.log(sum(math.exp(x) for x in first)))
    expected = 0.3 * ce + 0.7 * sum(squared) / 2

    for temperature in (1.0, 4.0):  # the temperature plays no part in it
        got = distillation_loss(student, teacher, labels, temperature, 0.3, "mse")
        assert got.item() == pytest.approx(expected, rel=1e-6)


def test_with_several_labels_each_label_is_distilled_by_its_binary_cross_entropy_by_hand():
    student = torch.tensor([[2.0, -1.0], [0.5, 0.0]])
    teacher = torch.tensor([[1.0, -3.0], [-2.0, 1.0]])
    labels = torch.tensor([[1.0, 0.0], [IGNORE, IGNORE]])  # the second text has no label set
    t, alpha = 2.0, 0.3

    def sigmoid(x):
        return 1 / (1 + math.exp(-x))

    def bce(z, y):
        return -(y * math.log(sigmoid(z)) + (1 - y) * math.log(1 - sigmoid(z)))

    pairs = list(zip(student.flatten().tolist(), teacher.flatten().tolist(), strict=True))
    soft = sum(bce(s / t, sigmoid(q / t)) for s, q in pairs) / 4  # every (text, label) pair
    hard = (bce(2.0, 1.0) + bce(-1.0, 0.0)) / 2  # the labelled text's two pairs
    expected = alpha * hard + (1 - alpha) * t * t * soft

    got = distillation_loss(student, teacher, labels, t, alpha, multi_label=True)
    assert got.item() == pytest.approx(expected, rel=1e-5)


def test_a_batch_of_unlabeled_texts_learns_from_the_teacher_alone():
    student, teacher = torch.randn(3, 4), torch.randn(3, 4)
    unlabeled = torch.full((3,), IGNORE)
    soft = distillation_loss(student, teacher, None, 2.0, 0.0)
    assert distillation_loss(student, teacher, unlabeled, 2.0, 0.5).item() == pytest.approx(
        0.5 * soft.item(), rel=1e-6
    )


@pytest.fixture(scope="module")
def teacher(ag_news_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("distill") / "teacher"
    attentext.train("seed-transformer", ag_news_dir, out, epochs=4, precision="fp32")
    return out


@pytest.fixture(scope="module")
def unlabeled(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("unlabeled") / "unlabeled.txt"
    lines = [f"Stocks and markets report number {i} on shares and oil" for i in range(30)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _distill(
    teacher: Path,
    data: Path,
    out: Path,
    unlabeled: Path | None = None,
    augment: int = 0,
    overrides: list[str] | None = None,
    **extra,
):
    sets = [f"distill.teacher={teacher}", f"distill.augment={augment}", *(overrides or [])]
    if unlabeled is not None:
        sets.append(f"distill.unlabeled={unlabeled}")
    return attentext.train(
        "seed-transformer", data, out, epochs=2, precision="fp32", overrides=sets, **extra
    )


def test_a_student_is_a_normal_run_that_records_its_teacher(
    teacher, unlabeled, ag_news_dir, tmp_path
):
    result = _distill(teacher, ag_news_dir, tmp_path / "student", unlabeled)

    facts = result.metrics["distillation"]
    assert facts["teacher"] == str(teacher) and facts["n_unlabeled"] == 30
    recipe = yaml.safe_load((tmp_path / "student" / "recipe.yaml").read_text())
    assert recipe["distill"]["teacher"] == str(teacher)
    assert recipe["training"]["best_metric"] == "last"  # its final weights, trained by `train`
    student = attentext.load(tmp_path / "student", precision="fp32")
    assert student.predict(["Oil prices jump"])[0] in student.labels


def test_unlabeled_texts_that_are_validation_or_test_texts_are_left_out(
    teacher, unlabeled, ag_news_dir, tmp_path
):
    dataset = attentext.load_text_dataset(ag_news_dir)
    copies = [t.upper() for t in dataset.texts("test")[:3]] + [
        "  " + t.replace(" ", "   ") for t in dataset.texts("validation")[:2]
    ]
    pool = tmp_path / "pool.txt"
    pool.write_text(unlabeled.read_text(encoding="utf-8") + "\n".join(copies) + "\n", "utf-8")

    with pytest.warns(AttentextNote, match="5 unlabeled texts are also validation or test"):
        result = _distill(teacher, ag_news_dir, tmp_path / "student", pool)

    facts = result.metrics["distillation"]
    assert facts["n_unlabeled"] == 30 and facts["unlabeled_left_out"] == 5


def test_a_students_epochs_count_every_text_of_its_transfer_set(
    teacher, unlabeled, ag_news_dir, tmp_path
):
    sets = [
        f"distill.teacher={teacher}",
        f"distill.unlabeled={unlabeled}",
        "distill.augment=1",
        "training.auto_steps=20",
    ]
    result = attentext.train(
        "seed-transformer", ag_news_dir, tmp_path / "s", precision="fp32", overrides=sets
    )

    facts = result.metrics["distillation"]
    texts = facts["n_labelled"] + facts["n_unlabeled"] + facts["n_augmented"]
    assert texts == 2 * (facts["n_labelled"] + 30)
    steps_per_epoch = math.ceil(texts / 128)
    expected = max(2, math.ceil(20 / steps_per_epoch))
    assert expected < math.ceil(20 / math.ceil(facts["n_labelled"] / 128))  # not the labelled's
    assert attentext.resolve_recipe(str(tmp_path / "s" / "recipe.yaml")).training.epochs == expected


def test_the_teacher_runs_once_for_the_same_texts(teacher, unlabeled, ag_news_dir, tmp_path):
    first = _distill(teacher, ag_news_dir, tmp_path / "a", unlabeled).metrics["distillation"]
    second = _distill(teacher, ag_news_dir, tmp_path / "b", unlabeled).metrics["distillation"]
    assert second["teacher_logits_cached"] is True
    assert first["n_labelled"] == second["n_labelled"]


@pytest.fixture
def sent_to_teacher(tmp_path, monkeypatch) -> list[str]:
    """Every text the teacher is run on, in order, from an empty cache."""
    from attentext.training import distill

    monkeypatch.setenv("ATTENTEXT_CACHE", str(tmp_path / "cache"))  # nothing cached yet
    texts: list[str] = []
    logits_of = distill._logits_of
    monkeypatch.setattr(
        distill, "_logits_of", lambda t, batch: texts.extend(batch) or logits_of(t, batch)
    )
    return texts


def test_more_noisy_copies_only_send_the_new_copies_to_the_teacher(
    teacher, unlabeled, ag_news_dir, tmp_path, sent_to_teacher
):
    one = _distill(teacher, ag_news_dir, tmp_path / "a", unlabeled, augment=1)
    first = len(sent_to_teacher)
    two = _distill(teacher, ag_news_dir, tmp_path / "b", unlabeled, augment=2)

    facts = one.metrics["distillation"]
    transfer_set = facts["n_labelled"] + facts["n_unlabeled"]
    assert first == 2 * transfer_set  # the texts and their first copy
    assert len(sent_to_teacher) - first == transfer_set  # the second copy alone
    assert two.metrics["distillation"]["teacher_logits_cached"] is False
    again = _distill(teacher, ag_news_dir, tmp_path / "c", unlabeled, augment=2)
    assert again.metrics["distillation"]["teacher_logits_cached"] is True


def test_students_of_one_data_seed_share_the_noisy_copies_and_the_teachers_labels(
    teacher, unlabeled, ag_news_dir, tmp_path, sent_to_teacher
):
    def student(name: str, training_seed: int, data_seed: int) -> None:
        sets = [f"training.seed={training_seed}", f"data.seed={data_seed}"]
        _distill(teacher, ag_news_dir, tmp_path / name, unlabeled, augment=1, overrides=sets)

    student("a", 42, 42)
    first = list(sent_to_teacher)
    student("b", 7, 42)  # another training seed: the same copies, from the cache
    assert sent_to_teacher == first
    student("c", 42, 7)  # another data seed: other copies for the teacher to label
    assert len(sent_to_teacher) > len(first) and set(sent_to_teacher[len(first) :]) - set(first)


def test_a_teacher_with_other_labels_is_refused(teacher, write, tmp_path):
    from conftest import SENTIMENT_ROWS, labelled_csv

    data = write("two.csv", labelled_csv(SENTIMENT_ROWS * 3))
    with pytest.raises(RecipeError, match="teacher's labels"):
        _distill(teacher, data, tmp_path / "student")


def test_a_student_is_never_written_over_or_into_its_teachers(teacher, second_teacher, ag_news_dir):
    """--overwrite used to replace the teacher by its own student (and then crash)."""
    before = {p.name: p.read_bytes() for p in teacher.iterdir() if p.is_file()}
    for output, where in (
        (teacher, "is the teacher run"),
        (teacher / "student", "is inside the teacher run"),
        (second_teacher, "is the teacher run"),  # a teacher of the ensemble
        (teacher.parent, "holds the teacher run"),
    ):
        with pytest.raises(RunDirError, match=where):
            _distill(
                teacher,
                ag_news_dir,
                output,
                overrides=[f"distill.ensemble=[{second_teacher}]"],
                overwrite=True,
            )
    assert {p.name: p.read_bytes() for p in teacher.iterdir() if p.is_file()} == before
    assert not (teacher / "student").exists()


def test_a_frozen_encoder_student_is_refused(teacher, ag_news_dir, tmp_path):
    with pytest.raises(RecipeError, match="trains the whole student"):
        attentext.train(
            "encoder-frozen",
            ag_news_dir,
            tmp_path / "frozen",
            max_steps=1,
            precision="fp32",
            overrides=[f"distill.teacher={teacher}"],
        )


def test_noisy_copies_mask_words_or_keep_an_ngram_and_repeat_for_a_seed():
    texts = [" ".join(f"w{i}" for i in range(40)), "one", "a short headline here"] * 50
    noisy = augmented_texts(texts, 2, seed=3)
    assert len(noisy) == 2 * len(texts) and noisy == augmented_texts(texts, 2, seed=3)
    assert noisy != augmented_texts(texts, 2, seed=4)
    words = [w for copy in noisy[0::3] for w in copy.split()]  # the 40-word texts' copies
    assert 0.05 < words.count(MASK) / len(words) < 0.15  # each word masked with p = 0.1
    for original, copy in zip(texts * 2, noisy, strict=True):
        kept = copy.split()
        assert kept, "a copy is never empty"
        source = original.split()
        # the copy is a run of the original's words, some masked: no word moved or invented
        assert any(
            all(k in (MASK, w) for k, w in zip(kept, source[i:], strict=False))
            for i in range(len(source) - len(kept) + 1)
        ), (original, copy)
    shorter = sum(len(c.split()) < 40 for c in noisy[0::3])
    assert 0.1 < shorter / 100 < 0.4  # an n-gram kept in ~25 % of the copies
    assert augmented_texts(texts, 0, seed=3) == []


def test_a_student_learns_from_the_teachers_answers_on_noisy_copies(teacher, ag_news_dir, tmp_path):
    result = _distill(teacher, ag_news_dir, tmp_path / "noisy", augment=2, max_steps=2)
    facts = result.metrics["distillation"]
    assert facts["n_augmented"] == 2 * facts["n_labelled"]
    saved = yaml.safe_load((tmp_path / "noisy" / "recipe.yaml").read_text())
    assert saved["distill"]["augment"] == 2
    with pytest.raises(RecipeError, match="distill.augment needs distill.teacher"):
        attentext.resolve_recipe("seed-transformer", overrides=["distill.augment=1"])
    with pytest.raises(RecipeError, match="number of copies"):
        attentext.resolve_recipe("seed-transformer", overrides=["distill.augment=-1"])


def test_unlabeled_texts_need_a_teacher():
    with pytest.raises(RecipeError, match="needs distill.teacher"):
        attentext.resolve_recipe("seed-transformer", overrides=["distill.unlabeled=x.txt"])


def test_distill_settings_are_checked():
    with pytest.raises(RecipeError, match="distill.alpha"):
        attentext.resolve_recipe("seed-transformer", overrides=["distill.alpha=2"])
    with pytest.raises(RecipeError, match="distill.loss must be one of kl, mse"):
        attentext.resolve_recipe("seed-transformer", overrides=["distill.loss=l1"])
    json.dumps(attentext.resolve_recipe("seed-transformer").to_dict())  # still plain data


def test_the_distill_command_writes_a_student_run(teacher, unlabeled, ag_news_dir, tmp_path):
    from conftest import run_cli_here

    out = tmp_path / "student"
    result = run_cli_here(
        "distill", teacher, "--student", "seed-transformer", "--data", ag_news_dir,
        "--output", out, "--unlabeled", unlabeled, "--max-steps", "4", "--loss", "mse",
        "--label-prior", "balanced", "--set", "training.precision=fp32",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"Distilled {teacher} into seed-transformer" in " ".join(result.stdout.split())
    recipe = yaml.safe_load((out / "recipe.yaml").read_text())
    assert recipe["distill"]["loss"] == "mse"
    assert recipe["training"]["best_metric"] == "last"  # a student keeps its final weights
    assert recipe["training"]["label_prior"] == "balanced"
    calibration = json.loads((out / "calibration.json").read_text())
    assert len(calibration["label_prior"]["bias"]) == 4
    assert attentext.load(out).predict(["Oil prices jump"])


def test_a_student_keeps_its_final_weights_unless_told_otherwise():
    def kept(overrides: list[str], recipe: str = "seed-transformer") -> str:
        resolved = attentext.resolve_recipe(recipe, overrides=overrides)
        return keeping_final_weights(resolved, overrides).training.best_metric

    teacher = "distill.teacher=runs/teacher"
    assert kept([teacher]) == "last"
    assert kept([]) == "accuracy"  # no teacher: the recipe's own choice
    assert kept([teacher, "training.best_metric = loss"]) == "loss"
    assert kept([teacher, "training.early_stopping_patience=2"], "attention-rnn") == "auto"
    stops_early = attentext.resolve_recipe(
        "seed-transformer", overrides=[teacher, "training.early_stopping_patience=2"]
    )
    assert keeping_final_weights(stops_early).training.best_metric == "accuracy"


def test_a_seed_transformer_student_reads_word_pairs_unless_told_otherwise():
    def buckets(overrides: list[str], recipe: str = "seed-transformer") -> object:
        resolved = attentext.resolve_recipe(recipe, overrides=overrides)
        return reading_word_pairs(resolved, overrides).model.options.get("bigram_buckets")

    teacher = "distill.teacher=runs/teacher"
    assert buckets([teacher]) == STUDENT_BIGRAM_BUCKETS
    assert buckets([]) == 0  # no teacher: the lesson's model
    assert buckets([teacher, "model.options.bigram_buckets = 0"]) == 0
    assert buckets([teacher, "model.options.bigram_buckets=4096"]) == 4096
    assert buckets([teacher], "attention-rnn") is None  # not a model that has the table


@pytest.fixture(scope="module")
def second_teacher(ag_news_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("distill") / "teacher2"
    return Path(attentext.train("tfidf-logreg", ag_news_dir, out).run_dir)


def test_an_ensemble_teaches_the_mean_of_its_teachers_logits(teacher, second_teacher, ag_news_dir):
    from attentext.recipes import DistillSpec
    from attentext.training.distill import teacher_logits

    texts = ["Oil prices jump as OPEC cuts output", "The Yankees win again", "A new chip"]
    labels = attentext.load(teacher).labels
    one, _ = teacher_logits(DistillSpec(teacher=str(teacher)), texts, labels)
    two, _ = teacher_logits(DistillSpec(teacher=str(second_teacher)), texts, labels)
    both, cached = teacher_logits(
        DistillSpec(teacher=str(teacher), ensemble=[str(second_teacher)]), texts, labels
    )
    assert cached is True  # each teacher's logits were cached on their own
    torch.testing.assert_close(torch.from_numpy(both), torch.from_numpy((one + two) / 2))


def test_the_distill_command_takes_an_ensemble(teacher, second_teacher, ag_news_dir, tmp_path):
    from conftest import run_cli_here

    out = tmp_path / "student"
    result = run_cli_here(
        "distill", teacher, "--ensemble", second_teacher, "--student", "seed-transformer",
        "--data", ag_news_dir, "--output", out, "--max-steps", "2", "--set",
        "training.precision=fp32",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"Distilled {teacher} + {second_teacher} into" in " ".join(result.stdout.split())
    facts = json.loads((out / "metrics.json").read_text())["distillation"]
    assert facts["ensemble"] == [str(second_teacher)]
    recipe = yaml.safe_load((out / "recipe.yaml").read_text())
    assert recipe["distill"]["ensemble"] == [str(second_teacher)]


def test_an_ensemble_is_a_list_of_runs_beside_a_teacher():
    with pytest.raises(RecipeError, match="expected a list of strings"):
        attentext.resolve_recipe("seed-transformer", overrides=["distill.ensemble=3"])
    with pytest.raises(RecipeError, match="distill.ensemble needs distill.teacher"):
        attentext.resolve_recipe("seed-transformer", overrides=["distill.ensemble=[a]"])


def test_a_seed_student_of_data_with_a_rare_label_is_told_of_the_temperature(tmp_path):
    from conftest import labelled_csv

    from attentext.data.dataset import load_text_dataset
    from attentext.recipes import resolve_recipe
    from attentext.training.distill import rare_label_note

    rows = [("the market rallied", "Business")] * 100 + [("the team won", "Sports")] * 100
    skewed = tmp_path / "skewed.csv"
    skewed.write_text(labelled_csv(rows + [("what does NASA stand for", "Abbr")] * 3))
    even = tmp_path / "even.csv"
    even.write_text(labelled_csv(rows + [("what does NASA stand for", "Abbr")] * 100))
    skewed_data = load_text_dataset(skewed, val_fraction=0.0)
    student = resolve_recipe("seed-transformer", overrides=["distill.teacher=runs/teacher"])
    note = rare_label_note(student, skewed_data)
    assert note is not None and "'Abbr' is 1.5%" in note and "--temperature 1" in note
    assert rare_label_note(student, load_text_dataset(even, val_fraction=0.0)) is None
    cool = resolve_recipe(student, overrides=["distill.temperature=1"])
    assert rare_label_note(cool, skewed_data) is None
    rnn = resolve_recipe("attention-rnn", overrides=["distill.teacher=runs/teacher"])
    assert rare_label_note(rnn, skewed_data) is None  # its students kept the label at 2
