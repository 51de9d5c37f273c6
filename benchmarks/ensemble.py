"""Benchmark: the runs of `attentext auto --keep-all` weighed into an ensemble, on test.

For each data set, the folder an `auto --keep-all` call wrote (its `best/` and `runs/*`): the
ensemble `attentext ensemble` builds of those runs (greedy selection on the validation split,
then the mixture's temperature fitted there, as `auto` now does at its end), then every run and
the ensemble measured on the test split, beside the plain mean of every run (no selection) and
what `auto` keeps by its rule
(`ensemble_wins`: at least as good on validation accuracy, lower validation log-loss). Each
run predicts test once; the ensemble's test probabilities are the weighted mean of those, and
its texts/s follows from its members' (each classifies every text).

    python benchmarks/ensemble.py \\
        --case ../shared/datasets/french_tweets_sentiment=runs/auto-french \\
        --case ../shared/datasets/newsgroups20=runs/auto-newsgroups20
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import machine, markdown_table, publish
from scipy.special import softmax

import attentext
from attentext.automl.auto import ensemble_wins
from attentext.automl.ensemble import ensemble, log_loss
from attentext.data.dataset import column_values
from attentext.evaluation.metrics import classification_metrics
from attentext.rundir import open_run
from attentext.training.run import recipe_dataset

SECTION = "ensemble_auto"
COLUMNS = [
    ("data", "data"),
    ("run", "run"),
    ("weight", "weight"),
    ("validation_accuracy", "validation acc"),
    ("validation_log_loss", "validation log-loss"),
    ("test_accuracy", "test acc"),
    ("test_macro_f1", "test macro-F1"),
    ("test_log_loss", "test log-loss"),
    ("temperature", "mixture's T"),
    ("texts_per_second", "texts/s"),
]


def _runs(folder: Path) -> dict[str, Path]:
    """auto's runs by recipe name: best/ is the recipe auto.json names (unless auto kept its
    ensemble: then every run is in runs/)."""
    record = json.loads((folder / "auto.json").read_text(encoding="utf-8"))
    runs = {} if record["best"] == "ensemble" else {record["best"]: folder / "best"}
    for path in sorted((folder / "runs").iterdir()):
        if (path / "attentext.json").is_file() and path.name != "ensemble":
            runs[path.name] = path
    return runs


def _test_scores(probabilities: np.ndarray, gold: np.ndarray) -> dict[str, float]:
    scores = classification_metrics(gold, probabilities.argmax(axis=1))
    return {
        "test_accuracy": scores["accuracy"],
        "test_macro_f1": scores["macro_f1"],
        "test_log_loss": log_loss(probabilities, gold),
    }


def measure(data: str, folder: Path, work: Path) -> list[dict[str, Any]]:
    """One data set: each run, the plain mean, and the ensemble, on validation and test."""
    runs = _runs(folder)
    record = json.loads((folder / "auto.json").read_text(encoding="utf-8"))
    first = attentext.load(next(iter(runs.values())))
    dataset = recipe_dataset(open_run(next(iter(runs.values()))).recipe, data)
    test = dataset.splits["test"]
    index = {name: i for i, name in enumerate(first.labels)}
    gold = np.array([index[dataset.label_names[i]] for i in column_values(test, "label")])
    texts = column_values(test, "text")
    built = ensemble(list(runs.values()), dataset, work / Path(data).name, overwrite=True)
    names = {path.name: name for name, path in runs.items()}  # folder -> recipe
    rows, test_probabilities, rates = [], {}, {}
    for name, path in runs.items():
        start = time.perf_counter()
        test_probabilities[name] = attentext.load(path).predict_proba(texts)
        rates[name] = len(texts) / (time.perf_counter() - start)
        validation = built.runs[path.name]
        rows.append(
            {
                "data": Path(data).name,
                "run": name + (" (auto kept)" if name == record["best"] else ""),
                "weight": built.weights.get(path.name, 0.0),
                "validation_accuracy": validation["accuracy"],
                "validation_log_loss": validation["log_loss"],
                **_test_scores(test_probabilities[name], gold),
                "texts_per_second": rates[name],
            }
        )
    mean = np.mean(list(test_probabilities.values()), axis=0)
    rows.append({"data": Path(data).name, "run": "mean of every run", **_test_scores(mean, gold)})
    weights = {names[folder_name]: w for folder_name, w in built.weights.items()}
    temperature = open_run(built.run_dir).temperature  # the mixture's own, fitted on validation
    mixture = softmax(
        np.log(sum(w * test_probabilities[name] for name, w in weights.items())) / temperature,
        axis=1,
    )
    if record["best"] == "ensemble":
        said = " (auto kept)"
    else:
        wins = ensemble_wins(built.validation, built.runs[runs[record["best"]].name], "accuracy")
        said = " (auto keeps it now)" if wins else " (auto keeps its best run)"
    rows.append(
        {
            "data": Path(data).name,
            "run": "ensemble" + said,
            "validation_accuracy": built.validation["accuracy"],
            "validation_log_loss": built.validation["log_loss"],
            **_test_scores(mixture, gold),
            "temperature": temperature,
            "texts_per_second": 1 / sum(1 / rates[name] for name in weights),
        }
    )
    return rows


def render(payload: dict[str, Any]) -> str:
    m = payload["machine"]
    head = (
        f"Machine: {m['cpu']} ({m['cpu_capabilities']}), {m['cores']} cores, torch {m['torch']}. "
        f"Runs from `attentext auto --keep-all` (15 min budget each); weights by greedy selection "
        f"({payload['rounds']} rounds) on each data set's validation split; texts/s over the "
        "whole test split, one run after another."
    )
    rows = [  # a weight is a member's; the ensemble's own row has none
        {**row, "weight": None} if row["run"].startswith("ensemble") else row
        for row in payload["rows"]
    ]
    return head + "\n\n" + markdown_table(rows, COLUMNS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", action="append", required=True, help="DATA=AUTO_FOLDER")
    parser.add_argument("--section", default=SECTION)
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as work:
        for case in args.case:
            data, folder = case.split("=", 1)
            rows += measure(data, Path(folder), Path(work))
    publish(args.section, {"machine": machine(), "rounds": 25, "rows": rows}, render)


if __name__ == "__main__":
    main()
