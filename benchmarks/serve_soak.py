"""Benchmark: a bounded soak of `attentext serve` on loopback: no errors, and memory stays flat.

Start `attentext serve RUN_DIR...` on 127.0.0.1 in a subprocess, send a fixed budget of requests
(--requests) from --concurrency clients, sample the server's resident memory (RSS) as they run,
then stop it with SIGTERM. The requests are a fixed mix (the same sequence every run, by --seed):
predictions of 1, 8 and 32 texts, explanations, and bad requests that must get their 4xx (invalid
JSON 400, an empty list 422, too many texts 422, an unknown model 404, a body over the limit 413),
on /v1; and predictions through the protocols served beside it, on the first run (the default
model): the Hugging Face inference shape (`POST /models/{name}`, 1 text), text-embeddings-
inference (`POST /predict`, a batch of 8) and the Open Inference Protocol v2 (`POST
/v2/models/{name}/infer`, 8 texts as JSON).

An error is any answer other than the one expected for that request, a transport error, or a
server that does not exit 0 on SIGTERM. The memory check compares the RSS when the warm-up share
of the budget (--warmup, the first 10 %) is done with the RSS at the end: the model, the caches
and the allocator's pools are in place after warm-up, so what grows after it is a leak.

    python benchmarks/serve_soak.py runs/seed-transformer --data ../shared/datasets/ag_news

Exit status 1 if there were errors or the RSS grew more than --max-growth-mb after warm-up. Loopback
only: this benchmark never sends traffic anywhere else.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

import httpx
import numpy as np
import psutil
from common import machine, markdown_table, replace_section, save_results
from loopback import HOST, free_port, log_tail, wait_ready

from attentext.data.dataset import load_text_dataset

MB = 1024 * 1024
BODY_LIMIT = 1_000_000  # the server's default max_body_bytes
MAX_TEXTS = 64  # the server's default texts per request

# (kind, share of the budget, expected status)
MIX = [
    ("predict-1", 0.27, 200),
    ("predict-8", 0.20, 200),
    ("predict-32", 0.10, 200),
    ("explain-1", 0.08, 200),
    ("huggingface-1", 0.06, 200),
    ("tei-8", 0.06, 200),
    ("v2-8", 0.06, 200),
    ("bad-json", 0.04, 400),
    ("empty-texts", 0.04, 422),
    ("too-many-texts", 0.03, 422),
    ("unknown-model", 0.03, 404),
    ("body-too-large", 0.03, 413),
]


def start_server(run_dirs: list[Path], port: int, args: argparse.Namespace, log: IO[bytes]):
    command = [sys.executable, "-m", "attentext", "serve", *map(str, run_dirs)]
    command += ["--host", HOST, "--port", str(port), "--torch-threads", str(args.torch_threads)]
    env = {**os.environ, "ATTENTEXT_PRECISION": args.precision, "TOKENIZERS_PARALLELISM": "false"}
    # The server's log goes to a file: a pipe nobody reads would fill up and stall the server.
    return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)


def plan(n: int, texts: list[str], seed: int, model: str) -> list[tuple[str, int, dict[str, Any]]]:
    """The request sequence: (kind, expected status, httpx keyword arguments), `n` of them;
    the protocols' requests name `model` (the default model)."""
    rng = random.Random(seed)
    kinds = rng.choices([k for k, _, _ in MIX], weights=[w for _, w, _ in MIX], k=n)
    expected = {k: status for k, _, status in MIX}
    json_headers = {"content-type": "application/json"}

    def sample(k: int) -> list[str]:
        return [texts[rng.randrange(len(texts))] for _ in range(k)]

    requests = []
    for kind in kinds:
        path = "/v1/predict"
        if kind.startswith("predict-"):
            kwargs: dict[str, Any] = {"json": {"texts": sample(int(kind.split("-")[1]))}}
        elif kind == "huggingface-1":
            path, kwargs = f"/models/{model}", {"json": {"inputs": sample(1)[0]}}
        elif kind == "tei-8":
            path, kwargs = "/predict", {"json": {"inputs": [[text] for text in sample(8)]}}
        elif kind == "v2-8":
            tensor = {"name": "text", "shape": [8], "datatype": "BYTES", "data": sample(8)}
            path, kwargs = f"/v2/models/{model}/infer", {"json": {"inputs": [tensor]}}
        elif kind == "explain-1":
            path, kwargs = "/v1/explain", {"json": {"text": sample(1)[0]}}
        elif kind == "bad-json":
            kwargs = {"content": b'{"texts": ["unfinished', "headers": json_headers}
        elif kind == "empty-texts":
            kwargs = {"json": {"texts": []}}
        elif kind == "too-many-texts":
            kwargs = {"json": {"texts": sample(MAX_TEXTS + 1)}}
        elif kind == "unknown-model":
            kwargs = {"json": {"texts": sample(1), "model": "no-such-model"}}
        else:  # body-too-large
            kwargs = {"json": {"texts": ["x" * (BODY_LIMIT + 1000)]}}
        requests.append((kind, expected[kind], {"url": path, **kwargs}))
    return requests


