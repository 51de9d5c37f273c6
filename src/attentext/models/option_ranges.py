"""Range checks for `model.options` values, shared by every family's config (or classifier).

A value of the right type can still be one no model trains with: `num_heads: 0` trained a model
that cannot attend to chance accuracy without a word, `embed_dim: -4` or `dropout: 1.5` were
torch tracebacks from inside `<output>.partial`. Each family's config calls these in its
constructor, and the registry builds the config from a recipe's options before anything is
written (`ModelFamily.check_options`), so the message is one line, first.
"""

from __future__ import annotations


def check_at_least(low: int, **values: int | None) -> None:
    """A ValueError naming the first of `values` under `low` (None: not set, allowed)."""
    for name, value in values.items():
        if value is not None and value < low:
            raise ValueError(f"{name} must be at least {low}, got {value}")


def check_rate(**rates: float) -> None:
    """A ValueError naming the first of `rates` outside [0, 1): a rate of 1 drops everything."""
    for name, rate in rates.items():
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {rate}")


def check_positive(**values: float) -> None:
    """A ValueError naming the first of `values` not above 0 (an epsilon, a regularization C)."""
    for name, value in values.items():
        if not value > 0:
            raise ValueError(f"{name} must be more than 0, got {value}")
