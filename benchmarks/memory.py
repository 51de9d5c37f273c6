"""Benchmark: peak resident memory (RSS) of each recipe's training and of serving its run.

For each recipe, `attentext train` runs as a child process on a bounded budget (a subset of the
training rows and a few steps, so that the encoder recipes finish in a minute on 2 cores) with a
cold, empty ATTENTEXT_CACHE; then `attentext serve RUN` runs as a child on 127.0.0.1, answers
`--requests` predict requests, and is stopped with SIGTERM. Each child's peak RSS is its
`ru_maxrss` from `os.wait4` (the kernel's high-water mark of the process, kB on Linux). A first
row measures a Python that only imports torch, transformers and attentext: the floor under all.

    python benchmarks/memory.py --data ../shared/datasets/ag_news
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from common import machine, markdown_table, replace_section, save_results
from loopback import HOST, free_port, wait_ready

SECTION = "memory"
RECIPES = [
    "tfidf-logreg",
    "seed-transformer",
    "attention-rnn",
    "encoder-frozen",
    "encoder-finetune",
    "hf-frozen-base",
]
# The training budget of each recipe on the subset: enough steps to reach steady memory (the
# optimizer state exists after the first step), few enough for the encoders on 2 cores.
BUDGETS = {
    "tfidf-logreg": [],
    "seed-transformer": ["--max-steps", "40"],
    "attention-rnn": ["--max-steps", "40"],
    "encoder-frozen": ["--epochs", "5"],
    "encoder-finetune": ["--max-steps", "20"],
    "hf-frozen-base": ["--max-steps", "20"],
}
FLOOR = "(python + imports only)"


def write_subset(source: Path, target: Path, train_rows: int, test_rows: int) -> dict[str, int]:
    """The first rows of the AG News train/test CSVs (and classes.txt) in `target`; 0 = all."""
    target.mkdir(parents=True, exist_ok=True)
    counts = {}
    for split, limit in (("train", train_rows), ("test", test_rows)):
        with open(source / f"{split}.csv", newline="") as f:
            rows = list(csv.reader(f))
        rows = rows[:limit] if limit else rows
        with open(target / f"{split}.csv", "w", newline="") as f:
            csv.writer(f, quoting=csv.QUOTE_ALL).writerows(rows)
        counts[split] = len(rows)
    if (source / "classes.txt").exists():
        shutil.copy(source / "classes.txt", target / "classes.txt")
    return counts


def wait_rss(process: subprocess.Popen, timeout: float) -> tuple[int, float]:
    """Reap `process` with os.wait4: (exit code, peak RSS in MB); killed after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            process.kill()
            pid, status, usage = os.wait4(process.pid, 0)
            break
        time.sleep(0.1)
    process.returncode = os.waitstatus_to_exitcode(status)  # Popen must not wait again
    return process.returncode, usage.ru_maxrss / 1024  # kB on Linux


def run_child(command: list[str], env: dict[str, str], log: Path, timeout: float) -> dict:
    start = time.perf_counter()
    with open(log, "wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        code, rss = wait_rss(process, timeout)
    seconds = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"{' '.join(command)} exited {code}:\n{log.read_text()[-3000:]}")
    return {"peak_rss_mb": round(rss, 1), "seconds": round(seconds, 1)}


