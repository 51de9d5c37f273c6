"""Benchmark: ONNX export parity, int8 label agreement and throughput on the AG News test set.

For each run directory: export ONNX fp32 + int8 (`attentext.export.export_onnx`, the int8 settings
chosen on 1,024 texts of the train split, as `attentext export RUN --int8 --data DATA` does), then classify
the whole test set with torch fp32, ONNX fp32, ONNX int8 and PyTorch dynamic int8; report
accuracy, the largest logit difference to torch fp32, label agreement with torch fp32, and
texts/s on 1,000 texts at batch 32 (1 thread; interleaved rounds, best of 3).

    python benchmarks/export_parity.py runs/seed runs/rnn --data ../shared/datasets/ag_news
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from common import machine, markdown_table, save_results
from torch import nn

import attentext
from attentext.data.texts import sample_texts
from attentext.export.onnx import export_onnx
from attentext.inference.onnx_backend import OnnxClassifier
from attentext.inference.torch_backend import TransformersClassifier
from attentext.rundir import ONNX_DIR, ONNX_INT8_FILE
from attentext.rundir import ONNX_INFO_FILE as INFO_FILE

SECTION = "export_parity"


def backends_of(run: Path) -> dict[str, object]:
    torch_int8 = TransformersClassifier.from_run_dir(run, precision="fp32")
    # Linear layers only: attention-rnn runs each direction of its GRU/LSTM by functional_call
    # on the module's own weights (models/attention_rnn.py), which a quantized RNN does not have
    torch_int8.model = torch_int8.runner = torch.ao.quantization.quantize_dynamic(
        torch_int8.model, {nn.Linear}, dtype=torch.qint8
    )
    return {
        "torch fp32": TransformersClassifier.from_run_dir(run, precision="fp32"),
        "onnx fp32": OnnxClassifier.from_run_dir(run, threads=1),
        # by path: the benchmark measures the int8 file even where the backend would refuse it
        "onnx int8": OnnxClassifier.from_run_dir(
            run, model_path=run / ONNX_DIR / ONNX_INT8_FILE, threads=1
        ),
        "torch dynamic int8": torch_int8,
    }


COLUMNS = [
    ("run", "run"),
    ("backend", "backend"),
    ("test_accuracy", "test acc"),
    ("max_logit_diff", "max |logit diff|"),
    ("label_agreement", "labels = torch fp32"),
    ("texts_per_second", "texts/s (1 thread)"),
    ("int8_settings", "int8 settings chosen"),
    ("int8_accepted", "int8 accepted"),
]


def render(payload: dict[str, Any]) -> str:
    """The README table: accuracy, logit difference, agreement and texts/s per backend."""
    m = payload["machine"]
    head = f"{m['cpu']} ({m.get('cpu_capabilities', 'flags not recorded')}), {payload['n_test']:,} test texts.\n\n"
    return head + markdown_table(payload["results"], COLUMNS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dirs", nargs="+", type=Path)
    parser.add_argument("--data", default="../shared/datasets/ag_news")
    args = parser.parse_args()
    torch.set_num_threads(1)
    test = attentext.load_text_dataset(args.data, val_fraction=0.0)["test"]
    texts, gold = list(test["text"]), np.array(test["label"])
    check = sample_texts(args.data, 1024, split="train")
    rows = []
    for run in args.run_dirs:
        folder = export_onnx(run, int8=True, check_texts=check)
        int8 = json.loads((folder / INFO_FILE).read_text())["int8"]
        settings = "+".join(k for k, v in int8["settings"].items() if v) or "per-tensor 8-bit"
        backends = backends_of(run)
        logits = {name: c.logits(texts) for name, c in backends.items()}
        reference = logits["torch fp32"].argmax(1)
        sample = texts[:1000]
        times: dict[str, list[float]] = {name: [] for name in backends}
        for c in backends.values():
            c.batch_size = 32
            c.logits(sample[:64])  # warm up
        for _ in range(3):  # interleaved: a change of load hits every backend alike
            for name, c in backends.items():
                start = time.perf_counter()
                c.logits(sample)
                times[name].append(time.perf_counter() - start)
        for name, values in logits.items():
            rows.append(
                {
                    "run": run.name,
                    "backend": name,
                    "test_accuracy": float((values.argmax(1) == gold).mean()),
                    "max_logit_diff": f"{np.abs(values - logits['torch fp32']).max():.1e}",
                    "label_agreement": float((values.argmax(1) == reference).mean()),
                    "texts_per_second": len(sample) / min(times[name]),
                    "int8_settings": settings if name == "onnx int8" else None,
                    "int8_accepted": int8["accepted"] if name == "onnx int8" else None,
                }
            )
    payload = {
        "benchmark": SECTION,
        "machine": machine(),
        "n_test": len(texts),
        "results": rows,
    }
    save_results(SECTION, payload)
    print(render(payload))


if __name__ == "__main__":
    main()
