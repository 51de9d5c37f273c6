"""What the training data is like, measured before training, and what it means for the recipe.

A default tuned on one data set (AG News: English news, 4 balanced classes, ~40 words) does not
fit every data set. Two mismatches cost the most and are cheap to see before training:
- imbalanced classes (the largest class many times the smallest): accuracy then rewards ignoring
  the small classes; `--class-weight balanced` weighs the loss against that;
- a pretrained vocabulary that does not fit the texts' language: the default encoder is English;
  on French product reviews it lost 14 points to TF-IDF. Measured on the suite: 86-95 % of the
  words (3+ letters) of the English data sets are whole words of MiniLM's vocabulary, 41 % of the
  French tweets'.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from attentext.data.multilabel import LABEL_JOIN
from attentext.data.texts import normalized, word_count
from attentext.errors import AttentextWarning, shown

IMBALANCE_WARNING = 5.0  # largest / smallest class count from which the user is told
WHOLE_WORD_WARNING = 0.7  # share of words the vocabulary holds whole under which it is told
PROFILE_SAMPLE = 3000  # training texts read for the profile
# Fewer training texts a class than this, on average, over more texts than FEW_TEXTS_FROM, is
# told (single-label data): where scikit-learn's "more classes than half the samples" fired
FEW_TEXTS_A_CLASS = 2
FEW_TEXTS_FROM = 20
# scikit-learn's warning for the same data, which reads the classes as perhaps a regression target
SKLEARN_MANY_CLASSES = "The number of unique classes is greater than 50% of the number of samples"
WORD = re.compile(r"[^\W\d_]{3,}")


def class_counts(labels: list[Any], n_classes: int) -> np.ndarray:
    """Training examples per class (per label for multi-label data)."""
    counts = np.zeros(n_classes, dtype=np.int64)
    for label in labels:
        for i in label if isinstance(label, list | tuple) else [label]:
            counts[i] += 1
    return counts


def word_lengths(texts: list[str]) -> dict[str, float]:
    """Words per text: median, 95th and 99th percentiles."""
    lengths = np.array([word_count(text) for text in texts]) if texts else np.zeros(1)
    return {f"p{q}": float(np.percentile(lengths, q)) for q in (50, 95, 99)}


def whole_word_share(texts: list[str], vocabulary: dict[str, int]) -> float | None:
    """The share of words (3+ letters, lowercased) that a pretrained vocabulary holds whole."""
    known = total = 0
    for text in texts:  # word by word: one huge text is not a list of every word
        for word in WORD.finditer(text):
            total += 1
            known += word.group().lower() in vocabulary
    return known / total if total else None


def profile(
    train_texts: list[str],
    train_labels: list[Any],
    label_names: list[str],
    vocabulary: dict[str, int] | None = None,
) -> dict[str, Any]:
    """The training split's profile (for metrics.json): size, classes, imbalance, lengths, and
    how well a pretrained vocabulary fits (when one is given)."""
    counts = class_counts(train_labels, len(label_names))
    present = counts[counts > 0]
    sample = list(train_texts[:PROFILE_SAMPLE])
    facts: dict[str, Any] = {
        "n_train": len(train_texts),
        "n_classes": len(label_names),
        "imbalance": round(float(present.max() / present.min()), 2) if len(present) else 1.0,
        # in label-id order: what a label prior set after training divides out (attentext.label_prior)
        "label_counts": dict(zip(label_names, map(int, counts), strict=True)),
        "words_per_text": word_lengths(sample),
    }
    if vocabulary is not None:
        share = whole_word_share(sample, vocabulary)
        facts["whole_word_share"] = None if share is None else round(share, 3)
    return facts


def normalized_splits(splits: dict[str, list[str]]) -> dict[str, list[str]]:
    """Each split's texts as copies are recognised (`texts.normalized`: case, spacing, Unicode
    form and characters that draw nothing ignored), computed once for both checks of a run
    (`copies_in_training`, `labelled_two_ways`): each normalized the training texts on its own,
    twice the work on a million texts."""
    return {split: [normalized(text) for text in texts] for split, texts in splits.items()}


def copies_in_training(train_keys: list[str], others: dict[str, list[str]]) -> dict[str, int]:
    """How many texts of each other split (validation, test) are also training texts, all
    given `normalized_splits`: `test_in_train`, `validation_in_train`.

    Why: a test text the model trained on is measured as new, and test accuracy reads high
    without a word; copies inside the training file land on both sides of the validation split
    carved from it, where the checkpoint and the temperature are chosen. Counts only: what the
    run keeps (metrics.json) says nothing of the texts themselves."""
    seen = set(train_keys)
    return {f"{split}_in_train": sum(key in seen for key in keys) for split, keys in others.items()}


def labelled_two_ways(
    texts: list[str], keys: list[str], labels: list[Any]
) -> tuple[int, tuple[str, Any, Any] | None]:
    """How many texts are written on several rows with different labels (label sets), each
    text compared by its key (`normalized_splits`), and the first: (text, one label, the
    other). Such rows (a broken join, two annotators) trained without a word (an audit)."""
    first_label: dict[str, Any] = {}
    found: dict[str, tuple[str, Any, Any]] = {}
    for text, key, label in zip(texts, keys, labels, strict=True):
        label = tuple(label) if isinstance(label, list) else label
        earlier = first_label.setdefault(key, label)
        if earlier != label and key not in found:
            found[key] = (text, earlier, label)
    return len(found), next(iter(found.values()), None)


def advise_two_ways(
    count: int, example: tuple[str, Any, Any] | None, names: list[str], source: str
) -> None:
    """A warning where training texts carry two labels (`labelled_two_ways`): the model is
    taught both, a coin toss for that text and its like."""
    if not count or example is None:
        return
    text, *pair = example
    shown_labels = [
        LABEL_JOIN.join(names[i] for i in label) if isinstance(label, tuple) else names[label]
        for label in pair
    ]
    several = isinstance(pair[0], tuple)  # label sets: --multi-label is given already
    warnings.warn(
        f"{source}: {count:,} training text{' is' if count == 1 else 's are'} written on several "
        "rows with different labels "
        f"(case and spacing ignored; e.g. '{shown(text, 60)}': {shown(shown_labels[0], 40)} and "
        f"{shown(shown_labels[1], 40)}): the model is taught both; keep one label "
        + (
            "set per text"
            if several
            else "per text, or train with --multi-label if a text may have several"
        ),
        AttentextWarning,
        stacklevel=2,
    )


def advise_copies(copies: dict[str, int], sizes: dict[str, int], source: str) -> None:
    """A warning where test texts are also training texts (`copies_in_training`). Copies in the
    validation split are only recorded (metrics.json, the card): a training file with a few
    repeated rows puts some on both sides of the split carved from it (trec: 5 of 273), which
    moves the checkpoint's choice little, and a line on every such run would be noise."""
    n, total = copies.get("test_in_train", 0), sizes.get("test", 0)
    if not n:
        return
    warnings.warn(
        f"{source}: {n:,} of the {total:,} test texts ({100 * n / max(total, 1):.1f} %) are "
        "also training texts (case and spacing ignored): test accuracy counts them as new; to "
        "measure on new texts only, remove them from the test file",
        AttentextWarning,
        stacklevel=2,
    )


