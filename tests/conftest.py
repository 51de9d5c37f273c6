"""Shared fixtures: the tiny AG News dataset, one trained run reused by many tests, file helpers.

Everything runs offline: the hub variables are set here, before transformers or datasets are
imported, and the caches those libraries (and attentext's precision probe) write go to a
temporary folder, not the user's home.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_CACHE_ROOT = tempfile.mkdtemp(prefix="attentext-tests-")
atexit.register(shutil.rmtree, _CACHE_ROOT, ignore_errors=True)

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_DATASETS_CACHE", str(Path(_CACHE_ROOT) / "hf-datasets"))
os.environ.setdefault("ATTENTEXT_CACHE", str(Path(_CACHE_ROOT) / "attentext"))
# fp32 everywhere, also where code defaults to precision "auto" (and in CLI subprocesses):
# deterministic, fast on any CPU, and no timing probe.
os.environ["ATTENTEXT_PRECISION"] = "fp32"
# Rich sizes its consoles from COLUMNS when they are made: commands run in this process
# (`run_cli_here`) print tables as wide as in a subprocess (`run_cli`).
os.environ["COLUMNS"] = "200"
# Under pytest-xdist (`make test` runs one worker per core) each worker computes on one thread:
# two workers with a thread per core each would fight over the cores. Set before torch is
# imported, and inherited by the CLI subprocesses the tests start.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"

import pytest  # noqa: E402
from transformers import TrainerCallback  # noqa: E402

AG_NEWS_TINY = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "ag_news_tiny"
AG_NEWS_LABELS = ["World", "Sports", "Business", "Sci/Tech"]


@pytest.fixture(scope="session")
def ag_news_dir() -> Path:
    """The shared 200/80-row AG News sample in its original CSV format (next to the repo)."""
    if not (AG_NEWS_TINY / "train.csv").exists():
        pytest.skip(f"shared dataset not found at {AG_NEWS_TINY} (clone ../shared beside the repo)")
    return AG_NEWS_TINY


@pytest.fixture(scope="session")
def trained(ag_news_dir, tmp_path_factory):
    """ONE seed-transformer run on ag_news_tiny (2 epochs, fp32), shared by the whole session."""
    import attentext

    out = tmp_path_factory.mktemp("session-run") / "seed"
    return attentext.train("seed-transformer", ag_news_dir, out, epochs=2, precision="fp32")


@pytest.fixture(scope="session")
def run_dir(trained) -> Path:
    return Path(trained.run_dir)


@pytest.fixture
def write(tmp_path):
    """write("name.csv", "text") -> the path of a new file in tmp_path (str as UTF-8, or bytes)."""

    def _write(name: str, content: str | bytes) -> Path:
        return write_file(tmp_path, name, content)

    return _write


def write_file(folder: Path, name: str, content: str | bytes) -> Path:
    """A new file `name` under `folder` (str written as UTF-8, bytes as they are)."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


REPO = Path(__file__).resolve().parents[1]


def run_cli(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`python -m attentext ARGS` in a subprocess, offline, with a wide terminal.

    For tests of the process itself (the entry point, import-time failures, signals, exit on a
    crash); a test of what a command does uses `run_cli_here`, about 5 s quicker a call."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "attentext", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd or REPO,
        timeout=300,
    )


def run_cli_here(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`attentext ARGS` in this process through `attentext.cli.main`, as `run_cli` returns it.

    The same code path as the command minus the interpreter start and the imports (~5 s a call
    on 2 cores). Warnings show as if for the first time (fresh filters), and argv, the working
    folder and `warnings.showwarning` (which `main` sets) are restored after."""
    import io
    import warnings
    from contextlib import redirect_stderr, redirect_stdout

    from attentext import cli

    stdout, stderr = io.StringIO(), io.StringIO()
    argv, here = sys.argv, os.getcwd()
    sys.argv = ["attentext", *map(str, args)]
    code = 0  # `main` returns on success
    try:
        os.chdir(cwd or REPO)
        with warnings.catch_warnings(), redirect_stdout(stdout), redirect_stderr(stderr):
            warnings.simplefilter("default")
            try:
                cli.main()
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
    finally:
        sys.argv = argv
        os.chdir(here)
    command = ["attentext", *map(str, args)]
    return subprocess.CompletedProcess(command, code, stdout.getvalue(), stderr.getvalue())


def assert_one_line_error(result: subprocess.CompletedProcess, *words: str) -> None:
    """Exit 2 and one stderr line `error: ...` holding `words`."""
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


def batch_options(**given: Any) -> Any:
    """`predict_file`'s options without the progress bar (the scoring tests' default)."""
    from attentext.scoring.engine import BatchOptions

    return BatchOptions(**{"progress": False, **given})


def jsonl_rows(path: Path) -> list[dict]:
    """The objects of a JSON Lines file, in order."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def labelled_csv(rows: list[tuple[str, str]], header: str = "text,label") -> str:
    """A small header CSV from (text, label) pairs."""
    return header + "\n" + "".join(f"{text},{label}\n" for text, label in rows)


SENTIMENT_ROWS = [
    ("a great film", "pos"),
    ("truly wonderful acting", "pos"),
    ("loved every minute", "pos"),
    ("a dull mess", "neg"),
    ("boring and far too long", "neg"),
    ("I hated it", "neg"),
]


