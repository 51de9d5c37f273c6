"""Hostile inputs, round 9: the HTTP server (`attentext serve`) and the protocols beside /v1, with
the requests real clients send. Each test failed before its fix:

R9-H1  `serve RUN --torch-threads 2147483648`: torch's "Overflow when unpacking long" traceback
       (`torch.set_num_threads` ran before any check); the range `load` takes (0 to 1,024) is
       now checked with the other options, in one line naming --torch-threads.
R9-H2  a request body sent compressed, as tritonclient sends it with
       `request_compression_algorithm="gzip"` or `"deflate"` (Content-Encoding): "not valid JSON
       (not UTF-8 from byte 1)", or for binary tensors "Inference-Header-Content-Length: 136 is
       not the byte count of the body's JSON part (0 to 128)". Decoded before the app reads it,
       within the body limit (a gzip bomb is a 413); another coding is a 415 with
       Accept-Encoding.
R9-H3  HEAD on the routes served by GET (/healthz, /readyz, /v1/models, the page, TEI's
       /health and /info, v2's health and metadata): 405, where HTTP requires HEAD wherever
       GET is served (monitors and `curl -I` check health so). Answered as the GET, no body.
R9-H4  a body naming a key twice in one object (`{"texts": ["a"], "texts": ["b", "c"]}`, HF's
       `{"inputs": "a", "inputs": [...]}`, a v2 tensor's "data" twice): the last one was
       classified without a word, where a proxy keeping the first reads another request and
       TEI refuses it. A 400 `invalid_json` naming the key, in each protocol's shape.
R9-H5  a wrong type where a protocol takes one of several (HF `"inputs": null`, a v2 parameter
       that is null or an object): one message per member of pydantic's union, in its words
       ("inputs.function-after[valid_unicode(), str]: Input should be a valid string (got
       NoneType); inputs.list[function-after[...]]: ..."); and everywhere Python's type names
       ("got NoneType", "data[0] is int"). One sentence, in JSON's words.
R9-H6  `serve RUN --host ::1`: "serving on http://::1:8000/", a URL curl and browsers refuse;
       an IPv6 address is written in brackets (`cli.serve.address`), there and in the errors
       that name the address.
R9-H7  TEI `"truncate": false` on a served ensemble (whose members cut texts), or on a TF-IDF
       run past its `model.options.max_chars`: only a model's own token limit was checked, so a
       text the model reads in part was answered as if read whole (/v1 said `partly_read`).
       A 422 Validation, decided as /v1's `partly_read`.
R9-H8  `serve runs/tfidf runs/tfidf/` (one run folder given twice, or by a link): "two run
       directories are named 'tfidf'; ... rename or copy one", advice that serves one model
       twice. Said as given twice; two folders of one name are told as before.
R9-H9  `serve RUN --max-wait-ms inf` (or 50000 under the default 30 s --request-timeout): taken;
       the micro-batcher then held every request that did not fill a batch past its time
       limit: every answer a 504. Refused in one line naming both options.
R9-H10 a v2 inference request with `"outputs": []`: a 200 holding no output at all, where
       Triton answers every output for an empty list as for none. Both outputs.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from conftest import REPO, run_cli_here, uvicorn_in_thread
from fastapi.testclient import TestClient

import attentext
from attentext.errors import AttentextError
from attentext.inference.classifier import load
from attentext.inference.ensemble import EnsembleClassifier
from attentext.serving import ServerSettings, create_app

tritonclient_http = pytest.importorskip("tritonclient.http")


@pytest.fixture(scope="module")
def tfidf_run(ag_news_dir, tmp_path_factory) -> Path:
    """A TF-IDF run on ag_news_tiny (seconds)."""
    folder = tmp_path_factory.mktemp("round9serve")
    return Path(attentext.train("tfidf-logreg", ag_news_dir, folder / "tfidf").run_dir)


@pytest.mark.parametrize("threads", ["2147483648", "-1"])
def test_r9_h1_a_torch_thread_count_out_of_range_is_one_line_before_torch_takes_it(
    tfidf_run, threads
):
    result = run_cli_here("serve", tfidf_run, "--port", "0", "--torch-threads", threads)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"error: --torch-threads must be from 1 to 1,024 (0: torch's default), got {threads}"
    ]


@pytest.fixture(scope="module")
def server(tfidf_run) -> Iterator[str]:
    """`attentext serve`'s app and connection options, in uvicorn on the loopback."""
    settings = ServerSettings()
    with uvicorn_in_thread(create_app([tfidf_run], settings=settings), settings) as port:
        yield f"127.0.0.1:{port}"


