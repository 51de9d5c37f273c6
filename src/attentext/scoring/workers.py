"""Scoring chunks in this process, or in `--workers N` spawned processes on one machine.

Each worker loads the model once, on its first chunk (so that a load error comes back as that
chunk's error, in one line), with cores/N threads for torch and ONNX Runtime: N workers share
the cores instead of each taking them all. Chunks are submitted in input order and their
results taken in the same order, so the output keeps the input's order whatever worker finishes
first. A worker whose parent is gone (kill -9) exits within a second instead of idling for ever.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from attentext.errors import AttentextError
from attentext.inference.classifier import Classifier, load

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def cpu_count() -> int:
    """The cores this process may run on (its affinity, where the system tells)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def load_classifier(run_dir: str | Path, backend: str, threads: int | None = None) -> Classifier:
    """The run's classifier; `threads` (None: the libraries' defaults) caps torch's and ONNX
    Runtime's threads, so that several processes or Ray actors share the cores."""
    classifier = load(run_dir, backend=backend, threads=threads)
    if threads and "torch" in sys.modules:  # loaded for a neural run on the torch backend
        sys.modules["torch"].set_num_threads(threads)
    return classifier


def probabilities(classifier: Classifier, texts: list[str]) -> np.ndarray:
    """`predict_proba`, also for no texts (a chunk where every row is bad)."""
    if not texts:
        return np.zeros((0, len(classifier.labels)), dtype=np.float32)
    return np.asarray(classifier.predict_proba(texts), dtype=np.float32)


class LocalScorer:
    """Scores in this process: `submit` runs at once and returns a finished future."""

    in_flight = 0

    def __init__(self, run_dir: Path, backend: str) -> None:
        self.classifier = load_classifier(run_dir, backend)
        self.labels = list(self.classifier.labels)

    def submit(self, texts: list[str]) -> cf.Future:
        future: cf.Future = cf.Future()
        future.set_result(probabilities(self.classifier, texts))
        return future

    def result(self, future: cf.Future) -> np.ndarray:
        return future.result()

    def close(self, abort: bool) -> None:
        pass


_worker: dict[str, Any] = {}  # in a worker process: its run, backend, threads and classifier


def _start_worker(run_dir: str, backend: str, threads: int, parent: int) -> None:
    """A worker's first act, before anything imports torch: its thread caps; Ctrl-C is the
    parent's to handle; a watch on the parent."""
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker.update(run_dir=run_dir, backend=backend, threads=threads)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(1)


def _classifier() -> Classifier:
    if "classifier" not in _worker:
        _worker["classifier"] = load_classifier(
            _worker["run_dir"], _worker["backend"], _worker["threads"]
        )
    return _worker["classifier"]


def _worker_labels() -> list[str]:
    return list(_classifier().labels)


def _worker_score(texts: list[str]) -> np.ndarray:
    return probabilities(_classifier(), texts)


class PoolScorer:
    """Scores in `workers` spawned processes, each with cores/workers threads."""

    def __init__(self, run_dir: Path, backend: str, workers: int) -> None:
        threads = max(1, cpu_count() // workers)
        self.executor = cf.ProcessPoolExecutor(
            workers,
            mp_context=mp.get_context("spawn"),
            initializer=_start_worker,
            initargs=(str(run_dir), backend, threads, os.getpid()),
        )
        self.in_flight = 2 * workers  # one chunk computing and one waiting, per worker
        try:
            self.labels = self.result(self.executor.submit(_worker_labels))
        except BaseException:
            self.close(abort=True)
            raise

    def submit(self, texts: list[str]) -> cf.Future:
        return self.executor.submit(_worker_score, texts)

    def result(self, future: cf.Future) -> Any:
        try:
            return future.result()
        except BrokenProcessPool:
            raise AttentextError(
                "a worker process died (out of memory, or killed); the chunks already written "
                "are kept: run the same command with --resume"
            ) from None

    def close(self, abort: bool) -> None:
        """Wait for the workers to exit; on an error or Ctrl-C, stop them at once."""
        if not abort:
            self.executor.shutdown(wait=True)
            return
        # the executor's processes: Python 3.11 has no public way to stop them (3.14 has
        # terminate_workers); without it, exiting would wait for each one's chunk
        processes = list((getattr(self.executor, "_processes", None) or {}).values())
        self.executor.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()


@contextmanager
def start_scorer(run_dir: Path, backend: str, workers: int) -> Iterator[LocalScorer | PoolScorer]:
    """A scorer for the run: in this process (`workers` 1) or a pool; closed on the way out."""
    scorer = (
        LocalScorer(run_dir, backend) if workers == 1 else PoolScorer(run_dir, backend, workers)
    )
    try:
        yield scorer
    except BaseException:
        scorer.close(abort=True)
        raise
    scorer.close(abort=False)
