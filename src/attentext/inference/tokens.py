"""What the PyTorch and ONNX Runtime classifiers share: texts -> token ids -> length-sorted,
padded batches -> logits, in input order; probabilities and labels from the logits.

A run that reads long texts in chunks (`tokenizer.long_text: chunks` in its recipe) goes the same
way with windows for rows: every text's windows (`text.windows`) are batched together by length,
each batch gives its windows' logits (and learned scores, for attention aggregation), and
`combine_windows` makes one text's logits of its windows', outside the model, for both engines.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from attentext.confidence import ConfidenceMap
from attentext.data.readers import text_list
from attentext.decisions import MULTI_LABEL, calibrated_sigmoid, decide, threshold_vector
from attentext.errors import RunDirError, shown
from attentext.label_prior import shifted_logits
from attentext.recipes import AGGREGATIONS
from attentext.rendering import classifier_text
from attentext.rundir import Run
from attentext.text.batching import run_in_batches
from attentext.text.encoding import SPECIAL_TOKENS_AS_TEXT, encode
from attentext.text.windows import Chunking, combine_windows, encode_windows, flatten

TOKENIZER_FILE = "tokenizer.json"


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float32, stable for large logits."""
    shifted = np.asarray(logits, dtype=np.float32)
    shifted = shifted - shifted.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def model_max_length(tokenizer: Any, config: Any) -> int:
    """The longest input a run reads: its tokenizer's limit, within the model's positions."""
    return min(tokenizer.model_max_length, getattr(config, "max_position_embeddings", 10**6))


def first_line(error: BaseException) -> str:
    """An exception as a short clause for a one-line message: its first line, cut."""
    text = str(error).strip()
    return shown(text.splitlines()[0] if text else type(error).__name__, width=160)


def load_tokenizer(run_path: Path) -> Any:
    """The run's fast tokenizer; a one-line `RunDirError` when its files cannot be loaded.

    This is the loading boundary for tokenizer.json: a file of the wrong shape makes the
    `tokenizers` library raise a bare `Exception`, a deeply nested one a `RecursionError`, and
    transformers a `TypeError`, `KeyError` or `AttributeError`; all say the same thing to the
    user: the run directory's tokenizer is damaged. A "[SEP]" or "[PAD]" written in a text is
    read as text (`SPECIAL_TOKENS_AS_TEXT`), also by a run saved before that was its setting.
    """
    from transformers import AutoTokenizer  # deferred: a heavy import

    try:
        return AutoTokenizer.from_pretrained(
            str(run_path), trust_remote_code=False, **SPECIAL_TOKENS_AS_TEXT
        )
    except ImportError:
        raise
    except Exception as error:  # the tokenizers library raises a bare Exception
        raise RunDirError(
            f"{run_path}: cannot load the model's tokenizer ({first_line(error)}); restore "
            f"the run's {damaged_tokenizer_file(run_path)} from a backup, or retrain"
        ) from None


TOKENIZER_FILES = (TOKENIZER_FILE, "tokenizer_config.json", "special_tokens_map.json")


def damaged_tokenizer_file(run_path: Path) -> str:
    """Which of the tokenizer's files to restore: the first that is not JSON, else the two that
    describe it. A cut tokenizer_config.json used to be reported as a damaged tokenizer.json,
    sending the user to restore the one file that was intact."""
    for name in TOKENIZER_FILES:
        path = Path(run_path) / name
        if not path.is_file():
            continue
        try:
            json.loads(path.read_bytes())
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            return name
    return f"{TOKENIZER_FILE} and tokenizer_config.json"


def token_id_count(tokenizer: Any) -> int:
    """How many token ids the tokenizer can produce: its largest id + 1, added tokens included."""
    ids = tokenizer.get_vocab().values()
    return max(ids) + 1 if ids else 0


def check_vocabulary(run_path: Path, tokenizer: Any, model_rows: int | None) -> None:
    """Refuse a tokenizer that can produce ids the model has no embedding for.

    A tokenizer.json copied from a bigger run loads and classifies common words, then fails
    with an IndexError on the first rare word: refuse it at load, in one line, instead.
    `model_rows` None (the model does not say) skips the check.
    """
    if model_rows is None:
        return
    ids = token_id_count(tokenizer)
    if ids > model_rows:
        raise RunDirError(
            f"{run_path}: its {TOKENIZER_FILE} has {ids:,} token ids but the model has "
            f"embeddings for {model_rows:,}; the tokenizer belongs to another run (restore this "
            "run's own tokenizer, or retrain)"
        )


def with_scores(logits: np.ndarray, scores: np.ndarray | None) -> np.ndarray:
    """(B, C + 1): logits and, last, each row's window score (zeros when the model has none)."""
    logits = np.asarray(logits, dtype=np.float32)
    column = np.zeros(len(logits), np.float32) if scores is None else np.asarray(scores, np.float32)
    return np.concatenate([logits, column.reshape(-1, 1)], axis=1)


def config_vocab_rows(config: Any) -> int | None:
    """The model's embedding rows as its config.json records them (None if it does not)."""
    rows = getattr(config, "vocab_size", None)
    return rows if isinstance(rows, int) and not isinstance(rows, bool) else None


