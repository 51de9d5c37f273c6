"""Several labels per text: a temperature per label (issue #19's per-label calibration).

A multi-label model gives each label its own probability, sigmoid(logit). Temperature scaling
(Guo et al. 2017) carries over label by label: sigmoid(logit / T_label), each T fitted on the
validation split by minimizing that label's binary cross-entropy. A sigmoid is the softmax of
the two logits [0, logit], so each label's fit is `fit_temperature` on those pairs. A label with
few positive (or negative) examples in validation cannot say how sure it should be: it takes the
temperature fitted on every (text, label) pair of the split at once. One scalar per label never
changes which texts a label ranks first, only how sure it says it is; the decision thresholds are
tuned afterwards on the calibrated probabilities, so they mean what the readers compare them to.
A split of more than MAX_PAIRS (text, label) pairs is fitted and measured on a seeded sample of
its texts (a million texts of a thousand labels would otherwise hold 16 GB of pairs at once).

calibration.json of a multi-label run:
    {"temperature": 1.0, "label_temperatures": {"pooled": T, "per_label": {label: T, ...}},
     "fitted_on": "validation", "n_examples": ..., "nll_before": ..., ..., "test": {...}}
where NLL is the mean binary cross-entropy over every (text, label) pair and ECE that of each
pair's decision (the probability of the side the model takes, against whether it is right).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from attentext.decisions import calibrated_sigmoid, temperature_vector
from attentext.errors import AttentextWarning
from attentext.evaluation.calibration import (
    compare_probabilities,
    fit_temperature,
    without_mistake,
)

# a label's own temperature needs this many positive and negative validation texts; with fewer,
# a label that validation happens to separate drives its temperature to the bound (Reuters' coffee:
# 0.05 from 5 positives) and test pays: on Reuters ModApte (388 validation texts) 5 gave the seed
# transformer a test NLL above no calibration at all, 20 one below the shared temperature's
MIN_EXAMPLES_FOR_OWN_TEMPERATURE = 20
MAX_PAIRS = 4_000_000  # (text, label) pairs fitted or measured at once: 64 MB of pair logits


def sampled_rows(targets: np.ndarray, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`targets` and `logits` as they are, or a seeded draw of their rows holding at most
    MAX_PAIRS (text, label) pairs."""
    rows, labels = np.shape(logits)
    if rows * labels <= MAX_PAIRS:
        return np.asarray(targets), np.asarray(logits)
    keep = np.sort(np.random.default_rng(0).choice(rows, MAX_PAIRS // labels, replace=False))
    return np.asarray(targets)[keep], np.asarray(logits)[keep]


def pair_logits(logits: np.ndarray) -> np.ndarray:
    """(rows * labels, 2): each (text, label) pair as the two-class logits [0, logit], whose
    softmax is [1 - sigmoid(logit), sigmoid(logit)]."""
    flat = np.asarray(logits, dtype=np.float64).reshape(-1)
    return np.stack([np.zeros_like(flat), flat], axis=1)


def fit_label_temperatures(
    targets: np.ndarray, logits: np.ndarray, label_names: list[str], split: str = "validation"
) -> dict[str, Any]:
    """The pooled temperature of every pair, and a label's own where validation has at least
    MIN_EXAMPLES_FOR_OWN_TEMPERATURE positive and as many negative texts of it. A label `split`
    separates without a mistake (every positive text's logit above 0, every other's below) keeps
    T = 1, said in one warning counting them (`_pair_temperature`), as one label per text does."""
    targets, logits = sampled_rows(targets, np.asarray(logits, dtype=np.float64))
    pooled = _pair_temperature(logits, targets)
    per_label: dict[str, float] = {}
    separated = 0
    for j, name in enumerate(label_names):
        positives = int(targets[:, j].sum())
        if min(positives, len(targets) - positives) < MIN_EXAMPLES_FOR_OWN_TEMPERATURE:
            continue
        own = _pair_temperature(logits[:, j], targets[:, j])
        separated += own is None
        per_label[name] = 1.0 if own is None else own
    if pooled is None:  # every pair right: the labels without their own temperature too
        separated = len(label_names)
    if separated:
        _warn_separated(separated, len(label_names), split)
    return {"pooled": 1.0 if pooled is None else pooled, "per_label": per_label}


def _pair_temperature(logits: np.ndarray, targets: np.ndarray) -> float | None:
    """The temperature fitted on these (text, label) pairs, or None where they hold no mistake:
    the likelihood then grows for ever as T shrinks and the fit ran to its bound (a label of a
    multi-label validation split separated whole was given T = 0.05)."""
    pairs, sides = pair_logits(logits), np.asarray(targets, dtype=np.int64).reshape(-1)
    if len(sides) >= 2 and without_mistake(pairs, sides):
        return None
    return round(fit_temperature(pairs, sides), 6)


def _warn_separated(separated: int, labels: int, split: str) -> None:
    warnings.warn(
        f"the {split} split's texts are all classified right on {separated} of the {labels} "
        "labels, so no temperature fits those (the likelihood grows for ever as it shrinks): "
        "their probabilities are left as the model gives them (T = 1); to calibrate them, give "
        "held-out texts it gets some wrong: attentext recalibrate RUN --data HELD_OUT",
        AttentextWarning,
        stacklevel=4,
    )


def measure_label_calibration(
    targets: np.ndarray, logits: np.ndarray, temperatures: np.ndarray | None
) -> dict[str, float]:
    """Mean binary cross-entropy and ECE over every (text, label) pair, before and after (of
    a sample of the texts where there are more than MAX_PAIRS pairs; `n_examples` says how many)."""
    targets, logits = sampled_rows(targets, logits)
    targets = targets.reshape(-1)

    def pairs(probabilities: np.ndarray) -> np.ndarray:
        flat = probabilities.reshape(-1)
        return np.stack([1.0 - flat, flat], axis=1)

    before = pairs(calibrated_sigmoid(logits, None))
    after = pairs(calibrated_sigmoid(logits, temperatures))
    measured = compare_probabilities(before, after, targets)
    return {**measured, "n_examples": len(logits), "n_pairs": len(targets)}


def calibrate_labels(
    targets: np.ndarray, logits: np.ndarray, label_names: list[str], split: str
) -> dict[str, Any]:
    """calibration.json's record for a multi-label run: the temperatures fitted on `split`'s
    multi-hot `targets` and logits, and what they did there."""
    fitted = fit_label_temperatures(targets, logits, label_names, split)
    temperatures = temperature_vector(fitted, label_names)
    return {
        "temperature": 1.0,  # the single-label readers' scalar: the labels' own apply instead
        "label_temperatures": fitted,
        "fitted_on": split,
        **measure_label_calibration(targets, logits, temperatures),
    }
