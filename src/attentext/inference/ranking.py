"""The top labels of a text: one ranking (and one tie order) for the CLI and the server."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from attentext.errors import AttentextError, AttentextNote


def top_labels(
    probabilities: np.ndarray, labels: list[str], k: int, decimals: int | None = 6
) -> list[tuple[str, float]]:
    """The `k` most probable (label, score) pairs, best first; equal scores keep label order.
    Scores rounded to `decimals` (for people reading them), whole with None (for programs: the
    server answers them as Hugging Face's pipeline and TEI do)."""
    order = np.argsort(-probabilities, kind="stable")[: max(1, min(k, len(labels)))]
    if decimals is None:
        return [(labels[i], float(probabilities[i])) for i in order]
    return [(labels[i], round(float(probabilities[i]), decimals)) for i in order]


def check_top_k(top_k: int) -> None:
    """Refuse a `--top-k` under 1 in one line: what `predict` checks before reading any text."""
    if top_k < 1:
        raise AttentextError(f"--top-k must be at least 1, got {top_k}")


def note_top_k(top_k: int, labels: Sequence[str]) -> None:
    """A note (stderr, never the output) where `--top-k` asks for more labels than the run
    has: every label is given, as before, but a user who asked for 10 of 4 labels learns why
    each text has 4 (a typo, or the wrong run), where the output alone said nothing."""
    if top_k > len(labels):
        warnings.warn(
            f"--top-k {top_k}: the run has {len(labels)} labels; each text gets all {len(labels)}",
            AttentextNote,
            stacklevel=2,
        )
