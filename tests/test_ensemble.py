"""Ensembles: greedy selection of weights on validation, and the run directory every reader takes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

import attentext
from attentext.automl.ensemble import ensemble, log_loss, select_weights
from attentext.errors import AttentextError, AttentextNote, DataError, RunDirError
from tests.conftest import labelled_csv, run_cli_here

# --- weights -----------------------------------------------------------------------------------


def test_log_loss_is_the_mean_negative_log_probability_of_the_gold_labels():
    probabilities = np.array([[0.8, 0.2], [0.4, 0.6], [0.5, 0.5]])
    expected = -(np.log(0.8) + np.log(0.4) + np.log(0.5)) / 3
    assert log_loss(probabilities, np.array([0, 0, 1])) == pytest.approx(expected)


def test_selection_gives_every_round_to_a_run_that_is_right_and_sure():
    gold = np.array([0, 1, 1, 0, 2])
    right = np.eye(3)[gold] * 0.9 + 0.1 / 3
    unsure = np.full((5, 3), 1 / 3)
    weights = select_weights([unsure, right], gold)
    assert weights.tolist() == [0.0, 1.0]


def test_selection_mixes_runs_that_are_wrong_on_different_texts():
    gold = np.array([0, 0, 1, 1])
    # each run is confidently wrong on a different text: the mean of the two is wrong on none
    first = np.array([[0.9, 0.1], [0.2, 0.8], [0.1, 0.9], [0.1, 0.9]])
    second = np.array([[0.9, 0.1], [0.9, 0.1], [0.1, 0.9], [0.8, 0.2]])
    weights = select_weights([first, second], gold, rounds=20)
    assert weights.sum() == pytest.approx(1.0) and (weights > 0.2).all()
    mixture = weights[0] * first + weights[1] * second
    assert log_loss(mixture, gold) < min(log_loss(first, gold), log_loss(second, gold))
    assert (mixture.argmax(axis=1) == gold).all()
    assert select_weights([first, second], gold, rounds=20).tolist() == weights.tolist()


def test_selection_refuses_no_runs_and_no_rounds():
    with pytest.raises(ValueError, match="at least one"):
        select_weights([], np.array([0]))
    with pytest.raises(ValueError, match="rounds"):
        select_weights([np.eye(2)], np.array([0, 1]), rounds=0)


# --- the run directory -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def members(run_dir, ag_news_dir, tmp_path_factory) -> list[Path]:
    """The session's seed-transformer run and a TF-IDF run on the same tiny AG News."""
    import attentext

    out = tmp_path_factory.mktemp("ensemble-members") / "tfidf"
    attentext.train("tfidf-logreg", ag_news_dir, out)
    return [run_dir, out]


