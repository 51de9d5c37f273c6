"""Hostile inputs, round 10: the HTTP server (`attentext serve`) and the protocols beside /v1,
the items round 9 left and what a demanding client of a model server sends. Each test failed
before its fix:

R10-H1  a browser page of another origin: no CORS headers, and its preflight `OPTIONS` a 405, so
        it could call no route. `serve --cors-allow-origin ORIGIN` (repeatable, or `*`, as TEI's
        option) answers the preflight and adds the headers, errors included; off by default; an
        origin no browser sends ("https://app.example.com/") is one line, exit 2.
R10-H2  loose JSON types: `top_k: true` read as 1 and `"3"` as 3 (/v1, HF), TEI's
        `raw_scores: "true"` (or `"no"`, 1) as a boolean, a v2 shape `[true]` or `["2"]` as
        numbers: pydantic's lax mode. A 422 in each protocol's shape, one sentence in JSON's
        words; an integral float (`top_k: 2.0`, what a client's arithmetic gives) still taken.
R10-H3  TEI's `truncation_direction` was accepted and ignored: `Left` on a run that keeps a
        text's start (or `Right` on one that keeps its end) answered from the other part of a
        long text than asked. Refused (422 Validation) for a text cut otherwise than asked (by
        the model, an ensemble's member or the server's --max-chars); answered where the run
        cuts that way or the text is read whole. `/info`'s `max_input_length` gave an ensemble
        or a TF-IDF run reading 40 characters the server's max_chars (10,000): now what it reads.
R10-H4  a v2 inference input of any name (`input_ids`, `INPUT0`) was read as the texts, where the
        model metadata declares one input, `text`, and Triton refuses another name ("unexpected
        inference input"). A 422 in v2's shape naming the declared input.
R10-H5  bodies Python's json module reads and JSON (RFC 8259) is not: NaN, Infinity (a v2
        parameter or an HF option of NaN answered 200) and UTF-16 or UTF-32 bodies (200, where a
        proxy or filter reading the body as UTF-8 sees other bytes, and TEI's serde refuses). A
        400 `invalid_json` saying why, in each protocol's shape; a UTF-8 byte order mark is read.
R10-H6  a path with a trailing "/" (`POST /v1/predict/`, `/v2/models/m/infer/`, `/healthz/`):
        Starlette's 307 to the path without it, an empty body (no JSON error), which httpx,
        tritonclient and TEI's clients do not follow with the body, its Location built from the
        request's Host header (`Host: evil.example` -> `http://evil.example/v1/predict`). A 404
        in the protocol's shape naming the path, as TEI (axum) answers it.
R10-H7  a client that sends requests and hangs up before the answers: its texts stayed in the
        micro-batcher's queue and were computed for no one (4 requests of 8 texts: 32 texts
        queued, then run), so hanging up at no cost filled the queue (503 for every other
        client). Cancelled as a request past the time limit is: out of the queue at once.
R10-H8  a header that says how to read the body, given on two lines: `Content-Encoding: gzip`
        then `Content-Encoding: identity` (the last line alone was read: the gzip body a 400 "not
        UTF-8"), where HTTP reads the lines as one list (RFC 9110 5.3); two different
        `Inference-Header-Content-Length` values (the first used, where a proxy may take the
        last and see another JSON part). Codings combined; two lengths a 400 naming both.
R10-H9  a request with both `Transfer-Encoding: chunked` and `Content-Length` (CL.TE request
        smuggling): h11 read the chunks and kept the connection open, so the bytes after the
        chunks' end, inside the Content-Length a proxy goes by, were answered as a request of
        their own. A 400 (JSON) and the connection closed, as nginx answers it (RFC 9112 6.3).
"""

from __future__ import annotations

import gzip
import json
import re
import socket
import time
from pathlib import Path

import pytest
from conftest import raw_exchange, run_cli_here, uvicorn_in_thread
from fastapi.testclient import TestClient

import attentext
from attentext.errors import AttentextError
from attentext.inference.classifier import load
from attentext.inference.ensemble import EnsembleClassifier
from attentext.serving import ServerSettings, create_app

PAGE = "https://app.example.com"


