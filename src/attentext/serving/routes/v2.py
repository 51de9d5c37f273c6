"""The Open Inference Protocol v2 (KServe, Triton, Seldon): health, metadata and inference, so
that `tritonclient.http` and KServe's clients work unchanged.

    GET  /v2                          server metadata
    GET  /v2/health/live, /ready      {"live": true}, {"ready": true} (503 while not ready)
    GET  /v2/models/{name}            model metadata: input `text` (BYTES [-1]); outputs `label`
                                      (BYTES [-1]) and `scores` (FP32 [-1, n_labels]), `labels`
    GET  /v2/models/{name}/ready      {"name", "ready"} (503 while not ready)
    POST /v2/models/{name}/infer      the BYTES input `text` -> `label` and `scores`
                                      (a multi-label run's `label`: its labels over their
                                      thresholds joined by `|`, as `predict` decides)
    .../models/{name}/versions/1/...  the same three: a run directory is version 1 of its model

Inputs and outputs come as JSON or in Triton's binary tensor data extension (`tensors.py`);
`scores` with the `classification` parameter answers the k best as `score:index:label` (Triton's
classification extension). Inference goes through the model's micro-batcher like /v1; errors are
`{"error": "..."}` with the same status codes as /v1.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from attentext import __version__
from attentext.data.multilabel import LABEL_JOIN
from attentext.decisions import decide
from attentext.inference.ranking import top_labels
from attentext.serving.dependencies import get_service
from attentext.serving.errors import ApiError, echo
from attentext.serving.schemas import json_type, valid_unicode
from attentext.serving.state import ModelService, ServedModel
from attentext.serving.tensors import (
    BINARY_KEY,
    HEADER,
    BinaryTensorRoute,
    decode_bytes_tensor,
    encode_bytes_tensor,
)
from attentext.serving.v2_schemas import (
    V2Error,
    V2InferRequest,
    V2InferResponse,
    V2InputTensor,
    V2Live,
    V2ModelMetadata,
    V2ModelReady,
    V2OutputTensor,
    V2Ready,
    V2ServerMetadata,
    V2TensorMetadata,
)

router = APIRouter(route_class=BinaryTensorRoute, tags=["Open Inference Protocol v2"])
RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": V2Error} for code in (400, 404, 408, 413, 422, 503, 504)
}
INPUT, LABEL, SCORES = "text", "label", "scores"
VERSION = "1"  # a run directory is one model version
EXTENSIONS = ["binary_tensor_data", "classification"]
NOT_READY = "the server is starting or shutting down"


@dataclass
class Wanted:
    """An output the request asks for, and how."""

    name: str
    binary: bool
    classification: int | None = None


@router.get("/v2", response_model=V2ServerMetadata, responses=RESPONSES)
async def server_metadata() -> V2ServerMetadata:
    """The server's name, version and protocol extensions."""
    return V2ServerMetadata(name="attentext", version=__version__, extensions=EXTENSIONS)


@router.get("/v2/health/live", response_model=V2Live)
async def live() -> V2Live:
    """Liveness: the process answers."""
    return V2Live(live=True)


@router.get("/v2/health/ready", response_model=V2Ready, responses={503: {"model": V2Ready}})
async def ready(service: Annotated[ModelService, Depends(get_service)]):
    """Readiness: models loaded and their batchers accepting requests."""
    if not service.accepting():
        return JSONResponse({"ready": False, "error": NOT_READY}, status_code=503)
    return V2Ready(ready=True)


@router.get("/v2/models/{name}", response_model=V2ModelMetadata, responses=RESPONSES)
async def model_metadata(
    name: str, service: Annotated[ModelService, Depends(get_service)]
) -> V2ModelMetadata:
    """The model's input and outputs, and the label of each column of `scores`."""
    served = service.model(name)
    labels = list(served.classifier.labels)
    return V2ModelMetadata(
        name=served.name,
        versions=[VERSION],
        platform=f"attentext_{served.kind}",
        inputs=[V2TensorMetadata(name=INPUT, datatype="BYTES", shape=[-1])],
        outputs=[
            V2TensorMetadata(name=LABEL, datatype="BYTES", shape=[-1]),
            V2TensorMetadata(name=SCORES, datatype="FP32", shape=[-1, len(labels)]),
        ],
        labels=labels,
    )


@router.get(
    "/v2/models/{name}/ready",
    response_model=V2ModelReady,
    responses={**RESPONSES, 503: {"model": V2ModelReady}},
)
async def model_ready(name: str, service: Annotated[ModelService, Depends(get_service)]):
    """Whether the model takes requests (503 while the server starts or stops)."""
    served = service.model(name)
    if not service.accepting(served.name):
        return JSONResponse(
            {"name": served.name, "ready": False, "error": NOT_READY}, status_code=503
        )
    return V2ModelReady(name=served.name, ready=True)


def _invalid(message: str) -> ApiError:
    return ApiError(422, "invalid_request", message)


