"""Benchmark: seed-transformer epoch time against train size and against text length.

Two sweeps, side by side in one run, each point trained for `--epochs` epochs (fp32, no
validation split so that no evaluation runs inside an epoch, `--threads` torch threads):

- train size: 10 %, 50 %, 100 % of the shared train split (a fixed shuffle), texts as they are;
- text length: every text repeated 1x, 2x, 4x (joined by a space) on the whole split, with the
  recipe's dynamic padding and length-grouped batches, and the same texts padded to the recipe's
  maximum length (256 tokens, `training.pad_to_max_length=true`) for contrast.

A forward pre-hook on the model counts, for every training batch, the real tokens (attention
mask) and the tokens the model processed (batch x padded length). Epoch time should follow the
real tokens with dynamic padding and the padded length with fixed padding.

One torch thread by default: with another job on the 2 cores, two intra-op threads made the same
epoch swing between 0.8 s and 12.5 s (they wait on each other at every op), which buries the
ratios this benchmark is for; one thread gave 1.10 s and 1.04 s.

    python benchmarks/growth.py --data ../shared/datasets/ag_news
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from typing import Any

import datasets
import torch
import transformers
from common import machine, markdown_table, publish
from transformers import TrainerCallback

import attentext
from attentext.data.dataset import TextDataset, load_text_dataset

SECTION = "growth"
# tokenizer.max_length of every point, the length the padded variant pads to: set, not the
# recipe's, whose data-aware default (the training texts' 95th percentile) moves with each point
MAX_LENGTH = 256


class EpochClock(TrainerCallback):
    """Per epoch: wall seconds, seconds inside training steps, real and processed tokens."""

    def __init__(self) -> None:
        self.epochs: list[dict[str, Any]] = []
        self.hook = None

    def on_train_begin(self, args, state, control, model=None, processing_class=None, **kwargs):
        pad_id = processing_class.pad_token_id

        def count(module, positional, named) -> None:
            if not module.training:
                return
            ids = named.get("input_ids", positional[0] if positional else None)
            mask = named.get("attention_mask")
            self.processed += ids.numel()
            self.real += int(mask.sum()) if mask is not None else int((ids != pad_id).sum())
            self.texts += ids.shape[0]

        self.hook = model.register_forward_pre_hook(count, with_kwargs=True)

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.real = self.processed = self.texts = 0
        self.step_seconds = 0.0
        self.epoch_start = time.perf_counter()

    def on_step_begin(self, args, state, control, **kwargs):
        self.step_start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self.step_seconds += time.perf_counter() - self.step_start

    def on_epoch_end(self, args, state, control, **kwargs):
        self.epochs.append(
            {
                "epoch_seconds": round(time.perf_counter() - self.epoch_start, 3),
                "step_seconds": round(self.step_seconds, 3),
                "real_tokens": self.real,
                "processed_tokens": self.processed,
                "texts": self.texts,
            }
        )

    def on_train_end(self, args, state, control, **kwargs):
        self.hook.remove()


def subset(dataset: TextDataset, fraction: float, repeat: int, n_test: int) -> TextDataset:
    """`fraction` of the train split (a fixed shuffle), each text repeated `repeat` times."""
    train = dataset["train"].shuffle(seed=0)
    train = train.select(range(round(len(train) * fraction)))
    if repeat > 1:
        train = train.map(lambda row: {"text": " ".join([row["text"]] * repeat)})
    splits = datasets.DatasetDict({"train": train, "test": dataset["test"].select(range(n_test))})
    return TextDataset(splits, dataset.label_names, dataset.source)


def run_point(
    sweep: str, fraction: float, repeat: int, padded: bool, dataset: TextDataset, args, out: str
) -> dict[str, Any]:
    data = subset(dataset, fraction, repeat, args.test_rows)
    label = f"{sweep}: {fraction:.0%} of train, text x{repeat}, " + (
        f"padded to {MAX_LENGTH}" if padded else "dynamic padding"
    )
    print(label, flush=True)
    load = round(os.getloadavg()[0], 2)
    clock = EpochClock()
    attentext.train(
        "seed-transformer",
        data,
        out,
        overwrite=True,
        epochs=args.epochs,
        precision="fp32",
        val_fraction=0.0,
        callbacks=[clock],
        overrides=[
            f"training.pad_to_max_length={'true' if padded else 'false'}",
            f"tokenizer.max_length={MAX_LENGTH}",
        ],
    )
    # The fastest epoch: the first one also warms up, and load from other jobs only slows.
    best = min(clock.epochs, key=lambda e: e["epoch_seconds"])
    n = best["texts"]
    row = {
        "sweep": sweep,
        "train_fraction": fraction,
        "repeat": repeat,
        "padding": str(MAX_LENGTH) if padded else "dynamic",
        "n_train": n,
        "real_tokens_per_text": round(best["real_tokens"] / n, 1),
        "processed_tokens_per_text": round(best["processed_tokens"] / n, 1),
        "real_tokens": best["real_tokens"],
        "processed_tokens": best["processed_tokens"],
        "epoch_seconds": best["epoch_seconds"],
        "step_seconds": best["step_seconds"],
        "ms_per_1k_real_tokens": round(1e6 * best["epoch_seconds"] / best["real_tokens"], 3),
        "ms_per_1k_processed_tokens": round(
            1e6 * best["epoch_seconds"] / best["processed_tokens"], 3
        ),
        "per_epoch": clock.epochs,
        "load_average_1min": load,
    }
    print(
        f"  {row['epoch_seconds']:.2f} s/epoch, {row['real_tokens_per_text']} real / "
        f"{row['processed_tokens_per_text']} processed tokens per text (load {load})",
        flush=True,
    )
    return row


def add_ratios(rows: list[dict[str, Any]]) -> None:
    """Each row against the reference (100 % of train, x1, dynamic): time vs tokens."""
    ref = next(r for r in rows if r["sweep"] == "size" and r["train_fraction"] == 1.0)
    for row in rows:
        row["time_ratio"] = round(row["epoch_seconds"] / ref["epoch_seconds"], 2)
        row["real_token_ratio"] = round(row["real_tokens"] / ref["real_tokens"], 2)
        row["processed_token_ratio"] = round(row["processed_tokens"] / ref["processed_tokens"], 2)


COLUMNS = [
    ("sweep", "sweep"),
    ("train", "train rows"),
    ("repeat", "text"),
    ("padding", "padding"),
    ("real_tokens_per_text", "real tokens/text"),
    ("processed_tokens_per_text", "processed tokens/text"),
    ("epoch_seconds", "s/epoch"),
    ("step_seconds", "s in steps"),
    ("ms_per_1k_real_tokens", "ms per 1k real tokens"),
    ("time_ratio", "time ratio"),
    ("real_token_ratio", "real-token ratio"),
    ("processed_token_ratio", "processed-token ratio"),
    ("load_average_1min", "load avg"),
]


def render(payload: dict[str, Any]) -> str:
    m = payload["machine"]
    rows = [
        dict(
            r,
            train=f"{r['n_train']:,} ({r['train_fraction']:.0%})",
            repeat=f"x{r['repeat']}",
            real_tokens_per_text=f"{r['real_tokens_per_text']:.1f}",
            processed_tokens_per_text=f"{r['processed_tokens_per_text']:.1f}",
            epoch_seconds=f"{r['epoch_seconds']:.2f}",
            step_seconds=f"{r['step_seconds']:.2f}",
            ms_per_1k_real_tokens=f"{r['ms_per_1k_real_tokens']:.2f}",
            time_ratio=f"{r['time_ratio']:.2f}",
            real_token_ratio=f"{r['real_token_ratio']:.2f}",
            processed_token_ratio=f"{r['processed_token_ratio']:.2f}",
        )
        for r in payload["results"]
    ]
    return (
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['torch_threads']} torch "
        f"thread{'s' if m['torch_threads'] > 1 else ''} (two threads swing widely when another "
        "job shares the cores), torch "
        f"{m['torch']}; load average {m['load_average_1min']} at the start (each row: at its "
        f"start). seed-transformer, fp32, {payload['epochs']} epochs per row, the fastest epoch "
        f"shown; no validation split (no evaluation inside an epoch), a checkpoint saved per "
        f"epoch as always. `s in steps` leaves out batch collation and the checkpoint. Ratios "
        f"are against the 100 %, x1, dynamic row; `text x2` repeats every text twice (cut at "
        f"{MAX_LENGTH} tokens).\n\n"
        f"Command: `{payload['command']}`\n\n" + markdown_table(rows, COLUMNS) + summary(payload)
    )


def summary(payload: dict[str, Any]) -> str:
    """One sentence per sweep: how time grew against the tokens, from the rows."""
    rows = payload["results"]
    lines = []
    for r in rows:
        if r["sweep"] == "padded" or (r["train_fraction"], r["repeat"]) == (1.0, 1):
            continue
        what = (
            f"texts x{r['repeat']}"
            if r["sweep"] == "length"
            else f"{r['train_fraction']:.0%} of the rows"
        )
        lines.append(
            f"{what}: {r['real_token_ratio']:.2f}x the real tokens, {r['time_ratio']:.2f}x the time"
        )
    padded = [r for r in rows if r["sweep"] == "padded"]
    text = "\n\nWith dynamic padding: " + "; ".join(lines) + "." if lines else ""
    if padded:
        text += (
            f" Padded to {MAX_LENGTH}: "
            + "; ".join(
                f"x{r['repeat']} texts ({r['real_token_ratio']:.2f}x the real tokens, "
                f"{r['processed_token_ratio']:.2f}x the processed ones) took "
                f"{r['time_ratio']:.2f}x the time"
                for r in padded
            )
            + ": the cost follows the padded length, not the text."
        )
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/datasets/ag_news")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--fractions", default="0.1,0.5,1.0")
    parser.add_argument("--repeats", default="2,4", help="text repeats besides x1")
    parser.add_argument("--padded-repeats", default="1,4", help="repeats trained padded to 256")
    parser.add_argument("--test-rows", type=int, default=200, help="test rows (final evaluation)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (see above)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    dataset = load_text_dataset(args.data, val_fraction=0.0)
    load_at_start = round(os.getloadavg()[0], 2)
    rows = []
    with tempfile.TemporaryDirectory(prefix="attentext-growth-") as tmp:
        out = f"{tmp}/run"
        for fraction in sorted({float(f) for f in args.fractions.split(",")} | {1.0}):
            rows.append(run_point("size", fraction, 1, False, dataset, args, out))
        for repeat in (int(r) for r in args.repeats.split(",") if r):
            rows.append(run_point("length", 1.0, repeat, False, dataset, args, out))
        for repeat in (int(r) for r in args.padded_repeats.split(",") if r):
            rows.append(run_point("padded", 1.0, repeat, True, dataset, args, out))
    add_ratios(rows)
    payload = {
        "benchmark": SECTION,
        "machine": machine(),
        "command": f"python benchmarks/growth.py {' '.join(sys.argv[1:])}".strip(),
        "data": args.data,
        "epochs": args.epochs,
        "torch_threads": torch.get_num_threads(),
        "results": rows,
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),
    }
    payload["machine"]["load_average_1min"] = load_at_start
    publish(SECTION, payload, render)


if __name__ == "__main__":
    main()
