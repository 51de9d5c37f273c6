"""Benchmark: encoder-fewshot's self-training settings, swept on embeddings computed once.

Self-training does not tune the encoder again: it labels unlabeled embeddings and refits the
logistic-regression head, round after round. So its settings (texts read, pseudo-labels per
class, rounds) can be compared without training again: `benchmarks/fewshot.py` leaves one
encoder-fewshot run directory per seed (`--output`); this script embeds, with each seed's tuned
encoder, that seed's labelled sample, the validation split carved with the seed, the test split
and the unlabeled texts, then runs attentext's own `self_training_rounds` for every setting of
the grid. The settings are chosen on validation accuracy (a split the few-shot runs never see;
a user with eight labels per class has no such split, the benchmark has); test accuracy is shown
beside it. `--grid sizes` varies how much is read and taken; `--grid selection` how it is chosen
(one probability threshold, or the surest share of each predicted class); `--grid propagation`
who labels first (the regression, or labels spread over the neighbour graph); `--results NAME`
writes results/NAME.json and the README section of that name (another data set's).

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
from sklearn.semi_supervised import LabelSpreading

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


@dataclasses.dataclass(frozen=True)
class Setting:
    """One row of a grid: texts read, pseudo-labels per class, rounds (0: the head on the
    labelled texts alone), the least probability taken and the share of each class's
    predictions taken (the most confident first)."""

    read: int
    per_class: int
    rounds: int
    threshold: float = 0.5
    share: float = 1.0
    neighbours: int = 0  # > 0: the first round's labels spread over a k-nearest-neighbour graph
    spread: float = 0.2  # LabelSpreading's alpha: how far a label moves from its own text

    def label(self) -> str:
        if not self.rounds:
            return "no self-training"
        rounds = f"{self.rounds} round{'s' * (self.rounds > 1)}"
        text = f"{self.read:,} read, {self.per_class:,}/class, {rounds}"
        if self.neighbours:
            text += f", first labels spread ({self.neighbours} neighbours, alpha {self.spread:g})"
        if self.threshold != 0.5:
            text += f", p >= {self.threshold:g}"
        if self.share != 1.0:
            text += f", the surest {self.share:.0%} of each class"
        return text


GRIDS = {
    # how much to read and take (the recipe's defaults were chosen on this grid, AG News)
    "sizes": [
        Setting(0, 0, 0),
        Setting(2000, 200, 1),
        Setting(20000, 200, 1),
        Setting(20000, 200, 3),
        Setting(20000, 500, 3),
        Setting(20000, 1000, 3),
        Setting(20000, 1000, 5),
        Setting(20000, 2000, 3),
        Setting(20000, 2000, 5),
        Setting(20000, 3000, 5),
    ],
    # how to choose what is taken: one probability for every number of classes, or a share
    "selection": [
        Setting(0, 0, 0),
        Setting(20000, 2000, 5),
        Setting(20000, 2000, 5, threshold=0.0),
        Setting(20000, 2000, 5, threshold=0.0, share=0.75),
        Setting(20000, 2000, 5, threshold=0.0, share=0.5),
        Setting(20000, 2000, 5, threshold=0.0, share=0.25),
        Setting(20000, 2000, 5, share=0.5),
        Setting(20000, 1000, 5, threshold=0.0, share=0.5),
    ],
    # who labels first: the regression on the labelled texts, or the labels spread over the
    # unlabeled texts' neighbour graph (Zhou et al. 2004), then the regression's rounds
    "propagation": [
        Setting(0, 0, 0),
        Setting(20000, 2000, 5, threshold=0.0, share=0.75),
        Setting(20000, 2000, 1, threshold=0.0, share=0.75, neighbours=10),
        Setting(20000, 2000, 1, threshold=0.0, share=0.75, neighbours=10, spread=0.5),
        Setting(20000, 2000, 1, threshold=0.0, share=0.75, neighbours=30),
        Setting(20000, 2000, 5, threshold=0.0, share=0.75, neighbours=10),
        Setting(20000, 2000, 5, threshold=0.0, share=0.75, neighbours=10, spread=0.5),
    ],
}


def embeddings(args: argparse.Namespace, seed: int, grid: list[Setting]) -> dict[str, Any]:
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
    for size in sorted({setting.read for setting in grid if setting.read}):
        # as the recipe reads them, without validation and test texts (`full` holds both)
        texts, _ = without_evaluation_texts(sample_texts(args.unlabeled, size, seed), full)
        data[size] = embed(texts)
    return data


def spread_labels(
    features: np.ndarray, labels: np.ndarray, unlabeled: np.ndarray, setting: Setting
) -> np.ndarray:
    """The unlabeled texts' class probabilities from the labelled texts' labels spread over the
    k-nearest-neighbour graph of all the embeddings (instead of a regression on the labelled
    texts alone): what the first self-training round labels by in the propagation grid."""
    spreading = LabelSpreading(
        kernel="knn", n_neighbors=setting.neighbours, alpha=setting.spread, max_iter=100
    )
    spreading.fit(
        np.concatenate([features, unlabeled]),
        np.concatenate([labels, np.full(len(unlabeled), -1)]),
    )
    return spreading.label_distributions_[len(features) :]


def accuracies(
    data: dict[str, Any], base: FewShotSpec, setting: Setting, seed: int
) -> dict[str, float]:
    """Validation and test accuracy of the head self-trained with one grid setting."""
    features, labels = data["train"]
    spec = dataclasses.replace(
        base,
        self_training_per_class=setting.per_class,
        self_training_rounds=max(setting.rounds, 1),
        self_training_threshold=setting.threshold,
        self_training_share=setting.share,
    )
    if setting.rounds:
        unlabeled = data[setting.read]
        first = spread_labels(features, labels, unlabeled, setting) if setting.neighbours else None
        regression = self_training_rounds(features, labels, unlabeled, spec, seed, first)[0]
    else:
        regression = fit_regression(features, labels, spec, seed)
    return {
        split: float((regression.predict(data[split][0]) == data[split][1]).mean())
        for split in ("validation", "test")
    }


def rows_of(scores: dict[Setting, list[dict[str, float]]]) -> list[dict[str, Any]]:
    return [
        {
            "setting": setting.label(),
            "validation": round(statistics.mean(s["validation"] for s in per_seed), 4),
            "test": round(statistics.mean(s["test"] for s in per_seed), 4),
            "test_std": round(statistics.stdev(s["test"] for s in per_seed), 4)
            if len(per_seed) > 1
            else None,
        }
        for setting, per_seed in scores.items()
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
    parser.add_argument("--grid", choices=sorted(GRIDS), default="sizes")
    parser.add_argument(
        "--results", default=SECTION, help="results/NAME.json and the README section it rewrites"
    )
    args = parser.parse_args()
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    base = load_recipe("encoder-fewshot").fewshot  # the recipe's settings; the grid varies some
    grid = GRIDS[args.grid]
    scores: dict[Setting, list[dict[str, float]]] = {setting: [] for setting in grid}
    for seed in range(args.seeds):
        data = embeddings(args, seed, grid)
        for setting in grid:
            scores[setting].append(accuracies(data, base, setting, seed))
    payload = {
        "benchmark": SECTION,
        "machine": machine(),
        "data": args.data,
        "grid": args.grid,
        "shots": args.shots,
        "seeds": list(range(args.seeds)),
        "unlabeled": args.unlabeled,
        "started": started,
        "rows": rows_of(scores),
        "per_seed": {setting.label(): v for setting, v in scores.items()},
    }
    publish(args.results, payload, render)


if __name__ == "__main__":
    main()
