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
from attentext.errors import AttentextError, RunDirError, short_list
from attentext.label_prior import shifted_logits
from attentext.rendering import classifier_text
from attentext.rundir import Run

LOG_FLOOR = 1e-12


def label_columns(
    labels: list[str],
    first: list[str],
    path: str | Path,
    first_path: str | Path,
    error: type[AttentextError] = RunDirError,
) -> list[int] | None:
    """Where each of the first member's labels (`first`) is among a member's `labels` (None: the
    same order), so that probabilities are averaged by label name. Members of the same classes
    listed in another order (a folder's classes.txt beside a CSV of the names, read sorted) were
    refused as "its labels differ"; members of other classes are refused naming the difference."""
    if list(labels) == list(first):
        return None
    if sorted(labels) == sorted(first) and len(set(labels)) == len(labels):
        return [list(labels).index(name) for name in first]
    only = [name for name in labels if name not in first]
    missing = [name for name in first if name not in labels]
    said = "; ".join(
        f"{what} {short_list(names, 5)}"
        for what, names in (("it has", only), ("it lacks", missing))
        if names
    )
    raise error(
        f"{path}: its labels differ from {Path(first_path).name}'s ({said or 'a label twice'}); "
        "an ensemble's members must be trained on the same labels"
    )


class EnsembleClassifier:
    """The `Classifier` protocol over member classifiers and their weights."""

    multi_label = False

    def __repr__(self) -> str:
        return classifier_text(self)

    def __init__(
        self,
        members: list[Any],
        weights: list[float],
        names: list[str],
        columns: list[list[int] | None] | None = None,
    ) -> None:
        self.members, self.weights, self.names = members, list(weights), list(names)
        self.labels = list(members[0].labels)
        # each member's probability columns in the order of `labels` (None: already so)
        self.columns = columns or [None] * len(members)
        self.temperature = 1.0  # the mixture's calibration, set by the loader
        self.confidence_map: ConfidenceMap | None = None
        self.label_bias: np.ndarray | None = None  # a label prior of the mixture, likewise

    @classmethod
    def from_run(cls, run: Run, load_member: Callable[[Path], Any]) -> EnsembleClassifier:
        """Each member loaded with `load_member` (the same backend and device as asked for the
        ensemble); members on other labels, or with several labels per text, are refused."""
        members, weights, columns = [], [], []
        for path, weight in run.members:
            member = load_member(path)
            if getattr(member, "multi_label", False):
                raise RunDirError(
                    f"{path}: gives several labels per text; an ensemble averages one-label runs"
                )
            first = members[0].labels if members else member.labels
            columns.append(label_columns(member.labels, first, path, run.members[0][0]))
            members.append(member)
            weights.append(weight)
        return cls(members, weights, [path.name for path, _ in run.members], columns)

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """The weighted mean of the members' probabilities, (len(texts), len(labels)), then the
        ensemble's own temperature and map; float64, as every backend's."""
        texts = text_list(texts)
        mixture = np.zeros((len(texts), len(self.labels)), dtype=np.float64)
        if not texts:
            return mixture
        for member, weight, columns in zip(self.members, self.weights, self.columns, strict=True):
            probabilities = np.asarray(member.predict_proba(texts), dtype=np.float64)
            mixture += weight * (probabilities if columns is None else probabilities[:, columns])
        if self.temperature != 1.0 or self.label_bias is not None:
            logits = np.log(np.clip(mixture, LOG_FLOOR, None))
            mixture = softmax(shifted_logits(logits, self.temperature, self.label_bias), axis=1)
        return mixture if self.confidence_map is None else self.confidence_map.apply(mixture)

    def predict(self, texts: list[str]) -> list[str]:
        """The most probable label name of each text."""
        return decide(self.predict_proba(texts), self.labels, False, None)
