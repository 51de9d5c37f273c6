"""Benchmark: long documents (issue #18): truncation against windows with each aggregation.

On 20 Newsgroups (bydate, 20 classes, long posts; the shared 3,000 / 2,000 sample), the
encoder-frozen recipe reads each post either cut to 128 tokens (its default: head+tail) or in
128-token windows (`tokenizer.long_text=chunks`, a cap of `--max-chunks` windows spread over the
post) combined by the mean or max of the windows' logits or by learned attention over them;
tfidf-logreg (which reads every word) sits beside. The window features are extracted once and
cached: the three aggregations train on the same features (cache hits), so comparing them costs
three head fits. Then, per recipe, the cost of 1,000 words read in windows (an untrained model of
the recipe's architecture: speed does not depend on the weights), and the peak RSS of a fresh
process classifying one 100,000-word document with the chunked run.

    python benchmarks/long_documents.py --data ../shared/datasets/newsgroups20 --out runs/long

`--finetune` adds encoder-finetune read the same two ways (cut to the window, and in windows
with learned attention over them, trained end to end), 3 epochs each: the windowed run took ~20 s
a step of 32 posts on an AMD EPYC's 2 cores (about 1.5 h), a job for a GPU there. On a GPU,
`--finetune-epochs 0` keeps the recipe's data-aware epochs, `--finetune-aggregations
attention,mean` adds aggregations, `--finetune-long-cut 512` a cut at the encoder's most, and
`--section long_documents_gpu` keeps the CPU's table (an H200 ran all of it in 6 minutes).
`--encoder FOLDER` puts another sentence encoder (SetFit's MPNet from `fetch_mpnet.py`, say) in
every encoder-frozen and encoder-finetune run and in their cost rows.

Targets (issue #18): chunking beats head+tail truncation by >= 2 points of accuracy or macro-F1
and its best aggregation beats tfidf-logreg; a 100,000-word document's peak RSS under 2x the
model's resident size.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import machine, markdown_table, publish

import attentext
import attentext.training.features
from attentext.data.defaults import planned
from attentext.inference.torch_backend import TransformersClassifier
from attentext.models.registry import build_model
from attentext.precision import resolve_precision
from attentext.recipes import load_recipe
from attentext.text.tokenizers import build_tokenizer
from attentext.text.windows import Chunking, encode_windows

SECTION = "long_documents"
AGGREGATIONS = ("mean", "max", "attention")
COST_RECIPES = ("encoder-frozen", "encoder-finetune", "hf-frozen-base", "seed-transformer")
ENCODER_RECIPES = ("encoder-frozen", "encoder-finetune")  # what --encoder replaces the MiniLM in
COST_WORDS = 5_000  # the document each recipe's cost per 1,000 words is timed on
FINETUNE_EPOCHS = 3  # encoder-finetune's default budget (--finetune-epochs), every way alike
HISTOGRAM = ((1, 1), (2, 2), (3, 4), (5, 8), (9, 16), (17, 10**9))


def write_sample(source: Path, target: Path, n_train: int, n_test: int) -> Path:
    """The first rows of the (already shuffled, stratified) CSVs; 0 keeps every row."""
    target.mkdir(parents=True, exist_ok=True)
    csv.field_size_limit(1 << 30)
    for split, limit in (("train", n_train), ("test", n_test)):
        with open(source / f"{split}.csv", newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        header, body = rows[0], rows[1:]
        with open(target / f"{split}.csv", "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows([header, *(body[:limit] if limit else body)])
    return target


def chunk_settings(max_length: int, max_chunks: int, kept: str) -> list[str]:
    return [
        f"tokenizer.max_length={max_length}",
        "tokenizer.long_text=chunks",
        "tokenizer.stride=0",
        f"tokenizer.max_chunks={max_chunks}",
        f"tokenizer.chunks_kept={kept}",
    ]


def train_one(recipe: str, data: Path, out: Path, sets: list[str], precision: str) -> dict:
    """One training run; what the table needs from its metrics."""
    options = {} if recipe == "tfidf-logreg" else {"precision": precision}
    start = time.perf_counter()
    result = attentext.train(recipe, data, out, overwrite=True, overrides=sets, **options)
    metrics = result.metrics
    return {
        "run_dir": str(out),
        "accuracy": metrics["test"]["accuracy"],
        "macro_f1": metrics["test"]["macro_f1"],
        "train_process_s": round(time.perf_counter() - start, 1),
        "extraction_s": metrics.get("extraction_seconds"),
        "cache_hits": metrics.get("cache_hits"),
        "windows": metrics.get("windows"),
    }


def texts_per_second(run_dir: str, texts: list[str], precision: str) -> float:
    """Texts classified per second by the loaded run (after a warm-up on a few texts)."""
    classifier = attentext.load(run_dir, precision=precision)
    classifier.predict_proba(texts[:4])
    start = time.perf_counter()
    classifier.predict_proba(texts)
    return round(len(texts) / (time.perf_counter() - start), 2)


def window_histogram(texts: list[str], run_dir: str) -> dict[str, Any]:
    """How many windows each text needs before the cap (the run's tokenizer and length)."""
    classifier = attentext.load(run_dir, precision="fp32")
    every = Chunking(stride=classifier.chunking.stride)
    counts = np.array(
        [len(w) for w in encode_windows(classifier.tokenizer, texts, classifier.max_length, every)]
    )
    bins = {
        (f"{low}" if low == high else f"{low}+" if high > 10**8 else f"{low}-{high}"): int(
            ((counts >= low) & (counts <= high)).sum()
        )
        for low, high in HISTOGRAM
    }
    return {
        "texts": len(counts),
        "windows": int(counts.sum()),
        "mean": round(float(counts.mean()), 2),
        "median": float(np.median(counts)),
        "p90": float(np.percentile(counts, 90)),
        "max": int(counts.max()),
        "histogram": bins,
    }


def long_text(texts: list[str], words: int) -> str:
    """`words` words of real posts, the test texts repeated as needed."""
    pool = " ".join(texts).split()
    repeats = -(-words // len(pool))
    return " ".join((pool * repeats)[:words])


def cost_per_1000_words(
    recipe_name: str,
    train_texts: list[str],
    text: str,
    n_words: int,
    precision: str,
    encoder: str,
) -> dict[str, Any]:
    """Seconds and windows per 1,000 words for a recipe's architecture read in windows."""
    sets = ["tokenizer.long_text=chunks", *encoder_sets(recipe_name, encoder)]
    recipe = planned(load_recipe(recipe_name, sets))  # `auto`: caps
    tokenizer = build_tokenizer(recipe, train_texts)
    labels = [f"label{i}" for i in range(20)]
    model = build_model(recipe.model, tokenizer, labels, recipe.tokenizer.max_length)
    chosen = resolve_precision(precision)  # auto without a probe: fp32
    classifier = TransformersClassifier(
        model, tokenizer, recipe.tokenizer.max_length, chosen, batch_size=64
    )
    classifier.chunking = Chunking()
    classifier.logits([text[:2000]])  # warm-up
    start = time.perf_counter()
    _, _, counts = classifier.document_logits([text])
    seconds = time.perf_counter() - start
    return {
        "recipe": recipe_name,
        "window_tokens": recipe.tokenizer.max_length,
        "precision": chosen,
        "windows_per_1000_words": round(1000 * int(counts[0]) / n_words, 2),
        "seconds_per_1000_words": round(1000 * seconds / n_words, 3),
    }


def encoder_sets(recipe: str, encoder: str) -> list[str]:
    """`--encoder`'s setting for the recipes that read a sentence encoder, none for the others."""
    return [f"model.encoder={encoder}"] if encoder and recipe in ENCODER_RECIPES else []


RSS_PROBE = r"""
import json, resource, sys, threading, time
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20
import attentext, attentext.inference.torch_backend, attentext.text.windows
imported = rss()  # python, torch, transformers and attentext: the floor under any model
classifier = attentext.load(sys.argv[1], precision=sys.argv[2])
# every window of the document, not the run's cap: the whole text is read
classifier.chunking = attentext.text.windows.Chunking(stride=classifier.chunking.stride)
loaded = rss()
text = open(sys.argv[3], encoding="utf-8").read()
peak, done = [loaded], [False]
def sample():
    while not done[0]:
        peak[0] = max(peak[0], rss()); time.sleep(0.005)
sampler = threading.Thread(target=sample); sampler.start()
start = time.perf_counter()
logits, weights, counts = classifier.document_logits([text])
seconds = time.perf_counter() - start
done[0] = True; sampler.join()
print(json.dumps({"rss_imports_mb": imported, "rss_loaded_mb": loaded,
    "peak_classifying_mb": max(peak[0], rss()),
    "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "windows": int(counts[0]), "seconds": seconds}))
"""


def peak_rss(run_dir: str, text: str, precision: str, folder: Path) -> dict[str, Any]:
    """Peak RSS of a fresh process classifying `text` with the run (sampled every 5 ms)."""
    path = folder / "long.txt"
    path.write_text(text, encoding="utf-8")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    found = subprocess.run(
        [sys.executable, "-c", RSS_PROBE, run_dir, precision, str(path)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    result = json.loads(found.stdout.strip().splitlines()[-1])
    weights_mb = (Path(run_dir) / "model.safetensors").stat().st_size / 2**20
    model_mb = result["rss_loaded_mb"] - result["rss_imports_mb"]
    extra = result["peak_classifying_mb"] - result["rss_loaded_mb"]
    return {
        **{k: round(v, 1) if isinstance(v, float) else v for k, v in result.items()},
        "weights_file_mb": round(weights_mb, 1),
        "peak_over_loaded_rss": round(result["peak_classifying_mb"] / result["rss_loaded_mb"], 3),
        "model_resident_mb": round(model_mb, 1),
        "extra_while_classifying_mb": round(extra, 1),
    }


COLUMNS = [
    ("run", "run"),
    ("reads", "reads"),
    ("accuracy", "test accuracy"),
    ("macro_f1", "macro-F1"),
    ("texts_per_s", "texts/s"),
    ("extraction_s", "feature extraction s"),
    ("train_process_s", "train s (process)"),
]
COST_COLUMNS = [
    ("recipe", "recipe"),
    ("window_tokens", "window (tokens)"),
    ("precision", "precision"),
    ("windows_per_1000_words", "windows / 1,000 words"),
    ("seconds_per_1000_words", "s / 1,000 words"),
]


def render(payload: dict[str, Any]) -> str:
    m, s = payload["machine"], payload["settings"]
    rss, hist = payload["peak_rss_100k_words"], payload["window_counts"]["test"]
    bins = ", ".join(f"{k}: {v}" for k, v in hist["histogram"].items())
    return "\n\n".join(
        [
            f"Machine: {m['cpu']} ({m['cpu_capabilities']}), {m['cores']} cores"
            f"{', GPU ' + m['gpu'] if m.get('gpu') else ''}, torch "
            f"{m['torch']}, load average {m['load_average_1min']} at the start. Data: "
            f"{s['data']}, {s['n_train']} training posts (5 % held out for validation) and "
            f"{s['n_test']} test posts; encoder {s.get('encoder') or 'the packaged MiniLM'}, "
            f"run in {s['precision']}; chunks: "
            f"{s['window_tokens']}-token windows, stride 0, at most {s['max_chunks']} per post "
            f"({s['chunks_kept']}); texts/s on the first {s['speed_texts']} test posts. "
            f"Total {payload['seconds']:.0f} s.",
            markdown_table(payload["results"], COLUMNS),
            f"Windows per test post before the cap: mean {hist['mean']}, median "
            f"{hist['median']}, 90th percentile {hist['p90']}, max {hist['max']} ({bins}).",
            markdown_table(payload["cost"], COST_COLUMNS),
            f"One {s['long_words']:,}-word document, fresh process, the chunked attention run "
            f"in {s['precision']} reading every window (no cap): {rss['windows']:,} windows "
            f"in {rss['seconds']:.1f} s; RSS "
            f"{rss['rss_imports_mb']:,.0f} MB after importing torch, transformers and "
            f"attentext, {rss['rss_loaded_mb']:,.0f} MB "
            f"with the model loaded (the model: {rss['model_resident_mb']:,.0f} MB resident, "
            f"{rss['weights_file_mb']:,.0f} MB of weights), peak {rss['peak_classifying_mb']:,.0f}"
            f" MB while classifying (+{rss['extra_while_classifying_mb']:,.0f} MB; "
            f"{rss['peak_over_loaded_rss']:.2f}x the loaded process).",
            payload.get("note", ""),
        ]
    ).strip()


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets/newsgroups20"))
    parser.add_argument("--out", type=Path, default=Path("runs/long_documents"))
    parser.add_argument("--train", type=int, default=0, help="training posts (0: all)")
    parser.add_argument("--test", type=int, default=0, help="test posts (0: all)")
    parser.add_argument("--window", type=int, default=128)
    parser.add_argument("--max-chunks", type=int, default=8)
    parser.add_argument("--kept", default="spread")
    parser.add_argument("--precision", default="bf16")
    parser.add_argument("--speed-texts", type=int, default=200)
    parser.add_argument("--long-words", type=int, default=100_000)
    parser.add_argument(
        "--cache", type=Path, help="feature cache folder (default: a fresh one: cold extraction)"
    )
    parser.add_argument("--note", default="", help="a sentence printed under the tables")
    parser.add_argument(
        "--encoder",
        default="",
        help="sentence-encoder folder for encoder-frozen and encoder-finetune (default: the MiniLM)",
    )
    parser.add_argument(
        "--finetune",
        action="store_true",
        help="also fine-tune the encoder, truncated and in windows (slow on a CPU)",
    )
    parser.add_argument(
        "--finetune-epochs",
        type=int,
        default=FINETUNE_EPOCHS,
        help="encoder-finetune's epochs every way (0: the recipe's data-aware count)",
    )
    parser.add_argument(
        "--finetune-aggregations",
        default="attention",
        help="comma-separated aggregations of the windowed fine-tuning (mean,max,attention)",
    )
    parser.add_argument(
        "--finetune-long-cut",
        type=int,
        default=0,
        help="also fine-tune cut at this many tokens (e.g. 512, the encoder's most; 0: not)",
    )
    parser.add_argument(
        "--section",
        default=SECTION,
        help="results/<section>.json and the README section written (e.g. long_documents_gpu)",
    )
    return parser.parse_args()


def finetune_plans(
    args: argparse.Namespace, windows: list[str], cut: str, at_window: list[str]
) -> list[tuple[str, str, str, list[str]]]:
    """encoder-finetune cut to the window, cut at `--finetune-long-cut` tokens if asked, and in
    windows (end to end) by each of `--finetune-aggregations`; the same epochs every way."""
    # 3 epochs by default: the recipe's data-aware count (12 here) would take the windowed run
    # hours on 2 cores; `--finetune-epochs 0` keeps that count (a GPU's job)
    budget = [f"training.epochs={args.finetune_epochs}"] if args.finetune_epochs else []
    plans = [("encoder-finetune", "encoder-finetune", cut, [*at_window, *budget])]
    if args.finetune_long_cut:  # the recipe's own length is capped at 128: as long as the window
        long_cut = f"tokenizer.max_length={args.finetune_long_cut}"
        plans.append(
            (f"encoder-finetune {args.finetune_long_cut} tokens", "encoder-finetune",
             f"{args.finetune_long_cut} tokens, head+tail", [long_cut, *budget])
        )  # fmt: skip
    for how in args.finetune_aggregations.split(","):
        agg = f"model.options.aggregation={how}"
        plans.append(
            (f"encoder-finetune chunks {how}", "encoder-finetune",
             f"windows, {how}, end to end", [*windows, agg, *budget])
        )  # fmt: skip
    return plans


def accuracy_runs(args: argparse.Namespace, data: Path, texts: list[str]) -> list[dict]:
    """tfidf-logreg, encoder-frozen truncated, and encoder-frozen in windows by aggregation;
    with --finetune, encoder-finetune truncated and in windows with attention."""
    windows = chunk_settings(args.window, args.max_chunks, args.kept)
    cut = f"{args.window} tokens, head+tail"
    at_window = [f"tokenizer.max_length={args.window}"]
    plans = [
        ("tfidf-logreg", "tfidf-logreg", "every word", []),
        ("encoder-frozen", "encoder-frozen", cut, at_window),
        # the recipe's own length (auto: the 99th percentile, at most 256), as a user gets it
        ("encoder-frozen default length", "encoder-frozen", "{} tokens (auto), head+tail", []),
    ] + [
        (f"encoder-frozen chunks {how}", "encoder-frozen", f"windows, {how}", [*windows, agg])
        for how in AGGREGATIONS
        if (agg := f"model.options.aggregation={how}")
    ]
    if args.finetune:
        plans += finetune_plans(args, windows, cut, at_window)
    rows = []
    for name, recipe, reads, sets in plans:
        out = args.out / name.replace(" ", "-")
        sets = [*sets, *encoder_sets(recipe, args.encoder)]
        row = {"run": name, **train_one(recipe, data, out, sets, args.precision)}
        row["reads"] = reads.format(load_recipe(out / "recipe.yaml").tokenizer.max_length)
        row["texts_per_s"] = texts_per_second(row["run_dir"], texts, args.precision)
        print(json.dumps({k: v for k, v in row.items() if k != "windows"}), flush=True)
        rows.append(row)
    return rows


def main() -> None:
    args = arguments()
    started = time.perf_counter()
    facts = machine()
    with tempfile.TemporaryDirectory() as tmp:
        # the truncated run and the first chunked one extract; the other aggregations hit
        attentext.training.features.CACHE_DIR = args.cache or Path(tmp) / "features"
        data = write_sample(args.data, Path(tmp) / "data", args.train, args.test)
        dataset = attentext.load_text_dataset(data)
        test_texts = list(dataset["test"]["text"])
        train_texts = list(dataset["train"]["text"])
        rows = accuracy_runs(args, data, test_texts[: args.speed_texts])
        chunked = next(r for r in rows if r["run"] == "encoder-frozen chunks attention")["run_dir"]
        text = long_text(test_texts, args.long_words)
        sample = long_text(test_texts, COST_WORDS)
        cost = [
            cost_per_1000_words(name, train_texts, sample, COST_WORDS, args.precision, args.encoder)
            for name in COST_RECIPES
        ]
        payload = {
            "benchmark": SECTION,
            "machine": facts,
            "settings": {
                "data": str(args.data),
                "encoder": args.encoder or None,
                "n_train": len(dataset["train"]) + len(dataset.splits.get("validation", [])),
                "n_test": len(test_texts),
                "window_tokens": args.window,
                "max_chunks": args.max_chunks,
                "chunks_kept": args.kept,
                "precision": args.precision,
                "speed_texts": min(args.speed_texts, len(test_texts)),
                "long_words": args.long_words,
            },
            "results": rows,
            "window_counts": {"test": window_histogram(test_texts, chunked)},
            "cost": cost,
            "peak_rss_100k_words": peak_rss(chunked, text, args.precision, Path(tmp)),
            "note": args.note,
        }
    payload["seconds"] = round(time.perf_counter() - started, 1)
    publish(args.section, payload, render)


if __name__ == "__main__":
    main()
