"""The Hugging Face inference shape for text classification: `POST /models/{name}`, and
`POST /` for the default model, so that

    InferenceClient(model="http://host:port/models/NAME").text_classification("...")

works unchanged (huggingface_hub posts `{"inputs", "parameters"}` to the URL it is given and
reads the first list of the answer). Every input gets a list of `{"label", "score"}`, best
first: all labels, or `top_k`. Scores: `softmax` (the default) the calibrated probabilities;
`none` the calibrated logits, `sigmoid` their sigmoid (see `state.calibrated_logits`).
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends

from attentext.inference.ranking import top_labels
from attentext.serving.batcher import LOGITS, PROBABILITIES
from attentext.serving.dependencies import get_service
from attentext.serving.hf_schemas import HfError, HfParameters, HfRequest
from attentext.serving.json_body import JsonRoute
from attentext.serving.schemas import SCORE_DECIMALS, LabelScore
from attentext.serving.state import ModelService, ServedModel

router = APIRouter(route_class=JsonRoute, tags=["Hugging Face inference"])
RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": HfError} for code in (400, 404, 408, 413, 415, 422, 503, 504)
}


def sigmoid(values: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-x) without overflow for large |x|."""
    return np.exp(-np.logaddexp(0.0, -np.asarray(values, dtype=np.float64)))


async def classify(
    service: ModelService, served: ServedModel, body: HfRequest
) -> list[list[LabelScore]]:
    """One ranked list of labels and scores per input."""
    texts = [body.inputs] if isinstance(body.inputs, str) else list(body.inputs)
    texts, _ = service.check_texts(texts, "inputs")
    parameters = body.parameters or HfParameters()
    function = parameters.function_to_apply or "softmax"
    rows = await service.classify(served, texts, PROBABILITIES if function == "softmax" else LOGITS)
    if function == "sigmoid":
        rows = sigmoid(rows)
    labels = list(served.classifier.labels)
    k = parameters.top_k or len(labels)
    return [
        [
            LabelScore(label=label, score=score)
            for label, score in top_labels(row, labels, k, decimals=SCORE_DECIMALS)
        ]
        for row in rows
    ]


@router.post("/models/{name}", response_model=list[list[LabelScore]], responses=RESPONSES)
async def classify_with(
    name: str, body: HfRequest, service: Annotated[ModelService, Depends(get_service)]
) -> list[list[LabelScore]]:
    """Text classification by the model `name`, in the Hugging Face inference shape."""
    return await classify(service, service.model(name), body)


@router.post("/", response_model=list[list[LabelScore]], responses=RESPONSES)
async def classify_with_default(
    body: HfRequest, service: Annotated[ModelService, Depends(get_service)]
) -> list[list[LabelScore]]:
    """Text classification by the default model, in the Hugging Face inference shape."""
    return await classify(service, service.model(None), body)
