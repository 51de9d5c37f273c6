"""Benchmark: train seed-transformer on AG News; samples/s, epoch seconds, test accuracy per epoch.

Variants run side by side in one invocation: dynamic padding vs padding to 256, fp32 vs bf16.
Test accuracy is measured after every epoch by a callback whose own time is excluded from the
training time, so "seconds to 0.88" is training time only.

    python benchmarks/seed_transformer.py --data ../shared/datasets/ag_news
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import datasets
import numpy as np
import torch
import transformers
from common import machine, markdown_table, publish
from transformers import TrainerCallback

import attentext
from attentext.data.dataset import load_text_dataset
from attentext.inference.tokens import model_max_length
from attentext.inference.torch_backend import TransformersClassifier

SECTION = "seed_transformer"
TARGET = 0.88


class EpochProbe(TrainerCallback):
    """Times each epoch and measures test accuracy after it; the measuring is outside the epoch.

    The Trainer calls on_epoch_begin after the previous on_epoch_end, so the test pass below never
    counts as training time; the Trainer's own validation pass and checkpoint save do.
    """

    def __init__(self, test_texts: list[str], test_labels: np.ndarray, n_train: int) -> None:
        self.texts, self.labels, self.n_train = test_texts, test_labels, n_train
        self.epochs: list[dict[str, Any]] = []
        self.train_clock = 0.0
        self.tokenizer = None

    def on_train_begin(self, args, state, control, processing_class=None, **kwargs):
        self.tokenizer = processing_class

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.epoch_start = time.perf_counter()

    def on_epoch_end(self, args, state, control, model=None, **kwargs):
        seconds = time.perf_counter() - self.epoch_start
        self.train_clock += seconds
        accuracy = self._accuracy(model)
        self.epochs.append(
            {
                "epoch": round(state.epoch),
                "epoch_seconds": round(seconds, 2),
                "samples_per_second": round(self.n_train / seconds, 1),
                "train_seconds_so_far": round(self.train_clock, 2),
                "test_accuracy": round(accuracy, 4),
            }
        )
        print(
            f"  epoch {self.epochs[-1]['epoch']}: {seconds:.1f} s, test accuracy {accuracy:.4f}",
            flush=True,
        )

    @torch.inference_mode()
    def _accuracy(self, model) -> float:
        was_training = model.training
        model.eval()
        # the run's own length (the tokenizer's, within the model's positions), not a constant
        max_length = model_max_length(self.tokenizer, model.config)
        classifier = TransformersClassifier(
            model, self.tokenizer, max_length, "fp32", batch_size=256
        )
        predictions = classifier.logits(self.texts).argmax(axis=-1)
        model.train(was_training)
        return float((predictions == self.labels).mean())


def run_variant(
    name: str, dataset, epochs: int, precision: str, padded: bool, run_dir: str | None = None
) -> dict[str, Any]:
    print(
        f"{name}: training {epochs} epochs ({precision}, {'padded to 256' if padded else 'dynamic padding'})"
    )
    test = dataset["test"]
    probe = EpochProbe(test["text"], np.array(test["label"]), len(dataset["train"]))
    result = attentext.train(
        "seed-transformer",
        dataset,
        run_dir or f"runs/bench-seed-{name}",
        overwrite=True,
        epochs=epochs,
        precision=precision,
        callbacks=[probe],
        # 256 tokens in every variant, the length the padded ones pad to (and the Keras lesson's
        # maxlen), not the data-aware default (the training texts' 95th percentile)
        overrides=[
            f"training.pad_to_max_length={'true' if padded else 'false'}",
            "tokenizer.max_length=256",
        ],
    )
    steady = [e["samples_per_second"] for e in probe.epochs[1:]] or [
        probe.epochs[0]["samples_per_second"]
    ]
    reached = next((e for e in probe.epochs if e["test_accuracy"] >= TARGET), None)
    return {
        "variant": name,
        "precision": precision,
        "padding": "256" if padded else "dynamic",
        "epochs": epochs,
        "samples_per_second": round(float(np.median(steady)), 1),
        "epoch_seconds": round(float(np.median([e["epoch_seconds"] for e in probe.epochs])), 2),
        "train_seconds": result.metrics["train_seconds"],
        "final_test_accuracy": result.metrics["test"]["accuracy"],
        "best_epoch_test_accuracy": max(e["test_accuracy"] for e in probe.epochs),
        "seconds_to_target": reached["train_seconds_so_far"] if reached else None,
        "epoch_to_target": reached["epoch"] if reached else None,
        "per_epoch": probe.epochs,
    }


COLUMNS = [
    ("variant", "variant"),
    ("epochs", "epochs"),
    ("samples_per_second", "samples/s"),
    ("epoch_seconds", "s/epoch"),
    ("final_test_accuracy", "test acc (best val ckpt)"),
    ("best_epoch_test_accuracy", "best epoch test acc"),
    ("seconds_to_target", f"s to {TARGET}"),
    ("epoch_to_target", f"epoch to {TARGET}"),
]


def render(payload: dict[str, Any]) -> str:
    """The README section: machine, command, the variants' table and test accuracy per epoch."""
    rows = payload["results"]
    # Results written before the payload recorded the epoch options: read them off the rows.
    dynamic = [r["epochs"] for r in rows if r["padding"] == "dynamic"]
    padded = [r["epochs"] for r in rows if r["padding"] != "dynamic"]
    epochs = payload.get("epochs") or max(dynamic or padded)
    padded_epochs = payload.get("padded_epochs") or max(padded or [2])
    m = payload["machine"]
    table = (
        f"Machine: {m['cpu']}, {m['torch_threads']} threads, torch {m['torch']}; matmul peak "
        f"{m['matmul_gflops_fp32']} GFLOP/s fp32, {m['matmul_gflops_bf16']} bf16; load average {m['load_average_1min']}. "
        f"Train {payload['n_train']} rows, test {payload['n_test']}; {epochs} epochs "
        f"({padded_epochs} for the padded variants).\n\n"
        f"Command: `python benchmarks/seed_transformer.py --data {payload['data']} --epochs {epochs} "
        f"--padded-epochs {padded_epochs}`\n\n" + markdown_table(rows, COLUMNS)
    )
    epochs_header = " | ".join(f"epoch {i}" for i in range(1, epochs + 1))
    per_epoch = [f"| variant | {epochs_header} |", "|---|" + "---|" * epochs]
    for row in rows:
        accuracies = [f"{e['test_accuracy']:.4f}" for e in row["per_epoch"]]
        per_epoch.append(
            f"| {row['variant']} | "
            + " | ".join(accuracies + ["-"] * (epochs - len(accuracies)))
            + " |"
        )
    return table + "\n\nTest accuracy after each epoch:\n\n" + "\n".join(per_epoch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/datasets/ag_news")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--variants", default="dynamic-fp32,dynamic-bf16,padded-fp32")
    parser.add_argument(
        "--padded-epochs", type=int, default=2, help="epochs of the padded variants (slow)"
    )
    args = parser.parse_args()
    transformers.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    dataset = load_text_dataset(args.data, val_fraction=0.05, seed=42)
    rows = []
    for name in args.variants.split(","):
        padding, precision = name.split("-")
        epochs = args.padded_epochs if padding == "padded" else args.epochs
        rows.append(run_variant(name, dataset, epochs, precision, padding == "padded"))
    payload = {
        "benchmark": SECTION,
        "machine": machine(),
        "data": args.data,
        "n_train": len(dataset["train"]),
        "n_test": len(dataset["test"]),
        "target": TARGET,
        "epochs": args.epochs,
        "padded_epochs": args.padded_epochs,
        "results": rows,
    }
    publish(SECTION, payload, render)


if __name__ == "__main__":
    main()
