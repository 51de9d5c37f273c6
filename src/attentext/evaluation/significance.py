"""How sure a comparison of runs on the same texts is: an interval for each accuracy, and a paired
test of each run against the best.

Why: on AG News' 7,600 test texts an accuracy is known to about +-0.7 points (95 %), and two runs
half a point apart may differ by chance alone. Runs measured on the same texts are compared text by
text (McNemar's exact test: only the texts one run gets right and the other wrong count), which
tells far smaller differences apart than two separate intervals do. scipy does the arithmetic.
Macro-F1 has no such closed form: its interval and paired p come from resampling the texts
(the same resamples for every run, so that differences are paired; Koehn 2004's paired
bootstrap). Runs of several labels per text rank by macro-F1, so their p is the bootstrap's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import binomtest

from attentext.evaluation.standing import rank_order

CONFIDENCE = 0.95


def accuracy_interval(hits: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The Wilson score interval of the share of `hits` (True where a text was classified right):
    unlike the normal approximation it stays inside [0, 1] and holds for small or extreme counts."""
    hits = np.asarray(hits, dtype=bool)
    if not len(hits):
        return float("nan"), float("nan")
    interval = binomtest(int(hits.sum()), len(hits)).proportion_ci(confidence, method="wilson")
    return float(interval.low), float(interval.high)


def mcnemar_p(hits_a: np.ndarray, hits_b: np.ndarray) -> float:
    """Two-sided p-value of McNemar's exact test that two runs are as accurate on these texts:
    of the texts exactly one of them gets right, each run's share is 1/2 under that hypothesis."""
    hits_a, hits_b = np.asarray(hits_a, dtype=bool), np.asarray(hits_b, dtype=bool)
    only_a = int((hits_a & ~hits_b).sum())
    only_b = int((hits_b & ~hits_a).sum())
    if only_a + only_b == 0:
        return 1.0
    return float(binomtest(only_a, only_a + only_b, 0.5).pvalue)


def with_significance(
    rows: list[dict[str, Any]], outcomes: list[tuple[np.ndarray, np.ndarray]], multi_label: bool
) -> list[dict[str, Any]]:
    """`rows` (one per run, `outcomes` in the same order: gold and given labels, texts x labels)
    with `macro_f1_low` / `macro_f1_high` and `p_vs_best` against the best run as runs are
    ranked (`standing.rank_order`; not corrected for the number of runs compared; None for the
    best): with one label per text, by accuracy then macro-F1 (`accuracy_low` /
    `accuracy_high`, McNemar's p); with several, by macro-F1 (the bootstrap's p)."""
    best = rank_order(rows, multi_label)[0]  # a tie on accuracy: the better macro-F1
    intervals, bootstrap_p = macro_f1_bootstrap(outcomes, best)
    hits = [(truth == decided).all(axis=1) for truth, decided in outcomes]
    out = []
    for i, row in enumerate(rows):
        low, high = intervals[i]
        extra: dict[str, Any] = {"macro_f1_low": low, "macro_f1_high": high}
        if multi_label:
            extra["p_vs_best"] = bootstrap_p[i]
        else:
            extra["accuracy_low"], extra["accuracy_high"] = accuracy_interval(hits[i])
            extra["p_vs_best"] = None if i == best else mcnemar_p(hits[i], hits[best])
        out.append({**row, **extra})
    return out


BOOTSTRAP_SAMPLES = 1000
# resamples x texts at most (fewer resamples past 200,000 texts, at least BOOTSTRAP_LEAST): 1,000
# resamples of a million texts took 48 s on 2 cores, and their interval is narrow anyway
BOOTSTRAP_BUDGET, BOOTSTRAP_LEAST = 200_000_000, 200
BOOTSTRAP_CELLS = 4_000_000  # weights drawn at a time (resamples x texts): 32 MB of floats


def macro_f1_bootstrap(
    outcomes: list[tuple[np.ndarray, np.ndarray]],
    best: int,
    samples: int | None = None,
    seed: int = 0,
) -> tuple[list[tuple[float, float]], list[float | None]]:
    """For runs measured on the same texts (each `(truth, decided)`: texts x labels of 0/1, a
    one-hot row per text for one label per text), each run's macro-F1 95 % percentile interval
    over `samples` resamples of the texts (1,000 up to 200,000 texts, fewer beyond), and the
    two-sided paired bootstrap p of its difference from run `best` (None for `best`; at least
    2 / (samples + 1))."""
    n = len(outcomes[0][0])
    if samples is None:
        samples = min(BOOTSTRAP_SAMPLES, max(BOOTSTRAP_LEAST, BOOTSTRAP_BUDGET // max(n, 1)))
    rng = np.random.default_rng(seed)
    scores = np.zeros((len(outcomes), samples))
    chunk = max(1, BOOTSTRAP_CELLS // max(n, 1))  # 100 x 1M texts of weights were 800 MB
    for start in range(0, samples, chunk):
        size = min(chunk, samples - start)
        # how often each text is drawn: Poisson(1), texts drawn independently (the Poisson
        # bootstrap: as good as n draws with replacement for hundreds of texts and more)
        weights = rng.poisson(1.0, size=(size, n)).astype(np.float64)
        for r, (truth, decided) in enumerate(outcomes):
            scores[r, start : start + size] = _macro_f1(weights, truth, decided)
    intervals = [
        (float(np.percentile(row, 2.5)), float(np.percentile(row, 97.5))) for row in scores
    ]
    p_values: list[float | None] = []
    for r, row in enumerate(scores):
        diff = row - scores[best]
        tail = min(int((diff >= 0).sum()), int((diff <= 0).sum()))
        p_values.append(None if r == best else min(1.0, 2 * (tail + 1) / (samples + 1)))
    return intervals, p_values


def macro_f1_interval(truth: np.ndarray, decided: np.ndarray) -> list[float] | None:
    """One run's macro-F1 95 % interval (`macro_f1_bootstrap`; `truth`, `decided`: texts x
    labels of 0/1), None without texts: what a report and the card give beside the score."""
    if not len(truth):
        return None
    return list(macro_f1_bootstrap([(truth, decided)], best=0)[0][0])


def _macro_f1(weights: np.ndarray, truth: np.ndarray, decided: np.ndarray) -> np.ndarray:
    """Macro-F1 of each resample (a row of `weights`: how often each text is drawn), over the
    labels some text drawn into that resample carries or is given (as `metrics.macro_f1` and
    `multilabel.multilabel_macro_f1` count them on the texts they are given).

    A label whose texts a resample never draws has no F1 there; counted as 0 (over the labels
    of the whole sample) it pulled every resample down by the share of such labels: with one
    text per class (Poisson(1) draws none of a text 37 % of the time) a run at macro-F1 1.0 was
    given the interval 0.57-0.70.
    """
    truth, decided = truth.astype(np.float64), decided.astype(np.float64)
    tp = weights @ (truth * decided)
    fp = weights @ ((1 - truth) * decided)
    fn = weights @ (truth * (1 - decided))
    denominator = 2 * tp + fp + fn  # the label's weight in the gold labels plus in the given
    present = denominator > 0
    f1 = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=present)
    counted = present.sum(axis=1)
    return np.divide(f1.sum(axis=1), counted, out=np.zeros(len(weights)), where=counted > 0)
