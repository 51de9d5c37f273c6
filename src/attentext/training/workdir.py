"""The work folder of a run being trained (`<output>.partial/`): what may be there, what to resume.

Training writes into the work folder and publishes the finished run by one rename (`rundir`), so
`<output>` only ever holds a complete run. Here: checking the destination before anything starts,
and finding the last checkpoint the Trainer finished writing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from attentext.data.dataset import TextDataset
from attentext.errors import RunDirError, short_list, shown, yes_or_no
from attentext.files import foreign_entries, read_bytes_capped, write_json
from attentext.processes import rank
from attentext.recipes import Recipe
from attentext.rundir import (
    CHECKPOINT_SUBDIR,
    MANIFEST_FILE,
    MARKER,
    PAIR_TUNED_STATE,
    PAIR_TUNED_SUBDIR,
    RECIPE_FILE,
    STAGING_SUBDIR,
    TOKENIZER_SUBDIR,
    checkpoint_dir,
    foreign_to_run,
    pair_tuned_dir,
    partial_dir,
    restore_interrupted_publish,
)

# what training writes in its work folder `<output>.partial/` (rundir's layout), and nothing else
WORK_ENTRIES = frozenset(
    {
        MANIFEST_FILE,
        RECIPE_FILE,
        TOKENIZER_SUBDIR,
        CHECKPOINT_SUBDIR,
        STAGING_SUBDIR,
        PAIR_TUNED_SUBDIR,
    }
)


def is_main_process() -> bool:
    """Rank 0 of a `torchrun` launch, or a plain process: the one that writes shared files."""
    return rank() == 0


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


def pair_tuned_state(work: Path) -> dict[str, Any] | None:
    """What the few-shot recipe saved of its encoder tuned on pairs (`fewshot.save_pair_tuned`),
    or None where it saved none whole: its state file is written last, once the weights are."""
    try:
        state = json.loads((pair_tuned_dir(work) / PAIR_TUNED_STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def check_folders_above(output_dir: Path) -> None:
    """Refuse an `output_dir` whose nearest existing folder above is a file (`-o notes.txt/run`):
    its lock, work folder and run cannot be made there. It was a FileExistsError traceback from
    the lock's mkdir (train, distill, ensemble), after a teacher had been loaded."""
    for above in output_dir.parents:
        if os.path.lexists(above):
            if not above.is_dir():
                raise RunDirError(
                    f"{output_dir}: --output is inside {above}, which is a file, not a folder; "
                    "choose another --output"
                )
            return


def check_destination(output_dir: Path, resume: bool, overwrite: bool) -> None:
    """What may be at `output_dir`: nothing, or (with --overwrite) a finished run or an empty
    folder to replace; never a file or a folder of other files, nor a place inside a file.
    `resume` and `overwrite` must be bools (`errors.yes_or_no`): this decides what is deleted."""
    yes_or_no(resume, "resume")
    yes_or_no(overwrite, "overwrite")
    check_folders_above(output_dir)
    if not (output_dir.exists() or output_dir.is_symlink()):
        return
    if output_dir.is_symlink():  # "is a file" said of a link to a run (runs/latest -> ...)
        raise RunDirError(
            f"{output_dir}: is a link (to {shown(os.readlink(output_dir), 200)}), which a run "
            "is never written through; give the folder itself as --output, or another name"
        )
    if not output_dir.is_dir():
        raise RunDirError(f"{output_dir}: is a file, not a run directory; choose another --output")
    if not overwrite and not resume:
        raise RunDirError(
            f"{output_dir}: already exists; choose another --output or pass --overwrite "
            "(overwrite=True in Python)"
        )
    if overwrite and not (output_dir / MARKER).is_file() and any(output_dir.iterdir()):
        raise RunDirError(
            f"{output_dir}: is a folder with other files, not an attentext run; --overwrite "
            "replaces only a finished run: choose another --output"
        )
    if overwrite and (others := foreign_to_run(output_dir)):
        raise RunDirError(
            f"{output_dir}: holds {short_list(others, 5)} beside the run, which --overwrite would "
            "delete with it (another run or report written inside it, your files?); move them "
            "out of it first, or choose another --output"
        )


