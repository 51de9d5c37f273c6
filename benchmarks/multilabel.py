"""Benchmark: every recipe on a multi-label data set with its defaults (Reuters-21578 ModApte).

Each recipe trains with `--multi-label` and its default settings (a budget where one is given),
its thresholds tuned on the validation split carved from train; reported on the full test split:
micro-F1, macro-F1, samples-F1, subset accuracy, Hamming loss, train seconds, and what the
temperature per label (fitted on validation) did to the test pairs' ECE and binary cross-entropy.

    python benchmarks/multilabel.py --data ../shared/datasets/reuters_modapte
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from common import RESULTS, machine, markdown_table, publish

import attentext

SECTION = "multilabel"
RECIPES = (
    "tfidf-logreg",
    "seed-transformer",
    "attention-rnn",
    "encoder-frozen",
    "encoder-finetune",
)
PUBLISHED = "SVM micro-F1 0.86 (Yang & Liu 1999); BERT-base F1 0.89 (DocBERT)"

COLUMNS = [
    ("recipe", "recipe"),
    ("micro_f1", "micro-F1"),
    ("macro_f1", "macro-F1"),
    ("samples_f1", "samples-F1"),
    ("accuracy", "subset acc"),
    ("hamming_loss", "Hamming loss"),
    ("ece_before", "test ECE raw"),
    ("ece_after", "test ECE calibrated"),
    ("nll_before", "test NLL raw"),
    ("nll_after", "test NLL calibrated"),
    ("own_temperatures", "labels with their own T"),
    ("train_seconds", "train s"),
    ("budget", "budget"),
    ("load_1min", "load"),
]
CALIBRATION = {"ece_before", "ece_after", "nll_before", "nll_after", "own_temperatures"}


def render(payload: dict[str, Any]) -> str:
    # the calibration columns only where some row measured them: results saved before they were
    # measured rendered five columns of "-" beside the table they had
    measured = {
        key for row in payload["results"] for key, value in row.items() if value is not None
    }
    columns = [
        (key, header) for key, header in COLUMNS if key not in CALIBRATION or key in measured
    ]
    m = payload["machine"]
    return (
        f"{m['cpu']} ({m.get('cpu_capabilities', '')}), {m['cores']} cores, load "
        f"{m['load_average_1min']}; {payload['data']}, test {payload['n_test']:,} documents; "
        f"published on the same split: {PUBLISHED}. Load: the 1-minute load average when each "
        "recipe ended (rows kept from an earlier run with --keep were measured then).\n\n"
        + markdown_table(payload["results"], columns)
    )


def kept_rows(section: str, data: str, runs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """The earlier run's rows but those of the (recipe, budget) pairs run now; none when it
    read other data."""
    path = RESULTS / f"{section}.json"
    if not path.exists():
        return []
    earlier = json.loads(path.read_text())
    if Path(earlier["data"]).name != Path(data).name:
        return []
    return [row for row in earlier["results"] if (row["recipe"], row["budget"]) not in runs]


def budget(max_steps: int | None, overrides: list[str]) -> str:
    """What a row changed from the recipe's defaults, in words."""
    changed = ([f"{max_steps} steps"] if max_steps else []) + overrides
    return ", ".join(changed) or "defaults"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/datasets/reuters_modapte")
    parser.add_argument("--recipes", default=",".join(RECIPES))
    parser.add_argument(
        "--cap",
        action="append",
        default=[],
        metavar="RECIPE=STEPS",
        help="cap a recipe's training at STEPS optimizer steps (repeatable)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a recipe setting for every recipe run (repeatable), shown in the budget column",
    )
    parser.add_argument("--output", type=Path, default=Path("runs/multilabel"))
    parser.add_argument("--section", default=SECTION, help="the README section and results file")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep results/multilabel.json's other rows (same data; a row is a recipe and "
        "its budget)",
    )
    args = parser.parse_args()
    caps = dict(cap.split("=", 1) for cap in args.cap)
    recipes = args.recipes.split(",")
    budgets = {r: budget(int(caps[r]) if r in caps else None, args.set) for r in recipes}
    rows = kept_rows(args.section, args.data, list(budgets.items())) if args.keep else []
    for recipe in recipes:
        options: dict[str, Any] = {"overrides": args.set}
        if recipe in caps:
            options["max_steps"] = int(caps[recipe])
        result = attentext.train(
            recipe, args.data, args.output / recipe, multi_label=True, overwrite=True, **options
        )
        test = result.metrics["test"]
        calibration = result.metrics.get("calibration", {})
        rows.append(
            {
                "recipe": recipe,
                **{key: test[key] for key, _ in COLUMNS[1:6]},
                **{key: calibration.get("test", {}).get(key) for key, _ in COLUMNS[6:10]},
                "own_temperatures": len(
                    calibration.get("label_temperatures", {}).get("per_label", {})
                ),
                "train_seconds": result.metrics["train_seconds"],
                "budget": budgets[recipe],
                "n_test": test["n_examples"],
                "load_1min": round(os.getloadavg()[0], 1),
            }
        )
        print(rows[-1], flush=True)
        rows.sort(key=lambda row: RECIPES.index(row["recipe"]) if row["recipe"] in RECIPES else 99)
        # published after every recipe: a long run cut short keeps what it measured
        payload = {
            "benchmark": args.section,
            "machine": machine(),
            "data": args.data,
            "n_test": rows[0]["n_test"],
            "results": rows,
        }
        publish(args.section, payload, render)


if __name__ == "__main__":
    main()
