"""Export a run directory's model to ONNX, checked against PyTorch before anything is written.

    attentext export RUN_DIR --format onnx [--int8] [--data TEXTS]

writes `RUN_DIR/onnx/model.onnx` (inputs `input_ids` and `attention_mask`, int64, both
(batch, sequence); output `logits`, (batch, num_labels); batch and sequence are dynamic axes)
and, with `--int8`, `model.int8.onnx` (see `export.int8`). Then `attentext.load(run_dir,
backend="onnx")` (or "onnx-int8"), `predict --backend onnx` and `serve --backend onnx` run it with
ONNX Runtime (`inference.onnx_backend`).

The graph comes from the torch.export-based exporter (`torch.onnx.export(dynamo=True)`, which
needs onnxscript). Every neural family exports: seed-transformer, encoder-classifier (frozen or
fine-tuned encoders), `hf-sequence-classification` checkpoints and the attention RNN as they are
(the RNN reads padded texts without packed sequences, which torch.export could not trace). The
older TorchScript exporter (`dynamo=False`) is no option: it rejects the seed transformer's
in-place mask update and baked the example's lengths into packed sequences (wrong logits for
other inputs). ONNX Runtime's logits must match PyTorch's
within `PARITY_ATOL` + `PARITY_RTOL` * |logit| on a padded batch of random token sequences of
different lengths, or nothing is written; the largest difference is recorded in export.json.
Files are written atomically (a temporary file in the same folder, then a rename), export.json
last; temporaries a killed export left are removed by the next one.

A run that reads long texts in chunks exports its window model: the graph classifies windows
(rows of at most max_length tokens), and a model with attention over windows has a second
output, `window_scores` (batch,). The aggregation stays outside the graph, in
`text.windows.combine_windows` (mean or max of a text's window logits, or their softmax-of-scores
weighted sum): a document has any number of windows, batched with other documents' windows, and
that grouping is data, not a shape ONNX can fix. The ONNX classifier aggregates exactly as the
PyTorch one does; both outputs pass the parity gate, and export.json records the chunking and
the aggregation a reader must apply.
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from attentext import rundir
from attentext.data.readers import text_list
from attentext.errors import AttentextError, yes_or_no
from attentext.export.int8 import (
    RANDOM_CHECK_ROWS,
    Calibrate,
    choose_int8,
    int8_report,
    probabilities,
    quiet_exporter,
    random_sequences,
)
from attentext.files import (
    files_replaced_together,
    path_parameter,
    remove_stale_temporaries,
    write_json,
)
from attentext.inference.onnx_backend import (
    INSTALL_HINT,
    WINDOW_SCORES,
    calibration_digest,
    run_session_windows,
    session,
)
from attentext.inference.torch_backend import TransformersClassifier
from attentext.outputs import check_export_folder
from attentext.rundir import (
    ENSEMBLE_KIND,
    ONNX_DIR,
    ONNX_FP32_FILE,
    ONNX_INFO_FILE,
    ONNX_INT8_FILE,
    TRANSFORMERS_KIND,
    Run,
    open_run,
)
from attentext.text.windows import combine_windows, flatten

INPUT_NAMES = ("input_ids", "attention_mask")
# Export gate: |ONNX - PyTorch| <= atol + rtol * |PyTorch| on every logit of a check batch, or
# nothing is written. Loose enough for deep encoders (ORT fuses and reorders float32 sums); the
# small models here land near 1e-6 (the measured value is in export.json).
PARITY_ATOL = 1e-3
PARITY_RTOL = 1e-3
EXPORT_FILES = (ONNX_FP32_FILE, ONNX_INT8_FILE, ONNX_INFO_FILE)  # an export's, replaced together
EXPORTABLE = "seed-transformer, attention-rnn, encoder-classifier and Hugging Face runs"


class _Logits(nn.Module):
    """(input_ids, attention_mask) -> logits: the signature the ONNX graph gets."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits


