"""Export a run directory to ONNX, and classify with ONNX Runtime.

    attentext export RUN_DIR --format onnx [--int8]

writes `RUN_DIR/onnx/model.onnx` (inputs `input_ids` and `attention_mask`, int64, both
(batch, sequence); output `logits`, (batch, num_labels); batch and sequence are dynamic axes)
and, with `--int8`, `model.int8.onnx`: the same graph with int8 weights (ONNX Runtime's dynamic
quantization: weights stored as int8, activations quantized per batch at run time). Then
`attentext.load(run_dir, backend="onnx")` (or "onnx-int8"), `predict --backend onnx` and
`serve --backend onnx` run the model with ONNX Runtime on the CPU, with the run's own tokenizer
and truncation, in length-sorted batches like the PyTorch classifier.

The graph comes from the torch.export-based exporter (`torch.onnx.export(dynamo=True)`, which
needs onnxscript). Every neural family exports: seed-transformer, encoder-classifier (frozen or
fine-tuned encoders) and `hf-sequence-classification` checkpoints as they are; the attention RNN
through `_UnpackedRNN`, an equivalent forward pass without packed sequences (torch.export cannot
trace `pack_padded_sequence`). The older TorchScript exporter (`dynamo=False`) is no option:
it rejects the seed transformer's in-place mask update and bakes the example's lengths into
packed sequences (wrong logits for other inputs). Each export is checked before it is
published: ONNX Runtime's logits must match PyTorch's within `PARITY_ATOL` + `PARITY_RTOL` *
|logit| on a padded batch of random token sequences of different lengths, or nothing is
written; the largest difference is recorded in `onnx/export.json`.

Files are written atomically (a temporary file in the same folder, then a rename), and
`export.json` last.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import nn

from attentext import rundir
from attentext.baseline import BASELINE_TYPE
from attentext.errors import AttentextError, RunDirError
from attentext.tokenization import encode

ONNX_DIR = "onnx"
FP32_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
INFO_FILE = "export.json"
INPUT_NAMES = ("input_ids", "attention_mask")
# Export gate: |ONNX - PyTorch| <= atol + rtol * |PyTorch| on every logit of a check batch, or
# nothing is written. Loose enough for deep encoders (ORT fuses and reorders float32 sums); the
# small models here land near 1e-6 (the measured value is in export.json).
PARITY_ATOL = 1e-3
PARITY_RTOL = 1e-3
# int8 gate: the share of check texts whose int8 label equals the fp32 label. Below it the export
# is written but not accepted, and `--backend onnx-int8` refuses it (unless exported with
# --force-int8). Measured on AG News test: 99.87-100 % for the word models; on an AVX2-only CPU the
# per-tensor 8-bit MiniLM reached only 97.3 % (u8s8 products saturate without VNNI).
INT8_MIN_AGREEMENT = 0.99
# ONNX Runtime's dynamic quantization settings tried, in order of preference for equal results;
# the export keeps the one whose labels agree best with fp32 on the check texts. reduce_range
# (7-bit weights) is ORT's documented remedy for the saturation of CPUs without VNNI.
INT8_CANDIDATES = (
    {"per_channel": False, "reduce_range": False},
    {"per_channel": True, "reduce_range": False},
    {"per_channel": False, "reduce_range": True},
    {"per_channel": True, "reduce_range": True},
)
RANDOM_CHECK_ROWS = 256  # random token sequences checked when no texts are given
EXPORTABLE = "seed-transformer, attention-rnn, encoder-classifier and Hugging Face runs"
INSTALL_HINT = "pip install 'attentext[onnx]'"


def onnx_file(run_dir: str | Path, int8: bool = False) -> Path:
    """The exported model of a run (`<run_dir>/onnx/model[.int8].onnx`); a one-line error if absent."""
    path = Path(run_dir) / ONNX_DIR / (INT8_FILE if int8 else FP32_FILE)
    if not path.exists():
        flag = " --int8" if int8 else ""
        raise RunDirError(
            f"{run_dir}: no ONNX export ({ONNX_DIR}/{path.name}); run "
            f"`attentext export {run_dir} --format onnx{flag}` first"
        )
    return path


def check_int8_accepted(run_dir: str | Path) -> None:
    """Refuse (one line) an int8 export whose labels agreed too rarely with fp32 at export.

    Exports made before the agreement was measured carry no figure and load as they are.
    """
    info_path = Path(run_dir) / ONNX_DIR / INFO_FILE
    try:
        report = json.loads(info_path.read_text(encoding="utf-8")).get("int8")
    except (OSError, ValueError, AttributeError):
        raise RunDirError(f"{info_path}: unreadable export record; export again") from None
    if not isinstance(report, dict) or report.get("accepted", True):
        return
    raise RunDirError(
        f"{run_dir}: the int8 export's labels agreed with fp32 on "
        f"{100 * report.get('label_agreement', 0):.1f} % of its check ({report.get('check')}), "
        f"under the {100 * report.get('min_agreement', INT8_MIN_AGREEMENT):.1f} % required; use "
        "--backend onnx, or export again with --int8 --data YOUR_TEXTS (or --force-int8 to "
        "accept it)"
    )


# ---------------------------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------------------------


class _Logits(nn.Module):
    """(input_ids, attention_mask) -> logits: the signature the ONNX graph gets."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits


