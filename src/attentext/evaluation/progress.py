"""A progress bar over a model's pass on many texts (evaluate, compare): an encoder reads a
few hundred texts a second on a CPU, so a test file of 100,000 was minutes without a sign of
life, where training, feature extraction and predict show theirs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from attentext.bars import ProgressBar

# Texts scored at a time under a bar: each slice is still length-sorted into batches inside the
# model's own path; fewer texts than this are one call and show no bar (seconds at most).
SLICE_TEXTS = 2048


def scored(
    score: Callable[[list[str]], Any], texts: Sequence[str], description: str = "Scoring"
) -> np.ndarray:
    """`score(texts)` (a classifier's `predict_proba` or `logits`), rows in order; above
    `SLICE_TEXTS` texts, a slice at a time under a bar on stderr."""
    texts = list(texts)
    if len(texts) <= SLICE_TEXTS:
        return np.asarray(score(texts))
    parts = []
    with ProgressBar(total=len(texts), desc=description, unit="text") as bar:
        for start in range(0, len(texts), SLICE_TEXTS):
            part = texts[start : start + SLICE_TEXTS]
            parts.append(np.asarray(score(part)))
            bar.update(len(part))
    return np.concatenate(parts)
