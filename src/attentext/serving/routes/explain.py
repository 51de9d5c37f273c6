"""POST /v1/explain: per-word importances from the model's attention (or, with
`"method": "occlusion"`, from how far its label falls without each word), with the prediction.

The explanation code (and matplotlib behind it) is imported when the app is made; if it cannot
be, the server still serves predictions and answers this route with 501.
"""

from __future__ import annotations

import importlib
import logging
from functools import partial
from types import ModuleType
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends

from attentext.errors import AttentextError
from attentext.rundir import TRANSFORMERS_KIND
from attentext.serving.dependencies import get_service
from attentext.serving.errors import ERROR_RESPONSES, ApiError
from attentext.serving.json_body import JsonRoute
from attentext.serving.reading import partly_read
from attentext.serving.schemas import (
    ErrorResponse,
    ExplainRequest,
    ExplainResponse,
    TokenExplanation,
    WindowWeight,
)
from attentext.serving.state import ModelService, ServedModel

log = logging.getLogger("attentext.serving")
router = APIRouter(route_class=JsonRoute)
IMPORTANCE_DECIMALS = 6  # weights to show; probabilities are answered whole
EXPLAIN_MODULE = "attentext.interpret.explain"
# occlusion costs up to 257 predictions a text on the thread predictions share: 8 texts of the
# fine-tuned MiniLM hold it ~6 s on 2 cores (benchmarks/README.md, explanations)
MAX_OCCLUSION_TEXTS = 8


def load_explainer() -> ModuleType | None:
    """The explain module, or None when it cannot be imported (logged; the route answers 501)."""
    try:
        return importlib.import_module(EXPLAIN_MODULE)
    except ImportError as error:
        log.warning("explanations unavailable: %s", error)
        return None


def _unavailable() -> ApiError:
    return ApiError(
        501,
        "explain_unavailable",
        f"explanations are unavailable on this server ({EXPLAIN_MODULE} cannot be imported)",
    )


def _not_explainable(served: ServedModel) -> ApiError:
    """The 422 for a model /v1/explain cannot explain, saying why. A neural run served on ONNX
    Runtime (`serve --backend onnx`) has attention, but not in the graph: it was told it had none
    and that "explanations work on the neural models", which it is."""
    onnx = getattr(served.classifier, "session", None) is not None  # ONNX Runtime's session
    if served.kind == TRANSFORMERS_KIND and onnx:
        reason = (
            "is served on ONNX Runtime (--backend onnx), whose graph gives no attention; serve "
            "it with --backend torch to explain it"
        )
    else:
        reason = (
            f"({served.kind}) has no attention to explain; explanations work on the neural models"
        )
    reason += ' ("method": "occlusion" explains any model)'  # it asks the model, reads nothing
    return ApiError(422, "not_explainable", f"model '{served.name}' {reason}")


def _windows(explanation: Any) -> list[WindowWeight] | None:
    """The windows a long text was read as, with their weights (None for a text model)."""
    windows = explanation.windows()
    if windows is None:
        return None
    return [
        WindowWeight(start=w["start"], end=w["end"], weight=round(w["weight"], IMPORTANCE_DECIMALS))
        for w in windows
    ]


def _explain_and_read(
    explainer: ModuleType, classifier: Any, texts: list[str], method: str
) -> tuple[list, list[bool]]:
    """The explanations, and what of each text the model reads as /v1/predict says it
    (`serving/reading.py`; an explanation's own `truncated` was the model's limit, and occlusion's
    never set), in one job on the model's thread."""
    explanations = explainer.explain(classifier, texts, method=method)
    if method != "occlusion":  # occlusion asks the served model itself
        _as_predicted(explainer, classifier, explanations, texts)
    return explanations, partly_read(classifier, texts)


def _as_predicted(explainer: ModuleType, classifier: Any, explanations: list, texts: list[str]):
    """Each explanation's prediction set to the served model's own, as /v1/predict answers it.
    Attention is read from a forward in fp32 with eager attention (`interpret.attention`): for a
    model served in bf16 its probabilities were another model's (Sports 0.2541 where predict
    answered 0.2539), and a near tie could show another label than predict's. The importances
    read from the attention do not depend on the label."""
    labels = list(classifier.labels)
    for explanation, row in zip(explanations, classifier.predict_proba(texts), strict=True):
        explanation.probabilities = {label: float(p) for label, p in zip(labels, row, strict=True)}
        explanation.label = labels[int(np.argmax(row))]  # the first of equal scores, as ranked
    explainer.mark_decisions(explanations, classifier)


def _response(
    model: str, explanations: list, truncated: list[bool], partly: list[bool]
) -> ExplainResponse:
    """The answer: `truncated` is the server's cut, as /v1/predict's; `partly_read` the model's."""
    return ExplainResponse(
        model=model,
        explanations=[
            TokenExplanation(
                text=e.text,
                label=e.label,
                labels=e.labels,
                probabilities={k: float(v) for k, v in e.probabilities.items()},  # as /v1/predict
                tokens=list(e.tokens),
                importances=[round(float(x), IMPORTANCE_DECIMALS) for x in e.importances],
                offsets=e.offsets,
                method=e.method,
                truncated=cut,
                partly_read=read,
                windows=_windows(e),
            )
            for e, cut, read in zip(explanations, truncated, partly, strict=True)
        ],
    )


@router.post(
    "/v1/explain",
    response_model=ExplainResponse,
    responses={**ERROR_RESPONSES, 501: {"model": ErrorResponse}},
)
async def explain(
    body: ExplainRequest, service: Annotated[ModelService, Depends(get_service)]
) -> ExplainResponse:
    """Per-token importances from the model's attention, with the prediction."""
    served = service.model(body.model)
    field_name = "text" if body.text is not None else "texts"
    texts, truncated = service.check_texts(body.all_texts(), field_name)
    explainer = load_explainer()
    if explainer is None:
        raise _unavailable()
    if not served.explainable and body.method != "occlusion":  # occlusion asks any model
        raise _not_explainable(served)
    if body.method == "occlusion" and len(texts) > MAX_OCCLUSION_TEXTS:
        raise ApiError(
            422,
            "too_many_texts",
            f"{len(texts)} texts to explain by occlusion; at most {MAX_OCCLUSION_TEXTS} a "
            "request (each costs a prediction per word on the one inference thread)",
        )
    explain = partial(_explain_and_read, explainer, served.classifier, texts, body.method)
    try:
        explanations, partly = await service.on_thread(explain, len(texts), "explanations")
    except ImportError:
        raise _unavailable() from None
    except AttentextError as error:
        raise ApiError(422, "explain_error", str(error)) from None
    return _response(served.name, explanations, truncated, partly)
