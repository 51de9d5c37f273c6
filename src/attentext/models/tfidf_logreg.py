"""The classical baseline: word 1-2-gram TF-IDF + logistic regression (scikit-learn).

Every comparison needs it: on AG News it is within a few points of fine-tuned transformers and
trains in seconds. It is saved WITHOUT pickle or joblib: the vocabulary as JSON, idf and the
coefficients as safetensors, so loading a run never executes code from the file.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from attentext.confidence import ConfidenceMap
from attentext.data.profile import classes_read_as_classes
from attentext.data.readers import text_list
from attentext.data.unicode import standard_text
from attentext.decisions import calibrated_sigmoid, decide, log_odds, sigmoid
from attentext.errors import AttentextNote, DataError, RunDirError
from attentext.label_prior import shifted_logits
from attentext.models.option_ranges import check_at_least, check_positive
from attentext.rendering import classifier_text

CONFIG_FILE = "tfidf_config.json"
VOCAB_FILE = "vocabulary.json"
WEIGHTS_FILE = "tfidf_logreg.safetensors"
# how a run reads its texts before scikit-learn splits words (`TfidfLogRegClassifier.text_form`)
STANDARD_FORM = "nfc-visible"
# the characters of a text the vectorizer reads at most: far over any article or review (AG News'
# longest is ~1,000), under what makes scikit-learn's word lists huge (one 100 MB text held
# every word and bigram as a Python string: 2.7 GB peak to predict it, 436 MB with this bound)
MAX_CHARS = 100_000
# the words of scikit-learn's ValueErrors for a vocabulary fitted empty (`_fit_vocabulary`)
VOCABULARY_ERRORS = ("empty vocabulary", "no terms remain", "than min_df")
# the most coefficients (classes x features, intercepts included) LogisticRegression's solver
# fits: scipy's L-BFGS-B keeps its workspace, 2 x 10 + 5 float64 a coefficient (10 correction
# pairs) and 11 x 10 x 10 + 8 x 10 more, in one array a 32-bit int indexes; past 2**31 values
# the process crashed (signal 11, no message, a `.partial` left; 2,000 classes of 2 texts and
# 54,950 features: an audit). At the bound the fit holds about 12 GB (137 bytes a coefficient).
MAX_SOLVER_COEFFICIENTS = (2**31 - 1 - 11 * 10 * 10 - 8 * 10) // (2 * 10 + 5)


class OneVsRestLogReg:
    """One binary logistic regression per label (several labels per text), with the attributes
    of scikit-learn's `LogisticRegression` that saving and explaining read (`coef_`,
    `intercept_`, `classes_`). A label present in every training row (or none) gets a constant."""

    def __init__(self, C: float, max_iter: int) -> None:
        self.C, self.max_iter = C, max_iter
        self.class_weight: str | None = None  # "balanced": each label's positives and negatives

    def fit(self, features, targets: np.ndarray) -> OneVsRestLogReg:  # noqa: ANN001 (sparse)
        n_labels = targets.shape[1]
        self.coef_ = np.zeros((n_labels, features.shape[1]), dtype=np.float64)
        self.intercept_ = np.zeros(n_labels, dtype=np.float64)
        self.classes_ = np.arange(n_labels)
        for j in range(n_labels):
            column = targets[:, j]
            if column.min() == column.max():  # constant: its log-odds, clipped
                p = float(np.clip(column.mean(), 1e-4, 1 - 1e-4))
                self.intercept_[j] = np.log(p / (1 - p))
                continue
            model = LogisticRegression(
                C=self.C, max_iter=self.max_iter, class_weight=self.class_weight
            ).fit(features, column)
            self.coef_[j], self.intercept_[j] = model.coef_[0], model.intercept_[0]
        return self

    def predict_proba(self, features) -> np.ndarray:  # noqa: ANN001 (sparse)
        return sigmoid(features @ self.coef_.T + self.intercept_)


class TfidfLogRegClassifier:
    """TF-IDF features + multinomial (or, multi-label, one-vs-rest) logistic regression behind
    the `Classifier` protocol."""

    def __repr__(self) -> str:
        return classifier_text(self)

    def __init__(
        self,
        labels: list[str],
        multi_label: bool = False,
        C: float = 10.0,
        ngram_max: int = 2,
        min_df: int = 1,
        max_features: int | None = None,
        sublinear_tf: bool = True,
        max_iter: int = 1000,
        max_chars: int = MAX_CHARS,
    ) -> None:
        check_positive(C=C)
        check_at_least(
            1,
            ngram_max=ngram_max,
            min_df=min_df,
            max_features=max_features,
            max_iter=max_iter,
            max_chars=max_chars,
        )
        self.labels = list(labels)
        self.params = {
            "C": C,
            "ngram_max": ngram_max,
            "min_df": min_df,
            "max_features": max_features,
            "sublinear_tf": sublinear_tf,
            "max_iter": max_iter,
            "max_chars": max_chars,
        }
        # `standard_text` before scikit-learn's lowercasing; runs saved before it read texts as
        # written (their config has no text_form), so they keep doing so (`load`)
        self.text_form: str | None = STANDARD_FORM
        self.vectorizer = TfidfVectorizer(
            ngram_range=(1, ngram_max),
            min_df=min_df,
            max_features=max_features,
            sublinear_tf=sublinear_tf,
            preprocessor=self._preprocess,
            dtype=np.float32,
        )
        self.multi_label = multi_label
        self.model = (
            OneVsRestLogReg(C, max_iter)
            if multi_label
            else LogisticRegression(C=C, max_iter=max_iter)
        )
        self.temperature = 1.0  # the run's calibration, set by the loader
        self.confidence_map: ConfidenceMap | None = None
        self.label_bias: np.ndarray | None = None  # training.label_prior's, likewise
        self.thresholds: np.ndarray | None = None  # multi-label decision thresholds, likewise
        self.label_temperatures: np.ndarray | None = None  # multi-label calibration, likewise

    @property
    def max_chars(self) -> int:
        """The most characters of a text the model reads (model.options.max_chars)."""
        return int(self.params["max_chars"])

    def _preprocess(self, text: str) -> str:
        """A text as the vectorizer reads it: composed, without characters that draw nothing
        (`data.unicode.standard_text`), lowercased. Without it `café` typed decomposed (as macOS
        writes it) was the words `cafe`, and `très` was `tre`, for a model that learned `café`
        and `très`; the word models' tokenizer has read texts so since the same audit."""
        return (standard_text(text) if self.text_form else text).lower()

    def _bounded(self, texts: Iterable[str], cut: list[int]) -> Iterator[str]:
        """`texts`, each cut to its first `max_chars` characters (as the token models read
        max_length tokens), in one pass (training streams them); `cut[0]` counts those cut."""
        limit = self.params["max_chars"]
        for text in texts:
            if len(text) > limit:
                cut[0] += 1
                text = text[:limit]
            yield text

    def _note_cut(self, cut: list[int]) -> None:
        """One note per call (a fit, a batch predicted) where texts were cut, not one per text."""
        if cut[0]:
            limit = self.params["max_chars"]
            warnings.warn(
                f"{cut[0]:,} text(s) of over {limit:,} characters: tfidf-logreg reads the first "
                f"{limit:,} of each (model.options.max_chars)",
                AttentextNote,
                stacklevel=3,
            )

    def fit(
        self, texts: Iterable[str], labels: list, class_weight: str = "none"
    ) -> TfidfLogRegClassifier:
        """Fit on texts and their label ids (multi-label: a list of ids per text).

        `class_weight` is the recipe's `training.class_weight`: "balanced" weighs each class
        (with several labels per text, each label's positives against its negatives) inversely
        to its frequency, scikit-learn's `class_weight="balanced"`, as it weighs the neural
        models' loss. The baseline once ignored it: `--class-weight balanced`, which the
        imbalance warning advises, gave the very weights of a run without it."""
        weight = "balanced" if class_weight == "balanced" else None
        if self.multi_label:
            self.model.class_weight = weight
        else:
            self.model.set_params(class_weight=weight)
        cut = [0]
        features = self._fit_vocabulary(self._bounded(texts, cut))
        self._note_cut(cut)
        self._check_solver_size(features.shape[1])
        if self.multi_label:
            targets = np.zeros((len(labels), len(self.labels)), dtype=np.int64)
            for row, ids in enumerate(labels):
                targets[row, list(ids)] = 1
            self.model.fit(features, targets)
        else:
            with classes_read_as_classes():  # many classes of few texts: said by the profile
                self.model.fit(features, np.asarray(labels))
        return self

    def _fit_vocabulary(self, texts: Iterable[str]) -> Any:
        """The vectorizer fitted on `texts`, and their features. Texts of emoji, punctuation or
        single letters hold no word scikit-learn reads (2+ letters or digits), and a `min_df`
        above every word's count (or the number of texts) prunes them all: scikit-learn's
        ValueError was a traceback, after `<output>.partial` was made (an audit)."""
        try:
            return self.vectorizer.fit_transform(texts)
        except ValueError as error:  # "empty vocabulary", "no terms remain", "... than min_df"
            if not any(words in str(error) for words in VOCABULARY_ERRORS):
                raise
        min_df = self.params["min_df"]
        if min_df > 1:
            raise DataError(
                f"no word of the training texts is in {min_df} or more of them "
                "(model.options.min_df); lower it, or add texts"
            )
        raise DataError(
            "no training text holds a word tfidf-logreg reads (2 or more letters or digits in "
            "a row): they are emoji, punctuation or single characters; train a word model "
            "(seed-transformer reads those) or add texts with words"
        )

    def _check_solver_size(self, n_features: int) -> None:
        """One line before the fit where it has more coefficients than its solver holds
        (`MAX_SOLVER_COEFFICIENTS`), naming the `max_features` that fits: a multinomial fit
        has a row of them per class (one for two classes, and for each label of a multi-label
        fit, fitted one at a time)."""
        classes = len(self.labels)
        rows = 1 if self.multi_label or classes == 2 else classes
        coefficients = rows * (n_features + 1)
        if coefficients <= MAX_SOLVER_COEFFICIENTS:
            return
        fitting = MAX_SOLVER_COEFFICIENTS // rows - 1
        raise DataError(
            f"tfidf-logreg would fit {classes:,} classes x {n_features:,} features = "
            f"{coefficients:,} coefficients, more than its solver (scipy's L-BFGS-B) holds "
            f"({MAX_SOLVER_COEFFICIENTS:,}, about 12 GB of memory); keep fewer features with "
            f"--set model.options.max_features={fitting} (or raise model.options.min_df)"
        )

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """Calibrated class probabilities, (len(texts), len(labels)), columns in label-id order;
        float64, as every backend's."""
        texts = text_list(texts)
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float64)
        cut = [0]
        probabilities = self.model.predict_proba(
            self.vectorizer.transform(self._bounded(texts, cut))
        )
        self._note_cut(cut)
        full = np.zeros((len(texts), len(self.labels)), dtype=np.float64)
        full[:, self.model.classes_] = probabilities
        if self.multi_label:
            if self.label_temperatures is None:
                return full
            return calibrated_sigmoid(log_odds(full), self.label_temperatures)
        if self.temperature != 1.0 or self.label_bias is not None:
            # temperature scaling of a softmax model: log-probabilities are its logits up to a shift
            log_p = np.log(np.clip(full, 1e-12, None))
            scaled = shifted_logits(log_p, self.temperature, self.label_bias)
            scaled = np.exp(scaled - scaled.max(axis=1, keepdims=True))
            full = scaled / scaled.sum(axis=1, keepdims=True)
        return full if self.confidence_map is None else self.confidence_map.apply(full)

    def predict(self, texts: list[str]) -> list[str] | list[list[str]]:
        """The most probable label name of each text (multi-label: the labels over threshold)."""
        return decide(self.predict_proba(texts), self.labels, self.multi_label, self.thresholds)

    def top_ngrams(self, text: str, label_id: int, k: int = 10) -> list[tuple[str, float]]:
        """The n-grams of `text` that push hardest toward `label_id`: tf-idf value x coefficient."""
        cut = [0]
        row = self.vectorizer.transform(list(self._bounded([text], cut))).tocoo()
        self._note_cut(cut)
        class_row = list(self.model.classes_).index(label_id)
        names = self.vectorizer.get_feature_names_out()
        scored = [
            (names[j], float(v * self.model.coef_[class_row, j]))
            for j, v in zip(row.col, row.data, strict=True)
        ]
        return sorted(scored, key=lambda item: -item[1])[:k]

    @property
    def n_parameters(self) -> int:
        """Coefficients and intercepts: what the leaderboard counts as parameters."""
        return int(self.model.coef_.size + self.model.intercept_.size)

    def save(self, directory: str | Path) -> None:
        """JSON + safetensors in `directory`: no pickle, so loading never runs code."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        vocabulary = {term: int(index) for term, index in self.vectorizer.vocabulary_.items()}
        (directory / VOCAB_FILE).write_text(
            json.dumps(vocabulary, ensure_ascii=False), encoding="utf-8"
        )
        arrays = {
            "idf": self.vectorizer.idf_,  # dtypes kept as fitted, so predictions round-trip exactly
            "coef": self.model.coef_,  # scikit-learn keeps it Fortran-ordered
            "intercept": self.model.intercept_,
            "classes": self.model.classes_.astype(np.int64),
        }
        # safetensors writes raw memory: every array must be C-contiguous or it comes back scrambled.
        save_file(
            {k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(directory / WEIGHTS_FILE)
        )
        config = {
            "labels": self.labels,
            "multi_label": self.multi_label,
            "params": self.params,
            "text_form": self.text_form,
        }
        (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, directory: str | Path) -> TfidfLogRegClassifier:
        """Rebuild the fitted vectorizer and model from JSON + safetensors (no pickle)."""
        directory = Path(directory)
        try:
            config = json.loads((directory / CONFIG_FILE).read_text(encoding="utf-8"))
            vocabulary = json.loads((directory / VOCAB_FILE).read_text(encoding="utf-8"))
            arrays = load_file(str(directory / WEIGHTS_FILE))
        except (OSError, ValueError) as err:
            raise RunDirError(f"{directory}: cannot read the TF-IDF model ({err})") from None
        # a run saved before max_chars (its params lack it) reads with the default bound: a text
        # under 100,000 characters, any ordinary one, gets what it got; a longer one, read whole,
        # took gigabytes of memory to predict
        classifier = cls(config["labels"], bool(config.get("multi_label")), **config["params"])
        classifier.text_form = config.get("text_form")  # absent: saved before, texts as written
        n_terms, n_classes = len(vocabulary), len(arrays["classes"])
        coef = arrays["coef"]
        if (
            arrays["idf"].shape != (n_terms,)
            or coef.shape[1] != n_terms
            or coef.shape[0] not in (1, n_classes)
        ):
            raise RunDirError(
                f"{directory}: TF-IDF files disagree in size; the run directory is damaged"
            )
        classifier.vectorizer.vocabulary_ = vocabulary
        classifier.vectorizer.idf_ = arrays["idf"]
        classifier.model.coef_ = coef
        classifier.model.intercept_ = arrays["intercept"]
        classifier.model.classes_ = arrays["classes"]
        return classifier


def new_classifier(
    label_names: list[str], options: dict[str, Any], multi_label: bool = False
) -> TfidfLogRegClassifier:
    """An unfitted baseline for `label_names` with a recipe's `model.options` (checked before)."""
    return TfidfLogRegClassifier(label_names, multi_label, **options)


def load_classifier(folder: str | Path) -> TfidfLogRegClassifier:
    """The fitted baseline saved in a run directory."""
    return TfidfLogRegClassifier.load(folder)
