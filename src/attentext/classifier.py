"""Load a run directory and classify texts with it.

`Classifier` is the small protocol every model kind follows (the neural models here, the TF-IDF
baseline later), so that evaluation, comparison and serving treat them alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from safetensors import SafetensorError
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from attentext import rundir
from attentext.baseline import BASELINE_TYPE, TfidfLogRegClassifier
from attentext.errors import RunDirError
from attentext.precision import inference_model, probe_model, resolve_precision
from attentext.tokenization import encode

WEIGHTS_FILE = "model.safetensors"


def default_device() -> str:
    """Where inference runs when no device is named: the GPU if there is one."""
    return "cuda" if torch.cuda.is_available() else "cpu"


class Classifier(Protocol):
    labels: list[str]

    def predict_proba(self, texts: list[str]) -> np.ndarray: ...

    def predict(self, texts: list[str]) -> list[str]: ...


class TransformersClassifier:
    """A Hugging Face sequence-classification model and its tokenizer, from a run directory."""

    def __init__(
        self, model, tokenizer, max_length: int, precision: str = "fp32", batch_size: int = 64
    ) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.precision = precision
        self.runner = inference_model(self.model, precision)  # a bf16 copy in bf16
        self.batch_size = batch_size
        self.labels = [model.config.id2label[i] for i in range(model.config.num_labels)]

    @classmethod
    def from_run_dir(
        cls, run_dir: str | Path, precision: str = "auto", device: str | None = None
    ) -> TransformersClassifier:
        run_dir = Path(run_dir)
        rundir.read_marker(run_dir)
        if not (run_dir / WEIGHTS_FILE).is_file():
            # Never fall back to pytorch_model.bin: that is a pickle, and loading runs no pickle.
            raise RunDirError(
                f"{run_dir}: no {WEIGHTS_FILE}; attentext loads safetensors weights only "
                "(retrain, or restore the file from a backup)"
            )
        try:
            # use_safetensors: only the safetensors file is read; no remote code, ever.
            model = AutoModelForSequenceClassification.from_pretrained(
                str(run_dir), use_safetensors=True, trust_remote_code=False
            )
            tokenizer = AutoTokenizer.from_pretrained(str(run_dir), trust_remote_code=False)
        except SafetensorError as err:
            raise RunDirError(
                f"{run_dir}: {WEIGHTS_FILE} is damaged ({str(err).splitlines()[0]}); "
                "retrain or restore the file from a backup"
            ) from None
        except RuntimeError as err:  # transformers: weight shapes that do not match config.json
            if "mismatched_sizes" not in str(err) and "size mismatch" not in str(err):
                raise
            raise RunDirError(
                f"{run_dir}: the weights in {WEIGHTS_FILE} do not match config.json; the run "
                "directory was modified or damaged (retrain or restore it from a backup)"
            ) from None
        except (OSError, ValueError, KeyError) as err:
            first = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise RunDirError(f"{run_dir}: cannot load the model ({first})") from None
        model = model.to(device or default_device())
        max_length = min(
            tokenizer.model_max_length, getattr(model.config, "max_position_embeddings", 10**6)
        )
        return cls(
            model,
            tokenizer,
            max_length,
            resolve_precision(precision, lambda: _probe(model, tokenizer)),
        )

    @torch.inference_mode()
    def logits(self, texts: list[str]) -> np.ndarray:
        """Raw logits, computed in length-sorted batches so that little time goes to padding."""
        if isinstance(texts, str):
            raise TypeError("texts must be a list of strings, not a single string")
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        truncation = getattr(self.model.config, "attentext_truncation", "head")
        encoded = encode(self.tokenizer, list(texts), self.max_length, truncation)
        order = np.argsort([len(ids) for ids in encoded], kind="stable")
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        device = self.model.device
        for start in range(0, len(order), self.batch_size):
            index = order[start : start + self.batch_size]
            batch = self.tokenizer.pad(
                {"input_ids": [encoded[i] for i in index]}, return_tensors="pt"
            )
            batch = {k: v.to(device) for k, v in batch.items()}
            logits = self.runner(**batch).logits
            out[index] = logits.float().cpu().numpy()
        return out

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """Class probabilities, shape (len(texts), len(labels))."""
        return torch.softmax(torch.from_numpy(self.logits(texts)), dim=-1).numpy()

    def predict(self, texts: list[str]) -> list[str]:
        """The most probable label name of each text."""
        return [self.labels[i] for i in self.predict_proba(texts).argmax(axis=-1)]


def _probe(model, tokenizer) -> dict[str, float]:
    """Inference speed of `model` in fp32 and bf16 on a batch of 32 texts of 64 tokens."""
    ids = torch.full((32, 64), tokenizer.unk_token_id or 1, dtype=torch.long, device=model.device)
    return probe_model(
        model, {"input_ids": ids, "attention_mask": torch.ones_like(ids)}, train=False
    )


BACKENDS = ("torch", "onnx", "onnx-int8")


def load(
    run_dir: str | Path, precision: str = "auto", device: str | None = None, backend: str = "torch"
) -> Classifier:
    """Load any attentext run directory as a `Classifier`.

    `backend`: "torch" (PyTorch), "onnx" or "onnx-int8" (ONNX Runtime on the CPU, on the files
    `attentext export RUN_DIR --format onnx [--int8]` wrote; precision and device do not apply).
    A TF-IDF run has its own engine and loads the same with every backend.
    """
    if backend not in BACKENDS:
        from attentext.errors import AttentextError

        raise AttentextError(f"unknown backend '{backend}'; choose one of {', '.join(BACKENDS)}")
    if rundir.read_marker(run_dir).get("kind") == BASELINE_TYPE:
        return TfidfLogRegClassifier.load(run_dir)
    if backend != "torch":
        from attentext.export import OnnxClassifier

        return OnnxClassifier.from_run_dir(run_dir, int8=backend == "onnx-int8")
    return TransformersClassifier.from_run_dir(run_dir, precision=precision, device=device)
