"""The work folder of a run being trained (`<output>.partial/`): what may be there, what to resume.

Training writes into the work folder and publishes the finished run by one rename (`rundir`), so
`<output>` only ever holds a complete run. Here: checking the destination before anything starts,
and finding the last checkpoint the Trainer finished writing.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from attentext.errors import RunDirError
from attentext.rundir import checkpoint_dir, partial_dir


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """Rank 0 of a `torchrun` launch, or a plain process: the one that writes shared files."""
    return int(os.environ.get("RANK", "0")) == 0


def last_complete_checkpoint(work: Path, prune: bool = False) -> Path | None:
    """The newest checkpoint the Trainer finished writing, or None.

    transformers writes `checkpoint-N/` in place, file by file, `trainer_state.json` last: a run
    killed while saving leaves a folder without that file (or with it cut short). Such a folder is
    never resumed from; with `prune` (the main process, on resume) it is removed.
    """
    complete = []
    for folder in checkpoint_dir(work).glob("checkpoint-*"):
        step = folder.name.removeprefix("checkpoint-")
        if not step.isdigit() or not folder.is_dir():
            continue
        try:
            json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            if prune:
                shutil.rmtree(folder, ignore_errors=True)
            continue
        complete.append((int(step), folder))
    return max(complete)[1] if complete else None


def prepare_work_dir(output_dir: Path, resume: bool, overwrite: bool) -> Path:
    """Check what exists at the destination and return the folder to work in."""
    work = partial_dir(output_dir)
    if not is_main_process():
        # Under torchrun only rank 0 checks and cleans the destination (the others would race
        # with it and see its fresh folder as an unfinished run); it alone writes there.
        work.mkdir(parents=True, exist_ok=True)
        return work
    if output_dir.exists() and not overwrite and not resume:
        raise RunDirError(
            f"{output_dir}: already exists; choose another --output or pass --overwrite"
        )
    has_checkpoint = any(checkpoint_dir(work).glob("checkpoint-*"))
    if resume:
        if last_complete_checkpoint(work) is None:
            hint = "; pass --overwrite to start over" if has_checkpoint else ""
            raise RunDirError(
                f"{output_dir}: nothing to resume (no complete checkpoint in {work.name}){hint}"
            )
        return work
    if work.exists() and not has_checkpoint:
        shutil.rmtree(work, ignore_errors=True)  # stopped before its first checkpoint: nothing kept
    if work.exists():
        if not overwrite:
            raise RunDirError(
                f"{work}: an unfinished run is there; pass --resume to continue it or --overwrite "
                "to start over"
            )
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    return work
