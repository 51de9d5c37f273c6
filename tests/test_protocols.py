"""The protocols real clients speak, served beside /v1 (issue #21): the Hugging Face inference
shape through `huggingface_hub.InferenceClient`, text-embeddings-inference's /predict with the
requests of TEI's documentation, and the Open Inference Protocol v2 through `tritonclient.http`.

The server is the app `attentext serve` runs, in uvicorn with its options, in a thread on
127.0.0.1, serving two real runs: the session's seed transformer (the default model) and a
TF-IDF baseline. Expected scores come from the same runs loaded in the test.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from conftest import AG_NEWS_LABELS, uvicorn_in_thread

import attentext
from attentext.serving import ServerSettings, create_app
from attentext.serving.batcher import LOGITS, MicroBatcher

huggingface_hub = pytest.importorskip("huggingface_hub")
tritonclient_http = pytest.importorskip("tritonclient.http")
from huggingface_hub import InferenceClient  # noqa: E402
from huggingface_hub.errors import HfHubHTTPError  # noqa: E402
from tritonclient.utils import InferenceServerException  # noqa: E402

HOST = "127.0.0.1"
TEXTS = ["Stocks rally as oil prices fall", "The striker scored twice in the final", "New chip"]
MAX_TEXTS = 8


@pytest.fixture(scope="module")
def runs(run_dir, ag_news_dir, tmp_path_factory) -> dict[str, Path]:
    tfidf = attentext.train("tfidf-logreg", ag_news_dir, tmp_path_factory.mktemp("tfidf") / "tfidf")
    return {"seed": Path(run_dir), "tfidf": Path(tfidf.run_dir)}


@pytest.fixture(scope="module")
def classifiers(runs) -> dict[str, attentext.Classifier]:
    return {name: attentext.load(path, precision="fp32") for name, path in runs.items()}


@pytest.fixture(scope="module")
def server(runs, classifiers) -> Iterator[str]:
    """uvicorn with `attentext serve`'s options around the app, in a thread: its base URL."""
    settings = ServerSettings(max_texts=MAX_TEXTS)
    app = create_app(
        [runs["seed"], runs["tfidf"]],
        loader=lambda run_dir: classifiers[run_dir.name],
        settings=settings,
    )
    with uvicorn_in_thread(app, settings) as port:
        yield f"http://{HOST}:{port}"


@pytest.fixture
def online(monkeypatch):
    """huggingface_hub refuses every request in offline mode (conftest sets it): the client
    only talks to the local server here."""
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)


def expected_ranking(row: np.ndarray, k: int | None = None) -> list[tuple[str, float]]:
    order = np.argsort(-row, kind="stable")[: k or len(row)]
    return [(AG_NEWS_LABELS[i], float(row[i])) for i in order]


def assert_ranked(got: list[tuple[str, float]], expected: list[tuple[str, float]]) -> None:
    assert [label for label, _ in got] == [label for label, _ in expected]
    np.testing.assert_allclose([s for _, s in got], [s for _, s in expected], atol=2e-6)


def calibrated_logits(classifier, texts: list[str]) -> np.ndarray:
    return classifier.logits(texts) / classifier.temperature


# --- scores before the softmax go through the same micro-batcher ------------------------------


def test_the_batcher_runs_logits_and_probabilities_in_batches_of_their_own():
    calls: list[tuple[str, int]] = []

    def probabilities(texts):
        calls.append(("probabilities", len(texts)))
        return np.full((len(texts), 2), 0.5)

    def logits(texts):
        calls.append(("logits", len(texts)))
        return np.zeros((len(texts), 2))

    async def scenario() -> list[np.ndarray]:
        with ThreadPoolExecutor(1) as executor:
            batcher = MicroBatcher(
                probabilities, executor, max_batch_size=8, max_wait_ms=50, logits=logits
            )
            batcher.start()
            asked = [
                batcher.predict([t], LOGITS if i % 2 else "probabilities")
                for i, t in enumerate("abcdef")
            ]
            rows = await asyncio.gather(*asked)
            await batcher.stop()
            return rows

    rows = asyncio.run(scenario())
    assert [float(r[0, 0]) for r in rows] == [0.5, 0.0] * 3  # each request its own kind
    assert sorted(calls) == [("logits", 3), ("probabilities", 3)]  # one call per kind


# --- the Hugging Face inference shape, through huggingface_hub's InferenceClient --------------


def test_inference_client_gets_every_label_ranked_with_the_probabilities(
    server, classifiers, online
):
    client = InferenceClient(model=f"{server}/models/seed")
    result = client.text_classification(TEXTS[0])
    expected = classifiers["seed"].predict_proba([TEXTS[0]])[0]
    assert_ranked([(r.label, r.score) for r in result], expected_ranking(expected))


