"""What a running server holds: the served models, their micro-batchers and the one inference
thread; loading and checking the run directories before anything starts, and loading them again
on request (`ModelService.request_reload`, which `attentext serve` calls on SIGHUP).

A model and what /v1/models says of it (kind, recipe, metrics) are read from one and the same
run (`rundir.read_whole`): a run replaced while it loads is read again. A reload loads each run
in a thread of its own while the inference thread goes on with the models loaded before, then
swaps each in at once; a run that fails to load keeps its model served and is named in the log.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import unicodedata
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from attentext.decisions import log_odds
from attentext.errors import AttentextError, RunDirError, short_list
from attentext.inference.classifier import load
from attentext.label_prior import shifted_logits
from attentext.rendering import printable, shortened
from attentext.rundir import RELOADS, Run, lock_path, open_run, read_whole
from attentext.serving.batcher import (
    LOGITS,
    PROBABILITIES,
    Functions,
    MicroBatcher,
    QueueFull,
    ShuttingDown,
)
from attentext.serving.errors import ApiError, echo, retry_after, unavailable
from attentext.serving.reading import partly_read, tokenizes
from attentext.serving.schemas import ModelInfo
from attentext.serving.settings import ServerSettings

log = logging.getLogger("attentext.serving")
# Reloads are asked for by the operator, not by clients: their lines are not rate-limited
# (`serving.logs` limits the records of "attentext.serving" itself, not of its children).
reload_log = logging.getLogger("attentext.serving.reload")
Explainable = Callable[[Any], bool]
T = TypeVar("T")
HEADLINE_METRICS = ("accuracy", "macro_f1", "weighted_f1", "n_examples")
# how long a load waits for a command writing the run (recalibrate holds its lock for a few ms)
WRITER_WAIT_S = 2.0
WRITER_POLL_S = 0.02


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
    # what the micro-batcher runs for this model: a request keeps the model it was accepted
    # with, also where a reload swaps in another under its name
    functions: Functions = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.functions = {
            PROBABILITIES: self.classifier.predict_proba,
            LOGITS: calibrated_logits(self.classifier),
        }

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
    explainable: Explainable = lambda classifier: False,
) -> list[ServedModel]:
    """Check every run directory first (a bad one fails before any loading), then load each."""
    if not run_dirs:
        raise AttentextError("no run directory to serve; pass at least one")
    runs: list[Run] = []
    for run_dir in run_dirs:
        run = open_run(run_dir)
        for other in runs:
            if served_name(run.name) == served_name(other.name):
                raise AttentextError(_same_name(run, other))
        runs.append(run)
    return [load_served(run.path, loader, explainable) for run in runs]


def _same_name(run: Run, other: Run) -> str:
    """Why two runs cannot be served together under one name. One folder given twice (`serve
    runs/seed runs/seed/`, or by a link) was told to be renamed or copied, which would serve
    the same model twice."""
    name = printable(served_name(run.name))
    if os.path.samefile(run.path, other.path):
        return (
            f"the run directory '{name}' is given twice ({printable(other.path)}, "
            f"{printable(run.path)}); give each run directory once"
        )
    return (
        f"two run directories are named '{name}'; models are served under their directory "
        "names, so rename or copy one"
    )


def load_served(
    run_dir: Path,
    loader: Callable[[Path], Any] | None = None,
    explainable: Explainable = lambda classifier: False,
) -> ServedModel:
    """A run directory loaded for serving: its model, kind, recipe and metrics from one and the
    same run (read again where it was replaced meanwhile: the metrics were read apart from the
    model, and a run replaced between the two reads showed one run's metrics beside the other's
    model), and from one version of its files where a command rewrites them in place.

    `recalibrate` replaces metrics.json, then calibration.json, under the run's lock: a reload
    (SIGHUP) between the two served the new metrics beside the old temperature. So a load waits
    (at most WRITER_WAIT_S) for a writer holding the run's lock, and reads again where any file
    of the run changed while it read."""
    read = partial(read_whole, run_dir, partial(_served, run_dir, loader or load, explainable))
    deadline = time.monotonic() + WRITER_WAIT_S
    for _ in range(RELOADS):
        _wait_for_writer(Path(run_dir), deadline)
        before = run_files(run_dir)
        served = read()
        if run_files(run_dir) == before:
            return served
    raise RunDirError(
        f"{run_dir}: its files were rewritten {RELOADS} times while it was read (another "
        "process is writing it: recalibrate?); read it when that is done"
    )


def run_files(run_dir: str | Path) -> list[tuple[str, int, int, int]] | None:
    """What a rewrite in place changes in a run: each entry's name, inode, size and time of
    change (a command replaces a file by renaming a new one over it); None where unreadable."""
    try:
        with os.scandir(run_dir) as entries:
            found = [(e.name, e.stat(follow_symlinks=False)) for e in entries]
    except OSError:
        return None
    return sorted((name, st.st_ino, st.st_size, st.st_mtime_ns) for name, st in found)


def _wait_for_writer(run_dir: Path, deadline: float) -> None:
    """Wait while a command holds the run's lock (its file, beside the run, exists while held),
    until `deadline`: a long holder (`train --overwrite` publishes a new folder, which
    `read_whole` sees) or a lock file a kill -9 left is then read past."""
    while lock_path(run_dir).exists() and time.monotonic() < deadline:
        time.sleep(WRITER_POLL_S)


def _served(run_dir: Path, loader: Callable[[Path], Any], explainable: Explainable) -> ServedModel:
    """One reading of a run directory for serving (see `load_served`)."""
    run = open_run(run_dir)
    metrics, recipe = metrics_summary(run.metrics), run.recipe_name
    classifier = loader(run.path)
    return ServedModel(
        name=served_name(run.name),
        run_dir=run.path,
        classifier=classifier,
        kind=run.kind,
        recipe=recipe,
        explainable=explainable(classifier),
        metrics=metrics,
    )


def swap_line(old: ServedModel, new: ServedModel) -> str:
    """The log line of a model swapped in by a reload; a change of labels is said (clients that
    keep label names see other ones from now on)."""
    where = f"'{printable(new.name)}' from {printable(new.run_dir)}"
    old_labels, new_labels = list(old.classifier.labels), list(new.classifier.labels)
    if old_labels == new_labels:
        return f"reloaded {where}"
    return (
        f"reloaded {where}; its labels changed: {shortened(short_list(old_labels), 200)} -> "
        f"{shortened(short_list(new_labels), 200)}"
    )


class ModelService:
    """The app's state: models, settings, and (while running) the batchers and the thread.

    Every model call, predictions and explanations, runs in ONE inference thread, so concurrent
    requests never oversubscribe torch's own threads.
    """

    def __init__(
        self,
        models: list[ServedModel],
        settings: ServerSettings,
        loader: Callable[[Path], Any] | None = None,
        explainable: Explainable = lambda classifier: False,
    ) -> None:
        self.models = {m.name: m for m in models}
        self.default = models[0].name
        self.settings = settings
        self.batchers: dict[str, MicroBatcher] = {}
        self.executor: ThreadPoolExecutor | None = None
        self.ready = False
        # texts the inference thread holds outside the batchers (explanations, token counts),
        # held to max_queue as the batchers' queues are (`on_thread`)
        self.off_batch = 0
        # how a reload loads a run again: as the models were loaded at start
        self.loader, self.explainable = loader, explainable
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reload_task: asyncio.Task | None = None
        self._reload_again = False  # asked for again while a reload ran

    def _left_thread(self, n_texts: int) -> None:
        self.off_batch -= n_texts

    async def on_thread(self, work: Callable[[], T], n_texts: int, what: str, full: int = 503) -> T:
        """`work()` on the inference thread, outside the micro-batchers: its `n_texts` count
        against `max_queue` from now until the thread is done with them (also past a 504), and
        past it the request is refused (status `full`, Retry-After) before anything is queued.
        Cancelled (the client left, the time limit) before the thread takes it, it never runs.

        Explanations were so counted; the token counts of /v1's `partly_read` and TEI's
        `truncate: false` and `truncation_direction` were not: 10 TEI requests of 8 texts at once
        queued 10 tokenizer calls behind each other, where the limit holds 8 texts."""
        if not self.ready or self.executor is None:
            raise unavailable()
        limit = self.settings.max_queue
        if self.off_batch + n_texts > limit:
            raise ApiError(
                full,
                "queue_full",
                f"{self.off_batch} texts wait for the model's thread besides its batches "
                f"({what}; limit {limit}); retry shortly",
                retry_after(),
            )
        loop = asyncio.get_running_loop()
        job = self.executor.submit(work)
        self.off_batch += n_texts
        job.add_done_callback(lambda _: loop.call_soon_threadsafe(self._left_thread, n_texts))
        return await asyncio.wrap_future(job)

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

    async def partly_read(self, served: ServedModel, texts: list[str]) -> list[bool]:
        """Whether the model reads only part of each text (`reading.partly_read`)."""
        return await self.reading(partly_read, served, texts)

    async def reading(
        self,
        how: Callable[[Any, list[str]], list[Any]],
        served: ServedModel,
        texts: list[str],
        full: int = 503,
    ) -> list[Any]:
        """`how(classifier, texts)` (a function of `reading.py`), on the model's thread where it
        tokenizes (a fast tokenizer is not to be shared across threads), held to the queue
        limit there (`on_thread`; `full`: the status of a refusal)."""
        if not tokenizes(served.classifier):
            return how(served.classifier, texts)
        work = partial(how, served.classifier, texts)
        return await self.on_thread(work, len(texts), "token counts", full)

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
            return await batcher.predict(texts, output, served.functions)
        except QueueFull as error:
            raise ApiError(full, "queue_full", str(error), retry_after()) from None
        except ShuttingDown:
            raise unavailable("shutting_down", "the server is shutting down") from None

    async def start(self) -> None:
        s = self.settings
        self._loop = asyncio.get_running_loop()
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="attentext-model")
        for name, served in self.models.items():
            batcher = MicroBatcher(
                served.functions[PROBABILITIES],
                self.executor,
                max_batch_size=s.max_batch_size,
                max_wait_ms=s.max_wait_ms,
                max_queue=s.max_queue,
                name=name,
                logits=served.functions[LOGITS],
            )
            batcher.start()
            self.batchers[name] = batcher
        self.ready = True
        # folder names escaped: one holding a line break or an ANSI escape is one log line
        served = ", ".join(printable(name) for name in self.models)
        log.info("serving %s (default %s)", served, printable(self.default))

    def request_reload(self) -> None:
        """Ask for every served run to be loaded again from disk; safe to call from a signal
        handler or another thread (`attentext serve` calls it on SIGHUP). The reload runs in the
        background (`reload`); asked for while one runs, another follows it."""
        loop = self._loop
        if loop is None or loop.is_closed():
            reload_log.warning("reload asked for before the server started; nothing reloaded")
            return
        loop.call_soon_threadsafe(self._begin_reload)

    def _begin_reload(self) -> None:
        """Start a reload on the event loop, or note that one more is wanted after the one
        running (a run replaced again meanwhile may have been read before it changed)."""
        if not self.ready:
            return
        if self._reload_task is not None and not self._reload_task.done():
            self._reload_again = True
            return
        self._reload_task = asyncio.get_running_loop().create_task(self.reload(), name="reload")

    async def reload(self) -> None:
        """Load each served run again and swap it in, one after another, until no reload was
        asked for meanwhile."""
        self._reload_again = True
        while self._reload_again and self.ready:
            self._reload_again = False
            reload_log.info("reloading %d run(s) from disk", len(self.models))
            for name in list(self.models):
                await self._reload_one(name)

    async def _reload_one(self, name: str) -> None:
        """Load the run served as `name` in a thread apart (the event loop answers, the
        inference thread runs the model served until now), then swap it in: the requests
        accepted before keep the model they were accepted with (`ServedModel.functions`).
        A run that fails to load (half-written, deleted, damaged) leaves its model served."""
        old = self.models[name]
        try:
            new = await asyncio.to_thread(load_served, old.run_dir, self.loader, self.explainable)
        except Exception as error:
            why = error if isinstance(error, AttentextError) else f"{type(error).__name__}: {error}"
            reload_log.warning(
                "could not reload '%s' from %s (%s); still serving the model loaded before",
                printable(name),
                printable(old.run_dir),
                shortened(why, 300),
            )
            return
        if not self.ready:
            return  # stopping: the batchers may be drained already
        new.name = name  # the name it is served and asked for under stays
        self.models[name] = new
        reload_log.info("%s", swap_line(old, new))

    async def stop(self) -> None:
        """Refuse new requests, finish the queued ones, then end the inference thread."""
        self.ready = False
        if self._reload_task is not None:  # a run being loaded is not swapped in any more
            self._reload_task.cancel()
            await asyncio.gather(self._reload_task, return_exceptions=True)
        await asyncio.gather(*(b.stop() for b in self.batchers.values()))
        if self.executor is not None:
            await asyncio.to_thread(self.executor.shutdown, True)
        log.info("stopped: queued requests finished")
