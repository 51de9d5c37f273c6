"""`EnsembleClassifier`: several runs on the same labels answering as one, by the weighted mean
of their calibrated probabilities.

Averaging probabilities, not votes or logits: each member's are already calibrated on
validation (its temperature), so a confident member weighs more only where it is rightly
confident, and a TF-IDF run (whose "logits" are log-probabilities) mixes with neural ones on
one scale. The ensemble's own temperature (fitted on validation when it is built: a mean of
calibrated runs is less sure than each) and confidence map (`attentext recalibrate`) apply to
the mixture, whose log is its logits.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import softmax

from attentext.confidence import ConfidenceMap
from attentext.data.readers import text_list
from attentext.decisions import decide
from attentext.errors import RunDirError
from attentext.label_prior import shifted_logits
from attentext.rundir import Run

LOG_FLOOR = 1e-12


class EnsembleClassifier:
    """The `Classifier` protocol over member classifiers and their weights."""

    multi_label = False

    def __init__(self, members: list[Any], weights: list[float], names: list[str]) -> None:
        self.members, self.weights, self.names = members, list(weights), list(names)
        self.labels = list(members[0].labels)
        self.temperature = 1.0  # the mixture's calibration, set by the loader
        self.confidence_map: ConfidenceMap | None = None
        self.label_bias: np.ndarray | None = None  # a label prior of the mixture, likewise

    @classmethod
    def from_run(cls, run: Run, load_member: Callable[[Path], Any]) -> EnsembleClassifier:
        """Each member loaded with `load_member` (the same backend and device as asked for the
        ensemble); members on other labels, or with several labels per text, are refused."""
        members, weights = [], []
        for path, weight in run.members:
            member = load_member(path)
            if getattr(member, "multi_label", False):
                raise RunDirError(
                    f"{path}: gives several labels per text; an ensemble averages one-label runs"
                )
            if members and list(member.labels) != list(members[0].labels):
                raise RunDirError(
                    f"{path}: its labels differ from {run.members[0][0].name}'s; an ensemble's "
                    "members must be trained on the same labels"
                )
            members.append(member)
            weights.append(weight)
        return cls(members, weights, [path.name for path, _ in run.members])

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """The weighted mean of the members' probabilities, (len(texts), len(labels)), then the
        ensemble's own temperature and map."""
        texts = text_list(texts)
        mixture = np.zeros((len(texts), len(self.labels)), dtype=np.float64)
        if not texts:
            return mixture
        for member, weight in zip(self.members, self.weights, strict=True):
            mixture += weight * np.asarray(member.predict_proba(texts), dtype=np.float64)
        if self.temperature != 1.0 or self.label_bias is not None:
            logits = np.log(np.clip(mixture, LOG_FLOOR, None))
            mixture = softmax(shifted_logits(logits, self.temperature, self.label_bias), axis=1)
        return mixture if self.confidence_map is None else self.confidence_map.apply(mixture)

    def predict(self, texts: list[str]) -> list[str]:
        """The most probable label name of each text."""
        return decide(self.predict_proba(texts), self.labels, False, None)
