"""What routes receive through `Depends`: the running service."""

from __future__ import annotations

from fastapi import Request

from attentext.serving.state import ModelService


def get_service(request: Request) -> ModelService:
    """The app's `ModelService` (set by `create_app`)."""
    return request.app.state.service
