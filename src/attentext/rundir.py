"""The run directory: one folder that describes a trained model completely.

    config.json          model config, with id2label/label2id
    model.safetensors    weights (safetensors only: loading never executes code)
    tokenizer.json, tokenizer_config.json
    recipe.yaml          the resolved recipe that produced it
    metrics.json         validation/test metrics and training time
    training_log.jsonl   the Trainer's log history
    attentext.json       format version and the files above; written last

A run is built in `<dir>.partial/` and moved into place by one rename, so a crash never leaves a
half-written folder that looks finished; `<dir>.partial/` keeps the checkpoints `--resume` needs.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from attentext.errors import RunDirError

FORMAT_VERSION = 1
MARKER = "attentext.json"
RECIPE_FILE = "recipe.yaml"
METRICS_FILE = "metrics.json"
LOG_FILE = "training_log.jsonl"
PARTIAL_SUFFIX = ".partial"


def partial_dir(output_dir: Path) -> Path:
    return output_dir.with_name(output_dir.name + PARTIAL_SUFFIX)


def write_json(path: Path, payload: Any) -> None:
    """Write JSON atomically: a temporary file in the same folder, then a rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=2)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
