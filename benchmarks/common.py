"""Shared helpers of the benchmarks: machine facts, JSON results, markdown tables."""

from __future__ import annotations

import json
import os
import platform
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from attentext.precision import cpu_capabilities, cpu_model, matmul_peaks

RESULTS = Path(__file__).parent / "results"
README = Path(__file__).parent / "README.md"


def machine() -> dict[str, Any]:
    """What the figures depend on: CPU, threads, torch, the matmul peaks measured now, the load."""
    peaks = matmul_peaks()
    return {
        "cpu": cpu_model(),
        "cpu_capabilities": cpu_capabilities().split("|", 1)[1],  # torch's level and the flags
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "matmul_gflops_fp32": round(peaks["fp32"], 1),
        "matmul_gflops_bf16": round(peaks["bf16"], 1),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def machine_line(m: dict[str, Any]) -> str:
    """The head of a table: the CPU, its capabilities and the cores (from `machine()`)."""
    return f"{m['cpu']} ({m.get('cpu_capabilities', '')}), {m['cores']} cores"


def save_results(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def markdown_table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> str:
    """A markdown table of `rows`, with (key, header) columns."""
    lines = ["| " + " | ".join(h for _, h in columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = []
        for key, _ in columns:
            value = row.get(key)
            if value is None:
                cells.append("-")
            elif isinstance(value, float):
                cells.append(
                    f"{value:.4f}"
                    if value < 1
                    else f"{value:,.2f}"
                    if value < 100
                    else f"{value:,.0f}"
                )
            else:
                cells.append(str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def replace_section(name: str, content: str) -> None:
    """Rewrite the README section between `<!-- name:start -->` and `<!-- name:end -->`."""
    text = README.read_text() if README.exists() else ""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{content}\n{end}"
    if start in text and end in text:
        text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    README.write_text(text)


def publish(section: str, payload: dict[str, Any], render: Callable[[dict[str, Any]], str]) -> None:
    """Save `payload` as results/<section>.json, rewrite the README section, print the table."""
    path = save_results(section, payload)
    table = render(payload)
    replace_section(section, table)
    print(table)
    print(f"results: {path}")
