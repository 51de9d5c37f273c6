"""Hostile inputs, round 11: the HTTP server (`attentext serve`), the items round 10 left and
what HTTP/1.1 lets a client send that the app never saw. Each test failed before its fix:

R11-H1  the two request targets HTTP/1.1 defines besides a path: the absolute form
        (`GET http://host/healthz HTTP/1.1`, which RFC 9112 3.2.2 says a server MUST accept, and
        which a client configured with the server as its proxy sends) and `OPTIONS *` (RFC 9110
        9.3.7: the server as a whole) were 404s ("no such endpoint: GET /http://host/healthz").
        Now the absolute form is read as its path, its host in place of the Host header, and
        `OPTIONS *` is a 200 with Allow; another scheme, a user name in the URL, or `*` with
        another method, a JSON 400.
R11-H2  a request head over 16 KB sent at once (a 100 KB header line, 3,000 headers) was parsed
        whole and answered 200: h11 limits only a head still incomplete (a read takes up to
        256 KB). A JSON 431 `headers_too_large` however the head arrives.
R11-H3  work the inference thread does besides the micro-batches was not held to `--max-queue`
        unless it was an explanation: TEI's token counts for `truncate: false` and
        `truncation_direction` (10 requests of 8 texts at once: 10 tokenizer calls queued on the
        thread, where the limit holds 8 texts), and /v1's `partly_read` count of a request
        refused for a full queue (its texts tokenized for no answer). Now counted as explanations
        are (429 Overloaded on TEI, 503 on /v1), and a refused /v1 request's count cancelled.
R11-H4  a SIGHUP reload while `attentext recalibrate` wrote the run (metrics.json, then
        calibration.json, under the run's lock) served the new metrics beside the old
        temperature. A load now waits (at most 2 s) for a writer holding the run's lock and
        reads again where any file of the run changed while it read.
R11-H5  scores rounded to 6 decimals on /v1, Hugging Face and TEI, where Hugging Face's pipeline
        (`score.item()`) and TEI (an f32) answer them whole: a probability of 3e-8 read 0.0 (a
        log-loss of infinity; rare labels tied at 0.0) and 0.99999994 read 1.0. Now answered
        whole, as /v1/explain's probabilities (its importances keep 6 decimals: weights to show).
R11-H6  /v1/explain of a model served in bf16 (`precision: auto` picks it where it is faster)
        answered the probabilities of the fp32, eager-attention forward it reads attention from
        (Sports 0.2541 where /v1/predict answered 0.2539), so a near tie could be explained as
        another label than predict gave. Now each explanation shows the served model's own
        prediction (the attention's importances do not depend on the label).
R11-H7  a chunked body's trailers over 16 KB (3,000 trailer fields sent at once) were parsed
        whole and the request answered 200, as R11-H2's heads: a JSON 431 now.
R11-H8  `Content-Type: text/plain` then `Content-Type: application/json` (two lines): a 415, and
        in the other order read as JSON (Starlette reads the first line), where a proxy or filter
        before the server may go by the other. Two different values are a 400 in the protocol's
        shape, as R10-H8's two lengths; one value given twice is read.
R11-H9  a TEI batch over the batch limit holding an empty text or a pair: a 400 Empty (or 422)
        after a pass over every input, where TEI answers 413 for the batch's size first. The
        size is checked first now, as TEI does.
R11-H10 a body of 1 MB of small arrays (`{"texts": [[],[],...]}`, any route) took 0.6 s of the
        event loop to parse, 30 times a flat one: each array is a container, and their count
        starts the garbage collector's passes over all of them again. JSON makes no cycles: a
        body is now parsed with the collector held off (0.05 s).
R11-H11 a body of many values of a wrong type (900 KB of `{"texts": [0,0,...]}`, or 50,000
        unknown keys; any route): pydantic made an error for each, and FastAPI one more, 5.5 s
        of the event loop for one 422 (a few such requests a second stopped every answer,
        /healthz too). A body of more values than a request of --max-texts texts holds (4 a
        text and 64 beside) is refused before it is validated: 422 `too_many_texts` (413 on
        TEI's route, as TEI answers a batch too large), 0.07 s.
"""

