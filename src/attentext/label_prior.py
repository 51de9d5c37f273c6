"""The label distribution a run's probabilities assume: the training split's, or an even one.

A classifier trained on labels in some proportions learns those proportions as a prior: its
probabilities are p_train(y | x), which lean towards the labels it saw most. Where the texts it
will score come in other proportions (a known label shift), Bayes' rule gives the correction
without retraining (Saerens, Latinne and Decaestecker, "Adjusting the Outputs of a Classifier
to New a Priori Probabilities", Neural Computation 2002; the logit adjustment of Menon et al.,
ICLR 2021): p_target(y | x) is proportional to p_train(y | x) * pi_target(y) / pi_train(y), that
is a bias of log(pi_target / pi_train) added to the calibrated logits. `training.label_prior:
balanced` asks for an even pi_target: what a benchmark with a balanced test split measures, and
what a user who cares for every label alike wants. The shared AG News training file, for one, is
1.7:1 imbalanced (World and Sci/Tech over Sports and Business) while its test split and the
original corpus are balanced (benchmarks/README.md, "The label prior").

Unlike the temperature, the bias can change the predicted label: that is its purpose. Numpy
only: every reader of a run (the ONNX backend too) applies it without torch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from attentext.recipes import LABEL_PRIORS


def label_bias(train_counts: Sequence[int], target: str) -> list[float] | None:
    """log(pi_target / pi_train) for each label, in label-id order; None for `train` (no bias).

    A label the training split never had gets no bias (0): there is no prior of it to divide out.
    """
    if target not in LABEL_PRIORS:
        raise ValueError(f"a label prior is one of {', '.join(LABEL_PRIORS)}, not {target!r}")
    if target == "train":
        return None
    counts = np.asarray(train_counts, dtype=np.float64)
    if counts.ndim != 1 or len(counts) < 2 or counts.sum() <= 0:
        raise ValueError("a label prior needs the training split's count of every label")
    shares = counts / counts.sum()
    even = 1.0 / len(counts)
    bias = np.where(shares > 0, np.log(even / np.where(shares > 0, shares, 1.0)), 0.0)
    return [round(float(b), 6) for b in bias]


def shifted_logits(
    logits: np.ndarray, temperature: float, bias: Sequence[float] | np.ndarray | None
) -> np.ndarray:
    """The calibrated logits: logits / temperature, plus the label prior's bias where there is
    one. Their softmax is the run's probabilities (before any confidence map)."""
    scaled = np.asarray(logits) / temperature
    return scaled if bias is None else scaled + np.asarray(bias, dtype=scaled.dtype)
