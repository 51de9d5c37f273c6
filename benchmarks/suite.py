"""Benchmark: every recipe with its defaults on every single-label dataset of the shared suite.

Issue #16: a default tuned on AG News alone is not a default. Each recipe trains with its recipe's
defaults (data-aware values included) on each dataset's training split, sampled stratified with a
seed where `--max-train` caps it, and is measured on its test split (`--max-test`): test accuracy,
macro-F1, training seconds, texts/s (the trained run classifying test texts), beside tfidf-logreg
on the same sample and the published figures of the dataset's SOURCE.md.

    python benchmarks/suite.py --max-train 3000 --max-test 2000
    python benchmarks/suite.py --recipes seed-transformer,attention-rnn --variant fixed
    python benchmarks/suite.py --recipes encoder-finetune --max-steps encoder-finetune=300

`--variant fixed` trains with the values the recipes had before data-aware defaults (`FIXED`,
passed as `--set`), so the table shows before and after. Results accumulate in
`results/suite.json`, one row per (dataset, recipe, variant), written after every run, so a run
cut short keeps what it measured; the README section is rewritten at the end (and by tables.py).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import RESULTS, machine, markdown_table, replace_section, save_results
from transformers import TrainerCallback

import attentext

SECTION = "suite"
DATASETS_DIR = Path(__file__).resolve().parents[2] / "shared" / "datasets"
DATASETS = (
    "ag_news",
    "trec",
    "trec_fine",
    "newsgroups20",
    "emotion",
    "french_tweets_sentiment",
    "customer_reviews",
)
RECIPES = (
    "tfidf-logreg",
    "encoder-frozen",
    "seed-transformer",
    "attention-rnn",
    "hf-frozen-base",
    "encoder-finetune",
)
BASELINE = "tfidf-logreg"
# What the recipes set before their settings were decided from the data (`--variant fixed`).
FIXED = {
    "seed-transformer": [
        "tokenizer.max_length=256",
        "tokenizer.max_tokens=20000",
        "training.epochs=10",
    ],
    "attention-rnn": [
        "tokenizer.max_length=256",
        "tokenizer.max_tokens=20000",
        "training.epochs=3",
    ],
    "encoder-frozen": ["tokenizer.max_length=128"],
    "encoder-finetune": ["training.epochs=3"],
}
# `--variant encoder-init`: the word models with their embedding started from the encoder's
# word vectors (models/word_vectors.py) instead of noise.
ENCODER_INIT = {
    recipe: ["model.embedding_init=encoder"] for recipe in ("seed-transformer", "attention-rnn")
}
WORD_MODELS = ("seed-transformer", "attention-rnn")  # their embedding's start and width: a column
VARIANT_SETS = {"defaults": {}, "fixed": FIXED, "encoder-init": ENCODER_INIT}
VARIANT_NAMES = {"fixed": "before", "defaults": "defaults", "encoder-init": "encoder init"}
SPEED_TEXTS = 1000  # test texts the trained run classifies for texts/s


def stratified(labels: list[Any], limit: int, seed: int) -> list[int]:
    """Row indices of a stratified sample of `limit` rows (all rows when limit is 0 or more than
    there are): a quota per class by its share, largest remainders first, at least one row of
    every class, rows drawn with `seed`, returned in a shuffled order."""
    n = len(labels)
    if not limit or limit >= n:
        return list(range(n))
    rng = np.random.default_rng(seed)
    by_class: dict[Any, list[int]] = {}
    for i, label in enumerate(labels):
        by_class.setdefault(label, []).append(i)
    names = sorted(by_class, key=str)
    shares = np.array([len(by_class[c]) * limit / n for c in names])
    quota = np.maximum(np.floor(shares).astype(int), 1)
    for i in np.argsort(-(shares - np.floor(shares)), kind="stable"):
        if quota.sum() >= limit:
            break
        quota[i] += 1
    chosen = [
        int(j)
        for c, q in zip(names, quota, strict=True)
        for j in rng.choice(by_class[c], size=min(q, len(by_class[c])), replace=False)
    ]
    return [chosen[i] for i in rng.permutation(len(chosen))]


def write_sample(name: str, target: Path, caps: dict[str, int], seed: int) -> dict[str, Any]:
    """The dataset's splits, each sampled to its cap, written as text,label CSVs in `target`;
    the rows kept and the rows there were."""
    dataset = attentext.load_text_dataset(DATASETS_DIR / name, val_fraction=0.0)
    target.mkdir(parents=True, exist_ok=True)
    counts: dict[str, Any] = {}
    for split, rows in dataset.splits.items():
        labels = list(rows["label"])
        keep = stratified(labels, caps.get(split, 0), seed)
        texts = rows["text"]
        with open(target / f"{split}.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["text", "label"])
            writer.writerows([texts[i], dataset.label_names[labels[i]]] for i in keep)
        counts[split] = {"rows": len(keep), "of": len(labels)}
    return counts


class TimeCap(TrainerCallback):
    """Stop training after `seconds` (checked after each optimizer step)."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.start = seconds, time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001, ANN003
        if time.perf_counter() - self.start > self.seconds:
            control.should_training_stop = True
        return control