class MemorySampler(threading.Thread):
    """Samples the server's RSS every `interval` seconds, with how many requests were done."""

    def __init__(self, pid: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.process, self.interval = psutil.Process(pid), interval
        self.done_requests = 0
        self.samples: list[tuple[float, int, int]] = []  # (seconds, requests done, RSS bytes)
        self._stop_event = threading.Event()
        self._start = time.monotonic()

    def rss(self) -> int:
        return self.process.memory_info().rss

    def sample(self) -> int:
        rss = self.rss()
        self.samples.append((time.monotonic() - self._start, self.done_requests, rss))
        return rss

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            try:
                self.sample()
            except psutil.Error:
                return

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


async def soak(url: str, requests: list, args: argparse.Namespace, memory: MemorySampler):
    """Send `requests` from `args.concurrency` clients; latencies, errors, RSS after warm-up."""
    latencies: list[float] = []
    errors: dict[str, int] = {}
    statuses: dict[str, dict[int, int]] = {}
    warmup_at = max(1, int(len(requests) * args.warmup))
    rss_after_warmup: int | None = None
    next_index = 0
    limits = httpx.Limits(
        max_connections=args.concurrency,
        max_keepalive_connections=args.concurrency,
        keepalive_expiry=2.0,  # before the server's 5 s keep-alive timeout closes an idle one
    )
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60.0) as client:
        start = time.perf_counter()
        deadline = start + args.time_limit

        async def client_loop() -> None:
            nonlocal next_index, rss_after_warmup
            while next_index < len(requests) and time.perf_counter() < deadline:
                kind, expected, kwargs = requests[next_index]
                next_index += 1
                sent = time.perf_counter()
                try:
                    response = await client.post(**kwargs)
                    status, key = response.status_code, f"{kind}: {response.status_code}"
                except httpx.HTTPError as error:
                    status, key = -1, f"{kind}: {type(error).__name__}"
                per_kind = statuses.setdefault(kind, {})
                per_kind[status] = per_kind.get(status, 0) + 1
                if status != expected:
                    errors[key] = errors.get(key, 0) + 1
                elif status == 200:
                    latencies.append(time.perf_counter() - sent)
                memory.done_requests += 1
                if memory.done_requests == warmup_at:
                    rss_after_warmup = memory.sample()

        await asyncio.gather(*(client_loop() for _ in range(args.concurrency)))
        elapsed = time.perf_counter() - start
    done = memory.done_requests
    ms = np.array(latencies) * 1000 if latencies else np.zeros(1)
    return {
        "requests": done,
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "statuses": {k: {str(s): n for s, n in sorted(v.items())} for k, v in statuses.items()},
        "seconds": round(elapsed, 1),
        "req_per_s": done / elapsed,
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "rss_after_warmup": rss_after_warmup,
        "stopped_by_time_limit": done < len(requests),
    }