@pytest.fixture(scope="module")
def tfidf_run(ag_news_dir, tmp_path_factory) -> Path:
    """A TF-IDF run on ag_news_tiny (seconds)."""
    folder = tmp_path_factory.mktemp("round10serve")
    return Path(attentext.train("tfidf-logreg", ag_news_dir, folder / "tfidf").run_dir)


def _preflight(client: TestClient, path: str, origin: str, headers: str) -> object:
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": headers,
        },
    )


def test_r10_h1_cors_is_off_by_default_and_answers_the_origins_given(tfidf_run):
    with TestClient(create_app([tfidf_run])) as client:  # the default: same origin only
        answer = client.post("/v1/predict", json={"texts": ["a"]}, headers={"Origin": PAGE})
        assert "access-control-allow-origin" not in answer.headers
        assert _preflight(client, "/v1/predict", PAGE, "content-type").status_code == 405
    with TestClient(create_app([tfidf_run], cors_allow_origins=(PAGE,))) as client:
        for path, headers in [
            ("/v1/predict", "content-type"),
            ("/predict", "content-type"),
            ("/v2/models/tfidf/infer", "content-type, inference-header-content-length"),
        ]:
            preflight = _preflight(client, path, PAGE, headers)
            assert preflight.status_code == 200, preflight.text
            assert preflight.headers["access-control-allow-origin"] == PAGE
            assert "POST" in preflight.headers["access-control-allow-methods"]
        answer = client.post("/v1/predict", json={"texts": ["a"]}, headers={"Origin": PAGE})
        assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == PAGE
        refused = client.post("/v1/predict", json={"texts": []}, headers={"Origin": PAGE})
        assert refused.status_code == 422  # a page reads why it was refused
        assert refused.headers["access-control-allow-origin"] == PAGE
        other = _preflight(client, "/v1/predict", "https://evil.example", "content-type")
        assert other.status_code == 400 and other.json()["error"]["type"] == "cors_refused"
        assert "access-control-allow-origin" not in other.headers
    with TestClient(create_app([tfidf_run], cors_allow_origins=("*",))) as client:
        answer = client.get("/healthz", headers={"Origin": "http://localhost:3000"})
        assert answer.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize(
    "origin", ["https://app.example.com/", "https://App.example.com", "app.example.com"]
)
def test_r10_h1_an_origin_no_browser_sends_is_one_line(tfidf_run, origin):
    with pytest.raises(AttentextError, match="not an origin as a browser sends it"):
        ServerSettings(cors_allow_origins=(origin,))
    result = run_cli_here("serve", tfidf_run, "--port", "0", "--cors-allow-origin", origin)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"error: --cors-allow-origin: '{origin}' is not an origin as a browser sends it"
    ), lines


def test_r10_h1_serve_help_documents_cors(tfidf_run):
    result = run_cli_here("serve", "--help")
    assert result.returncode == 0
    assert "--cors-allow-origin" in result.stdout


LOOSE = [
    (
        "/v1/predict",
        {"texts": ["a"], "top_k": True},
        "top_k: expected a whole number, got a boolean",
    ),
    ("/v1/predict", {"texts": ["a"], "top_k": "3"}, "top_k: expected a whole number, got a string"),
    ("/v1/predict", {"texts": ["a"], "top_k": 2.5}, "top_k: expected a whole number, got 2.5"),
    (
        "/models/tfidf",
        {"inputs": "a", "parameters": {"top_k": True}},
        "parameters.top_k: expected a whole number, got a boolean",
    ),
    (
        "/predict",
        {"inputs": "a", "raw_scores": "true"},
        "raw_scores: expected true or false, got a string",
    ),
    (
        "/predict",
        {"inputs": "a", "raw_scores": 1},
        "raw_scores: expected true or false, got a number",
    ),
    (
        "/predict",
        {"inputs": "a", "truncate": "no"},
        "truncate: expected true or false, got a string",
    ),
    (
        "/v2/models/tfidf/infer",
        {"inputs": [{"name": "text", "shape": [True], "datatype": "BYTES", "data": ["a"]}]},
        "inputs[0].shape[0]: expected a whole number, got a boolean",
    ),
    (
        "/v2/models/tfidf/infer",
        {"inputs": [{"name": "text", "shape": ["1"], "datatype": "BYTES", "data": ["a"]}]},
        "inputs[0].shape[0]: expected a whole number, got a string",
    ),
]


