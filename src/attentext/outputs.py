"""Output folders that commands write their files into (`evaluate`, `explain`, `export`).

A folder that cannot be one (an existing file, a path through a file, a broken link, a folder
without write permission) is refused before any work, in one line: found later, it would be a
traceback from `mkdir` or `open` after minutes of evaluation or export. Nor is a run directory:
`evaluate RUN --output RUN` wrote its report's metrics.json over the run's own (found in session
60). Run directories have their own, stricter checks (`training.workdir`). A command whose files
have fixed names (`compare`) also refuses a folder of other files, whose same-named files it would
replace (`check_own_output_folder`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path

from attentext.errors import AttentextError, short_list, shown, yes_or_no
from attentext.files import TMP_SUFFIX, files_replaced_together, foreign_entries, is_staging
from attentext.rundir import MARKER, ONNX_FP32_FILE, ONNX_INFO_FILE, ONNX_INT8_FILE


def check_output_folder(path: str | Path, option: str = "--output") -> Path:
    """`path` if it is a folder or can be created as one (with its parents); else an error.

    Only checks: the caller's writer creates the folder, so that a refused or failed command
    leaves nothing behind. An empty path (a config's or a form's unset value) is refused:
    `Path("")` is the working folder, and `evaluate(..., output="")` wrote its report there.
    """
    if not str(path).strip():
        raise AttentextError(
            f"{option} is empty; name a folder ('.' for the working folder), or leave it out "
            "(None in Python) to write no files"
        )
    path = Path(path)
    for existing in (path, *path.parents):
        if os.path.lexists(existing):
            break
    else:  # pragma: no cover - a relative path ends at ".", an absolute one at "/"
        return path
    if existing.is_symlink() and not existing.exists():
        raise AttentextError(f"{path}: {option}: {existing} is a broken link; remove it or fix it")
    if not existing.is_dir():
        where = "names a file" if existing == path else f"is inside {existing}, which is a file"
        raise AttentextError(
            f"{path}: {option} {where}, not a folder; choose a folder (it is created if missing)"
        )
    if existing == path and (path / MARKER).is_file():
        raise AttentextError(
            f"{path}: {option} is a run directory, whose own files these would replace; choose "
            "another folder (a new one inside it is fine)"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise AttentextError(
            f"{path}: {option}: no permission to write in {existing}; choose another folder"
        )
    return path


def check_own_output_folder(
    path: str | Path, is_own: Callable[[Path], bool], command: str, option: str = "--output"
) -> Path:
    """`check_output_folder`, and refuse a folder holding files `command` never writes (`is_own`
    says which it does), in one line naming them and --overwrite: its same-named files would
    be replaced, the user's among them (an audit: `compare --output DIR` replaced a
    leaderboard.md in a folder of the user's files). A new, empty or earlier output is fine."""
    path = check_output_folder(path, option)
    others = foreign_entries(path.resolve() if path.is_dir() else path, is_own)
    if others:
        names = short_list([shown(name, 40) for name in others], limit=5)
        raise AttentextError(
            f"{path}: {option} holds files {command} never writes ({names}); choose a new or "
            f"empty folder, or add --overwrite to write beside them (files of {command}'s names "
            "are replaced)"
        )
    return path


# the files `evaluate --output` writes (one label per text: the first five; several: metrics.json,
# report.md, per_label_f1.png)
REPORT_FILES = (
    "metrics.json",
    "report.md",
    "mistakes.jsonl",
    "confusion_matrix.png",
    "reliability.png",
    "per_label_f1.png",
)


def check_report_folder(path: str | Path, overwrite: bool = False) -> Path:
    """`check_output_folder` for `evaluate --output`, and, unless `overwrite`, refuse a folder
    where a file of a report's name exists beside files evaluate never writes: that folder is
    the user's, not an earlier report, and its report.md or metrics.json would be replaced
    without a word (an audit: `evaluate RUN --output proj` replaced proj's own report.md and
    metrics.json). A new or empty folder, an earlier report's, or one whose files keep their
    names (a folder of other reports) is written into as before."""
    path = check_output_folder(path)
    if not yes_or_no(overwrite, "overwrite"):  # "False" from a config is True by its truth
        check_not_replaced(
            path,
            REPORT_FILES,
            "evaluate",
            "choose a new or empty folder, or add --overwrite to replace them (overwrite=True "
            "in Python)",
        )
    return path


def check_export_folder(path: str | Path) -> Path:
    """`check_output_folder` for `export --output`, refusing a folder of the user's files that
    holds a model.onnx, model.int8.onnx or export.json: `export RUN -o models` replaced the
    user's model.onnx and deleted their model.int8.onnx (an export without --int8 removes an
    earlier one) without a word. An earlier export's folder is written into as before."""
    path = check_output_folder(path)
    check_not_replaced(
        path,
        (ONNX_FP32_FILE, ONNX_INT8_FILE, ONNX_INFO_FILE),
        "export",
        "choose a new or empty folder (without --output, export writes the run's own onnx/)",
    )
    return path


def check_not_replaced(path: Path, names: Sequence[str], command: str, advice: str) -> None:
    """Refuse, in one line ending in `advice`, a folder where a file `command` writes (`names`)
    exists beside files it never writes: the folder is the user's, not an earlier output of
    `command`, and those files would be replaced. A temporary a killed `command` left
    (`files.temporary_beside`) counts as its own."""
    if not path.is_dir():
        return
    replaced = [name for name in names if os.path.lexists(path / name)]
    if replaced and (others := foreign_entries(path, lambda entry: _written(entry, names))):
        shown_others = short_list([shown(name, 40) for name in others], limit=5)
        raise AttentextError(
            f"{path}: --output holds {short_list(replaced)}, which {command} would replace, "
            f"beside files it never writes ({shown_others}), so it is not an earlier output of "
            f"{command}; {advice}"
        )


def report_files_replaced(path: str | Path) -> AbstractContextManager[Path]:
    """A staging folder to write a report in; on success its files replace an earlier report's
    (`REPORT_FILES`; a link by that name is replaced, not written through), all together, so
    that the folder holds this report's files only: a multi-label report written over a
    one-label one kept the other run's mistakes.jsonl, confusion matrix and reliability diagram
    (round 9), and one written file by file was half old, half new after a Ctrl-C or a full
    disk in the middle (round 10). A failed write leaves the earlier report whole."""
    return files_replaced_together(Path(path), lambda name: name in REPORT_FILES)


def _written(entry: Path, names: Sequence[str]) -> bool:
    """A plain file of one of `names`, the temporary one of them is written to first, or the
    staging folder a set of them is written in (`files.files_replaced_together`)."""
    named = entry.name in names or any(
        entry.name.startswith(f".{name}.") and entry.name.endswith(TMP_SUFFIX) for name in names
    )
    return (named and entry.is_file() and not entry.is_symlink()) or is_staging(entry)
