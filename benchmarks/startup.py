"""Benchmark: how long attentext takes to start, beside `import torch` measured in the same run.

Each command runs in a fresh process, several times, interleaved round by round so that a change
of load hits every command alike; the table gives the median wall time and each command's ratio
to `python -c "import torch"` (the floor of any command that runs a torch model).

    python benchmarks/startup.py --seed-run runs/leaderboard/seed-transformer \
        --tfidf-run runs/leaderboard/tfidf-logreg

Targets on 2 cores: `attentext --help` and `import attentext` under 0.5 s; predicting one text
with a seed-transformer run under 3 s, most of it torch's own import.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import machine, markdown_table, publish

SECTION = "startup"
ATTENTEXT = [sys.executable, "-m", "attentext"]
TEXT = "Oil prices jump as OPEC cuts output and stocks slide on Wall Street"


def commands(args: argparse.Namespace) -> dict[str, list[str]]:
    found = {
        "python -c 'import torch'": [sys.executable, "-c", "import torch"],
        "python -c 'import attentext'": [sys.executable, "-c", "import attentext"],
        "attentext --help": [*ATTENTEXT, "--help"],
    }
    for name, run in (("seed-transformer", args.seed_run), ("tfidf-logreg", args.tfidf_run)):
        if run is not None:
            found[f"attentext predict ({name}, one text)"] = [*ATTENTEXT, "predict", str(run), TEXT]
    return found


def wall_seconds(command: list[str]) -> float:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ATTENTEXT_PRECISION": "fp32"}
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")
    return seconds


COLUMNS = [
    ("command", "command"),
    ("median_s", "median s"),
    ("min_s", "min s"),
    ("vs_import_torch", "x import torch"),
]


def render(payload: dict[str, Any]) -> str:
    m = payload["machine"]
    return (
        f"{m['cpu']} ({m.get('cpu_capabilities', '')}), {m['cores']} cores, load "
        f"{m['load_average_1min']}; median of {payload['repeats']} runs each, interleaved.\n\n"
        + markdown_table(payload["results"], COLUMNS)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed-run", type=Path, help="a seed-transformer run directory")
    parser.add_argument("--tfidf-run", type=Path, help="a tfidf-logreg run directory")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    runs = commands(args)
    for command in runs.values():  # warm the file cache: the first start reads every .pyc
        wall_seconds(command)
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, command in runs.items():
            times[name].append(wall_seconds(command))
    floor = statistics.median(times["python -c 'import torch'"])
    rows = [
        {
            "command": name,
            "median_s": round(statistics.median(values), 3),
            "min_s": round(min(values), 3),
            "vs_import_torch": round(statistics.median(values) / floor, 2),
        }
        for name, values in times.items()
    ]
    payload = {
        "benchmark": SECTION,
        "machine": machine(),
        "repeats": args.repeats,
        "results": rows,
    }
    publish(SECTION, payload, render)


if __name__ == "__main__":
    main()
