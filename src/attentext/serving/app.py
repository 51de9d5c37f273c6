"""The HTTP service: `create_app(run_dirs)` assembles the FastAPI app; routes live in `routes/`.

    POST /v1/predict   {"texts": [...], "top_k": 3, "model": "seed"} -> labels and scores
    POST /v1/explain   {"text": "..."} or {"texts": [...]} -> per-token attention importances
    GET  /v1/models    name, labels, recipe and metrics of each served model
    GET  /healthz      the process is alive;  GET /readyz: models loaded, accepting requests
    GET  /             a small page to try a model;  /docs: the OpenAPI schema

Beside /v1, the protocols that clients already speak (each in `routes/`, bodies in
`<protocol>_schemas.py`, errors in the protocol's own shape):

    POST /models/{name}, POST /   the Hugging Face inference shape (huggingface_hub's
                                  InferenceClient.text_classification)
    POST /predict, GET /health, GET /info
                                  text-embeddings-inference's routes (default model)
    /v2/...                       the Open Inference Protocol v2 (tritonclient, KServe)

Each run directory is served under its directory name; the first is the default. Predictions go
through a micro-batcher per model (`batcher.py`); every model call runs in one inference thread
(`state.py`). Every client mistake is a 4xx with the body {"error": {"type", "message"}}
(`errors.py`); limits (`settings.py`): a body over `max_body_bytes` is a 413, a full queue a 503
with Retry-After, and a request not answered within `request_timeout_s` a 504 (408 if its body
is still arriving) (`middleware.py`). Below the app, `attentext serve` runs uvicorn with a header
timeout, a connection cap and JSON errors for requests h11 cannot parse (`connections.py`), and
rate-limits the log lines a client can cause (`logs.py`). Browser pages of other origins may
call it only where `settings.cors_allow_origins` names them (`cors.py`).

Reloading: a served run replaced on disk is served as loaded until the service is asked to
load it again (`ModelService.request_reload`; `attentext serve` asks on SIGHUP, `kill -HUP PID`).
Each run directory is then loaded again in a thread apart (the event loop and the inference
thread go on with the models loaded before) and swapped in once loaded, its model and its
/v1/models metrics read from one and the same run (`state.load_served`). A request accepted
before the swap is answered by the old model, one after it by the new one, never an error. A
run that fails to load (half-written, deleted, damaged) keeps its old model served, and the log
names it in one line; a run whose labels changed is swapped in too, the log saying so.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from attentext import __version__
from attentext.serving.cors import Cors
from attentext.serving.errors import install_error_handlers
from attentext.serving.middleware import (
    BodyLimit,
    CancelOnDisconnect,
    HeadAsGet,
    RequestTarget,
    TimeLimit,
)
from attentext.serving.routes import explain, huggingface, models, predict, tei, v2
from attentext.serving.routes.pages import mount_pages
from attentext.serving.settings import ServerSettings
from attentext.serving.state import ModelService, load_models


def create_app(
    run_dirs: Sequence[str | Path],
    loader: Callable[[Path], Any] | None = None,
    settings: ServerSettings | None = None,
    **limits: Any,
) -> FastAPI:
    """A FastAPI app serving `run_dirs` (loaded now; the first is the default model).

    `loader(run_dir) -> Classifier` defaults to `attentext.load`. Limits come as a
    `ServerSettings` or as its fields by name (`max_chars=200, strict=True`). Bad settings and
    bad run directories raise `AttentextError` here, before any server starts.
    """
    settings = settings or ServerSettings(**limits)
    explainer = explain.load_explainer()
    explainable = explainer.can_explain if explainer is not None else (lambda _: False)
    served = load_models(run_dirs, loader, explainable)
    service = ModelService(served, settings, loader=loader, explainable=explainable)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    app = FastAPI(
        title="attentext",
        version=__version__,
        summary="Attention-based text classification: predictions and token importances.",
        lifespan=lifespan,
        docs_url=None,  # served by mount_pages from local files: FastAPI's loads them from a CDN
        redirect_slashes=False,  # "/v1/predict/" is a JSON 404 naming the path (errors.not_found)
    )
    app.state.service = service
    app.add_middleware(HeadAsGet)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(TimeLimit, seconds=settings.request_timeout_s)  # times the body
    app.add_middleware(CancelOnDisconnect)  # sees the client's own messages, the body's too
    if settings.cors_allow_origins:  # outermost: every answer, errors too, gets CORS headers
        app.add_middleware(Cors, origins=settings.cors_allow_origins)
    app.add_middleware(RequestTarget)  # before all: the others read the path it gives
    install_error_handlers(app)
    for module in (predict, explain, models, huggingface, tei, v2):
        app.include_router(module.router)
    mount_pages(app)
    return app
