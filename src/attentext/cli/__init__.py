"""The `attentext` command line (`app.py` assembles it; one module per command)."""

from attentext.cli.app import app, main

__all__ = ["app", "main"]
