"""Benchmark: do the words `explain` shows carry the prediction? Attention against occlusion.

A picture of attention is read as "the model decided on these words"; attention weights need not
mean that (Jain and Wallace 2019). The test of an explanation used here is ERASER's
comprehensiveness (DeYoung et al., ACL 2020): delete the k words it ranks highest and measure how
far the predicted label's probability falls, and how often the label changes. An explanation whose
words carry the decision makes both large; k words drawn at random are the floor. For each run,
on the same sample of test texts: `explain --method attention` (the model's attention; its words,
without punctuation), `--method occlusion` (each word's fall when left out alone; whitespace
words, punctuation kept with them) and random words (of the whitespace words, seeded).

Occlusion ranks words by what deleting each alone does, so at k = 1 it is the best one-word
deletion by construction; at k = 3 and 5 the words interact and it has no such head start.

    python benchmarks/faithfulness.py runs/attention-rnn runs/seed-transformer runs/encoder-finetune \
        --data ../shared/datasets/ag_news --texts 300
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import machine, machine_line, markdown_table, publish

import attentext
from attentext.interpret.occlusion import word_spans
from attentext.recipes import load_recipe
from attentext.training.run import recipe_dataset

SECTION = "faithfulness"
KS = (1, 3, 5)
METHODS = ("attention", "occlusion", "random")


def deleted(text: str, spans: list[tuple[int, int]]) -> str:
    """`text` with the character `spans` cut out (they do not overlap)."""
    for start, end in sorted(spans, reverse=True):
        text = text[:start] + text[end:]
    return text


def ranked_spans(
    method: str, run: Path, texts: list[str], seed: int
) -> list[list[tuple[int, int]]]:
    """For each text, the character spans of its words, most important first, by `method`."""
    if method == "random":
        rng = random.Random(seed)
        return [rng.sample(spans, len(spans)) for spans in map(word_spans, texts)]
    ranked = []
    for explanation in attentext.explain(run, texts, method=method):
        order = np.argsort(-explanation.importances, kind="stable")
        ranked.append([explanation.offsets[i] for i in order])
    return ranked


def falls(
    classifier: Any, texts: list[str], ranked: list[list[tuple[int, int]]], k: int
) -> tuple[float, float]:
    """Mean fall of the predicted label's probability with each text's first k words deleted,
    and the share of texts whose label changes."""
    before = classifier.predict_proba(texts)
    label = before.argmax(axis=1)
    after = classifier.predict_proba(
        [deleted(t, r[:k]) for t, r in zip(texts, ranked, strict=True)]
    )
    rows = np.arange(len(texts))
    fall = before[rows, label] - after[rows, label]
    return float(fall.mean()), float((after.argmax(axis=1) != label).mean())


def rows_of(run: Path, data: str, n_texts: int, seed: int) -> list[dict[str, Any]]:
    """One row per method for `run`: its comprehensiveness and flips at each k, and seconds."""
    dataset = recipe_dataset(load_recipe(run / "recipe.yaml"), data)
    texts = random.Random(seed).sample(list(dataset.texts("test")), n_texts)
    classifier = attentext.load(run, precision="fp32")
    rows = []
    for method in METHODS:
        start = time.perf_counter()
        ranked = ranked_spans(method, run, texts, seed)
        row: dict[str, Any] = {
            "run": run.name,
            "method": method,
            "explain_seconds": time.perf_counter() - start,
        }
        for k in KS:
            row[f"fall_{k}"], row[f"flips_{k}"] = falls(classifier, texts, ranked, k)
        rows.append(row)
        print(row, flush=True)
    return rows


def render(payload: dict[str, Any]) -> str:
    columns = [("run", "run"), ("method", "words ranked by")]
    for k in KS:
        columns += [(f"fall_{k}", f"P falls, {k} deleted"), (f"flips_{k}", f"label flips, {k}")]
    columns.append(("explain_seconds", f"explain s ({payload['texts']} texts)"))
    head = (
        f"{machine_line(payload['machine'])}; {payload['data']}, {payload['texts']} test texts "
        f"(seed {payload['seed']}); fp32. P falls: the mean fall of the predicted label's "
        "probability with the k highest-ranked words deleted; label flips: the share of texts "
        "whose label then changes."
    )
    return head + "\n\n" + markdown_table(payload["results"], columns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--data", default="../shared/datasets/ag_news")
    parser.add_argument("--texts", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = [row for run in args.runs for row in rows_of(run, args.data, args.texts, args.seed)]
    payload = {
        "machine": machine(),
        "data": args.data,
        "texts": args.texts,
        "seed": args.seed,
        "results": rows,
    }
    publish(SECTION, payload, render)


if __name__ == "__main__":
    main()
