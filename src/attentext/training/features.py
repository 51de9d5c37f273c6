"""Frozen-encoder features, computed once per split and cached on disk.

The lesson's frozen-BERT classifier reruns the encoder on every batch of every epoch. With the
encoder frozen its output never changes, so attentext runs it once, caches the pooled features
(safetensors, keyed by everything they depend on) and trains the head on them: a head epoch then
costs milliseconds instead of an encoder pass.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from attentext.encoders import encoder_fingerprint, resolve_encoder
from attentext.precision import inference_model
from attentext.recipes import Recipe
from attentext.text.batching import run_in_batches
from attentext.training.tokenized import PackedRows

CACHE_DIR = (
    Path(os.environ.get("ATTENTEXT_CACHE", Path.home() / ".cache" / "attentext")) / "features"
)


def data_fingerprint(input_ids: list[list[int]]) -> str:
    """A hash of the tokenized split: changes with the texts, the tokenizer, max length, truncation."""
    digest = hashlib.sha256()
    for ids in input_ids:
        digest.update(np.asarray(ids, dtype=np.int64).tobytes())
        digest.update(b"|")
    return digest.hexdigest()


def cache_key(**parts: Any) -> str:
    """The cache file name for features that depend on `parts` (encoder, pooling, data, ...)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


@torch.inference_mode()
def compute_features(
    model: Any,
    input_ids: list[list[int]],
    pad_token_id: int,
    precision: str = "fp32",
    batch_size: int = 64,
    description: str = "Encoding",
) -> torch.Tensor:
    """Pooled encoder features (N, H), float32, in length-sorted batches with a progress bar.

    In bf16 the encoder runs as a bf16 copy (`inference_model`); `model` is left as it was.
    """
    model.eval()
    runner = inference_model(model, precision)
    device = next(model.parameters()).device

    def pooled(batch: dict[str, np.ndarray]) -> np.ndarray:
        ids, mask = (torch.from_numpy(batch[k]).to(device) for k in ("input_ids", "attention_mask"))
        return runner.pooled(ids, mask)[0].float().cpu().numpy()

    if not input_ids:
        return torch.empty(0, 0)
    with tqdm(total=len(input_ids), desc=description, unit="text") as bar:
        features = run_in_batches(input_ids, pooled, pad_token_id, batch_size, on_batch=bar.update)
    return torch.from_numpy(features)


def cached_features(
    key: str, compute: Any, cache_dir: Path | None = None
) -> tuple[torch.Tensor, bool]:
    """Features from the cache under `key`, or `compute()`d and stored; returns (features, hit)."""
    folder = cache_dir or CACHE_DIR
    path = folder / f"{key}.safetensors"
    if path.exists():
        try:
            return load_file(str(path))["features"], True
        except Exception:  # a damaged cache file is recomputed, never trusted
            path.unlink(missing_ok=True)
    features = compute()
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    save_file({"features": features.contiguous()}, str(tmp))
    os.replace(tmp, path)
    return features, False


def feature_splits(
    recipe: Recipe, model: Any, tokenized: dict[str, PackedRows], precision: str, pad_id: int
) -> tuple[dict[str, datasets.Dataset], dict[str, Any]]:
    """Pooled encoder features per split, from the cache or computed once; and cache facts.

    The key holds everything the features depend on: the encoder's exact weights, the
    tokenizer's settings, pooling, precision and the token ids themselves.
    """
    encoder = encoder_fingerprint(resolve_encoder(recipe.model.encoder))
    facts: dict[str, Any] = {
        "extraction_precision": precision,
        "extraction_seconds": 0.0,
        "cache_hits": [],
    }
    splits = {}
    for name, split in tokenized.items():
        ids = split.id_lists()
        key = cache_key(
            encoder=encoder,
            max_length=recipe.tokenizer.max_length,
            truncation=recipe.tokenizer.truncation,
            pooling=model.config.pooling,
            pooling_layers=model.config.pooling_layers,
            precision=precision,
            data=data_fingerprint(ids),  # the token ids: they change with texts and tokenizer
        )
        start = time.perf_counter()
        features, hit = cached_features(
            key,
            lambda ids=ids, name=name: compute_features(
                model, ids, pad_id, precision, description=f"Encoding {name}"
            ),
        )
        facts["extraction_seconds"] += time.perf_counter() - start
        if hit:
            facts["cache_hits"].append(name)
        splits[name] = datasets.Dataset.from_dict(
            {"features": features.numpy(), "label": split.labels}
        ).with_format("torch")
    facts["extraction_seconds"] = round(facts["extraction_seconds"], 2)
    return splits, facts