def test_inference_client_top_k_on_the_default_model_and_the_baseline(server, classifiers, online):
    default = InferenceClient(model=server).text_classification(TEXTS[1], top_k=2)
    expected = classifiers["seed"].predict_proba([TEXTS[1]])[0]
    assert_ranked([(r.label, r.score) for r in default], expected_ranking(expected, 2))
    tfidf = InferenceClient(model=f"{server}/models/tfidf").text_classification(TEXTS[1], top_k=1)
    expected = classifiers["tfidf"].predict_proba([TEXTS[1]])[0]
    assert_ranked([(r.label, r.score) for r in tfidf], expected_ranking(expected, 1))


def test_function_to_apply_none_and_sigmoid_use_the_calibrated_logits(server, classifiers, online):
    client = InferenceClient(model=f"{server}/models/seed")
    logits = calibrated_logits(classifiers["seed"], [TEXTS[2]])[0]
    none = client.text_classification(TEXTS[2], function_to_apply="none")
    assert_ranked([(r.label, r.score) for r in none], expected_ranking(logits))
    sigmoid = client.text_classification(TEXTS[2], function_to_apply="sigmoid", top_k=3)
    assert_ranked(
        [(r.label, r.score) for r in sigmoid], expected_ranking(1 / (1 + np.exp(-logits)), 3)
    )


def test_a_batch_gets_one_ranked_list_per_input(server, classifiers):
    response = httpx.post(f"{server}/models/seed", json={"inputs": TEXTS[:2]})
    assert response.status_code == 200, response.text
    expected = classifiers["seed"].predict_proba(TEXTS[:2])
    for got, row in zip(response.json(), expected, strict=True):
        assert_ranked([(r["label"], r["score"]) for r in got], expected_ranking(row))


def test_client_errors_are_the_inference_api_shape(server, online):
    with pytest.raises(HfHubHTTPError) as info:
        InferenceClient(model=f"{server}/models/nope").text_classification("x")
    assert info.value.response.status_code == 404
    assert "no model named 'nope'" in str(info.value)
    response = httpx.post(f"{server}/models/seed", json={"inputs": "x", "parameters": {"k": 1}})
    assert response.status_code == 422
    assert response.json() == {"error": "parameters.k: unknown field"}


# --- text-embeddings-inference's /predict, with the requests of TEI's documentation ---------


def test_tei_one_input_gets_a_flat_list_of_every_label(server, classifiers):
    response = httpx.post(f"{server}/predict", json={"inputs": "I like you."})
    assert response.status_code == 200, response.text
    expected = classifiers["seed"].predict_proba(["I like you."])[0]
    assert_ranked([(p["label"], p["score"]) for p in response.json()], expected_ranking(expected))
    as_sequence = httpx.post(f"{server}/predict", json={"inputs": ["I like you."]}).json()
    assert as_sequence == response.json()


def test_tei_a_batch_gets_a_nested_list_and_raw_scores_the_logits(server, classifiers):
    body = {"inputs": [["I like you."], ["I hate pineapples"]], "raw_scores": True}
    response = httpx.post(f"{server}/predict", json=body)
    assert response.status_code == 200, response.text
    expected = calibrated_logits(classifiers["seed"], ["I like you.", "I hate pineapples"])
    for got, row in zip(response.json(), expected, strict=True):
        assert_ranked([(p["label"], p["score"]) for p in got], expected_ranking(row))


@pytest.mark.parametrize(
    ("body", "status", "error_type", "says"),
    [
        ({"inputs": ["a", "b"]}, 422, "Validation", "pair of texts"),
        ({"inputs": [["a"], ["b", "c"]]}, 422, "Validation", "inputs[1] is a pair"),
        ({"inputs": ["a", "b", "c"]}, 422, "Validation", "a pair of strings [string, string]"),
        ({"inputs": []}, 422, "Validation", "a batch of single strings"),
        ({"inputs": ""}, 400, "Empty", "cannot be empty"),
        ({"inputs": [["a"]] * (MAX_TEXTS + 1)}, 413, "Validation", "maximum allowed batch size 8"),
        ({"inputs": "word " * 400, "truncate": False}, 422, "Validation", "tokens. Given:"),
        ({"text": "a"}, 422, "Validation", "inputs: required field is missing"),
    ],
)
def test_tei_refusals_have_its_codes_and_body(server, body, status, error_type, says):
    response = httpx.post(f"{server}/predict", json=body)
    assert response.status_code == status, response.text
    assert set(response.json()) == {"error", "error_type"}
    assert response.json()["error_type"] == error_type
    assert says in response.json()["error"]