def _check_own_work_folder(work: Path) -> None:
    """A `<output>.partial` that training may clear holds only what training writes there: a
    folder of that name with anything else is the user's (found in session 60: `train ...
    --output results` deleted a `results.partial/` of notes), so it is refused, not removed."""
    others = foreign_entries(work, lambda entry: entry.name in WORK_ENTRIES)
    if others is None:
        raise RunDirError(
            f"{work}: is not a folder attentext made (training works in <output>.partial); "
            "move it or choose another --output"
        )
    if others:
        raise RunDirError(
            f"{work}: holds files training never writes ({short_list(others)}), so it is not "
            "an unfinished run to clear; move it or choose another --output"
        )


def prepare_work_dir(output_dir: Path, resume: bool, overwrite: bool) -> Path:
    """Check what exists at the destination and return the folder to work in.

    The caller holds the destination's lock (`rundir.writing`), so what is found here is not
    being written by another process.
    """
    if not output_dir.name:
        raise RunDirError(
            f"{output_dir}: name the run directory to create, e.g. --output runs/seed"
        )
    work = partial_dir(output_dir)
    if not is_main_process():
        # Under torchrun only rank 0 checks and cleans the destination (the others would race
        # with it and see its fresh folder as an unfinished run); it alone writes there.
        work.mkdir(parents=True, exist_ok=True)
        return work
    restore_interrupted_publish(output_dir)
    check_destination(output_dir, resume, overwrite)
    # a Trainer's checkpoint, or the few-shot recipe's encoder tuned on pairs
    has_checkpoint = any(checkpoint_dir(work).glob("checkpoint-*")) or (
        pair_tuned_state(work) is not None
    )
    if resume:
        if last_complete_checkpoint(work) is None and pair_tuned_state(work) is None:
            hint = "; pass --overwrite to start over" if has_checkpoint else ""
            raise RunDirError(
                f"{output_dir}: nothing to resume (no complete checkpoint in {work.name}){hint}"
            )
        return work
    _check_own_work_folder(work)
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


def _fingerprint(dataset: TextDataset) -> dict[str, str]:
    """A hash of each split's texts and labels: what a resumed run must train on again."""
    prints = {}
    for name in dataset.splits:
        digest = hashlib.sha256()
        for text, label in zip(dataset.texts(name), dataset.labels(name), strict=True):
            digest.update(text.encode("utf-8", "surrogatepass") + b"\0" + str(label).encode())
        prints[name] = digest.hexdigest()[:32]
    return prints


def run_manifest(recipe: Recipe, dataset: TextDataset) -> dict[str, Any]:
    """What defines a run, stored in its work folder so that `--resume` continues only it."""
    return {
        "recipe": recipe.to_dict(),
        "labels": dataset.label_names,
        "data": _fingerprint(dataset),
    }


def _first_difference(then: Any, now: Any, path: str = "") -> str | None:
    if isinstance(then, dict) and isinstance(now, dict):
        for key in sorted(set(then) | set(now), key=str):
            found = _first_difference(then.get(key), now.get(key), f"{path}.{key}" if path else key)
            if found:
                return found
        return None
    return None if then == now else f"{path}: {shown(then)} then, {shown(now)} now"


def read_manifest(work: Path) -> dict[str, Any] | None:
    """What defines the unfinished run in `work` (`run_manifest`), or None where it is missing
    or damaged."""
    try:
        stored = json.loads(read_bytes_capped(work / MANIFEST_FILE, 16 << 20))
    except (OSError, ValueError):
        return None
    return stored if isinstance(stored, dict) else None


def check_resumable(work: Path, manifest: dict[str, Any]) -> None:
    """Refuse (one line) to resume an unfinished run with other data, labels or recipe."""
    stored = read_manifest(work)
    if stored is None:
        raise RunDirError(
            f"{work}: cannot tell what this unfinished run was ({MANIFEST_FILE} missing or "
            "damaged); pass --overwrite to start over"
        )
    for part, what in (("recipe", "recipe"), ("labels", "label names"), ("data", "data")):
        difference = _first_difference(stored.get(part), manifest[part])
        if difference:
            raise RunDirError(
                f"{work.name}: --resume continues the same run, but the {what} differ "
                f"({difference}); resume with the same data and recipe, or pass --overwrite "
                "to start over"
            )


def write_manifest(work: Path, manifest: dict[str, Any]) -> None:
    write_json(work / MANIFEST_FILE, manifest)
