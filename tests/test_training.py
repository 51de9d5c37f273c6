"""Training publishes a complete, self-describing run directory; loading it predicts the same.

Most tests reuse the session's one trained run (`trained` / `run_dir` in conftest.py); the few
that must train (resume, determinism, class weights) use a handful of steps on ag_news_tiny.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers
from conftest import AG_NEWS_LABELS, InterruptAt, labelled_csv
from transformers import AutoModelForSequenceClassification, AutoTokenizer

import attentext
from attentext.errors import DataError, RunDirError
from attentext.training.trainer import class_weights

TEXTS = [
    "Oil prices jump as OPEC cuts output and stocks slide on Wall Street",
    "The Yankees beat the Red Sox 5-3 to clinch the division title",
    "NASA's new telescope spots water vapour on a distant exoplanet",
    "Rebels attack an army base near the capital",
]


def _log_entries(run: Path) -> list[dict]:
    lines = (run / "training_log.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


# ---------------------------------------------------------------------------------------------
# The run directory
# ---------------------------------------------------------------------------------------------


def test_run_directory_holds_every_file(run_dir):
    for name in (
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "recipe.yaml",
        "metrics.json",
        "training_log.jsonl",
        "attentext.json",
    ):
        assert (run_dir / name).is_file(), name


def test_run_directory_is_pickle_free_and_has_no_checkpoints(run_dir):
    names = [p.name for p in run_dir.rglob("*")]
    assert not [n for n in names if n.endswith((".bin", ".pkl", ".pickle", ".pt", ".pth"))]
    assert not (run_dir / "checkpoints").exists()


def test_no_partial_folder_is_left_behind(run_dir):
    assert not run_dir.with_name(run_dir.name + ".partial").exists()
    assert sorted(p.name for p in run_dir.parent.iterdir()) == [run_dir.name]


def test_marker_lists_the_files_of_the_run(run_dir):
    marker = json.loads((run_dir / "attentext.json").read_text(encoding="utf-8"))

    assert marker["format_version"] == 1
    assert set(marker["files"]) == {p.name for p in run_dir.iterdir()} - {"attentext.json"}


def test_config_has_the_ag_news_label_names(run_dir):
    config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))

    assert config["model_type"] == "attentext-seed-transformer"
    assert config["id2label"] == {"0": "World", "1": "Sports", "2": "Business", "3": "Sci/Tech"}
    assert config["label2id"] == {name: i for i, name in enumerate(AG_NEWS_LABELS)}
    # tokenizer.max_length: auto, decided from the training texts and saved in recipe.yaml
    saved = attentext.load_recipe(run_dir / "recipe.yaml").tokenizer.max_length
    assert config["max_position_embeddings"] == saved < 256


def test_recipe_yaml_is_the_resolved_recipe(run_dir):
    recipe = attentext.load_recipe(run_dir / "recipe.yaml")

    assert recipe.name == "seed-transformer"
    assert recipe.training.epochs == 2.0
    assert recipe.training.precision == "fp32"


def test_metrics_report_validation_and_test(trained, run_dir):
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))

    assert metrics == json.loads(json.dumps(trained.metrics))  # what train() returned
    assert metrics["precision"] == "fp32"
    assert metrics["n_train"] == 190
    assert metrics["global_steps"] == 4  # ceil(190 / 128) = 2 steps per epoch, 2 epochs
    assert metrics["epochs"] == 2.0
    assert metrics["validation"]["n_examples"] == 10
    test = metrics["test"]
    assert test["n_examples"] == 80
    assert 0.0 <= test["accuracy"] <= 1.0
    assert test["label_names"] == AG_NEWS_LABELS
    assert set(test["per_class"]) == set(AG_NEWS_LABELS)
    assert sum(row["support"] for row in test["per_class"].values()) == 80
    assert np.trace(test["confusion_matrix"]) == round(test["accuracy"] * 80)


def test_training_log_has_training_and_evaluation_entries(run_dir):
    entries = _log_entries(run_dir)

    assert [e["step"] for e in entries if "eval_accuracy" in e] == [2, 4]
    assert any("train_runtime" in e for e in entries)


# ---------------------------------------------------------------------------------------------
# Loading and predicting
# ---------------------------------------------------------------------------------------------


def test_loaded_run_gives_the_same_logits_as_plain_transformers(run_dir):
    classifier = attentext.load(run_dir, precision="fp32")
    tokenizer = AutoTokenizer.from_pretrained(run_dir)
    model = AutoModelForSequenceClassification.from_pretrained(run_dir).eval()

    with torch.no_grad():
        batch = tokenizer(TEXTS, padding=True, truncation=True, max_length=256, return_tensors="pt")
        expected = model(**batch).logits.numpy()

    np.testing.assert_allclose(classifier.logits(TEXTS), expected, atol=1e-5, rtol=0)


def test_loading_twice_gives_identical_output(run_dir):
    first = attentext.load(run_dir, precision="fp32").logits(TEXTS)
    second = attentext.load(run_dir, precision="fp32").logits(TEXTS)
    np.testing.assert_array_equal(first, second)


def test_logits_do_not_depend_on_batching(run_dir, ag_news_dir):
    classifier = attentext.load(run_dir, precision="fp32")
    texts = attentext.load_text_dataset(ag_news_dir)["test"]["text"]  # 80 texts: two batches

    together = classifier.logits(list(texts))
    in_chunks = np.concatenate([classifier.logits(list(texts[i : i + 7])) for i in range(0, 80, 7)])
    alone = np.concatenate([classifier.logits([text]) for text in texts[:5]])

    np.testing.assert_allclose(together, in_chunks, atol=1e-5, rtol=0)
    np.testing.assert_allclose(together[:5], alone, atol=1e-5, rtol=0)


def test_predict_returns_ag_news_names(run_dir):
    classifier = attentext.load(run_dir, precision="fp32")

    labels = classifier.predict(TEXTS)
    probabilities = classifier.predict_proba(TEXTS)

    assert classifier.labels == AG_NEWS_LABELS
    assert len(labels) == len(TEXTS) and set(labels) <= set(AG_NEWS_LABELS)
    assert probabilities.shape == (4, 4)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)
    assert labels == [AG_NEWS_LABELS[i] for i in probabilities.argmax(axis=1)]


def test_predict_rejects_a_single_string(run_dir):
    with pytest.raises(TypeError, match="list"):
        attentext.load(run_dir, precision="fp32").predict("one text")


@pytest.mark.parametrize("text", ["", "!!!"])
def test_predict_a_text_without_words(run_dir, text):
    assert attentext.load(run_dir, precision="fp32").predict([text])[0] in AG_NEWS_LABELS


def test_predict_no_texts_returns_nothing(run_dir):
    assert attentext.load(run_dir, precision="fp32").predict([]) == []


def test_transformers_pipeline_loads_a_run(run_dir):
    classify = transformers.pipeline("text-classification", model=str(run_dir))

    result = classify(TEXTS[1])

    assert result[0]["label"] in AG_NEWS_LABELS
    assert 0.0 < result[0]["score"] <= 1.0
    assert result[0]["label"] == attentext.load(run_dir, precision="fp32").predict([TEXTS[1]])[0]


def test_evaluate_reproduces_the_test_metrics_of_training(trained, run_dir, ag_news_dir):
    report = attentext.evaluate(run_dir, ag_news_dir, precision="fp32")

    assert report.n_examples == 80
    assert report.label_names == AG_NEWS_LABELS
    assert report.accuracy == pytest.approx(trained.metrics["test"]["accuracy"])
    assert report.confusion == trained.metrics["test"]["confusion_matrix"]


def test_evaluate_on_a_single_file(trained, run_dir, ag_news_dir):
    report = attentext.evaluate(run_dir, ag_news_dir / "test.csv", precision="fp32")
    assert report.accuracy == pytest.approx(trained.metrics["test"]["accuracy"])


def test_evaluate_on_a_missing_split_is_a_data_error(run_dir, ag_news_dir):
    # (`--split validation` of a folder without a validation file measures the carved one:
    # test_evaluation.py::test_evaluate_split_validation_measures_the_split_the_run_carved)
    with pytest.raises(DataError, match=r"no 'dev' split \(found: train, test\)"):
        attentext.evaluate(run_dir, ag_news_dir, split="dev", precision="fp32")


def test_evaluate_data_with_foreign_labels_is_a_data_error(run_dir, write):
    path = write("other.csv", labelled_csv([("text", "Health"), ("more", "World")]))
    with pytest.raises(DataError, match="unknown label 'Health'"):
        attentext.evaluate(run_dir, path, precision="fp32")


def test_summary_of_recipe_and_run(run_dir):
    fresh = attentext.summary("seed-transformer")
    assert fresh.total == fresh.trainable == 659_592
    assert [row.name for row in fresh.rows] == [
        "embedding",
        "transformer_block",
        "dropout1",
        "dense",
        "dropout2",
        "classifier",
    ]  # the lesson's layers, no empty row for the blocks it does not have
    assert fresh.rows[0].output_shape == "(None, 256, 32)"

    trained_summary = attentext.summary(run_dir)
    model = attentext.load(run_dir, precision="fp32").model
    assert trained_summary.total == sum(p.numel() for p in model.parameters())
    assert trained_summary.rows[-1].output_shape == "(None, 4)"


# ---------------------------------------------------------------------------------------------
# Run directory errors
# ---------------------------------------------------------------------------------------------


def test_existing_output_without_overwrite_is_a_run_dir_error(run_dir, ag_news_dir):
    before = (run_dir / "model.safetensors").read_bytes()

    with pytest.raises(RunDirError, match="already exists.*--overwrite"):
        attentext.train("seed-transformer", ag_news_dir, run_dir, epochs=1, precision="fp32")

    assert (run_dir / "model.safetensors").read_bytes() == before
    assert not run_dir.with_name(run_dir.name + ".partial").exists()


def test_overwrite_replaces_a_finished_run_and_never_another_folder(ag_news_dir, tmp_path):
    """--overwrite replaces a finished run; a folder of other files is refused and kept
    (issue #23: it once deleted a data folder given as --output)."""
    out = tmp_path / "run"
    out.mkdir()
    (out / "stale.txt").write_text("old", encoding="utf-8")
    with pytest.raises(RunDirError, match="not an attentext run"):
        attentext.train("seed-transformer", ag_news_dir, out, max_steps=1, overwrite=True)
    assert (out / "stale.txt").read_text(encoding="utf-8") == "old"

    (out / "stale.txt").unlink()  # an empty folder may be replaced
    attentext.train(
        "seed-transformer", ag_news_dir, out, max_steps=1, precision="fp32", overwrite=True
    )
    attentext.train(
        "seed-transformer", ag_news_dir, out, max_steps=1, precision="fp32", overwrite=True
    )

    assert (out / "attentext.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_unfinished_run_without_resume_or_overwrite_is_a_run_dir_error(ag_news_dir, tmp_path):
    (tmp_path / "run.partial" / "checkpoints" / "checkpoint-3").mkdir(parents=True)
    with pytest.raises(RunDirError, match="unfinished run.*--resume"):
        attentext.train(
            "seed-transformer", ag_news_dir, tmp_path / "run", max_steps=1, precision="fp32"
        )


def test_resume_with_nothing_to_resume_is_a_run_dir_error(ag_news_dir, tmp_path):
    with pytest.raises(RunDirError, match="nothing to resume"):
        attentext.train(
            "seed-transformer", ag_news_dir, tmp_path / "run", resume=True, precision="fp32"
        )


@pytest.mark.parametrize("kind", ["missing", "not_a_run", "damaged_marker", "missing_file"])
def test_loading_something_that_is_not_a_complete_run(run_dir, tmp_path, kind):
    target = tmp_path / "x"
    if kind == "not_a_run":
        target.mkdir()
    elif kind in ("damaged_marker", "missing_file"):
        target.mkdir()
        for p in run_dir.iterdir():
            (target / p.name).write_bytes(p.read_bytes())
        if kind == "damaged_marker":
            (target / "attentext.json").write_text("{not json", encoding="utf-8")
        else:
            (target / "model.safetensors").unlink()
    with pytest.raises(RunDirError) as info:
        attentext.load(target, precision="fp32")
    assert str(target) in str(info.value)


def test_a_recipe_error_does_not_block_the_next_run(ag_news_dir, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(attentext.errors.RecipeError):
        attentext.train(
            "seed-transformer",
            ag_news_dir,
            out,
            max_steps=1,
            precision="fp32",
            overrides=["model.options.embed_dm=8"],
        )

    attentext.train("seed-transformer", ag_news_dir, out, max_steps=1, precision="fp32")
    assert (out / "attentext.json").exists()


# ---------------------------------------------------------------------------------------------
# Resume, determinism, class weights
# ---------------------------------------------------------------------------------------------


# 190 training rows / batch 64 = 3 steps per epoch: checkpoints at steps 3, 6, 9; stop at step 5.
# The random sampler keeps resume bit-exact (see test_resume_continues_exactly_where_it_stopped).
RESUMABLE = {
    "max_steps": 9,
    "batch_size": 64,
    "precision": "fp32",
    "overrides": ["training.logging_steps=1", "training.group_by_length=false"],
}


@pytest.fixture(scope="module")
def resumed(ag_news_dir, tmp_path_factory):
    """A run interrupted at step 5 (checkpoint at 3), the state it left, then resumed to the end."""
    out = tmp_path_factory.mktemp("resume") / "run"
    partial = out.with_name("run.partial")
    with pytest.raises(KeyboardInterrupt):
        attentext.train(
            "seed-transformer", ag_news_dir, out, callbacks=[InterruptAt(5)], **RESUMABLE
        )
    left = {
        "partial": partial.is_dir(),
        "out": out.exists(),
        "checkpoint-3": (partial / "checkpoints" / "checkpoint-3").is_dir(),
    }
    with pytest.raises(RunDirError) as info:
        attentext.load(out, precision="fp32")
    left["load_error"] = str(info.value)
    result = attentext.train("seed-transformer", ag_news_dir, out, resume=True, **RESUMABLE)
    return out, left, result


def test_interrupted_run_leaves_only_a_partial_folder(resumed):
    out, left, _ = resumed
    assert left["partial"] and not left["out"]
    assert left["checkpoint-3"]
    assert "unfinished run" in left["load_error"] and "run.partial" in left["load_error"]


def test_resume_finishes_a_complete_run(resumed):
    out, _, result = resumed

    assert result.metrics["global_steps"] == 9
    assert not out.with_name("run.partial").exists()
    assert (out / "attentext.json").exists()
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["global_steps"] == 9
    assert metrics["test"]["n_examples"] == 80
    # the log spans the whole run: steps 1-3 from the checkpoint, 4-9 after resuming
    assert [e["step"] for e in _log_entries(out) if "loss" in e] == list(range(1, 10))
    assert attentext.load(out, precision="fp32").predict(TEXTS[:1])[0] in AG_NEWS_LABELS


def test_resume_continues_exactly_where_it_stopped(resumed, ag_news_dir, tmp_path):
    out, _, result = resumed

    straight = attentext.train("seed-transformer", ag_news_dir, tmp_path / "straight", **RESUMABLE)

    losses = [
        [e["loss"] for e in _log_entries(run) if "loss" in e]
        for run in (out, tmp_path / "straight")
    ]
    assert losses[0] == losses[1]
    assert result.metrics["test"] == straight.metrics["test"]


def test_same_seed_gives_identical_runs(trained, run_dir, ag_news_dir, tmp_path):
    again = attentext.train(
        "seed-transformer", ag_news_dir, tmp_path / "again", epochs=2, precision="fp32"
    )

    assert again.metrics["test"] == trained.metrics["test"]
    assert again.metrics["validation"] == trained.metrics["validation"]
    assert (tmp_path / "again" / "model.safetensors").read_bytes() == (
        run_dir / "model.safetensors"
    ).read_bytes()


def test_balanced_class_weights_are_inverse_frequencies(write, tmp_path):
    rows = [(f"good thing {i}", "pos") for i in range(30)] + [
        (f"bad thing {i}", "neg") for i in range(6)
    ]
    dataset = attentext.load_text_dataset(write("skewed.csv", labelled_csv(rows)), val_fraction=0)

    weights = class_weights(dataset["train"]["label"], 2, "balanced")

    assert dataset.label_names == ["neg", "pos"]
    torch.testing.assert_close(weights, torch.tensor([36 / (2 * 6), 36 / (2 * 30)]))
    assert class_weights(dataset["train"]["label"], 2, "none") is None


def test_class_weight_balanced_trains_with_a_weighted_loss(write, tmp_path):
    rows = [(f"good fine thing {i}", "pos") for i in range(30)] + [
        (f"bad awful thing {i}", "neg") for i in range(6)
    ]
    data = write("skewed.csv", labelled_csv(rows))
    options = {
        "max_steps": 2,
        "batch_size": 36,
        "precision": "fp32",
        "val_fraction": 0.0,
        "overrides": ["training.logging_steps=1"],
    }

    weighted = attentext.train(
        "seed-transformer", data, tmp_path / "weighted", class_weight="balanced", **options
    )
    attentext.train("seed-transformer", data, tmp_path / "plain", **options)

    assert (
        attentext.load_recipe(tmp_path / "weighted" / "recipe.yaml").training.class_weight
        == "balanced"
    )
    assert weighted.metrics["global_steps"] == 2
    first_loss = [
        next(e["loss"] for e in _log_entries(tmp_path / name) if "loss" in e)
        for name in ("weighted", "plain")
    ]
    assert first_loss[0] != pytest.approx(first_loss[1], rel=1e-3)
    assert attentext.load(tmp_path / "weighted", precision="fp32").predict(["good fine thing"])[
        0
    ] in {"neg", "pos"}


def test_early_stopping_stops_when_validation_stalls_and_keeps_the_best(ag_news_dir, tmp_path):
    """30 epochs asked, patience 2: the run stops once validation accuracy has not improved for
    2 evaluations, and the saved model is the best checkpoint's."""
    result = attentext.train(
        "seed-transformer",
        ag_news_dir,
        tmp_path / "early",
        epochs=30,
        precision="fp32",
        overrides=["training.early_stopping_patience=2", "training.learning_rate=0.01"],
    )
    metrics = result.metrics
    assert metrics["epochs"] < 30, metrics["epochs"]
    evaluations = [e for e in _log_entries(tmp_path / "early") if "eval_accuracy" in e]
    best = max(e["eval_accuracy"] for e in evaluations)
    assert metrics["validation"]["accuracy"] == pytest.approx(best)
    assert all(e["eval_accuracy"] <= best for e in evaluations[-2:])


def test_early_stopping_can_be_turned_off(ag_news_dir, tmp_path):
    result = attentext.train(
        "seed-transformer",
        ag_news_dir,
        tmp_path / "all",
        epochs=4,
        precision="fp32",
        overrides=["training.early_stopping_patience=0"],
    )
    assert result.metrics["epochs"] == pytest.approx(4)


def test_the_head_learning_rate_puts_the_classifier_in_groups_of_its_own(tmp_path):
    from transformers import TrainingArguments

    from attentext.training.trainer import head_rate_optimizer

    model = torch.nn.Module()
    model.encoder = torch.nn.Linear(4, 4)
    model.norm = torch.nn.LayerNorm(4)
    model.head = torch.nn.Module()
    model.head.classifier = torch.nn.Linear(4, 3)
    args = TrainingArguments(
        output_dir=str(tmp_path), learning_rate=3e-5, weight_decay=0.01, use_cpu=True,
        optim="adamw_torch", report_to="none",
    )  # fmt: skip
    optimizer = head_rate_optimizer(model, args, head_learning_rate=1e-3)
    rate = {id(p): group["lr"] for group in optimizer.param_groups for p in group["params"]}
    decay = {
        id(p): group["weight_decay"] for group in optimizer.param_groups for p in group["params"]
    }
    assert rate[id(model.head.classifier.weight)] == rate[id(model.head.classifier.bias)] == 1e-3
    assert rate[id(model.encoder.weight)] == rate[id(model.norm.weight)] == 3e-5
    # the Trainer's decay rules hold in both: biases and norms never decay
    assert decay[id(model.head.classifier.weight)] == decay[id(model.encoder.weight)] == 0.01
    assert decay[id(model.head.classifier.bias)] == decay[id(model.norm.weight)] == 0.0
    assert len(rate) == len(list(model.parameters()))


def test_a_recipe_refuses_a_negative_head_learning_rate(ag_news_dir, tmp_path):
    with pytest.raises(attentext.errors.RecipeError, match="head_learning_rate"):
        attentext.train(
            "seed-transformer", ag_news_dir, tmp_path / "run",
            overrides=["training.head_learning_rate=-1"],
        )  # fmt: skip


def test_a_run_without_log_lines_prints_none_and_keeps_its_history(ag_news_dir, tmp_path, capfd):
    options = {"max_steps": 2, "precision": "fp32", "overrides": ["training.logging_steps=1"]}
    attentext.train("seed-transformer", ag_news_dir, tmp_path / "loud", **options)
    assert "'loss'" in "".join(capfd.readouterr())  # the Trainer's own log lines, by default
    result = attentext.train(
        "seed-transformer", ag_news_dir, tmp_path / "quiet", log_lines=False, **options
    )
    assert "'loss'" not in "".join(capfd.readouterr())
    history = (result.run_dir / "training_log.jsonl").read_text().splitlines()
    assert any("loss" in json.loads(line) for line in history)
