"""The HTTP service: `create_app(run_dirs)` builds the FastAPI app; `attentext serve` runs it."""

from attentext.serving.app import create_app, load_models

__all__ = ["create_app", "load_models"]
