"""`OnnxClassifier`: an exported run directory on ONNX Runtime (CPU).

`attentext export RUN_DIR --format onnx [--int8]` writes `RUN_DIR/onnx/model.onnx` (inputs
`input_ids` and `attention_mask`, int64, (batch, sequence); output `logits`) and, with `--int8`,
`model.int8.onnx`, and records in `export.json` what was measured (parity, int8 agreement). A run
with window attention (long texts in chunks) has a second output, `window_scores` (batch,); the
windows' logits are combined into a text's outside the graph, as for PyTorch (`inference.tokens`). The
classifier tokenizes like the PyTorch one (the run's tokenizer, max length and truncation), so its
logits match PyTorch's within the export tolerance (fp32) and its labels nearly always (int8);
an int8 export whose measured agreement was too low is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from attentext.auto_classes import register_when_transformers_loads
from attentext.errors import AttentextError, AttentextWarning, RunDirError, shown
from attentext.inference.tokens import (
    TokenClassifier,
    check_vocabulary,
    config_vocab_rows,
    first_line,
    load_tokenizer,
    model_max_length,
    with_scores,
)
from attentext.rundir import (
    CALIBRATION_FILE,
    MAX_MARKER_BYTES,
    ONNX_DIR,
    ONNX_FP32_FILE,
    ONNX_INFO_FILE,
    ONNX_INT8_FILE,
    THRESHOLDS_FILE,
    Run,
    open_run,
    read_run_file,
    weights_digest,
)

INSTALL_HINT = "pip install 'attentext[onnx]'"
MAX_EXPORT_RECORD_BYTES = 1_000_000  # export.json is a few hundred bytes


def onnx_file(run_dir: str | Path, int8: bool = False) -> Path:
    """The exported model of a run (`<run_dir>/onnx/model[.int8].onnx`); a one-line error if absent."""
    path = Path(run_dir) / ONNX_DIR / (ONNX_INT8_FILE if int8 else ONNX_FP32_FILE)
    if not path.exists():
        flag = " --int8" if int8 else ""
        raise RunDirError(
            f"{run_dir}: no ONNX export ({ONNX_DIR}/{path.name}); run "
            f"`attentext export {run_dir} --format onnx{flag}` first"
        )
    return path


def calibration_digest(run_dir: str | Path) -> str:
    """A digest of what decides a run's labels after its logits (calibration.json: the
    temperature, a confidence map, a label prior; thresholds.json), "" where it has neither:
    the int8 check measured agreement under one calibration, which `recalibrate` replaces."""
    digest = hashlib.sha256()
    for name in (CALIBRATION_FILE, THRESHOLDS_FILE):
        if os.path.lexists(Path(run_dir) / name):
            digest.update(
                name.encode() + b"\0" + read_run_file(run_dir, name, MAX_MARKER_BYTES).encode()
            )
    return digest.hexdigest()[:16]


def check_int8_accepted(run_dir: str | Path) -> None:
    """Refuse (one line) an int8 export whose labels agreed too rarely with fp32 at export;
    warn where the run was recalibrated since (the agreement recorded was measured under the
    calibration it replaced, a label prior's bias deciding other labels: an audit).

    Exports made before the agreement was measured carry no figure and load as they are.
    """
    report = _int8_report(Path(run_dir))
    if not isinstance(report, dict):
        return
    recorded = report.get("calibration_digest")
    if isinstance(recorded, str) and recorded != calibration_digest(run_dir):
        warnings.warn(
            f"{run_dir}: recalibrated after its int8 export, whose label agreement with fp32 "
            "was measured under the calibration replaced; export again with --int8 to measure "
            "it as the run decides now",
            AttentextWarning,
            stacklevel=3,
        )
    if report.get("accepted", True):
        return
    agreement, required = report.get("label_agreement", 0), report.get("min_agreement", 0)
    if not all(isinstance(x, int | float) for x in (agreement, required)):
        raise RunDirError(f"{run_dir}: unreadable export record; export again")
    raise RunDirError(
        f"{run_dir}: the int8 export's labels agreed with fp32 on {100 * agreement:.1f} % of "
        f"its check ({shown(report.get('check'))}), under the {100 * required:.1f} % required; "
        "use --backend onnx, or export again with --int8 --data YOUR_TEXTS (or --force-int8 to "
        "accept it)"
    )


def _int8_report(run_dir: Path) -> Any:
    """The "int8" entry of the export record."""
    return _export_record(run_dir).get("int8")


def _export_record(run_dir: Path) -> dict[str, Any]:
    """The export record, read through `rundir` (plain file, size capped)."""
    text = read_run_file(run_dir, f"{ONNX_DIR}/{ONNX_INFO_FILE}", MAX_EXPORT_RECORD_BYTES)
    try:
        record = json.loads(text)
    except (ValueError, RecursionError):
        record = None
    if not isinstance(record, dict):
        raise RunDirError(
            f"{run_dir / ONNX_DIR / ONNX_INFO_FILE}: unreadable export record; export again"
        )
    return record


def check_export_source(run_dir: Path) -> None:
    """The graph in onnx/ was exported from this run's weights: read with this run's label
    names, another run's graph would give every text a wrong name. Exports made before the
    record held the weights' hash are taken as they are."""
    record = _export_record(run_dir)
    recorded = record.get("weights_sha256")
    if recorded is not None and recorded != weights_digest(run_dir):
        raise RunDirError(
            f"{run_dir / ONNX_DIR}: was exported from other weights than this run's (from "
            f"{shown(record.get('source'))}); export this run again: attentext export {run_dir}"
        )


def load_config(run_path: Path) -> Any:
    """The run's config.json (labels, positions, vocabulary size); a one-line error if damaged.

    attentext's own model types (seed-transformer, attention-rnn...) are registered with
    `AutoConfig` first, as the PyTorch loader does: the import hook that registers them skips a
    `transformers` first imported from inside an attentext module (`serve` imports the explainer
    so), and then `serve --backend onnx` of a seed-transformer run did not start ("Transformers
    does not recognize this architecture").
    """
    from transformers import AutoConfig  # deferred: a heavy import

    register_when_transformers_loads()
    try:
        return AutoConfig.from_pretrained(str(run_path), trust_remote_code=False)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as err:
        raise RunDirError(f"{run_path}: cannot load config.json ({first_line(err)})") from None


def session(path: Path, threads: int | None = None) -> Any:
    """An ONNX Runtime CPU session with `threads` intra-op threads (None or 0: ORT's default)."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise AttentextError(f"the onnx backend needs ONNX Runtime; {INSTALL_HINT}") from None
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or 0
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def check_graph_labels(run_path: Path, onnx_session: Any, n_labels: int) -> None:
    """Refuse a graph whose logits are not one per label of config.json, as PyTorch's loader
    refuses such weights: read with fewer names, each text got probabilities for labels it
    cannot name (predict_proba (n, 4) beside 2 labels) and `predict` an IndexError."""
    logits = next((o for o in onnx_session.get_outputs() if o.name == "logits"), None)
    width = logits.shape[-1] if logits is not None and logits.shape else None
    if isinstance(width, int) and width != n_labels:
        raise RunDirError(
            f"{run_path}: the ONNX model gives {width} logits but config.json names {n_labels} "
            "labels; the run directory was modified or damaged (restore config.json from a "
            "backup, or retrain)"
        )


WINDOW_SCORES = "window_scores"  # the second output of a model with attention over windows


def run_session(onnx_session: Any, batch: dict[str, np.ndarray]) -> np.ndarray:
    """Logits of one padded batch; inputs the graph does not have (pruned at export) are left out."""
    names = {i.name for i in onnx_session.get_inputs()}
    return onnx_session.run(["logits"], {k: v for k, v in batch.items() if k in names})[0]


def run_session_windows(onnx_session: Any, batch: dict[str, np.ndarray]) -> np.ndarray:
    """(B, C + 1): logits and the window scores of a graph that has them (else zeros)."""
    names = {i.name for i in onnx_session.get_inputs()}
    outputs = [o.name for o in onnx_session.get_outputs()]
    wanted = ["logits", WINDOW_SCORES] if WINDOW_SCORES in outputs else ["logits"]
    found = onnx_session.run(wanted, {k: v for k, v in batch.items() if k in names})
    return with_scores(found[0], found[1] if len(found) > 1 else None)


class OnnxClassifier(TokenClassifier):
    """An exported run directory on ONNX Runtime, behind the `Classifier` protocol."""

    def __init__(
        self,
        onnx_session: Any,
        tokenizer: Any,
        max_length: int,
        labels: list[str],
        truncation: str = "head",
        batch_size: int = 64,
        temperature: float = 1.0,
    ) -> None:
        super().__init__(tokenizer, labels, max_length, truncation, batch_size, temperature)
        self.session = onnx_session

    @classmethod
    def from_run(
        cls,
        run: Run,
        int8: bool = False,
        model_path: str | Path | None = None,
        threads: int | None = None,
    ) -> OnnxClassifier:
        """Load `<run>/onnx/model[.int8].onnx` (or `model_path`) with the run's tokenizer.

        `threads`: ONNX Runtime intra-op threads; None or 0 is ORT's default (every core).
        """
        path = Path(model_path) if model_path is not None else onnx_file(run.path, int8)
        if model_path is None:
            check_export_source(run.path)
        if int8 and model_path is None:
            check_int8_accepted(run.path)
        config = load_config(run.path)
        tokenizer = load_tokenizer(run.path)
        # The graph was exported from the model config.json describes: its embedding rows.
        check_vocabulary(run.path, tokenizer, config_vocab_rows(config))
        try:
            onnx_session = session(path, threads)
        except AttentextError:
            raise
        except Exception as err:  # onnxruntime's own error types
            raise RunDirError(f"{path}: cannot load the ONNX model ({first_line(err)})") from None
        max_length = model_max_length(tokenizer, config)
        labels = [config.id2label[i] for i in range(config.num_labels)]
        check_graph_labels(run.path, onnx_session, len(labels))
        classifier = cls(onnx_session, tokenizer, max_length, labels, truncation=run.truncation)
        return classifier.apply_run(run, config)

    @classmethod
    def from_run_dir(
        cls,
        run_dir: str | Path,
        int8: bool = False,
        model_path: str | Path | None = None,
        threads: int | None = None,
    ) -> OnnxClassifier:
        return cls.from_run(open_run(run_dir), int8=int8, model_path=model_path, threads=threads)

    def run_batch(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        return run_session(self.session, batch)

    def run_window_batch(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        return run_session_windows(self.session, batch)
