"""Errors as the client sees them: `{"error": {"type": ..., "message": ...}}` with a 4xx status
that says what was wrong; an unexpected failure is logged and answered with a generic 500.

The protocols served beside /v1 answer in the shape their clients parse, chosen by the path (so
that the middleware's 413/408/504 and FastAPI's 404/405 take it too): the Hugging Face inference
shape (`POST /`, `/models/...`) and the Open Inference Protocol (`/v2...`) `{"error": "..."}`,
text-embeddings-inference (`/predict`, `/health`, `/info`) `{"error": "...", "error_type":
"Validation"}` with TEI's error types.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from attentext.data.readers import json_error_reason
from attentext.errors import shown
from attentext.serving.schemas import ErrorResponse, json_type

log = logging.getLogger("attentext.serving")

RETRY_AFTER_S = 1  # what a 503 tells the client to wait: a full queue drains in well under that
# Messages stay short whatever a client sent: a value it sent is echoed cut to ECHO_CHARS (a model
# name, a field name, a path), and a whole message never passes MAX_MESSAGE_CHARS.
ECHO_CHARS = 60
MAX_MESSAGE_CHARS = 1000
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 404, 408, 413, 415, 422, 503, 504)
}
# The protocols beside /v1, each with its own error shape.
HF, TEI, V2 = "huggingface", "tei", "v2"
TEI_PATHS = ("/predict", "/health", "/info")
# What a request body looks like, for the message that says it is missing.
BODY_EXAMPLES = {
    None: '{"texts": ["..."]}',
    HF: '{"inputs": "..."}',
    TEI: '{"inputs": "..."}',
    V2: '{"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["..."]}]}',
}


class ApiError(Exception):
    """A request the server refuses: status code, error type and a message for the client."""

    def __init__(
        self, status: int, type_: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.type, self.message, self.headers = status, type_, message, headers


def retry_after() -> dict[str, str]:
    return {"Retry-After": str(RETRY_AFTER_S)}


def unavailable(type_: str = "unavailable", message: str = "") -> ApiError:
    """A 503 with Retry-After: the server is starting, stopping, or its queue is full."""
    return ApiError(503, type_, message or "the server is starting or shutting down", retry_after())


def error_content(type_: str, message: str) -> dict[str, Any]:
    """The body of every error the server answers: {"error": {"type", "message"}}."""
    return {"error": {"type": type_, "message": shown(message, MAX_MESSAGE_CHARS)}}


def protocol_of(path: str) -> str | None:
    """Which protocol a path belongs to (None: attentext's own API, /v1 and the rest)."""
    if path == "/v2" or path.startswith("/v2/"):
        return V2
    if path in TEI_PATHS:
        return TEI
    if path == "/" or path.startswith("/models/"):
        return HF
    return None


def tei_error_type(status: int, type_: str) -> str:
    """TEI's `error_type` for an error: Overloaded (429), Empty (400), Unhealthy (503), Backend
    (other 5xx), else Validation (TEI's own values, capitalized as its server sends them)."""
    if type_ == "queue_full":
        return "Overloaded"
    if type_ == "empty":
        return "Empty"
    if status == 503:
        return "Unhealthy"
    return "Backend" if status >= 500 else "Validation"


def shaped_content(path: str, status: int, type_: str, message: str) -> dict[str, Any]:
    """The error body in the shape of the protocol `path` belongs to."""
    protocol = protocol_of(path)
    if protocol is None:
        return error_content(type_, message)
    content: dict[str, Any] = {"error": shown(message, MAX_MESSAGE_CHARS)}
    if protocol == TEI:
        content["error_type"] = tei_error_type(status, type_)
    return content


def error_response(
    status: int,
    type_: str,
    message: str,
    headers: dict[str, str] | None = None,
    path: str = "",
) -> JSONResponse:
    """The JSON error answer; `path` chooses the protocol's shape (none: /v1's)."""
    return JSONResponse(
        shaped_content(path, status, type_, message), status_code=status, headers=headers
    )


def echo(value: object) -> str:
    """A value the client sent, as a message may quote it: cut to ECHO_CHARS."""
    return shown(str(value), ECHO_CHARS)


def _field_path(loc: Sequence[Any]) -> str:
    """('body', 'texts', 0) -> 'texts[0]'."""
    path = ""
    for part in loc[1:] if loc and loc[0] == "body" else loc:
        name = echo(part)  # a field name is the client's: an unknown one may be 900 KB long
        path += f"[{part}]" if isinstance(part, int) else (f".{name}" if path else name)
    return path


def _one_message(error: dict[str, Any], example: str) -> str | tuple[int, str, str]:
    """One pydantic error as a sentence, or (status, type, message) when it decides the answer."""
    where, kind = _field_path(error.get("loc", ())), error.get("type")
    msg = error.get("msg", "").removeprefix("Value error, ")
    if kind == "missing" and not where:
        return f"the request body is missing; send a JSON object, e.g. {example}"
    if kind == "missing":
        return f"{where}: required field is missing"
    if kind == "extra_forbidden":
        return f"{where}: unknown field"
    if kind in ("too_short", "string_too_short") and error.get("input") == "":
        default = "; leave it out for the default model" if where == "model" else ""
        return f"{where}: must not be empty{default}"
    if kind == "model_attributes_type" and not where:
        if isinstance(error.get("input"), bytes):  # FastAPI did not parse it: not JSON
            return (
                415,
                "unsupported_media_type",
                "send the request body as JSON with the header Content-Type: application/json",
            )
        return f"the request body must be a JSON object, got {json_type(error.get('input'))}"
    got = error.get("input")
    got_type = f" (got {json_type(got)})" if kind and kind.endswith("_type") else ""
    return f"{where}: {msg}{got_type}" if where else f"{msg}{got_type}"


def validation_message(
    errors: Sequence[dict[str, Any]], example: str = BODY_EXAMPLES[None]
) -> tuple[int, str, str]:
    """Status, type and one readable message from pydantic's error list (`example`: a body of
    the route, for the message that says the body is missing)."""
    for error in errors:
        if error.get("type") == "json_invalid":
            reason = (error.get("ctx") or {}).get("error", "malformed JSON")
            return 400, "invalid_json", f"the request body is not valid JSON ({reason})"
    messages = []
    for error in errors[:5]:
        message = _one_message(error, example)
        if isinstance(message, tuple):
            return message
        messages.append(message)
    if len(errors) > 5:
        messages.append(f"and {len(errors) - 5} more")
    return 422, "invalid_request", "; ".join(messages)


def not_found(request: Request) -> str:
    """The 404 of a path no route takes; for a path with a trailing "/" that a route takes
    without it, that path. (The app redirects no path: Starlette's 307 to it had no JSON body,
    most API clients do not follow it with the body, and it wrote the request's Host header
    into its Location.)"""
    path = request.url.path
    message = f"no such endpoint: {echo(request.method)} {echo(path)}"
    bare = path.rstrip("/")
    if bare and bare != path:
        scope = {**request.scope, "path": bare}
        if any(route.matches(scope)[0] != Match.NONE for route in request.app.router.routes):
            return f"{message}; the path is {echo(bare)}, without the trailing '/'"
    return f"{message}; see /docs"


def install_error_handlers(app: FastAPI) -> None:
    """Every error, the app's own and FastAPI's, answered in the same JSON shape."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> JSONResponse:
        return error_response(
            error.status, error.type, error.message, error.headers, request.url.path
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        path = request.url.path
        example = BODY_EXAMPLES[protocol_of(path)]
        return error_response(*validation_message(error.errors(), example), path=path)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        type_ = getattr(error, "error_type", None) or {
            404: "not_found",
            405: "method_not_allowed",
        }.get(error.status_code, "http_error")
        message = error.detail if isinstance(error.detail, str) else "request refused"
        # FastAPI's "There was an error parsing the body" stands for whatever json.loads raised
        # besides a syntax error (bytes not UTF-8, nesting, a 5,000-digit number): say which.
        reason = json_error_reason(error.__cause__) if error.__cause__ is not None else None
        if error.status_code == 400 and reason is not None:
            type_, message = "invalid_json", f"the request body is not valid JSON ({reason})"
        if error.status_code == 404:
            message = not_found(request)
        elif error.status_code == 405:
            message = (
                f"{echo(request.method)} is not allowed on {echo(request.url.path)}; see /docs"
            )
        return error_response(
            error.status_code,
            type_,
            message,
            getattr(error, "headers", None),
            request.url.path,
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        log.error(
            "unexpected error on %s %s", request.method, echo(request.url.path), exc_info=error
        )
        return error_response(
            500,
            "internal_error",
            "the server failed on this request; the error is in its log",
            path=request.url.path,
        )
