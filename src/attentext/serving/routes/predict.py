"""POST /v1/predict: the labels and scores of texts, through the model's micro-batcher."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from attentext.decisions import decide
from attentext.inference.ranking import top_labels
from attentext.serving.batcher import QueueFull, ShuttingDown, both
from attentext.serving.dependencies import get_service
from attentext.serving.errors import ERROR_RESPONSES, unavailable
from attentext.serving.json_body import JsonRoute
from attentext.serving.schemas import (
    SCORE_DECIMALS,
    LabelScore,
    Prediction,
    PredictRequest,
    PredictResponse,
)
from attentext.serving.state import ModelService

router = APIRouter(route_class=JsonRoute)


@router.post(
    "/v1/predict",
    response_model=PredictResponse,
    response_model_exclude_none=True,  # labels/scores: multi-label models only
    responses=ERROR_RESPONSES,
)
async def predict(
    body: PredictRequest, service: Annotated[ModelService, Depends(get_service)]
) -> PredictResponse:
    """Classify texts: the best label, its score, and the top_k labels of each text."""
    served = service.model(body.model)
    texts, truncated = service.check_texts(body.texts, "texts")
    batcher = service.batchers.get(served.name)
    if batcher is None or not service.ready:
        raise unavailable()
    try:
        # the functions of the model this request was accepted with, whatever a reload swaps in;
        # what of each text it reads, as /v1/explain says it (`serving/reading.py`)
        probabilities, partly_read = await both(
            batcher.predict(texts, functions=served.functions), service.partly_read(served, texts)
        )
    except QueueFull as full:
        raise unavailable("queue_full", str(full)) from None
    except ShuttingDown:
        raise unavailable("shutting_down", "the server is shutting down") from None
    classifier = served.classifier
    multi_label = getattr(classifier, "multi_label", False)
    label_sets = (
        decide(probabilities, classifier.labels, True, classifier.thresholds)
        if multi_label
        else None
    )
    predictions = []
    for i, (row, cut, partly) in enumerate(zip(probabilities, truncated, partly_read, strict=True)):
        ranked = [
            LabelScore(label=label, score=score)
            for label, score in top_labels(
                row, classifier.labels, body.top_k, decimals=SCORE_DECIMALS
            )
        ]
        extra = {}
        if label_sets is not None:
            scores = top_labels(
                row, classifier.labels, len(classifier.labels), decimals=SCORE_DECIMALS
            )
            extra = {"labels": label_sets[i], "scores": dict(scores)}
        predictions.append(
            Prediction(
                label=ranked[0].label,
                score=ranked[0].score,
                top_k=ranked,
                truncated=cut,
                partly_read=partly,
                **extra,
            )
        )
    return PredictResponse(model=served.name, predictions=predictions)
