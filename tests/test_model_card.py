"""The model card every run directory carries (issue #21): README.md in the Hugging Face
model-card format, written when a run is published (listed in its marker), parsed by
`huggingface_hub.ModelCard` with its metrics; `attentext card` prints it, builds it for a run
made before cards, and `evaluate --card` refreshes it with an evaluation on other data."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import AG_NEWS_LABELS, run_cli_here

import attentext
from attentext.evaluation.card import CARD_FILE, data_name, model_card
from attentext.rundir import MARKER, open_run

huggingface_hub = pytest.importorskip("huggingface_hub")
from huggingface_hub import ModelCard  # noqa: E402


@pytest.fixture(scope="module")
def tfidf_run(ag_news_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("card") / "tfidf"
    return Path(attentext.train("tfidf-logreg", ag_news_dir, out).run_dir)


def results(card: ModelCard) -> dict[tuple[str, str, str], float]:
    """(dataset, split, metric name) -> value of the card's model-index."""
    return {
        (r.dataset_name, r.dataset_split, r.metric_name): r.metric_value
        for r in card.data.eval_results
    }


def test_a_published_run_has_a_card_listed_in_its_marker(run_dir):
    marker = json.loads((run_dir / MARKER).read_text())
    assert CARD_FILE in marker["files"]
    card = ModelCard((run_dir / CARD_FILE).read_text(encoding="utf-8"))
    assert card.data.pipeline_tag == "text-classification"
    assert card.data.library_name == "attentext"
    assert card.data.to_dict()["labels"] == AG_NEWS_LABELS
    assert card.data.model_name == run_dir.name


def test_the_card_holds_the_metrics_and_the_calibration(run_dir):
    metrics = json.loads((run_dir / "metrics.json").read_text())
    text = (run_dir / CARD_FILE).read_text(encoding="utf-8")
    found = results(ModelCard(text))
    data = data_name(open_run(run_dir))
    assert data == "ag_news_tiny"  # the training data by its folder's name, as recorded
    for split in ("test", "validation"):
        assert found[(data, split, "Accuracy")] == round(metrics[split]["accuracy"], 4)
        assert found[(data, split, "Macro F1")] == round(metrics[split]["macro_f1"], 4)
    calibration = metrics["calibration"]
    assert f"T = {calibration['temperature']:.4f}" in text
    assert f"| {calibration['ece_before']:.4f} | {calibration['ece_after']:.4f} |" in text
    for label in AG_NEWS_LABELS:
        assert f"| {label} | " in text  # a row of the per-class table
    for section in ("## Recipe", "## Training data", "## Intended use and limits"):
        assert section in text
    assert 'pipeline("text-classification", model="seed")' in text
    assert f"| train | {metrics['n_train']:,} |" in text


def test_a_runs_metrics_and_card_give_each_accuracy_its_interval(tfidf_run):
    """10 validation texts at 0.8 read as a result as firm as 80 test texts: metrics.json and the
    card give each split's accuracy its 95 % interval (Wilson), which holds the accuracy."""
    metrics = json.loads((tfidf_run / "metrics.json").read_text())
    text = (tfidf_run / CARD_FILE).read_text(encoding="utf-8")
    for split in ("validation", "test"):
        low, high = metrics[split]["accuracy_interval"]
        assert low < metrics[split]["accuracy"] < high
        assert f"Accuracy's 95 % interval (Wilson): {low:.4f}-{high:.4f}." in text
        low, high = metrics[split]["macro_f1_interval"]
        assert low <= metrics[split]["macro_f1"] <= high
        assert f"Macro-F1's 95 % interval (bootstrap): {low:.4f}-{high:.4f}." in text
    small, large = (metrics[s]["accuracy_interval"] for s in ("validation", "test"))
    assert small[1] - small[0] > large[1] - large[0]  # fewer texts, a wider interval


def test_the_baseline_card_says_it_loads_with_attentext_only(tfidf_run):
    text = (tfidf_run / CARD_FILE).read_text(encoding="utf-8")
    assert "pipeline(" not in text and "loads with attentext only" in text
    assert results(ModelCard(text))[("ag_news_tiny", "test", "Accuracy")] > 0


def test_attentext_card_prints_the_card(run_dir):
    result = run_cli_here("card", run_dir)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (run_dir / CARD_FILE).read_text(encoding="utf-8")


def made_before_cards(run: Path, folder: Path) -> Path:
    """A copy of `run` as runs were written before cards: no README.md, not in the marker."""
    old = folder / run.name
    shutil.copytree(run, old)
    (old / CARD_FILE).unlink()
    marker = json.loads((old / MARKER).read_text())
    marker["files"].remove(CARD_FILE)
    (old / MARKER).write_text(json.dumps(marker))
    return old


def test_a_run_made_before_cards_loads_and_gets_its_card_on_the_fly(tfidf_run, tmp_path):
    old = made_before_cards(tfidf_run, tmp_path)
    assert attentext.load(old).predict(["Stocks rally"])
    printed = run_cli_here("card", old)
    assert printed.returncode == 0, printed.stderr
    assert not (old / CARD_FILE).exists()
    assert printed.stdout == model_card(open_run(old))
    assert results(ModelCard(printed.stdout))
    written = run_cli_here("card", old, "--write")
    assert written.returncode == 0, written.stderr
    assert (old / CARD_FILE).read_text(encoding="utf-8") == printed.stdout


