"""Benchmark: attentext's seed-transformer against the lesson's Keras transformer, same data, one run.

The Keras side is the lesson's code as written (TextVectorization 20,000 words / 256 tokens, token
+ position embedding 32, one transformer block of 2 heads with key dim 32 and FFN 32, average
pooling, dropout 0.1, Dense 20 relu, dropout 0.1, Dense 4 softmax; Adam at Keras' defaults, batch
128, the batches in the same order every epoch). It runs in a subprocess with 2 TensorFlow threads:
TensorFlow and torch in one process fight over threads. Both sides train on the same split (the
same `load_text_dataset` call), validate on the same held-out rows inside the timed epoch, and are
tested on the full test set after every epoch by a callback whose time is not training time.

    pip install -e '.[keras-bench]'
    python benchmarks/seed_keras.py --data ../shared/datasets/ag_news
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TARGET = 0.88  # the same target as benchmarks/seed_transformer.py
INSTALL_HINT = "TensorFlow/Keras are not installed: run `pip install -e '.[keras-bench]'`"

# ---------------------------------------------------------------------------------------------
# The Keras side. This part runs in the subprocess and imports TensorFlow, never torch.
# ---------------------------------------------------------------------------------------------


def lesson_model(vocab_size: int = 20000, maxlen: int = 256):
    """The lesson's Sequential model, layer for layer (Keras 3 spellings, marked)."""
    import tensorflow as tf
    from tensorflow import keras

    class TokenAndPositionEmbedding(keras.layers.Layer):
        def __init__(self, maxlen, vocab_size, embed_dim):
            super(TokenAndPositionEmbedding, self).__init__()  # noqa: UP008 (the lesson's code)
            self.token_emb = keras.layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
            self.pos_emb = keras.layers.Embedding(input_dim=maxlen, output_dim=embed_dim)
            self.maxlen = maxlen

        def call(self, x):
            maxlen = self.maxlen
            positions = tf.range(start=0, limit=maxlen, delta=1)
            positions = self.pos_emb(positions)
            x = self.token_emb(x)
            return x + positions

    class TransformerBlock(keras.layers.Layer):
        def __init__(self, embed_dim, num_heads, ff_dim, rate=0.1):
            super(TransformerBlock, self).__init__()  # noqa: UP008 (the lesson's code)
            self.att = keras.layers.MultiHeadAttention(
                num_heads=num_heads, key_dim=embed_dim, name="attn"
            )
            self.ffn = keras.Sequential(
                [keras.layers.Dense(ff_dim, activation="relu"), keras.layers.Dense(embed_dim)]
            )
            self.layernorm1 = keras.layers.LayerNormalization(epsilon=1e-6)
            self.layernorm2 = keras.layers.LayerNormalization(epsilon=1e-6)
            self.dropout1 = keras.layers.Dropout(rate)
            self.dropout2 = keras.layers.Dropout(rate)

        def call(self, inputs, training=None):  # Keras 3: `training` must have a default
            attn_output = self.att(inputs, inputs)
            attn_output = self.dropout1(attn_output, training=training)
            out1 = self.layernorm1(inputs + attn_output)
            ffn_output = self.ffn(out1)
            ffn_output = self.dropout2(ffn_output, training=training)
            return self.layernorm2(out1 + ffn_output)

    embed_dim = 32  # Embedding size for each token
    num_heads = 2  # Number of attention heads
    ff_dim = 32  # Hidden layer size in feed forward network inside transformer

    return keras.models.Sequential(
        [
            # Keras 3: `keras.Input(shape=(1,), dtype="string")` for the lesson's
            # `input_shape=(1,)`, and `keras.layers.TextVectorization` for
            # `keras.layers.experimental.preprocessing.TextVectorization`.
            keras.Input(shape=(1,), dtype="string"),
            keras.layers.TextVectorization(max_tokens=vocab_size, output_sequence_length=maxlen),
            TokenAndPositionEmbedding(maxlen, vocab_size, embed_dim),
            TransformerBlock(embed_dim, num_heads, ff_dim),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dropout(0.1),
            keras.layers.Dense(20, activation="relu"),
            keras.layers.Dropout(0.1),
            keras.layers.Dense(4, activation="softmax"),
        ]
    )