@pytest.mark.parametrize("binary", [True, False])
def test_r9_h2_tritonclient_requests_sent_compressed_are_answered_as_sent_plain(server, binary):
    client = tritonclient_http.InferenceServerClient(server)
    tensor = tritonclient_http.InferInput("text", [2], "BYTES")
    tensor.set_data_from_numpy(np.array(["oil prices fall", "a late goal"], object), binary)
    plain = client.infer("tfidf", [tensor]).as_numpy("scores")
    for algorithm in ("gzip", "deflate"):
        compressed = client.infer("tfidf", [tensor], request_compression_algorithm=algorithm)
        np.testing.assert_array_equal(compressed.as_numpy("scores"), plain)
    client.close()


def test_r9_h2_a_compressed_body_is_held_to_the_body_limit_and_other_codings_are_a_415(server):
    url = f"http://{server}/v1/predict"
    body = b'{"texts": ["oil prices fall"]}'
    json_header = {"content-type": "application/json"}
    plain = httpx.post(url, content=body, headers=json_header).json()
    for coding, data in [("gzip", gzip.compress(body)), ("deflate", zlib.compress(body))]:
        answer = httpx.post(url, content=data, headers={**json_header, "content-encoding": coding})
        assert answer.status_code == 200 and answer.json() == plain
    bomb = gzip.compress(b" " * 20_000_000)  # 20 KB that inflate to 20 MB
    answer = httpx.post(url, content=bomb, headers={**json_header, "content-encoding": "gzip"})
    assert answer.status_code == 413 and "once decompressed" in answer.text
    damaged = gzip.compress(body)[:-6]
    answer = httpx.post(url, content=damaged, headers={**json_header, "content-encoding": "gzip"})
    assert answer.status_code == 400 and "not valid gzip data" in answer.text
    answer = httpx.post(url, content=body, headers={**json_header, "content-encoding": "br"})
    assert answer.status_code == 415 and answer.headers["accept-encoding"] == "gzip, deflate"


HEAD_PATHS = [
    "/healthz",
    "/readyz",
    "/v1/models",
    "/",
    "/health",
    "/info",
    "/v2",
    "/v2/health/live",
    "/v2/health/ready",
    "/v2/models/tfidf",
    "/v2/models/tfidf/ready",
    "/v2/models/tfidf/versions/1",
]


def test_r9_h3_head_is_answered_wherever_get_is_without_a_body(tfidf_run):
    with TestClient(create_app([tfidf_run])) as client:
        for path in HEAD_PATHS:
            get, head = client.get(path), client.head(path)
            assert get.status_code == 200, path
            assert head.status_code == 200, (path, head.status_code)
            assert head.content == b"", path
            assert head.headers.get("content-type") == get.headers.get("content-type"), path
            assert head.headers.get("content-length") == get.headers.get("content-length"), path
        refused = client.head("/v1/predict")
        assert refused.status_code == 405 and refused.headers["allow"] == "POST"
        assert refused.content == b""


REPEATED = [
    ("/v1/predict", b'{"texts": ["a"], "texts": ["b", "c"]}', "texts"),
    ("/v1/explain", b'{"text": "a", "method": "occlusion", "method": "attention"}', "method"),
    ("/models/tfidf", b'{"inputs": "a", "inputs": ["b", "c"]}', "inputs"),
    ("/", b'{"inputs": "a", "parameters": {"top_k": 1, "top_k": 2}}', "top_k"),
    ("/predict", b'{"inputs": "a", "raw_scores": false, "raw_scores": true}', "raw_scores"),
    (
        "/v2/models/tfidf/infer",
        b'{"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["a"],'
        b' "data": ["b"]}]}',
        "data",
    ),
]


