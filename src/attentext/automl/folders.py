"""The output folders `tune` and `auto` write: refused in one line before any work when they
hold something else, replaced with `--overwrite` only when an earlier run of the same command
wrote them (its record file is there), so a typo never empties a folder of other files; and
replaced only once the new output is made, so that an interrupted search leaves the earlier one."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from attentext import rundir
from attentext.errors import RunDirError, yes_or_no
from attentext.files import TMP_SUFFIX
from attentext.outputs import check_output_folder
from attentext.rundir import check_output_apart, local_data_paths


@contextmanager
def writing_output(
    output: str | Path,
    record: str,
    command: str,
    overwrite: bool,
    data: Any = None,
    kept: Callable[[Path], bool] = lambda folder: False,
    resume: bool = False,
    finished: Callable[[Path], bool] = lambda folder: False,
) -> Iterator[Path]:
    """`output` ready to write, held for this process (`rundir.writing`): created, or holding
    an earlier `command`'s output (`record`, the file it writes last, shows it) when
    `overwrite`, never one that holds `data` (the command's data file or folder). The earlier
    output is moved aside rather than removed: it is removed once the block ends normally, or
    fails having kept a result (`kept(folder)`: an interrupted tune keeps its best trial), and
    put back otherwise. `tune --overwrite` / `auto --overwrite` removed the earlier output (its
    best run: hours of trials) before the first trial, so that a Ctrl-C, a crash or "no trial
    completed" left nothing of either. A kill -9 leaves it aside, put back by the next call.
    With `resume` the earlier output is written on where it lies (`tune --resume`). Both flags
    must be bools (`errors.yes_or_no`): `overwrite="False"` replaced an earlier search.
    An output `finished(folder)` says is complete (a finished `auto`) has nothing to go on
    with: `resume` is refused in one line, and no message offers it."""
    yes_or_no(overwrite, "overwrite")
    yes_or_no(resume, "resume")
    path = check_output_folder(output)
    with rundir.writing(path, command):
        _put_back_aside(path)
        aside = _aside(path)
        if resume:
            _check_resumable(path, record, command, data, finished)
        elif _replaceable(path, record, command, overwrite, data, finished):
            path.rename(aside)
        path.mkdir(parents=True, exist_ok=True)
        try:
            yield path
        except BaseException:
            if aside.exists() and not kept(path):
                shutil.rmtree(path, ignore_errors=True)
                aside.rename(path)
            raise
        finally:
            _remove_aside(path)


def _remove_aside(path: Path) -> None:
    """Remove the earlier output, renamed first, so that a kill -9 during the removal never
    leaves half of it to be put back (`_put_back_aside`) over the new one."""
    removed = path.with_name(f".{path.name}.replaced{TMP_SUFFIX}")
    if _aside(path).exists():
        _aside(path).rename(removed)
    shutil.rmtree(removed, ignore_errors=True)


def replacing(path: Path) -> bool:
    """Whether an earlier output waits aside while `writing_output` makes `path`: a search
    that ends keeping nothing puts it back, so its words must not point into the new one."""
    return _aside(Path(path)).is_dir()


def _aside(path: Path) -> Path:
    """Where the earlier output waits while a new one is made (hidden, beside it)."""
    return path.with_name(f".{path.name}.earlier{TMP_SUFFIX}")


def _put_back_aside(path: Path) -> None:
    """An earlier output a killed call left aside, put back in place of that call's half-made
    one (the caller holds the lock, so no other call is making it)."""
    aside = _aside(path)
    if aside.is_dir() and not aside.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
        aside.rename(path)
    _remove_aside(path)  # one a killed call had begun to remove


def _check_resumable(
    path: Path, record: str, command: str, data: Any, finished: Callable[[Path], bool]
) -> None:
    """`path` holds an earlier `command` output to go on with (its `record` file, and not
    finished), or one line."""
    check_output_apart(path, local_data_paths(data), "the data", inside_allowed=True)
    if not (path / record).is_file():
        raise RunDirError(
            f"{path}: nothing to resume (no {record} of an earlier `attentext {command}`); "
            "run it without --resume"
        )
    if finished(path):
        raise RunDirError(
            f"{path}: a finished `attentext {command}` output, nothing to resume; choose "
            "another --output, or pass --overwrite to run it again (overwrite=True in Python)"
        )


def _replaceable(
    path: Path,
    record: str,
    command: str,
    overwrite: bool,
    data: Any,
    finished: Callable[[Path], bool],
) -> bool:
    """Whether `path` holds an earlier output to replace (False: new or empty); a folder that
    cannot be replaced (no `overwrite`, not `command`'s, holding `data`) is refused."""
    check_output_apart(path, local_data_paths(data), "the data", inside_allowed=True)
    if not (path.exists() and any(path.iterdir())):
        return False
    if not overwrite:
        # the same command run again after a kill -9 or a closed lid, which said nothing: an
        # earlier output of this command may be a search to go on with, not to start over
        if (path / record).is_file() and finished(path):
            raise RunDirError(
                f"{path}: already exists, a finished `attentext {command}` output; choose "
                "another --output or pass --overwrite to replace it (overwrite=True in Python)"
            )
        if (path / record).is_file():
            raise RunDirError(
                f"{path}: already exists, an earlier `attentext {command}` output; choose another "
                "--output, pass --resume to go on with it or --overwrite to replace it "
                "(resume=True or overwrite=True in Python)"
            )
        raise RunDirError(
            f"{path}: already exists; choose another --output or pass --overwrite "
            "(overwrite=True in Python)"
        )
    if not (path / record).is_file():
        raise RunDirError(
            f"{path}: holds other files (no {record}); --overwrite replaces only an earlier "
            f"`attentext {command}` output: choose another --output"
        )
    return True
