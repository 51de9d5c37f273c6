"""README audit, round 8: the server's `truncated`, and ensemble's labels error.

- `"truncated"` meant two things: /v1/predict said it for the server's cut (a text over
  `--max-chars`), /v1/explain for the model's own limit (its max_length tokens, or the windows
  past `tokenizer.max_chunks`), and never for the server's cut. One text over a windowed run's
  cap was `false` in one answer and `true` in the other. Now `truncated` is the server's cut in
  both, and both say `partly_read` where the model read only part of the text
  (`serving/reading.py`), documented in the OpenAPI schema beside the other fields.
- `attentext ensemble` of runs trained on other data said only `validation labels the runs do
  not know: ABBR, ...`; it now names the runs, what they were trained on and what to do.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import AG_NEWS_LABELS, run_cli_here
from fastapi.testclient import TestClient

import attentext
from attentext.serving import create_app

TREC = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "trec"
WINDOWS = ["tokenizer.long_text=chunks", "tokenizer.max_length=16", "tokenizer.max_chunks=2"]
SHORT = "Stocks rally"
# ~300 words: many 14-token windows, past the cap of 2; a few thousand characters
LONG = " ".join(["The team won the final as oil prices rose on Wall Street"] * 25)


@pytest.fixture(scope="module")
def runs(ag_news_dir, tmp_path_factory) -> dict[str, Path]:
    """A seed-transformer run that reads long texts in windows (at most 2), one that truncates,
    and a TF-IDF run that reads 100 characters."""
    out = tmp_path_factory.mktemp("round8-serve")
    windowed = attentext.train(
        "seed-transformer", ag_news_dir, out / "windowed", epochs=1, overrides=WINDOWS
    )
    plain = attentext.train(
        "seed-transformer",
        ag_news_dir,
        out / "plain",
        epochs=1,
        overrides=["tokenizer.max_length=16"],
    )
    tfidf = attentext.train(
        "tfidf-logreg", ag_news_dir, out / "tfidf", overrides=["model.options.max_chars=100"]
    )
    return {r.run_dir.name: r.run_dir for r in (windowed, plain, tfidf)}


def _client(runs: dict[str, Path], max_chars: int) -> TestClient:
    paths = [Path(runs[name]) for name in ("windowed", "plain", "tfidf")]
    return TestClient(create_app(paths, max_chars=max_chars, max_texts=8))


def _both(client: TestClient, model: str, texts: list[str], method: str = "attention"):
    predicted = client.post("/v1/predict", json={"texts": texts, "model": model})
    explained = client.post("/v1/explain", json={"texts": texts, "model": model, "method": method})
    assert predicted.status_code == 200 and explained.status_code == 200, explained.text
    return predicted.json()["predictions"], explained.json()["explanations"]


def test_a_windowed_run_under_max_chars_is_not_truncated_in_either_answer_but_partly_read(runs):
    """The README's case: a text under --max-chars that a windowed run reads only the first
    max_chunks windows of. Before: predict `truncated: false`, explain `truncated: true`."""
    with _client(runs, max_chars=100_000) as client:
        predictions, explanations = _both(client, "windowed", [LONG, SHORT])
    assert [p["truncated"] for p in predictions] == [False, False]
    assert [e["truncated"] for e in explanations] == [False, False]
    assert [p["partly_read"] for p in predictions] == [True, False]
    assert [e["partly_read"] for e in explanations] == [True, False]
    assert len(explanations[0]["windows"]) == 2  # the windows read: the cap's


def test_a_text_over_max_chars_is_truncated_in_explain_as_in_predict(runs):
    """The server's cut said in /v1/explain too; it said the model's limit (false for the TF-IDF
    baseline's n-grams and for occlusion, whatever the server cut)."""
    with _client(runs, max_chars=50) as client:
        for model, method in (("tfidf", "attention"), ("plain", "occlusion")):
            predictions, explanations = _both(client, model, [LONG, SHORT], method)
            assert [p["truncated"] for p in predictions] == [True, False]
            assert [e["truncated"] for e in explanations] == [True, False], model


@pytest.mark.parametrize("model", ["plain", "windowed", "tfidf"])
def test_predict_and_explain_agree_on_what_the_model_read(runs, model):
    """Predict says `partly_read` as explain does, by occlusion too (which said nothing): the
    truncating run past its 16 tokens, the windowed one past 2 windows, TF-IDF past 100
    characters."""
    texts = [SHORT, "Oil prices " * 6, "Oil prices " * 12, LONG]
    with _client(runs, max_chars=100_000) as client:
        predictions, explanations = _both(client, model, texts)
        _, occluded = _both(client, model, texts, method="occlusion")
    said = [p["partly_read"] for p in predictions]
    assert said[0] is False and said[-1] is True
    assert said == [e["partly_read"] for e in explanations] == [e["partly_read"] for e in occluded]


def test_the_openapi_schema_says_what_each_field_means(runs):
    with _client(runs, max_chars=100) as client:
        schemas = client.get("/openapi.json").json()["components"]["schemas"]
    for name in ("Prediction", "TokenExplanation"):
        fields = schemas[name]["properties"]
        assert "--max-chars" in fields["truncated"]["description"], name
        assert "max_chunks" in fields["partly_read"]["description"], name
        assert (
            fields["truncated"]["description"]
            == schemas["Prediction"]["properties"]["truncated"]["description"]
        )


def test_ensemble_on_other_labels_names_the_runs_their_data_and_the_way_out(
    runs, ag_news_dir, tmp_path
):
    if not (TREC / "train.csv").exists():
        pytest.skip(f"shared dataset not found at {TREC}")
    second = tmp_path / "tfidf-2"
    attentext.train("tfidf-logreg", ag_news_dir, second)
    result = run_cli_here(
        "ensemble", runs["tfidf"], second, "--data", TREC, "--output", tmp_path / "mix"
    )
    assert result.returncode == 2, result.stderr  # a data error
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert "validation labels the runs do not know: ABBR, DESC, ENTY, HUM, LOC" in message
    assert str(runs["tfidf"]) in message and str(second) in message
    assert str(ag_news_dir) in message and all(label in message for label in AG_NEWS_LABELS)
    assert "give --data the data the runs were trained on, or train them on" in message
