"""The TF-IDF baseline explains itself by its n-grams: tf-idf value x the predicted class's
coefficient, the positive ones, normalized to sum to 1."""

from __future__ import annotations

import numpy as np

from attentext.interpret.explanation import Explanation
from attentext.models.tfidf_logreg import TfidfLogRegClassifier

TOP_NGRAMS = 15


def explain_ngrams(classifier: TfidfLogRegClassifier, texts: list[str]) -> list[Explanation]:
    """Each text's prediction and the n-grams that pushed hardest toward it."""
    return [_explain_one(classifier, text) for text in texts]


def _explain_one(classifier: TfidfLogRegClassifier, text: str) -> Explanation:
    probabilities = classifier.predict_proba([text])[0]
    best = int(np.argmax(probabilities))
    top = [
        (gram, weight)
        for gram, weight in classifier.top_ngrams(text, best, TOP_NGRAMS)
        if weight > 0
    ]
    weights = np.array([w for _, w in top], dtype=np.float64)
    return Explanation(
        text=text,
        tokens=[gram for gram, _ in top],
        label=classifier.labels[best],
        probabilities={
            name: float(p) for name, p in zip(classifier.labels, probabilities, strict=True)
        },
        importances=weights / weights.sum() if weights.size else weights,
        method="TF-IDF x coefficient of the predicted class (top n-grams)",
    )