class TokenClassifier:
    """A model reading token ids, with the run's tokenizer, max length and truncation (or
    chunking: `chunking` and `aggregation`, set from the run by `apply_run`).

    Subclasses give `run_batch(padded) -> logits` for one padded batch, and `run_window_batch`
    (logits and window scores) where the model learned attention over windows; texts are
    encoded as at training and batched by length so that little time goes to padding.
    """

    def __init__(
        self,
        tokenizer: Any,
        labels: list[str],
        max_length: int,
        truncation: str,
        batch_size: int,
        temperature: float = 1.0,
    ) -> None:
        self.tokenizer = tokenizer
        self.labels = labels
        self.max_length = max_length
        self.truncation = truncation
        self.batch_size = batch_size
        self.temperature = temperature  # the run's calibration: logits / T before the softmax
        self.confidence_map: ConfidenceMap | None = None  # and after it, where one was fitted
        self.label_bias: np.ndarray | None = None  # training.label_prior's, added to logits / T
        self.multi_label = False  # several labels per text: sigmoid per label, thresholds
        self.thresholds: np.ndarray | None = None  # multi-label: each label's threshold
        self.label_temperatures: np.ndarray | None = None  # multi-label: each label's calibration
        self.chunking: Chunking | None = None  # long texts: read in windows (else truncated)
        self.aggregation = "mean"  # how a text's windows make its prediction

    def __repr__(self) -> str:
        return classifier_text(self)

    @property
    def pad_id(self) -> int:
        return self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        return encode(self.tokenizer, list(texts), self.max_length, self.truncation)

    def run_batch(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def run_window_batch(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """(B, C + 1): each window's logits and, last, its learned score (0 without one)."""
        return with_scores(self.run_batch(batch), None)

    def logits(self, texts: list[str]) -> np.ndarray:
        """Raw logits, (len(texts), len(labels)), float32."""
        texts = text_list(texts)
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        if self.chunking is not None:
            return self.document_logits(texts)[0]
        return run_in_batches(
            self.encode(texts),
            self.run_batch,
            self.pad_id,
            self.batch_size,
            self.tokenizer.padding_side,
        ).astype(np.float32)

    def encode_windows(self, texts: Sequence[str]) -> list[list[list[int]]]:
        """Each text's windows as the run reads them (the run's chunking, or one window each)."""
        if self.chunking is None:
            return [[ids] for ids in self.encode(texts)]
        return encode_windows(self.tokenizer, list(texts), self.max_length, self.chunking)

    def window_outputs(self, windows: Sequence[Sequence[int]]) -> np.ndarray:
        """(N, C + 1) logits and learned score of each window, through the one batching path."""
        return run_in_batches(
            windows,
            self.run_window_batch,
            self.pad_id,
            self.batch_size,
            self.tokenizer.padding_side,
        )

    def document_logits(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each text's logits from its windows', each window's weight in them, and the windows
        per text. A text is never one tensor: its windows run a batch at a time."""
        windows, counts = flatten(self.encode_windows(texts))
        outputs = self.window_outputs(windows)
        logits, weights = combine_windows(outputs[:, :-1], outputs[:, -1], counts, self.aggregation)
        return logits, weights, counts

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """Calibrated class probabilities, shape (len(texts), len(labels)); for a multi-label run
        each label's own probability (sigmoid). float64, as the TF-IDF baseline's and an
        ensemble's: the network's float32 widened, which is exact (every digit the server and
        the CLI print stays), where TF-IDF's narrowed to float32 would change the scores the
        server answers whole; one dtype, so that arrays of two runs stack and compare alike."""
        return self.probabilities_of(self.logits(texts)).astype(np.float64)

    def probabilities_of(self, logits: np.ndarray) -> np.ndarray:
        """What `predict_proba` makes of logits: the calibrated softmax, or each label's own
        calibrated sigmoid (several labels per text)."""
        if self.multi_label:
            return calibrated_sigmoid(logits, self.label_temperatures).astype(np.float32)
        probabilities = softmax(shifted_logits(logits, self.temperature, self.label_bias))
        if self.confidence_map is None:
            return probabilities
        return self.confidence_map.apply(probabilities).astype(probabilities.dtype)

    def predict(self, texts: list[str]) -> list[str] | list[list[str]]:
        """The most probable label name of each text (multi-label: the labels over threshold)."""
        return decide(self.predict_proba(texts), self.labels, self.multi_label, self.thresholds)

    def apply_run(self, run: Run, config: Any) -> TokenClassifier:
        """What the run fitted after training: its temperature, or its problem type and
        thresholds (several labels per text)."""
        self.temperature = run.temperature
        self.confidence_map = run.confidence_map
        self.label_bias = run.label_bias_for(self.labels)
        self.multi_label = run.multi_label or getattr(config, "problem_type", "") == MULTI_LABEL
        if self.multi_label:
            self.thresholds = threshold_vector(run.thresholds, self.labels)
            self.label_temperatures = run.label_temperatures_for(self.labels)
        self.chunking = Chunking.of(run.tokenizer_spec)
        self.aggregation = getattr(config, "aggregation", "mean")
        if self.aggregation not in AGGREGATIONS:
            raise RunDirError(
                f"{run.path}: config.json's aggregation is '{shown(self.aggregation)}', not one "
                f"of {', '.join(AGGREGATIONS)}; the run directory is damaged"
            )
        return self