def serve_peak(
    run_dir: Path, texts: list[str], env: dict[str, str], log: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """Serve `run_dir`, send the predict requests, stop with SIGTERM; its peak RSS."""
    port = free_port()
    url = f"http://{HOST}:{port}"
    command = [sys.executable, "-m", "attentext", "serve", str(run_dir), "--host", HOST,
               "--port", str(port)]  # fmt: skip
    per = args.texts_per_request
    payloads = [
        {"texts": [texts[(i * per + j) % len(texts)] for j in range(per)]}
        for i in range(args.requests)
    ]
    start = time.perf_counter()
    with open(log, "w+b") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_ready(process, url, out, args.timeout)
            ready = time.perf_counter() - start
            with httpx.Client(base_url=url, timeout=60.0) as client:

                def post(payload: dict) -> int:
                    return client.post("/v1/predict", json=payload).status_code

                with ThreadPoolExecutor(args.concurrency) as pool:
                    codes = list(pool.map(post, payloads))
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        code, rss = wait_rss(process, 60)
    return {
        "peak_rss_mb": round(rss, 1),
        "ready_seconds": round(ready, 1),
        "requests": len(codes),
        "errors": sum(c != 200 for c in codes),
        "exit_code": code,
    }


def floor_rss(env: dict[str, str], log: Path) -> dict[str, Any]:
    command = [sys.executable, "-c", "import torch, transformers, attentext"]
    return run_child(command, env, log, 120)


def bench_recipe(
    recipe: str, data: Path, texts: list[str], work: Path, args: argparse.Namespace
) -> dict[str, Any]:
    # A cold cache per recipe: no cached features, no cached precision probe.
    cache = work / f"cache-{recipe}"
    env = {
        **os.environ,
        "ATTENTEXT_CACHE": str(cache),
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    run_dir = work / f"run-{recipe}"
    command = [sys.executable, "-m", "attentext", "train", recipe, "--data", str(data),
               "--output", str(run_dir), "--overwrite", *BUDGETS.get(recipe, [])]  # fmt: skip
    load = round(os.getloadavg()[0], 2)
    print(
        f"{recipe}: training ({' '.join(BUDGETS.get(recipe, [])) or 'recipe budget'})", flush=True
    )
    train = run_child(command, env, work / f"train-{recipe}.log", args.timeout)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    print(f"{recipe}: serving {args.requests} requests", flush=True)
    serve = serve_peak(run_dir, texts, env, work / f"serve-{recipe}.log", args)
    row = {
        "recipe": recipe,
        "budget": " ".join(BUDGETS.get(recipe, [])) or "recipe default",
        "train_peak_rss_mb": train["peak_rss_mb"],
        "train_wall_seconds": train["seconds"],
        "train_seconds": metrics.get("train_seconds"),
        "steps": metrics.get("global_steps"),
        "precision": metrics.get("precision"),
        "test_accuracy": metrics.get("test", {}).get("accuracy"),
        "serve_peak_rss_mb": serve["peak_rss_mb"],
        "serve_ready_seconds": serve["ready_seconds"],
        "serve_requests": serve["requests"],
        "serve_errors": serve["errors"],
        "serve_exit_code": serve["exit_code"],
        "load_average_1min": load,
    }
    print(json.dumps(row), flush=True)
    return row


COLUMNS = [
    ("recipe", "recipe"),
    ("budget", "budget"),
    ("train_peak_rss_mb", "train peak RSS MB"),
    ("train_wall_seconds", "train s (process)"),
    ("train_seconds", "train s (Trainer)"),
    ("precision", "precision"),
    ("serve_peak_rss_mb", "serve peak RSS MB"),
    ("serve_ready_seconds", "serve s to ready"),
    ("serve_errors", "serve errors"),
    ("load_average_1min", "load avg"),
]


def render(payload: dict[str, Any]) -> str:
    m, s = payload["machine"], payload["settings"]
    rows = []
    for r in payload["results"]:
        row = dict(r, train_peak_rss_mb=f"{r['train_peak_rss_mb']:,.0f}")
        for key, form in (
            ("serve_peak_rss_mb", "{:,.0f}"),
            ("train_wall_seconds", "{:.1f}"),
            ("train_seconds", "{:.2f}"),
            ("serve_ready_seconds", "{:.1f}"),
        ):
            if r.get(key) is not None:
                row[key] = form.format(r[key])
        rows.append(row)
    return (
        f"Machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']}; load average "
        f"{m['load_average_1min']} at the start (each row: at its start). Data: the first "
        f"{payload['n_rows']['train']:,} training rows of `{s['data']}` (5 % of them held out "
        f"for validation) and its first {payload['n_rows']['test']:,} test rows, in a temporary "
        f"folder; a cold, empty ATTENTEXT_CACHE per recipe. Serving: `attentext serve` with its "
        f"defaults (1 torch thread), {s['requests']} requests of {s['texts_per_request']} test "
        f"texts from {s['concurrency']} clients, then SIGTERM. Peak RSS is the child's "
        "`ru_maxrss` (`os.wait4`); `train s (process)` includes start-up, tokenization, the "
        "precision probe, feature extraction and the test evaluation.\n\n"
        f"Command: `{payload['command']}`\n\n" + markdown_table(rows, COLUMNS)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/datasets/ag_news")
    parser.add_argument("--recipes", default=",".join(RECIPES), help="comma-separated subset")
    parser.add_argument("--train-rows", type=int, default=2000, help="first N train rows; 0: all")
    parser.add_argument("--test-rows", type=int, default=500, help="first N test rows; 0: all")
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--texts-per-request", type=int, default=16)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per child, at most")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    recipes = [r.strip() for r in args.recipes.split(",") if r.strip()]
    unknown = [r for r in recipes if r not in BUDGETS]
    if unknown:
        parser.error(f"unknown recipe(s) {', '.join(unknown)}; choose from {', '.join(RECIPES)}")

    work = Path(tempfile.mkdtemp(prefix="attentext-memory-"))
    try:
        data = work / "data"
        counts = write_subset(Path(args.data), data, args.train_rows, args.test_rows)
        with open(data / "test.csv", newline="") as f:
            texts = [row[-1] for row in csv.reader(f)]
        env = {**os.environ, "ATTENTEXT_CACHE": str(work / "cache-floor")}
        floor = floor_rss(env, work / "floor.log")
        rows: list[dict[str, Any]] = [
            {
                "recipe": FLOOR,
                "budget": "-",
                "train_peak_rss_mb": floor["peak_rss_mb"],
                "train_wall_seconds": floor["seconds"],
                "load_average_1min": round(os.getloadavg()[0], 2),
            }
        ]
        for recipe in recipes:
            rows.append(bench_recipe(recipe, data, texts, work, args))
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    argv = " ".join(sys.argv[1:])
    payload = {
        "benchmark": SECTION,
        "machine": machine(),
        "command": f"python benchmarks/memory.py {argv}".strip(),
        "settings": {k: v for k, v in vars(args).items() if k != "keep"},
        "n_rows": counts,
        "results": rows,
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),
    }
    # machine() measures the matmul peak now; the load average that matters is the one at start.
    payload["machine"]["load_average_1min"] = rows[0]["load_average_1min"]
    path = save_results(SECTION, payload)
    table = render(payload)
    replace_section(SECTION, table)
    print(json.dumps(rows, indent=2))
    print(table)
    print(f"results: {path}")


if __name__ == "__main__":
    main()
