"""Hostile inputs, round 7: the items earlier rounds left.

- R7-V1: a served run replaced on disk. `attentext serve` reloads its runs on SIGHUP (a real
  server process here): the new run is swapped in with its own metrics while requests go on, a
  broken replacement keeps the old model serving and is named in one log line; and a run
  replaced between the server's reads at start is read again, its model and metrics one run's.
- R7-D1: `distill` loaded each teacher twice (to check it, then to label the transfer set); it is
  loaded once and passed along.
- R7-C1: the model card's YAML front matter (where the Hub reads the labels) kept a label's bidi
  override, isolate or zero-width space raw; each is now a `\\u` escape in a double-quoted
  string, the label exact when the YAML is read back.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import yaml
from conftest import AG_NEWS_LABELS, REPO, labelled_csv

import attentext
from attentext.inference.classifier import load
from attentext.rundir import open_run, publish
from attentext.serving.state import load_models, metrics_summary
from attentext.training import distill as distill_module

HOST = "127.0.0.1"
SWAP_WAIT_S = 90.0  # a reload loads the run in the background: bounded wait for it to show
TWO_LABELS = ["calm", "storm"]


def _two_label_csv(n: int) -> str:
    """Texts about calm or stormy weather, labelled so: a run with labels unlike AG News's."""
    calm = ["sunny", "mild", "clear", "quiet", "warm", "gentle"]
    storm = ["thunder", "gale", "hail", "flood", "lightning", "wind"]
    rows = []
    for i in range(n):
        words, label = (calm, "calm") if i % 2 else (storm, "storm")
        rows.append((" ".join(words[(i + j) % len(words)] for j in range(5)) + " today", label))
    return labelled_csv(rows)


@pytest.fixture(scope="module")
def news_tfidf(ag_news_dir, tmp_path_factory) -> Path:
    """A TF-IDF run on ag_news_tiny: AG News's four labels, loaded in a blink."""
    out = tmp_path_factory.mktemp("r7v-news") / "news"
    attentext.train("tfidf-logreg", ag_news_dir, out)
    return out


@pytest.fixture(scope="module")
def weather_tfidf(tmp_path_factory) -> Path:
    """A TF-IDF run with two labels of its own (calm, storm)."""
    data = tmp_path_factory.mktemp("r7v-weather-data")
    (data / "train.csv").write_text(_two_label_csv(80), encoding="utf-8")
    (data / "test.csv").write_text(_two_label_csv(20), encoding="utf-8")
    out = tmp_path_factory.mktemp("r7v-weather") / "weather"
    attentext.train("tfidf-logreg", data, out)
    return out


def replace_run(source: Path, served: Path) -> None:
    """Put a copy of `source` at `served` as `train --overwrite` does: one exchange of folders."""
    staging = served.with_name(served.name + ".staging")
    shutil.copytree(source, staging)
    publish(staging, served)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@contextmanager
