"""Benchmark: how much a recipe's validation accuracy swings between epochs, over seeds.

Issue #16: the seed transformer's accuracy swung between epochs on AG News (0.81, 0.87, 0.82,
0.77, ...) and from run to run (0.81-0.87 from scratch), so early stopping kept whichever epoch
happened to peak. For each variant (the recipe as shipped, and each `--variant NAME=KEY=VALUE,...`)
and each seed, one run; reported per variant: test accuracy (mean, std, min, max over the seeds),
the largest drop of validation accuracy from one epoch to the next, and the spread of the last
three epochs' validation accuracy (the issue's target: under 2 points).

    python benchmarks/stability.py seed-transformer --data ../shared/datasets/ag_news --seeds 3 \
        --variant "warmup=training.warmup_ratio=0.1"
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from common import machine, markdown_table, publish

import attentext

LAST_EPOCHS = 3  # the spread of validation accuracy is taken over the last epochs run


def validation_curve(run_dir: Path) -> list[float]:
    """Validation accuracy after each epoch, from the run's training log."""
    lines = (run_dir / "training_log.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    return [r["eval_accuracy"] for r in records if "eval_accuracy" in r]


def one_run(recipe: str, data: str, out: Path, seed: int, sets: list[str]) -> dict[str, Any]:
    """Train once; its test accuracy, validation curve, largest drop and last epochs' spread."""
    result = attentext.train(
        recipe, data, out, overwrite=True, overrides=[f"training.seed={seed}", *sets]
    )
    curve = validation_curve(out)
    drops = [before - after for before, after in zip(curve, curve[1:], strict=False)]
    last = curve[-LAST_EPOCHS:]
    return {
        "seed": seed,
        "test_accuracy": result.metrics["test"]["accuracy"],
        "validation_curve": [round(v, 4) for v in curve],
        "largest_drop": round(max(drops, default=0.0), 4),
        "last_spread": round(max(last) - min(last), 4) if last else None,
        "train_seconds": result.metrics["train_seconds"],
    }


def summary(name: str, sets: list[str], runs: list[dict[str, Any]]) -> dict[str, Any]:
    accuracies = [r["test_accuracy"] for r in runs]
    return {
        "variant": name,
        "sets": " ".join(sets) or "-",
        "test_mean": round(statistics.mean(accuracies), 4),
        "test_std": round(statistics.stdev(accuracies), 4) if len(runs) > 1 else None,
        "test_range": f"{min(accuracies):.4f}-{max(accuracies):.4f}",
        "largest_drop": max(r["largest_drop"] for r in runs),
        "last_spread": max(r["last_spread"] or 0 for r in runs),
        "train_seconds": round(statistics.mean(r["train_seconds"] for r in runs), 1),
    }


# the README sections (benchmarks/tables.py rewrites each from results/<section>.json)
SECTIONS = ["stability", "stability_customer_reviews", "stability_ag_news"]
COLUMNS = [
    ("variant", "variant"),
    ("sets", "--set"),
    ("test_mean", "test acc (mean)"),
    ("test_std", "std"),
    ("test_range", "min-max"),
    ("largest_drop", "largest val drop"),
    ("last_spread", f"val spread, last {LAST_EPOCHS} epochs"),
    ("train_seconds", "train s (mean)"),
]


def render(payload: dict[str, Any]) -> str:
    m = payload["machine"]
    curves = "\n".join(
        f"- {r['variant']}, seed {r['seed']}: {', '.join(f'{v:.3f}' for v in r['validation_curve'])}"
        for r in payload["runs"]
    )
    return (
        f"{m['cpu']} ({m.get('cpu_capabilities', '')}), {m['cores']} cores; recipe "
        f"`{payload['recipe']}` on {payload['data']}, seeds {payload['seeds']}; the largest drop "
        "and the spread are the worst over the seeds.\n\n"
        + markdown_table(payload["summary"], COLUMNS)
        + "\n\nValidation accuracy after each epoch:\n\n"
        + curves
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe")
    parser.add_argument("--data", default="../shared/datasets/ag_news")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        help="NAME=KEY=VALUE[,KEY=VALUE...]: a variant beside the recipe as shipped",
    )
    parser.add_argument("--output", type=Path, default=Path("runs/stability"))
    parser.add_argument("--section", default="stability")
    args = parser.parse_args()
    variants = [("as shipped", [])] + [
        (name, sets.split(",")) for name, _, sets in (v.partition("=") for v in args.variant)
    ]
    runs, summaries = [], []
    for name, sets in variants:
        mine = []
        for seed in range(args.seeds):
            out = args.output / f"{name.replace(' ', '-')}-seed{seed}"
            row = {"variant": name, **one_run(args.recipe, args.data, out, seed, sets)}
            print(json.dumps(row), flush=True)
            mine.append(row)
        runs += mine
        summaries.append(summary(name, sets, mine))
    payload = {
        "benchmark": args.section,
        "machine": machine(),
        "recipe": args.recipe,
        "data": args.data,
        "seeds": list(range(args.seeds)),
        "runs": runs,
        "summary": summaries,
    }
    publish(args.section, payload, render)


if __name__ == "__main__":
    main()
