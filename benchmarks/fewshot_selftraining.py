"""Benchmark: encoder-fewshot's self-training settings, swept on embeddings computed once.

Self-training does not tune the encoder again: it labels unlabeled embeddings and refits the
logistic-regression head, round after round. So its settings (texts read, pseudo-labels per
class, rounds) can be compared without training again: `benchmarks/fewshot.py` leaves one
encoder-fewshot run directory per seed (`--output`); this script embeds, with each seed's tuned
encoder, that seed's labelled sample, the validation split carved with the seed, the test split
and the unlabeled texts, then runs attentext's own `self_training_rounds` for every setting of
the grid. The settings are chosen on validation accuracy (a split the few-shot runs never see;
a user with eight labels per class has no such split, the benchmark has); test accuracy is shown
beside it.

    python benchmarks/fewshot.py --data ../shared/datasets/ag_news --shots 8 --seeds 5 \\
        --methods encoder-fewshot --output runs/fewshot
    python benchmarks/fewshot_selftraining.py --data ../shared/datasets/ag_news --shots 8 \\
        --seeds 5 --runs runs/fewshot --unlabeled ../shared/datasets/ag_news_unlabeled/unlabeled.txt
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import machine, markdown_table, publish

from attentext.data.dataset import load_text_dataset
from attentext.data.shots import sample_shots
from attentext.data.texts import sample_texts, without_evaluation_texts
from attentext.inference.torch_backend import load_hf_model
from attentext.recipes import DataSpec, FewShotSpec, load_recipe
from attentext.rundir import open_run
from attentext.text.encoding import encode
from attentext.training.features import compute_features
from attentext.training.fewshot import fit_regression, self_training_rounds

SECTION = "fewshot_selftraining"
# (texts read, pseudo-labels per class, rounds); rounds 0: the head on the labelled texts alone
GRID = [
    (0, 0, 0),
    (2000, 200, 1),
    (20000, 200, 1),
    (20000, 200, 3),
    (20000, 500, 3),
    (20000, 1000, 3),
    (20000, 1000, 5),
    (20000, 2000, 3),
    (20000, 2000, 5),
    (20000, 3000, 5),
]


def embeddings(args: argparse.Namespace, seed: int) -> dict[str, Any]:
    """The seed's texts embedded by its tuned encoder: labelled sample, validation, test, and
    the unlabeled texts each grid size reads (the recipe's seeded sample of the file)."""
    run = open_run(args.runs / f"encoder-fewshot-{args.shots}shot-seed{seed}")
    model, tokenizer = load_hf_model(run)
    length, truncation = run.recipe.tokenizer.max_length, run.recipe.tokenizer.truncation
    precision = run.metrics.get("precision", "fp32")  # as the run embedded its texts
    full = load_text_dataset(args.data, val_fraction=DataSpec().val_fraction, seed=seed)
    sample = sample_shots(full, args.shots, seed)

    def embed(texts: list[str]) -> np.ndarray:
        ids = encode(tokenizer, texts, length, truncation)
        return compute_features(model, ids, tokenizer.pad_token_id, precision).numpy()

    splits = {"train": sample["train"], "validation": full["validation"], "test": sample["test"]}
    data: dict[str, Any] = {
        name: (embed(list(split["text"])), np.asarray(split["label"]))
        for name, split in splits.items()
    }
    for size in sorted({size for size, _, _ in GRID if size}):
        # as the recipe reads them, without validation and test texts (`full` holds both)
        texts, _ = without_evaluation_texts(sample_texts(args.unlabeled, size, seed), full)
        data[size] = embed(texts)
    return data


def accuracies(
    data: dict[str, Any], base: FewShotSpec, setting: tuple[int, int, int], seed: int
) -> dict[str, float]:
    """Validation and test accuracy of the head self-trained with one grid setting."""
    size, per_class, rounds = setting
    features, labels = data["train"]
    spec = dataclasses.replace(
        base,
        self_training_per_class=per_class,
        self_training_rounds=max(rounds, 1),
    )
    if rounds:
        regression = self_training_rounds(features, labels, data[size], spec, seed)[0]
    else:
        regression = fit_regression(features, labels, spec, seed)
    return {
        split: float((regression.predict(data[split][0]) == data[split][1]).mean())
        for split in ("validation", "test")
    }


def rows_of(scores: dict[tuple[int, int, int], list[dict[str, float]]]) -> list[dict[str, Any]]:
    return [
        {
            "setting": "no self-training"
            if not rounds
            else f"{size:,} read, {per_class:,}/class, {rounds} round{'s' * (rounds > 1)}",
            "validation": round(statistics.mean(s["validation"] for s in per_seed), 4),
            "test": round(statistics.mean(s["test"] for s in per_seed), 4),
            "test_std": round(statistics.stdev(s["test"] for s in per_seed), 4)
            if len(per_seed) > 1
            else None,
        }
        for (size, per_class, rounds), per_seed in scores.items()
    ]


COLUMNS = [
    ("setting", "self-training"),
    ("validation", "validation acc (mean)"),
    ("test", "test acc (mean)"),
    ("test_std", "test std"),
]


def render(payload: dict[str, Any]) -> str:
    m = payload["machine"]
    return (
        f"{m['cpu']} ({m.get('cpu_capabilities', '')}), {m['cores']} cores; `{payload['data']}`, "
        f"{payload['shots']} shots/class, "
        f"seeds {', '.join(map(str, payload['seeds']))}, unlabeled `{payload['unlabeled']}`; "
        f"started {payload['started']}.\n\n" + markdown_table(payload["rows"], COLUMNS)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/datasets/ag_news")
    parser.add_argument("--shots", type=int, default=8)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--runs", type=Path, default=Path("runs/fewshot"))
    parser.add_argument("--unlabeled", default="../shared/datasets/ag_news_unlabeled/unlabeled.txt")
    args = parser.parse_args()
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    base = load_recipe("encoder-fewshot").fewshot  # the recipe's settings; the grid varies three
    scores: dict[tuple[int, int, int], list[dict[str, float]]] = {s: [] for s in GRID}
    for seed in range(args.seeds):
        data = embeddings(args, seed)
        for setting in GRID:
            scores[setting].append(accuracies(data, base, setting, seed))
    payload = {
        "benchmark": SECTION,
        "machine": machine(),
        "data": args.data,
        "shots": args.shots,
        "seeds": list(range(args.seeds)),
        "unlabeled": args.unlabeled,
        "started": started,
        "rows": rows_of(scores),
        "per_seed": {" ".join(map(str, s)): v for s, v in scores.items()},
    }
    publish(SECTION, payload, render)


if __name__ == "__main__":
    main()
