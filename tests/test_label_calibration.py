"""A temperature per label for multi-label runs (attentext.evaluation.label_calibration)."""

from __future__ import annotations

import numpy as np
import pytest

from attentext.decisions import calibrated_sigmoid, log_odds, temperature_vector
from attentext.evaluation import label_calibration
from attentext.evaluation.label_calibration import (
    MIN_EXAMPLES_FOR_OWN_TEMPERATURE,
    calibrate_labels,
    fit_label_temperatures,
    measure_label_calibration,
    pair_logits,
)

LABELS = ["often", "sometimes", "rare"]


def _overconfident(rows: int = 4000, inflation: float = 3.0, seed: int = 0):
    """Targets drawn from sigmoid(z) and logits 3z: a model three times too sure of each label;
    the third label has fewer positives than a label needs for its own temperature."""
    rng = np.random.default_rng(seed)
    true_logits = np.stack(
        [rng.normal(0.0, 2.0, rows), rng.normal(-1.0, 2.0, rows), np.full(rows, -12.0)], axis=1
    )
    targets = (rng.random((rows, 3)) < calibrated_sigmoid(true_logits, None)).astype(np.int64)
    targets[:, 2] = 0
    targets[: MIN_EXAMPLES_FOR_OWN_TEMPERATURE - 1, 2] = 1
    return targets, inflation * true_logits


def test_a_sigmoid_is_the_softmax_of_zero_and_its_logit():
    logits = np.array([[-3.0, 0.0, 2.5]])
    pairs = pair_logits(logits)
    softmax = np.exp(pairs) / np.exp(pairs).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(softmax[:, 1], calibrated_sigmoid(logits, None).reshape(-1))


def test_each_label_with_enough_examples_gets_the_temperature_that_undoes_its_inflation():
    targets, logits = _overconfident()

    fitted = fit_label_temperatures(targets, logits, LABELS)

    assert set(fitted["per_label"]) == {"often", "sometimes"}  # "rare": 19 positives, pooled
    for name in ("often", "sometimes"):
        assert fitted["per_label"][name] == pytest.approx(3.0, rel=0.1)
    vector = temperature_vector(fitted, LABELS)
    assert vector[2] == fitted["pooled"] and vector[0] == fitted["per_label"]["often"]


def test_the_temperatures_lower_the_nll_and_ece_and_keep_every_labels_ranking():
    targets, logits = _overconfident()

    record = calibrate_labels(targets, logits, LABELS, "validation")
    temperatures = temperature_vector(record["label_temperatures"], LABELS)
    held_out_targets, held_out_logits = _overconfident(seed=1)
    measured = measure_label_calibration(held_out_targets, held_out_logits, temperatures)

    assert record["fitted_on"] == "validation" and record["n_examples"] == 4000
    assert record["n_pairs"] == 12000 and record["nll_after"] < record["nll_before"]
    assert measured["nll_after"] < measured["nll_before"]
    assert measured["ece_after"] < measured["ece_before"] / 2
    calibrated = calibrated_sigmoid(held_out_logits, temperatures)
    for j in range(2):
        assert (np.argsort(calibrated[:, j]) == np.argsort(held_out_logits[:, j])).all()


def test_no_temperatures_leave_the_sigmoid_as_it_is():
    logits = np.array([[0.3, -2.0]])
    assert temperature_vector(None, ["a", "b"]) is None
    np.testing.assert_allclose(calibrated_sigmoid(logits, None), 1 / (1 + np.exp(-logits)))
    np.testing.assert_allclose(log_odds(calibrated_sigmoid(logits, None)), logits)


def test_a_split_of_too_many_pairs_is_fitted_and_measured_on_a_seeded_sample(monkeypatch):
    targets, logits = _overconfident()
    monkeypatch.setattr(label_calibration, "MAX_PAIRS", 3 * 1000)

    record = calibrate_labels(targets, logits, LABELS, "validation")

    assert record["n_examples"] == 1000 and record["n_pairs"] == 3000
    assert record == calibrate_labels(targets, logits, LABELS, "validation")  # the same draw
    assert record["label_temperatures"]["per_label"]["often"] == pytest.approx(3.0, rel=0.15)
