"""The run directory: one folder that describes a trained model completely; this module alone
knows its layout.

    config.json          model config, with id2label/label2id
    model.safetensors    weights (safetensors only: loading never executes code)
    tokenizer.json, tokenizer_config.json
    recipe.yaml          the resolved recipe that produced it
    calibration.json     the temperature that calibrates the probabilities (fitted on validation)
                         and, with training.label_prior: balanced, the bias that evens the labels
    thresholds.json      several labels per text: each label's decision threshold (tuned on validation)
    metrics.json         validation/test metrics and training time
    README.md            the model card (Hugging Face format): what it is, its data, how well it does
    training_log.jsonl   the Trainer's log history
    onnx/                what `attentext export` wrote (model.onnx, model.int8.onnx, export.json)
    attentext.json       format version, kind and the files above; written last

An ensemble (kind `ensemble`) holds no model of its own: `ensemble.json` names its members and
their weights, each member a complete run directory in `members/<name>/`, and its data settings
(columns, labels per text) are its members' (`Run.recipe` reads the first member's).

A run is built in `<dir>.partial/` (the work folder: `run.json`, `tokenizer/`,
`checkpoints/checkpoint-N/`, and at the end `final/`, the finished run staged) and moved into place by one rename, so a crash
never leaves a half-written folder that looks finished; `<dir>.partial/` keeps the checkpoints
`--resume` needs. Readers open a run once (`open_run`) and read its recipe and metrics from the
`Run` object; a reader that reads several files by path (a model, then its metrics) reads them
through `read_whole`, which reads again where the folder was replaced meanwhile.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import stat
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from attentext.confidence import ConfidenceMap
from attentext.decisions import temperature_vector
from attentext.errors import (
    AttentextWarning,
    CalibrationError,
    RecipeError,
    RunDirError,
    short_list,
    shown,
)
from attentext.files import (
    STAGING_PREFIX,
    LockHeld,
    UnsafeFileError,
    abandoned_staging,
    exchange,
    exclusive_lock,
    foreign_staging,
    new_file_mode,
    read_bytes_capped,
    write_json,
)
from attentext.recipes import Recipe, TokenizerSpec, parse_yaml, recipe_from_dict

FORMAT_VERSION = 1
MARKER = "attentext.json"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
RECIPE_FILE = "recipe.yaml"
METRICS_FILE = "metrics.json"
LOG_FILE = "training_log.jsonl"
CALIBRATION_FILE = "calibration.json"  # the temperature fitted on validation, applied by readers
THRESHOLDS_FILE = "thresholds.json"  # multi-label: decision thresholds tuned on validation
CARD_FILE = "README.md"
ONNX_DIR = "onnx"  # inside it: ONNX_FP32_FILE, ONNX_INT8_FILE, ONNX_INFO_FILE (written last)
ONNX_FP32_FILE = "model.onnx"
ONNX_INT8_FILE = "model.int8.onnx"
ONNX_INFO_FILE = "export.json"
# the work folder `<dir>.partial/`
PARTIAL_SUFFIX = ".partial"
TOKENIZER_SUBDIR = "tokenizer"
CHECKPOINT_SUBDIR = "checkpoints"
STAGING_SUBDIR = "final"
# the few-shot recipe's encoder once tuned on pairs (its weights, then PAIR_TUNED_STATE last):
# `--resume` starts from it rather than tuning again
PAIR_TUNED_SUBDIR = "pair-tuned"
PAIR_TUNED_STATE = "state.json"
MANIFEST_FILE = "run.json"  # what defines the run (recipe, labels, data): --resume checks it
# what the marker's "kind" says: a Hugging Face model, the scikit-learn baseline, or an ensemble
TRANSFORMERS_KIND = "transformers"
ENSEMBLE_KIND = "ensemble"
ENSEMBLE_FILE = "ensemble.json"  # an ensemble's members (folder names) and weights
MEMBERS_DIR = "members"


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


def pair_tuned_dir(work_dir: Path) -> Path:
    return work_dir / PAIR_TUNED_SUBDIR


RELOADS = 3  # readings of a run directory replaced while it is read, before giving up
T = TypeVar("T")

MAX_MARKER_BYTES = 1 << 20
MAX_METRICS_BYTES = 64 << 20  # per-class tables of thousands of classes stay far under it
MAX_RECIPE_BYTES = 1 << 20


def lock_path(output_dir: Path) -> Path:
    """The lock file of a run being written to `output_dir` (hidden, beside it)."""
    return output_dir.with_name(f".{output_dir.name}.lock")


@contextmanager
def writing(output_dir: Path, purpose: str) -> Iterator[None]:
    """Hold `output_dir` (and its work folder) for this process: a second writer is refused in
    one line that names the holder."""
    try:
        with exclusive_lock(lock_path(output_dir), f"{purpose} {output_dir}"):
            yield
    except LockHeld as held:
        raise RunDirError(
            f"{output_dir}: another attentext process is writing it ({held.holder}); wait for "
            "it to finish or choose another --output"
        ) from None


def is_passing_file(name: str) -> bool:
    """A hidden file in a run directory: a lock or a temporary that a writer holds for a while
    (`.onnx.lock`, `.metrics.json.<random>.tmp`), never part of the run, so never missed when
    gone (a marker written before this was checked may list one)."""
    return name.startswith(".")


def write_marker(run_dir: Path, kind: str) -> None:
    """Record the format version and the files of a complete run; the last file written.

    Hidden files are not the run's (`is_passing_file`): an export's lock (`.onnx.lock`, left
    by a kill -9 or held while recalibrate wrote the marker) was listed, and once the next
    export removed it every command refused the run as incomplete."""
    files = sorted(
        p.name
        for p in run_dir.iterdir()
        if p.is_file() and p.name != MARKER and not is_passing_file(p.name)
    )
    write_json(run_dir / MARKER, {"format_version": FORMAT_VERSION, "kind": kind, "files": files})


def _hidden_old(output_dir: Path) -> Path:
    return output_dir.with_name(f".{output_dir.name}.old-{os.getpid()}")


def publish(staging: Path, output_dir: Path) -> None:
    """Move a finished staging folder to `output_dir`, replacing an old run in one step.

    The old run and the new one are exchanged atomically (Linux `renameat2`), so `output_dir`
    always holds a complete run; where the file system cannot exchange, two renames, and a crash
    between them is repaired by the next reader (`restore_interrupted_publish`).
    """
    _modes_as_made(staging)
    if not output_dir.exists():
        os.replace(staging, output_dir)
        return
    if exchange(staging, output_dir):
        shutil.rmtree(staging, ignore_errors=True)  # the old run, now at the staging path
        return
    old = _hidden_old(output_dir)
    os.replace(output_dir, old)
    os.replace(staging, output_dir)
    shutil.rmtree(old, ignore_errors=True)


def _modes_as_made(staging: Path) -> None:
    """Every file of a run given the mode a new file gets (0o666 less the umask): safetensors
    writes its files 0o600 whatever the umask (model.safetensors, TF-IDF's weights), so a run
    published under umask 022 had weights no one else could read: a group's shared run, or a
    server running under its own user id, failed to load it ("Permission denied")."""
    mode = new_file_mode()
    for path in staging.rglob("*"):
        if path.is_file() and not path.is_symlink():
            os.chmod(path, mode)


def restore_interrupted_publish(output_dir: Path) -> bool:
    """Put back an old run a crash left hidden between the two renames of `publish`."""
    if output_dir.exists():
        return False
    for old in sorted(output_dir.parent.glob(f".{output_dir.name}.old-*")):
        if (old / MARKER).is_file():
            os.replace(old, output_dir)
            return True
    return False


REWRITE_JOURNAL = "journal.json"  # in a rewrite's staging folder while the run may be torn


def start_rewrite(run_dir: Path, folder: Path, kept: dict[str, Path | None], command: str) -> None:
    """Record, in the staging folder `folder` that keeps the files a rewrite of `run_dir` may
    change (`kept`: a name and its kept copy, None where there was no such file), that the
    rewrite has begun: until `end_rewrite`, a kill -9 may leave those files half old, half new
    (metrics.json recording a temperature calibration.json does not hold), and whoever reads
    the run next puts them back (`restore_interrupted_rewrite`)."""
    files = {name: None if link is None else link.name for name, link in kept.items()}
    write_json(folder / REWRITE_JOURNAL, {"command": command, "files": files})


def end_rewrite(folder: Path) -> None:
    """The rewrite `start_rewrite` recorded is whole: its kept files are no longer needed."""
    (folder / REWRITE_JOURNAL).unlink()


def put_back(run_dir: Path, folder: Path, files: dict[str, str | None]) -> None:
    """Put back the files of `run_dir` kept in `folder` (`files`: a name and its kept copy's
    name there, None where the run had no such file) where they changed."""
    for name, kept in files.items():
        target = run_dir / name
        if kept is None:
            target.unlink(missing_ok=True)
        elif not _same_file(target, folder / kept):
            os.replace(folder / kept, target)


def _same_file(path: Path, other: Path) -> bool:
    try:
        return os.path.samefile(path, other)
    except OSError:
        return False


def restore_interrupted_rewrite(run_dir: Path, locked: bool = False) -> None:
    """Put back the files a rewrite killed mid-way (kill -9; `start_rewrite`) left in `run_dir`,
    as they were before it, under the run's lock (`locked`: the caller holds it), said in one
    warning; where they cannot be written, one RunDirError saying what to do. A run so torn
    was read as it was: a temperature in metrics.json beside another in calibration.json."""
    _warn_rewritten_elsewhere(run_dir)
    torn = [f for f in abandoned_staging(run_dir) if (f / REWRITE_JOURNAL).is_file()]
    if not torn:
        return
    journal: dict[str, Any] = {}
    try:
        with nullcontext() if locked else writing(run_dir, "repair"):
            for folder in torn:
                if (folder / REWRITE_JOURNAL).is_file():  # not put back meanwhile
                    journal = json.loads((folder / REWRITE_JOURNAL).read_text(encoding="utf-8"))
                    put_back(run_dir, folder, journal["files"])
                shutil.rmtree(folder, ignore_errors=True)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise RunDirError(
            f"{run_dir}: an attentext command killed while writing the run left its files apart, "
            f"and they could not be put back ({error}); make the folder writable and run the "
            "command again, which puts back the files as they were before it"
        ) from None
    warnings.warn(
        f"{run_dir}: {journal.get('command', 'a command')} was stopped while writing the run "
        "(killed); its files are put back as they were before it: run it again",
        AttentextWarning,
        stacklevel=3,
    )


def _warn_rewritten_elsewhere(run_dir: Path) -> None:
    """Say, in one warning each, a rewrite of `run_dir` begun on another machine sharing the
    folder (NFS) and not ended: running there, or killed there, which this machine cannot tell
    (`files.foreign_staging`); its files are then not put back here, and may be half old,
    half new."""
    for folder, pid, host in foreign_staging(run_dir):
        journal = folder / REWRITE_JOURNAL
        if not journal.is_file():
            continue
        try:
            command = json.loads(journal.read_text(encoding="utf-8"))["command"]
        except (OSError, ValueError, KeyError, TypeError):
            command = "an attentext command"
        warnings.warn(
            f"{run_dir}: {command} on {host} (pid {pid}) is writing this run, or was killed "
            f"there: its files may be half old, half new until it ends; if it no longer runs, "
            f"any attentext command reading the run on {host} puts them back as they were (or, "
            f"where {host} is gone, delete {folder} and run the {command} again here)",
            AttentextWarning,
            stacklevel=4,
        )


# folders of a finished run: an export's, an ensemble's members (and a tokenizer of old runs)
RUN_SUBDIRS = (ONNX_DIR, MEMBERS_DIR, TOKENIZER_SUBDIR)


def foreign_to_run(run_dir: Path) -> list[str]:
    """The entries of the finished run `run_dir` that are not its own (its marker's files, the
    marker, the card, RUN_SUBDIRS, hidden passing files): another run trained into a folder
    inside it, a report, the user's notes; none where the marker cannot be read (a damaged run
    is replaced whole, as before). `--overwrite` of the run deleted them without a word."""
    try:
        files = json.loads(read_run_file(run_dir, MARKER, MAX_MARKER_BYTES)).get("files")
    except (RunDirError, ValueError, AttributeError):
        return []
    own = {MARKER, CARD_FILE, *RUN_SUBDIRS, *(files if isinstance(files, list) else [])}
    return sorted(
        entry.name
        for entry in run_dir.iterdir()
        if entry.name not in own and not is_passing_file(entry.name)
    )


def check_output_apart(
    output: Path, sources: list[Path], role: str, inside_allowed: bool = False
) -> None:
    """Refuse an `output` that is one of the paths a command reads (`sources`), or holds one,
    or (unless `inside_allowed`) is inside one: with --overwrite the new run would replace what
    it is made from (a teacher run, an ensemble's member, the data file), and a run written
    inside another is a stray folder in it. A run inside a data folder is fine. `role` says what
    the sources are to the command ("the teacher run", "the data")."""
    target = Path(output).resolve()
    for source in sources:
        resolved = Path(source).resolve()
        if target == resolved:
            where = "is"
        elif target in resolved.parents:
            where = "holds"
        elif resolved in target.parents and not inside_allowed:
            where = "is inside"
        else:
            continue
        raise RunDirError(f"{output}: {where} {role} {source}; choose an --output apart from it")


def local_data_paths(data: Any) -> list[Path]:
    """`data` as a local path to keep apart from an --output, if it is one (a dataset in memory
    or a hub name is not)."""
    if isinstance(data, (str, Path)) and os.path.lexists(data):
        return [Path(data)]
    return []


def weights_digest(run_dir: Path) -> str | None:
    """A hash of the run's weight files (its top-level *.safetensors), None when it has none.

    `export` records it and the ONNX backend compares it: a graph exported from another run
    into this run's onnx/ would otherwise be read with this run's label names (found in
    session 60: `export A --output B/onnx`). Calibration files are left out, so recalibrating
    after an export keeps the export."""
    files = sorted(path for path in Path(run_dir).glob("*.safetensors") if path.is_file())
    if not files:
        return None
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0")
        with open(path, "rb") as handle:
            for block in iter(lambda handle=handle: handle.read(1 << 24), b""):
                digest.update(block)
    return digest.hexdigest()[:32]


def check_plain_files(run_dir: Path) -> None:
    """Every entry of a run directory is a plain file or folder: a symbolic link could make a
    server publish any file it can read, a FIFO or a device could wedge or flood a reader."""
    for folder in (run_dir, run_dir / ONNX_DIR):
        if not folder.is_dir() or folder.is_symlink():
            continue
        for entry in folder.iterdir():
            info = entry.lstat()
            if stat.S_ISLNK(info.st_mode):
                raise RunDirError(
                    f"{entry}: is a symbolic link; a run directory holds plain files only "
                    "(copy the file in)"
                )
            if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
                raise RunDirError(f"{entry}: is not a regular file; remove it from the run")


def read_run_file(run_dir: Path, name: str, max_bytes: int) -> str:
    """The text of a plain file of a run directory, at most `max_bytes`, as UTF-8."""
    try:
        return read_run_bytes(run_dir, name, max_bytes).decode("utf-8")
    except UnicodeDecodeError:
        raise RunDirError(
            f"{Path(run_dir) / name}: unreadable; the run directory is damaged"
        ) from None


def read_run_bytes(run_dir: Path, name: str, max_bytes: int) -> bytes:
    """The bytes of a plain file of a run directory, at most `max_bytes`."""
    path = Path(run_dir) / name
    try:
        return read_bytes_capped(path, max_bytes)
    except UnsafeFileError as error:
        raise RunDirError(f"{path}: {error}; the run directory is damaged") from None
    except OSError:
        raise RunDirError(f"{path}: unreadable; the run directory is damaged") from None


def _format_version(marker: Any) -> int:
    version = marker.get("format_version") if isinstance(marker, dict) else None
    if type(version) is not int:  # not a bool, not 1.9, not "1"
        raise ValueError("format_version must be an integer")
    return version


def _how_to_finish(work: Path) -> str:
    """How the command that left `work` unfinished finishes it: with --resume from a checkpoint;
    run again as it was where it kept none (tfidf-logreg trains in one go and refuses --resume,
    which the hint named for it too: an audit). encoder-fewshot keeps its encoder once tuned on
    pairs, which --resume starts from."""
    tuned = pair_tuned_dir(work) / PAIR_TUNED_STATE
    if any(checkpoint_dir(work).glob("checkpoint-*")) or tuned.is_file():
        return "with --resume"
    return "run again as it was (it kept no checkpoint to resume from)"


def read_marker(run_dir: str | Path) -> dict[str, Any]:
    """Check that `run_dir` is a complete attentext run of a readable format; return its marker.
    A leading `~` is the home folder, as a shell reads it (`Run` too): from Python,
    `attentext.load("~/runs/seed")` was "run directory not found" beside the run."""
    run_dir = Path(run_dir).expanduser()
    restore_interrupted_publish(run_dir)
    if not run_dir.exists():
        hint = ""
        if partial_dir(run_dir).exists():
            hint = (
                f"; an unfinished run is in {partial_dir(run_dir)} (the command that started it, "
                f"{_how_to_finish(partial_dir(run_dir))}, finishes it)"
            )
        raise RunDirError(f"{run_dir}: run directory not found{hint}")
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: not a directory")
    restore_interrupted_rewrite(run_dir)
    marker_path = run_dir / MARKER
    if not marker_path.exists():
        hint = ""
        if run_dir.name.endswith(PARTIAL_SUFFIX):  # the work folder of a run killed or running
            finished = run_dir.with_name(run_dir.name.removesuffix(PARTIAL_SUFFIX))
            hint = (
                f"; it is the work folder of an unfinished run: the same command, "
                f"{_how_to_finish(run_dir)}, finishes it into {finished}, which every command "
                "then takes"
            )
        raise RunDirError(f"{run_dir}: not a finished attentext run (no {MARKER}){hint}")
    check_plain_files(run_dir)
    try:
        marker = json.loads(read_run_file(run_dir, MARKER, MAX_MARKER_BYTES))
        version = _format_version(marker)
        files = marker.get("files", [])
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            raise TypeError("files must be a list of names")
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        raise RunDirError(
            f"{marker_path}: unreadable run marker; the run directory is damaged"
        ) from None
    if version != FORMAT_VERSION:
        raise RunDirError(
            f"{run_dir}: run format version {version}, this attentext reads version "
            f"{FORMAT_VERSION}; use the attentext version that wrote it"
        )
    # the model card is for people, read by no command, and `card --write` builds it again: a run
    # without it (deleted, left out of a copy) was refused by every command, `card` included
    missing = [
        name
        for name in files
        if name != CARD_FILE and not is_passing_file(name) and not (run_dir / name).exists()
    ]
    if missing:
        raise RunDirError(
            f"{run_dir}: missing file(s) {short_list(missing)}; the run directory is incomplete: "
            "restore them from a copy of the run, or train it again"
        )
    return marker


def read_metrics(run_dir: str | Path) -> dict[str, Any]:
    """metrics.json (empty where there is none). One that cannot be read is refused by every
    reader, which checks the calibration it records against calibration.json: the line says the
    model is intact and what brings the record back (a refit cannot: what training measured,
    its data's digest and label counts, exists nowhere else)."""
    path = Path(run_dir) / METRICS_FILE
    if not os.path.lexists(path):
        return {}
    try:
        metrics = json.loads(read_run_bytes(Path(run_dir), METRICS_FILE, MAX_METRICS_BYTES))
    except (ValueError, RecursionError):
        metrics = None
    if not isinstance(metrics, dict):
        raise RunDirError(
            f"{path}: unreadable metrics (not a JSON object); the run's record of its training "
            "is damaged (its model is not): put metrics.json back from a copy of the run, or "
            "train it again"
        )
    return metrics


class Run:
    """A finished run directory, checked once; its recipe and metrics are read on first use."""

    def __init__(self, path: str | Path, marker: dict[str, Any]) -> None:
        self.path = Path(path).expanduser()  # as `read_marker` read it
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
        """The resolved recipe the run was trained with (None for a folder made without one);
        an ensemble's is its first member's, whose data settings every member shares."""
        if self.kind == ENSEMBLE_KIND:
            return open_run(self.members[0][0]).recipe
        if not os.path.lexists(self.path / RECIPE_FILE):
            return None
        text = read_run_file(self.path, RECIPE_FILE, MAX_RECIPE_BYTES)
        origin = str(self.path / RECIPE_FILE)
        try:
            raw = parse_yaml(text, origin)
            check_recipe_whole(self.path, raw)
            return recipe_from_dict(raw, origin)
        except RecipeError as error:
            raise RunDirError(f"{self.path}: its {RECIPE_FILE} is not valid ({error})") from None

    @property
    def recipe_name(self) -> str | None:
        name = self.metrics.get("recipe")
        if isinstance(name, str):
            return name
        return self.recipe.name if self.recipe is not None else None

    @cached_property
    def calibration_record(self) -> dict[str, Any]:
        """calibration.json as written (empty for a run without calibration)."""
        if not os.path.lexists(self.path / CALIBRATION_FILE):
            return {}
        try:
            # bytes: a file cut inside a character is as half-written as one cut between two
            record = json.loads(read_run_bytes(self.path, CALIBRATION_FILE, MAX_MARKER_BYTES))
        except (ValueError, RecursionError):
            record = None
        if not isinstance(record, dict):
            raise self.unreadable_calibration("not a JSON object")
        return record

    def unreadable_calibration(self, reason: str) -> CalibrationError:
        """The error of a calibration.json that cannot be read for `reason`: every reader refuses
        the run, and the line says what mends it. The model is intact and a refit on labelled
        texts replaces the whole record (`recalibrate --data`), where "the run directory is
        damaged" alone left a half-written file to be mended by training again."""
        return CalibrationError(
            f"{self.path / CALIBRATION_FILE}: {reason}; the run's calibration is damaged (its "
            f"model is not): `attentext recalibrate {self.path} --data HELD_OUT` fits a new one "
            "in its place (a label prior it held is then set again with --label-prior)",
            reason,
        )

    def forget_calibration(self) -> None:
        """Read the run as if it had no calibration (the temperature 1, no map, no prior, no
        temperatures per label): what a refit of an unreadable calibration.json loads."""
        self.__dict__["calibration_record"] = {}

    @cached_property
    def temperature(self) -> float:
        """What divides the logits before the softmax (1.0 for a run without calibration)."""
        if not self.calibration_record:
            return 1.0
        value = self.calibration_record.get("temperature")
        if type(value) not in (int, float) or not 0 < value < float("inf"):
            raise self.unreadable_calibration("not a positive temperature")
        return float(value)

    @cached_property
    def confidence_map(self) -> ConfidenceMap | None:
        """The map of the top label's probability `recalibrate --method isotonic` fitted after
        the temperature (None: the temperature alone)."""
        value = self.calibration_record.get("confidence_map")
        if value is None:
            return None
        try:
            return ConfidenceMap.from_dict(value)
        except ValueError as error:
            raise self.unreadable_calibration(
                f"its confidence_map is not valid ({error})"
            ) from None

    @cached_property
    def label_bias(self) -> np.ndarray | None:
        """What `training.label_prior` adds to the calibrated logits, one number per label
        (attentext.label_prior); None where the probabilities keep the training split's prior."""
        value = self.calibration_record.get("label_prior")
        if value is None:
            return None
        bias = value.get("bias") if isinstance(value, dict) else None
        if bias is None:
            return None
        if not isinstance(bias, list) or not all(
            type(b) in (int, float) and math.isfinite(b) for b in bias
        ):
            raise self.unreadable_calibration("its label_prior bias is not a list of numbers")
        return np.asarray(bias, dtype=np.float32)

    def label_bias_for(self, labels: list[str]) -> np.ndarray | None:
        """`label_bias`, checked against the labels of the model that applies it."""
        bias = self.label_bias
        if bias is not None and len(bias) != len(labels):
            raise self.unreadable_calibration(
                f"its label_prior bias has {len(bias)} numbers for {len(labels)} labels"
            )
        return bias

    def label_temperatures_for(self, labels: list[str]) -> np.ndarray | None:
        """Each label's temperature in `labels`' order (a multi-label run calibrated by
        attentext.evaluation.label_calibration), or None where it has none."""
        value = self.calibration_record.get("label_temperatures")
        if value is None:
            return None
        try:
            temperatures = temperature_vector(value, labels)
            if temperatures is None or not all(0 < t < float("inf") for t in temperatures):
                raise ValueError(value)
        except (ValueError, KeyError, TypeError, AttributeError):
            raise self.unreadable_calibration(
                "its label_temperatures are not positive numbers"
            ) from None
        return temperatures

    def check_calibration_whole(self) -> None:
        """Refuse, in one line saying how to mend it, a run whose metrics.json records another
        calibration than calibration.json holds: a `recalibrate` killed between the two files
        before they were kept under a journal (round 11's `start_rewrite`) left it so, and every
        reader applied the file's temperature without a word while metrics.json and the card
        described the other (an audit). A multi-label recalibrate writes thresholds.json between
        them, so it is torn from calibration.json too. Recalibrating writes both again, so the
        commands that do (`recalibrate`) do not ask this."""
        if "calibration" not in self.metrics:  # a run that records none: nothing to compare
            return
        recorded, held = self.metrics["calibration"], self.calibration_record
        if json.dumps(recorded, sort_keys=True) == json.dumps(held, sort_keys=True):
            return
        holds = "does not hold" if held else "is missing"
        writing = [
            f for f in self.path.glob(f"{STAGING_PREFIX}*") if (f / REWRITE_JOURNAL).is_file()
        ]
        if writing:  # a rewrite not ended (running, here or on another machine): not torn for good
            raise RunDirError(
                f"{self.path}: its {METRICS_FILE} records a calibration that {CALIBRATION_FILE} "
                f"{holds} while a rewrite of the run has not ended (its staging "
                f"folder {writing[0].name}); run this command again once it ends"
            )
        raise RunDirError(
            f"{self.path}: its {METRICS_FILE} records a calibration ({_calibration_text(recorded)}) "
            f"that {CALIBRATION_FILE} {holds}{f' ({_calibration_text(held)})' if held else ''}: "
            "a recalibrate stopped between the two files left "
            f"the run torn; run it again (`attentext recalibrate {self.path} --data HELD_OUT`, "
            f"with the options it had), which writes both (where {CALIBRATION_FILE} was edited "
            f'on purpose, copy its record into {METRICS_FILE}\'s "calibration" instead)'
        )

    @cached_property
    def multi_label(self) -> bool:
        """Whether the run gives several labels per text (sigmoid outputs, thresholds)."""
        return bool(self.recipe is not None and self.recipe.data.multi_label)

    @cached_property
    def thresholds(self) -> dict[str, Any] | None:
        """The decision thresholds tuned on validation (multi-label runs), or None."""
        if not os.path.lexists(self.path / THRESHOLDS_FILE):
            return None
        try:
            value = json.loads(read_run_file(self.path, THRESHOLDS_FILE, MAX_MARKER_BYTES))
            if not isinstance(value, dict) or not 0 < float(value["global"]) < 1:
                raise ValueError(value)
        except (ValueError, KeyError, TypeError):
            raise RunDirError(
                f"{self.path / THRESHOLDS_FILE}: not decision thresholds; the run directory is "
                "damaged"
            ) from None
        return value

    @cached_property
    def members(self) -> list[tuple[Path, float]]:
        """An ensemble's member run directories and their weights (positive, summing to 1), in
        the order `ensemble.json` gives them; each a plain folder inside `members/`."""
        source = self.path / ENSEMBLE_FILE
        try:
            record = json.loads(read_run_file(self.path, ENSEMBLE_FILE, MAX_MARKER_BYTES))
            members = [_member(self.path, entry) for entry in record["members"]]
            if not members or abs(sum(weight for _, weight in members) - 1.0) > 1e-6:
                raise ValueError("the weights must sum to 1")
        except (ValueError, KeyError, TypeError, RecursionError) as error:
            raise RunDirError(
                f"{source}: not an ensemble's members ({error}); the run directory is damaged"
            ) from None
        return members

    @property
    def truncation(self) -> str:
        """How texts over the model's length were cut at training: inference cuts them alike."""
        return self.recipe.tokenizer.truncation if self.recipe is not None else "head"

    @property
    def tokenizer_spec(self) -> TokenizerSpec:
        """How the run read texts at training (truncation, or windows: `long_text`, stride,
        cap): inference reads them alike. A run made before chunking existed truncates."""
        return self.recipe.tokenizer if self.recipe is not None else TokenizerSpec()


RECIPE_SECTIONS = ("data", "tokenizer", "model", "training")  # every run's recipe.yaml has them


def _calibration_text(record: Any) -> str:
    """A calibration record in a few words: "temperature 1.52, fitted on held.csv"."""
    if not isinstance(record, dict):
        return "not a record"
    if "label_temperatures" in record:  # several labels per text
        text = "a temperature per label"
    elif isinstance(record.get("temperature"), int | float):
        text = f"temperature {record['temperature']:.4g}"
    else:
        text = "no temperature"
    fitted = record.get("fitted_on")
    return text + (f", fitted on {shown(fitted, 40)}" if isinstance(fitted, str) else "")


def check_recipe_whole(run_dir: Path, raw: Any) -> None:
    """Refuse a run's recipe.yaml that lacks a section every written one has.

    Training writes the resolved recipe whole (`Recipe.to_yaml`), so a file without its
    `tokenizer:` section was emptied or cut at a line end, and still parses: read with the
    default settings, a run that reads long texts in windows would truncate them, and one cut
    head+tail would keep the head, changing labels without a word. `training:` is written after
    the sections inference reads (data, tokenizer, model), so a cut anywhere in those is found.
    """
    if raw is not None and not isinstance(raw, dict):
        return  # not a mapping at all: `recipe_from_dict` says so
    found = raw or {}
    missing = [section for section in RECIPE_SECTIONS if section not in found]
    if missing:
        what = "is empty" if not found else f"lacks the section(s) {short_list(missing)}"
        raise RunDirError(
            f"{run_dir}: its {RECIPE_FILE} {what} (cut short or emptied); the run directory is "
            "damaged (restore the file from a backup, or retrain)"
        )


def model_bytes(run_dir: Path) -> int:
    """What a run's model weighs on disk: its own files, and an ensemble's members' (an
    export in onnx/ is another copy of the model, not counted)."""
    own = sum(path.stat().st_size for path in run_dir.iterdir() if path.is_file())
    members = run_dir / MEMBERS_DIR
    if not members.is_dir():
        return own
    return own + sum(model_bytes(folder) for folder in members.iterdir() if folder.is_dir())


def _member(ensemble_dir: Path, entry: Any) -> tuple[Path, float]:
    """One member of `ensemble.json`: a folder name inside members/ (no path: a name like
    `../x` could point anywhere) and a positive weight."""
    name, weight = entry["name"], entry["weight"]
    if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\\" in name:
        raise ValueError(f"member name {name!r} is not a folder name")
    if type(weight) not in (int, float) or not 0 < weight <= 1:
        raise ValueError(f"member {name}: weight {weight!r} is not in (0, 1]")
    folder = ensemble_dir / MEMBERS_DIR / name
    if folder.is_symlink() or not folder.is_dir():
        raise ValueError(f"member {name}: {folder} is not a folder")
    return folder, float(weight)


def open_run(run_dir: str | Path) -> Run:
    """Check a run directory (complete, readable format) and return it as a `Run`."""
    return Run(run_dir, read_marker(run_dir))


def folder_identity(path: str | Path) -> tuple[int, int] | None:
    """The folder at `path` (device and inode), None when there is none: a run published over
    it (`publish` exchanges folders) is another folder at the same path."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def read_whole(run_dir: str | Path, read: Callable[[], T]) -> T:
    """`read()`, which reads files of `run_dir` (opening it with `open_run`), every file it
    reads from one and the same run.

    Files are read by path, one after another: a run replaced meanwhile (`train --overwrite`)
    would mix the old run's files with the new one's (a server showed the new run's metrics
    beside the old model). So the folder is checked to be the same one after `read`, and read
    again where it was not; an error raised while it changed may be of the mix and is retried.
    """
    for _ in range(RELOADS):
        before = folder_identity(run_dir)
        try:
            value = read()
        except Exception:
            if folder_identity(run_dir) == before:
                raise
            continue
        if folder_identity(run_dir) == before:
            return value
    raise RunDirError(
        f"{run_dir}: was replaced {RELOADS} times while it was read (another process is writing "
        "it: train --overwrite?); read it when that is done"
    )
