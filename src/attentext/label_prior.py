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

PSEUDO_TEXTS = 100.0  # the Dirichlet prior's weight in estimated_shares, in texts
# how far EM's share of a label may stray from the run's mean probability of it (either way)
# before the estimate is refused: on trec, two runs whose probabilities were flat (temperatures
# 1.7-1.8) let EM take ABBR (1.6 % of training, 1.8 % of test) to 21-26 % of the test texts,
# 5.4x and 7.0x their mean probability of it, and lost 11.8 and 28.2 points of accuracy; the 33
# other runs of trec, emotion and AG News strayed at most 1.56x (benchmarks/README.md, the label
# prior)
MAX_DRIFT = 3.0


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
    return shift_bias(np.full(len(counts), 1.0 / len(counts)), counts)


def prior_record(target: str, train_counts: dict[str, int]) -> dict | None:
    """calibration.json's `label_prior` for `target` ("train" or "balanced") from the training
    split's label counts (in label-id order); None for "train", which adds nothing."""
    bias = label_bias(list(train_counts.values()), target)
    if bias is None:
        return None
    return {"target": target, "train_counts": dict(train_counts), "bias": bias}


def estimated_shares(
    probabilities: np.ndarray,
    train_counts: Sequence[int],
    pseudo_texts: float = PSEUDO_TEXTS,
    steps: int = 200,
    tolerance: float = 1e-6,
) -> np.ndarray:
    """The label shares of the texts behind `probabilities` (the run's calibrated ones, without
    a prior of its own), estimated without labels by EM (Saerens et al. 2002): the shares are
    the mean of the probabilities re-weighted by shares / training shares, until they settle.

    A Dirichlet prior of `pseudo_texts` texts in the training shares joins the mean (MAP-EM): a
    weak model, whose probabilities barely differ from its prior, otherwise lets EM drift to a
    corner (a tfidf-logreg of 118 texts gave two labels 1e-30 of 80 balanced texts); a few
    thousand texts outweigh it. Texts in the training proportions give those back; AG News's
    test texts, scored by runs trained on its 1.7:1 training file, gave 0.21-0.29 a label."""
    p = np.asarray(probabilities, dtype=np.float64)
    counts = np.asarray(train_counts, dtype=np.float64)
    train = np.clip(counts / counts.sum(), 1e-12, None)
    shares = train.copy()
    for _ in range(steps):
        weighted = p * (shares / train)
        weighted /= weighted.sum(axis=1, keepdims=True)
        new = (weighted.sum(axis=0) + pseudo_texts * train) / (len(p) + pseudo_texts)
        done = np.abs(new - shares).max() < tolerance
        shares = new
        if done:
            break
    return shares


def label_drift(probabilities: np.ndarray, shares: Sequence[float]) -> np.ndarray:
    """Per label, how many times its estimated share is above, or below, the run's mean
    probability of it (1: where the run's own probabilities lead)."""
    mean = np.clip(np.asarray(probabilities, dtype=np.float64).mean(axis=0), 1e-12, None)
    ratio = np.clip(np.asarray(shares, dtype=np.float64), 1e-12, None) / mean
    return np.maximum(ratio, 1 / ratio)


def drifted_labels(probabilities: np.ndarray, shares: Sequence[float]) -> list[int]:
    """The labels whose estimated share drifted past MAX_DRIFT (`label_drift`), the most drifted
    first: EM gone where the run's own probabilities do not lead (Alexandari et al., ICML 2020:
    EM needs probabilities calibrated label by label, which one temperature does not give; a
    run that is unsure of a rare label everywhere feeds it)."""
    drift = label_drift(probabilities, shares)
    return [int(k) for k in np.argsort(-drift, kind="stable") if drift[k] > MAX_DRIFT]


def shift_bias(shares: Sequence[float], train_counts: Sequence[int]) -> list[float]:
    """log(shares / training shares) per label: the bias towards given label shares (a label
    with no training texts, or no share, gets none)."""
    counts = np.asarray(train_counts, dtype=np.float64)
    train = counts / counts.sum()
    target = np.asarray(shares, dtype=np.float64)
    ok = (train > 0) & (target > 0)
    bias = np.where(ok, np.log(np.where(ok, target, 1.0) / np.where(ok, train, 1.0)), 0.0)
    return [round(float(b), 6) for b in bias]


def shifted_logits(
    logits: np.ndarray, temperature: float, bias: Sequence[float] | np.ndarray | None
) -> np.ndarray:
    """The calibrated logits: logits / temperature, plus the label prior's bias where there is
    one. Their softmax is the run's probabilities (before any confidence map)."""
    scaled = np.asarray(logits) / temperature
    return scaled if bias is None else scaled + np.asarray(bias, dtype=scaled.dtype)
