"""Several labels per text, end to end: reading label sets, the loss, thresholds tuned on
validation, training every kind of recipe, loading, evaluating and exporting."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import attentext
from attentext.data.defaults import MULTI_LABEL_HEAD_RATE
from attentext.decisions import (
    calibrated_sigmoid,
    log_odds,
    temperature_vector,
    threshold_vector,
)
from attentext.errors import AttentextNote, DataError, RecipeError, RunDirError
from attentext.evaluation.multilabel import multilabel_metrics, tune_thresholds
from attentext.evaluation.recalibrate_labels import moved_thresholds
from attentext.models.outputs import classification_loss, initialize_label_priors
from attentext.recipes import load_recipe
from attentext.rundir import CALIBRATION_FILE, THRESHOLDS_FILE

TOPICS = {
    "markets": ["stocks", "shares", "investors", "bonds"],
    "sports": ["match", "goal", "coach", "league"],
    "science": ["telescope", "physics", "lab", "genome"],
}


def _rows(n: int, seed: int) -> list[tuple[str, list[str]]]:
    """Texts about one to three topics, made of each topic's words: a learnable set of labels."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        topics = sorted(rng.sample(list(TOPICS), rng.choice([1, 1, 2, 3])))
        words = [rng.choice(TOPICS[t]) for t in topics for _ in range(3)] + ["the", "news"]
        rng.shuffle(words)
        rows.append((" ".join(words), topics))
    return rows


def _csv(rows: list[tuple[str, list[str]]]) -> str:
    return "text,label\n" + "".join(f"{text},{'|'.join(labels)}\n" for text, labels in rows)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("multilabel") / "data"
    folder.mkdir()
    (folder / "train.csv").write_text(_csv(_rows(160, 0)), encoding="utf-8")
    (folder / "test.csv").write_text(_csv(_rows(40, 1)), encoding="utf-8")
    return folder


def test_label_sets_are_read_from_separated_cells_lists_and_empty_cells(tmp_path):
    (tmp_path / "train.csv").write_text(
        "text,label\nstocks up,markets|sports\ngoal scored,sports\nquiet day,\n", encoding="utf-8"
    )
    (tmp_path / "test.jsonl").write_text(
        '{"text": "big match", "label": ["sports"]}\n'
        '{"text": "lab bonds", "label": ["markets", "sports"]}\n',
        encoding="utf-8",
    )
    dataset = attentext.load_text_dataset(tmp_path, multi_label=True, val_fraction=0)
    assert dataset.multi_label and dataset.label_names == ["markets", "sports"]
    assert list(dataset["train"]["label"]) == [[0, 1], [1], []]
    assert list(dataset["test"]["label"]) == [[1], [0, 1]]


def test_parquet_list_columns_are_label_sets(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"text": ["a b", "c d"], "label": [["x", "y"], ["y"]]})
    pq.write_table(table, tmp_path / "train.parquet")
    dataset = attentext.load_text_dataset(tmp_path, multi_label=True, val_fraction=0)
    assert list(dataset["train"]["label"]) == [[0, 1], [1]]


def test_label_sets_read_without_the_flag_are_refused_with_the_flag_to_use(data):
    with pytest.raises(DataError, match="holds sets of labels.*--multi-label"):
        attentext.load_text_dataset(data)


def test_a_label_only_in_test_is_one_short_line(tmp_path):
    many = "|".join(f"label{i:03d}" for i in range(300))
    (tmp_path / "train.csv").write_text(f"text,label\na,{many}\nb,label001\n", encoding="utf-8")
    (tmp_path / "test.csv").write_text("text,label\nc,nowhere\n", encoding="utf-8")
    with pytest.raises(DataError) as error:
        attentext.load_text_dataset(tmp_path, multi_label=True, val_fraction=0)
    message = str(error.value)
    assert "unknown label 'nowhere'" in message and "(300 known labels)" in message
    assert "\n" not in message and len(message) < 400, len(message)