def _message(body: dict) -> str:
    """The error's message in any protocol's shape."""
    error = body["error"]
    return error["message"] if isinstance(error, dict) else error


@pytest.mark.parametrize(("path", "body", "expected"), LOOSE)
def test_r10_h2_a_boolean_or_string_for_a_number_or_boolean_is_refused(
    tfidf_run, path, body, expected
):
    with TestClient(create_app([tfidf_run])) as client:
        answer = client.post(path, json=body)
    assert answer.status_code == 422, answer.text
    assert _message(answer.json()) == expected
    if path == "/predict":
        assert answer.json()["error_type"] == "Validation"


def test_r10_h2_an_integral_float_is_a_whole_number(tfidf_run):
    with TestClient(create_app([tfidf_run])) as client:
        v1 = client.post("/v1/predict", json={"texts": ["a"], "top_k": 2.0})
        assert v1.status_code == 200 and len(v1.json()["predictions"][0]["top_k"]) == 2
        hf = client.post("/models/tfidf", json={"inputs": "a", "parameters": {"top_k": 2.0}})
        assert hf.status_code == 200 and len(hf.json()[0]) == 2
        tensor = {"name": "text", "shape": [1.0], "datatype": "BYTES", "data": ["a"]}
        v2 = client.post("/v2/models/tfidf/infer", json={"inputs": [tensor]})
        assert v2.status_code == 200, v2.text
        tei = client.post("/predict", json={"inputs": "a", "raw_scores": True, "truncate": None})
        assert tei.status_code == 200


LONG_TEXT = "Stocks rallied on Wall Street as oil prices fell for a third day"  # 65 characters


@pytest.fixture(scope="module")
def short_tfidf_run(ag_news_dir, tmp_path_factory) -> Path:
    """A TF-IDF run that reads the first 40 characters of a text."""
    out = tmp_path_factory.mktemp("round10short") / "short"
    attentext.train("tfidf-logreg", ag_news_dir, out, overrides=["model.options.max_chars=40"])
    return out


@pytest.fixture(scope="module")
def tail_run(ag_news_dir, tmp_path_factory) -> Path:
    """A seed transformer that keeps the end of a text over its max_length (16 steps)."""
    out = tmp_path_factory.mktemp("round10tail") / "tail"
    attentext.train(
        "seed-transformer",
        ag_news_dir,
        out,
        max_steps=16,
        precision="fp32",
        overrides=["tokenizer.truncation=tail", "tokenizer.max_length=8"],
    )
    return out


def _tei(client: TestClient, text: str, direction: str | None) -> object:
    body = (
        {"inputs": text}
        if direction is None
        else {"inputs": text, "truncation_direction": direction}
    )
    return client.post("/predict", json=body)


def test_r10_h3_a_truncation_direction_the_run_does_not_cut_by_is_refused(
    short_tfidf_run, tail_run, tfidf_run
):
    for run, refused, taken in [(short_tfidf_run, "Left", "Right"), (tail_run, "Right", "left")]:
        with TestClient(create_app([run])) as client:
            answer = _tei(client, LONG_TEXT, refused)
            assert answer.status_code == 422, answer.text
            assert answer.json()["error_type"] == "Validation"
            assert f"not the {'tail' if refused == 'Left' else 'head'}" in answer.json()["error"]
            for direction in (taken, None):
                assert _tei(client, LONG_TEXT, direction).status_code == 200
            assert _tei(client, "Oil fell", refused).status_code == 200  # read whole
    with TestClient(create_app([tfidf_run], max_chars=20)) as client:  # the server keeps 20
        assert _tei(client, LONG_TEXT, "Left").status_code == 422
        assert _tei(client, LONG_TEXT, "Right").status_code == 200


