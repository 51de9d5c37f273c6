"""GPU check: does the CUDA path hold end to end? Run it on any machine with an NVIDIA GPU.

Trains seed-transformer and fine-tunes the MiniLM recipe (encoder-finetune) for a few hundred
steps on the GPU under autocast (bf16 where the GPU has it, else fp16), evaluates both, predicts
on the GPU and compares with the CPU's fp32 labels, exports the fine-tuned run to ONNX (on the
CPU, parity checked) and prints, step by step, what held and what failed. Nothing here is a
timed test: it records what a user with a GPU would see.

    python benchmarks/gpu_check.py --data ../shared/datasets/ag_news --steps 300
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import torch
from common import markdown_table, publish

import attentext

SECTION = "gpu_check"


def gpu_facts() -> dict[str, Any]:
    if not torch.cuda.is_available():
        return {"cuda": False}
    props = torch.cuda.get_device_properties(0)
    return {
        "cuda": True,
        "device": props.name,
        "memory_gib": round(props.total_memory / 2**30, 1),
        "bf16": torch.cuda.is_bf16_supported(),
        "torch": torch.__version__,
        "cuda_version": torch.version.cuda,
    }


class Steps:
    """Runs named steps, records each one's outcome and seconds, never stops at a failure."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def run(self, name: str, step, *args) -> Any:
        start = time.perf_counter()
        try:
            value = step(*args)
        except Exception as error:
            self.rows.append(
                {
                    "step": name,
                    "held": False,
                    "seconds": round(time.perf_counter() - start, 1),
                    "detail": f"{type(error).__name__}: {str(error).splitlines()[0][:200]}",
                }
            )
            traceback.print_exc()
            return None
        detail = value.pop("detail", "") if isinstance(value, dict) else ""
        self.rows.append(
            {
                "step": name,
                "held": True,
                "seconds": round(time.perf_counter() - start, 1),
                "detail": detail,
                **(value if isinstance(value, dict) else {}),
            }
        )
        return value


def train_step(recipe: str, data: str, out: Path, steps: int, precision: str) -> dict[str, Any]:
    result = attentext.train(
        recipe, data, out, max_steps=steps, precision=precision, overwrite=True
    )
    m = result.metrics
    return {
        "run": str(result.run_dir),
        "detail": f"test acc {m['test']['accuracy']:.4f}, {m['train_samples_per_second']:.0f} "
        f"samples/s, {m['precision']}",
        "test_accuracy": m["test"]["accuracy"],
    }


def predict_step(run: Path, texts: list[str]) -> dict[str, Any]:
    gpu = attentext.load(run, device="cuda")
    cpu = attentext.load(run, precision="fp32", device="cpu")
    gpu.predict_proba(texts[:64])  # warm up
    passes = []
    for _ in range(2):  # the first pass meets each batch shape for the first time
        torch.cuda.synchronize()
        start = time.perf_counter()
        on_gpu = gpu.predict_proba(texts)
        torch.cuda.synchronize()
        passes.append(len(texts) / (time.perf_counter() - start))
    on_cpu = cpu.predict_proba(texts[:1000])
    agreement = float((on_gpu[:1000].argmax(1) == on_cpu.argmax(1)).mean())
    return {
        "detail": f"{passes[0]:,.0f} texts/s on the GPU ({gpu.precision}) in a first pass, "
        f"{passes[1]:,.0f} in a second; labels = CPU fp32 on {100 * agreement:.2f} % of 1,000",
        "texts_per_second": passes[0],
        "texts_per_second_second_pass": passes[1],
        "label_agreement_with_cpu": agreement,
    }


def export_step(run: Path, texts: list[str]) -> dict[str, Any]:
    from attentext.export.onnx import export_onnx
    from attentext.rundir import ONNX_INFO_FILE as INFO_FILE

    folder = export_onnx(run, int8=True, check_texts=texts[:512])
    info = json.loads((folder / INFO_FILE).read_text())
    return {
        "detail": f"ONNX parity {info['parity_max_abs_diff']:.1e}; int8 agreement "
        f"{100 * info['int8']['label_agreement']:.2f} %",
    }


COLUMNS = [("step", "step"), ("held", "held"), ("seconds", "s"), ("detail", "detail")]


def render(payload: dict[str, Any]) -> str:
    gpu = payload["gpu"]
    head = (
        f"{gpu['device']} ({gpu['memory_gib']} GiB, bf16 {gpu['bf16']}), torch {gpu['torch']}, "
        f"CUDA {gpu['cuda_version']}; {payload['steps']} training steps per recipe.\n\n"
    )
    return head + markdown_table(payload["results"], COLUMNS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/datasets/ag_news")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--output", type=Path, default=None, help="where the runs go")
    args = parser.parse_args()
    gpu = gpu_facts()
    print(json.dumps(gpu))
    if not gpu["cuda"]:
        print("no CUDA GPU here: nothing checked, results/gpu_check.json left as it was")
        return
    steps = Steps()
    precision = "bf16" if gpu["bf16"] else "fp16"
    out = args.output or Path(tempfile.mkdtemp(prefix="gpu-check-"))
    test = attentext.load_text_dataset(args.data, val_fraction=0.0)["test"]
    texts = list(test["text"])
    for recipe in ("seed-transformer", "encoder-finetune"):
        trained = steps.run(
            f"train {recipe} ({precision})",
            train_step,
            recipe,
            args.data,
            out / recipe,
            args.steps,
            precision,
        )
        if trained is not None:
            steps.run(f"predict {recipe} on the GPU", predict_step, Path(trained["run"]), texts)
    if (out / "encoder-finetune").exists():
        steps.run("export encoder-finetune to ONNX", export_step, out / "encoder-finetune", texts)
    payload = {"benchmark": SECTION, "gpu": gpu, "steps": args.steps, "results": steps.rows}
    publish(SECTION, payload, render)
    if not all(row["held"] for row in steps.rows):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