def test_binary_cross_entropy_matches_a_hand_computation():
    logits = torch.tensor([[2.0, -1.0], [0.0, 3.0]])
    targets = torch.tensor([[1.0, 0.0], [1.0, 1.0]])

    def bce(z: float, y: float) -> float:
        p = 1 / (1 + np.exp(-z))
        return -(y * np.log(p) + (1 - y) * np.log(1 - p))

    expected = np.mean([bce(2, 1), bce(-1, 0), bce(0, 1), bce(3, 1)])
    got = classification_loss(logits, targets, multi_label=True)
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_thresholds_tuned_on_validation_beat_one_half_where_scores_run_low():
    rng = np.random.default_rng(0)
    y = (rng.random((400, 3)) < 0.3).astype(int)
    scores = np.clip(0.35 * y + 0.1 * rng.random((400, 3)), 0, 1)  # positives ~0.35-0.45
    tuned = tune_thresholds(y, scores, ["a", "b", "c"])
    at_half = multilabel_metrics(y, (scores >= 0.5).astype(int))["micro_f1"]
    at_tuned = multilabel_metrics(y, (scores >= tuned["global"]).astype(int))["micro_f1"]
    assert tuned["global"] < 0.5 and at_tuned > at_half + 0.5


@pytest.fixture(scope="module", params=["tfidf-logreg", "seed-transformer"])
def trained(request, data, tmp_path_factory):
    """(recipe, run directory, training result) of a multi-label run of each kind, trained once,
    with a validation file of 40 texts, 6 of them given a wrong label set: these topics are
    easily learned, and a label classified all right on validation keeps T = 1 (R15-R4), which
    would leave nothing here to check of the temperatures."""
    folder = tmp_path_factory.mktemp(f"{request.param}-data")
    for name in ("train.csv", "test.csv"):
        (folder / name).write_text((data / name).read_text(encoding="utf-8"), encoding="utf-8")
    rows = _rows(40, 2)
    rows[:6] = [(text, [t for t in TOPICS if t not in labels]) for text, labels in rows[:6]]
    (folder / "validation.csv").write_text(_csv(rows), encoding="utf-8")
    out = tmp_path_factory.mktemp(request.param) / "run"
    result = attentext.train(
        request.param, folder, out, multi_label=True, epochs=30, precision="fp32"
    )
    return request.param, out, result


def test_a_multi_label_run_trains_saves_and_loads(trained, data):
    recipe, out, result = trained
    thresholds = json.loads((out / THRESHOLDS_FILE).read_text())
    assert 0 < thresholds["global"] < 1
    assert {"micro_f1", "macro_f1", "samples_f1", "hamming_loss"} <= set(result.metrics["test"])
    assert result.metrics["test"]["micro_f1"] > 0.7, result.metrics["test"]

    classifier = attentext.load(out, precision="fp32")
    texts = ["stocks investors goal match the news", "telescope physics the news"]
    probabilities = classifier.predict_proba(texts)
    assert probabilities.shape == (2, 3) and not np.allclose(probabilities.sum(1), 1.0)
    labels = classifier.predict(texts)
    assert all(isinstance(row, list) for row in labels)
    assert set(labels[0]) >= {"markets", "sports"} or recipe == "seed-transformer"
    again = attentext.load(out, precision="fp32")
    np.testing.assert_allclose(again.predict_proba(texts), probabilities, atol=1e-6)

    report = attentext.evaluate(out, data)
    assert report.micro_f1 == pytest.approx(result.metrics["test"]["micro_f1"], abs=1e-6)


def test_each_label_is_calibrated_on_validation_and_every_reader_applies_it(trained, data):
    from conftest import run_cli_here

    recipe, out, result = trained
    record = json.loads((out / CALIBRATION_FILE).read_text())
    assert record["fitted_on"] == "validation" and record["nll_after"] <= record["nll_before"]
    classifier = attentext.load(out, precision="fp32")
    temperatures = temperature_vector(record["label_temperatures"], classifier.labels)
    assert not np.allclose(temperatures, 1.0)  # else the checks below could not fail
    assert "Temperature scaling per label" in (out / "README.md").read_text()
    texts = ["stocks investors goal match the news", "telescope physics the news", "the news"]

    if recipe == "tfidf-logreg":
        classifier.label_temperatures = None
        logits = log_odds(classifier.predict_proba(texts))
        classifier.label_temperatures = temperatures
    else:
        logits = classifier.logits(texts)
    expected = calibrated_sigmoid(logits, temperatures)
    np.testing.assert_allclose(classifier.predict_proba(texts), expected, atol=1e-5)
    report = attentext.evaluate(out, data)
    shown = run_cli_here("evaluate", out, "--data", data)
    assert shown.returncode == 0 and "temperature per label" in shown.stdout, shown.stderr
    test = result.metrics["calibration"]["test"]
    assert report.calibration["nll_after"] == pytest.approx(test["nll_after"], abs=1e-4)
    assert report.calibration["ece_before"] == pytest.approx(test["ece_before"], abs=1e-4)


