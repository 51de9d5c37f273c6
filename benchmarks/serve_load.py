"""Benchmark: the HTTP service under concurrent load, against batch inference on the same texts.

For each run directory: start `attentext serve` in a subprocess on 127.0.0.1, send a fixed number
of requests from N concurrent clients (httpx.AsyncClient; bounded by --requests and --time-limit,
loopback only), and report requests/s, texts/s, p50/p95/p99 latency and errors. Then, after the
server has stopped (the CPU is not shared between the two), the same texts through
`transformers.pipeline("text-classification", batch_size=32)` and through attentext's own
`predict_proba`: what the model does with no HTTP, no JSON and full batches.

    python benchmarks/serve_load.py runs/seed runs/tfidf --data ../shared/datasets/ag_news

The load generator runs on the same machine as the server and takes part of its CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

import httpx
import numpy as np
import torch
from common import RESULTS, markdown_table, save_results
from loopback import HOST, free_port, log_tail, wait_ready

import attentext  # registers the Auto classes, so pipeline() loads attentext runs
from attentext.data.dataset import load_text_dataset
from attentext.precision import cpu_model
from attentext.rundir import read_marker

SECTION = "serve_load"
PIPELINE_BATCH = 32


def start_server(
    run_dir: Path, port: int, args: argparse.Namespace, log: IO[bytes]
) -> subprocess.Popen:
    env = {**os.environ, "ATTENTEXT_PRECISION": args.precision, "TOKENIZERS_PARALLELISM": "false"}
    command = [
        sys.executable, "-m", "attentext", "serve", str(run_dir), "--host", HOST,
        "--port", str(port), "--max-batch-size", str(args.max_batch_size),
        "--max-wait-ms", str(args.max_wait_ms), "--torch-threads", str(args.torch_threads),
        "--backend", args.backend,
    ]  # fmt: skip
    # The server's log goes to a file: a pipe nobody reads would fill up and stall the server.
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log)


def stop_server(server: subprocess.Popen) -> None:
    server.send_signal(signal.SIGINT)  # graceful: uvicorn finishes requests, the app drains
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


async def load(url: str, texts: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """`args.requests` requests of `args.texts_per_request` texts from `args.concurrency` clients."""
    per = args.texts_per_request
    payloads = [
        {"texts": [texts[(i * per + j) % len(texts)] for j in range(per)]}
        for i in range(args.requests)
    ]
    latencies: list[float] = []
    errors: dict[str, int] = {}
    next_index = 0
    # Idle connections are dropped after 2 s, before the server's 5 s keep-alive timeout would
    # close one just as a request is sent on it (a ReadError that is no fault of the server).
    limits = httpx.Limits(
        max_connections=args.concurrency,
        max_keepalive_connections=args.concurrency,
        keepalive_expiry=2.0,
    )
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30.0) as client:
        for payload in payloads[: args.concurrency]:  # warm-up: connections, first batches
            await client.post("/v1/predict", json=payload)
        start = time.perf_counter()
        deadline = start + args.time_limit

        async def client_loop() -> None:
            nonlocal next_index
            while next_index < len(payloads) and time.perf_counter() < deadline:
                payload = payloads[next_index]
                next_index += 1
                sent = time.perf_counter()
                try:
                    response = await client.post("/v1/predict", json=payload)
                    ok = response.status_code == 200
                    key = str(response.status_code)
                except httpx.HTTPError as error:
                    ok, key = False, type(error).__name__
                if ok:
                    latencies.append(time.perf_counter() - sent)
                else:
                    errors[key] = errors.get(key, 0) + 1

        await asyncio.gather(*(client_loop() for _ in range(args.concurrency)))
        elapsed = time.perf_counter() - start
    done = len(latencies)
    ms = np.array(latencies) * 1000 if latencies else np.zeros(1)
    return {
        "requests": done,
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "seconds": round(elapsed, 2),
        "req_per_s": done / elapsed,
        "texts_per_s": done * per / elapsed,
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "p99_ms": float(np.percentile(ms, 99)),
        "stopped_by_time_limit": done + sum(errors.values()) < len(payloads),
    }


def offline_rates(run_dir: Path, texts: list[str], precision: str, backend: str) -> dict[str, Any]:
    """texts/s of pipeline(batch_size=32, fp32 as users run it) and of attentext's predict_proba."""
    classifier = attentext.load(run_dir, precision=precision, backend=backend)
    classifier.predict_proba(texts[:64])  # warm-up
    start = time.perf_counter()
    classifier.predict_proba(texts)
    rates: dict[str, Any] = {
        "predict_proba_texts_per_s": len(texts) / (time.perf_counter() - start)
    }
    if read_marker(run_dir).get("kind") != "transformers":
        rates["pipeline_texts_per_s"] = None  # not a transformers model: no pipeline
        return rates
    from transformers import pipeline

    pipe = pipeline(
        "text-classification", model=str(run_dir), batch_size=PIPELINE_BATCH, device="cpu"
    )
    pipe(texts[:64], truncation=True)  # warm-up
    start = time.perf_counter()
    pipe(texts, truncation=True)
    rates["pipeline_texts_per_s"] = len(texts) / (time.perf_counter() - start)
    return rates


