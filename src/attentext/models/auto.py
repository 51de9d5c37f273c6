"""Registering a model family with transformers' Auto classes, so that
`AutoModelForSequenceClassification.from_pretrained(run_dir)` and `pipeline(...)` load its runs.

Each family module registers itself when it is imported (the last lines of the module), so a
family is known to transformers whenever its code is loaded, however it came to be loaded.
"""

from __future__ import annotations

from transformers import AutoConfig, AutoModelForSequenceClassification, PretrainedConfig


def register(config_cls: type[PretrainedConfig], model_cls: type) -> None:
    """Make `config_cls.model_type` load as `model_cls` through the Auto classes (idempotent)."""
    AutoConfig.register(config_cls.model_type, config_cls, exist_ok=True)
    AutoModelForSequenceClassification.register(config_cls, model_cls, exist_ok=True)
