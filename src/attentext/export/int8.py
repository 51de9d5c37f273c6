"""int8 ONNX by ONNX Runtime's dynamic quantization, its settings chosen by measurement.

Which settings keep a model's labels depends on the model and on the CPU: without VNNI, x86 CPUs
saturate u8s8 products (an AVX2-only AMD EPYC gave a frozen MiniLM 97.3 % label agreement where
CPUs with VNNI gave 99.9 %), and BERT-style encoders carry activation outliers that a per-tensor
scale flattens. So the export quantizes with each candidate below, runs each on check texts, and
keeps the one whose labels agree best with fp32; what was measured goes into export.json, and an
agreement under INT8_MIN_AGREEMENT makes the onnx-int8 backend refuse the file unless forced.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from attentext.files import temporary_beside
from attentext.inference.onnx_backend import run_session_windows, session
from attentext.precision import cpu_capabilities
from attentext.text.batching import run_in_batches

# The share of check texts whose int8 label equals the fp32 label that an int8 file needs.
# Measured on AG News test (benchmarks/export_parity.py): 99.9-100 % for the word models and the
# fine-tuned MiniLM; the frozen MiniLM's linear probe, whose labels sit close to its boundaries,
# stays under it on every setting tried (one quantized FFN matrix alone flips 1 % of them).
INT8_MIN_AGREEMENT = 0.99
# The settings tried (ties: the smaller largest probability change, then the earlier one).
# reduce_range (7-bit weights) is ORT's documented remedy for CPUs without VNNI; keep_fp32_after
# "Gelu" leaves the MatMuls that read a GELU's output in fp32 (their inputs carry the outliers).
INT8_CANDIDATES = (
    {"per_channel": False, "reduce_range": False, "keep_fp32_after": None},
    {"per_channel": True, "reduce_range": False, "keep_fp32_after": None},
    {"per_channel": False, "reduce_range": True, "keep_fp32_after": None},
    {"per_channel": True, "reduce_range": True, "keep_fp32_after": None},
    {"per_channel": True, "reduce_range": False, "keep_fp32_after": "Gelu"},
)
RANDOM_CHECK_ROWS = 256  # random token sequences checked when no texts are given


@contextmanager
def quiet_exporter() -> Iterator[None]:
    """Keep the exporters' warnings and log lines off the terminal: torch.onnx's (deprecations,
    torchvision) and the quantizer's advice on the root logger."""
    loggers = [logging.getLogger("torch.onnx"), logging.getLogger()]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def random_sequences(vocab_size: int, max_length: int, rows: int, seed: int) -> list[list[int]]:
    """`rows` random token sequences of 1 to min(max_length, 64) tokens (above padding/[UNK])."""
    generator = np.random.default_rng(seed)
    longest = max(1, min(max_length, 64))
    low = min(2, vocab_size - 1)
    lengths = generator.integers(1, longest + 1, size=rows)
    return [generator.integers(low, vocab_size, size=int(n)).tolist() for n in lengths]


# the (N, C + 1) outputs of check windows (logits, window score) -> what predict_proba answers
Calibrate = Callable[[np.ndarray], np.ndarray]


def probabilities(
    run: Callable[[dict[str, np.ndarray]], np.ndarray],
    encoded: list[list[int]],
    pad_id: int,
    calibrate: Calibrate,
) -> np.ndarray:
    """The probabilities `predict_proba` gives from `run(padded batch) -> (B, C + 1)` (each
    window's logits and score) over the windows `encoded`: `calibrate` combines a text's windows
    as the run does and applies the classifier's `probabilities_of` (the run's temperature and
    label prior, or each label's calibrated sigmoid), as float64."""
    return np.asarray(calibrate(run_in_batches(encoded, run, pad_id)), dtype=np.float64)


