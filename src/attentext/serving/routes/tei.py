"""text-embeddings-inference's routes for the default model: `POST /predict` in TEI's grammar
and shapes (`tei_schemas.py`), `GET /health` (200 with an empty body when the model takes
requests, 503 Unhealthy while the server starts or stops) and `GET /info` (TEI's Info, from the
model and the server's settings), with TEI's error codes and body `{"error", "error_type"}`:

    413 Validation   a batch over the server's max_texts (TEI's max_client_batch_size)
    429 Overloaded   the model's queue is full
    422 Validation   a malformed body, a sentence pair, a text too long with truncate: false
    400 Empty        an empty text

`truncation_direction` is honoured as far as the run cuts texts that way, refused where it does
not (`refuse_direction`). `raw_scores: true` answers the calibrated logits (`state.calibrated_logits`) instead of the
probabilities; every label is answered, best first.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response

from attentext import __version__
from attentext.inference.ranking import top_labels
from attentext.rundir import ONNX_INT8_FILE
from attentext.serving.batcher import LOGITS, PROBABILITIES
from attentext.serving.dependencies import get_service
from attentext.serving.errors import ApiError, unavailable
from attentext.serving.json_body import JsonRoute
from attentext.serving.reading import (
    partly_read,
    parts_kept,
    read_limit,
    token_counts,
    token_limit,
)
from attentext.serving.schemas import SCORE_DECIMALS, LabelScore
from attentext.serving.state import ModelService, ServedModel
from attentext.serving.tei_schemas import (
    TeiClassifier,
    TeiError,
    TeiInfo,
    TeiModelType,
    TeiRequest,
)

router = APIRouter(route_class=JsonRoute, tags=["text-embeddings-inference"])
RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": TeiError} for code in (400, 408, 413, 415, 422, 429, 503, 504)
}
# TEI's truncation_direction names the side dropped: Right keeps a text's head, Left its tail.
DIRECTIONS = {"right": "head", "left": "tail"}
DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}  # attentext's precisions
PAIR = (
    'is a pair of texts; these models classify single texts: send one text as "text" or '
    '["text"], several as a batch [["text"], ["text"], ...]'
)


def sequences(inputs: str | list[str] | list[list[str]], limit: int) -> tuple[list[str], bool]:
    """The texts of TEI's `inputs` and whether they came as a batch; a batch over `limit` texts,
    pairs and empty texts are refused as TEI refuses them, in TEI's order: the batch's size
    first (a batch of 150,000 inputs holding an empty one was a 400 Empty, where TEI answers
    413, after a pass over every input)."""
    if isinstance(inputs, str):
        found, batch = [[inputs]], False
    elif inputs and isinstance(inputs[0], str):
        found, batch = [inputs], False
    else:
        found, batch = inputs, True
    if len(found) > limit:
        raise ApiError(
            413, "too_many_texts", f"batch size {len(found)} > maximum allowed batch size {limit}"
        )
    for i, sequence in enumerate(found):
        if len(sequence) != 1:
            raise ApiError(422, "sentence_pair", f"inputs{f'[{i}]' if batch else ''} {PAIR}")
    texts = [sequence[0] for sequence in found]  # type: ignore[index]
    if "" in texts:
        raise ApiError(400, "empty", "Input validation error: `inputs` cannot be empty")
    return texts, batch


async def refuse_long(service: ModelService, served: ServedModel, texts: list[str]) -> None:
    """`truncate: false`: a text the server would cut (over max_chars) or the model would cut
    (over its max_length tokens, or what else it reads: `refuse_partly_read`) is a 422, as TEI
    refuses an input over its model's length."""
    max_chars = service.settings.max_chars
    for text in texts:
        if len(text) > max_chars:
            raise ApiError(
                422,
                "text_too_long",
                f"Input validation error: `inputs` must have less than {max_chars:,} "
                f"characters. Given: {len(text):,}",
            )
    classifier = served.classifier
    limit = token_limit(classifier)
    if limit is None:  # no token limit of its own: an ensemble, the TF-IDF baseline, or none
        await refuse_partly_read(service, served, texts)
        return
    counts = await service.reading(token_counts, served, texts, full=429)
    for count in counts:
        if count > limit:
            raise ApiError(
                422,
                "text_too_long",
                f"Input validation error: `inputs` must have less than {limit} tokens. "
                f"Given: {count}",
            )


async def refuse_partly_read(service: ModelService, served: ServedModel, texts: list[str]) -> None:
    """`truncate: false` for a model that reads part of a text by another measure than its own
    tokens: an ensemble whose member cuts it (its max_length, or a TF-IDF member's max_chars),
    or the TF-IDF baseline past its `model.options.max_chars`. Only a token limit was checked,
    so such a text was answered as if read whole (`reading.partly_read` decides, as for
    `partly_read` in /v1)."""
    partly = await service.reading(partly_read, served, texts, full=429)
    if any(partly):
        given = len(texts[partly.index(True)])
        raise ApiError(
            422,
            "text_too_long",
            f"Input validation error: `inputs` is longer than model '{served.name}' reads of a "
            f"text (it would read only part of {given:,} characters); send it with `truncate` "
            "true or null to have it cut",
        )