def _encoder_name(encoder: str) -> str:
    if encoder in ("default", ""):
        return "the default encoder (all-MiniLM-L6-v2, English)"
    return f"the encoder '{encoder}'"


@contextmanager
def classes_read_as_classes() -> Iterator[None]:
    """scikit-learn's warning that more classes than half the texts "could represent a
    regression problem" kept out of a classifier's fit: its targets are ids of label names, never
    a regression's, and what few texts a class means is said once, in one line, by `advise`
    (the warning was printed raw, with scikit-learn's file and source line)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=SKLEARN_MANY_CLASSES, category=UserWarning)
        yield


def advise_few_texts(facts: dict[str, Any], source: str) -> None:
    """A warning where single-label training data has under FEW_TEXTS_A_CLASS texts a class
    on average: a class seen once or twice is seldom learned, and its scores say little."""
    counts = [count for count in facts.get("label_counts", {}).values() if count]
    n_train = facts.get("n_train", 0)
    if n_train <= FEW_TEXTS_FROM or n_train >= FEW_TEXTS_A_CLASS * len(counts):
        return
    warnings.warn(
        f"{source}: {len(counts):,} classes for {n_train:,} training texts "
        f"({n_train / len(counts):.1f} a class, {counts.count(1):,} classes with one): a class "
        "seen once or twice is seldom learned and its scores say little; add texts of the rare "
        "classes, or merge them into broader ones",
        AttentextWarning,
        stacklevel=3,
    )


def advise(
    facts: dict[str, Any],
    class_weight: str,
    source: str,
    encoder: str,
    embedding_init: str = "random",
    texts_a_class: bool = False,
) -> None:
    """One-line warnings for what the profile says the recipe does not fit (`embedding_init`:
    a word model whose embedding starts from the encoder depends on its vocabulary too), and,
    with `texts_a_class` (single-label data the user did not draw N a class from), for too few
    texts a class."""
    if texts_a_class:
        advise_few_texts(facts, source)
    if facts["imbalance"] >= IMBALANCE_WARNING and class_weight == "none":
        warnings.warn(
            f"{source}: the classes are imbalanced (the largest has {facts['imbalance']:g} times "
            "the examples of the smallest); --class-weight balanced weighs the loss so that small "
            "classes count, --label-prior balanced divides the shares out of the probabilities "
            "(for texts that come balanced), and macro-F1 tells how they fare",
            AttentextWarning,
            stacklevel=2,
        )
    share = facts.get("whole_word_share")
    if share is not None and share < WHOLE_WORD_WARNING:
        warnings.warn(
            f"{source}: {_encoder_name(encoder)} knows only {100 * share:.0f} % of these texts' "
            "words whole (English text: 86-95 %): it likely does not fit their language; use a "
            "checkpoint of that language or a multilingual one (--set model.encoder=NAME, e.g. "
            "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2 online), or "
            + (
                "start the word embedding from noise (--set model.embedding_init=random)"
                if embedding_init == "encoder"
                else "a recipe without a pretrained vocabulary (tfidf-logreg, attention-rnn)"
            ),
            AttentextWarning,
            stacklevel=2,
        )
