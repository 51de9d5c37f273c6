"""The run directory: one folder that describes a trained model completely; this module alone
knows its layout.

    config.json          model config, with id2label/label2id
    model.safetensors    weights (safetensors only: loading never executes code)
    tokenizer.json, tokenizer_config.json
    recipe.yaml          the resolved recipe that produced it
    metrics.json         validation/test metrics and training time
    training_log.jsonl   the Trainer's log history
    onnx/                what `attentext export` wrote (model.onnx, model.int8.onnx, export.json)
    attentext.json       format version, kind and the files above; written last

A run is built in `<dir>.partial/` (the work folder: `tokenizer/`, `checkpoints/checkpoint-N/`,
and at the end `final/`, the finished run staged) and moved into place by one rename, so a crash
never leaves a half-written folder that looks finished; `<dir>.partial/` keeps the checkpoints
`--resume` needs. Readers open a run once (`open_run`) and read its recipe and metrics from the
`Run` object.
"""

from __future__ import annotations

import json
import os
import shutil
from functools import cached_property
from pathlib import Path
from typing import Any

from attentext.errors import RecipeError, RunDirError
from attentext.files import write_json
from attentext.recipes import Recipe, load_recipe

FORMAT_VERSION = 1
MARKER = "attentext.json"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
RECIPE_FILE = "recipe.yaml"
METRICS_FILE = "metrics.json"
LOG_FILE = "training_log.jsonl"
ONNX_DIR = "onnx"  # inside it: ONNX_FP32_FILE, ONNX_INT8_FILE, ONNX_INFO_FILE (written last)
ONNX_FP32_FILE = "model.onnx"
ONNX_INT8_FILE = "model.int8.onnx"
ONNX_INFO_FILE = "export.json"
# the work folder `<dir>.partial/`
PARTIAL_SUFFIX = ".partial"
TOKENIZER_SUBDIR = "tokenizer"
CHECKPOINT_SUBDIR = "checkpoints"
STAGING_SUBDIR = "final"
# what the marker's "kind" says: a Hugging Face model, or the scikit-learn baseline
TRANSFORMERS_KIND = "transformers"


def partial_dir(output_dir: Path) -> Path:
    """The work folder of a run being trained into `output_dir`."""
    return output_dir.with_name(output_dir.name + PARTIAL_SUFFIX)


def staging_dir(work_dir: Path) -> Path:
    """Where the finished run is assembled inside the work folder, before it is published."""
    return work_dir / STAGING_SUBDIR


def checkpoint_dir(work_dir: Path) -> Path:
    return work_dir / CHECKPOINT_SUBDIR


def tokenizer_dir(work_dir: Path) -> Path:
    return work_dir / TOKENIZER_SUBDIR


def write_marker(run_dir: Path, kind: str) -> None:
    """Record the format version and the files of a complete run; the last file written."""
    files = sorted(p.name for p in run_dir.iterdir() if p.is_file() and p.name != MARKER)
    write_json(run_dir / MARKER, {"format_version": FORMAT_VERSION, "kind": kind, "files": files})


def publish(staging: Path, output_dir: Path) -> None:
    """Move a finished staging folder to `output_dir` in one rename (replacing an old run)."""
    if output_dir.exists():
        old = output_dir.with_name(f".{output_dir.name}.old-{os.getpid()}")
        os.replace(output_dir, old)
        os.replace(staging, output_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, output_dir)


def read_marker(run_dir: str | Path) -> dict[str, Any]:
    """Check that `run_dir` is a complete attentext run of a readable format; return its marker."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        hint = ""
        if partial_dir(run_dir).exists():
            hint = f"; an unfinished run is in {partial_dir(run_dir)} (train --resume finishes it)"
        raise RunDirError(f"{run_dir}: run directory not found{hint}")
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: not a directory")
    marker_path = run_dir / MARKER
    if not marker_path.exists():
        raise RunDirError(f"{run_dir}: not a finished attentext run (no {MARKER})")
    try:
        marker = json.loads(marker_path.read_text(encoding="utf-8"))
        version = int(marker["format_version"])
        files = marker.get("files", [])
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            raise TypeError("files must be a list of names")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise RunDirError(
            f"{marker_path}: unreadable run marker; the run directory is damaged"
        ) from None
    if version != FORMAT_VERSION:
        raise RunDirError(
            f"{run_dir}: run format version {version}, this attentext reads version "
            f"{FORMAT_VERSION}; use the attentext version that wrote it"
        )
    missing = [name for name in files if not (run_dir / name).exists()]
    if missing:
        raise RunDirError(
            f"{run_dir}: missing file(s) {', '.join(missing)}; the run directory is incomplete"
        )
    return marker


def read_metrics(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / METRICS_FILE
    if not path.exists():
        return {}
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise RunDirError(f"{path}: unreadable metrics; the run directory is damaged") from None
    if not isinstance(metrics, dict):
        raise RunDirError(f"{path}: expected a JSON object; the run directory is damaged")
    return metrics


class Run:
    """A finished run directory, checked once; its recipe and metrics are read on first use."""

    def __init__(self, path: str | Path, marker: dict[str, Any]) -> None:
        self.path = Path(path)
        self.marker = marker

    @property
    def kind(self) -> str:
        """`transformers`, or the registry name of a non-neural model (`tfidf-logreg`)."""
        return str(self.marker.get("kind", TRANSFORMERS_KIND))

    @property
    def name(self) -> str:
        """The folder's name: what the server and the leaderboard call the model."""
        return self.path.resolve().name

    @cached_property
    def metrics(self) -> dict[str, Any]:
        return read_metrics(self.path)

    @cached_property
    def recipe(self) -> Recipe | None:
        """The resolved recipe the run was trained with (None for a folder made without one)."""
        path = self.path / RECIPE_FILE
        if not path.exists():
            return None
        try:
            return load_recipe(path)
        except RecipeError as error:
            raise RunDirError(f"{self.path}: its {RECIPE_FILE} is not valid ({error})") from None

    @property
    def recipe_name(self) -> str | None:
        name = self.metrics.get("recipe")
        if isinstance(name, str):
            return name
        return self.recipe.name if self.recipe is not None else None

    @property
    def truncation(self) -> str:
        """How texts over the model's length were cut at training: inference cuts them alike."""
        return self.recipe.tokenizer.truncation if self.recipe is not None else "head"


def open_run(run_dir: str | Path) -> Run:
    """Check a run directory (complete, readable format) and return it as a `Run`."""
    return Run(run_dir, read_marker(run_dir))
