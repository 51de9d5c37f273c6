"""The errors a user can cause.

Each carries a one-line message that names the problem and, where it can, what to do. The CLI and
the server catch `AttentextError` once and show that line; anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations


class AttentextError(Exception):
    """Base class of every user-facing attentext error."""


class DataError(AttentextError):
    """A data file or dataset is missing, malformed or inconsistent."""


class RecipeError(AttentextError):
    """A recipe or a `--set` override is invalid."""


class RunDirError(AttentextError):
    """A run directory is missing, incomplete or not an attentext run."""


class ModelSourceError(AttentextError):
    """A pretrained checkpoint cannot be found or fetched."""