def keras_worker(job_path: Path, result_path: Path) -> None:
    """Train the lesson's model on the job's splits; write per-epoch times and test accuracy."""
    job = json.loads(job_path.read_text())
    import numpy as np
    import tensorflow as tf
    from tensorflow import keras

    tf.config.threading.set_intra_op_parallelism_threads(job["threads"])
    tf.config.threading.set_inter_op_parallelism_threads(job["threads"])
    keras.utils.set_random_seed(job["seed"])

    def split(name: str) -> tuple[np.ndarray, np.ndarray]:
        texts = np.array(job[name]["text"], dtype=object).reshape(-1, 1)  # (N, 1), as input_shape
        return texts, np.array(job[name]["label"], dtype=np.int64)

    (train_x, train_y), (val_x, val_y), (test_x, test_y) = map(
        split, ("train", "validation", "test")
    )
    batch = job["batch_size"]
    # The lesson: ds_train.map(tupelize).batch(128), no shuffle; fit() does not reshuffle a
    # tf.data.Dataset, so every epoch sees the same batches in the same order.
    ds_train = tf.data.Dataset.from_tensor_slices((train_x, train_y)).batch(batch)
    ds_val = tf.data.Dataset.from_tensor_slices((val_x, val_y)).batch(batch)
    ds_test = tf.data.Dataset.from_tensor_slices(test_x).batch(batch)

    model = lesson_model()
    model.summary(print_fn=lambda line, **_: print("  " + line, flush=True))
    start = time.perf_counter()
    model.layers[0].adapt(tf.data.Dataset.from_tensor_slices(train_x))  # the training texts
    adapt_seconds = time.perf_counter() - start
    model.compile(loss="sparse_categorical_crossentropy", metrics=["acc"], optimizer="adam")

    class EpochProbe(keras.callbacks.Callback):
        """Times each epoch (validation included) and tests after it, outside the epoch's time."""

        def __init__(self) -> None:
            super().__init__()
            self.epochs: list[dict[str, Any]] = []
            self.train_clock = 0.0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch_start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds = time.perf_counter() - self.epoch_start
            self.train_clock += seconds
            probabilities = self.model.predict(ds_test, verbose=0)
            accuracy = float((probabilities.argmax(axis=-1) == test_y).mean())
            self.epochs.append(
                {
                    "epoch": epoch + 1,
                    "epoch_seconds": round(seconds, 2),
                    "samples_per_second": round(len(train_y) / seconds, 1),
                    "train_seconds_so_far": round(self.train_clock, 2),
                    "test_accuracy": round(accuracy, 4),
                    "validation_accuracy": round(float(logs["val_acc"]), 4),
                }
            )
            print(f"  epoch {epoch + 1}: {seconds:.1f} s, test accuracy {accuracy:.4f}", flush=True)

    probe = EpochProbe()
    model.fit(ds_train, validation_data=ds_val, epochs=job["epochs"], callbacks=[probe], verbose=0)
    result = {
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "parameters": model.count_params(),
        "vocabulary_size": model.layers[0].vocabulary_size(),
        "adapt_seconds": round(adapt_seconds, 2),
        "per_epoch": probe.epochs,
    }
    result_path.write_text(json.dumps(result))


# ---------------------------------------------------------------------------------------------
# The parent: data, the torch side in-process, the Keras side in a subprocess, the report.
# ---------------------------------------------------------------------------------------------


def summarize(
    framework: str, side: str, per_epoch: list[dict[str, Any]], n_train: int, **extra
) -> dict[str, Any]:
    """One row of the table from per-epoch records: the same arithmetic for both sides."""
    train_seconds = per_epoch[-1]["train_seconds_so_far"]
    reached = next((e for e in per_epoch if e["test_accuracy"] >= TARGET), None)
    row = {
        "framework": framework,
        "side": side,
        "epochs": len(per_epoch),
        "train_seconds": train_seconds,
        "epoch_seconds": round(train_seconds / len(per_epoch), 2),
        "samples_per_second": round(n_train * len(per_epoch) / train_seconds, 1),
        "last_epoch_test_accuracy": per_epoch[-1]["test_accuracy"],
        "best_epoch_test_accuracy": max(e["test_accuracy"] for e in per_epoch),
        "seconds_to_target": reached["train_seconds_so_far"] if reached else None,
        "epoch_to_target": reached["epoch"] if reached else None,
    }
    return {**row, **extra, "per_epoch": per_epoch}