def test_the_servers_raw_scores_are_the_logits_over_each_labels_temperature(data, tmp_path):
    from fastapi.testclient import TestClient

    from attentext.serving import create_app

    out = tmp_path / "seed"
    attentext.train(
        "seed-transformer",
        data,
        out,
        multi_label=True,
        epochs=5,
        precision="fp32",
        val_fraction=0.2,
    )
    text = "stocks goal the news"
    with TestClient(create_app([out])) as client:
        body = {"inputs": text, "parameters": {"function_to_apply": "sigmoid"}}
        answer = client.post("/models/seed", json=body).json()
        served = client.post("/v1/predict", json={"texts": [text]}).json()["predictions"][0]
    scores = {item["label"]: item["score"] for item in answer[0]}
    assert scores.keys() == served["scores"].keys()
    for name, probability in served["scores"].items():
        assert scores[name] == pytest.approx(probability, abs=1e-5)
    raw = attentext.load(out, precision="fp32")
    raw.label_temperatures = None
    calibrated = [served["scores"][name] for name in raw.labels]
    assert not np.allclose(raw.predict_proba([text])[0], calibrated, atol=1e-3)


def test_damaged_label_temperatures_are_refused_on_load(data, tmp_path):
    out = attentext.train("tfidf-logreg", data, tmp_path / "tags", multi_label=True).run_dir
    record = json.loads((out / CALIBRATION_FILE).read_text())
    record["label_temperatures"] = {"pooled": -1.0, "per_label": {}}
    (out / CALIBRATION_FILE).write_text(json.dumps(record))
    metrics = json.loads((out / "metrics.json").read_text())  # both, or the run is torn (R13-L3)
    (out / "metrics.json").write_text(json.dumps({**metrics, "calibration": record}))
    with pytest.raises(RunDirError, match="label_temperatures"):
        attentext.load(out)


def test_recalibrate_refits_each_labels_temperature_and_every_text_keeps_its_labels(data, tmp_path):
    from conftest import run_cli_here

    out = tmp_path / "tags"
    attentext.train("seed-transformer", data, out, multi_label=True, epochs=5, precision="fp32")
    held_out = tmp_path / "held_out.csv"
    held_out.write_text(_csv(_rows(120, 7)), encoding="utf-8")
    texts = [text for text, _ in _rows(60, 8)]
    before = attentext.load(out, precision="fp32")
    old = (before.predict_proba(texts), before.predict(texts))
    trained_with = json.loads((out / CALIBRATION_FILE).read_text())["label_temperatures"]

    result = run_cli_here("recalibrate", out, "--data", held_out)
    assert result.returncode == 0, result.stderr
    assert "every text keeps its labels" in result.stdout
    record = json.loads((out / CALIBRATION_FILE).read_text())

    after = attentext.load(out, precision="fp32")
    assert after.predict(texts) == old[1]
    assert not np.allclose(after.predict_proba(texts), old[0], atol=1e-3)
    assert record["fitted_on"] == "held_out.csv" and record["n_examples"] == 120
    assert record["replaces_label_temperatures"] == trained_with
    saved = json.loads((out / THRESHOLDS_FILE).read_text())
    assert set(saved["per_label"]) == set(after.labels)
    card = (out / "README.md").read_text()
    assert "held_out.csv" in card and "moved to the same logits" in card
    assert "sigmoids do not apply the labels' temperatures" in card


def test_recalibrate_of_one_label_per_text_refuses_a_multi_label_run(data, tmp_path):
    from conftest import run_cli_here

    out = attentext.train("tfidf-logreg", data, tmp_path / "tags", multi_label=True).run_dir
    before = (out / CALIBRATION_FILE).read_bytes()
    with pytest.raises(RecipeError, match="recalibrate_labels"):
        attentext.recalibrate(out, data)
    refused = run_cli_here("recalibrate", out, "--data", data, "--method", "isotonic")
    assert refused.returncode != 0 and "one label per text" in refused.stderr
    assert (out / CALIBRATION_FILE).read_bytes() == before


