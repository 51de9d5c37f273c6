"""Where the time goes: torch.profiler breakdowns of training and inference, as a share of the peak.

    python benchmarks/breakdown.py --data ../shared/datasets/ag_news
    python benchmarks/breakdown.py --data ../shared/datasets/ag_news_tiny --warmup-steps 2 \
        --timed-steps 3 --profiled-steps 2 --no-readme    # a smoke run

For seed-transformer and encoder-finetune (the MiniLM encoder), training runs through attentext's
own Trainer (`attentext.training.trainer.build_trainer`: dynamic padding, length grouping, the recipe's
optimizer) and inference through `TransformersClassifier.logits` (the path `predict`, `evaluate`
and the server use). For each variant:

- step time without the profiler (median of `--timed-steps` steps after `--warmup-steps`);
- a profile of `--profiled-steps` further steps, split into matmul kernels (aten::mm/addmm/bmm and
  scaled_dot_product_attention, self time), optimizer step, zero_grad, data loading (collate and
  padding) and the rest (elementwise ops, layer norm, autograd and Python overhead);
- the matmul FLOPs of a step (the profiler's count) divided by the unprofiled step time: the
  achieved GFLOP/s, as a share of this machine's best matmul peak (fp32 or bf16, measured now).

Training variants weigh the levers one at a time against attentext's defaults: the fused AdamW of
the recipes against the unfused (foreach) one; `CPUDropout` against torch's `nn.Dropout`;
`PackedRows` against reading batches from the tokenized `datasets.Dataset`; frozen word
embeddings (the 30522 x 384 embedding is half of MiniLM's weights; its gradient and AdamW update
are dense).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from common import machine, markdown_table, replace_section, save_results
from torch.profiler import ProfilerActivity, profile, schedule
from transformers import TrainerCallback

from attentext.data.dataset import load_text_dataset
from attentext.data.defaults import planned
from attentext.inference.torch_backend import TransformersClassifier
from attentext.models.dropout import use_cpu_dropout
from attentext.models.registry import build_model
from attentext.precision import probe_model, resolve_precision
from attentext.recipes import load_recipe
from attentext.text.encoding import encode
from attentext.text.tokenizers import build_tokenizer
from attentext.training.tokenized import PackedRows, tokenize_split
from attentext.training.trainer import build_trainer
from attentext.training.trainer import sample_batch as _sample_batch

SECTION = "breakdown"
MATMUL_OPS = {"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::_addmm_activation"}

UNFUSED = ["training.optimizer=adamw_torch"]
# (name, recipe, overrides, levers turned off): the training variants, side by side in one run.
# The levers are what `attentext.training.train` does by default: "cpu_dropout" (swap nn.Dropout
# for CPUDropout) and "packed_rows" (the Trainer reads PackedRows, not the datasets.Dataset).
TRAIN_VARIANTS = [
    ("seed-transformer", "seed-transformer", [], ()),
    ("seed-transformer, nn.Dropout", "seed-transformer", [], ("cpu_dropout",)),
    ("seed-transformer, datasets rows", "seed-transformer", [], ("packed_rows",)),
    ("seed-transformer, unfused AdamW", "seed-transformer", UNFUSED, ()),
    ("encoder-finetune", "encoder-finetune", [], ()),
    ("encoder-finetune, nn.Dropout", "encoder-finetune", [], ("cpu_dropout",)),
    ("encoder-finetune, unfused AdamW", "encoder-finetune", UNFUSED, ()),
    (
        "encoder-finetune + frozen embeddings",
        "encoder-finetune",
        ["model.options.freeze_embeddings=true"],
        (),
    ),
]
# (name, recipe, precision, texts): the inference variants. "bf16 autocast" is how inference ran
# before it used a bf16 copy of the model: fp32 weights under torch.autocast.
INFER_VARIANTS = [
    ("seed-transformer", "seed-transformer", "fp32", 4000),
    ("encoder-finetune", "encoder-finetune", "fp32", 512),
    ("encoder-finetune", "encoder-finetune", "bf16 autocast", 512),
    ("encoder-finetune", "encoder-finetune", "bf16", 512),
]


def _categories(prof: profile, steps: int) -> dict[str, float]:
    """Milliseconds per step by category, and matmul GFLOP per step, from a finished profile."""
    totals = {"matmul": 0.0, "attention": 0.0, "optimizer": 0.0, "zero_grad": 0.0, "data": 0.0}
    flops, wall = 0, 0.0
    others: dict[str, float] = {}
    for event in prof.key_averages():
        key = event.key
        flops += event.flops or 0
        if key.startswith("ProfilerStep"):  # "ProfilerStep*": all profiled steps
            wall += event.cpu_time_total
        elif key in MATMUL_OPS:
            totals["matmul"] += event.self_cpu_time_total
        elif "scaled_dot_product" in key or "flash_attention" in key:
            totals["attention"] += event.self_cpu_time_total
        elif key.startswith("Optimizer.step#"):
            totals["optimizer"] += event.cpu_time_total
        elif key.startswith("Optimizer.zero_grad#"):
            totals["zero_grad"] += event.cpu_time_total
        elif key.startswith("enumerate(DataLoader)"):
            totals["data"] += event.cpu_time_total
        elif key.startswith("aten::") and event.self_cpu_time_total > 0:
            others[key] = event.self_cpu_time_total
    result = {f"{k}_ms": v / 1000 / steps for k, v in totals.items()}
    result["profiled_step_ms"] = wall / 1000 / steps
    result["other_ms"] = result["profiled_step_ms"] - sum(v / 1000 / steps for v in totals.values())
    result["matmul_gflop_per_step"] = flops / 1e9 / steps
    top = sorted(others.items(), key=lambda kv: -kv[1])[:6]
    result["top_other_ops_ms"] = {k: round(v / 1000 / steps, 2) for k, v in top}
    return result


class _StepProfiler(TrainerCallback):
    """Times every step, and profiles the last `active` ones (after wait + 1 warm-up step)."""

    def __init__(self, wait: int, active: int) -> None:
        self.ends: list[float] = []
        self.prof = profile(
            activities=[ProfilerActivity.CPU],
            schedule=schedule(wait=wait, warmup=1, active=active, repeat=1),
            with_flops=True,
        )

    def on_train_begin(self, args, state, control, **kwargs):
        self.prof.start()

    def on_step_end(self, args, state, control, **kwargs):
        self.ends.append(time.perf_counter())
        self.prof.step()

    def on_train_end(self, args, state, control, **kwargs):
        self.prof.stop()


def bench_training(
    name: str, recipe_name: str, overrides: list[str], off: tuple[str, ...], dataset, args
) -> dict:
    # `auto` settings: caps, and the epochs of this many rows (an `auto` left in is no number)
    recipe = planned(load_recipe(recipe_name, overrides=overrides), len(dataset["train"]))
    tokenizer = build_tokenizer(recipe, dataset["train"]["text"])
    train_set = tokenize_split(
        dataset["train"], tokenizer, recipe.tokenizer.max_length, recipe.tokenizer.truncation
    )
    lengths = [len(ids) for ids in train_set["input_ids"]]
    if "packed_rows" not in off:
        train_set = PackedRows.from_dataset(train_set)
    model = build_model(recipe.model, tokenizer, dataset.label_names, recipe.tokenizer.max_length)
    if "cpu_dropout" not in off:
        use_cpu_dropout(model)
    precision = resolve_precision(
        recipe.training.precision,
        lambda: probe_model(model, _sample_batch(recipe, tokenizer, train_set)),
    )
    wait = args.warmup_steps + args.timed_steps
    recipe.training.max_steps = wait + 1 + args.profiled_steps
    timer = _StepProfiler(wait, args.profiled_steps)
    with tempfile.TemporaryDirectory() as work:
        trainer = build_trainer(
            recipe, model, tokenizer, train_set, None, Path(work), precision, callbacks=[timer]
        )
        trainer.args.save_strategy = "no"
        trainer.args.disable_tqdm = True
        trainer.train()
    intervals = [b - a for a, b in zip(timer.ends[:-1], timer.ends[1:], strict=True)]
    step_s = statistics.median(intervals[args.warmup_steps - 1 : wait - 1])
    row = {
        "variant": name,
        "mode": "train",
        "precision": precision,
        "batch_size": recipe.training.batch_size,
        "mean_tokens": round(sum(lengths) / len(lengths), 1),
        "step_ms": step_s * 1000,
        "samples_per_second": recipe.training.batch_size / step_s,
        **_categories(timer.prof, args.profiled_steps),
    }
    return _with_peak_share(row, step_s)


def bench_inference(name: str, recipe_name: str, precision: str, n_texts: int, dataset) -> dict:
    recipe = planned(load_recipe(recipe_name))  # `auto` settings at their caps
    tokenizer = build_tokenizer(recipe, dataset["train"]["text"])
    model = build_model(recipe.model, tokenizer, dataset.label_names, recipe.tokenizer.max_length)
    model.config.attentext_truncation = recipe.tokenizer.truncation
    autocast = precision == "bf16 autocast"
    classifier = TransformersClassifier(
        model, tokenizer, recipe.tokenizer.max_length, "fp32" if autocast else precision
    )
    texts = dataset["test"]["text"][:n_texts]
    n_texts = len(texts)  # fewer on a small data set

    def logits() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            classifier.logits(texts)

    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        classifier.logits(texts[: classifier.batch_size])  # warm up
    start = time.perf_counter()
    encode(tokenizer, texts, recipe.tokenizer.max_length, recipe.tokenizer.truncation)
    tokenize_s = time.perf_counter() - start
    start = time.perf_counter()
    logits()
    total_s = time.perf_counter() - start
    batches = -(-n_texts // classifier.batch_size)
    with (
        profile(activities=[ProfilerActivity.CPU], with_flops=True) as prof,
        torch.profiler.record_function("ProfilerStep#0"),
    ):
        logits()
    row = {
        "variant": name,
        "mode": "infer",
        "precision": precision,
        "batch_size": classifier.batch_size,
        "mean_tokens": round(
            sum(map(len, encode(tokenizer, texts, recipe.tokenizer.max_length))) / n_texts, 1
        ),
        "step_ms": total_s / batches * 1000,
        "samples_per_second": n_texts / total_s,
        **_categories(prof, batches),
        "data_ms": tokenize_s / batches * 1000,  # tokenization and padding, timed alone
    }
    row["other_ms"] -= row["data_ms"]
    return _with_peak_share(row, total_s / batches)


def _with_peak_share(row: dict[str, Any], step_s: float) -> dict[str, Any]:
    peaks = PEAKS
    best = max(peaks["matmul_gflops_fp32"], peaks["matmul_gflops_bf16"])
    row["gflops"] = row["matmul_gflop_per_step"] / step_s
    row["share_of_best_peak"] = row["gflops"] / best
    step_ms = row["profiled_step_ms"]
    for part in ("matmul", "attention", "optimizer", "data", "other"):
        row[f"{part}_share"] = row[f"{part}_ms"] / step_ms
    return row


COLUMNS = [
    ("mode", "mode"),
    ("variant", "variant"),
    ("precision", "precision"),
    ("samples_per_second", "samples/s"),
    ("gflops", "matmul GFLOP/s"),
    ("share_of_best_peak", "share of best peak"),
    ("matmul_share", "matmul"),
    ("attention_share", "SDPA"),
    ("optimizer_share", "optimizer"),
    ("data_share", "data/tokenize"),
    ("other_share", "other"),
]


def render(payload: dict[str, Any]) -> str:
    m = payload["machine"]
    best = max(m["matmul_gflops_fp32"], m["matmul_gflops_bf16"])
    rows = [dict(r, variant=r["variant"]) for r in payload["rows"]]
    return (
        markdown_table(rows, COLUMNS)
        + f"\n\n{m['cpu']}, {m['torch_threads']} threads; matmul peak measured in this run: "
        f"{m['matmul_gflops_fp32']:.0f} GFLOP/s fp32, {m['matmul_gflops_bf16']:.0f} bf16 "
        f"(best {best:.0f}); load average {m['load_average_1min']}. Shares of the step time come "
        "from the profiled steps; samples/s and GFLOP/s from unprofiled ones."
    )


PEAKS: dict[str, float] = {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/datasets/ag_news")
    parser.add_argument("--warmup-steps", type=int, default=3)
    parser.add_argument("--timed-steps", type=int, default=8)
    parser.add_argument("--profiled-steps", type=int, default=4)
    parser.add_argument(
        "--no-readme", action="store_true", help="a smoke run: leave benchmarks/README.md alone"
    )
    args = parser.parse_args()
    dataset = load_text_dataset(args.data, val_fraction=0.0)
    PEAKS.update(machine())
    rows = []
    for name, recipe_name, overrides, off in TRAIN_VARIANTS:
        rows.append(bench_training(name, recipe_name, overrides, off, dataset, args))
        print(rows[-1])
    for name, recipe_name, precision, n_texts in INFER_VARIANTS:
        rows.append(bench_inference(name, recipe_name, precision, n_texts, dataset))
        print(rows[-1])
    payload = {"machine": dict(PEAKS), "args": vars(args), "rows": rows}
    print(save_results(SECTION, payload))
    table = render(payload)
    print(table)
    if not args.no_readme:
        replace_section(SECTION, table)


if __name__ == "__main__":
    main()