from __future__ import annotations

import gc
import json
import re
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from conftest import raw_exchange, uvicorn_in_thread
from fastapi.testclient import TestClient

import attentext
from attentext import rundir
from attentext.files import write_json
from attentext.inference.classifier import load
from attentext.serving import ServerSettings, create_app, json_body


@pytest.fixture(scope="module")
def tfidf_run(ag_news_dir, tmp_path_factory) -> Path:
    """A TF-IDF run on ag_news_tiny (seconds)."""
    folder = tmp_path_factory.mktemp("round11serve")
    return Path(attentext.train("tfidf-logreg", ag_news_dir, folder / "tfidf").run_dir)


def _error(answer: bytes) -> dict:
    """The `error` object of an answer's JSON body (/v1's shape)."""
    return json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]


def test_r11_h1_absolute_form_and_options_asterisk_are_answered(tfidf_run):
    close = b"Connection: close\r\n\r\n"
    settings = ServerSettings()
    with uvicorn_in_thread(create_app([tfidf_run], settings=settings), settings) as port:
        health = raw_exchange(port, b"GET http://127.0.0.1/healthz HTTP/1.1\r\nHost: x\r\n" + close)
        assert health.startswith(b"HTTP/1.1 200"), health[:300]
        assert health.endswith(b'{"status":"ok"}')
        body = b'{"texts": ["oil prices fall"]}'
        predict = raw_exchange(
            port,
            b"POST HTTP://LOCALHOST:8000/v1/predict?x=1 HTTP/1.1\r\nHost: localhost\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n%s%s"
            % (len(body), close, body),
        )
        assert predict.startswith(b"HTTP/1.1 200"), predict[:300]
        assert b'"model":"tfidf"' in predict
        tei = raw_exchange(port, b"GET http://h/info HTTP/1.1\r\nHost: h\r\n" + close)
        assert tei.startswith(b"HTTP/1.1 200") and b'"model_id":"tfidf"' in tei, tei[:300]
        options = raw_exchange(port, b"OPTIONS * HTTP/1.1\r\nHost: x\r\n" + close)
        assert options.startswith(b"HTTP/1.1 200"), options[:300]
        assert re.search(rb"\r\nallow: GET, HEAD, POST, OPTIONS\r\n", options, re.I), options
        assert re.search(rb"\r\ncontent-length: 0\r\n", options, re.I), options
        for request, why in [
            (b"GET ftp://h/healthz HTTP/1.1\r\nHost: h\r\n", b"http or https"),
            (b"GET http://user:pw@h/healthz HTTP/1.1\r\nHost: h\r\n", b"user name"),
            (b"GET * HTTP/1.1\r\nHost: h\r\n", b"OPTIONS"),
        ]:
            refused = raw_exchange(port, request + close)
            assert refused.startswith(b"HTTP/1.1 400"), refused[:300]
            assert _error(refused)["type"] == "bad_request" and why in refused, refused


def test_r11_h2_a_request_head_over_16_kb_is_a_431_however_it_arrives(tfidf_run):
    close = b"Connection: close\r\n\r\n"
    long_line = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 100_000 + b"\r\n"
    many = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(
        b"X-Header-%d: 1\r\n" % i for i in range(3000)
    )
    settings = ServerSettings()
    with uvicorn_in_thread(create_app([tfidf_run], settings=settings), settings) as port:
        for head in (long_line, many):  # sent at once: h11 parsed it whole, past its 16 KB
            answer = raw_exchange(port, head + close)
            assert answer.startswith(b"HTTP/1.1 431"), answer[:300]
            error = _error(answer)
            assert error["type"] == "headers_too_large", error
            assert re.search(r"\(a head of [\d,]+ bytes, over 16,384\)", error["message"]), error
        small = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * 15_000 + b"\r\n" + close
        assert raw_exchange(port, small).startswith(b"HTTP/1.1 200")


