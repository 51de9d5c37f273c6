"""The HTTP service: `create_app(run_dirs)` builds the FastAPI app; `attentext serve` runs it."""

from attentext.serving.app import create_app
from attentext.serving.settings import ServerSettings
from attentext.serving.state import load_models

__all__ = ["ServerSettings", "create_app", "load_models"]
