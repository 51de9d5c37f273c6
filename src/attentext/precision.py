"""Choose fp32 or bf16 by what the hardware does, not by a fixed flag.

First the CPU's capabilities: without native bf16 (the avx512_bf16 or amx_bf16 instructions)
torch's bf16 matmuls are emulated and run ~100x slower than fp32 (measured 0.9-1.3 GFLOP/s against
100-165 on an AVX2-only AMD EPYC), so `auto` is fp32 there at once, without timing anything.
Where bf16 can be fast, it may still lose: on an AMD Zen5 CPU bf16 matmuls run ~5x faster, yet the
32-wide seed transformer trains slower under autocast (the casts cost more than the matmuls
save). So there `auto` times a few steps of the actual model on an actual batch in both
precisions, within PROBE_BUDGET_S, caches the answer (keyed by the CPU's capabilities and flags,
torch version, threads, model and batch shape) in ~/.cache/attentext/precision.json, and picks
bf16 only where it is clearly faster.
"""

from __future__ import annotations

import copy
import json
import math
import os
import platform
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path

import torch

from attentext.errors import PrecisionError, check_device_name, shown, unknown_device
from attentext.files import cache_root, waiting_lock, write_json
from attentext.processes import world_size

BF16_MIN_SPEEDUP = 1.2  # below this, bf16's rounding is not worth it
PROBE_VERSION = 3  # part of the cache key: answers of an older probe are measured again
PROBE_BUDGET_S = 2.0  # the timed steps of a probe stop once they have taken this long
# CPU flags (as /proc/cpuinfo names them) that make bf16 matmuls native, and the others that
# change which kernels run: the cache key carries all of them.
BF16_FLAGS = ("avx512_bf16", "amx_bf16")
KEY_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", *BF16_FLAGS, "amx_tile", "amx_int8")


DEVICE_TYPES = ("cpu", "cuda", "mps")


