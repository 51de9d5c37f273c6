"""The top labels of a text: one ranking (and one tie order) for the CLI and the server."""

from __future__ import annotations

import numpy as np


def top_labels(
    probabilities: np.ndarray, labels: list[str], k: int, decimals: int = 6
) -> list[tuple[str, float]]:
    """The `k` most probable (label, score) pairs, best first; equal scores keep label order."""
    order = np.argsort(-probabilities, kind="stable")[: max(1, min(k, len(labels)))]
    return [(labels[i], round(float(probabilities[i]), decimals)) for i in order]