@pytest.fixture(scope="module")
def built(members, ag_news_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("ensemble") / "mix"
    return ensemble(members, ag_news_dir, out, rounds=10)


def test_an_ensemble_answers_the_weighted_mean_of_its_members(built, members):
    import attentext

    texts = ["Oil prices rise as stocks fall", "The team won the final in extra time"]
    mixed = attentext.load(built.run_dir)
    by_name = {path.name: attentext.load(path) for path in members}
    mean = sum(w * by_name[name].predict_proba(texts) for name, w in built.weights.items())
    scaled = np.log(mean) / mixed.temperature  # the mixture's temperature, on its log
    expected = np.exp(scaled) / np.exp(scaled).sum(axis=1, keepdims=True)
    assert np.allclose(mixed.predict_proba(texts), expected)
    assert mixed.predict(texts) == [mixed.labels[i] for i in expected.argmax(axis=1)]
    assert sum(built.weights.values()) == pytest.approx(1.0)
    assert set(built.runs) == {path.name for path in members}  # each run's validation scores
    record = json.loads((built.run_dir / "ensemble.json").read_text(encoding="utf-8"))
    assert [m["name"] for m in record["members"]] == list(built.weights)
    for name in built.weights:  # each kept member is a complete run inside the ensemble
        assert (built.run_dir / "members" / name / "attentext.json").is_file()


def test_evaluate_compare_recalibrate_and_the_card_take_an_ensemble(built, ag_news_dir, tmp_path):
    import attentext

    report = attentext.evaluate(built.run_dir, ag_news_dir, output=tmp_path / "report")
    assert 0 <= report.accuracy <= 1 and (tmp_path / "report" / "report.md").exists()
    rows = attentext.compare([built.run_dir], ag_news_dir, split="test")
    assert rows[0]["recipe"] == "ensemble" and rows[0]["size_mb"] > 0.01  # members counted
    card = (built.run_dir / "README.md").read_text(encoding="utf-8")
    assert "## Members" in card and "An ensemble of" in card
    assert "4 labels: `World`, `Sports`, `Business`, `Sci/Tech`" in card
    copy = tmp_path / "copy"
    shutil.copytree(built.run_dir, copy)
    fitted = attentext.load(built.run_dir).temperature  # the mixture's own, on validation
    record = json.loads((built.run_dir / "calibration.json").read_text(encoding="utf-8"))
    assert record["fitted_on"] == "validation" and record["temperature"] == fitted
    assert record["nll_after"] <= record["nll_before"] + 1e-9
    assert card.count("Temperature scaling") == 1
    calibration, previous = attentext.recalibrate(copy, ag_news_dir, split="test")
    assert previous == pytest.approx(fitted)
    assert attentext.load(copy).temperature == pytest.approx(calibration.temperature)
    texts = ["Oil prices rise as stocks fall", "The team won the final in extra time"]
    assert attentext.load(copy).predict(texts) == attentext.load(built.run_dir).predict(texts)


def test_the_server_answers_with_an_ensemble_and_refuses_to_explain_it(built):
    from attentext.serving import create_app

    with TestClient(create_app([built.run_dir])) as client:
        answer = client.post("/v1/predict", json={"texts": ["Oil prices rise"]})
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"][0]["label"]
        refused = client.post("/v1/explain", json={"text": "Oil prices rise"})
        assert refused.status_code == 422 and "ensemble" in refused.text


def test_explain_export_and_summary_refuse_an_ensemble_in_one_line(built, members):
    import attentext
    from attentext.export.onnx import export_onnx

    with pytest.raises(AttentextError, match="an ensemble has no layers"):
        attentext.summary(built.run_dir)
    with pytest.raises(AttentextError, match="a tfidf-logreg run has no layers"):
        attentext.summary(members[1])

    # the way that works on an ensemble is named first (a docs audit found it unsaid)
    with pytest.raises(AttentextError, match="with --method occlusion .* or one of its members"):
        attentext.explain(built.run_dir, ["Oil prices rise"])
    with pytest.raises(AttentextError, match="an ensemble has no network of its own to export"):
        export_onnx(built.run_dir)


def test_the_cli_builds_an_ensemble_and_says_its_weights(members, ag_news_dir, tmp_path):
    result = run_cli_here(
        "ensemble", *members, "--data", ag_news_dir, "--output", tmp_path / "mix", "--rounds", "5"
    )
    assert result.returncode == 0, result.stderr
    assert "ensemble (" in result.stdout and "validation accuracy" in result.stdout
    assert (tmp_path / "mix" / "attentext.json").is_file()


# --- refusals ----------------------------------------------------------------------------------


def test_an_ensemble_needs_two_runs_on_the_same_labels(members, ag_news_dir, write, tmp_path):
    import attentext

    with pytest.raises(AttentextError, match="at least two"):
        ensemble(members[:1], ag_news_dir, tmp_path / "one")
    with pytest.raises(AttentextError, match="--rounds must be at least 1"):
        ensemble(members, ag_news_dir, tmp_path / "none", rounds=0)
    other = write("other.csv", labelled_csv([(f"text {i}", "ab"[i % 2]) for i in range(40)]))
    stranger = tmp_path / "stranger"
    attentext.train("tfidf-logreg", other, stranger)
    with pytest.raises(DataError, match="same labels"):
        ensemble([members[1], stranger], ag_news_dir, tmp_path / "mixed")


def test_an_ensemble_refuses_a_run_that_carved_another_validation_split(
    members, ag_news_dir, tmp_path
):
    """Another training seed carves another validation split from train, so the run trained on
    texts the weights would be chosen on; with the first run's data seed it carves the same."""
    import attentext

    leaky = tmp_path / "seed-7"
    attentext.train("tfidf-logreg", ag_news_dir, leaky, overrides=["training.seed=7"])
    with pytest.raises(DataError, match=r"data seed 7.*--set data.seed=N"):
        ensemble([members[1], leaky], ag_news_dir, tmp_path / "leaky-mix")
    shared = tmp_path / "seed-7-data-42"
    attentext.train(
        "tfidf-logreg", ag_news_dir, shared, overrides=["training.seed=7", "data.seed=42"]
    )
    result = ensemble([members[1], shared], ag_news_dir, tmp_path / "mix", rounds=4)
    assert sum(result.weights.values()) == pytest.approx(1.0)


def test_an_ensemble_is_not_written_into_one_of_its_runs(members, ag_news_dir):
    for output in (members[1], members[1] / "mix"):
        with pytest.raises(AttentextError, match="the member run .*choose an --output apart"):
            ensemble(members, ag_news_dir, output, overwrite=True)
    assert (members[1] / "attentext.json").is_file() and not (members[1] / "mix").exists()


def test_an_output_that_cannot_be_written_is_refused_before_any_member_predicts(
    members, ag_news_dir, tmp_path
):
    """Audit round 3: a file, or a finished run without --overwrite, at --output was refused
    only after every member had predicted the validation split (minutes for encoders)."""
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "attentext.json").write_text("{}")
    (tmp_path / "notes.txt").write_text("mine")
    for output, words in ((tmp_path / "notes.txt", "is a file"), (existing, "already exists")):
        said: list[str] = []
        with pytest.raises(RunDirError, match=words):
            ensemble(members, ag_news_dir, output, progress=said.append)
        assert not said, said
    assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize(
    "members_field",
    [
        [{"name": "../tfidf", "weight": 1.0}],
        [{"name": "tfidf", "weight": -1.0}],
        [{"name": "tfidf", "weight": 0.5}],  # weights that do not sum to 1
        [{"name": "nowhere", "weight": 1.0}],
        "tfidf",
    ],
)
def test_a_tampered_ensemble_file_is_refused_in_one_line(built, tmp_path, members_field):
    import attentext

    copy = tmp_path / "copy"
    shutil.copytree(built.run_dir, copy)
    (copy / "ensemble.json").write_text(json.dumps({"members": members_field}), encoding="utf-8")
    with pytest.raises(RunDirError, match="ensemble.json: not an ensemble's members"):
        attentext.load(copy)