class Tokenizing:
    """The TF-IDF run's classifier dressed as a token model of `max_length` 512 whose tokenizer
    (run on the model's thread) takes `delay` s a call; records each call's texts. Its model
    calls wait for `hold` where one is given."""

    max_length = 512

    def __init__(self, classifier, delay: float, hold: threading.Event | None = None) -> None:
        self.classifier, self.labels = classifier, classifier.labels
        self.delay, self.hold = delay, hold
        self.tokenized: list[list[str]] = []
        self.called = threading.Event()  # set once a model call has begun

    def tokenizer(self, texts, verbose=False):
        self.tokenized.append(list(texts))
        time.sleep(self.delay)
        return {"input_ids": [text.split() for text in texts]}

    def predict_proba(self, texts):
        self.called.set()
        if self.hold is not None:  # the model thread stays busy until the test lets it go
            self.hold.wait(timeout=60)
        return self.classifier.predict_proba(texts)


def _post_all(port: int, path: str, bodies: list[dict]) -> list[httpx.Response]:
    """Each body POSTed to `path` at once, each on a connection of its own."""
    url = f"http://127.0.0.1:{port}{path}"
    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(lambda body: httpx.post(url, json=body, timeout=20), bodies))


def test_r11_h3_token_counting_off_the_batches_is_held_to_the_queue_limit(tfidf_run):
    model = Tokenizing(load(tfidf_run), delay=0.3)
    settings = ServerSettings(max_queue=8, max_texts=8)
    app = create_app([tfidf_run], loader=lambda _: model, settings=settings)
    with uvicorn_in_thread(app, settings) as port:
        bodies = [{"inputs": [[f"text {j}"] for j in range(8)], "truncate": False}]
        bodies *= 10
        answers = _post_all(port, "/predict", bodies)
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses.count(429) >= 8, statuses  # the thread holds 8 texts to count: the limit
    overloaded = next(answer for answer in answers if answer.status_code == 429)
    assert overloaded.json()["error_type"] == "Overloaded"
    assert overloaded.headers["retry-after"] == "1"
    # refused without being counted: at most the first two bodies reached the tokenizer (10
    # would have been counted one after the other, 0.3 s each, before the refusals)
    assert len(model.tokenized) <= 2, model.tokenized


def test_r11_h3_a_v1_request_refused_for_a_full_queue_tokenizes_nothing(tfidf_run):
    hold = threading.Event()
    model = Tokenizing(load(tfidf_run), delay=0.0, hold=hold)
    settings = ServerSettings(max_queue=8, max_texts=8, max_batch_size=8, max_wait_ms=0)
    app = create_app([tfidf_run], loader=lambda _: model, settings=settings)
    with uvicorn_in_thread(app, settings) as port:
        first = threading.Thread(
            target=_post_all, args=(port, "/v1/predict", [{"texts": ["a"] * 8}])
        )
        first.start()
        assert model.called.wait(timeout=30)  # its model call holds the thread until released
        batcher = app.state.service.batchers["tfidf"]
        second = threading.Thread(
            target=_post_all, args=(port, "/v1/predict", [{"texts": ["b"] * 8}])
        )
        second.start()
        deadline = time.monotonic() + 30
        while batcher.queued_texts < 8 and time.monotonic() < deadline:
            time.sleep(0.01)
        try:
            assert batcher.queued_texts == 8
            refused = _post_all(port, "/v1/predict", [{"texts": ["refused"] * 8}])[0]
        finally:
            hold.set()
            first.join()
            second.join()
        assert refused.status_code == 503 and refused.json()["error"]["type"] == "queue_full"
    assert ["refused"] * 8 not in model.tokenized, model.tokenized  # its texts never read