def test_r10_h3_tei_info_gives_what_an_ensemble_or_tfidf_run_reads(tfidf_run, short_tfidf_run):
    whole, short = load(tfidf_run), load(short_tfidf_run)
    ensemble = EnsembleClassifier([whole, short], [0.5, 0.5], ["tfidf", "short"])
    for served, classifier in [(tfidf_run, ensemble), (short_tfidf_run, short)]:
        with TestClient(create_app([served], loader=lambda _, c=classifier: c)) as client:
            info = client.get("/info").json()
            assert info["max_input_length"] == 40, info
            left = _tei(client, LONG_TEXT, "Left")
            assert left.status_code == 422 and "model '" in left.json()["error"]


@pytest.mark.parametrize("path", ["/v2/models/tfidf/infer", "/v2/models/tfidf/versions/1/infer"])
def test_r10_h4_a_v2_input_not_named_as_the_metadata_declares_is_refused(tfidf_run, path):
    with TestClient(create_app([tfidf_run])) as client:
        declared = client.get("/v2/models/tfidf").json()["inputs"][0]["name"]
        for name in ("input_ids", "INPUT0", "Text"):
            tensor = {"name": name, "shape": [1], "datatype": "BYTES", "data": ["oil falls"]}
            answer = client.post(path, json={"inputs": [tensor]})
            assert answer.status_code == 422, answer.text
            assert answer.json() == {
                "error": f"unexpected inference input '{name}' for model 'tfidf': its one input "
                f"is '{declared}' (BYTES: the texts), as its metadata (GET /v2/models/tfidf) "
                "declares"
            }
        tensor = {"name": declared, "shape": [1], "datatype": "BYTES", "data": ["oil falls"]}
        assert client.post(path, json={"inputs": [tensor]}).status_code == 200


V2_TEXT = {"name": "text", "shape": [1], "datatype": "BYTES", "data": ["oil falls"]}
NOT_JSON = [
    ("/v1/predict", b'{"texts": ["a"], "top_k": NaN}', "NaN is no JSON value"),
    ("/models/tfidf", b'{"inputs": "a", "options": {"use_cache": NaN}}', "NaN is no JSON value"),
    (
        "/v2/models/tfidf/infer",
        b'{"parameters": {"x": -Infinity}, "inputs": [' + json.dumps(V2_TEXT).encode() + b"]}",
        "-Infinity is no JSON value",
    ),
    ("/predict", '{"inputs": "a"}'.encode("utf-16"), "UTF-16, not UTF-8"),
    ("/v1/predict", '{"texts": ["a"]}'.encode("utf-16-le"), "UTF-16-LE, not UTF-8"),
    ("/models/tfidf", '{"inputs": "a"}'.encode("utf-32"), "UTF-32, not UTF-8"),
]


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    NOT_JSON,
    ids=["v1-nan", "hf-nan", "v2-infinity", "tei-utf16", "v1-utf16le", "hf-utf32"],
)
def test_r10_h5_a_body_python_reads_but_json_is_not_is_a_400(tfidf_run, path, body, expected):
    with TestClient(create_app([tfidf_run])) as client:
        answer = client.post(path, content=body, headers={"content-type": "application/json"})
        assert answer.status_code == 400, answer.text
        assert "the request body is not valid JSON (" in _message(answer.json())
        assert expected in _message(answer.json())
        with_bom = b"\xef\xbb\xbf" + json.dumps({"texts": ["a"]}).encode()
        answer = client.post(
            "/v1/predict", content=with_bom, headers={"content-type": "application/json"}
        )
        assert answer.status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "shaped"),
    [
        ("POST", "/v1/predict/", True),
        ("GET", "/healthz/", True),
        ("POST", "/v2/models/tfidf/infer/", False),
        ("POST", "/models/tfidf/", False),
    ],
)
def test_r10_h6_a_trailing_slash_is_a_json_404_naming_the_path_not_a_redirect(
    tfidf_run, method, path, shaped
):
    with TestClient(create_app([tfidf_run])) as client:
        answer = client.request(
            method, path, json={}, headers={"Host": "evil.example"}, follow_redirects=False
        )
    assert answer.status_code == 404, (answer.status_code, answer.headers)
    assert "location" not in answer.headers
    error = answer.json()["error"]
    message = error["message"] if shaped else error
    bare = path.rstrip("/")
    assert message == (
        f"no such endpoint: {method} {path}; the path is {bare}, without the trailing '/'"
    )