def test_a_member_folder_that_is_a_link_is_refused(built, tmp_path):
    import attentext

    copy = tmp_path / "copy"
    shutil.copytree(built.run_dir, copy)
    name = next(iter(built.weights))
    shutil.move(copy / "members" / name, tmp_path / "elsewhere")
    (copy / "members" / name).symlink_to(tmp_path / "elsewhere")
    with pytest.raises(RunDirError):
        attentext.load(copy)


def test_a_teacher_ensemble_is_fingerprinted_with_its_members(built, tmp_path):
    from attentext.training.distill import _teacher_fingerprint

    copy = tmp_path / "copy"
    shutil.copytree(built.run_dir, copy)
    before = _teacher_fingerprint(copy)
    name = next(iter(built.weights))
    metrics = copy / "members" / name / "metrics.json"
    metrics.write_text(metrics.read_text(encoding="utf-8") + " ", encoding="utf-8")
    assert _teacher_fingerprint(copy) != before


def test_an_ensemble_of_shots_runs_says_where_it_is_weighed_or_refuses_their_examples(
    ag_news_dir, tmp_path
):
    """Runs of `--shots` hold out no validation split: their ensemble was weighed on one carved
    from train without a word, and, where a class left beside validation had fewer than N
    texts (training then draws from the whole file), on texts they trained on."""
    runs = {}
    for shots, c in ((8, 1), (8, 10), (50, 1)):  # ag_news_tiny: 50 texts a class
        runs[shots, c] = tmp_path / f"s{shots}-c{c}"
        options = [f"data.shots={shots}", f"model.options.C={c}"]
        attentext.train("tfidf-logreg", ag_news_dir, runs[shots, c], overrides=options)
    with pytest.warns(AttentextNote, match=r"held out no validation split: weighing them on"):
        ensemble([runs[8, 1], runs[8, 10]], ag_news_dir, tmp_path / "eight", rounds=3)
    with pytest.raises(DataError, match="drew 50 examples per class from all of"):
        ensemble([runs[8, 1], runs[50, 1]], ag_news_dir, tmp_path / "fifty", rounds=3)
    assert not (tmp_path / "fifty").exists()
