"""Occlusion: how much each word carries a prediction, read from the model's answers alone.

Why: attention weights say where a model looked, not what decided (Jain and Wallace, "Attention is
not Explanation", NAACL 2019; Serrano and Smith, ACL 2019): a word may be attended to and matter
little, or matter and draw little attention. Leaving a word out and measuring how far the
predicted label's log-odds fall asks the model itself (Zeiler and Fergus 2014's occlusion, the
leave-one-out of Li et al. 2016 for text). Log-odds, not probability: a 0.999 that a word takes
to 0.99 has moved about as far as a 0.5 taken to 0.9, where the probability says 0.009 against
0.4. It is faithful by construction to what one word does alone, it works for every run (TF-IDF,
ensembles, ONNX, long texts read in windows) through `predict_proba`, and it costs one
prediction per word. It does not see what words do together (a word whose neighbour repeats it
falls little when left out alone).

The words are the text's whitespace-separated pieces (punctuation stays with its word), with
their character spans. A text of more than MAX_PIECES words is occluded in groups of consecutive
words, each word getting its group's fall shared equally, so one text never costs more than
MAX_PIECES + 1 predictions.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from attentext.decisions import log_odds
from attentext.interpret.explanation import Explanation

MAX_PIECES = 256  # at most this many texts with a part left out, per text explained
WORD = re.compile(r"\S+")
METHOD = "occlusion: the fall of the label's log-odds with the word left out"


def word_spans(text: str) -> list[tuple[int, int]]:
    """The character span of each whitespace-separated word of `text`."""
    return [match.span() for match in WORD.finditer(text)]


def occlusion_groups(n_words: int, max_pieces: int = MAX_PIECES) -> list[range]:
    """Consecutive word indices left out together: one word each up to `max_pieces` words,
    else `max_pieces` groups or fewer of equal size (the last one shorter)."""
    size = max(1, math.ceil(n_words / max_pieces))
    return [range(start, min(start + size, n_words)) for start in range(0, n_words, size)]


def without(text: str, spans: list[tuple[int, int]], group: range) -> str:
    """`text` with the words of `group` (consecutive) cut out, the spaces around them kept."""
    return text[: spans[group.start][0]] + text[spans[group.stop - 1][1] :]


def explain_occlusion(classifier: Any, texts: list[str]) -> list[Explanation]:
    """Each text's prediction and the fall of its label's log-odds as each word is left out
    (importances: the positive falls, normalized to sum to 1; a word whose absence raises the
    probability gets 0). Any classifier with `labels` and `predict_proba` will do."""
    return [_explain_one(classifier, text) for text in texts]


def _explain_one(classifier: Any, text: str) -> Explanation:
    spans = word_spans(text)
    groups = occlusion_groups(len(spans))
    probabilities = np.asarray(
        classifier.predict_proba([text, *(without(text, spans, g) for g in groups)])
    )
    best = int(np.argmax(probabilities[0]))
    odds = log_odds(probabilities[:, best])
    falls = np.zeros(len(spans))
    for group, row_odds in zip(groups, odds[1:], strict=True):
        falls[group.start : group.stop] = (odds[0] - row_odds) / len(group)
    positive = np.clip(falls, 0.0, None)
    return Explanation(
        text=text,
        tokens=[text[start:end] for start, end in spans],
        label=classifier.labels[best],
        probabilities={
            name: float(p) for name, p in zip(classifier.labels, probabilities[0], strict=True)
        },
        importances=positive / positive.sum() if positive.sum() > 0 else positive,
        offsets=spans,
        method=METHOD,
    )