def test_evaluate_card_refreshes_it_with_the_evaluation(tfidf_run, ag_news_dir, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tfidf_run, run)
    result = run_cli_here(
        "evaluate", run, "--data", ag_news_dir, "--output", tmp_path / "r", "--card"
    )
    assert result.returncode == 0, result.stderr
    assert "model card refreshed" in result.stderr
    text = (run / CARD_FILE).read_text(encoding="utf-8")
    assert "### test split of ag_news_tiny" in text
    first = ModelCard(text).data.eval_results[0]
    assert (first.dataset_name, first.dataset_split) == ("ag_news_tiny", "test")
    report = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert first.metric_value == round(report["accuracy"], 4)
    assert attentext.load(run).predict(["Stocks rally"])  # the run is still whole


def test_evaluate_without_the_flag_leaves_the_card(tfidf_run, ag_news_dir, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tfidf_run, run)
    before = (run / CARD_FILE).read_text(encoding="utf-8")
    result = run_cli_here("evaluate", run, "--data", ag_news_dir, "--output", tmp_path / "r")
    assert result.returncode == 0, result.stderr
    assert (run / CARD_FILE).read_text(encoding="utf-8") == before


def test_the_card_names_the_data_seed_where_it_is_set(ag_news_dir, tmp_path):
    out = tmp_path / "seeded"
    seeds = ["training.seed=7", "data.seed=3"]
    attentext.train("seed-transformer", ag_news_dir, out, max_steps=2, overrides=seeds)
    assert "| seed | 7 (data split: 3) |" in model_card(open_run(out))


def one_line_error(result) -> str:
    """The CLI's contract for a user's mistake: exit 2, one stderr line `error: ...`."""
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert result.returncode == 2, (result.returncode, result.stderr[-3000:])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr[-3000:]
    return lines[0]


def test_card_write_keeps_a_card_edited_by_hand_unless_overwrite(tfidf_run, ag_news_dir, tmp_path):
    """An audit: `card RUN --write` replaced a README.md the user had edited. The card carries
    a stamp of what attentext wrote; an edited one (or the user's own) is refused in one line
    naming the file and --overwrite, and replaced only with that flag."""
    run = tmp_path / "run"
    shutil.copytree(tfidf_run, run)
    edited = (run / CARD_FILE).read_text(encoding="utf-8") + "\nOur notes: for the demo only.\n"
    (run / CARD_FILE).write_text(edited, encoding="utf-8")

    line = one_line_error(run_cli_here("card", run, "--write"))
    assert str(run / CARD_FILE) in line and "--overwrite" in line, line
    assert (run / CARD_FILE).read_text(encoding="utf-8") == edited
    line = one_line_error(run_cli_here("evaluate", run, "--data", ag_news_dir, "--card"))
    assert str(run / CARD_FILE) in line and "--overwrite-card" in line, line
    assert (run / CARD_FILE).read_text(encoding="utf-8") == edited

    forced = run_cli_here("card", run, "--write", "--overwrite")
    assert forced.returncode == 0, forced.stderr
    assert (run / CARD_FILE).read_text(encoding="utf-8") == model_card(open_run(run))


def test_card_write_still_replaces_its_own_card(tfidf_run, ag_news_dir, tmp_path):
    """Guard: a card attentext wrote and nobody edited (here `evaluate --card`'s) is rebuilt by
    `card --write` without a flag, and a card written so is recognised again."""
    run = tmp_path / "run"
    shutil.copytree(tfidf_run, run)
    refreshed = run_cli_here("evaluate", run, "--data", ag_news_dir, "--card")
    assert refreshed.returncode == 0, refreshed.stderr
    assert "### test split of ag_news_tiny" in (run / CARD_FILE).read_text(encoding="utf-8")
    for _ in range(2):
        written = run_cli_here("card", run, "--write")
        assert written.returncode == 0, written.stderr
        assert (run / CARD_FILE).read_text(encoding="utf-8") == model_card(open_run(run))


def test_recalibrate_keeps_a_card_edited_by_hand_with_a_warning(tfidf_run, ag_news_dir, tmp_path):
    """The same audit finding for `recalibrate`, which rebuilds the card with the new calibration:
    an edited card is kept, said in one warning; the calibration itself is still refitted."""
    run = tmp_path / "run"
    shutil.copytree(tfidf_run, run)
    edited = "# Our model\n\nNotes we wrote by hand.\n"
    (run / CARD_FILE).write_text(edited, encoding="utf-8")
    result = run_cli_here("recalibrate", run, "--data", ag_news_dir, "--split", "test")
    assert result.returncode == 0, result.stderr
    assert "edited by hand" in result.stderr and "--write --overwrite" in result.stderr
    assert (run / CARD_FILE).read_text(encoding="utf-8") == edited
    assert json.loads((run / "calibration.json").read_text())["fitted_on"] == "ag_news_tiny test"


def test_a_shots_run_card_says_how_it_drew_its_texts_and_that_it_is_not_calibrated(
    tfidf_run, ag_news_dir, tmp_path
):
    """A `--shots` run's card counted its draw as a train split and said its probabilities
    were calibrated on the validation split, which it never had (its temperature is 1)."""
    out = attentext.train("tfidf-logreg", ag_news_dir, tmp_path / "shots", shots=8).run_dir
    card = (Path(out) / CARD_FILE).read_text(encoding="utf-8")
    assert "The train split is 8 examples per class, drawn with data seed 42" in card
    assert "Its probabilities are not calibrated (no temperature was fitted" in card
    calibrated = model_card(open_run(tfidf_run))
    assert "Its probabilities are calibrated on the validation split" in calibrated
    assert "examples per class" not in calibrated