def test_tei_truncates_by_default_like_the_model_was_trained(server, classifiers):
    text = "markets " * 400
    response = httpx.post(f"{server}/predict", json={"inputs": text, "truncate": True})
    assert response.status_code == 200, response.text
    expected = classifiers["seed"].predict_proba([text])[0]
    assert_ranked([(p["label"], p["score"]) for p in response.json()], expected_ranking(expected))


class Slow:
    def __init__(self, classifier) -> None:
        self.classifier, self.labels = classifier, classifier.labels

    def predict_proba(self, texts):
        time.sleep(0.3)
        return self.classifier.predict_proba(texts)


def test_tei_a_full_queue_is_a_429_overloaded(runs, classifiers):
    app = create_app(
        [runs["tfidf"]],
        max_batch_size=1,
        max_queue=2,
        max_wait_ms=0,
        loader=lambda run_dir: Slow(classifiers["tfidf"]),
    )

    async def post_all() -> list[httpx.Response]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
                bodies = [{"inputs": f"text {i}"} for i in range(6)]
                return await asyncio.gather(*(http.post("/predict", json=b) for b in bodies))

    responses = asyncio.run(post_all())
    assert {r.status_code for r in responses} == {200, 429}
    for response in responses:
        if response.status_code == 429:
            assert response.json()["error_type"] == "Overloaded"
            assert response.headers["retry-after"] == "1"


def test_tei_health_is_an_empty_200_when_ready_and_a_503_unhealthy_before(
    server, runs, classifiers
):
    response = httpx.get(f"{server}/health")
    assert (response.status_code, response.content) == (200, b"")
    app = create_app([runs["tfidf"]], loader=lambda run_dir: classifiers["tfidf"])

    async def before_start() -> httpx.Response:  # no lifespan: the model is not being served
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            return await http.get("/health")

    starting = asyncio.run(before_start())
    assert starting.status_code == 503
    assert starting.json() == {
        "error": "the server is starting or shutting down",
        "error_type": "Unhealthy",
    }


def test_tei_info_describes_the_default_model_and_the_limits(server, classifiers):
    response = httpx.get(f"{server}/info")
    assert response.status_code == 200, response.text
    info = response.json()
    # every field of TEI's Info (router/src/lib.rs), no other
    assert set(info) == {
        "model_id",
        "model_sha",
        "model_dtype",
        "served_model_name",
        "model_type",
        "max_concurrent_requests",
        "max_input_length",
        "max_batch_tokens",
        "max_batch_requests",
        "max_client_batch_size",
        "auto_truncate",
        "tokenization_workers",
        "version",
        "sha",
        "docker_label",
    }
    assert (info["model_id"], info["served_model_name"]) == ("seed", "seed")
    assert info["model_dtype"] == "float32"  # the runs are loaded in fp32 here
    assert info["model_type"] == {
        "classifier": {
            "id2label": {str(i): label for i, label in enumerate(AG_NEWS_LABELS)},
            "label2id": {label: i for i, label in enumerate(AG_NEWS_LABELS)},
        }
    }
    settings = ServerSettings(max_texts=MAX_TEXTS)
    assert info["max_client_batch_size"] == MAX_TEXTS
    max_length = classifiers["seed"].max_length  # the tokens it reads: truncate: false refuses more
    assert info["max_input_length"] == max_length
    assert info["max_batch_tokens"] == max_length * max(settings.max_batch_size, MAX_TEXTS)
    assert info["max_batch_requests"] == settings.max_batch_size
    assert info["max_concurrent_requests"] == settings.max_queue
    assert info["auto_truncate"] is True and info["tokenization_workers"] == 1
    assert info["version"] == attentext.__version__


# --- the Open Inference Protocol v2, through tritonclient.http ------------------------------


@pytest.fixture(scope="module")
def triton(server):
    client = tritonclient_http.InferenceServerClient(server.removeprefix("http://"))
    yield client
    client.close()


def texts_input(texts: list[str], binary: bool):
    tensor = tritonclient_http.InferInput("text", [len(texts)], "BYTES")
    tensor.set_data_from_numpy(np.array(texts, dtype=object), binary_data=binary)
    return tensor