class _UnpackedRNN(nn.Module):
    """`AttentionRNNForSequenceClassification` without packed sequences, for export.

    Same result as the packed model (right padding): the forward direction reads each text from
    its first token, so its states at real tokens never see padding; the backward direction runs
    over each text reversed within its own length (a gather), so it starts at the last real
    token, and its states are put back in order by the same gather. Padded steps are zeroed as
    `pad_packed_sequence` leaves them. The weights are the model's own (the bidirectional RNN's
    two directions copied into two one-directional RNNs of the same cell).
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        rnn = model.encoder.rnn
        if rnn.num_layers != 1:
            raise AttentextError("ONNX export of the attention RNN supports one RNN layer")

        def direction(suffix: str) -> nn.Module:
            single = type(rnn)(rnn.input_size, rnn.hidden_size, batch_first=True, bias=rnn.bias)
            with torch.no_grad():
                for name, parameter in single.named_parameters():
                    parameter.copy_(getattr(rnn, name + suffix))
            return single.eval()

        self.forward_rnn = direction("")
        self.backward_rnn = direction("_reverse") if rnn.bidirectional else None

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        steps = torch.arange(input_ids.shape[1], device=input_ids.device)[None, :]  # (1, T)
        lengths = attention_mask.sum(dim=1).clamp(min=1)[:, None]  # (B, 1), as the model counts
        real = steps < lengths  # (B, T)
        x = self.model.embedding(input_ids)  # (B, T, E)
        h, _ = self.forward_rnn(x)  # (B, T, H)
        if self.backward_rnn is not None:
            # position t of the reversed text is token length-1-t; padding stays where it is
            reverse = torch.where(real, lengths - 1 - steps, steps)  # (B, T), its own inverse
            x_rev = torch.gather(x, 1, reverse[..., None].expand(-1, -1, x.shape[-1]))
            h_rev, _ = self.backward_rnn(x_rev)
            h_back = torch.gather(h_rev, 1, reverse[..., None].expand(-1, -1, h_rev.shape[-1]))
            h = torch.cat([h, h_back], dim=-1)  # (B, T, 2H)
        h = h * real[..., None].to(h.dtype)
        context, _ = self.model.attention(h, real)
        return self.model.classifier(context)


def _exportable(model: nn.Module) -> nn.Module:
    from attentext.models.attention_rnn import AttentionRNNForSequenceClassification

    if isinstance(model, AttentionRNNForSequenceClassification):
        return _UnpackedRNN(model).eval()
    return _Logits(model).eval()


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


@contextmanager
def _quiet_exporter():
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


def _temporary(folder: Path, name: str) -> Path:
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    os.close(fd)
    return Path(tmp)


def _session(path: Path, threads: int | None = None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads() if threads is None else threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _run_session(session, batch: dict[str, np.ndarray]) -> np.ndarray:
    """Feed the inputs the graph has (an input the model never reads is pruned at export)."""
    names = {i.name for i in session.get_inputs()}
    return session.run(["logits"], {k: v for k, v in batch.items() if k in names})[0]


def _random_sequences(vocab_size: int, max_length: int, rows: int, seed: int) -> list[list[int]]:
    """`rows` random token sequences of 1 to min(max_length, 64) tokens (above padding/[UNK])."""
    generator = np.random.default_rng(seed)
    longest = max(1, min(max_length, 64))
    low = min(2, vocab_size - 1)
    lengths = generator.integers(1, longest + 1, size=rows)
    return [generator.integers(low, vocab_size, size=int(n)).tolist() for n in lengths]


def _padded(rows: list[list[int]], pad_id: int) -> dict[str, np.ndarray]:
    """Right-padded int64 ids and mask, at least one slot wide."""
    width = max(1, max(len(r) for r in rows))
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for row, seq in enumerate(rows):
        ids[row, : len(seq)] = seq
        mask[row, : len(seq)] = 1
    return {"input_ids": ids, "attention_mask": mask}


def _probabilities(run, encoded: list[list[int]], pad_id: int, batch_size: int = 64) -> np.ndarray:
    """Softmax of `run(batch) -> logits` over `encoded`, in length-sorted batches, input order."""
    order = np.argsort([len(ids) for ids in encoded], kind="stable")
    out = None
    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size]
        logits = np.asarray(run(_padded([encoded[i] for i in index], pad_id)), dtype=np.float64)
        if out is None:
            out = np.zeros((len(encoded), logits.shape[-1]))
        exp = np.exp(logits - logits.max(axis=-1, keepdims=True))
        out[index] = exp / exp.sum(axis=-1, keepdims=True)
    assert out is not None, "no check inputs"
    return out


def _choose_int8(
    fp32_path: Path, folder: Path, encoded: list[list[int]], reference: np.ndarray, pad_id: int
) -> tuple[Path, dict]:
    """Quantize with each of INT8_CANDIDATES, keep the file whose labels agree best with fp32.

    Ties go to the smaller largest probability change, then to the earlier candidate. Returns
    the kept temporary file and what was measured for every candidate.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    labels = reference.argmax(axis=-1)
    measured: list[dict] = []
    kept: Path | None = None
    best = (-1.0, -np.inf)
    chosen: dict = {}
    for settings in INT8_CANDIDATES:
        tmp = _temporary(folder, INT8_FILE)
        with _quiet_exporter():
            quantize_dynamic(str(fp32_path), str(tmp), weight_type=QuantType.QInt8, **settings)
        session = _session(tmp, threads=1)
        probabilities = _probabilities(lambda b, s=session: _run_session(s, b), encoded, pad_id)
        row = {
            **settings,
            "label_agreement": float((probabilities.argmax(axis=-1) == labels).mean()),
            "max_probability_diff": float(np.abs(probabilities - reference).max()),
        }
        rank = (row["label_agreement"], -row["max_probability_diff"])
        if rank > best:
            if kept is not None:
                kept.unlink(missing_ok=True)
            kept, chosen, best = tmp, row, rank
        else:
            tmp.unlink(missing_ok=True)
        measured.append(row)
    assert kept is not None
    return kept, {"chosen": chosen, "candidates": measured}