def run_torch(dataset, epochs: int, variant: str, threads: int) -> dict[str, Any]:
    import torch
    from seed_transformer import run_variant

    torch.set_num_threads(threads)
    padding, precision = variant.split("-")
    load = round(os.getloadavg()[0], 2)
    result = run_variant(
        variant, dataset, epochs, precision, padding == "padded", f"runs/bench-seed-keras-{variant}"
    )
    return summarize(
        "torch",
        f"attentext seed-transformer ({variant})",
        result["per_epoch"],
        len(dataset["train"]),
        # the Trainer restores the best-validation checkpoint at the end; that model's test accuracy
        final_test_accuracy=result["final_test_accuracy"],
        threads=torch.get_num_threads(),
        load_average_1min_at_start=load,
    )


def run_keras(dataset, epochs: int, threads: int, seed: int) -> dict[str, Any]:
    print(f"keras: training {epochs} epochs (the lesson's code, {threads} threads, subprocess)")
    load = round(os.getloadavg()[0], 2)
    with tempfile.TemporaryDirectory(prefix="seed_keras_") as tmp:
        job_path, result_path = Path(tmp) / "job.json", Path(tmp) / "result.json"
        job = {"epochs": epochs, "threads": threads, "seed": seed, "batch_size": 128}
        for name in ("train", "validation", "test"):
            split = dataset[name]
            job[name] = {"text": list(split["text"]), "label": list(split["label"])}
        job_path.write_text(json.dumps(job))
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "OMP_NUM_THREADS": str(threads)}
        command = [sys.executable, __file__, "--keras-worker", str(job_path), str(result_path)]
        completed = subprocess.run(command, env=env)
        if completed.returncode != 0:
            sys.exit(f"the Keras subprocess failed (exit {completed.returncode}); see above")
        result = json.loads(result_path.read_text())
    per_epoch = result.pop("per_epoch")
    return summarize(
        "keras",
        "lesson's Keras transformer",
        per_epoch,
        len(dataset["train"]),
        # no checkpoint selection in the lesson: the model after the last epoch
        final_test_accuracy=per_epoch[-1]["test_accuracy"],
        threads=result["intra_op_threads"],
        load_average_1min_at_start=load,
        **result,
    )


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    return round(numerator / denominator, 2) if numerator and denominator else None


SECTION = "seed_keras"