def sentiment_tfidf_run(tmp_path_factory: Any, name: str) -> Path:
    """A TF-IDF run on `SENTIMENT_ROWS` (a second to train), in a new folder `name`: the run
    the scoring, serving and environment tests that need any model share."""
    import attentext

    folder = tmp_path_factory.mktemp(name)
    data = write_file(folder, "train.csv", labelled_csv(SENTIMENT_ROWS * 4))
    return attentext.train("tfidf-logreg", data, folder / "tf", val_fraction=0.0).run_dir


LOOPBACK = "127.0.0.1"


def raw_exchange(port: int, request: bytes, wait: float = 3.0) -> bytes:
    """Every byte a server on 127.0.0.1:`port` sends back on one connection for the raw bytes
    `request`, until it closes it (or `wait` seconds pass without a byte)."""
    sock = socket.create_connection((LOOPBACK, port))
    sock.settimeout(wait)
    sock.sendall(request)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except TimeoutError:
        pass
    sock.close()
    return received


def free_port() -> int:
    """A TCP port free on the loopback interface now."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


@contextmanager
def uvicorn_in_thread(
    app: Any, settings: Any, lifespan: str = "auto", start_timeout: float = 30.0
) -> Iterator[int]:
    """`app` under uvicorn with `attentext serve`'s connection options for `settings`, in a
    thread on the loopback: yields its port once it accepts, stops it after."""
    import threading
    import time

    import uvicorn

    from attentext.serving import connections

    port = free_port()
    config = uvicorn.Config(
        app,
        host=LOOPBACK,
        port=port,
        lifespan=lifespan,
        log_config=None,
        access_log=False,
        **connections.uvicorn_options(settings),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


class InterruptAt(TrainerCallback):
    """Ctrl-C at the end of a given optimizer step: what a user's interrupt leaves behind."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise KeyboardInterrupt


# The try-it page's script (serving/static/app.js) run by node against a fake document: the
# server's answers to the page's three requests are given as JSON; it prints what the page shows.
_PAGE_HARNESS = r"""
const fs = require("fs"), vm = require("vm");
const [file, body, text] = process.argv.slice(-3);  // node -e SCRIPT FILE BODY TEXT
const [source, answers] = [fs.readFileSync(file, "utf8"), JSON.parse(body)];
const make = () => ({
  value: "", textContent: "", hidden: false, disabled: false, className: "", title: "",
  style: { setProperty() {} }, children: [], addEventListener() {},
  appendChild(c) { this.children.push(c); }, append(...c) { this.children.push(...c); },
  replaceChildren(...c) { this.children = c; },
});
const elements = {};
const context = vm.createContext({
  document: { getElementById: (id) => (elements[id] ??= make()), createElement: make },
  fetch: async (path) => ({ ok: true, status: 200, json: async () => answers[path] }),
  console,
});
vm.runInContext(source, context);
(async () => {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 0));
  elements.text.value = text;
  await context.classify();
  const bars = elements.probs.children.filter((c) => c.className === "bar-name");
  console.log(JSON.stringify({
    label: elements.label.textContent, score: elements.score.textContent,
    bars: bars.map((c) => c.textContent), models: elements.model.children.map((c) => c.textContent),
    error: elements.error.textContent,
  }));
})();
"""
NODE_MISSING = shutil.which("node") is None  # skip reason: "needs node to run the page's script"


def try_it_page(client: Any, text: str, top_k: int | None = None) -> dict[str, Any]:
    """What the page at `/` shows for `text` (label, score, bar names, models, error), the
    server's answers taken from `client` (a TestClient of the app); `top_k` asks /v1/predict
    for that many labels (its default where None)."""
    import json

    import attentext

    answers = {
        "/v1/models": client.get("/v1/models").json(),
        "/v1/predict": client.post(
            "/v1/predict", json={"texts": [text]} | ({"top_k": top_k} if top_k else {})
        ).json(),
        "/v1/explain": client.post("/v1/explain", json={"text": text}).json(),
    }
    script = Path(attentext.__file__).parent / "serving" / "static" / "app.js"
    done = subprocess.run(
        ["node", "-e", _PAGE_HARNESS, str(script), json.dumps(answers), text],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-600:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def spied_predict_calls(monkeypatch: Any) -> list[int]:
    """The sizes of the model's predict_proba calls in the commands run after this."""
    from attentext.inference import classifier

    calls: list[int] = []
    real = classifier.load

    def load(*args, **kwargs):
        model = real(*args, **kwargs)
        predict_proba = model.predict_proba
        model.predict_proba = lambda texts: calls.append(len(texts)) or predict_proba(texts)
        return model

    monkeypatch.setattr(classifier, "load", load)
    return calls


def self_trained_fewshot(
    data: Path, output: Path, unlabeled: Path, finetune_batch_size: int = 32, **options: Any
) -> Any:
    """encoder-fewshot on 2 texts a class (one pair step), self-trained on `unlabeled` in one
    round, then one epoch of every weight in batches of `finetune_batch_size` (dropout on: the
    random generators matter), on short texts: the resume tests' run."""
    import attentext

    return attentext.train(
        "encoder-fewshot",
        data,
        output,
        shots=2,
        precision="fp32",
        overrides=[
            "tokenizer.max_length=24",
            "fewshot.pair_iterations=1",
            "fewshot.pair_batch_size=16",
            f"fewshot.unlabeled={unlabeled}",
            "fewshot.self_training_rounds=1",
            "fewshot.self_training_finetune_epochs=1",
            f"fewshot.self_training_finetune_batch_size={finetune_batch_size}",
        ],
        **options,
    )