def texts_per_second(run_dir: Path, texts: list[str]) -> float:
    """Texts the trained run classifies per second (after a warm-up on a few)."""
    classifier = attentext.load(run_dir)
    classifier.predict_proba(texts[:8])
    start = time.perf_counter()
    classifier.predict_proba(texts)
    return round(len(texts) / (time.perf_counter() - start), 1)


def chosen_settings(run_dir: Path) -> dict[str, Any]:
    """The values the run trained with, from its recipe.yaml (data-aware ones resolved)."""
    recipe = attentext.resolve_recipe(str(run_dir / "recipe.yaml"))
    word_model = recipe.model.type in WORD_MODELS
    return {
        "max_length": recipe.tokenizer.max_length,
        "max_tokens": recipe.tokenizer.max_tokens if recipe.tokenizer.type == "word" else None,
        "planned_epochs": recipe.training.epochs,
        "max_steps": recipe.training.max_steps,
        "embedding_init": recipe.model.embedding_init if word_model else None,
        "embed_dim": recipe.model.options.get("embed_dim") if word_model else None,
    }


def run_one(recipe: str, data: Path, out: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Train one recipe on one sample; the row of the table."""
    # a recipe the variant does not change is the same in every variant: one row, "defaults"
    variant = args.variant if recipe in VARIANT_SETS[args.variant] else "defaults"
    sets = list(VARIANT_SETS[args.variant].get(recipe, []))
    options: dict[str, Any] = {"overrides": sets}
    if recipe in args.max_steps:
        options["max_steps"] = args.max_steps[recipe]
    callbacks = [TimeCap(args.time_cap[recipe])] if recipe in args.time_cap else None
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    result = attentext.train(recipe, data, out, overwrite=True, callbacks=callbacks, **options)
    process_s = time.perf_counter() - start
    m = result.metrics
    test = list(attentext.load_text_dataset(data)["test"]["text"])[:SPEED_TEXTS]
    return {
        "recipe": recipe,
        "variant": variant,
        "accuracy": m["test"]["accuracy"],
        "macro_f1": m["test"]["macro_f1"],
        "validation_accuracy": m.get("validation", {}).get("accuracy"),
        "train_s": m.get("train_seconds"),
        "process_s": round(process_s, 1),
        "texts_per_s": texts_per_second(out, test),
        "epochs_run": m.get("epochs"),
        "precision": m.get("precision"),
        "sets": sets,
        "caps": {
            k: v
            for k, v in (
                ("max_steps", args.max_steps.get(recipe)),
                ("time_cap_s", args.time_cap.get(recipe)),
            )
            if v
        },
        **chosen_settings(out),
        "load_average_before": round(load_before, 2),
        "load_average_after": round(os.getloadavg()[0], 2),
    }


def published(name: str) -> str:
    """The dataset's published anchor, as the suite's SOURCE.md table states it."""
    text = (DATASETS_DIR / "SOURCE.md").read_text(encoding="utf-8")
    match = re.search(rf"^\| `{re.escape(name)}` \|.*\| ([^|]*) \|\s*$", text, flags=re.M)
    return match.group(1).strip() if match else ""


def load_payload(section: str = SECTION) -> dict[str, Any]:
    path = RESULTS / f"{section}.json"
    return json.loads(path.read_text()) if path.exists() else {"rows": [], "datasets": {}}


def record(payload: dict[str, Any], row: dict[str, Any], section: str = SECTION) -> None:
    """Put `row` in the payload (replacing the same dataset, recipe and variant) and save, with
    the rows other suite processes saved meanwhile."""
    key = (row["dataset"], row["recipe"], row["variant"])
    saved = load_payload(section)  # another suite process may have recorded rows since
    payload["datasets"] = {**saved.get("datasets", {}), **payload.get("datasets", {})}
    payload["rows"] = saved["rows"]
    payload["rows"] = [
        r for r in payload["rows"] if (r["dataset"], r["recipe"], r["variant"]) != key
    ] + [row]
    save_results(section, payload)


def pairs(text: str, kind: type) -> dict[str, Any]:
    """`recipe=value,recipe=value` as a mapping."""
    found = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        recipe, _, value = item.partition("=")
        found[recipe.strip()] = kind(value)
    return found


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--recipes", default=",".join(RECIPES))
    parser.add_argument("--max-train", type=int, default=3000, help="0: every training row")
    parser.add_argument("--max-test", type=int, default=2000, help="0: every test row")
    parser.add_argument(
        "--max-validation", type=int, default=1000, help="cap of a validation file (0: all)"
    )
    parser.add_argument("--seed", type=int, default=0, help="of the stratified samples")
    parser.add_argument("--variant", choices=tuple(VARIANT_SETS), default="defaults")
    parser.add_argument("--max-steps", default="", help="recipe=N,...: optimizer steps at most")
    parser.add_argument("--time-cap", default="", help="recipe=S,...: training seconds at most")
    parser.add_argument("--out", type=Path, default=Path("runs/suite"))
    parser.add_argument(
        "--results",
        default=SECTION,
        help="results/NAME.json to add the rows to, and the README section NAME to rewrite "
        '(another --seed of the samples is another table; --datasets "" only rewrites it)',
    )
    args = parser.parse_args()
    args.max_steps = pairs(args.max_steps, int)
    args.time_cap = pairs(args.time_cap, float)
    return args


def main() -> None:
    args = arguments()
    payload = load_payload(args.results)
    machines = payload.setdefault("machines", {})
    if "machine" in payload:  # the rows saved before machines were kept per CPU
        machines.setdefault(payload["machine"]["cpu"], payload["machine"])
    payload["machine"] = machine()
    here = machine_key(payload["machine"])
    machines[here] = payload["machine"]
    caps = {"train": args.max_train, "test": args.max_test, "validation": args.max_validation}
    command = " ".join(["python benchmarks/suite.py", *sys.argv[1:]])
    for name in filter(None, args.datasets.split(",")):
        data = args.out / "data" / name
        counts = write_sample(name, data, caps, args.seed)
        payload.setdefault("datasets", {})[name] = {
            "splits": counts,
            "published": published(name),
            "seed": args.seed,
        }
        for recipe in filter(None, args.recipes.split(",")):
            out = args.out / "runs" / name / f"{recipe}-{args.variant}"
            try:
                row = run_one(recipe, data, out, args)
            except Exception as error:  # one failed run must not stop the suite
                row = {"recipe": recipe, "variant": args.variant, "error": repr(error)[:300]}
            row.update(dataset=name, cpu=here, command=command)
            record(payload, row, args.results)
            print(json.dumps(row), flush=True)
    replace_section(args.results, render(payload))  # each results file has its own section
    print(render(payload))


COLUMNS = [
    ("dataset", "dataset"),
    ("recipe", "recipe"),
    ("variant", "variant"),
    ("accuracy", "test acc"),
    ("vs_baseline", "vs tfidf"),
    ("macro_f1", "macro-F1"),
    ("train_s", "train s"),
    ("texts_per_s", "texts/s"),
    ("precision", "precision"),
    ("chosen", "length / vocab / epochs (run)"),
    ("embedding", "embedding (start, width)"),
    ("capped", "caps"),
]


def _chosen(row: dict[str, Any]) -> str:
    """`length / vocabulary / planned epochs (epochs run)` of a neural run; '-' for the baseline."""
    if row["recipe"] == BASELINE:
        return "-"
    vocab = row.get("max_tokens") or "-"
    epochs = f"{row['planned_epochs']:g}" if row.get("max_steps", -1) <= 0 else "-"
    return f"{row['max_length']} / {vocab} / {epochs} ({row.get('epochs_run') or 0:.3g})"


def _embedding(row: dict[str, Any]) -> str:
    """Where a word model's embedding started and how wide it is; '-' where the row predates
    the record (runs before 2026-12-03: the start was noise unless the variant says encoder)."""
    if not row.get("embedding_init"):
        return "-"
    return f"{row['embedding_init']}, {row['embed_dim']}"


def _cell_rows(payload: dict[str, Any]) -> list[dict[str, Any]]:
    rows = [r for r in payload["rows"] if "error" not in r]
    base = {
        r["dataset"]: r["accuracy"]
        for r in rows
        if r["recipe"] == BASELINE and r["variant"] == "defaults"
    }
    order = {name: i for i, name in enumerate(DATASETS)}
    recipes = {name: i for i, name in enumerate(RECIPES)}
    shown = []
    for r in sorted(
        rows,
        key=lambda r: (
            order.get(r["dataset"], 99),
            recipes.get(r["recipe"], 99),
            list(VARIANT_NAMES).index(r["variant"]),
        ),
    ):
        shown.append(
            {
                **r,
                "variant": VARIANT_NAMES[r["variant"]],
                "vs_baseline": None
                if r["dataset"] not in base or r["recipe"] == BASELINE
                else f"{100 * (r['accuracy'] - base[r['dataset']]):+.1f}",
                "chosen": _chosen(r),
                "embedding": _embedding(r),
                "capped": ", ".join(f"{k} {v:g}" for k, v in r.get("caps", {}).items()) or "-",
            }
        )
    return shown


def _pivot(payload: dict[str, Any]) -> str:
    """Test accuracy per dataset (rows) and recipe (columns), `before -> defaults` where both ran;
    a column more for a recipe's runs with an encoder-initialised embedding."""
    found = {
        (r["dataset"], r["recipe"], r["variant"]): r["accuracy"]
        for r in payload["rows"]
        if "error" not in r
    }
    recipes = [name for name in RECIPES if any(key[1] == name for key in found)]
    started = [name for name in recipes if any(k[1:] == (name, "encoder-init") for k in found)]
    rows = []
    for dataset in [name for name in DATASETS if any(key[0] == name for key in found)]:
        row = {"dataset": dataset}
        for recipe in recipes:
            before = found.get((dataset, recipe, "fixed"))
            after = found.get((dataset, recipe, "defaults"))
            shown = [f"{v:.3f}" for v in (before, after) if v is not None]
            row[recipe] = " -> ".join(shown) if shown else None
        for recipe in started:
            value = found.get((dataset, recipe, "encoder-init"))
            row[f"{recipe} (encoder init)"] = None if value is None else f"{value:.3f}"
        rows.append(row)
    columns = [*((r, r) for r in recipes), *((f"{r} (encoder init)",) * 2 for r in started)]
    return markdown_table(rows, [("dataset", "dataset"), *columns])


def machine_key(m: dict[str, Any]) -> str:
    """The name rows keep of the machine that measured them: the CPU's name and its flags, since
    both AMD EPYC kinds (AVX-512 with bf16, AVX2 only) report the same name."""
    return f"{m['cpu']} ({m['cpu_capabilities']})"


def _machines(payload: dict[str, Any]) -> str:
    """Which CPU measured which rows: one machine, or each with the recipes it ran. Rows saved
    before machine_key name their machine by the CPU's name alone."""
    known = payload.get("machines") or {payload["machine"]["cpu"]: payload["machine"]}
    ran: dict[str, set[str]] = {}
    for r in payload["rows"]:
        cpu = r.get("cpu", payload["machine"]["cpu"])
        m = known.get(cpu, {"cpu": cpu})
        flags = f" ({m['cpu_capabilities']})" if m.get("cpu_capabilities") else ""
        threads = f", {m['torch_threads']} torch thread(s) per run" if "torch_threads" in m else ""
        ran.setdefault(f"{m['cpu']}{flags}, {m.get('cores', '?')} cores{threads}", set()).add(
            r["recipe"]
        )
    described = [
        machine + ("" if len(ran) == 1 else ": " + ", ".join(sorted(recipes, key=RECIPES.index)))
        for machine, recipes in ran.items()
    ]
    return "Machine" + ("s" if len(ran) > 1 else "") + ": " + "; ".join(described)


def render(payload: dict[str, Any]) -> str:
    m = payload["machine"]
    datasets = payload.get("datasets", {})
    sizes = [
        f"{name}: train {d['splits']['train']['rows']:,} of {d['splits']['train']['of']:,}, "
        + (
            f"validation {d['splits']['validation']['rows']:,} of "
            f"{d['splits']['validation']['of']:,}, "
            if "validation" in d["splits"]
            else ""
        )
        + f"test {d['splits']['test']['rows']:,} of {d['splits']['test']['of']:,}"
        for name, d in sorted(datasets.items(), key=lambda kv: DATASETS.index(kv[0]))
    ]
    anchors = [
        f"{name}: {d['published']}"
        for name, d in sorted(datasets.items(), key=lambda kv: DATASETS.index(kv[0]))
        if d.get("published")
    ]
    failed = [
        f"{r['dataset']} {r['recipe']} ({r['error']})" for r in payload["rows"] if "error" in r
    ]
    commands = sorted({r["command"] for r in payload["rows"] if r.get("command")})
    before = {r["recipe"]: r["sets"] for r in payload["rows"] if r.get("variant") == "fixed"}
    return "\n\n".join(
        filter(
            None,
            [
                f"{_machines(payload)}; torch {m['torch']}, no GPU, shared with other work: "
                "train s and texts/s vary with the load (each row's 1-minute load average before "
                "and after it, and its CPU, are in results/suite.json). Rows sampled stratified "
                f"(seed {next(iter(datasets.values()), {}).get('seed', 0)}) where a split was "
                "capped; 5 % of train held out for validation where the dataset has no "
                "validation file. Every figure below is from one run.",
                "Rows per dataset: " + "; ".join(sizes) + ".",
                "`before`: the recipe's values before data-aware defaults ("
                + "; ".join(f"{name}: --set {' '.join(sets)}" for name, sets in before.items())
                + "); `defaults`: the recipe as shipped when the row was measured, its `auto` "
                "settings decided from the training split (the word models' rows where "
                "`embedding` says `-` were measured before `model.embedding_init: auto`, their "
                "embedding started from noise: `--set model.embedding_init=random` today; those "
                "with an `embedding` entry are the recipes of 2026-12-03: the encoder's start "
                "where `auto` picks it, the seed transformer 64 wide for more than 10 labels, "
                "attention-rnn every epoch and its final weights below 500 validation texts); "
                "`encoder init`: the word embedding started "
                "from the encoder's word vectors (--set model.embedding_init=encoder: what `auto` "
                "picks on English text, 70 %+ of its words known whole; on the French tweets, "
                "41 %, it keeps noise), at the lesson's widths where `embedding` says `-`. `vs "
                "tfidf`: test accuracy minus tfidf-logreg's on the same sample, in points. "
                "`length / vocab / epochs (run)`: the max length, word vocabulary and planned "
                "epochs the run used, and in brackets the epochs it ran (early stopping, or a "
                "time cap). "
                "`embedding (start, width)`: where a word model's embedding started and its "
                "width. `texts/s`: the trained run classifying up to "
                f"{SPEED_TEXTS:,} test texts. `caps`: limits this table put on a recipe.",
                "Test accuracy (`before -> defaults` where both ran; `-`: not run, or the run "
                "failed, see below):",
                _pivot(payload),
                "Every run:",
                markdown_table(_cell_rows(payload), COLUMNS),
                "Published figures (full data and the papers' protocols, from "
                "../shared/datasets/SOURCE.md; not comparable with a capped sample): "
                + "; ".join(anchors)
                + "."
                if anchors
                else "",
                "Failed runs: " + "; ".join(failed) if failed else "",
                "Commands: " + "; ".join(f"`{c}`" for c in commands) if commands else "",
            ],
        )
    )


if __name__ == "__main__":
    main()