def render(payload: dict[str, Any]) -> str:
    """The README section: both sides' rows, the ratios, and test accuracy after each epoch."""
    from common import markdown_table

    columns = [
        ("side", "side"),
        ("epochs", "epochs"),
        ("epoch_seconds", "s/epoch"),
        ("samples_per_second", "samples/s"),
        ("final_test_accuracy", "final test acc"),
        ("best_epoch_test_accuracy", "best epoch test acc"),
        ("seconds_to_target", f"s to {TARGET}"),
        ("epoch_to_target", f"epoch to {TARGET}"),
    ]
    rows, m, r = payload["results"], payload["machine"], payload["ratios"]
    keras_row = next((row for row in rows if row["framework"] == "keras"), None)
    versions = f"torch {m['torch']}" + (
        f", TensorFlow {keras_row['tensorflow']}, Keras {keras_row['keras']}" if keras_row else ""
    )
    limit = f" --limit {payload['limit']}" if payload.get("limit") else ""
    loads = ", ".join(f"{row['load_average_1min_at_start']}" for row in rows)
    text = (
        f"Machine: {m['cpu']}, {m['cores']} cores, 2 threads per side; {versions}; matmul peak "
        f"{m['matmul_gflops_fp32']} GFLOP/s fp32; load average {m['load_average_1min']} at the "
        f"start ({loads} as each side started). Train {payload['n_train']} rows, validation "
        f"{payload['n_validation']}, test {payload['n_test']}.\n\n"
        f"Command: `python benchmarks/seed_keras.py --data {payload['data']} "
        f"--epochs {payload['epochs']}{limit}`"
        "\n\n" + markdown_table(rows, columns)
    )
    if r["samples_per_second"] is not None:
        missed = [row["side"] for row in rows if row["seconds_to_target"] is None]
        text += (
            f"\n\nattentext / Keras: **{r['samples_per_second']}x** the samples/s; time to "
            f"{TARGET}: "
            + (
                f"**{r['seconds_to_target']}x** faster."
                if r["seconds_to_target"]
                else f"no ratio ({' and '.join(missed)}: not reached in {payload['epochs']} epochs)."
            )
        )
    epochs = max(row["epochs"] for row in rows)
    header = " | ".join(f"epoch {i}" for i in range(1, epochs + 1))
    lines = [f"| side | {header} |", "|---|" + "---|" * epochs]
    for row in rows:
        cells = [
            f"{e['test_accuracy']:.4f} ({e['train_seconds_so_far']:.0f} s)"
            for e in row["per_epoch"]
        ]
        lines.append(
            f"| {row['side']} | " + " | ".join(cells + ["-"] * (epochs - len(cells))) + " |"
        )
    return (
        text
        + "\n\nTest accuracy after each epoch (training seconds so far):\n\n"
        + "\n".join(lines)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/datasets/ag_news")
    parser.add_argument("--epochs", type=int, default=10, help="epochs of each side")
    parser.add_argument("--limit", type=int, default=0, help="train on the first N rows (smoke)")
    parser.add_argument("--threads", type=int, default=2, help="threads of each side")
    parser.add_argument("--variant", default="dynamic-fp32", help="seed_transformer.py variant")
    parser.add_argument("--skip-torch", action="store_true")
    parser.add_argument("--skip-keras", action="store_true")
    parser.add_argument("--keras-worker", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.keras_worker:
        keras_worker(*args.keras_worker)
        return
    if not args.skip_keras and not all(
        importlib.util.find_spec(name) for name in ("tensorflow", "keras")
    ):
        sys.exit(INSTALL_HINT)

    import datasets
    import transformers
    from common import machine, replace_section, save_results

    from attentext.data.dataset import load_text_dataset

    transformers.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    seed = 42
    dataset = load_text_dataset(args.data, val_fraction=0.05, seed=seed)  # as seed_transformer.py
    if args.limit:
        dataset.splits["train"] = dataset["train"].select(range(args.limit))
    payload: dict[str, Any] = {
        "benchmark": "seed_keras",
        "machine": machine(),
        "data": args.data,
        "n_train": len(dataset["train"]),
        "n_validation": len(dataset["validation"]),
        "n_test": len(dataset["test"]),
        "target": TARGET,
        "epochs": args.epochs,
        "limit": args.limit,
    }
    rows = []
    if not args.skip_torch:
        rows.append(run_torch(dataset, args.epochs, args.variant, args.threads))
    if not args.skip_keras:
        rows.append(run_keras(dataset, args.epochs, args.threads, seed))
    by_side = {row["framework"]: row for row in rows}
    torch_row, keras_row = by_side.get("torch", {}), by_side.get("keras", {})
    payload["results"] = rows
    payload["ratios"] = {
        "samples_per_second": ratio(
            torch_row.get("samples_per_second"), keras_row.get("samples_per_second")
        ),
        "seconds_to_target": ratio(
            keras_row.get("seconds_to_target"), torch_row.get("seconds_to_target")
        ),
    }
    payload["load_average_1min_at_end"] = round(os.getloadavg()[0], 2)
    path = save_results(SECTION, payload)
    table = render(payload)
    if not args.limit and not args.skip_torch and not args.skip_keras:
        replace_section(SECTION, table)  # a smoke run does not overwrite the README
    print(json.dumps({k: v for k, v in payload.items() if k != "results"}, indent=2))
    print(
        json.dumps([{k: v for k, v in row.items() if k != "per_epoch"} for row in rows], indent=2)
    )
    print(table)
    print(f"results: {path}")


if __name__ == "__main__":
    main()