class _LogitsAndScores(_Logits):
    """(input_ids, attention_mask) -> (logits, window_scores): a model with attention over the
    windows of long texts; the windows are combined outside the graph."""

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        output = self.model(input_ids=input_ids, attention_mask=attention_mask)
        return output.logits, output.window_scores


def _output_names(model: nn.Module) -> list[str]:
    """The graph's outputs: logits, and window scores where the model learned them."""
    return ["logits", WINDOW_SCORES] if _has_window_attention(model) else ["logits"]


def _has_window_attention(model: nn.Module) -> bool:
    return getattr(model, "window_attention", None) is not None


def _exportable(model: nn.Module) -> nn.Module:
    return (_LogitsAndScores if _has_window_attention(model) else _Logits)(model).eval()


def _check_batch(vocab_size: int, pad_id: int, max_length: int, seed: int) -> dict[str, np.ndarray]:
    """A right-padded batch of 4 random texts of different lengths (1 to max_length tokens)."""
    generator = np.random.default_rng(seed)
    width = max(2, min(max_length, 24))
    lengths = sorted({width, max(1, width // 2), min(3, width), 1}, reverse=True)
    while len(lengths) < 4:
        lengths.append(lengths[-1])
    ids = np.full((len(lengths), width), pad_id, dtype=np.int64)
    mask = np.zeros_like(ids)
    low = min(2, vocab_size - 1)  # above padding/[UNK] where the vocabulary allows
    for row, length in enumerate(lengths):
        ids[row, :length] = generator.integers(low, vocab_size, size=length)
        mask[row, :length] = 1
    return {"input_ids": ids, "attention_mask": mask}


def _torch_windows(model: nn.Module, batch: dict[str, np.ndarray]) -> np.ndarray:
    """(B, C + 1) logits and window scores by PyTorch (scores 0 without window attention)."""
    with torch.no_grad():
        output = model(**{k: torch.from_numpy(v) for k, v in batch.items()})
    scores = getattr(output, "window_scores", None)
    column = torch.zeros(len(output.logits)) if scores is None else scores
    return torch.cat([output.logits, column[:, None]], dim=1).numpy()


def _export_graph(model: nn.Module, run_dir: Path, sample: dict[str, np.ndarray], path: Path):
    """The ONNX graph of `model` written to `path`; the exporter's program is returned."""
    args = tuple(torch.from_numpy(sample[name]) for name in INPUT_NAMES)
    batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence")
    try:
        with quiet_exporter(), torch.no_grad():
            program = torch.onnx.export(
                _exportable(model),
                args,
                input_names=list(INPUT_NAMES),
                output_names=_output_names(model),
                dynamic_shapes={name: {0: batch, 1: sequence} for name in INPUT_NAMES},
                dynamo=True,
                external_data=False,
                verbose=False,
            )
            program.save(str(path), external_data=False)
    except AttentextError:
        raise
    except Exception as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise AttentextError(
            f"{run_dir}: ONNX export of {type(model).__name__} failed ({first}); "
            f"exportable: {EXPORTABLE}"
        ) from err
    return program


def _check_parity(
    model: nn.Module, run_dir: Path, path: Path, check: dict[str, np.ndarray]
) -> float:
    """The largest |ONNX - PyTorch| logit (or window score) on `check`; an error past the
    tolerance."""
    expected = _torch_windows(model, check)
    got = run_session_windows(session(path, threads=1), check)
    diff = float(np.abs(got - expected).max())
    if not np.allclose(got, expected, atol=PARITY_ATOL, rtol=PARITY_RTOL):
        raise AttentextError(
            f"{run_dir}: the ONNX model's logits differ from PyTorch's by up to {diff:.2g} "
            f"(tolerance {PARITY_ATOL:g} + {PARITY_RTOL:g} * |logit|); nothing was written"
        )
    return diff


def _check_inputs(
    classifier: TransformersClassifier, texts: list[str] | None
) -> tuple[list[list[int]], Calibrate, str]:
    """The windows that judge int8 against fp32, what makes of their outputs ((N, C + 1): each
    window's logits and score) the probabilities `predict_proba` gives each check text, and how
    to name the texts in export.json. A run that reads long texts in windows is judged as
    `predict` reads them, every window of a text combined: its check read each text's first
    window alone (recorded 100 % agreement where predict's labels agreed on 98.75 %)."""
    if texts:
        windows, counts = flatten(classifier.encode_windows(texts))
        source = f"{len(texts)} texts given at export"
    else:
        size = len(classifier.tokenizer)
        windows = random_sequences(size, classifier.max_length, RANDOM_CHECK_ROWS, 2)
        counts = np.ones(len(windows), dtype=np.int64)  # each sequence a text of one window
        source = f"{len(windows)} random token sequences (pass texts for a real check)"

    def calibrate(outputs: np.ndarray) -> np.ndarray:
        how = classifier.aggregation
        logits, _ = combine_windows(outputs[:, :-1], outputs[:, -1], counts, how)
        return classifier.probabilities_of(logits)

    return windows, calibrate, source


def _require_onnx_tools() -> None:
    try:
        import onnxruntime.quantization  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as error:
        raise AttentextError(f"ONNX export needs {error.name}; {INSTALL_HINT}") from None


def export_onnx(
    run_dir: str | Path,
    output: str | Path | None = None,
    int8: bool = False,
    check_texts: list[str] | None = None,
    force_int8: bool = False,
) -> Path:
    """Export a run directory's model to ONNX; returns the folder written (`<run_dir>/onnx/`).

    Writes `model.onnx` (fp32), with `int8` also `model.int8.onnx`, and `export.json` (opset,
    versions, files, the measured parity and int8 agreement). The int8 settings are chosen on
    `check_texts` (the user's own texts: the honest check) or, without them, on random token
    sequences; an agreement under the floor is recorded as not accepted unless `force_int8`.
    An int8 file from an earlier export is removed when `int8` is False, so the folder never
    mixes two exports. Raises `AttentextError` (one line) for a TF-IDF run, an incomplete run or
    a failed export.
    """
    run_dir = path_parameter(run_dir, "run_dir")
    output = path_parameter(output, "output", optional=True)
    run = open_run(run_dir)
    int8, force_int8 = yes_or_no(int8, "int8"), yes_or_no(force_int8, "force_int8")
    # a single string was judged as texts of one character each ("15 texts given at export")
    check_texts = None if check_texts is None else text_list(check_texts)
    if output is not None:
        check_export_folder(output)
    if run.kind != TRANSFORMERS_KIND:
        raise AttentextError(f"{run.path}: {_not_exportable(run)}; ONNX export is for {EXPORTABLE}")
    _require_onnx_tools()
    # Loaded as for inference (safetensors only, the same checks and max length), in fp32.
    classifier = TransformersClassifier.from_run(run, precision="fp32", device="cpu")
    folder = Path(output) if output is not None else run.path / ONNX_DIR
    with rundir.writing(folder, "export"):
        _write_export(classifier, run.path, folder, int8, check_texts, force_int8)
    return folder


def _not_exportable(run: Run) -> str:
    """Why `run` has nothing to export, and for an ensemble which member has: "export its
    members" was said of an ensemble of TF-IDF runs too, whose members are refused alike."""
    if run.kind != ENSEMBLE_KIND:
        return "a TF-IDF run has no neural network to export"
    neural = [m for m, _ in run.members if open_run(m).kind == TRANSFORMERS_KIND]
    if not neural:
        return "an ensemble has no network of its own to export, and none of its members is one"
    return f"an ensemble has no network of its own to export; export a member ({neural[0]})"


def _write_export(
    classifier: TransformersClassifier,
    run_dir: Path,
    folder: Path,
    int8: bool,
    check_texts: list[str] | None,
    force_int8: bool,
) -> None:
    """The files of an export, written into a staging folder and renamed in together, in place
    of an earlier export's (the folder is held): renamed one by one, export.json last, a full
    disk or Ctrl-C before the record left a new model.onnx beside the earlier export's record
    (another run's weights, another int8 file's agreement), read as one export."""
    for name in (ONNX_FP32_FILE, ONNX_INT8_FILE, ONNX_INFO_FILE):
        remove_stale_temporaries(folder / name)  # a killed export's: none is being written now
    with files_replaced_together(folder, lambda name: name in EXPORT_FILES) as staging:
        model = classifier.model.float().eval()
        program, diff = _write_fp32(model, classifier, run_dir, staging / ONNX_FP32_FILE)
        report = None
        if int8:
            report = _write_int8(model, classifier, run_dir, staging, check_texts, force_int8)
        record = _export_record(run_dir, model, program, diff, report)
        write_json(staging / ONNX_INFO_FILE, {**record, **_windows_record(classifier)})


def _write_fp32(
    model: nn.Module, classifier: TransformersClassifier, run_dir: Path, target: Path
) -> tuple[Any, float]:
    """model.onnx at `target`, and its largest difference from PyTorch on a check batch."""
    vocab_size, pad_id = len(classifier.tokenizer), classifier.pad_id
    sample = _check_batch(vocab_size, pad_id, classifier.max_length, seed=0)
    program = _export_graph(model, run_dir, sample, target)
    check = _check_batch(vocab_size, pad_id, classifier.max_length, seed=1)
    return program, _check_parity(model, run_dir, target, check)


def _write_int8(
    model: nn.Module,
    classifier: TransformersClassifier,
    run_dir: Path,
    staging: Path,
    check_texts: list[str] | None,
    force_int8: bool,
) -> dict[str, Any]:
    """model.int8.onnx in `staging`, beside its model.onnx; the record of its agreement, its
    labels compared as predict decides them (windows combined, calibrated)."""
    pad_id = classifier.pad_id
    encoded, calibrate, source = _check_inputs(classifier, check_texts)
    thresholds = classifier.thresholds if classifier.multi_label else None
    reference = probabilities(partial(_torch_windows, model), encoded, pad_id, calibrate)
    chosen, choice = choose_int8(
        staging / ONNX_FP32_FILE, encoded, reference, pad_id, calibrate, thresholds
    )
    os.replace(chosen, staging / ONNX_INT8_FILE)
    report = int8_report(choice, source, force_int8)
    report["calibration_digest"] = calibration_digest(run_dir)  # what it measured under
    return report


def _export_record(
    run_dir: Path, model: nn.Module, program: Any, diff: float, int8: dict[str, Any] | None
) -> dict[str, Any]:
    import onnxruntime  # deferred: an optional dependency, checked present by the export

    files = [ONNX_FP32_FILE] + ([ONNX_INT8_FILE] if int8 is not None else [])
    return {
        "source": str(run_dir.resolve()),
        "weights_sha256": rundir.weights_digest(run_dir),
        "model_type": model.config.model_type,
        "files": files,
        "inputs": list(INPUT_NAMES),
        "output": "logits",
        "outputs": _output_names(model),
        "opset": next(o.version for o in program.model_proto.opset_import if not o.domain),
        "int8": int8,
        "parity_max_abs_diff": diff,
        "parity_tolerance": {"atol": PARITY_ATOL, "rtol": PARITY_RTOL},
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
    }


def _windows_record(classifier: TransformersClassifier) -> dict[str, Any]:
    """What a reader of the graph must do for long texts: the run's chunking and aggregation
    (applied outside the graph), or nothing for a run that truncates."""
    if classifier.chunking is None:
        return {}
    return {
        "long_text": {
            "chunking": classifier.chunking.to_dict(),
            "window_length": classifier.max_length,
            "aggregation": classifier.aggregation,
            "aggregated": "outside the graph (attentext.text.windows.combine_windows)",
        }
    }