def test_r11_h4_a_reload_while_recalibrate_writes_the_run_reads_one_version(tfidf_run, tmp_path):
    run = tmp_path / "tfidf"
    shutil.copytree(tfidf_run, run)
    metrics = json.loads((run / "metrics.json").read_text())
    calibration = json.loads((run / "calibration.json").read_text())
    new = {**calibration, "temperature": 2.5}
    with TestClient(create_app([run])) as client:
        service = client.app.state.service
        with rundir.writing(run, "recalibrate"):  # as `save_calibration` writes its files
            write_json(run / "metrics.json", {**metrics, "calibration": new, "recalibrated": 1})
            reload = client.portal.start_task_soon(service.reload)  # SIGHUP's
            time.sleep(0.5)  # the reload runs while calibration.json is still the old one
            write_json(run / "calibration.json", new)
        reload.result(timeout=10)
        served = service.models["tfidf"]
        assert served.metrics["recalibrated"] == 1
        assert served.classifier.temperature == 2.5  # the calibration its metrics record


class Sure:
    """The TF-IDF run's labels, every text given these float32 probabilities."""

    ROW = np.array([0.99999994, 3.1e-8, 2.9e-8, 1e-9], dtype=np.float32)

    def __init__(self, classifier) -> None:
        self.labels = classifier.labels

    def predict_proba(self, texts):
        return np.tile(self.ROW / self.ROW.sum(dtype=np.float32), (len(texts), 1))


def test_r11_h5_scores_are_answered_whole_as_the_peers_answer_them(tfidf_run):
    sure = Sure(load(tfidf_run))
    expected = [float(p) for p in sure.predict_proba(["x"])[0]]  # HF's score.item() of float32
    with TestClient(create_app([tfidf_run], loader=lambda _: sure)) as client:
        v1 = client.post("/v1/predict", json={"texts": ["x"], "top_k": 4}).json()
        hf = client.post("/models/tfidf", json={"inputs": "x"}).json()
        tei = client.post("/predict", json={"inputs": "x"}).json()
        raw = client.post("/predict", json={"inputs": "x", "raw_scores": True}).json()
    for ranked in (v1["predictions"][0]["top_k"], hf[0], tei):
        assert [item["score"] for item in ranked] == expected, ranked  # not 1.0, 0.0, 0.0, 0.0
    assert v1["predictions"][0]["score"] == expected[0] < 1.0
    assert [item["score"] for item in raw] == [float(np.log(p)) for p in expected], raw


def test_r11_h6_explain_answers_the_prediction_predict_gives_on_a_bf16_model(run_dir):
    texts = ["oil prices fall as markets slump", "the team won the cup final", ""]
    app = create_app([run_dir], loader=lambda path: load(path, precision="bf16"))
    with TestClient(app) as client:
        predicted = client.post("/v1/predict", json={"texts": texts, "top_k": 4}).json()
        explained = client.post("/v1/explain", json={"texts": texts}).json()
    for prediction, explanation in zip(
        predicted["predictions"], explained["explanations"], strict=True
    ):
        scores = {item["label"]: item["score"] for item in prediction["top_k"]}
        assert explanation["probabilities"] == scores  # the served model's (bf16), not fp32's
        assert explanation["label"] == prediction["label"]


def test_r11_h7_trailers_over_16_kb_are_a_431(tfidf_run):
    def chunked(trailers: bytes) -> bytes:
        return (
            b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            b'10\r\n{"texts": ["a"]}\r\n0\r\n%s\r\n' % trailers
        )

    settings = ServerSettings()
    with uvicorn_in_thread(create_app([tfidf_run], settings=settings), settings) as port:
        many = b"".join(b"X-Trailer-%d: 1\r\n" % i for i in range(3000))
        answer = raw_exchange(port, chunked(many))
        assert answer.startswith(b"HTTP/1.1 431"), answer[:300]
        error = _error(answer)
        assert error["type"] == "headers_too_large", error
        assert re.search(r"\(trailers of [\d,]+ bytes, over 16,384\)", error["message"]), error
        assert raw_exchange(port, chunked(b"X-Trailer: 1\r\n")).startswith(b"HTTP/1.1 200")