def server_process(run_dir: Path, log_path: Path) -> Iterator[tuple[subprocess.Popen, str]]:
    """A real `python -m attentext serve RUN_DIR` on the loopback, ready; killed after."""
    port = free_port()
    command = [sys.executable, "-m", "attentext", "serve", str(run_dir)]
    command += ["--host", HOST, "--port", str(port), "--request-timeout", "60"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            url = f"http://{HOST}:{port}"
            wait_until(server, log_path, 120.0, lambda: _get(f"{url}/readyz").status_code == 200)
            yield server, url
        finally:
            if server.poll() is None:
                server.terminate()
                try:
                    server.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()


def _get(url: str) -> httpx.Response:
    return httpx.get(url, timeout=5.0)


def wait_until(server: subprocess.Popen, log_path: Path, timeout: float, done) -> None:
    """Poll `done()` (transport errors count as not yet) until true; fail at `timeout`, or at
    once where the server exited (SIGHUP's default action ended it before reloads existed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the server exited ({server.returncode}):\n{log_path.read_text()[-3000:]}")
        try:
            if done():
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"not done within {timeout:.0f} s:\n{log_path.read_text()[-3000:]}")


def served_info(url: str) -> dict:
    (model,) = _get(f"{url}/v1/models").json()["models"]
    return model


def predicted_labels(url: str) -> list[str]:
    """The labels of one /v1/predict answer (its top labels), checked to be a 200."""
    response = httpx.post(
        f"{url}/v1/predict", json={"texts": ["thunder and hail", "oil prices"]}, timeout=30.0
    )
    assert response.status_code == 200, response.text
    return [item["label"] for p in response.json()["predictions"] for item in p["top_k"]]


def keep_predicting(url: str, stop: threading.Event, answers: list) -> None:
    """/v1/predict in a loop until `stop`: the requests in flight while a reload swaps."""
    with httpx.Client(base_url=url, timeout=30.0) as client:
        while not stop.is_set():
            try:
                response = client.post("/v1/predict", json={"texts": ["storm", "stocks"]})
                answers.append((response.status_code, response.json()))
            except httpx.HTTPError as error:
                answers.append((None, repr(error)))


def test_v1_sighup_swaps_in_a_replaced_run_while_requests_go_on(news_tfidf, run_dir, tmp_path):
    served, log_path = tmp_path / "served", tmp_path / "server.log"
    shutil.copytree(news_tfidf, served)
    with server_process(served, log_path) as (server, url):
        assert served_info(url)["kind"] == "tfidf-logreg"
        answers: list = []
        stop = threading.Event()
        client = threading.Thread(target=keep_predicting, args=(url, stop, answers))
        client.start()
        try:
            replace_run(run_dir, served)  # the seed transformer: another kind, other metrics
            server.send_signal(signal.SIGHUP)
            wait_until(
                server, log_path, SWAP_WAIT_S, lambda: served_info(url)["kind"] == "transformers"
            )
            time.sleep(0.5)  # a few requests answered by the new model too
        finally:
            stop.set()
            client.join(60)
        info = served_info(url)
        assert info["metrics"] == metrics_summary(open_run(run_dir).metrics)
        assert info["recipe"] == "seed-transformer"
        assert info["name"] == "served" and info["labels"] == AG_NEWS_LABELS
        assert set(predicted_labels(url)) <= set(AG_NEWS_LABELS)
    log = log_path.read_text()
    assert answers and all(status == 200 for status, _ in answers), answers[:5]
    assert "reloaded 'served' from" in log and "Traceback" not in log, log


def test_v1_a_broken_replacement_keeps_the_old_model_and_new_labels_are_swapped_in_and_said(
    news_tfidf, weather_tfidf, tmp_path
):
    served, log_path = tmp_path / "served", tmp_path / "server.log"
    shutil.copytree(news_tfidf, served)
    broken = tmp_path / "broken"
    shutil.copytree(weather_tfidf, broken)
    (broken / "tfidf_logreg.safetensors").write_bytes(b"\x00not safetensors" * 64)
    with server_process(served, log_path) as (server, url):
        breakings = (lambda: shutil.rmtree(served), lambda: replace_run(broken, served))
        for failures, breaking in enumerate(breakings, start=1):
            breaking()
            server.send_signal(signal.SIGHUP)
            wait_until(
                server,
                log_path,
                SWAP_WAIT_S,
                lambda n=failures: log_path.read_text().count("could not reload 'served'") == n,
            )
            assert served_info(url)["labels"] == AG_NEWS_LABELS
            assert set(predicted_labels(url)) <= set(AG_NEWS_LABELS)
        replace_run(weather_tfidf, served)
        server.send_signal(signal.SIGHUP)
        wait_until(server, log_path, SWAP_WAIT_S, lambda: served_info(url)["labels"] == TWO_LABELS)
        assert set(predicted_labels(url)) <= set(TWO_LABELS)
        assert served_info(url)["metrics"] == metrics_summary(open_run(weather_tfidf).metrics)
    lines = log_path.read_text().splitlines()
    failed = [line for line in lines if "could not reload" in line]
    assert len(failed) == 2, lines
    assert all("still serving the model loaded before" in line for line in failed), failed
    assert "not found" in failed[0] and str(served) in failed[0], failed
    changed = [line for line in lines if "its labels changed" in line]
    assert len(changed) == 1 and "World" in changed[0] and "calm" in changed[0], lines
    assert not any("Traceback" in line for line in lines), lines


def test_v1_a_run_replaced_between_the_reads_at_start_is_read_again_whole(
    news_tfidf, weather_tfidf, tmp_path
):
    """Before: the metrics were read apart from the model, after it: a run replaced between
    the two showed the new run's metrics beside the old run's model."""
    served = tmp_path / "served"
    shutil.copytree(news_tfidf, served)
    loads = []

    def load_then_replace(path: Path):
        classifier = load(path)
        if not loads:
            replace_run(weather_tfidf, served)  # right after the first model was read
        loads.append(path)
        return classifier

    (model,) = load_models([served], loader=load_then_replace)
    assert list(model.classifier.labels) == TWO_LABELS
    assert model.metrics == metrics_summary(open_run(weather_tfidf).metrics)
    assert model.name == "served"


def test_d1_distill_loads_each_teacher_once(news_tfidf, ag_news_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("ATTENTEXT_CACHE", str(tmp_path / "cache"))  # nothing cached yet
    second = tmp_path / "second"
    shutil.copytree(news_tfidf, second)
    loaded: list[Path] = []
    real_load = distill_module.load

    def counting_load(path, *args, **kwargs):
        loaded.append(Path(path))
        return real_load(path, *args, **kwargs)

    monkeypatch.setattr(distill_module, "load", counting_load)
    result = attentext.distill(
        news_tfidf,
        "seed-transformer",
        ag_news_dir,
        tmp_path / "student",
        ensemble=[second],
        max_steps=2,
        precision="fp32",
    )
    assert result.metrics["distillation"]["n_labelled"] > 0
    assert sorted(loaded) == sorted([news_tfidf, second])  # was each twice


BIDI_LABELS = [
    "\u202eevil.exe",  # right-to-left override
    "\u202aleft\u202c",  # left-to-right embedding, pop
    "\u2066isolated\u2069",  # left-to-right isolate, pop
    "\u2067rtl\u2068first\u2069",  # right-to-left and first-strong isolates
    "red\x1b[2J",
    "zero\u200bwidth",
    "plain",
]


def test_c1_the_cards_front_matter_escapes_bidi_and_control_characters_in_labels(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    n = len(BIDI_LABELS)
    rows = [(f"text number {i} about topic {i % n}", BIDI_LABELS[i % n]) for i in range(140)]
    (data / "train.csv").write_text(labelled_csv(rows), encoding="utf-8")
    out = tmp_path / "run\u202egpj.exe"  # the folder name is the model-index name
    attentext.train("tfidf-logreg", data, out)

    card = (out / "README.md").read_text(encoding="utf-8")
    assert card.startswith("---\n")
    front = card[4 : card.index("\n---\n", 4) + 1]
    hidden = [ch for ch in front if not (ch.isprintable() or ch == "\n")]
    assert not hidden, [f"U+{ord(ch):04X}" for ch in hidden]
    metadata = yaml.safe_load(front)
    assert sorted(metadata["labels"]) == sorted(BIDI_LABELS)
    assert metadata["model-index"][0]["name"] == "run\u202egpj.exe"
    assert '"\\u202eevil.exe"' in front  # an escape in a double-quoted string