BACKEND_ORDER = ("torch", "onnx", "onnx-int8")
PRECISION_ORDER = ("fp32", "bf16")


def payload_for(section: str = SECTION) -> dict[str, Any] | None:
    """The README's payload: the rows of every results/serve_load_<backend>_<precision>.json."""
    paths = sorted(RESULTS.glob("serve_load_*_*.json"))
    if not paths:
        return None
    payloads = [json.loads(path.read_text()) for path in paths]
    rows = [row for payload in payloads for row in payload["results"]]

    def order(row: dict[str, Any]) -> tuple:
        backend, precision = row.get("backend", "torch"), row.get("precision", "fp32")
        return (
            row["run"],
            BACKEND_ORDER.index(backend) if backend in BACKEND_ORDER else len(BACKEND_ORDER),
            PRECISION_ORDER.index(precision) if precision in PRECISION_ORDER else 2,
        )

    return {"machine": payloads[0]["machine"], "results": sorted(rows, key=order)}


def render(payload: dict[str, Any]) -> str:
    """The README table: one row per backend and precision, served texts/s against pipeline()."""
    rows = []
    for r in payload["results"]:
        pipeline = r.get("pipeline_texts_per_s")
        rows.append(
            {
                "run": r["run"],
                "backend": r.get("backend", "torch"),
                "precision": r.get("precision", "fp32"),
                "requests": r["requests"],
                "errors": r["errors"],
                "req_per_s": f"{r['req_per_s']:.1f}",
                "texts_per_s": f"{r['texts_per_s']:,.0f}",
                "p50_ms": f"{r['p50_ms']:,.0f}",
                "p95_ms": f"{r['p95_ms']:,.0f}",
                "p99_ms": f"{r['p99_ms']:,.0f}",
                "pipeline": f"{pipeline:,.0f}" if pipeline else None,
                "served_over_pipeline": f"{r['texts_per_s'] / pipeline:.2f}" if pipeline else None,
                "predict_proba": f"{r['predict_proba_texts_per_s']:,.0f}",
            }
        )
    columns = [
        ("backend", "backend"),
        ("precision", "precision"),
        ("requests", "requests"),
        ("errors", "errors"),
        ("req_per_s", "req/s"),
        ("texts_per_s", "served texts/s"),
        ("p50_ms", "p50 ms"),
        ("p95_ms", "p95 ms"),
        ("p99_ms", "p99 ms"),
        ("pipeline", "pipeline texts/s"),
        ("served_over_pipeline", "served / pipeline"),
        ("predict_proba", "predict_proba texts/s"),
    ]
    if len({row["run"] for row in rows}) > 1:
        columns.insert(0, ("run", "run"))
    return markdown_table(rows, columns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dirs", nargs="+", type=Path, help="Run directories to benchmark.")
    parser.add_argument(
        "--data", default="../shared/datasets/ag_news", help="Texts: its test split."
    )
    parser.add_argument("--requests", type=int, default=2000, help="Requests per run (the bound).")
    parser.add_argument("--time-limit", type=float, default=60.0, help="Seconds per run, at most.")
    parser.add_argument("--concurrency", type=int, default=32, help="Concurrent clients.")
    parser.add_argument("--texts-per-request", type=int, default=1)
    parser.add_argument("--max-batch-size", type=int, default=32)
    parser.add_argument(
        "--backend", default="torch", help="torch, onnx or onnx-int8 (the server's; export first)."
    )
    parser.add_argument("--max-wait-ms", type=float, default=5.0)
    parser.add_argument(
        "--precision", default="fp32", help="fp32 or bf16, server and offline alike."
    )
    parser.add_argument(
        "--torch-threads", type=int, default=1, help="torch threads, server and offline alike."
    )
    args = parser.parse_args()
    assert args.requests > 0 and args.time_limit > 0 and args.concurrency > 0
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)

    all_texts = list(load_text_dataset(args.data)["test"]["text"])
    rows = []
    for run_dir in args.run_dirs:
        read_marker(run_dir)
        port = free_port()
        with tempfile.TemporaryFile() as log:
            server = start_server(run_dir, port, args, log)
            try:
                wait_ready(server, f"http://{HOST}:{port}", log)
                served = asyncio.run(load(f"http://{HOST}:{port}", all_texts, args))
            finally:
                stop_server(server)
            if served["errors"]:
                print(f"{run_dir}: {served['error_kinds']}; server log:\n{log_tail(log)}")
        sent = min(served["requests"] * args.texts_per_request, len(all_texts))
        offline = offline_rates(run_dir, all_texts[: max(sent, 256)], args.precision, args.backend)
        rows.append(
            {
                "run": str(run_dir),
                "backend": args.backend,
                "precision": args.precision,
                **served,
                **offline,
            }
        )

    payload = {
        "machine": {
            "cpu": cpu_model(),
            "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
        },
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
        | {"run_dirs": [str(p) for p in args.run_dirs]},
        "results": rows,
    }
    print(json.dumps(payload, indent=2))
    print()
    print(render(payload))  # the README's table, for this run's rows
    print(
        f"\nresults written to {save_results(f'serve_load_{args.backend}_{args.precision}', payload)}"
    )


if __name__ == "__main__":
    main()
