"""Choose fp32 or bf16 by what the hardware does, not by a fixed flag.

bf16 matmuls run ~5x faster than fp32 on AMD Zen5 CPUs but slower on Intel Xeons without AMX, so
`auto` measures both once (a ~1 s probe), caches the answer per CPU model and torch version in
~/.cache/attentext/precision.json, and picks bf16 only where it is clearly faster.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import torch

CACHE_PATH = Path(os.environ.get("ATTENTEXT_CACHE", Path.home() / ".cache" / "attentext")) / "precision.json"
BF16_MIN_SPEEDUP = 1.2  # below this, bf16's rounding is not worth it


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def matmul_gflops(dtype: torch.dtype, size: int = 1024, seconds: float = 0.3) -> float:
    """Measured GFLOP/s of a square matmul in `dtype` on the CPU with the current thread count."""
    a = torch.randn(size, size).to(dtype)
    b = torch.randn(size, size).to(dtype)
    torch.mm(a, b)  # warm up (kernel selection, allocation)
    runs, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        torch.mm(a, b)
        runs += 1
    return 2 * size**3 * runs / elapsed / 1e9


def _cache_key() -> str:
    return f"{cpu_model()}|torch {torch.__version__}|threads {torch.get_num_threads()}"


def probe_cpu(refresh: bool = False) -> dict[str, float]:
    """fp32 and bf16 matmul GFLOP/s on this CPU, from the cache when measured before."""
    key = _cache_key()
    cache: dict[str, dict[str, float]] = {}
    if CACHE_PATH.exists():
        try:
            cache = json.loads(CACHE_PATH.read_text())
        except (OSError, json.JSONDecodeError):
            cache = {}
    if not refresh and key in cache:
        return cache[key]
    result = {"fp32": matmul_gflops(torch.float32), "bf16": matmul_gflops(torch.bfloat16)}
    cache[key] = result
    try:
        CACHE_PATH.parent.mkdir(parents=True, exist_ok=True)
        tmp = CACHE_PATH.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cache, indent=2))
        tmp.replace(CACHE_PATH)
    except OSError:
        pass  # a read-only home only costs a new probe next time
    return result


def resolve_precision(requested: str = "auto") -> str:
    """'fp32' or 'bf16' for `requested` in auto|fp32|bf16; ATTENTEXT_PRECISION overrides auto."""
    if requested == "auto":
        requested = os.environ.get("ATTENTEXT_PRECISION", "auto")
    if requested in ("fp32", "bf16"):
        return requested
    if requested != "auto":
        raise ValueError(f"precision must be auto, fp32 or bf16, got {requested!r}")
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    speeds = probe_cpu()
    return "bf16" if speeds["bf16"] >= BF16_MIN_SPEEDUP * speeds["fp32"] else "fp32"
