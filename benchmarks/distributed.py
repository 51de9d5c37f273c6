"""Benchmark: seed-transformer training in 1 process and in 2 (torchrun, gloo on CPU).

Every side runs `attentext train seed-transformer` as child processes on the same data and
epochs (fp32): one process with 2 torch threads (OMP_NUM_THREADS=2), and `torchrun
--nproc_per_node 2` with OMP_NUM_THREADS=1 in each process (DistributedDataParallel over gloo:
each process takes half of every global batch of 2 x 128 texts, so an epoch has half the
optimizer steps). Two more sides explain the comparison on a shared machine: one process with 1
thread, and one with 2 threads under OMP_WAIT_POLICY=PASSIVE (idle OpenMP threads sleep instead
of spinning). Sides alternate, `--repeats` times each, and the faster run of each is reported.
samples/s are read from the run directory's metrics.json: rows x epochs / train_seconds, and the
Trainer's own figure (its runtime, the per-epoch validation included).

All sides share the same cores: on a 2-core machine 2 processes of 1 thread do not have more
compute than 1 process of 2 threads, so no speed-up is expected here. What this shows is that
the distributed path works and writes a normal run directory.

    python benchmarks/distributed.py --data ../shared/datasets/ag_news
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import machine, markdown_table, publish
from loopback import free_port

SECTION = "distributed"


def torchrun() -> str:
    path = Path(sys.executable).with_name("torchrun")
    found = str(path) if path.exists() else shutil.which("torchrun")
    if not found:
        raise SystemExit("torchrun not found: it comes with torch, next to the Python interpreter")
    return found


# name: (processes, threads per process, extra environment)
SIDES = {
    "1x2": (1, 2, {}),
    "2x1": (2, 1, {}),
    "1x1": (1, 1, {}),
    "1x2-passive": (1, 2, {"OMP_WAIT_POLICY": "PASSIVE"}),
}


def run_side(side: str, out: Path, args: argparse.Namespace) -> dict[str, Any]:
    processes, threads, extra_env = SIDES[side]
    train = ["-m", "attentext", "train", "seed-transformer", "--data", args.data,
             "--output", str(out), "--epochs", str(args.epochs), "--precision", "fp32",
             "--overwrite"]  # fmt: skip
    if processes == 1:
        command = [sys.executable, *train]
    else:
        # A free master port: another job on this machine may be using torchrun's default.
        command = [torchrun(), "--nproc_per_node", str(processes), "--master_port",
                   str(free_port()), *train]  # fmt: skip
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(threads),
        "TOKENIZERS_PARALLELISM": "false",
        **extra_env,
    }
    if "OMP_WAIT_POLICY" not in extra_env:
        env.pop("OMP_WAIT_POLICY", None)
    load = round(os.getloadavg()[0], 2)
    print(f"{side}: {processes} process(es) x {threads} thread(s): training", flush=True)
    start = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(
            f"{' '.join(command)} exited {result.returncode}:\n{result.stderr[-3000:]}"
        )
    metrics = json.loads((out / "metrics.json").read_text())
    marker = json.loads((out / "attentext.json").read_text())
    complete = (
        "model.safetensors" in marker.get("files", [])
        and not out.with_name(out.name + ".partial").exists()
    )
    row = {
        "side": side,
        "processes": processes,
        "threads_per_process": threads,
        "environment": extra_env,
        "global_batch": 128 * processes,
        "steps": metrics["global_steps"],
        "epochs": metrics["epochs"],
        "n_train": metrics["n_train"],
        "train_seconds": metrics["train_seconds"],
        "trainer_samples_per_second": metrics["train_samples_per_second"],
        "samples_per_second": round(
            metrics["n_train"] * metrics["epochs"] / metrics["train_seconds"], 1
        ),
        "wall_seconds": round(wall, 1),
        "test_accuracy": metrics["test"]["accuracy"],
        "run_directory_files": sorted(p.name for p in out.iterdir()),
        "complete_run_directory": complete,
        "load_average_1min": load,
    }
    print(
        f"  {row['samples_per_second']} samples/s, {row['train_seconds']} s, test accuracy "
        f"{row['test_accuracy']:.4f} (load {load})",
        flush=True,
    )
    return row


COLUMNS = [
    ("label", "side"),
    ("steps", "steps"),
    ("train_seconds", "train s"),
    ("samples_per_second", "samples/s"),
    ("trainer_samples_per_second", "samples/s (Trainer)"),
    ("ratio", "vs 1 x 2 threads"),
    ("wall_seconds", "command s"),
    ("test_accuracy", "test acc"),
    ("complete_run_directory", "normal run dir"),
    ("load_average_1min", "load avg"),
]


def label(row: dict[str, Any]) -> str:
    threads = row["threads_per_process"]
    text = f"{row['processes']} process{'es' if row['processes'] > 1 else ''} x {threads} thread"
    text += "s" if threads > 1 else ""
    if row["processes"] > 1:
        text += " (torchrun, gloo)"
    for key, value in row.get("environment", {}).items():
        text += f", {key}={value}"
    return text


def render(payload: dict[str, Any]) -> str:
    m, best = payload["machine"], payload["best"]
    reference = next(r for r in best if r["side"] == "1x2")["samples_per_second"]
    rows = [
        dict(
            r,
            label=label(r),
            train_seconds=f"{r['train_seconds']:,.2f}",
            trainer_samples_per_second=f"{float(r['trainer_samples_per_second']):,.0f}",
            samples_per_second=f"{r['samples_per_second']:,.0f}",
            ratio=f"{r['samples_per_second'] / reference:.2f}",
            complete_run_directory="yes" if r["complete_run_directory"] else "no",
        )
        for r in best
    ]
    all_runs = "; ".join(f"{r['side']}: {r['samples_per_second']:,.0f}" for r in payload["results"])
    return (
        f"Machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']}; load average "
        f"{m['load_average_1min']} at the start (each row: at its start). seed-transformer, "
        f"fp32, {payload['epochs']} epochs on {best[0]['n_train']:,} training rows (validation "
        "each epoch, then the test set), batch 128 per process; the faster of "
        f"{payload['repeats']} alternating runs per side (every run's samples/s, in order: "
        f"{all_runs}). All sides share the same 2 cores, so no speed-up is expected: the point "
        "is that `torchrun` works and writes a normal run directory. Where 2 processes beat 1 "
        "process of 2 threads by far, the 2 threads were waiting on each other: with other jobs "
        "on the cores, OpenMP's spinning threads lose their core at every op "
        "(OMP_WAIT_POLICY=PASSIVE and 1 thread are the controls).\n\n"
        f"Command: `{payload['command']}`\n\n" + markdown_table(rows, COLUMNS)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/datasets/ag_news")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2, help="runs of each side, alternating")
    parser.add_argument("--sides", default=",".join(SIDES), help=f"of {', '.join(SIDES)}")
    args = parser.parse_args()
    sides = [side.strip() for side in args.sides.split(",") if side.strip()]
    if "1x2" not in sides or any(side not in SIDES for side in sides):
        parser.error(f"--sides: choose from {', '.join(SIDES)}, 1x2 (the reference) included")
    load_at_start = round(os.getloadavg()[0], 2)
    rows = []
    with tempfile.TemporaryDirectory(prefix="attentext-distributed-") as tmp:
        for _ in range(args.repeats):
            for side in sides:
                rows.append(run_side(side, Path(tmp) / f"run-{side}", args))
    best = [
        max((r for r in rows if r["side"] == side), key=lambda r: r["samples_per_second"])
        for side in sides
    ]
    by_side = {r["side"]: r["samples_per_second"] for r in best}
    payload = {
        "benchmark": SECTION,
        "machine": machine(),
        "command": f"python benchmarks/distributed.py {' '.join(sys.argv[1:])}".strip(),
        "data": args.data,
        "epochs": args.epochs,
        "repeats": args.repeats,
        "results": rows,
        "best": best,
        "ratio_2x1_over_1x2": round(by_side["2x1"] / by_side["1x2"], 2)
        if "2x1" in by_side
        else None,
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),
    }
    payload["machine"]["load_average_1min"] = load_at_start
    publish(SECTION, payload, render)


if __name__ == "__main__":
    main()