@pytest.mark.parametrize(("path", "body", "key"), REPEATED, ids=[p for p, _, _ in REPEATED])
def test_r9_h4_a_key_given_twice_in_one_object_is_a_400_naming_it(tfidf_run, path, body, key):
    with TestClient(create_app([tfidf_run])) as client:
        answer = client.post(path, content=body, headers={"content-type": "application/json"})
        assert answer.status_code == 400, answer.text
        error = answer.json()["error"]
        message = error["message"] if isinstance(error, dict) else error
        assert message == (
            f"the request body is not valid JSON (the key '{key}' appears twice in one object)"
        )
        same_keys_apart = b'{"texts": [{"a": 1}], "model": "tfidf"}'  # nested objects: no repeat
        answer = client.post("/v1/predict", content=same_keys_apart, headers=JSON)
        assert answer.status_code == 422 and "texts[0]" in answer.text


JSON = {"content-type": "application/json"}


V2_TEXT = {"name": "text", "shape": [1], "datatype": "BYTES", "data": ["a"]}
WRONG_TYPES = [
    (
        "/models/tfidf",
        {"inputs": None},
        "inputs: expected a string or an array of strings, got null",
    ),
    (
        "/models/tfidf",
        {"inputs": {"text": "a"}},
        "inputs: expected a string or an array of strings, got an object",
    ),
    (
        "/models/tfidf",
        {"inputs": ["a", None]},
        "inputs: the text at [1] is null; every text must be a string",
    ),
    (
        "/v2/models/tfidf/infer",
        {"inputs": [V2_TEXT], "parameters": {"x": None}},
        "parameters.x: a parameter is a string, a number or a boolean, got null",
    ),
    (
        "/v2/models/tfidf/infer",
        {"inputs": [{**V2_TEXT, "data": [7]}]},
        "input 'text': data[0] is a number; BYTES data are strings (the texts)",
    ),
    ("/v1/predict", None, "the request body must be a JSON object, got null"),
    ("/v1/predict", {"texts": ["a", None]}, "texts[1]: Input should be a valid string (got null)"),
    ("/v1/explain", {"text": {"a": 1}}, "text: Input should be a valid string (got an object)"),
]


@pytest.mark.parametrize(("path", "body", "expected"), WRONG_TYPES)
def test_r9_h5_a_wrong_type_is_one_sentence_in_json_words(tfidf_run, path, body, expected):
    with TestClient(create_app([tfidf_run])) as client:
        answer = client.post(path, content=json.dumps(body), headers=JSON)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert (error["message"] if isinstance(error, dict) else error) == expected


def _free_ipv6_port() -> int:
    with socket.socket(socket.AF_INET6) as sock:
        sock.bind(("::1", 0))
        return sock.getsockname()[1]