def test_triton_client_health_and_metadata(triton):
    assert triton.is_server_live() and triton.is_server_ready()
    assert triton.is_model_ready("seed") and triton.is_model_ready("tfidf")
    assert "binary_tensor_data" in triton.get_server_metadata()["extensions"]
    metadata = triton.get_model_metadata("seed")
    assert metadata["inputs"] == [{"name": "text", "datatype": "BYTES", "shape": [-1]}]
    assert metadata["outputs"] == [
        {"name": "label", "datatype": "BYTES", "shape": [-1]},
        {"name": "scores", "datatype": "FP32", "shape": [-1, 4]},
    ]
    assert metadata["labels"] == AG_NEWS_LABELS


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_triton_client_infers_a_batch_of_texts(triton, classifiers, binary):
    result = triton.infer("seed", [texts_input(TEXTS, binary)])
    expected = classifiers["seed"].predict_proba(TEXTS)
    labels = [
        label.decode() if isinstance(label, bytes) else label for label in result.as_numpy("label")
    ]
    assert labels == [AG_NEWS_LABELS[i] for i in expected.argmax(axis=1)]
    scores = result.as_numpy("scores")
    assert scores.dtype == np.float32 and scores.shape == (3, 4)
    np.testing.assert_allclose(scores, expected, atol=1e-6)


def test_triton_classification_extension_and_requested_outputs(triton, classifiers):
    outputs = [
        tritonclient_http.InferRequestedOutput("scores", binary_data=True, class_count=2),
    ]
    result = triton.infer("tfidf", [texts_input(TEXTS[:2], True)], outputs=outputs)
    assert result.as_numpy("label") is None  # not asked for
    expected = classifiers["tfidf"].predict_proba(TEXTS[:2])
    for row, got in zip(expected, result.as_numpy("scores"), strict=True):
        best = [(AG_NEWS_LABELS[i], row[i], i) for i in np.argsort(-row, kind="stable")[:2]]
        assert [g.decode() for g in got] == [f"{s:f}:{i}:{label}" for label, s, i in best]


def test_triton_client_errors_carry_the_message(triton):
    numbers = tritonclient_http.InferInput("text", [1], "FP32")
    numbers.set_data_from_numpy(np.array([1.0], dtype=np.float32))
    with pytest.raises(InferenceServerException, match="takes BYTES"):
        triton.infer("seed", [numbers])
    with pytest.raises(InferenceServerException, match="no model named 'nope'"):
        triton.infer("nope", [texts_input(TEXTS, True)])
    too_many = texts_input(["a"] * (MAX_TEXTS + 1), True)
    with pytest.raises(InferenceServerException, match="at most 8"):
        triton.infer("seed", [too_many])


def test_triton_client_names_version_1_of_a_model(triton, classifiers):
    assert triton.get_model_metadata("seed", model_version="1") == triton.get_model_metadata("seed")
    assert triton.is_model_ready("tfidf", model_version="1")
    result = triton.infer("seed", [texts_input(TEXTS, True)], model_version="1")
    assert result.get_response()["model_version"] == "1"
    np.testing.assert_allclose(
        result.as_numpy("scores"), classifiers["seed"].predict_proba(TEXTS), atol=1e-6
    )
    with pytest.raises(InferenceServerException, match="has no version '2'; its versions: 1"):
        triton.get_model_metadata("seed", model_version="2")
    with pytest.raises(InferenceServerException, match="no model named 'nope'"):
        triton.infer("nope", [texts_input(TEXTS, True)], model_version="1")


def test_v2_json_request_as_kserve_sends_it(server, classifiers):
    body = {
        "id": "42",
        "inputs": [{"name": "text", "shape": [2, 1], "datatype": "BYTES", "data": TEXTS[:2]}],
    }
    response = httpx.post(f"{server}/v2/models/tfidf/infer", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["model_name"], answer["id"]) == ("tfidf", "42")
    scores = next(o for o in answer["outputs"] if o["name"] == "scores")
    assert scores["shape"] == [2, 4] and scores["datatype"] == "FP32"
    expected = classifiers["tfidf"].predict_proba(TEXTS[:2])
    np.testing.assert_allclose(np.reshape(scores["data"], (2, 4)), expected, atol=1e-6)
    assert httpx.get(f"{server}/v2/health/live").json() == {"live": True}
    assert httpx.get(f"{server}/v2/health/ready").json() == {"ready": True}
    assert httpx.get(f"{server}/v2/models/tfidf/ready").json() == {"name": "tfidf", "ready": True}
    missing = httpx.get(f"{server}/v2/models/nope")
    assert missing.status_code == 404 and set(missing.json()) == {"error"}


def test_the_openapi_schema_documents_every_protocol(server):
    paths = httpx.get(f"{server}/openapi.json").json()["paths"]
    for path, method in [
        ("/models/{name}", "post"),
        ("/", "post"),
        ("/predict", "post"),
        ("/v2/models/{name}/infer", "post"),
        ("/v2/models/{name}", "get"),
        ("/v2/health/ready", "get"),
        ("/v2/models/{name}/versions/{version}/infer", "post"),
        ("/health", "get"),
        ("/info", "get"),
        ("/v1/predict", "post"),
    ]:
        assert method in paths[path], path
