"""The HTTP service: `create_app(run_dirs)` serves one or more run directories with FastAPI.

    POST /v1/predict   {"texts": [...], "top_k": 3, "model": "seed"} -> labels and scores
    POST /v1/explain   {"text": "..."} or {"texts": [...]} -> per-token attention importances
    GET  /v1/models    name, labels, recipe and metrics of each served model
    GET  /healthz      the process is alive;  GET /readyz: models loaded, accepting requests
    GET  /             a small page to try a model;  /docs: the OpenAPI schema

Each run directory is served under its directory name; the first is the default. Predictions go
through a micro-batcher per model (`batcher.py`); every model call, predictions and explanations,
runs in ONE inference thread, so concurrent requests never oversubscribe torch's own threads.

Every client mistake is a 4xx with the body {"error": {"type": ..., "message": ...}} saying what
was wrong; an unexpected failure is logged here and answered with a generic 500, never a
traceback. Limits: a body over `max_body_bytes` is a 413, a full queue a 503 with Retry-After, and
a request not answered within `request_timeout_s` a 504 (408 if its body is still arriving).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from attentext import rundir
from attentext.errors import AttentextError
from attentext.serving.batcher import MicroBatcher, QueueFull, ShuttingDown
from attentext.serving.schemas import (
    ErrorResponse,
    ExplainRequest,
    ExplainResponse,
    LabelScore,
    ModelInfo,
    ModelsResponse,
    Prediction,
    PredictRequest,
    PredictResponse,
    TokenExplanation,
)

log = logging.getLogger("attentext.serving")

STATIC_DIR = Path(__file__).parent / "static"
RETRY_AFTER_S = 1  # what a 503 tells the client to wait: a full queue drains in well under that
SCORE_DECIMALS = 6
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 404, 408, 413, 415, 422, 503, 504)
}


class ApiError(Exception):
    """A request the server refuses: status code, error type and a message for the client."""

    def __init__(
        self, status: int, type_: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.type, self.message, self.headers = status, type_, message, headers


def error_response(
    status: int, type_: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"type": type_, "message": message}}, status_code=status, headers=headers
    )


@dataclass
class ServedModel:
    """A loaded run directory and what /v1/models tells about it."""

    name: str
    run_dir: Path
    classifier: Any  # attentext.classifier.Classifier
    kind: str
    recipe: str | None
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def explainable(self) -> bool:
        from attentext.baseline import TfidfLogRegClassifier
        from attentext.classifier import TransformersClassifier

        return isinstance(self.classifier, TransformersClassifier | TfidfLogRegClassifier)

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


def _metrics_summary(metrics: dict[str, Any]) -> dict[str, Any]:
    """Scalars of metrics.json, and per split only its headline numbers (not per class)."""
    summary: dict[str, Any] = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            summary[key] = {
                k: value[k]
                for k in ("accuracy", "macro_f1", "weighted_f1", "n_examples")
                if k in value
            }
        elif isinstance(value, int | float | str | bool) or value is None:
            summary[key] = value
    return summary


def load_models(
    run_dirs: Sequence[str | Path], loader: Callable[[Path], Any] | None = None
) -> list[ServedModel]:
    """Check every run directory first (a bad one fails before any loading), then load each."""
    if not run_dirs:
        raise AttentextError("no run directory to serve; pass at least one")
    if loader is None:
        from attentext.classifier import load as loader
    checked: list[tuple[str, Path, dict[str, Any]]] = []
    for run_dir in map(Path, run_dirs):
        marker = rundir.read_marker(run_dir)
        name = run_dir.resolve().name
        if any(name == other for other, _, _ in checked):
            raise AttentextError(
                f"two run directories are named '{name}'; models are served under their "
                "directory names, so rename or copy one"
            )
        checked.append((name, run_dir, marker))
    models = []
    for name, run_dir, marker in checked:
        metrics = rundir.read_metrics(run_dir)
        models.append(
            ServedModel(
                name=name,
                run_dir=run_dir,
                classifier=loader(run_dir),
                kind=marker.get("kind", "transformers"),
                recipe=metrics.get("recipe") or _recipe_name(run_dir),
                metrics=_metrics_summary(metrics),
            )
        )
    return models


def _recipe_name(run_dir: Path) -> str | None:
    path = run_dir / rundir.RECIPE_FILE
    if not path.exists():
        return None
    import yaml

    try:
        return (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("name")
    except (OSError, yaml.YAMLError, AttributeError):
        return None


class _Service:
    """The app's state: models, settings, and (while running) the batchers and the thread."""

    def __init__(self, models: list[ServedModel], settings: dict[str, Any]) -> None:
        self.models = {m.name: m for m in models}
        self.default = models[0].name
        self.settings = settings
        self.batchers: dict[str, MicroBatcher] = {}
        self.executor: ThreadPoolExecutor | None = None
        self.ready = False
        self.explaining = 0  # texts being explained or waiting for the thread

    def explained(self, n_texts: int) -> None:
        self.explaining -= n_texts

    def model(self, name: str | None) -> ServedModel:
        name = name or self.default
        if name not in self.models:
            raise ApiError(
                404,
                "unknown_model",
                f"no model named '{name}'; this server serves: {', '.join(self.models)}",
            )
        return self.models[name]

    def check_texts(self, texts: list[str], field_name: str) -> tuple[list[str], list[bool]]:
        """Apply the per-request limits; long texts are cut to max_chars (or refused if strict)."""
        max_texts, max_chars = self.settings["max_texts"], self.settings["max_chars"]
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
            if self.settings["strict"]:
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

    async def start(self) -> None:
        s = self.settings
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="attentext-model")
        for name, served in self.models.items():
            batcher = MicroBatcher(
                served.classifier.predict_proba,
                self.executor,
                max_batch_size=s["max_batch_size"],
                max_wait_ms=s["max_wait_ms"],
                max_queue=s["max_queue"],
                name=name,
            )
            batcher.start()
            self.batchers[name] = batcher
        self.ready = True
        log.info("serving %s (default %s)", ", ".join(self.models), self.default)

    async def stop(self) -> None:
        """Refuse new requests, finish the queued ones, then end the inference thread."""
        self.ready = False
        await asyncio.gather(*(b.stop() for b in self.batchers.values()))
        if self.executor is not None:
            await asyncio.to_thread(self.executor.shutdown, True)
        log.info("stopped: queued requests finished")