def _flatten(data: list[Any]) -> list[Any]:
    """Nested tensor data in row-major order (without recursion: nesting is the client's)."""
    flat, stack = [], [iter(data)]
    while stack:
        item = next(stack[-1], stack)
        if item is stack:
            stack.pop()
        elif isinstance(item, list):
            stack.append(iter(item))
        else:
            flat.append(item)
    return flat


def _binary_texts(tensor: V2InputTensor, binary: bytes, count: int) -> list[str]:
    """The `count` texts of an input sent in the binary part of the body."""
    size = (tensor.parameters or {}).get("binary_data_size")
    if type(size) is not int or size != len(binary):
        raise ApiError(
            400,
            "bad_request",
            f"input '{echo(tensor.name)}': binary_data_size {echo(size)} is not the "
            f"{len(binary):,} bytes of binary data after the JSON",
        )
    if tensor.data is not None:
        raise _invalid(f"input '{echo(tensor.name)}' has both data and binary_data_size")
    try:
        return [item.decode("utf-8") for item in decode_bytes_tensor(binary, count)]
    except ValueError as error:  # UnicodeDecodeError is a ValueError
        raise _invalid(
            f"input '{echo(tensor.name)}': its binary data is not {count} UTF-8 BYTES elements "
            f"({echo(error)})"
        ) from None


def _json_texts(tensor: V2InputTensor) -> list[str]:
    """The texts of an input sent as JSON data."""
    if tensor.data is None:
        raise _invalid(f"input '{echo(tensor.name)}' has no data (and no binary_data_size)")
    texts = _flatten(tensor.data)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise _invalid(
                f"input '{echo(tensor.name)}': data[{i}] is {json_type(text)}; "
                "BYTES data are strings (the texts)"
            )
        try:
            valid_unicode(text)
        except ValueError as error:
            raise _invalid(f"input '{echo(tensor.name)}': data[{i}]: {error}") from None
    return texts


def input_texts(body: V2InferRequest, binary: bytes, limit: int, model: str) -> list[str]:
    """The texts of the request's one BYTES input `text` to `model`, as many as its shape says
    (at most `limit`, the server's texts per request)."""
    if len(body.inputs) != 1:
        raise _invalid(
            f"{len(body.inputs)} inputs; this model takes one, '{INPUT}' (BYTES: the texts)"
        )
    tensor = body.inputs[0]
    name = echo(tensor.name)
    if tensor.name != INPUT:
        # The model metadata declares one input, INPUT: Triton refuses any other name ("unexpected
        # inference input 'x' for model 'm'"). Read as the texts, a tensor meant for another
        # model (token ids, an image) was classified, or refused for its type, never its name.
        raise _invalid(
            f"unexpected inference input '{name}' for model '{model}': its one input is "
            f"'{INPUT}' (BYTES: the texts), as its metadata (GET /v2/models/{model}) declares"
        )
    if tensor.datatype != "BYTES":
        raise _invalid(
            f"input '{name}' is {echo(tensor.datatype)}; this model takes BYTES (the texts, UTF-8)"
        )
    count = math.prod(tensor.shape)
    if count > limit:
        raise ApiError(
            422,
            "too_many_texts",
            f"input '{name}' has {count:,} texts; this server takes at most {limit} per "
            "request: split them over several requests",
        )
    if binary or "binary_data_size" in (tensor.parameters or {}):
        texts = _binary_texts(tensor, binary, count)
    else:
        texts = _json_texts(tensor)
    if len(texts) != count:
        raise _invalid(
            f"input '{name}': shape {tensor.shape} holds {count:,} texts, its data {len(texts):,}"
        )
    return texts


def _flag(parameters: dict[str, Any] | None, name: str, default: bool) -> bool:
    value = (parameters or {}).get(name, default)
    if not isinstance(value, bool):
        raise _invalid(f"parameter {name} must be true or false, got {echo(value)}")
    return value


def _wanted(body: V2InferRequest) -> list[Wanted]:
    """The outputs asked for (both if none is named), binary or JSON, classification or not.
    `"outputs": []` names none: both, as Triton answers it (an answer without outputs was 200)."""
    binary = _flag(body.parameters, "binary_data_output", False)
    if not body.outputs:
        return [Wanted(LABEL, binary), Wanted(SCORES, binary)]
    wanted = []
    for output in body.outputs:
        if output.name not in (LABEL, SCORES):
            raise _invalid(f"no output '{echo(output.name)}'; this model gives {LABEL}, {SCORES}")
        k = (output.parameters or {}).get("classification")
        if k is not None and (type(k) is not int or k < 1 or output.name != SCORES):
            raise _invalid(
                f"output '{output.name}': classification must be a count of labels (1 or more) "
                f"and applies to '{SCORES}'"
            )
        wanted.append(Wanted(output.name, _flag(output.parameters, "binary_data", binary), k))
    return wanted