def export_onnx(
    run_dir: str | Path,
    output: str | Path | None = None,
    int8: bool = False,
    check_texts: list[str] | None = None,
    force_int8: bool = False,
) -> Path:
    """Export a run directory's model to ONNX; returns the folder written (`<run_dir>/onnx/`).

    Writes `model.onnx` (fp32), with `int8` also `model.int8.onnx` (dynamic quantization, int8
    weights), and `export.json` (opset, versions, files, the measured parity). The int8 settings
    are chosen by measurement: each of INT8_CANDIDATES is tried on `check_texts` (the user's own
    texts: the honest check) or, without them, RANDOM_CHECK_ROWS random token sequences, and the
    one whose labels agree best with fp32 is kept. An agreement under INT8_MIN_AGREEMENT is
    recorded as not accepted (the onnx-int8 backend then refuses the file) unless `force_int8`.
    An int8 file from an earlier export is removed when `int8` is False, so the folder never
    mixes two exports. Raises `AttentextError` (one line) for a TF-IDF run, an incomplete run or
    a failed export.
    """
    run_dir = Path(run_dir)
    marker = rundir.read_marker(run_dir)
    if marker.get("kind") == BASELINE_TYPE:
        raise AttentextError(
            f"{run_dir}: a TF-IDF run has no neural network to export; ONNX export is for "
            f"{EXPORTABLE}"
        )
    try:
        import onnxruntime
        import onnxruntime.quantization  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as error:
        raise AttentextError(f"ONNX export needs {error.name}; {INSTALL_HINT}") from None
    from attentext.classifier import TransformersClassifier

    # Loaded as for inference (safetensors only, the same checks and max length), in fp32.
    torch_classifier = TransformersClassifier.from_run_dir(run_dir, precision="fp32", device="cpu")
    model, tokenizer = torch_classifier.model.float().eval(), torch_classifier.tokenizer
    max_length = torch_classifier.max_length
    vocab_size = len(tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    folder = Path(output) if output is not None else run_dir / ONNX_DIR
    folder.mkdir(parents=True, exist_ok=True)
    tmp = _temporary(folder, FP32_FILE)
    tmp_int8: Path | None = None
    int8_report = None
    try:
        program = _export_graph(model, run_dir, vocab_size, pad_id, max_length, tmp)
        diff = _check_parity(model, run_dir, tmp, vocab_size, pad_id, max_length)
        files = [FP32_FILE]
        if int8:
            if check_texts:
                truncation = getattr(model.config, "attentext_truncation", "head")
                encoded = encode(tokenizer, list(check_texts), max_length, truncation)
                source = f"{len(encoded)} texts given at export"
            else:
                encoded = _random_sequences(vocab_size, max_length, RANDOM_CHECK_ROWS, seed=2)
                source = f"{len(encoded)} random token sequences (pass texts for a real check)"
            reference = _probabilities(_torch_logits(model), encoded, pad_id)
            tmp_int8, choice = _choose_int8(tmp, folder, encoded, reference, pad_id)
            int8_report = _int8_report(choice, source, force_int8)
            files.append(INT8_FILE)
        else:
            (folder / INT8_FILE).unlink(missing_ok=True)
        os.replace(tmp, folder / FP32_FILE)
        if tmp_int8 is not None:
            os.replace(tmp_int8, folder / INT8_FILE)
    finally:
        tmp.unlink(missing_ok=True)
        if tmp_int8 is not None:
            tmp_int8.unlink(missing_ok=True)
    rundir.write_json(
        folder / INFO_FILE,
        {
            "source": str(run_dir.resolve()),
            "model_type": model.config.model_type,
            "files": files,
            "inputs": list(INPUT_NAMES),
            "output": "logits",
            "opset": next(o.version for o in program.model_proto.opset_import if not o.domain),
            "int8": int8_report,
            "parity_max_abs_diff": diff,
            "parity_tolerance": {"atol": PARITY_ATOL, "rtol": PARITY_RTOL},
            "torch": torch.__version__,
            "onnxruntime": onnxruntime.__version__,
        },
    )
    return folder


def _int8_report(choice: dict, source: str, forced: bool) -> dict:
    from attentext.precision import cpu_capabilities

    chosen = choice["chosen"]
    agreement = chosen["label_agreement"]
    return {
        "method": "onnxruntime.quantization.quantize_dynamic, QInt8 weights",
        "settings": {k: chosen[k] for k in ("per_channel", "reduce_range")},
        "label_agreement": agreement,
        "max_probability_diff": chosen["max_probability_diff"],
        "check": source,
        "measured_on": cpu_capabilities(),
        "min_agreement": INT8_MIN_AGREEMENT,
        "accepted": forced or agreement >= INT8_MIN_AGREEMENT,
        "forced": forced and agreement < INT8_MIN_AGREEMENT,
        "candidates": choice["candidates"],
    }


def _torch_logits(model: nn.Module):
    def run(batch: dict[str, np.ndarray]) -> np.ndarray:
        with torch.no_grad():
            return model(**{k: torch.from_numpy(v) for k, v in batch.items()}).logits.numpy()

    return run


def _export_graph(
    model: nn.Module, run_dir: Path, vocab_size: int, pad_id: int, max_length: int, path: Path
):
    """The ONNX graph of `model` written to `path`; the exporter's program is returned."""
    # torch.export specializes sizes 0 and 1, so the example batch has 2+ rows and tokens.
    sample = _check_batch(vocab_size, pad_id, max_length, seed=0)
    args = tuple(torch.from_numpy(sample[name]) for name in INPUT_NAMES)
    batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence")
    try:
        with _quiet_exporter(), torch.no_grad():
            program = torch.onnx.export(
                _exportable(model),
                args,
                input_names=list(INPUT_NAMES),
                output_names=["logits"],
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
    model: nn.Module, run_dir: Path, path: Path, vocab_size: int, pad_id: int, max_length: int
) -> float:
    """The largest |ONNX - PyTorch| logit on a check batch; an error past the tolerance."""
    check = _check_batch(vocab_size, pad_id, max_length, seed=1)
    expected = _torch_logits(model)(check)
    got = _run_session(_session(path, threads=1), check)
    diff = float(np.abs(got - expected).max())
    if not np.allclose(got, expected, atol=PARITY_ATOL, rtol=PARITY_RTOL):
        raise AttentextError(
            f"{run_dir}: the ONNX model's logits differ from PyTorch's by up to {diff:.2g} "
            f"(tolerance {PARITY_ATOL:g} + {PARITY_RTOL:g} * |logit|); nothing was written"
        )
    return diff


# ---------------------------------------------------------------------------------------------
# Inference with ONNX Runtime
# ---------------------------------------------------------------------------------------------


class OnnxClassifier:
    """An exported run directory on ONNX Runtime (CPU), behind the `Classifier` protocol.

    Tokenizes like `TransformersClassifier` (the run's tokenizer, max length and truncation) and
    runs length-sorted batches of `batch_size`, so its logits match PyTorch's within the export
    tolerance (fp32) and its labels nearly always (int8).
    """

    def __init__(
        self,
        session,
        tokenizer,
        max_length: int,
        labels: list[str],
        truncation: str = "head",
        batch_size: int = 64,
    ) -> None:
        self.session = session
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.labels = labels
        self.truncation = truncation
        self.batch_size = batch_size
        self._inputs = {i.name for i in session.get_inputs()}

    @classmethod
    def from_run_dir(
        cls,
        run_dir: str | Path,
        int8: bool = False,
        model_path: str | Path | None = None,
        threads: int | None = None,
    ) -> OnnxClassifier:
        """Load `<run_dir>/onnx/model[.int8].onnx` (or `model_path`) with the run's tokenizer.

        `threads`: ONNX Runtime intra-op threads; None follows torch's setting
        (`torch.get_num_threads()`, which `serve --torch-threads` sets), 0 is ORT's default.
        """
        run_dir = Path(run_dir)
        rundir.read_marker(run_dir)
        path = Path(model_path) if model_path is not None else onnx_file(run_dir, int8)
        if int8 and model_path is None:
            check_int8_accepted(run_dir)
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            raise AttentextError(f"the onnx backend needs ONNX Runtime; {INSTALL_HINT}") from None
        from transformers import AutoConfig, AutoTokenizer

        try:
            config = AutoConfig.from_pretrained(str(run_dir), trust_remote_code=False)
            tokenizer = AutoTokenizer.from_pretrained(str(run_dir), trust_remote_code=False)
        except (OSError, ValueError, KeyError) as err:
            first = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise RunDirError(f"{run_dir}: cannot load the tokenizer ({first})") from None
        try:
            session = _session(path, threads)
        except Exception as err:  # onnxruntime's own error types
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise RunDirError(f"{path}: cannot load the ONNX model ({first})") from None
        max_length = min(
            tokenizer.model_max_length, getattr(config, "max_position_embeddings", 10**6)
        )
        return cls(
            session,
            tokenizer,
            max_length,
            [config.id2label[i] for i in range(config.num_labels)],
            truncation=getattr(config, "attentext_truncation", "head"),
        )

    def _pad(self, rows: list[list[int]]) -> dict[str, np.ndarray]:
        """Pad like the tokenizer would (its side and pad id), at least one slot wide."""
        width = max(1, max(len(r) for r in rows))
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        ids = np.full((len(rows), width), pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        left = self.tokenizer.padding_side == "left"
        for row, seq in enumerate(rows):
            if seq:
                span = slice(width - len(seq), width) if left else slice(0, len(seq))
                ids[row, span] = seq
                mask[row, span] = 1
        return {"input_ids": ids, "attention_mask": mask}

    def logits(self, texts: list[str]) -> np.ndarray:
        """Raw logits, computed in length-sorted batches so that little time goes to padding."""
        if isinstance(texts, str):
            raise TypeError("texts must be a list of strings, not a single string")
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        encoded = encode(self.tokenizer, list(texts), self.max_length, self.truncation)
        order = np.argsort([len(ids) for ids in encoded], kind="stable")
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            index = order[start : start + self.batch_size]
            batch = self._pad([encoded[i] for i in index])
            feed = {k: v for k, v in batch.items() if k in self._inputs}
            out[index] = self.session.run(["logits"], feed)[0]
        return out

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """Class probabilities, shape (len(texts), len(labels))."""
        return torch.softmax(torch.from_numpy(self.logits(texts)), dim=-1).numpy()

    def predict(self, texts: list[str]) -> list[str]:
        """The most probable label name of each text."""
        return [self.labels[i] for i in self.predict_proba(texts).argmax(axis=-1)]