def _field_path(loc: Sequence[Any]) -> str:
    """('body', 'texts', 0) -> 'texts[0]'."""
    path = ""
    for part in loc[1:] if loc and loc[0] == "body" else loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _validation_message(errors: Sequence[dict[str, Any]]) -> tuple[int, str, str]:
    """Status, type and one readable message from pydantic's error list."""
    for error in errors:
        if error.get("type") == "json_invalid":
            reason = (error.get("ctx") or {}).get("error", "malformed JSON")
            return 400, "invalid_json", f"the request body is not valid JSON ({reason})"
    messages = []
    for error in errors[:5]:
        where, kind, msg = (
            _field_path(error.get("loc", ())),
            error.get("type"),
            error.get("msg", ""),
        )
        msg = msg.removeprefix("Value error, ")
        if kind == "missing" and not where:
            messages.append(
                'the request body is missing; send a JSON object, e.g. {"texts": ["..."]}'
            )
        elif kind == "missing":
            messages.append(f"{where}: required field is missing")
        elif kind == "extra_forbidden":
            messages.append(f"{where}: unknown field")
        elif kind == "model_attributes_type" and not where:
            if isinstance(error.get("input"), bytes):  # FastAPI did not parse it: not JSON
                return (
                    415,
                    "unsupported_media_type",
                    "send the request body as JSON with the header Content-Type: application/json",
                )
            got = type(error.get("input")).__name__
            messages.append(f"the request body must be a JSON object, got {got}")
        else:
            got = error.get("input")
            shown = f" (got {type(got).__name__})" if kind and kind.endswith("_type") else ""
            messages.append(f"{where}: {msg}{shown}" if where else f"{msg}{shown}")
    if len(errors) > 5:
        messages.append(f"and {len(errors) - 5} more")
    return 422, "invalid_request", "; ".join(messages)


