"""What a running server holds: the served models, their micro-batchers and the one inference
thread; loading and checking the run directories before anything starts."""

from __future__ import annotations

import asyncio
import logging
import unicodedata
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from attentext.decisions import log_odds
from attentext.errors import AttentextError, short_list
from attentext.inference.classifier import load
from attentext.label_prior import shifted_logits
from attentext.rendering import printable
from attentext.rundir import open_run
from attentext.serving.batcher import PROBABILITIES, MicroBatcher, QueueFull, ShuttingDown
from attentext.serving.errors import ApiError, echo, retry_after, unavailable
from attentext.serving.schemas import ModelInfo
from attentext.serving.settings import ServerSettings

log = logging.getLogger("attentext.serving")
HEADLINE_METRICS = ("accuracy", "macro_f1", "weighted_f1", "n_examples")


@dataclass
class ServedModel:
    """A loaded run directory and what /v1/models tells about it."""

    name: str
    run_dir: Path
    classifier: Any  # attentext.inference.classifier.Classifier
    kind: str
    recipe: str | None
    explainable: bool = False
    metrics: dict[str, Any] = field(default_factory=dict)

    def info(self, default: bool) -> ModelInfo:
        return ModelInfo(
            name=self.name,
            default=default,
            kind=self.kind,
            recipe=self.recipe,
            labels=list(self.classifier.labels),
            explainable=self.explainable,
            metrics=self.metrics,
        )


def metrics_summary(metrics: dict[str, Any]) -> dict[str, Any]:
    """Scalars of metrics.json, and per split only its headline numbers (not per class)."""
    summary: dict[str, Any] = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            summary[key] = {k: value[k] for k in HEADLINE_METRICS if k in value}
        elif isinstance(value, int | float | str | bool) or value is None:
            summary[key] = value
    return summary


def calibrated_logits(classifier: Any) -> Callable[[list[str]], np.ndarray]:
    """The scores before the softmax, as the protocols' `none` / `raw_scores` answer them.

    A neural classifier gives its logits divided by the run's temperature: their softmax is
    exactly the probabilities the server answers. The TF-IDF baseline has no `logits`: its
    log-probabilities stand in, which are its (calibrated) logits shifted by a constant per text,
    so their softmax is the probabilities too; a sigmoid of them is not a per-label probability.
    A run recalibrated with a confidence map (`recalibrate --method isotonic`) answers the log of
    its probabilities the same way: logits / T no longer softmax to them. A label prior's bias
    (`training.label_prior`) is part of the calibrated logits. A multi-label run's are its logits
    divided by each label's temperature: their sigmoid is each label's probability. A multi-label
    TF-IDF run (no `logits`) answers the log-odds of each label's calibrated probability, whose
    sigmoid is that probability again: the log-probabilities answered before made `sigmoid`
    p / (1 + p) (0.47 for a label at 0.9) and `none` no logit at all.
    """
    logits = getattr(classifier, "logits", None)
    if getattr(classifier, "multi_label", False):
        if not callable(logits):
            return lambda texts: log_odds(classifier.predict_proba(texts))
        temperatures = getattr(classifier, "label_temperatures", None)
        scale = 1.0 if temperatures is None else temperatures.astype(np.float32)
        return lambda texts: np.asarray(logits(texts), dtype=np.float32) / scale
    if callable(logits) and getattr(classifier, "confidence_map", None) is None:
        temperature = float(getattr(classifier, "temperature", 1.0))
        bias = getattr(classifier, "label_bias", None)
        return lambda texts: shifted_logits(
            np.asarray(logits(texts), dtype=np.float32), temperature, bias
        )
    return lambda texts: np.log(
        np.clip(np.asarray(classifier.predict_proba(texts), dtype=np.float64), 1e-12, None)
    )


def served_name(name: str) -> str:
    """A model's name as served and as looked up: NFC. A folder made on macOS names `café` with
    a decomposed `é`, which a client types composed: the lookup answered "no model named 'café';
    this server serves: café"; and two folders spelled the two ways were two models that print
    the same."""
    return unicodedata.normalize("NFC", name)


