"""Choose fp32 or bf16 by what the hardware does, not by a fixed flag.

bf16 matmuls run ~5x faster than fp32 on AMD Zen5 CPUs but slower on Intel Xeons without AMX, so
`auto` times a few training steps of the actual model on an actual batch in both precisions,
caches the answer (per CPU model, torch version, threads, model and batch shape) in
~/.cache/attentext/precision.json, and picks bf16 only where it is clearly faster. Measured on a
Zen5 machine: bf16 wins for 384-wide encoders, loses for the 32-wide seed transformer.
"""

from __future__ import annotations

import copy
import json
import math
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import torch

CACHE_PATH = (
    Path(os.environ.get("ATTENTEXT_CACHE", Path.home() / ".cache" / "attentext")) / "precision.json"
)
BF16_MIN_SPEEDUP = 1.2  # below this, bf16's rounding is not worth it
PROBE_VERSION = 2  # part of the cache key: answers of an older probe are measured again


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def matmul_gflops(dtype: torch.dtype, size: int = 1024, seconds: float = 0.25) -> float:
    """GFLOP/s of a square matmul in `dtype` on the CPU: the machine's peak, for benchmarks."""
    a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
    torch.mm(a, b)  # warm up (kernel selection, allocation)
    runs, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        torch.mm(a, b)
        runs += 1
    return 2 * size**3 * runs / elapsed / 1e9


def _load_cache() -> dict[str, dict[str, float]]:
    try:
        return json.loads(CACHE_PATH.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def _store_cache(key: str, value: dict[str, float]) -> None:
    cache = _load_cache()
    cache[key] = value
    try:
        CACHE_PATH.parent.mkdir(parents=True, exist_ok=True)
        tmp = CACHE_PATH.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cache, indent=2))
        tmp.replace(CACHE_PATH)
    except OSError:
        pass  # a read-only home only costs a new probe next time


def inference_model(model: torch.nn.Module, precision: str) -> torch.nn.Module:
    """The model that inference runs: `model` itself in fp32, a bf16 copy of it in bf16.

    Inference has no optimizer and no gradients, so bf16 needs no fp32 master weights: a copy in
    bf16 does every op in bf16 without the casts autocast adds around each one. On a 2-core Xeon
    with AMX, MiniLM classified 547 texts/s this way, 398 under autocast and 183 in fp32
    (benchmarks/breakdown.py). A copy, not a cast in place: the fp32 weights stay the
    ones saved, trained and explained.
    """
    if precision != "bf16":
        return model
    return copy.deepcopy(model).to(torch.bfloat16).eval()


def _timed_step(
    model: torch.nn.Module, batch: dict[str, torch.Tensor], bf16: bool, train: bool
) -> Callable[[], float]:
    """A function that runs one step of what runs for real and returns its seconds.

    Training is autocast over the model; inference runs a bf16 copy (made once, here).
    """
    runner = model if train else inference_model(model, "bf16" if bf16 else "fp32")

    def step() -> float:
        start = time.perf_counter()
        with (
            torch.set_grad_enabled(train),
            torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16 and train),
        ):
            logits = runner(**batch).logits
        if train:
            logits.float().sum().backward()
        return time.perf_counter() - start

    return step


def probe_model(
    model: torch.nn.Module,
    batch: dict[str, torch.Tensor],
    train: bool = True,
    repeats: int = 3,
    refresh: bool = False,
) -> dict[str, float]:
    """Steps/s of `model` on `batch` in fp32 and in bf16 on this CPU (cached).

    The real model on a real batch, not a bare matmul: autocast adds casts around every op, which
    wide matmuls repay on CPUs with fast bf16 but narrow ones (the seed transformer's 32) do not.
    The two precisions alternate step by step and each keeps its fastest step: the answer is
    cached for good, so one step slowed by another process (or a first call's set-up) must not
    decide it; that happened with a mean of 3 steps in a row (fp32 timed 27x too slow, bf16
    chosen for a model it halves). Gradients are cleared and the RNG restored, so the probe
    leaves training unchanged.
    """
    n_params = sum(p.numel() for p in model.parameters())
    shape = tuple(batch["input_ids"].shape)
    key = (
        f"{cpu_model()}|torch {torch.__version__}|threads {torch.get_num_threads()}|"
        f"{type(model).__name__} {n_params}|batch {shape}|{'train' if train else 'infer bf16 weights'}"
        f"|probe {PROBE_VERSION}"
    )
    if not refresh and key in (cache := _load_cache()):
        return cache[key]
    was_training = model.training
    model.train(train)
    with torch.random.fork_rng():
        steps = {
            name: _timed_step(model, batch, name == "bf16", train) for name in ("fp32", "bf16")
        }
        for step in steps.values():  # warm up: kernel selection, allocation
            step()
        fastest = {name: math.inf for name in steps}
        for _ in range(repeats):
            for name, step in steps.items():
                fastest[name] = min(fastest[name], step())
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    result = {name: 1.0 / seconds for name, seconds in fastest.items()}
    _store_cache(key, result)
    return result


def resolve_precision(
    requested: str = "auto", probe: Callable[[], dict[str, float]] | None = None
) -> str:
    """'fp32' or 'bf16' for `requested` in auto|fp32|bf16; ATTENTEXT_PRECISION overrides auto.

    On a CPU, auto runs `probe` (e.g. `probe_model` on the model and a batch) and picks bf16 when
    it runs at least BF16_MIN_SPEEDUP times faster than fp32; without a probe, fp32.
    """
    if requested == "auto":
        requested = os.environ.get("ATTENTEXT_PRECISION", "auto")
    if requested in ("fp32", "bf16"):
        return requested
    if requested != "auto":
        raise ValueError(f"precision must be auto, fp32 or bf16, got {requested!r}")
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if probe is None or int(os.environ.get("WORLD_SIZE", "1")) > 1:
        # Several CPU processes would each time themselves, under each other's load, and could
        # disagree: they take fp32 unless told otherwise.
        return "fp32"
    speeds = probe()
    return "bf16" if speeds["bf16"] >= BF16_MIN_SPEEDUP * speeds["fp32"] else "fp32"


def matmul_peaks() -> dict[str, float]:
    """The machine's fp32 and bf16 square-matmul GFLOP/s, measured now (for shares of peak).

    Not cached: on a shared machine the peak of the moment is the honest denominator.
    """
    return {"fp32": matmul_gflops(torch.float32), "bf16": matmul_gflops(torch.bfloat16)}