def stop_server(server: subprocess.Popen, timeout: float = 60.0) -> int | None:
    """SIGTERM, as a process manager stops it: it must drain and exit 0."""
    server.send_signal(signal.SIGTERM)
    try:
        return server.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dirs", nargs="+", type=Path, help="Run directories to serve.")
    parser.add_argument(
        "--data", default="../shared/datasets/ag_news", help="Texts: its test split."
    )
    parser.add_argument("--requests", type=int, default=20_000, help="The request budget.")
    parser.add_argument("--concurrency", type=int, default=4, help="Concurrent clients.")
    parser.add_argument("--time-limit", type=float, default=900.0, help="Seconds, at most.")
    parser.add_argument(
        "--warmup", type=float, default=0.1, help="Share of the budget that warms up."
    )
    parser.add_argument("--sample-s", type=float, default=0.5, help="Seconds between RSS samples.")
    parser.add_argument(
        "--max-growth-mb", type=float, default=50.0, help="RSS growth after warm-up that fails."
    )
    parser.add_argument("--seed", type=int, default=0, help="Seed of the request sequence.")
    parser.add_argument("--precision", default="fp32", help="The server's precision.")
    parser.add_argument("--torch-threads", type=int, default=1, help="The server's torch threads.")
    parser.add_argument(
        "--no-save",
        action="store_true",
        help="Print only: no results JSON, no README section (for tests).",
    )
    args = parser.parse_args()
    assert args.requests > 0 and args.concurrency > 0 and 0 < args.warmup < 1

    texts = list(load_text_dataset(args.data)["test"]["text"])
    requests = plan(args.requests, texts, args.seed, args.run_dirs[0].name)
    port = free_port()
    url = f"http://{HOST}:{port}"
    with tempfile.TemporaryFile() as log:
        server = start_server(args.run_dirs, port, args, log)
        try:
            wait_ready(server, url, log)
            memory = MemorySampler(server.pid, args.sample_s)
            rss_start = memory.sample()
            memory.start()
            served = asyncio.run(soak(url, requests, args, memory))
            rss_end = memory.sample()
            memory.stop()
        finally:
            exit_code = stop_server(server)
        if served["errors"] or exit_code != 0:
            print(f"errors: {served['error_kinds']}; exit code {exit_code}; server log:")
            print(log_tail(log))

    rss = np.array([s[2] for s in memory.samples])
    after_warmup = served["rss_after_warmup"] or rss_start
    growth_mb = (rss_end - after_warmup) / MB
    result = {
        "run_dirs": " ".join(str(p) for p in args.run_dirs),
        **{k: v for k, v in served.items() if k != "rss_after_warmup"},
        "server_exit_code": exit_code,
        "rss_start_mb": rss_start / MB,
        "rss_after_warmup_mb": after_warmup / MB,
        "rss_end_mb": rss_end / MB,
        "rss_peak_mb": float(rss.max()) / MB,
        "rss_growth_after_warmup_mb": growth_mb,
        "rss_samples": len(memory.samples),
    }
    failures = []
    if served["errors"]:
        failures.append(f"{served['errors']} errors")
    if exit_code != 0:
        failures.append(f"the server exited with {exit_code} on SIGTERM")
    if growth_mb > args.max_growth_mb:
        failures.append(f"RSS grew {growth_mb:.1f} MB after warm-up (limit {args.max_growth_mb})")
    if served["stopped_by_time_limit"]:
        failures.append(f"only {served['requests']} of {args.requests} requests in the time limit")
    result["passed"] = not failures

    shown = result | {
        k: f"{result[k]:.0f}" for k in ("rss_start_mb", "rss_after_warmup_mb", "rss_end_mb")
    }
    shown["rss_growth_after_warmup_mb"] = f"{growth_mb:+.1f}"
    table = markdown_table(
        [shown],
        [
            ("requests", "requests"),
            ("errors", "errors"),
            ("server_exit_code", "exit code on SIGTERM"),
            ("seconds", "seconds"),
            ("req_per_s", "req/s"),
            ("p50_ms", "p50 ms (200s)"),
            ("p95_ms", "p95 ms (200s)"),
            ("rss_start_mb", "RSS start MB"),
            ("rss_after_warmup_mb", "RSS after warm-up MB"),
            ("rss_end_mb", "RSS end MB"),
            ("rss_growth_after_warmup_mb", "growth after warm-up MB"),
        ],
    )
    statuses = "; ".join(
        f"{kind} {'/'.join(f'{n}x{s}' for s, n in counts.items())}"
        for kind, counts in sorted(served["statuses"].items())
    )
    payload = {
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
        | {"run_dirs": [str(p) for p in args.run_dirs]},
        "result": result,
        "rss_samples": [
            {"s": round(t, 2), "requests_done": n, "rss_mb": round(b / MB, 1)}
            for t, n, b in memory.samples
        ],
    }
    print(json.dumps({k: v for k, v in payload.items() if k != "rss_samples"}, indent=2))
    print()
    print(table)
    print(f"\nstatuses per kind (count x status): {statuses}")
    if not args.no_save:
        payload["machine"] = machine()
        m = payload["machine"]
        command = "python benchmarks/serve_soak.py " + " ".join(sys.argv[1:])
        replace_section(
            "serve_soak",
            f"Machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']}; load average "
            f"{m['load_average_1min']}. Server: {args.torch_threads} torch thread(s), "
            f"{args.precision}; {args.concurrency} loopback clients.\n\n"
            f"Command: `{command}`\n\n{table}\n\n"
            f"Answers per kind of request (count x status): {statuses}.",
        )
        print(f"\nresults written to {save_results('serve_soak', payload)}")
    if failures:
        print("FAILED: " + "; ".join(failures))
        sys.exit(1)
    print("passed: 0 errors, clean exit, RSS flat after warm-up")


if __name__ == "__main__":
    main()
