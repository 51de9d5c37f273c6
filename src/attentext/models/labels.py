"""The label arguments every Hugging Face config takes: the names stay with the model."""

from __future__ import annotations

from typing import Any


def label_config(label_names: list[str]) -> dict[str, Any]:
    """num_labels, id2label and label2id for a model classifying into `label_names`."""
    return {
        "num_labels": len(label_names),
        "id2label": dict(enumerate(label_names)),
        "label2id": {name: i for i, name in enumerate(label_names)},
    }