def test_moved_thresholds_keep_every_decision():
    rng = np.random.default_rng(0)
    logits = rng.normal(0.0, 3.0, (500, 4))
    labels = ["a", "b", "c", "d"]
    thresholds = {"global": 0.4, "per_label": {"b": 0.7}}
    old, new = np.array([1.0, 2.0, 0.5, 1.3]), np.array([0.6, 1.1, 3.0, 1.3])

    moved = moved_thresholds(thresholds, labels, old, new)

    before = calibrated_sigmoid(logits, old) >= threshold_vector(thresholds, labels)
    after = calibrated_sigmoid(logits, new) >= threshold_vector(moved, labels)
    assert (before == after).all() and before.any() and not before.all()
    assert moved["per_label"]["d"] == pytest.approx(0.4)  # the same temperature: unmoved


def test_a_student_learns_several_labels_per_text_from_its_teacher(data, tmp_path):
    teacher = attentext.train("tfidf-logreg", data, tmp_path / "teacher", multi_label=True).run_dir
    with pytest.warns(AttentextNote, match="--temperature 1"):
        result = attentext.distill(
            teacher,
            "seed-transformer",
            data,
            tmp_path / "student",
            augment=2,  # several labels per text: read so because the teacher was trained so
            epochs=10,
            precision="fp32",
        )
    facts = result.metrics["distillation"]
    assert facts["n_augmented"] == 2 * facts["n_labelled"]
    assert result.metrics["test"]["micro_f1"] > 0.7, result.metrics["test"]
    predicted = attentext.load(tmp_path / "student").predict(["stocks goal the news"])
    assert isinstance(predicted[0], list)


def test_a_teacher_of_one_label_per_text_is_refused_for_several(data, tmp_path):
    single = tmp_path / "single"
    single.mkdir()
    rows = [(text, labels[0]) for text, labels in _rows(60, 3)]
    (single / "train.csv").write_text(
        "text,label\n" + "".join(f"{text},{label}\n" for text, label in rows), encoding="utf-8"
    )
    teacher = attentext.train("tfidf-logreg", single, tmp_path / "teacher").run_dir
    with pytest.raises(RecipeError, match="labels per text"):
        attentext.distill(teacher, "seed-transformer", data, tmp_path / "s", multi_label=True)


def test_the_frozen_encoder_and_the_hf_recipe_train_with_several_labels(data, tmp_path):
    for recipe in ("encoder-frozen", "hf-frozen-base"):
        result = attentext.train(
            recipe, data, tmp_path / recipe, multi_label=True, max_steps=2, precision="fp32"
        )
        assert "micro_f1" in result.metrics["test"]
        predicted = attentext.load(tmp_path / recipe, precision="fp32").predict(["stocks goal"])
        assert isinstance(predicted[0], list)


def test_the_fine_tuned_encoders_head_gets_its_own_rate_with_several_labels(data, tmp_path):
    attentext.train(
        "encoder-finetune", data, tmp_path / "tags", multi_label=True, max_steps=1, precision="fp32"
    )
    saved = load_recipe(tmp_path / "tags" / "recipe.yaml")
    assert saved.training.head_learning_rate == MULTI_LABEL_HEAD_RATE  # `auto`, decided


def test_evaluate_writes_a_per_label_report(data, tmp_path):
    out = attentext.train("tfidf-logreg", data, tmp_path / "run", multi_label=True).run_dir
    measured = attentext.evaluate(out, data, output=tmp_path / "report").to_dict()
    report = (tmp_path / "report" / "report.md").read_text()
    assert "micro-F1" in report and "Hamming loss" in report
    low, high = measured["macro_f1_interval"]  # bootstrap over texts, as compare's
    assert low <= measured["macro_f1"] <= high
    assert f"macro-F1: {measured['macro_f1']:.4f} (95 % interval {low:.4f}-{high:.4f})" in report
    assert (tmp_path / "report" / "per_label_f1.png").stat().st_size > 0


def test_onnx_export_of_a_multi_label_run_keeps_its_sigmoid_outputs(data, tmp_path):
    pytest.importorskip("onnxruntime")
    from attentext.export.onnx import export_onnx

    out = tmp_path / "seed"
    attentext.train("seed-transformer", data, out, multi_label=True, epochs=3, precision="fp32")
    export_onnx(out, int8=True)
    texts = ["stocks goal the news", "lab genome physics"]
    torch_side = attentext.load(out, precision="fp32").predict_proba(texts)
    onnx_side = attentext.load(out, backend="onnx").predict_proba(texts)
    np.testing.assert_allclose(onnx_side, torch_side, atol=1e-4)
    assert attentext.load(out, backend="onnx").predict(texts) == attentext.load(
        out, precision="fp32"
    ).predict(texts)