def test_r9_h6_the_startup_line_on_an_ipv6_host_is_a_url_that_answers(tfidf_run):
    try:
        port = _free_ipv6_port()
    except OSError:
        pytest.skip("no IPv6 loopback here")
    command = [sys.executable, "-m", "attentext", "serve", str(tfidf_run), "--host", "::1"]
    server = subprocess.Popen(
        [*command, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=REPO,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    try:
        line = server.stdout.readline().strip()
        url = f"http://[::1]:{port}/"
        assert line == f"attentext: serving on {url} (API schema at /docs)"
        for _ in range(300):  # (before R16-S1 the line came before uvicorn listened)
            try:
                assert httpx.get(url + "healthz").json() == {"status": "ok"}
                break
            except httpx.TransportError:
                if server.poll() is not None:
                    pytest.fail("the server ended")
                time.sleep(0.1)
        else:
            pytest.fail(f"nothing answered at {url}")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


@pytest.fixture(scope="module")
def short_tfidf_run(ag_news_dir, tmp_path_factory) -> Path:
    """A TF-IDF run that reads the first 40 characters of a text."""
    out = tmp_path_factory.mktemp("round9short") / "short"
    attentext.train("tfidf-logreg", ag_news_dir, out, overrides=["model.options.max_chars=40"])
    return out


def test_r9_h7_tei_truncate_false_refuses_a_text_an_ensemble_or_tfidf_reads_in_part(
    tfidf_run, short_tfidf_run
):
    whole, short = load(tfidf_run), load(short_tfidf_run)
    ensemble = EnsembleClassifier([whole, short], [0.5, 0.5], ["tfidf", "short"])
    long_text = "Stocks rallied on Wall Street as oil prices fell for a third day"  # 65 characters
    for served, classifier in [(tfidf_run, ensemble), (short_tfidf_run, short)]:
        app = create_app([served], loader=lambda _, c=classifier: c)
        with TestClient(app) as client:
            v1 = client.post("/v1/predict", json={"texts": [long_text]}).json()
            assert v1["predictions"][0]["partly_read"] is True
            answer = client.post("/predict", json={"inputs": long_text, "truncate": False})
            assert answer.status_code == 422, answer.text
            assert answer.json()["error_type"] == "Validation"
            assert "longer than model" in answer.json()["error"]
            cut = client.post("/predict", json={"inputs": long_text})  # truncate null: cut
            assert cut.status_code == 200
            read_whole = client.post("/predict", json={"inputs": "Oil fell", "truncate": False})
            assert read_whole.status_code == 200


def test_r9_h8_one_run_folder_given_twice_is_said_so(tfidf_run, tmp_path):
    link = tmp_path / "tfidf"
    link.symlink_to(tfidf_run)
    for second in (Path(f"{tfidf_run}/"), link):
        with pytest.raises(AttentextError) as error:
            create_app([tfidf_run, second])
        assert str(error.value) == (
            f"the run directory 'tfidf' is given twice ({tfidf_run}, {second}); give each run "
            "directory once"
        )
    copy = tmp_path / "copy" / "tfidf"
    shutil.copytree(tfidf_run, copy)
    with pytest.raises(AttentextError, match="two run directories are named 'tfidf'; .* rename"):
        create_app([tfidf_run, copy])


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--max-wait-ms", "inf"],
            "--max-wait-ms must be a number of milliseconds, 0 or more, got inf",
        ),
        (
            ["--max-wait-ms", "2000", "--request-timeout", "2"],
            "--max-wait-ms 2000 is not below --request-timeout (2 s): a request that does not "
            "fill a batch would wait past its time limit; give a few milliseconds",
        ),
    ],
)
def test_r9_h9_a_batch_wait_past_the_time_limit_is_refused_before_the_server_starts(
    tfidf_run, args, expected
):
    # the settings first: before the fix the command started a server (and never returned)
    with pytest.raises(AttentextError, match="max_wait_ms must be a number of milliseconds"):
        ServerSettings(max_wait_ms=float("inf"))
    with pytest.raises(AttentextError, match="max_wait_ms 2000 is not below request_timeout_s"):
        ServerSettings(max_wait_ms=2000, request_timeout_s=2)
    result = run_cli_here("serve", tfidf_run, "--port", "0", *args)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [f"error: {expected}"]


def test_r9_h10_a_v2_request_naming_no_output_gets_every_output(tfidf_run):
    body = {"inputs": [{**V2_TEXT, "data": ["oil prices fall"]}]}
    with TestClient(create_app([tfidf_run])) as client:
        every = client.post("/v2/models/tfidf/infer", json=body).json()["outputs"]
        answer = client.post("/v2/models/tfidf/infer", json={**body, "outputs": []})
    assert answer.status_code == 200
    assert answer.json()["outputs"] == every
    assert [output["name"] for output in every] == ["label", "scores"]
