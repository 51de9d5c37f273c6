"""`TransformersClassifier`: a run directory's Hugging Face model on PyTorch (CPU or GPU)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from transformers import AutoModelForSequenceClassification

from attentext.errors import RunDirError
from attentext.inference.tokens import (
    TokenClassifier,
    check_vocabulary,
    config_vocab_rows,
    first_line,
    load_tokenizer,
    model_max_length,
    with_scores,
)
from attentext.models.registry import register_auto_classes
from attentext.precision import (
    inference_device,
    inference_model,
    probe_model,
    resolve_precision,
)
from attentext.processes import one_torch_thread_after_fork
from attentext.rundir import WEIGHTS_FILE, Run, open_run


def load_hf_model(run: Run) -> tuple[Any, Any]:
    """The model and tokenizer of a run, from safetensors only; a one-line error when damaged or
    when the tokenizer can produce ids the model has no embedding for."""
    model = _load_model(run)
    tokenizer = load_tokenizer(run.path)
    check_vocabulary(run.path, tokenizer, embedding_rows(model))
    return model, tokenizer


def _load_model(run: Run) -> Any:
    """The run's model; what transformers raises on a damaged file becomes one `RunDirError`."""
    if not (run.path / WEIGHTS_FILE).is_file():
        # Never fall back to pytorch_model.bin: that is a pickle, and loading runs no pickle.
        raise RunDirError(
            f"{run.path}: no {WEIGHTS_FILE}; attentext loads safetensors weights only "
            "(retrain, or restore the file from a backup)"
        )
    register_auto_classes()  # attentext's own model types, whatever imported transformers first
    try:
        # use_safetensors: only the safetensors file is read; no remote code, ever.
        return AutoModelForSequenceClassification.from_pretrained(
            str(run.path), use_safetensors=True, trust_remote_code=False
        )
    except SafetensorError as err:
        raise RunDirError(
            f"{run.path}: {WEIGHTS_FILE} is damaged ({first_line(err)}); "
            "retrain or restore the file from a backup"
        ) from None
    except RecursionError:  # a deeply nested config.json (before RuntimeError: a subclass)
        raise RunDirError(f"{run.path}: cannot load the model (config.json is damaged)") from None
    except RuntimeError as err:  # transformers: weight shapes that do not match config.json
        if "mismatched_sizes" not in str(err) and "size mismatch" not in str(err):
            raise
        raise RunDirError(
            f"{run.path}: the weights in {WEIGHTS_FILE} do not match config.json; the run "
            "directory was modified or damaged (retrain or restore it from a backup)"
        ) from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise RunDirError(f"{run.path}: cannot load the model ({first_line(err)})") from None


def embedding_rows(model: Any) -> int | None:
    """Token ids the model has embeddings for: its input embedding, else config.vocab_size."""
    try:
        return model.get_input_embeddings().num_embeddings
    except (NotImplementedError, AttributeError):  # the word models do not expose it
        return config_vocab_rows(model.config)


class TransformersClassifier(TokenClassifier):
    """A Hugging Face sequence-classification model and its tokenizer, from a run directory.

    In bf16 (fp16) inference runs a bf16 (fp16) copy of the model (`runner`); `model` keeps the
    fp32 weights that were trained, saved and are explained.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        max_length: int,
        precision: str = "fp32",
        batch_size: int = 64,
        truncation: str = "head",
        temperature: float = 1.0,
    ) -> None:
        labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
        super().__init__(tokenizer, labels, max_length, truncation, batch_size, temperature)
        self.model = model.eval()
        self.precision = precision
        self.runner = inference_model(self.model, precision)
        one_torch_thread_after_fork()  # a forked child would wait for ever on torch's threads

    @classmethod
    def from_run(
        cls, run: Run, precision: str = "auto", device: str | None = None
    ) -> TransformersClassifier:
        chosen = inference_device(device)  # before the weights are read: a bad device is named
        model, tokenizer = load_hf_model(run)
        model = model.to(chosen)
        classifier = cls(
            model,
            tokenizer,
            model_max_length(tokenizer, model.config),
            resolve_precision(precision, lambda: _probe(model, tokenizer)),
            truncation=run.truncation,
        )
        return classifier.apply_run(run, model.config)

    @classmethod
    def from_run_dir(
        cls, run_dir: str | Path, precision: str = "auto", device: str | None = None
    ) -> TransformersClassifier:
        return cls.from_run(open_run(run_dir), precision=precision, device=device)

    @torch.inference_mode()
    def run_batch(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        device = self.model.device
        inputs = {name: torch.from_numpy(array).to(device) for name, array in batch.items()}
        return self.runner(**inputs).logits.float().cpu().numpy()

    @torch.inference_mode()
    def run_window_batch(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """Each window's logits and its learned score (a model with window attention), (B, C + 1)."""
        device = self.model.device
        inputs = {name: torch.from_numpy(array).to(device) for name, array in batch.items()}
        output = self.runner(**inputs)
        scores = getattr(output, "window_scores", None)
        return with_scores(
            output.logits.float().cpu().numpy(),
            None if scores is None else scores.float().cpu().numpy(),
        )


PROBE_TOKENS = 64


def _probe(model: Any, tokenizer: Any) -> dict[str, float]:
    """Inference speed of `model` in fp32 and bf16 on a batch of 32 texts of 64 tokens, or of
    the model's longest input where that is shorter (a length chosen from short training texts)."""
    longest = getattr(model.config, "max_position_embeddings", None) or PROBE_TOKENS
    length = min(PROBE_TOKENS, longest)
    ids = torch.full(
        (32, length), tokenizer.unk_token_id or 1, dtype=torch.long, device=model.device
    )
    return probe_model(
        model, {"input_ids": ids, "attention_mask": torch.ones_like(ids)}, train=False
    )
