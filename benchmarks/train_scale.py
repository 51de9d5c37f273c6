"""Benchmark: what `attentext train` needs in time and memory as the training set grows.

A training file of N rows is built by cycling AG News train rows (N = 100,000 and 1,000,000 by
default; the texts repeat, which changes the model's accuracy, not the work per row), with a
2,000-row test file. Each recipe trains for one epoch as a child process (`attentext train`),
so the time includes start-up, reading, tokenizing, training, evaluation and publishing; the
peak RSS is the child's `ru_maxrss` (os.wait4). The table gives seconds and MB per size and the
time per million rows.

    python benchmarks/train_scale.py --data ../shared/datasets/ag_news
    python benchmarks/train_scale.py --data ../shared/datasets/ag_news --rows 100000 \
        --recipes tfidf-logreg seed-transformer
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from common import RESULTS, machine, markdown_table, publish
from memory import run_child

SECTION = "train_scale"
RECIPES = ["tfidf-logreg", "seed-transformer"]
TEST_ROWS = 2000


def write_cycled(source: Path, target: Path, rows: int) -> None:
    """`rows` training rows cycled from the AG News train CSV, the first TEST_ROWS test rows."""
    target.mkdir(parents=True, exist_ok=True)
    with open(source / "train.csv", newline="") as f:
        train = list(csv.reader(f))
    with open(target / "train.csv", "w", newline="") as f:
        csv.writer(f, quoting=csv.QUOTE_ALL).writerows(
            itertools.islice(itertools.cycle(train), rows)
        )
    with open(source / "test.csv", newline="") as f:
        test = list(itertools.islice(csv.reader(f), TEST_ROWS))
    with open(target / "test.csv", "w", newline="") as f:
        csv.writer(f, quoting=csv.QUOTE_ALL).writerows(test)
    if (source / "classes.txt").exists():
        shutil.copy(source / "classes.txt", target / "classes.txt")


def measure(recipe: str, data: Path, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    out = work / f"run-{recipe}"
    command = [sys.executable, "-m", "attentext", "train", recipe, "--data", str(data),
               "--output", str(out), "--overwrite"]  # fmt: skip
    if recipe != "tfidf-logreg":
        command += ["--epochs", "1"]
    env = {**os.environ, "ATTENTEXT_CACHE": str(work / "cache"), "TOKENIZERS_PARALLELISM": "false"}
    result = run_child(command, env, work / f"{recipe}.log", args.timeout)
    shutil.rmtree(out, ignore_errors=True)
    return result


def render(payload: dict[str, Any]) -> str:
    m = payload["machine"]
    table = markdown_table(
        payload["rows"],
        [
            ("recipe", "recipe"),
            ("rows", "train rows"),
            ("seconds", "train s (process)"),
            ("seconds_per_million", "s per 1M rows"),
            ("peak_rss_mb", "peak RSS MB"),
            ("load_1min", "load"),
        ],
    )
    return (
        f"Machine: {m['cpu']} ({m['cpu_capabilities']}), {m['cores']} cores, torch {m['torch']}, "
        f"load {m['load_average_1min']} (1 min) and fp32 matmul {m['matmul_gflops_fp32']} "
        "GFLOP/s when it ended: seconds scale with what the cores had free. "
        "One epoch (tfidf-logreg: one fit) on AG News train rows cycled to the size, test "
        f"{TEST_ROWS:,} rows; time of the whole `attentext train` process, peak RSS from "
        "`ru_maxrss`; load: the 1-minute load average when each training ended (a row kept "
        "from an earlier run by --keep was measured then).\n\n" + table
    )


def kept_rows(sizes: list[int], recipes: list[str]) -> list[dict[str, Any]]:
    """results/train_scale.json's rows of the (recipe, size) pairs not measured now."""
    path = RESULTS / f"{SECTION}.json"
    if not path.exists():
        return []
    return [
        row
        for row in json.loads(path.read_text())["rows"]
        if not (row["recipe"] in recipes and row["rows"] in sizes)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the AG News folder")
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--recipes", nargs="+", default=RECIPES)
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per training")
    parser.add_argument(
        "--keep", action="store_true", help="keep the earlier results' rows not measured now"
    )
    args = parser.parse_args()
    rows: list[dict[str, Any]] = kept_rows(args.rows, args.recipes) if args.keep else []
    with tempfile.TemporaryDirectory(prefix="train-scale-") as tmp:
        work = Path(tmp)
        for size in args.rows:
            data = work / f"data-{size}"
            write_cycled(args.data, data, size)
            for recipe in args.recipes:
                result = measure(recipe, data, work, args)
                seconds_per_million = round(result["seconds"] * 1_000_000 / size, 1)
                rows.append({"recipe": recipe, "rows": size, **result,
                             "seconds_per_million": seconds_per_million,
                             "load_1min": round(os.getloadavg()[0], 2)})  # fmt: skip
                print(rows[-1], flush=True)
            shutil.rmtree(data)
    rows.sort(key=lambda row: (RECIPES.index(row["recipe"]) if row["recipe"] in RECIPES else 9,
                               row["rows"]))  # fmt: skip
    publish(SECTION, {"machine": machine(), "rows": rows}, render)


if __name__ == "__main__":
    main()