def default_device() -> str:
    """Where models run when no device is named: the GPU if there is one."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def inference_device(device: str | torch.device | None) -> torch.device:
    """The device a loaded model runs on: `device`, or the GPU if there is one (None).

    A one-line `PrecisionError` for a device this machine cannot run: torch's own words are an
    AssertionError ("Torch not compiled with CUDA enabled") for `cuda` on a CPU-only build, a
    RuntimeError listing 20 device types for `gpu`, and `meta` fails at the first text.
    """
    check_device_name(device)
    chosen = torch.device(device or default_device())
    if chosen.type not in DEVICE_TYPES:  # a torch.device of another type ("meta")
        raise unknown_device(device)
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise PrecisionError(f"device '{chosen}': torch sees no CUDA GPU here; use cpu (or None)")
    if chosen.type == "cuda" and (chosen.index or 0) >= torch.cuda.device_count():
        raise PrecisionError(
            f"device '{chosen}': this machine has {torch.cuda.device_count()} CUDA GPU(s)"
        )
    if chosen.type == "mps" and not torch.backends.mps.is_available():
        raise PrecisionError(f"device '{chosen}': torch sees no Apple GPU here; use cpu (or None)")
    return chosen


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (Linux /proc/cpuinfo), plus what torch itself detects.

    torch's own checks (`torch.cpu._is_avx512_bf16_supported`, private but long-standing) cover
    systems without /proc/cpuinfo; either source saying yes counts.
    """
    flags: set[str] = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                flags.update(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    checks = {
        "avx2": "_is_avx2_supported",
        "avx512f": "_is_avx512_supported",
        "avx512_bf16": "_is_avx512_bf16_supported",
        "avx512_vnni": "_is_vnni_supported",
        "amx_tile": "_is_amx_tile_supported",
    }
    for flag, check in checks.items():
        try:
            if getattr(torch.cpu, check)():
                flags.add(flag)
        except (AttributeError, RuntimeError):
            pass
    if "amx_tile" in flags and "amx_bf16" not in flags and "avx512_bf16" in flags:
        flags.add("amx_bf16")  # torch checks AMX tiles; every AMX CPU has its bf16 part
    return frozenset(flags)


def cpu_capabilities() -> str:
    """What decides CPU speed per precision, in one line: the model name alone does not (two
    AMD EPYC generations print the same name, one with native bf16 and one without)."""
    flags = " ".join(f for f in KEY_FLAGS if f in cpu_flags()) or "none"
    return f"{cpu_model()}|{torch.backends.cpu.get_cpu_capability()}|{flags}"


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU runs bf16 matmuls natively (AVX512-BF16 or AMX); else they are emulated."""
    return any(flag in cpu_flags() for flag in BF16_FLAGS)


def matmul_gflops(dtype: torch.dtype, size: int = 1024, seconds: float = 0.25) -> float:
    """GFLOP/s of a square matmul in `dtype` on the CPU: the machine's peak, for benchmarks."""
    a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
    torch.mm(a, b)  # warm up (kernel selection, allocation)
    runs, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        torch.mm(a, b)
        runs += 1
    return 2 * size**3 * runs / elapsed / 1e9


def _cache_path() -> Path:
    return cache_root() / "precision.json"


def _load_cache() -> dict[str, dict[str, float]]:
    try:
        return json.loads(_cache_path().read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def _store_cache(key: str, value: dict[str, float]) -> None:
    """Add `key` to precision.json, read and written under a lock beside it: two probes at once
    each wrote the file whole with their own entry, the last dropping the other's."""
    path = _cache_path()
    try:
        with waiting_lock(path.with_name(f".{path.name}.lock")):
            cache = _load_cache()
            cache[key] = value
            write_json(path, cache)
    except OSError:
        pass  # a read-only home (or a lock held too long) only costs a new probe next time


def inference_model(model: torch.nn.Module, precision: str) -> torch.nn.Module:
    """The model that inference runs: `model` itself in fp32, a bf16 (fp16) copy of it in bf16 (fp16).

    Inference has no optimizer and no gradients, so bf16 needs no fp32 master weights: a copy in
    bf16 does every op in bf16 without the casts autocast adds around each one. On a 2-core Xeon
    with AMX, MiniLM classified 547 texts/s this way, 398 under autocast and 183 in fp32
    (benchmarks/breakdown.py). A copy, not a cast in place: the fp32 weights stay the
    ones saved, trained and explained.
    """
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    if dtype is None:
        return model
    return copy.deepcopy(model).to(dtype).eval()


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
    budget_s: float = PROBE_BUDGET_S,
) -> dict[str, float]:
    """Steps/s of `model` on `batch` in fp32 and in bf16 on this CPU (cached).

    The real model on a real batch, not a bare matmul: autocast adds casts around every op, which
    wide matmuls repay on CPUs with fast bf16 but narrow ones (the seed transformer's 32) do not.
    The two precisions alternate step by step and each keeps its fastest step: the answer is
    cached for good, so one step slowed by another process (or a first call's set-up) must not
    decide it; that happened with a mean of 3 steps in a row (fp32 timed 27x too slow, bf16
    chosen for a model it halves). After one warm-up step of each, timed rounds run while they
    fit in `budget_s` (at least one round), so a slow model costs a few seconds, not minutes.
    Gradients are cleared and the RNG restored, so the probe leaves training unchanged.
    """
    n_params = sum(p.numel() for p in model.parameters())
    shape = tuple(batch["input_ids"].shape)
    key = (
        f"{cpu_capabilities()}|torch {torch.__version__}|threads {torch.get_num_threads()}|"
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
        started = time.perf_counter()
        for step in steps.values():  # warm up: kernel selection, allocation
            step()
        fastest = {name: math.inf for name in steps}
        for round_ in range(repeats):
            if round_ and time.perf_counter() - started > budget_s:
                break
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

    On a GPU, auto is bf16 where the GPU supports it, else fp16 (fp16 is for GPUs only). On a CPU without native bf16 it is fp32 at
    once; on one with native bf16 it runs `probe` (e.g. `probe_model` on the model and a batch)
    and picks bf16 when it runs at least BF16_MIN_SPEEDUP times faster than fp32; without a
    probe, fp32.
    """
    requested_arg = requested
    if requested == "auto":
        requested = os.environ.get("ATTENTEXT_PRECISION", "auto")
    if requested == "fp16" and not torch.cuda.is_available():
        raise PrecisionError(
            "precision fp16 needs a CUDA GPU (autocast with loss scaling); on a CPU use fp32, "
            "bf16 or auto"
        )
    if requested in ("fp32", "bf16", "fp16"):
        return requested
    if requested != "auto":  # a PrecisionError: one line, also for ATTENTEXT_PRECISION=fp64
        source = "precision" if requested_arg != "auto" else "ATTENTEXT_PRECISION"
        raise PrecisionError(f"{source} must be auto, fp32, bf16 or fp16, got '{shown(requested)}'")
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if not cpu_has_fast_bf16():
        return "fp32"  # emulated bf16: ~100x slower matmuls, nothing to time
    if probe is None or world_size() > 1:
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