def label_values(classifier: Any, rows: np.ndarray) -> list[str]:
    """The `label` output: each text's best label, or for a multi-label run the labels at or over
    their thresholds joined by `|` (empty for none), as `predict` decides and `predict --output`
    writes them. The best label alone named a label `predict` does not give (one under its
    threshold, or on a text given no label at all)."""
    labels = list(classifier.labels)
    if getattr(classifier, "multi_label", False):
        thresholds = getattr(classifier, "thresholds", None)
        return [LABEL_JOIN.join(chosen) for chosen in decide(rows, labels, True, thresholds)]
    return [top_labels(row, labels, 1)[0][0] for row in rows]


def _tensor(want: Wanted, rows: np.ndarray, classifier: Any) -> tuple[V2OutputTensor, Any]:
    """One output as (tensor, its values: a list of texts or an FP32 array)."""
    n, labels = len(rows), list(classifier.labels)
    if want.name == LABEL:
        values: Any = label_values(classifier, rows)
        return V2OutputTensor(name=LABEL, datatype="BYTES", shape=[n]), values
    if want.classification is not None:
        k = min(want.classification, len(labels))
        values = [
            f"{score:f}:{labels.index(label)}:{label}"
            for row in rows
            for label, score in top_labels(row, labels, k)
        ]
        return V2OutputTensor(name=SCORES, datatype="BYTES", shape=[n, k]), values
    values = np.asarray(rows, dtype="<f4")
    return V2OutputTensor(name=SCORES, datatype="FP32", shape=[n, len(labels)]), values


def _answer(served: ServedModel, body: V2InferRequest, rows: np.ndarray) -> Response:
    """The inference response: JSON, or JSON then the binary outputs (with HEADER)."""
    outputs, raws = [], []
    for want in _wanted(body):
        tensor, values = _tensor(want, rows, served.classifier)
        if not want.binary:
            tensor.data = values.ravel().tolist() if isinstance(values, np.ndarray) else values
        else:
            raw = (
                values.tobytes() if isinstance(values, np.ndarray) else encode_bytes_tensor(values)
            )
            tensor.parameters = {"binary_data_size": len(raw)}
            raws.append(raw)
        outputs.append(tensor)
    answer = V2InferResponse(
        model_name=served.name,
        model_version=VERSION,
        id=body.id if body.id is not None else uuid.uuid4().hex,
        outputs=outputs,
    )
    content = answer.model_dump_json(exclude_none=True).encode()
    if not raws:
        return Response(content, media_type="application/json")
    return Response(
        content + b"".join(raws),
        media_type="application/octet-stream",
        headers={HEADER: str(len(content))},
    )


@router.post(
    "/v2/models/{name}/infer",
    response_model=V2InferResponse,
    response_model_exclude_none=True,
    responses=RESPONSES,
)
async def infer(
    name: str,
    body: V2InferRequest,
    request: Request,
    service: Annotated[ModelService, Depends(get_service)],
) -> Response:
    """Classify the texts of the BYTES input: `label` (the best) and `scores` (every label)."""
    served = service.model(name)
    binary = request.scope.get(BINARY_KEY, b"")
    texts = input_texts(body, binary, service.settings.max_texts, served.name)
    texts, _ = service.check_texts(texts, f"input '{INPUT}'")
    _wanted(body)  # a bad output request is refused before the model runs
    rows = await service.classify(served, texts)
    return _answer(served, body, rows)


# The same routes for one version of a model: a run directory is version VERSION of its model.


def check_version(service: ModelService, name: str, version: str) -> None:
    """A 404 naming the versions there are, for a version the model does not have."""
    served = service.model(name)  # an unknown model is its own 404
    if version != VERSION:
        raise ApiError(
            404,
            "unknown_version",
            f"model '{served.name}' has no version '{echo(version)}'; its versions: {VERSION}",
        )


@router.get(
    "/v2/models/{name}/versions/{version}", response_model=V2ModelMetadata, responses=RESPONSES
)
async def version_metadata(
    name: str, version: str, service: Annotated[ModelService, Depends(get_service)]
) -> V2ModelMetadata:
    """The metadata of the model's version (as `GET /v2/models/{name}`)."""
    check_version(service, name, version)
    return await model_metadata(name, service)


@router.get(
    "/v2/models/{name}/versions/{version}/ready",
    response_model=V2ModelReady,
    responses={**RESPONSES, 503: {"model": V2ModelReady}},
)
async def version_ready(
    name: str, version: str, service: Annotated[ModelService, Depends(get_service)]
):
    """Whether the model's version takes requests (as `GET /v2/models/{name}/ready`)."""
    check_version(service, name, version)
    return await model_ready(name, service)


@router.post(
    "/v2/models/{name}/versions/{version}/infer",
    response_model=V2InferResponse,
    response_model_exclude_none=True,
    responses=RESPONSES,
)
async def version_infer(
    name: str,
    version: str,
    body: V2InferRequest,
    request: Request,
    service: Annotated[ModelService, Depends(get_service)],
) -> Response:
    """Classify with the model's version (as `POST /v2/models/{name}/infer`)."""
    check_version(service, name, version)
    return await infer(name, body, request, service)