def decisions(probabilities: np.ndarray, thresholds: np.ndarray | None) -> np.ndarray:
    """What must agree, as `predict` decides: the top label, or (multi-label: the run's
    `thresholds`) the set of labels at or over their threshold, per row.

    A multi-label run's labels were compared at 0.5 on uncalibrated sigmoids, while `predict`
    cuts calibrated ones at thresholds tuned on validation (0.05 to 0.6 on Reuters): on Reuters'
    test texts an int8 file agreed on 99.97 % at 0.5 and on 99.40 % as `predict` decides, so the
    floor could pass a file whose labels agree less than it requires.
    """
    if thresholds is not None:
        return np.packbits(probabilities >= thresholds, axis=1)
    return probabilities.argmax(axis=-1)[:, None]


def nodes_after(model_path: Path, op_type: str | None) -> list[str]:
    """Names of the MatMul/Gemm nodes whose first input is the output of an `op_type` node."""
    if op_type is None:
        return []
    import onnx  # deferred: an optional dependency (attentext[onnx])

    graph = onnx.load(str(model_path), load_external_data=False).graph
    made_by = {output: node.op_type for node in graph.node for output in node.output}
    return [
        node.name
        for node in graph.node
        if node.op_type in ("MatMul", "Gemm") and made_by.get(node.input[0]) == op_type
    ]


def _quantize(fp32_path: Path, target: Path, settings: dict[str, Any], excluded: list[str]) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic  # deferred: optional

    with quiet_exporter():
        quantize_dynamic(
            str(fp32_path),
            str(target),
            weight_type=QuantType.QInt8,
            per_channel=settings["per_channel"],
            reduce_range=settings["reduce_range"],
            nodes_to_exclude=excluded,
        )


def choose_int8(
    fp32_path: Path,
    encoded: list[list[int]],
    reference: np.ndarray,
    pad_id: int,
    calibrate: Calibrate,
    thresholds: np.ndarray | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Quantize with each applicable candidate, keep the file whose labels agree best with fp32
    (multi-label, `thresholds` given: whose label sets are the same), both as `predict` decides
    (`reference`: fp32's `probabilities`).

    Returns the kept temporary file (beside `fp32_path`) and what was measured per candidate.
    """
    labels = decisions(reference, thresholds)
    measured: list[dict[str, Any]] = []
    kept: Path | None = None
    chosen: dict[str, Any] = {}
    best = (-1.0, -np.inf)
    for settings in INT8_CANDIDATES:
        excluded = nodes_after(fp32_path, settings["keep_fp32_after"])
        if settings["keep_fp32_after"] and not excluded:
            continue  # no such node: the candidate would repeat another one
        tmp = temporary_beside(fp32_path)
        _quantize(fp32_path, tmp, settings, excluded)
        int8_session = session(tmp, threads=1)
        got = probabilities(partial(run_session_windows, int8_session), encoded, pad_id, calibrate)
        row = {
            **settings,
            "label_agreement": float((decisions(got, thresholds) == labels).all(axis=1).mean()),
            "max_probability_diff": float(np.abs(got - reference).max()),
        }
        measured.append(row)
        rank = (row["label_agreement"], -row["max_probability_diff"])
        if rank > best:
            if kept is not None:
                kept.unlink(missing_ok=True)
            kept, chosen, best = tmp, row, rank
        else:
            tmp.unlink(missing_ok=True)
    assert kept is not None, "the first candidate always applies"
    return kept, {"chosen": chosen, "candidates": measured}


def int8_report(choice: dict[str, Any], check: str, forced: bool) -> dict[str, Any]:
    """What export.json records of the int8 file: settings, agreement, and whether it is accepted."""
    chosen = choice["chosen"]
    agreement = chosen["label_agreement"]
    return {
        "method": "onnxruntime.quantization.quantize_dynamic, QInt8 weights",
        "settings": {k: chosen[k] for k in ("per_channel", "reduce_range", "keep_fp32_after")},
        "label_agreement": agreement,
        "max_probability_diff": chosen["max_probability_diff"],
        "check": check,
        "measured_on": cpu_capabilities(),
        "min_agreement": INT8_MIN_AGREEMENT,
        "accepted": forced or agreement >= INT8_MIN_AGREEMENT,
        "forced": forced and agreement < INT8_MIN_AGREEMENT,
        "candidates": choice["candidates"],
    }
