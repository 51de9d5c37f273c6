"""Temperature scaling: fitted on validation after training, saved in the run directory, and
applied by every reader of it (predict, evaluate, ONNX, the server); it never changes a label."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import attentext
from attentext.evaluation.calibration import calibrate, fit_temperature, log_softmax, nll
from attentext.rundir import CALIBRATION_FILE


def _overconfident(n: int = 3000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits right ~70 % of the time, scaled up 5x: a model far surer than it should be."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    logits = rng.normal(size=(n, 4))
    logits[np.arange(n), labels] += 1.5
    return 5 * logits, labels


def test_temperature_scaling_lowers_nll_and_keeps_every_label():
    logits, labels = _overconfident()
    temperature = fit_temperature(logits, labels)
    assert temperature > 2  # the logits were inflated 5x
    assert nll(logits, labels, temperature) < 0.6 * nll(logits, labels)
    np.testing.assert_array_equal(
        log_softmax(logits, temperature).argmax(1), log_softmax(logits).argmax(1)
    )


def test_calibrated_logits_keep_a_temperature_near_1():
    logits, labels = _overconfident()
    temperature = fit_temperature(logits, labels)
    assert fit_temperature(logits / temperature, labels) == pytest.approx(1.0, abs=0.05)


def test_calibration_measures_ece_before_and_after():
    logits, labels = _overconfident()
    result = calibrate(labels, logits, "validation")
    assert result.ece_after < result.ece_before / 3
    assert result.nll_after < result.nll_before
    assert result.n_examples == len(labels) and result.fitted_on == "validation"


def test_too_few_rows_leave_the_temperature_at_1():
    assert fit_temperature(np.array([[2.0, 0.0]]), np.array([0])) == 1.0


@pytest.fixture(scope="module")
def calibrated_run(ag_news_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("calibration") / "seed"
    attentext.train("seed-transformer", ag_news_dir, out, epochs=3, precision="fp32")
    return out


def test_a_run_saves_its_temperature_and_its_effect(calibrated_run):
    saved = json.loads((calibrated_run / CALIBRATION_FILE).read_text(encoding="utf-8"))
    assert saved["temperature"] > 0 and saved["fitted_on"] == "validation"
    metrics = json.loads((calibrated_run / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["calibration"]["temperature"] == saved["temperature"]
    assert {"nll_before", "nll_after", "ece_before", "ece_after"} <= set(metrics["calibration"])
    assert CALIBRATION_FILE in json.loads((calibrated_run / "attentext.json").read_text())["files"]


def test_every_reader_applies_the_temperature(calibrated_run):
    texts = ["Oil prices jump as OPEC cuts output", "The Yankees win again", "A new chip"]
    classifier = attentext.load(calibrated_run, precision="fp32")
    temperature = json.loads((calibrated_run / CALIBRATION_FILE).read_text())["temperature"]
    expected = np.exp(log_softmax(classifier.logits(texts), temperature))
    np.testing.assert_allclose(classifier.predict_proba(texts), expected, atol=1e-5)
    assert classifier.predict(texts) == [
        classifier.labels[i] for i in classifier.logits(texts).argmax(1)
    ]


def test_the_baseline_is_calibrated_too(ag_news_dir, tmp_path):
    run = attentext.train("tfidf-logreg", ag_news_dir, tmp_path / "tfidf").run_dir
    temperature = json.loads((Path(run) / CALIBRATION_FILE).read_text())["temperature"]
    classifier = attentext.load(run)
    assert classifier.temperature == pytest.approx(temperature)
    raw = classifier.model.predict_proba(classifier.vectorizer.transform(["stocks fell"]))
    expected = np.exp(log_softmax(np.log(raw), temperature))
    np.testing.assert_allclose(classifier.predict_proba(["stocks fell"]), expected, atol=1e-6)


def test_calibration_can_be_turned_off(ag_news_dir, tmp_path):
    run = attentext.train(
        "tfidf-logreg", ag_news_dir, tmp_path / "raw", overrides=["training.calibrate=false"]
    ).run_dir
    assert not (Path(run) / CALIBRATION_FILE).exists()
    assert attentext.load(run).temperature == 1.0


def test_the_onnx_export_applies_the_same_temperature(calibrated_run, tmp_path):
    pytest.importorskip("onnxruntime")
    import shutil

    from attentext.export.onnx import export_onnx

    run = Path(shutil.copytree(calibrated_run, tmp_path / "run"))
    export_onnx(run)
    texts = ["Oil prices jump as OPEC cuts output", "The Yankees win again"]
    torch_side = attentext.load(run, precision="fp32").predict_proba(texts)
    onnx_side = attentext.load(run, backend="onnx").predict_proba(texts)
    np.testing.assert_allclose(onnx_side, torch_side, atol=1e-4)


def test_the_server_answers_calibrated_scores(calibrated_run):
    from fastapi.testclient import TestClient

    from attentext.serving import create_app

    text = "Oil prices jump as OPEC cuts output"
    expected = attentext.load(calibrated_run, precision="fp32").predict_proba([text])[0].max()
    with TestClient(create_app([calibrated_run])) as client:
        answer = client.post("/v1/predict", json={"texts": [text]}).json()
    assert answer["predictions"][0]["score"] == pytest.approx(float(expected), abs=1e-4)


def test_evaluate_reports_ece_and_nll_with_and_without_the_temperature(
    calibrated_run, ag_news_dir, tmp_path
):
    report = attentext.evaluate(calibrated_run, ag_news_dir, output=tmp_path / "report").to_dict()
    calibration = report["calibration"]
    temperature = json.loads((calibrated_run / CALIBRATION_FILE).read_text())["temperature"]
    assert calibration["temperature"] == pytest.approx(temperature)
    assert calibration["ece_after"] == pytest.approx(report["expected_calibration_error"])
    assert {"nll_before", "nll_after", "ece_before"} <= set(calibration)
    assert "calibration: temperature" in (tmp_path / "report" / "report.md").read_text()
    assert (tmp_path / "report" / "reliability.png").stat().st_size > 0


def _copy(run: Path, target: Path) -> Path:
    import shutil

    return Path(shutil.copytree(run, target))


def test_recalibrate_fits_the_temperature_on_the_given_texts_and_saves_it(
    calibrated_run, ag_news_dir, tmp_path
):
    from attentext.data.dataset import load_text_dataset

    run = _copy(calibrated_run, tmp_path / "run")
    before = attentext.load(run, precision="fp32")
    test = load_text_dataset(ag_news_dir, val_fraction=0.0, label_names=before.labels)["test"]
    texts, labels = list(test["text"]), np.asarray(test["label"])
    expected = fit_temperature(before.logits(texts).astype(np.float64), labels)
    old = json.loads((run / CALIBRATION_FILE).read_text())["temperature"]

    calibration, previous = attentext.recalibrate(run, ag_news_dir, split="test")

    assert previous == pytest.approx(old)
    assert calibration.temperature == pytest.approx(expected, rel=1e-3)
    assert calibration.n_examples == len(texts) and "test" in calibration.fitted_on
    saved = json.loads((run / CALIBRATION_FILE).read_text())
    assert saved["temperature"] == calibration.temperature
    assert saved["replaces_temperature"] == pytest.approx(old)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["calibration"]["temperature"] == calibration.temperature
    after = attentext.load(run, precision="fp32")
    assert after.temperature == pytest.approx(calibration.temperature)
    assert after.predict(texts) == before.predict(texts)  # labels never change
    assert calibration.nll_after <= calibration.nll_before + 1e-9


def test_recalibrate_gives_a_run_trained_without_calibration_its_file(ag_news_dir, tmp_path):
    run = attentext.train(
        "tfidf-logreg", ag_news_dir, tmp_path / "raw", overrides=["training.calibrate=false"]
    ).run_dir
    calibration, previous = attentext.recalibrate(run, ag_news_dir, split="test")
    assert previous == 1.0 and calibration.temperature != 1.0
    marker = json.loads((Path(run) / "attentext.json").read_text())
    assert CALIBRATION_FILE in marker["files"]
    assert attentext.load(run).temperature == pytest.approx(calibration.temperature)


def test_recalibrate_refuses_too_few_texts_in_one_line(calibrated_run, tmp_path):
    from conftest import labelled_csv, run_cli_here

    run = _copy(calibrated_run, tmp_path / "run")
    few = tmp_path / "few.csv"
    few.write_text(labelled_csv([("Stocks fell today", "Business")] * 10), encoding="utf-8")
    result = run_cli_here("recalibrate", run, "--data", few)
    assert result.returncode == 2
    assert "at least 50" in result.stderr and "Traceback" not in result.stderr
    saved = json.loads((run / CALIBRATION_FILE).read_text())
    assert saved["fitted_on"] == "validation"  # untouched


def test_recalibrate_cli_says_what_it_changed(calibrated_run, ag_news_dir, tmp_path):
    from conftest import run_cli_here

    run = _copy(calibrated_run, tmp_path / "run")
    result = run_cli_here("recalibrate", run, "--data", ag_news_dir, "--split", "test")
    assert result.returncode == 0, result.stderr
    new = json.loads((run / CALIBRATION_FILE).read_text())["temperature"]
    assert f"-> {new:.4f}" in result.stdout and "80 texts" in result.stdout