class BodyLimit:
    """ASGI middleware: refuse bodies over `max_bytes` with 413, by Content-Length and as read.

    A request that declares a small Content-Length (or none, chunked) but sends more is cut off
    when the bytes actually received pass the limit, so the declared size is never trusted alone.
    """

    def __init__(self, app, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    def _too_large(self, size: str) -> JSONResponse:
        return error_response(
            413,
            "body_too_large",
            f"the request body is {size}; this server accepts at most {self.max_bytes:,} bytes",
        )

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                await error_response(400, "bad_request", "invalid Content-Length header")(
                    scope, receive, send
                )
                return
            if length > self.max_bytes:
                await self._too_large(f"{length:,} bytes")(scope, receive, send)
                return
        chunks, total, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > self.max_bytes:
                await self._too_large(f"over {self.max_bytes:,} bytes")(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body, replayed = b"".join(chunks), False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class TimeLimit:
    """ASGI middleware: a request not answered within `seconds` gets a 504 (a 408 if the client
    is still sending its body), and its handler is cancelled.

    The limit runs until the response starts. Cancelling a prediction cancels its place in the
    micro-batcher's queue (its texts are skipped, or its rows dropped if the batch already runs);
    the inference thread and every other request go on.
    """

    def __init__(self, app, seconds: float) -> None:
        self.app, self.seconds = app, seconds

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body_received = response_started = False

        async def receive_tracked():
            nonlocal body_received
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_received = True
            return message

        async def send_tracked(message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                limit.reschedule(None)  # answered in time: sending the body is not limited
            await send(message)

        try:
            async with asyncio.timeout(self.seconds) as limit:
                await self.app(scope, receive_tracked, send_tracked)
        except TimeoutError:
            # Only our own deadline is answered here: a TimeoutError raised inside the handler
            # is an unexpected failure (500), and one after the response started cannot be.
            if response_started or not limit.expired():
                raise
            if scope["method"] in ("POST", "PUT", "PATCH") and not body_received:
                response = error_response(
                    408,
                    "request_timeout",
                    f"the request body did not arrive within the server's {self.seconds:g} s "
                    "limit; send it at once (check the client's connection)",
                )
            else:
                log.warning(
                    "%s %s passed the %g s time limit", scope["method"], scope["path"], self.seconds
                )
                response = error_response(
                    504,
                    "timeout",
                    f"the request was not answered within the server's {self.seconds:g} s limit; "
                    "retry later, or send fewer or shorter texts",
                )
            await response(scope, receive, send)


def create_app(
    run_dirs: Sequence[str | Path],
    max_batch_size: int = 32,
    max_wait_ms: float = 5,
    max_queue: int = 1024,
    max_texts: int = 64,
    max_chars: int = 10_000,
    strict: bool = False,
    max_body_bytes: int = 1_000_000,
    request_timeout_s: float = 30.0,
    loader: Callable[[Path], Any] | None = None,
) -> FastAPI:
    """A FastAPI app serving `run_dirs` (loaded now; the first is the default model).

    `loader(run_dir) -> Classifier` defaults to `attentext.load`. Bad run directories raise
    `AttentextError` here, before any server starts.
    """
    for name, value in (
        ("max_batch_size", max_batch_size),
        ("max_queue", max_queue),
        ("max_texts", max_texts),
        ("max_chars", max_chars),
        ("max_body_bytes", max_body_bytes),
    ):
        if value < 1:
            raise AttentextError(f"{name} must be at least 1, got {value}")
    if max_wait_ms < 0:
        raise AttentextError(f"max_wait_ms must be 0 or more, got {max_wait_ms}")
    if not 0 < request_timeout_s < math.inf:  # also refuses nan
        raise AttentextError(
            f"request_timeout_s must be a number of seconds more than 0, got {request_timeout_s}"
        )
    service = _Service(
        load_models(run_dirs, loader),
        dict(
            max_batch_size=max_batch_size,
            max_wait_ms=max_wait_ms,
            max_queue=max_queue,
            max_texts=max_texts,
            max_chars=max_chars,
            strict=strict,
        ),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    app = FastAPI(
        title="attentext",
        version=_version(),
        summary="Attention-based text classification: predictions and token importances.",
        lifespan=lifespan,
        docs_url=None,  # served below from local files: FastAPI's default loads them from a CDN
    )
    app.state.service = service
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_middleware(TimeLimit, seconds=request_timeout_s)  # outermost: it also times the body
    _install_error_handlers(app)

    @app.post("/v1/predict", response_model=PredictResponse, responses=ERROR_RESPONSES)
    async def predict(body: PredictRequest) -> PredictResponse:
        """Classify texts: the best label, its score, and the top_k labels of each text."""
        served = service.model(body.model)
        texts, truncated = service.check_texts(body.texts, "texts")
        batcher = service.batchers.get(served.name)
        if batcher is None or not service.ready:
            raise ApiError(
                503, "unavailable", "the server is starting or shutting down", _retry_after()
            )
        try:
            probabilities = await batcher.predict(texts)
        except QueueFull as full:
            raise ApiError(503, "queue_full", str(full), _retry_after()) from None
        except ShuttingDown:
            raise ApiError(
                503, "shutting_down", "the server is shutting down", _retry_after()
            ) from None
        labels = served.classifier.labels
        top_k = min(body.top_k, len(labels))
        predictions = []
        for row, cut in zip(probabilities, truncated, strict=True):
            best = np.argsort(-row, kind="stable")[:top_k]
            ranked = [
                LabelScore(label=labels[i], score=round(float(row[i]), SCORE_DECIMALS))
                for i in best
            ]
            predictions.append(
                Prediction(
                    label=ranked[0].label, score=ranked[0].score, top_k=ranked, truncated=cut
                )
            )
        return PredictResponse(model=served.name, predictions=predictions)

    @app.post(
        "/v1/explain",
        response_model=ExplainResponse,
        responses={**ERROR_RESPONSES, 501: {"model": ErrorResponse}},
    )
    async def explain(body: ExplainRequest) -> ExplainResponse:
        """Per-token importances from the model's attention, with the prediction."""
        served = service.model(body.model)
        field_name = "text" if body.text is not None else "texts"
        texts, _ = service.check_texts(body.all_texts(), field_name)
        try:
            from attentext.explain import explain as explain_texts
        except ImportError as error:
            raise _explain_unavailable(error) from None
        if not served.explainable:
            raise ApiError(
                422,
                "not_explainable",
                f"model '{served.name}' ({served.kind}) has no attention to explain; "
                "explanations work on the neural models",
            )
        if not service.ready or service.executor is None:
            raise ApiError(
                503, "unavailable", "the server is starting or shutting down", _retry_after()
            )
        if service.explaining + len(texts) > max_queue:
            raise ApiError(
                503,
                "queue_full",
                f"{service.explaining} texts are waiting for explanations (limit {max_queue}); "
                "retry shortly",
                _retry_after(),
            )
        loop = asyncio.get_running_loop()
        work = service.executor.submit(partial(explain_texts, served.classifier, texts))
        service.explaining += len(texts)
        # Counted until the thread is done with them, also after a 504 stopped the waiting here.
        work.add_done_callback(lambda _: loop.call_soon_threadsafe(service.explained, len(texts)))
        try:
            explanations = await asyncio.wrap_future(work)
        except ImportError as error:
            raise _explain_unavailable(error) from None
        except AttentextError as error:
            raise ApiError(422, "explain_error", str(error)) from None
        return ExplainResponse(
            model=served.name,
            explanations=[
                TokenExplanation(
                    text=e.text,
                    label=e.label,
                    probabilities={k: round(v, SCORE_DECIMALS) for k, v in e.probabilities.items()},
                    tokens=list(e.tokens),
                    importances=[round(float(x), SCORE_DECIMALS) for x in e.importances],
                    offsets=e.offsets,
                    method=e.method,
                    truncated=e.truncated,
                )
                for e in explanations
            ],
        )

    @app.get("/v1/models", response_model=ModelsResponse)
    async def models() -> ModelsResponse:
        """The served models: name, labels, recipe, and the metrics recorded at training."""
        return ModelsResponse(
            models=[m.info(default=name == service.default) for name, m in service.models.items()]
        )

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", responses={503: {"model": ErrorResponse}})
    async def readyz():
        """Readiness: models loaded and their batchers accepting requests."""
        if not service.ready or not all(b.running for b in service.batchers.values()):
            return error_response(503, "not_ready", "the server is starting or shutting down")
        return {"status": "ready", "models": list(service.models)}

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    _mount_offline_docs(app)
    return app


def _retry_after() -> dict[str, str]:
    return {"Retry-After": str(RETRY_AFTER_S)}


def _explain_unavailable(error: ImportError) -> ApiError:
    log.warning("explanations unavailable: %s", error)
    return ApiError(
        501,
        "explain_unavailable",
        "explanations are unavailable on this server (attentext.explain cannot be imported)",
    )


def _version() -> str:
    from attentext import __version__

    return __version__


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> JSONResponse:
        return error_response(error.status, error.type, error.message, error.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        status, type_, message = _validation_message(error.errors())
        return error_response(status, type_, message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        types = {404: "not_found", 405: "method_not_allowed"}
        message = error.detail if isinstance(error.detail, str) else "request refused"
        if error.status_code == 404:
            message = f"no such endpoint: {request.method} {request.url.path}; see /docs"
        elif error.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}; see /docs"
        return error_response(
            error.status_code,
            types.get(error.status_code, "http_error"),
            message,
            getattr(error, "headers", None),
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=error)
        return error_response(
            500, "internal_error", "the server failed on this request; the error is in its log"
        )


def _mount_offline_docs(app: FastAPI) -> None:
    """Swagger UI at /docs from the swagger-ui-py package's files, so it works offline."""
    import swagger_ui
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import HTMLResponse

    assets = Path(swagger_ui.__file__).parent / "static"  # Swagger UI 5: reads OpenAPI 3.1
    app.mount("/docs-assets", StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="attentext API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/static/favicon.ico",
        )
