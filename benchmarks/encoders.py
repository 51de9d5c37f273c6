"""Benchmark the pretrained-encoder recipes on AG News (default encoder: all-MiniLM-L6-v2).

    python benchmarks/encoders.py frozen   --data ../shared/datasets/ag_news
    python benchmarks/encoders.py hf       --data ../shared/datasets/ag_news
    python benchmarks/encoders.py finetune --data ../shared/datasets/ag_news --minutes 60

frozen: wall time split into feature extraction (cold cache) and head training; a warm-cache rerun;
  one head epoch on cached features against one epoch that recomputes the encoder (the lesson's
  way: the encoder forward over the train split, timed).
hf: the lesson's 32-step run of BertForSequenceClassification-style training with the base frozen,
  and a full epoch.
finetune: fp32 vs bf16 training samples/s (a few steps each), then a run with test accuracy on a
  fixed 1,000-text test subset every `--eval-minutes`, until `--minutes` are spent.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import transformers
from common import machine, markdown_table, replace_section, save_results
from transformers import TrainerCallback

import attentext
from attentext.data.dataset import load_text_dataset
from attentext.inference.tokens import model_max_length
from attentext.inference.torch_backend import TransformersClassifier
from attentext.models.registry import build_model
from attentext.recipes import load_recipe
from attentext.text.encoding import encode
from attentext.text.tokenizers import build_tokenizer
from attentext.training.features import compute_features, features_dir


def _fresh_cache() -> None:
    shutil.rmtree(features_dir(), ignore_errors=True)


def bench_frozen(dataset, args) -> dict[str, Any]:
    _fresh_cache()
    cold = attentext.train("encoder-frozen", dataset, "runs/bench-encoder-frozen", overwrite=True)
    warm = attentext.train("encoder-frozen", dataset, "runs/bench-encoder-frozen", overwrite=True)
    epochs = cold.metrics["epochs"]
    head_epoch = warm.metrics["train_seconds"] / epochs
    # One epoch the lesson's way: the frozen encoder forward over every training text.
    recipe = load_recipe(Path(cold.run_dir) / "recipe.yaml")  # the length the run chose
    tokenizer = build_tokenizer(recipe, [])
    model = build_model(recipe.model, tokenizer, dataset.label_names, recipe.tokenizer.max_length)
    ids = encode(
        tokenizer,
        dataset["train"]["text"],
        recipe.tokenizer.max_length,
        recipe.tokenizer.truncation,
    )
    start = time.perf_counter()
    compute_features(
        model,
        ids,
        tokenizer.pad_token_id,
        cold.metrics["extraction_precision"],
        description="Recompute epoch",
    )
    recompute_epoch = time.perf_counter() - start
    return {
        "recipe": "encoder-frozen",
        "test_accuracy": cold.metrics["test"]["accuracy"],
        "extraction_seconds_cold": cold.metrics["extraction_seconds"],
        "extraction_precision": cold.metrics["extraction_precision"],
        "head_train_seconds": cold.metrics["train_seconds"],
        "epochs": epochs,
        "warm_cache_hits": warm.metrics["cache_hits"],
        "extraction_seconds_warm": warm.metrics["extraction_seconds"],
        "head_epoch_seconds": round(head_epoch, 3),
        "recompute_epoch_seconds": round(recompute_epoch, 2),
        "recompute_over_cached_epoch": round(recompute_epoch / head_epoch, 1),
    }


def bench_hf(dataset, args) -> list[dict[str, Any]]:
    rows = []
    for label, options in (("32 steps (lesson)", {"max_steps": 32}), ("1 epoch", {"epochs": 1})):
        result = attentext.train(
            "hf-frozen-base", dataset, "runs/bench-hf-frozen-base", overwrite=True, **options
        )
        m = result.metrics
        rows.append(
            {
                "recipe": f"hf-frozen-base, {label}",
                "test_accuracy": m["test"]["accuracy"],
                "train_seconds": m["train_seconds"],
                "samples_per_second": m["train_samples_per_second"],
                "precision": m["precision"],
                "trainable": m["trainable_parameters"],
                "total": m["total_parameters"],
            }
        )
    return rows


class TestProbe(TrainerCallback):
    """Every `every` seconds of training, test accuracy on a fixed subset (its time excluded)."""

    def __init__(self, texts: list[str], labels: np.ndarray, every: float, budget: float) -> None:
        self.texts, self.labels, self.every, self.budget = texts, labels, every, budget
        self.points: list[dict[str, Any]] = []
        self.clock = 0.0
        self.tokenizer = None

    def on_train_begin(self, args, state, control, processing_class=None, **kwargs):
        self.tokenizer = processing_class
        self.last = time.perf_counter()
        self.next_eval = self.every

    def on_step_end(self, args, state, control, model=None, **kwargs):
        now = time.perf_counter()
        self.clock += now - self.last
        if self.clock >= self.next_eval or self.clock >= self.budget:
            accuracy = self._accuracy(model)
            self.points.append(
                {
                    "minutes": round(self.clock / 60, 2),
                    "step": state.global_step,
                    "test_subset_accuracy": round(accuracy, 4),
                }
            )
            print(
                f"  {self.clock / 60:.1f} min, step {state.global_step}: test subset accuracy {accuracy:.4f}",
                flush=True,
            )
            self.next_eval += self.every
            if self.clock >= self.budget:
                control.should_training_stop = True
        self.last = time.perf_counter()

    def _accuracy(self, model) -> float:
        was_training = model.training
        # the run's own length (data-aware, 64 to 128 tokens) and the recipe's truncation: the
        # classifier takes it as an argument (config.attentext_truncation is read by nothing)
        max_length = model_max_length(self.tokenizer, model.config)
        classifier = TransformersClassifier(
            model, self.tokenizer, max_length, "fp32", batch_size=128, truncation="head+tail"
        )
        predictions = classifier.logits(self.texts).argmax(axis=-1)
        model.train(was_training)
        return float((predictions == self.labels).mean())


def bench_finetune(dataset, args) -> dict[str, Any]:
    speeds = {}
    for precision in ("fp32", "bf16"):
        result = attentext.train(
            "encoder-finetune",
            dataset,
            f"runs/bench-finetune-{precision}",
            overwrite=True,
            max_steps=args.speed_steps,
            precision=precision,
            val_fraction=0.0,
        )
        speeds[precision] = result.metrics["train_samples_per_second"]
    subset = dataset["test"].shuffle(seed=0).select(range(1000))
    probe = TestProbe(
        subset["text"], np.array(subset["label"]), args.eval_minutes * 60, args.minutes * 60
    )
    best = "bf16" if speeds["bf16"] > speeds["fp32"] else "fp32"
    result = attentext.train(
        "encoder-finetune",
        dataset,
        "runs/bench-encoder-finetune",
        overwrite=True,
        precision=best,
        epochs=args.epochs,
        callbacks=[probe],
    )
    return {
        "recipe": "encoder-finetune",
        "samples_per_second_fp32": speeds["fp32"],
        "samples_per_second_bf16": speeds["bf16"],
        "precision": best,
        "test_accuracy": result.metrics["test"]["accuracy"],
        "train_seconds": result.metrics["train_seconds"],
        "epochs": result.metrics["epochs"],
        "curve": probe.points,
    }


SECTIONS = ("encoders_frozen", "encoders_hf", "encoders_finetune")
COLUMNS = {
    "frozen": [
        ("test_accuracy", "test acc"),
        ("extraction_seconds_cold", "extraction s (cold)"),
        ("extraction_seconds_warm", "extraction s (warm)"),
        ("head_train_seconds", "head training s"),
        ("head_epoch_seconds", "s per head epoch"),
        ("recompute_epoch_seconds", "s per recompute epoch"),
        ("recompute_over_cached_epoch", "ratio"),
    ],
    "hf": [
        ("recipe", "run"),
        ("test_accuracy", "test acc"),
        ("train_seconds", "train s"),
        ("samples_per_second", "samples/s"),
        ("precision", "precision"),
        ("trainable", "trainable"),
        ("total", "total params"),
    ],
    "finetune": [
        ("test_accuracy", "test acc"),
        ("train_seconds", "train s"),
        ("epochs", "epochs"),
        ("samples_per_second_fp32", "samples/s fp32"),
        ("samples_per_second_bf16", "samples/s bf16"),
    ],
}


def render(payload: dict[str, Any]) -> str:
    """The README section of one of the three benchmarks (`payload["benchmark"]` says which)."""
    which = payload["benchmark"].removeprefix("encoders_")
    m = payload["machine"]
    # Results from before machine() recorded the load average have none to show.
    load = f"; load average {m['load_average_1min']}" if "load_average_1min" in m else ""
    header = (
        f"Machine: {m['cpu']}, {m['torch_threads']} threads; matmul peak {m['matmul_gflops_fp32']} GFLOP/s "
        f"fp32, {m['matmul_gflops_bf16']} bf16{load}. Train {payload['n_train']} rows, test {payload['n_test']}.\n\n"
        f"Command: `python benchmarks/encoders.py {which} --data {payload['data']}"
        f"{payload.get('options', '')}`\n\n"
    )
    table = markdown_table(payload["results"], COLUMNS[which])
    if which == "finetune":
        table += "\n\n" + markdown_table(
            payload["results"][0]["curve"],
            [
                ("minutes", "minutes"),
                ("step", "step"),
                ("test_subset_accuracy", "test acc (1,000-text subset)"),
            ],
        )
    return header + table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", choices=["frozen", "hf", "finetune"])
    parser.add_argument("--data", default="../shared/datasets/ag_news")
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--eval-minutes", type=float, default=5.0)
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--speed-steps", type=int, default=12)
    args = parser.parse_args()
    transformers.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    dataset = load_text_dataset(args.data, val_fraction=0.05, seed=42)
    payload: dict[str, Any] = {
        "benchmark": f"encoders_{args.which}",
        "machine": machine(),
        "data": args.data,
        "n_train": len(dataset["train"]),
        "n_test": len(dataset["test"]),
    }
    if args.which == "finetune":  # the options that shape its figures, for the README's command
        payload["options"] = (
            f" --minutes {args.minutes:g} --eval-minutes {args.eval_minutes:g}"
            f" --epochs {args.epochs:g} --speed-steps {args.speed_steps}"
        )
    if args.which == "frozen":
        payload["results"] = [bench_frozen(dataset, args)]
    elif args.which == "hf":
        payload["results"] = bench_hf(dataset, args)
    else:
        payload["results"] = [bench_finetune(dataset, args)]
    save_results(payload["benchmark"], payload)
    text = render(payload)
    replace_section(payload["benchmark"], text)
    print(text)


if __name__ == "__main__":
    main()
