"""Calibration fitted to a better-calibrated run's probabilities of unlabeled texts
(`attentext recalibrate RUN --reference REF --texts FILE`): soft targets in the temperature,
the ECE and the confidence map, and the command end to end."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import attentext
from attentext.confidence import fit_confidence_map, top_label_hits
from attentext.evaluation.calibration import fit_temperature, log_softmax, nll
from attentext.evaluation.metrics import expected_calibration_error
from attentext.rundir import CALIBRATION_FILE


def _true_and_inflated(n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated probabilities q = softmax(z) and a model's logits 3 z: three times too sure."""
    z = np.random.default_rng(seed).normal(scale=1.5, size=(n, 4))
    return np.exp(log_softmax(z)), 3 * z


def test_one_hot_targets_fit_the_temperature_gold_labels_fit():
    q, logits = _true_and_inflated()
    labels = np.random.default_rng(1).integers(0, 4, len(q))
    one_hot = np.eye(4)[labels]
    assert fit_temperature(logits, one_hot) == pytest.approx(fit_temperature(logits, labels), 1e-4)
    assert nll(logits, one_hot, 2.0) == pytest.approx(nll(logits, labels, 2.0))


def test_a_calibrated_reference_gives_back_the_temperature_that_undoes_the_inflation():
    q, logits = _true_and_inflated()
    assert fit_temperature(logits, q) == pytest.approx(3.0, rel=1e-3)


def test_against_a_reference_a_hit_is_the_probability_it_gives_the_top_label():
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    reference = np.array([[0.5, 0.4, 0.1], [0.2, 0.2, 0.6]])
    np.testing.assert_allclose(top_label_hits(p, reference), [0.5, 0.6])
    np.testing.assert_allclose(top_label_hits(p, np.array([0, 1])), [1.0, 0.0])
    # probabilities measured against themselves are calibrated by definition
    q, _ = _true_and_inflated()
    assert expected_calibration_error(q, q)[0] == pytest.approx(0.0, abs=1e-12)


def test_a_confidence_map_fitted_to_a_reference_brings_the_model_to_it():
    q, logits = _true_and_inflated()
    p = np.exp(log_softmax(logits))
    assert expected_calibration_error(p, q)[0] > 0.1
    mapped = fit_confidence_map(p, q).apply(p)
    assert expected_calibration_error(mapped, q)[0] < 0.01
    np.testing.assert_array_equal(mapped.argmax(1), p.argmax(1))


@pytest.fixture(scope="module")
def seed_run(ag_news_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reference") / "seed"
    attentext.train("seed-transformer", ag_news_dir, out, epochs=3, precision="fp32")
    return out


@pytest.fixture
def texts_file(ag_news_dir, tmp_path) -> Path:
    from attentext.data.dataset import load_text_dataset

    test = load_text_dataset(ag_news_dir, val_fraction=0.0)["test"]
    path = tmp_path / "to_score.txt"
    path.write_text("\n".join(test["text"]) + "\n\n", encoding="utf-8")  # a blank line: skipped
    return path


def test_recalibrate_to_a_reference_fits_its_probabilities_without_labels(
    seed_run, ag_news_dir, texts_file, tmp_path
):
    """The run's own copy, with its validation temperature, as the reference of the run moved
    off it by a labelled recalibration: the reference's probabilities are softmax(logits /
    T_validation) of the same logits, so fitting to them must give T_validation back."""
    run, reference = (shutil.copytree(seed_run, tmp_path / name) for name in ("run", "ref"))
    run, reference = Path(run), Path(reference)
    t_validation = attentext.load(reference, precision="fp32").temperature
    moved, _ = attentext.recalibrate(run, ag_news_dir, split="test")
    assert moved.temperature != pytest.approx(t_validation, rel=1e-2)
    before = attentext.load(run, precision="fp32").predict(texts_file.read_text().split("\n")[:80])

    calibration, previous = attentext.recalibrate(run, texts_file, reference=reference)

    assert previous == pytest.approx(moved.temperature)
    assert calibration.temperature == pytest.approx(t_validation, rel=1e-3)
    assert calibration.n_examples == 80  # the blank line is not a text
    assert calibration.ece_after == pytest.approx(0.0, abs=1e-3)  # measured against the reference
    saved = json.loads((run / CALIBRATION_FILE).read_text())
    assert saved["reference"] == str(reference) and str(reference) in saved["fitted_on"]
    card = " ".join((run / "README.md").read_text(encoding="utf-8").split())
    assert f"calibrated on 80 texts of to_score.txt, the probabilities of {reference}" in card
    assert "(measured against them)" in card
    after = attentext.load(run, precision="fp32")
    assert after.temperature == pytest.approx(t_validation, rel=1e-3)
    assert after.predict(texts_file.read_text().split("\n")[:80]) == before


def test_recalibrate_to_a_reference_on_the_command_line(seed_run, texts_file, tmp_path):
    from conftest import run_cli_here

    run = Path(shutil.copytree(seed_run, tmp_path / "run"))
    result = run_cli_here(
        "recalibrate",
        run,
        "--reference",
        seed_run,
        "--texts",
        texts_file,
        "--method",
        "temperature",
    )
    assert result.returncode == 0, result.stderr
    assert "80 texts" in result.stdout and "against its probabilities" in result.stdout


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--reference", "{ref}"], "--reference fits on unlabeled --texts"),
        (["--reference", "{run}", "--texts", "{texts}"], "cannot be its own reference"),
        (["--reference", "{other}", "--texts", "{texts}"], "are not the run's"),
        (["--reference", "{ref}", "--texts", "{texts}", "--method", "isotonic"], "at least 2,000"),
    ],
)
def test_recalibrate_to_a_reference_refuses_what_cannot_work_in_one_line(
    seed_run, ag_news_dir, texts_file, tmp_path, arguments, message
):
    from conftest import labelled_csv, run_cli_here

    run = Path(shutil.copytree(seed_run, tmp_path / "run"))
    two_labels = tmp_path / "two.csv"
    two_labels.write_text(
        labelled_csv([(f"markets rally {i}", "Business") for i in range(30)])
        + labelled_csv([(f"team wins {i}", "Sports") for i in range(30)]).split("\n", 1)[1],
        encoding="utf-8",
    )
    other = attentext.train("tfidf-logreg", two_labels, tmp_path / "other").run_dir
    values = {"ref": seed_run, "run": run, "texts": texts_file, "other": other}
    result = run_cli_here("recalibrate", run, *(a.format(**values) for a in arguments))
    assert result.returncode == 2, result.stdout
    assert message in result.stderr and "Traceback" not in result.stderr
    assert json.loads((run / CALIBRATION_FILE).read_text())["fitted_on"] == "validation"


def test_a_large_file_of_texts_is_read_as_a_seeded_sample(tmp_path, monkeypatch):
    from attentext.evaluation import recalibrate as module

    monkeypatch.setattr(module, "MAX_UNLABELED_TEXTS", 100)
    path = tmp_path / "many.txt"
    path.write_text(
        "\n".join(f"text number {i}" for i in range(1000)) + "\n\n  \n", encoding="utf-8"
    )
    texts, described = module.unlabeled_sample(path)
    assert len(texts) == 100 and described == "100 texts drawn from 1,000"
    assert texts == module.unlabeled_sample(path)[0]  # the same draw every time
    assert texts == sorted(texts, key=lambda t: int(t.split()[-1]))  # in file order
    few = tmp_path / "few.txt"
    few.write_text("one\n\ntwo\n", encoding="utf-8")
    assert module.unlabeled_sample(few) == (["one", "two"], "2 texts")
