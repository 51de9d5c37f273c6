"""GET /v1/models, /healthz and /readyz: what is served, and whether it is up."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from attentext.serving.dependencies import get_service
from attentext.serving.errors import error_response
from attentext.serving.schemas import ErrorResponse, ModelsResponse
from attentext.serving.state import ModelService

router = APIRouter()


@router.get("/v1/models", response_model=ModelsResponse)
async def models(service: Annotated[ModelService, Depends(get_service)]) -> ModelsResponse:
    """The served models: name, labels, recipe, and the metrics recorded at training."""
    return ModelsResponse(
        models=[m.info(default=name == service.default) for name, m in service.models.items()]
    )


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"model": ErrorResponse}})
async def readyz(service: Annotated[ModelService, Depends(get_service)]):
    """Readiness: models loaded and their batchers accepting requests."""
    if not service.accepting():
        return error_response(503, "not_ready", "the server is starting or shutting down")
    return {"status": "ready", "models": list(service.models)}
