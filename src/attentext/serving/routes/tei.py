"""text-embeddings-inference's `POST /predict` for the default model, in TEI's grammar and
shapes (`tei_schemas.py`), with TEI's error codes and body `{"error", "error_type"}`:

    413 Validation   a batch over the server's max_texts (TEI's max_client_batch_size)
    429 Overloaded   the model's queue is full
    422 Validation   a malformed body, a sentence pair, a text too long with truncate: false
    400 Empty        an empty text

`raw_scores: true` answers the calibrated logits (`state.calibrated_logits`) instead of the
probabilities; every label is answered, best first.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from attentext.inference.ranking import top_labels
from attentext.serving.batcher import LOGITS, PROBABILITIES
from attentext.serving.dependencies import get_service
from attentext.serving.errors import ApiError, unavailable
from attentext.serving.schemas import LabelScore
from attentext.serving.state import ModelService, ServedModel
from attentext.serving.tei_schemas import TeiError, TeiRequest
from attentext.text.windows import longest_read

router = APIRouter(tags=["text-embeddings-inference"])
RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": TeiError} for code in (400, 408, 413, 415, 422, 429, 503, 504)
}
PAIR = (
    'is a pair of texts; these models classify single texts: send one text as "text" or '
    '["text"], several as a batch [["text"], ["text"], ...]'
)


def sequences(inputs: str | list[str] | list[list[str]]) -> tuple[list[str], bool]:
    """The texts of TEI's `inputs` and whether they came as a batch; pairs and empty texts are
    refused as TEI refuses what a model cannot take."""
    if isinstance(inputs, str):
        found, batch = [[inputs]], False
    elif inputs and isinstance(inputs[0], str):
        found, batch = [inputs], False
    else:
        found, batch = inputs, True
    for i, sequence in enumerate(found):
        if len(sequence) != 1:
            raise ApiError(422, "sentence_pair", f"inputs{f'[{i}]' if batch else ''} {PAIR}")
    texts = [sequence[0] for sequence in found]  # type: ignore[index]
    if "" in texts:
        raise ApiError(400, "empty", "Input validation error: `inputs` cannot be empty")
    return texts, batch


def _token_counts(classifier: Any, texts: list[str]) -> list[int]:
    return [len(ids) for ids in classifier.tokenizer(texts, verbose=False)["input_ids"]]


def _token_limit(classifier: Any, max_length: int) -> int | None:
    """The most tokens the model reads of a text: its max_length, or for a run that reads long
    texts in windows what its cap of windows holds (None: no cap)."""
    chunking = getattr(classifier, "chunking", None)
    if chunking is None:
        return max_length
    return longest_read(classifier.tokenizer, max_length, chunking)


async def refuse_long(service: ModelService, served: ServedModel, texts: list[str]) -> None:
    """`truncate: false`: a text the server would cut (over max_chars) or the model would cut
    (over its max_length tokens) is a 422, as TEI refuses an input over its model's length."""
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
    max_length = getattr(classifier, "max_length", None)
    if max_length is None or not hasattr(classifier, "tokenizer"):
        return  # the TF-IDF baseline reads every word
    limit = _token_limit(classifier, max_length)
    if limit is None:
        return  # a run that reads every window of a long text cuts none
    if service.executor is None:
        raise unavailable()
    loop = asyncio.get_running_loop()
    counts = await loop.run_in_executor(service.executor, _token_counts, classifier, texts)
    for count in counts:
        if count > limit:
            raise ApiError(
                422,
                "text_too_long",
                f"Input validation error: `inputs` must have less than {limit} tokens. "
                f"Given: {count}",
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
    texts, batch = sequences(body.inputs)
    limit = service.settings.max_texts
    if len(texts) > limit:
        raise ApiError(
            413, "too_many_texts", f"batch size {len(texts)} > maximum allowed batch size {limit}"
        )
    if body.truncate is False:
        await refuse_long(service, served, texts)
    texts, _ = service.check_texts(texts, "inputs")
    rows = await service.classify(
        served, texts, LOGITS if body.raw_scores else PROBABILITIES, full=429
    )
    labels = list(served.classifier.labels)
    ranked = [
        [
            LabelScore(label=label, score=score)
            for label, score in top_labels(row, labels, len(labels))
        ]
        for row in rows
    ]
    return ranked if batch else ranked[0]