def test_r11_h8_a_content_type_given_twice_apart_is_a_400(tfidf_run):
    body = json.dumps({"texts": ["oil prices fall"]}).encode()
    plain, json_type = ("content-type", "text/plain"), ("content-type", "application/json")
    with TestClient(create_app([tfidf_run])) as client:
        for path in ("/v1/predict", "/predict"):
            for headers in ([plain, json_type], [json_type, plain]):
                answer = client.post(path, content=body, headers=headers)
                assert answer.status_code == 400, (path, headers, answer.text)
                message = answer.json()["error"]
                message = message if isinstance(message, str) else message["message"]
                assert message.startswith("Content-Type is given twice ("), message
        same = client.post("/v1/predict", content=body, headers=[json_type, json_type])
        assert same.status_code == 200, same.text  # one value twice: one value


def test_r11_h9_a_tei_batch_over_the_limit_is_a_413_before_its_inputs_are_checked(tfidf_run):
    with TestClient(create_app([tfidf_run])) as client:
        for inputs in ([["a"]] * 64 + [[""]], [["a"]] * 64 + [["a", "b"]]):
            answer = client.post("/predict", json={"inputs": inputs})
            assert answer.status_code == 413, answer.text  # as TEI: the size first
            assert answer.json() == {
                "error": "batch size 65 > maximum allowed batch size 64",
                "error_type": "Validation",
            }
        empty = client.post("/predict", json={"inputs": [["a"], [""]]})
        assert empty.status_code == 400 and empty.json()["error_type"] == "Empty"


def test_r11_h10_a_body_of_many_small_arrays_is_parsed_without_the_collectors_passes():
    """330,000 empty lists made the collector run hundreds of passes over the growing heap
    (30 times a flat body's parse). Checked by counting the passes made during the parse, not
    by timing it: a timing flaked on a loaded machine (0.151 s against a bound of 0.150)."""
    nested = json.dumps({"texts": [[]] * 330_000}, separators=(",", ":")).encode()  # 990 KB
    passes: list[int] = []

    def count(phase: str, info: dict) -> None:
        if phase == "start":
            passes.append(info["generation"])

    gc.collect()
    gc.callbacks.append(count)
    try:
        assert len(json_body.loads(nested)["texts"]) == 330_000
    finally:
        gc.callbacks.remove(count)
    assert len(passes) <= 2, passes  # was hundreds (one may come as the collector is back on)
    assert gc.isenabled()  # on again after


def test_r11_h11_a_body_of_more_values_than_a_request_takes_is_refused_before_validation(
    tfidf_run,
):
    many = [0] * 200_000  # 600 KB: an error each, 2.4 s of the event loop on /v1
    tensor = {"name": "text", "shape": [1], "datatype": "BYTES", "data": many}
    bodies = [
        ("/v1/predict", {"texts": many}, 422),
        ("/v1/explain", {"texts": many}, 422),
        ("/models/tfidf", {"inputs": many}, 422),
        ("/predict", {"inputs": [[0]] * 100_000}, 413),  # TEI's status for a batch too large
        ("/v2/models/tfidf/infer", {"inputs": [tensor]}, 422),
        ("/v1/predict", {"texts": ["a"], **{f"k{i}": 0 for i in range(50_000)}}, 422),
    ]
    with TestClient(create_app([tfidf_run])) as client:
        for path, body, status in bodies:
            started = time.monotonic()
            answer = client.post(path, json=body)
            assert time.monotonic() - started < 1.0, path
            assert answer.status_code == status, (path, answer.text[:300])
            error = answer.json()["error"]
            message = error if isinstance(error, str) else error["message"]
            assert message.startswith("the request body holds more than 320 values"), message
        batch = [[f"text {i}"] for i in range(64)]  # the most a request holds: answered
        assert client.post("/predict", json={"inputs": batch}).status_code == 200
        v1 = client.post("/v1/predict", json={"texts": ["a"] * 64, "top_k": 4})
        assert v1.status_code == 200, v1.text