def load_models(
    run_dirs: Sequence[str | Path],
    loader: Callable[[Path], Any] | None = None,
    explainable: Callable[[Any], bool] = lambda classifier: False,
) -> list[ServedModel]:
    """Check every run directory first (a bad one fails before any loading), then load each."""
    if not run_dirs:
        raise AttentextError("no run directory to serve; pass at least one")
    runs = []
    for run_dir in run_dirs:
        run = open_run(run_dir)
        if any(served_name(run.name) == served_name(other.name) for other in runs):
            raise AttentextError(
                f"two run directories are named '{served_name(run.name)}'; models are served "
                "under their directory names, so rename or copy one"
            )
        runs.append(run)
    models = []
    for run in runs:
        classifier = (loader or load)(run.path)
        models.append(
            ServedModel(
                name=served_name(run.name),
                run_dir=run.path,
                classifier=classifier,
                kind=run.kind,
                recipe=run.recipe_name,
                explainable=explainable(classifier),
                metrics=metrics_summary(run.metrics),
            )
        )
    return models


class ModelService:
    """The app's state: models, settings, and (while running) the batchers and the thread.

    Every model call, predictions and explanations, runs in ONE inference thread, so concurrent
    requests never oversubscribe torch's own threads.
    """

    def __init__(self, models: list[ServedModel], settings: ServerSettings) -> None:
        self.models = {m.name: m for m in models}
        self.default = models[0].name
        self.settings = settings
        self.batchers: dict[str, MicroBatcher] = {}
        self.executor: ThreadPoolExecutor | None = None
        self.ready = False
        self.explaining = 0  # texts being explained or waiting for the thread

    def explained(self, n_texts: int) -> None:
        self.explaining -= n_texts

    def accepting(self, name: str | None = None) -> bool:
        """Readiness: started and not stopping, and the micro-batcher of model `name` (None:
        of every model) running."""
        batchers = [self.batchers.get(n) for n in (self.models if name is None else [name])]
        return self.ready and all(b is not None and b.running for b in batchers)

    def model(self, name: str | None) -> ServedModel:
        name = self.default if name is None else served_name(name)
        if name not in self.models:
            raise ApiError(
                404,
                "unknown_model",
                f"no model named '{echo(name)}'; this server serves: "
                f"{short_list(list(self.models))}",
            )
        return self.models[name]

    def check_texts(self, texts: list[str], field_name: str) -> tuple[list[str], list[bool]]:
        """Apply the per-request limits; long texts are cut to max_chars (or refused if strict)."""
        max_texts, max_chars = self.settings.max_texts, self.settings.max_chars
        if not texts:
            raise ApiError(
                422, "empty_texts", f"{field_name} is empty; send at least one text to classify"
            )
        if len(texts) > max_texts:
            raise ApiError(
                422,
                "too_many_texts",
                f"{field_name} has {len(texts)} texts; this server takes at most {max_texts} per "
                "request: split them over several requests",
            )
        truncated = [len(text) > max_chars for text in texts]
        if any(truncated):
            if self.settings.strict:
                i = truncated.index(True)
                where = f"{field_name}[{i}]" if field_name == "texts" else field_name
                raise ApiError(
                    422,
                    "text_too_long",
                    f"{where} has {len(texts[i]):,} characters; the limit is {max_chars:,} "
                    "(this server is strict: shorten the text)",
                )
            texts = [text[:max_chars] for text in texts]
        return texts, truncated

    async def classify(
        self, served: ServedModel, texts: list[str], output: str = PROBABILITIES, full: int = 503
    ) -> np.ndarray:
        """Rows of `texts` (probabilities, or calibrated logits) through the model's batcher.

        A full queue is answered with status `full` (503 as /v1 does, 429 where the protocol says
        so), with Retry-After either way.
        """
        batcher = self.batchers.get(served.name)
        if batcher is None or not self.ready:
            raise unavailable()
        try:
            return await batcher.predict(texts, output)
        except QueueFull as error:
            raise ApiError(full, "queue_full", str(error), retry_after()) from None
        except ShuttingDown:
            raise unavailable("shutting_down", "the server is shutting down") from None

    async def start(self) -> None:
        s = self.settings
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="attentext-model")
        for name, served in self.models.items():
            batcher = MicroBatcher(
                served.classifier.predict_proba,
                self.executor,
                max_batch_size=s.max_batch_size,
                max_wait_ms=s.max_wait_ms,
                max_queue=s.max_queue,
                name=name,
                logits=calibrated_logits(served.classifier),
            )
            batcher.start()
            self.batchers[name] = batcher
        self.ready = True
        # folder names escaped: one holding a line break or an ANSI escape is one log line
        served = ", ".join(printable(name) for name in self.models)
        log.info("serving %s (default %s)", served, printable(self.default))

    async def stop(self) -> None:
        """Refuse new requests, finish the queued ones, then end the inference thread."""
        self.ready = False
        await asyncio.gather(*(b.stop() for b in self.batchers.values()))
        if self.executor is not None:
            await asyncio.to_thread(self.executor.shutdown, True)
        log.info("stopped: queued requests finished")