async def refuse_direction(
    service: ModelService, served: ServedModel, texts: list[str], cut: list[bool], direction: str
) -> None:
    """An explicit `truncation_direction` that the run does not cut a text by: a 422 for a text
    longer than the model reads (or the server's max_chars, which keeps the start), where the
    answer would come from another part of it than the client asked for. A text read whole is
    answered: no direction applies to it. (Texts are cut as the run was trained: a model read
    from another part of a text than at training is not the model that was evaluated.)"""
    wanted = DIRECTIONS[direction.lower()]
    kept = await service.reading(parts_kept, served, texts, full=429)
    for i, (parts, server_cut) in enumerate(zip(kept, cut, strict=True)):
        other = sorted((parts | ({"head"} if server_cut else set())) - {wanted})
        if other:
            instead = {"head": "Right", "tail": "Left"}.get(other[0])
            advice = f"send {instead} or leave it out" if instead else "leave it out"
            raise ApiError(
                422,
                "truncation_direction",
                f"Input validation error: `inputs`{f'[{i}]' if len(texts) > 1 else ''} is "
                f"longer than model '{served.name}' reads whole, and it keeps the {other[0]} "
                f"of such a text (as trained), not the {wanted} that `truncation_direction` "
                f"{direction} keeps; {advice}",
            )


@router.post(
    "/predict",
    response_model=list[LabelScore] | list[list[LabelScore]],
    responses=RESPONSES,
)
async def predict(
    body: TeiRequest, service: Annotated[ModelService, Depends(get_service)]
) -> list[LabelScore] | list[list[LabelScore]]:
    """Every label's score for each input, best first (TEI's predict route)."""
    served = service.model(None)
    texts, batch = sequences(body.inputs, service.settings.max_texts)
    if body.truncate is False:
        await refuse_long(service, served, texts)
    texts, cut = service.check_texts(texts, "inputs")
    if body.truncation_direction is not None:
        await refuse_direction(service, served, texts, cut, body.truncation_direction)
    rows = await service.classify(
        served, texts, LOGITS if body.raw_scores else PROBABILITIES, full=429
    )
    labels = list(served.classifier.labels)
    ranked = [
        [
            LabelScore(label=label, score=score)
            for label, score in top_labels(row, labels, len(labels), decimals=SCORE_DECIMALS)
        ]
        for row in rows
    ]
    return ranked if batch else ranked[0]


@router.get(
    "/health",
    response_class=Response,
    responses={200: {"description": "The model takes requests (an empty body)."}, **RESPONSES},
)
async def health(service: Annotated[ModelService, Depends(get_service)]) -> Response:
    """200 with an empty body while the default model takes requests; 503 Unhealthy while the
    server starts or stops (TEI's health route)."""
    if not service.accepting(service.default):
        raise unavailable()
    return Response()


def model_dtype(classifier: Any) -> str:
    """What the model computes in, as TEI names it: the PyTorch run's precision, int8 for an
    ONNX int8 export (float32 for the other), float64 for the TF-IDF baseline."""
    precision = getattr(classifier, "precision", None)
    if precision in DTYPES:
        return DTYPES[precision]
    session = getattr(classifier, "session", None)
    if session is not None:  # ONNX Runtime keeps the path of the file it loaded
        path = str(getattr(session, "_model_path", ""))
        return "int8" if path.endswith(ONNX_INT8_FILE) else "float32"
    return "float64"


@router.get("/info", response_model=TeiInfo, responses=RESPONSES)
async def info(service: Annotated[ModelService, Depends(get_service)]) -> TeiInfo:
    """The default model and the server's limits, in TEI's Info shape."""
    served = service.model(None)
    settings = service.settings
    labels = list(served.classifier.labels)
    max_input_length = read_limit(served.classifier, settings.max_chars)
    return TeiInfo(
        model_id=served.name,
        model_dtype=model_dtype(served.classifier),
        served_model_name=served.name,
        model_type=TeiModelType(
            classifier=TeiClassifier(
                id2label={str(i): label for i, label in enumerate(labels)},
                label2id={label: i for i, label in enumerate(labels)},
            )
        ),
        max_concurrent_requests=settings.max_queue,
        max_input_length=max_input_length,
        max_batch_tokens=max_input_length * max(settings.max_batch_size, settings.max_texts),
        max_batch_requests=settings.max_batch_size,
        max_client_batch_size=settings.max_texts,
        auto_truncate=not settings.strict,
        tokenization_workers=1,
        version=__version__,
    )
