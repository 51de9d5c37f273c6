"""The output folders `tune` and `auto` write: refused in one line before any work when they
hold something else, replaced with `--overwrite` only when an earlier run of the same command
wrote them (its record file is there), so a typo never empties a folder of other files."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from attentext.errors import RunDirError
from attentext.outputs import check_output_folder
from attentext.rundir import check_output_apart, local_data_paths


def prepare_output(
    output: str | Path, record: str, command: str, overwrite: bool, data: Any = None
) -> Path:
    """`output` ready to write: created, or emptied when `overwrite` and `record` (the file the
    command writes last) shows an earlier `command` wrote it; never when it holds `data` (the
    command's data file or folder)."""
    path = check_output_folder(output)
    check_output_apart(path, local_data_paths(data), "the data", inside_allowed=True)
    if path.exists() and any(path.iterdir()):
        if not overwrite:
            raise RunDirError(
                f"{path}: already exists; choose another --output or pass --overwrite "
                "(overwrite=True in Python)"
            )
        if not (path / record).is_file():
            raise RunDirError(
                f"{path}: holds other files (no {record}); --overwrite replaces only an earlier "
                f"`attentext {command}` output: choose another --output"
            )
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    return path
