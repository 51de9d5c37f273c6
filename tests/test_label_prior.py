"""The label prior (`training.label_prior: balanced`): the training split's label shares divided
out of the calibrated probabilities by a bias per label, saved in calibration.json and applied
by every reader (predict, evaluate, ONNX, the server), kept by recalibrate."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import attentext
from attentext.errors import DataError, RecipeError, RunDirError
from attentext.evaluation.calibration import fit_temperature, log_softmax
from attentext.label_prior import estimated_shares, label_bias, shift_bias, shifted_logits
from attentext.recipes import resolve_recipe
from attentext.rundir import CALIBRATION_FILE


def test_the_bias_divides_out_the_training_shares():
    bias = label_bias([300, 100], "balanced")
    assert bias == pytest.approx([np.log(0.5 / 0.75), np.log(0.5 / 0.25)], abs=1e-6)
    assert label_bias([300, 100], "train") is None
    assert label_bias([5, 5, 5], "balanced") == pytest.approx([0.0, 0.0, 0.0])
    assert label_bias([10, 0, 10], "balanced")[1] == 0.0  # a label never seen: nothing to undo
    with pytest.raises(ValueError, match="train, balanced"):
        label_bias([1, 1], "uniform")


def test_shifted_probabilities_are_bayes_rule_for_the_new_prior():
    rng = np.random.default_rng(0)
    logits, counts = rng.normal(size=(50, 3)) * 3, np.array([600, 300, 100])
    train_prior = counts / counts.sum()
    p_train = np.exp(log_softmax(logits, 2.0))
    expected = p_train / train_prior / (p_train / train_prior).sum(axis=1, keepdims=True)
    shifted = np.exp(log_softmax(shifted_logits(logits, 2.0, label_bias(counts, "balanced"))))
    np.testing.assert_allclose(shifted, expected, atol=1e-5)
    assert shifted_logits(logits, 2.0, None) == pytest.approx(logits / 2.0)


def test_the_recipe_checks_the_setting():
    assert resolve_recipe("seed-transformer", label_prior="balanced").training.label_prior == (
        "balanced"
    )
    with pytest.raises(RecipeError, match="label_prior must be one of train, balanced"):
        resolve_recipe("seed-transformer", overrides=["training.label_prior=even"])
    with pytest.raises(RecipeError, match="one label per text"):
        resolve_recipe("seed-transformer", multi_label=True, label_prior="balanced")


@pytest.fixture(scope="module")
def skewed_data(ag_news_dir, tmp_path_factory) -> Path:
    """ag_news_tiny's train with 3 of every 4 Sports and Business rows dropped (50/50/13/13),
    its balanced test kept."""
    folder = tmp_path_factory.mktemp("skewed")
    with open(ag_news_dir / "train.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    seen: dict[str, int] = {}
    kept = []
    for row in rows:
        seen[row[0]] = seen.get(row[0], 0) + 1
        if row[0] in ("1", "4") or seen[row[0]] % 4 == 0:
            kept.append(row)
    with open(folder / "train.csv", "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, quoting=csv.QUOTE_ALL).writerows(kept)
    for name in ("test.csv", "classes.txt"):
        shutil.copy(ag_news_dir / name, folder / name)
    return folder


@pytest.fixture(scope="module")
def balanced_run(skewed_data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("prior") / "tfidf"
    return Path(attentext.train("tfidf-logreg", skewed_data, out, label_prior="balanced").run_dir)


def test_a_run_saves_the_training_counts_and_their_bias(balanced_run):
    saved = json.loads((balanced_run / CALIBRATION_FILE).read_text(encoding="utf-8"))
    prior = saved["label_prior"]
    assert prior["target"] == "balanced"
    counts = prior["train_counts"]
    assert counts["World"] > 3 * counts["Sports"] and sum(counts.values()) > 100
    shares = np.array(list(counts.values()), dtype=float) / sum(counts.values())
    assert prior["bias"] == pytest.approx(list(np.log(0.25 / shares)), abs=1e-5)
    assert attentext.load(balanced_run).label_bias == pytest.approx(prior["bias"], abs=1e-6)


def test_the_baseline_applies_the_bias_after_its_temperature(balanced_run):
    classifier = attentext.load(balanced_run)
    texts = ["Stocks fell as oil prices rose", "The Yankees beat the Red Sox", "A new chip"]
    raw = classifier.model.predict_proba(classifier.vectorizer.transform(texts))
    expected = np.exp(
        log_softmax(shifted_logits(np.log(raw), classifier.temperature, classifier.label_bias))
    )
    np.testing.assert_allclose(classifier.predict_proba(texts), expected, atol=1e-6)


@pytest.fixture(scope="module")
def plain_run(skewed_data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("prior") / "plain"
    return Path(attentext.train("tfidf-logreg", skewed_data, out).run_dir)


def test_the_rare_labels_gain_what_the_prior_took(balanced_run, plain_run, skewed_data):
    """The same texts, the same model: the balanced prior predicts the rare labels more often,
    and the run's own test report (metrics.json) is what `evaluate` measures."""
    plain = plain_run
    reports = {
        "balanced": attentext.evaluate(balanced_run, skewed_data),
        "plain": attentext.evaluate(plain, skewed_data),
    }
    rare = [reports["plain"].label_names.index(name) for name in ("Sports", "Business")]
    predicted_rare = {
        kind: int(np.asarray(report.confusion)[:, rare].sum()) for kind, report in reports.items()
    }
    assert predicted_rare["balanced"] > predicted_rare["plain"]
    balanced = reports["balanced"].to_dict()
    metrics = json.loads((balanced_run / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["test"]["accuracy"] == pytest.approx(balanced["accuracy"])
    assert balanced["calibration"]["label_prior"] == "balanced"
    assert metrics["calibration"]["test"]["ece_after"] == pytest.approx(
        balanced["expected_calibration_error"], abs=1e-6
    )


@pytest.fixture
def neural_with_prior(run_dir, tmp_path) -> Path:
    """The session's seed-transformer run, with a label prior written into its calibration."""
    run = Path(shutil.copytree(run_dir, tmp_path / "run"))
    record = json.loads((run / CALIBRATION_FILE).read_text(encoding="utf-8"))
    record["label_prior"] = {"target": "balanced", "bias": [0.9, -0.4, 0.3, -1.2]}
    _write_calibration(run, record)
    return run


def _write_calibration(run: Path, record: dict) -> None:
    """calibration.json and metrics.json's record of it, as `recalibrate` writes them (a run
    whose two disagree is refused as torn since round 13, R13-L3)."""
    (run / CALIBRATION_FILE).write_text(json.dumps(record), encoding="utf-8")
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    (run / "metrics.json").write_text(json.dumps({**metrics, "calibration": record}))


TEXTS = ["Oil prices jump as OPEC cuts output", "The Yankees win again", "A new chip"]


def test_every_reader_adds_the_bias(neural_with_prior, tmp_path):
    from attentext.serving.state import calibrated_logits

    classifier = attentext.load(neural_with_prior, precision="fp32")
    bias = np.array([0.9, -0.4, 0.3, -1.2])
    shifted = classifier.logits(TEXTS) / classifier.temperature + bias
    np.testing.assert_allclose(
        classifier.predict_proba(TEXTS), np.exp(log_softmax(shifted)), atol=1e-5
    )
    assert classifier.predict(TEXTS) == [classifier.labels[i] for i in shifted.argmax(1)]
    np.testing.assert_allclose(calibrated_logits(classifier)(TEXTS), shifted, atol=1e-5)


def test_the_onnx_backend_adds_the_same_bias(neural_with_prior):
    pytest.importorskip("onnxruntime")
    from attentext.export.onnx import export_onnx

    export_onnx(neural_with_prior)
    torch_side = attentext.load(neural_with_prior, precision="fp32").predict_proba(TEXTS)
    onnx_side = attentext.load(neural_with_prior, backend="onnx").predict_proba(TEXTS)
    np.testing.assert_allclose(onnx_side, torch_side, atol=1e-4)


def test_a_bias_of_the_wrong_length_is_a_damaged_run(neural_with_prior):
    record = json.loads((neural_with_prior / CALIBRATION_FILE).read_text(encoding="utf-8"))
    record["label_prior"]["bias"] = [0.1, 0.2]
    _write_calibration(neural_with_prior, record)
    with pytest.raises(RunDirError, match="2 numbers for 4 labels"):
        attentext.load(neural_with_prior, precision="fp32")


def test_recalibrate_fits_the_temperature_beside_the_prior_and_keeps_it(
    neural_with_prior, ag_news_dir
):
    from attentext.data.dataset import load_text_dataset

    classifier = attentext.load(neural_with_prior, precision="fp32")
    test = load_text_dataset(ag_news_dir, val_fraction=0.0, label_names=classifier.labels)["test"]
    logits = classifier.logits(list(test["text"])).astype(np.float64)
    bias = [0.9, -0.4, 0.3, -1.2]
    expected = fit_temperature(logits, np.asarray(test["label"]), bias=bias)
    calibration, _ = attentext.recalibrate(neural_with_prior, ag_news_dir, split="test")
    assert calibration.temperature == pytest.approx(expected, rel=1e-3)
    saved = json.loads((neural_with_prior / CALIBRATION_FILE).read_text(encoding="utf-8"))
    assert saved["label_prior"]["bias"] == bias


def test_a_trained_run_takes_a_prior_without_retraining(plain_run, balanced_run, tmp_path):
    run = Path(shutil.copytree(plain_run, tmp_path / "run"))
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    assert (
        sum(metrics["data_profile"]["label_counts"].values()) == metrics["data_profile"]["n_train"]
    )
    texts = ["Stocks fell as oil prices rose", "The Yankees beat the Red Sox", "A new chip"]

    record = attentext.set_label_prior(run, "balanced")

    trained_with_it = json.loads((balanced_run / CALIBRATION_FILE).read_text(encoding="utf-8"))
    assert record["label_prior"] == trained_with_it["label_prior"]
    assert record["temperature"] == trained_with_it["temperature"]
    np.testing.assert_allclose(
        attentext.load(run).predict_proba(texts),
        attentext.load(balanced_run).predict_proba(texts),
        atol=1e-9,
    )
    saved = json.loads((run / "metrics.json").read_text(encoding="utf-8"))["calibration"]
    assert "label_prior" in saved and "test" not in saved  # the old prior's figures are gone
    attentext.set_label_prior(run, "train")
    assert attentext.load(run).label_bias is None
    np.testing.assert_allclose(
        attentext.load(run).predict_proba(texts),
        attentext.load(plain_run).predict_proba(texts),
        atol=1e-9,
    )


def test_a_run_without_its_label_counts_is_told_to_retrain(plain_run, tmp_path):
    run = Path(shutil.copytree(plain_run, tmp_path / "run"))
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    del metrics["data_profile"]["label_counts"]
    (run / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    with pytest.raises(RunDirError, match="train it again with --label-prior"):
        attentext.set_label_prior(run, "balanced")


def test_the_recalibrate_command_sets_a_prior_alone(plain_run, tmp_path):
    from conftest import run_cli_here

    run = Path(shutil.copytree(plain_run, tmp_path / "run"))
    result = run_cli_here("recalibrate", run, "--label-prior", "balanced")
    assert result.returncode == 0, result.stderr
    assert "label prior balanced" in result.stdout
    assert attentext.load(run).label_bias is not None
    neither = run_cli_here("recalibrate", run)
    assert neither.returncode == 2
    assert "--data" in neither.stderr and "Traceback" not in neither.stderr


def _simulated(shares: list[float], train: list[float], n: int = 6000) -> np.ndarray:
    """The exact posteriors of a model trained under `train` shares, on texts drawn in `shares`:
    each text a point of its label's Gaussian (unit variance, means 2 apart), so that
    p(y | x) is proportional to N(x; mean_y) * train(y), calibrated for the training shares."""
    rng = np.random.default_rng(0)
    labels = rng.choice(len(shares), size=n, p=shares)
    means = 2.0 * np.eye(len(shares))
    points = means[labels] + rng.normal(size=(n, len(shares)))
    log_density = -0.5 * ((points[:, None, :] - means[None, :, :]) ** 2).sum(axis=2)
    posterior = np.exp(log_density) * np.asarray(train)
    return posterior / posterior.sum(axis=1, keepdims=True)


def test_em_recovers_the_label_shares_of_unlabeled_texts():
    train_counts = [500, 300, 200]
    shifted = estimated_shares(_simulated([0.2, 0.3, 0.5], [0.5, 0.3, 0.2]), train_counts)
    np.testing.assert_allclose(shifted, [0.2, 0.3, 0.5], atol=0.03)
    same = estimated_shares(_simulated([0.5, 0.3, 0.2], [0.5, 0.3, 0.2]), train_counts)
    np.testing.assert_allclose(same, [0.5, 0.3, 0.2], atol=0.03)
    # a label the training split never had gets no bias: there is no share of it to undo
    assert shift_bias([0.25, 0.25, 0.5], [50, 50, 0]) == pytest.approx(
        [np.log(0.5), np.log(0.5), 0]
    )


@pytest.fixture
def texts_file(skewed_data, tmp_path) -> Path:
    """The skewed data's test texts (balanced), one per line: texts to score, unlabeled."""
    with open(skewed_data / "test.csv", encoding="utf-8", newline="") as handle:
        texts = [f"{title} {body}".strip() for _, title, body in csv.reader(handle)]
    path = tmp_path / "to_score.txt"
    path.write_text("\n".join(texts) + "\n", encoding="utf-8")
    return path


def test_a_prior_estimated_on_the_texts_to_score(plain_run, texts_file, tmp_path):
    from conftest import run_cli_here

    run = Path(shutil.copytree(plain_run, tmp_path / "run"))
    result = run_cli_here("recalibrate", run, "--label-prior", "estimated", "--texts", texts_file)
    assert result.returncode == 0, result.stderr
    assert "label prior estimated, shares" in " ".join(result.stdout.split())
    prior = json.loads((run / CALIBRATION_FILE).read_text(encoding="utf-8"))["label_prior"]
    counts, shares = prior["train_counts"], prior["estimated_shares"]
    train_share = counts["Sports"] / sum(counts.values())
    assert shares["Sports"] > train_share  # the balanced test texts hold more Sports than train
    assert min(shares.values()) > 0.1  # a weak model (118 texts): the prior keeps EM off corners
    assert prior["bias"] == pytest.approx(
        shift_bias(list(shares.values()), list(counts.values())), abs=1e-3
    )
    assert "80 texts of to_score.txt" in prior["estimated_on"]
    with pytest.raises(RecipeError, match="needs texts"):
        attentext.set_label_prior(run, "estimated")
    few = tmp_path / "few.txt"
    few.write_text("Stocks fell\n" * 10, encoding="utf-8")
    with pytest.raises(DataError, match="needs 50"):
        attentext.set_label_prior(run, "estimated", texts=few)


def test_em_drifting_away_from_the_runs_own_probabilities_is_caught():
    """A run unsure of a rare label everywhere (5 % on every text, 1.6 % of training) feeds EM,
    which hands that label most of the texts (trec's flat runs did so, at a cost of up to 28
    points); the drift check names it. A run whose probabilities lead EM is left alone."""
    from attentext.label_prior import drifted_labels

    rng = np.random.default_rng(0)
    n, counts = 500, [16, 492, 492]
    gold = rng.integers(1, 3, n)
    flat = np.zeros((n, 3))
    flat[:, 0] = 0.05
    flat[np.arange(n), gold] = 0.85
    flat[np.arange(n), 3 - gold] = 0.10
    shares = estimated_shares(flat, counts)
    assert shares[0] > 0.5  # EM ran away with the rare label
    assert drifted_labels(flat, shares)[0] == 0  # named first: the most drifted
    honest = _simulated([0.2, 0.3, 0.5], [0.5, 0.3, 0.2])
    assert drifted_labels(honest, estimated_shares(honest, [500, 300, 200])) == []


def test_a_drifted_estimate_is_refused_and_the_run_keeps_its_prior(
    plain_run, texts_file, tmp_path, monkeypatch
):
    from conftest import run_cli_here

    import attentext.label_prior as label_prior

    monkeypatch.setattr(label_prior, "MAX_DRIFT", 1.0 + 1e-9)  # any move at all counts as drift
    run = Path(shutil.copytree(plain_run, tmp_path / "run"))
    before = (run / CALIBRATION_FILE).read_bytes()
    result = run_cli_here("recalibrate", run, "--label-prior", "estimated", "--texts", texts_file)
    assert result.returncode == 2, result.stdout
    message = " ".join(result.stderr.split())
    assert "not to be trusted" in message and "keeps its prior" in message
    assert "Traceback" not in result.stderr
    assert (run / CALIBRATION_FILE).read_bytes() == before
