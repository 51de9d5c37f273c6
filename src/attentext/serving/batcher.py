"""Micro-batching: many concurrent requests, one model call.

A model runs a batch of 32 texts in little more time than one text, so the server groups
concurrent requests: each request's texts wait in a queue (at most `max_wait_ms`) until up to
`max_batch_size` texts are there, one `predict_proba` call runs them in the inference thread, and
each request gets back exactly its own rows. The queue is bounded (`max_queue` texts): when it is
full the request is refused at once (the server answers 503 with Retry-After) instead of letting
latency grow without limit.

A request larger than `max_batch_size` runs as a batch of its own (the classifier batches
internally); requests are never split, so a request's rows always come from one call.

A cancelled request (the client went away, or the server's time limit answered 504) leaves the
queue at once; if its batch is already running, its rows are dropped. The other requests in that
batch, and the worker, go on.

A job asks for probabilities (what /v1 answers) or for the calibrated logits (the scores before
the softmax, for the protocols' `function_to_apply: none|sigmoid` and `raw_scores`); a batch holds
jobs of one kind only, so each batch is still one model call. It starts with the oldest job and
takes the following jobs of its kind; jobs of the other kind keep their places for the next one.

A job also names the model functions it runs on (`predict(texts, output, functions)`; the
batcher's own by default): a server reloading its runs (SIGHUP) swaps the model a name serves
while requests are queued, and each request is answered by the model it was accepted with, the
labels it reads beside its rows being that model's. A batch holds jobs of one model only.

A batch the model fails on (a text it cannot take, memory) is run again request by request, and a
failing request text by text, so that only the request holding the failing text gets the error
(the server answers it with a generic 500 and logs it); the others get their rows.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import numpy as np

log = logging.getLogger("attentext.serving")
PROBABILITIES = "probabilities"  # what `predict` answers by default: calibrated probabilities
LOGITS = "logits"  # the calibrated logits: their softmax is the probabilities
Functions = Mapping[str, Callable[[list[str]], np.ndarray]]  # what a model gives, by output


async def both(first: Awaitable[Any], second: Awaitable[Any]) -> list[Any]:
    """`asyncio.gather` of two, where one failing cancels the other: a /v1 request refused for
    a full queue went on counting its texts' tokens on the model's thread, for no answer."""
    tasks = [asyncio.ensure_future(first), asyncio.ensure_future(second)]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


class QueueFull(Exception):
    """The queue holds `max_queue` texts already: try again later."""


class ShuttingDown(Exception):
    """The batcher has stopped accepting work."""


@dataclass(eq=False)  # compared by identity: a job is removed from the queue as itself
class _Job:
    texts: list[str]
    future: asyncio.Future[np.ndarray]
    output: str = PROBABILITIES
    functions: Functions | None = None

    def call(self) -> Callable[[list[str]], np.ndarray]:
        """The model function this job runs on; jobs of one call may share a batch."""
        assert self.functions is not None
        return self.functions[self.output]


class MicroBatcher:
    """Groups `predict(texts)` calls into batched `predict_proba` calls in one executor.

    `logits(texts)`, when given, answers the jobs that ask for LOGITS (in batches of their own).
    """

    def __init__(
        self,
        predict_proba: Callable[[list[str]], np.ndarray],
        executor: Executor,
        max_batch_size: int = 32,
        max_wait_ms: float = 5.0,
        max_queue: int = 1024,
        name: str = "model",
        logits: Callable[[list[str]], np.ndarray] | None = None,
    ) -> None:
        assert max_batch_size >= 1 and max_wait_ms >= 0 and max_queue >= 1
        self.predict_proba = predict_proba
        self.functions = {PROBABILITIES: predict_proba}
        if logits is not None:
            self.functions[LOGITS] = logits
        self.executor = executor
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000.0
        self.max_queue = max_queue
        self.name = name
        self._jobs: deque[_Job] = deque()
        self._queued_texts = 0
        self._wakeup = asyncio.Event()
        self._accepting = False
        self._task: asyncio.Task | None = None
        self.batches = 0  # model calls made, for tests and logs

    @property
    def queued_texts(self) -> int:
        return self._queued_texts

    @property
    def running(self) -> bool:
        return self._accepting and self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start the worker task (call from the running event loop)."""
        self._accepting = True
        self._task = asyncio.get_running_loop().create_task(
            self._worker(), name=f"batcher-{self.name}"
        )

    async def stop(self) -> None:
        """Stop accepting requests, finish every queued one, then end the worker."""
        self._accepting = False
        self._wakeup.set()
        if self._task is not None:
            await self._task

    async def predict(
        self, texts: list[str], output: str = PROBABILITIES, functions: Functions | None = None
    ) -> np.ndarray:
        """Probabilities (or, `output=LOGITS`, the calibrated logits) of `texts`, shape
        (len(texts), n_labels), computed in a shared batch by `functions` (the model the
        request was accepted with; the batcher's own if None)."""
        functions = self.functions if functions is None else functions
        if output not in functions:
            raise ValueError(f"model '{self.name}' gives no {output}")
        if not self._accepting:
            raise ShuttingDown(f"model '{self.name}' is not accepting requests")
        if self._queued_texts + len(texts) > self.max_queue:
            raise QueueFull(
                f"model '{self.name}' has {self._queued_texts} texts queued "
                f"(limit {self.max_queue}); retry shortly"
            )
        future: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        job = _Job(list(texts), future, output, functions)
        self._jobs.append(job)
        self._queued_texts += len(texts)
        self._wakeup.set()
        try:
            return await future
        except asyncio.CancelledError:
            # The client went away or the request passed its time limit: its place in the queue
            # is freed now. A job already taken into a batch is skipped there, or its rows dropped.
            if job in self._jobs:
                self._jobs.remove(job)
                self._queued_texts -= len(job.texts)
            raise

    def _take(self, job: _Job | None = None) -> _Job:
        """The oldest job, or `job`, out of the queue."""
        if job is None:
            job = self._jobs.popleft()
        else:
            self._jobs.remove(job)
        self._queued_texts -= len(job.texts)
        return job

    def _following(self, first: _Job) -> _Job | None:
        """The oldest queued job that runs on the same model function as `first`: what may
        join its batch (jobs of the other kind, or of a model swapped in since, keep their
        places for the next batch)."""
        call = first.call()
        return next((job for job in self._jobs if job.call() is call), None)

    async def _wait_for_work(self, timeout: float | None) -> bool:
        """Wait until a job arrives or `stop` is called; False on timeout."""
        self._wakeup.clear()
        try:
            await asyncio.wait_for(self._wakeup.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def _worker(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while not self._jobs:
                if not self._accepting:
                    return
                await self._wait_for_work(None)
            batch = [self._take()]
            size = len(batch[0].texts)
            deadline = loop.time() + self.max_wait
            while size < self.max_batch_size:
                following = self._following(batch[0])
                if following is not None:
                    if size + len(following.texts) > self.max_batch_size:
                        break
                    batch.append(self._take(following))
                    size += len(following.texts)
                    continue
                remaining = deadline - loop.time()
                # While draining at shutdown nothing new arrives: run what is there now.
                if remaining <= 0 or not self._accepting:
                    break
                if not await self._wait_for_work(remaining):
                    break
            await self._run(batch)

    async def _rows(self, texts: list[str], call: Callable[[list[str]], np.ndarray]) -> np.ndarray:
        """One model call (`predict_proba`, or `logits`) in the executor, its row count checked."""
        loop = asyncio.get_running_loop()
        probabilities = await loop.run_in_executor(self.executor, call, texts)
        probabilities = np.asarray(probabilities)
        if probabilities.shape[0] != len(texts):
            raise RuntimeError(
                f"predict_proba returned {probabilities.shape[0]} rows for {len(texts)} texts"
            )
        self.batches += 1
        return probabilities

    async def _run(self, batch: list[_Job]) -> None:
        # A client that went away cancelled its future: its texts are not computed.
        batch = [job for job in batch if not job.future.done()]
        if not batch:
            return
        texts = [text for job in batch for text in job.texts]
        try:
            probabilities = await self._rows(texts, batch[0].call())
        except Exception as error:  # the worker goes on; which requests fail is found below
            if len(texts) == 1:
                batch[0].future.set_exception(error)
                return
            log.warning(
                "model '%s' failed on a batch of %d texts (%s); running its %d request(s) apart",
                self.name,
                len(texts),
                type(error).__name__,
                len(batch),
            )
            await self._isolate(batch)
            return
        start = 0
        for job in batch:
            rows = probabilities[start : start + len(job.texts)]
            start += len(job.texts)
            if not job.future.done():
                job.future.set_result(rows)

    async def _isolate(self, batch: list[_Job]) -> None:
        """Run the jobs of a failed batch one by one (a failing job's texts one by one), so that
        only the request holding the text the model fails on gets the error."""
        for job in batch:
            if job.future.done():  # cancelled meanwhile
                continue
            try:
                rows = await self._job_rows(job, tried_alone=len(batch) == 1)
            except Exception as error:
                if not job.future.done():
                    job.future.set_exception(error)
                continue
            if not job.future.done():
                job.future.set_result(rows)

    async def _job_rows(self, job: _Job, tried_alone: bool) -> np.ndarray:
        """A job's rows: in one call, else text by text (a batch too large for memory, or one
        text the model fails on: the error of the first failing text is raised)."""
        if not tried_alone:
            try:
                return await self._rows(job.texts, job.call())
            except Exception:
                if len(job.texts) == 1:
                    raise
        return np.concatenate([await self._rows([text], job.call()) for text in job.texts])