class Slow:
    """A classifier whose every call takes `delay` seconds; records the texts of each call."""

    def __init__(self, classifier, delay: float) -> None:
        self.classifier, self.labels, self.delay = classifier, classifier.labels, delay
        self.calls: list[list[str]] = []

    def predict_proba(self, texts):
        self.calls.append(list(texts))
        time.sleep(self.delay)
        return self.classifier.predict_proba(texts)


def _post_raw(port: int, texts: list[str]) -> socket.socket:
    """A POST /v1/predict sent on a connection of its own, its answer not read."""
    body = json.dumps({"texts": texts}).encode()
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(
        b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    return sock


def test_r10_h7_the_work_of_a_client_that_left_is_dropped_from_the_queue(tfidf_run):
    slow = Slow(load(tfidf_run), delay=2.0)
    settings = ServerSettings(max_batch_size=1, max_wait_ms=0)
    app = create_app([tfidf_run], loader=lambda _: slow, settings=settings)
    batcher = None
    with uvicorn_in_thread(app, settings) as port:
        batcher = app.state.service.batchers["tfidf"]
        running = _post_raw(port, ["the one that runs"])
        time.sleep(0.3)  # its call has begun
        gone = [_post_raw(port, [f"left {i}"] * 8) for i in range(4)]
        time.sleep(0.3)
        assert batcher.queued_texts == 32  # waiting behind the running call
        for sock in gone:
            sock.close()  # the clients leave before their answers
        deadline = time.monotonic() + 0.6  # well before the running call ends
        while batcher.queued_texts and time.monotonic() < deadline:
            time.sleep(0.02)
        assert batcher.queued_texts == 0
        answer = running.recv(65536)
        running.close()
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
        time.sleep(0.3)
        assert [texts for texts in slow.calls if texts[0].startswith("left")] == []


def test_r10_h8_a_header_that_says_how_to_read_the_body_given_twice(tfidf_run):
    body = json.dumps({"texts": ["oil prices fall"]}).encode()
    json_type = ("content-type", "application/json")
    with TestClient(create_app([tfidf_run])) as client:
        plain = client.post("/v1/predict", content=body, headers=[json_type]).json()
        for lines in (["gzip", "identity"], ["identity", "gzip"], ["gzip, identity"]):
            headers = [json_type, *(("content-encoding", line) for line in lines)]
            answer = client.post("/v1/predict", content=gzip.compress(body), headers=headers)
            assert answer.status_code == 200, (lines, answer.text)
            assert answer.json() == plain
        tensor = {"name": "text", "shape": [1], "datatype": "BYTES", "data": ["oil falls"]}
        v2_body = json.dumps({"inputs": [tensor]}).encode()
        length = ("inference-header-content-length", str(len(v2_body)))
        answer = client.post("/v2/models/tfidf/infer", content=v2_body, headers=[length, length])
        assert answer.status_code == 200, answer.text  # the same value twice: one value
        other = ("inference-header-content-length", "3")
        answer = client.post("/v2/models/tfidf/infer", content=v2_body, headers=[other, length])
        assert answer.status_code == 400, answer.text
        assert answer.json() == {
            "error": f"Inference-Header-Content-Length is given twice (3, {len(v2_body)}); "
            "send it once, the byte count of the body's JSON part"
        }


def test_r10_h9_a_body_framed_by_both_chunks_and_content_length_is_refused(tfidf_run):
    smuggled = b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n"
    request = (
        b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n%s"
        % (5 + len(smuggled), smuggled)
    )  # a proxy going by Content-Length sees one request; chunks end after "0"
    settings = ServerSettings()
    with uvicorn_in_thread(create_app([tfidf_run], settings=settings), settings) as port:
        received = raw_exchange(port, request)
        assert len(re.findall(rb"HTTP/1\.1 \d{3} ", received)) == 1, received  # no GET answered
        assert received.startswith(b"HTTP/1.1 400"), received[:200]
        assert b"connection: close" in received.lower()
        assert b"(Transfer-Encoding with Content-Length: send one)" in received
        chunked = (
            b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            b'10\r\n{"texts": ["a"]}\r\n0\r\n\r\n'
        )
        assert raw_exchange(port, chunked).startswith(b"HTTP/1.1 200")  # chunks alone: read