def test_the_server_answers_the_label_set_with_every_score(data, tmp_path):
    from fastapi.testclient import TestClient

    from attentext.serving import create_app

    out = attentext.train("tfidf-logreg", data, tmp_path / "tags", multi_label=True).run_dir
    expected = attentext.load(out).predict(["stocks goal the news"])[0]
    with TestClient(create_app([out])) as client:
        answer = client.post("/v1/predict", json={"texts": ["stocks goal the news"]}).json()
    prediction = answer["predictions"][0]
    assert prediction["labels"] == expected
    assert set(prediction["scores"]) == {"markets", "science", "sports"}
    assert prediction["label"] == max(prediction["scores"], key=prediction["scores"].get)


def test_a_single_label_answer_keeps_its_shape(tmp_path, ag_news_dir):
    from fastapi.testclient import TestClient

    from attentext.serving import create_app

    out = attentext.train("tfidf-logreg", ag_news_dir, tmp_path / "single").run_dir
    with TestClient(create_app([out])) as client:
        prediction = client.post("/v1/predict", json={"texts": ["a"]}).json()["predictions"][0]
    assert set(prediction) == {"label", "score", "top_k", "truncated", "partly_read"}


def test_predict_prints_the_label_set_and_every_score(data, tmp_path):
    from conftest import run_cli_here

    out = attentext.train("tfidf-logreg", data, tmp_path / "tags", multi_label=True).run_dir
    expected = attentext.load(out).predict(["stocks goal the news"])[0]
    result = run_cli_here("predict", out, "stocks goal the news", "--json")
    assert result.returncode == 0, result.stderr
    line = json.loads(result.stdout.splitlines()[0])
    assert line["labels"] == expected and set(line["scores"]) == {"markets", "science", "sports"}


def test_batch_prediction_writes_the_label_sets(data, tmp_path):
    from attentext.scoring.engine import BatchOptions, predict_file

    out = attentext.train("tfidf-logreg", data, tmp_path / "tags", multi_label=True).run_dir
    texts = tmp_path / "texts.txt"
    texts.write_text("stocks goal the news\ntelescope lab\n", encoding="utf-8")
    predict_file(out, texts, tmp_path / "scored.jsonl", BatchOptions())
    rows = [json.loads(line) for line in (tmp_path / "scored.jsonl").read_text().splitlines()]
    expected = attentext.load(out).predict(["stocks goal the news", "telescope lab"])
    assert [row["labels"].split("|") if row["labels"] else [] for row in rows] == expected


def test_each_labels_output_bias_starts_at_its_log_odds_in_train():
    model = torch.nn.Module()
    model.head = torch.nn.Module()
    model.head.classifier = torch.nn.Linear(4, 3)
    model.dense = torch.nn.Linear(4, 3)  # the same shape, another name: left as it is
    before = model.dense.bias.detach().clone()
    targets = np.array([[1, 0, 0]] * 9 + [[1, 1, 0]])  # shares 10/10, 1/10, 0/10 (smoothed)

    assert initialize_label_priors(model, targets) == 1
    share = (targets.sum(0) + 0.5) / (len(targets) + 1)
    np.testing.assert_allclose(
        model.head.classifier.bias.detach().numpy(), np.log(share / (1 - share)), rtol=1e-6
    )
    assert torch.equal(model.dense.bias, before)


def test_a_multi_label_run_starts_from_the_label_priors_and_a_weighted_one_does_not(data, tmp_path):
    overrides = ["training.learning_rate=1e-12"]  # one step that moves nothing
    plain = attentext.train(
        "seed-transformer", data, tmp_path / "plain", multi_label=True, max_steps=1,
        precision="fp32", overrides=overrides,
    )  # fmt: skip
    weighted = attentext.train(
        "seed-transformer", data, tmp_path / "weighted", multi_label=True, max_steps=1,
        precision="fp32", class_weight="balanced", overrides=overrides,
    )  # fmt: skip

    def output_bias(run_dir: Path) -> np.ndarray:
        weights = load_file(run_dir / "model.safetensors")
        return next(v for k, v in weights.items() if k.endswith("classifier.bias")).numpy()

    # about half the texts carry each topic: the prior start is near log-odds 0 but not at it
    share = 1 / (1 + np.exp(-output_bias(plain.run_dir)))
    assert np.all((share > 0.3) & (share < 0.8)) and np.all(share != 0.5), share
    np.testing.assert_allclose(output_bias(weighted.run_dir), 0.0, atol=1e-6)  # sigmoid 0.5
