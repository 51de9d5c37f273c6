"""The output folders `tune` and `auto` write: refused in one line before any work when they
hold something else, replaced with `--overwrite` only when an earlier run of the same command
wrote them (its record file is there), so a typo never empties a folder of other files."""

from __future__ import annotations

import shutil
from pathlib import Path

from attentext.errors import RunDirError
from attentext.outputs import check_output_folder


def prepare_output(output: str | Path, record: str, command: str, overwrite: bool) -> Path:
    """`output` ready to write: created, or emptied when `overwrite` and `record` (the file the
    command writes last) shows an earlier `command` wrote it."""
    path = check_output_folder(output)
    if path.exists() and any(path.iterdir()):
        if not overwrite:
            raise RunDirError(
                f"{path}: already exists; choose another --output or pass --overwrite"
            )
        if not (path / record).is_file():
            raise RunDirError(
                f"{path}: holds other files (no {record}); --overwrite replaces only an earlier "
                f"`attentext {command}` output: choose another --output"
            )
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    return path
