"""The work folder `OUT.parts/` of a batch prediction: chunks committed one by one, resumed
after a crash, joined into OUT at the end (the design is in `attentext.scoring`).

    OUT.parts/manifest.json          what the parts are made from: run, input, options
    OUT.parts/errors-00000003.jsonl  chunk 3's rows that were not classified (renamed first)
    OUT.parts/part-00000003.jsonl    chunk 3's output rows (renamed last: the commit)

A chunk is committed when its part exists; its errors file was renamed before it, so a
committed chunk always has one. Every file is written to a temporary beside it and renamed, so
a kill -9 leaves whole files and temporaries, which the next run removes.

`OUT.parts/` and `OUT.errors.jsonl` are names a user may have used for files of their own: a
folder by that name is removed or resumed only when it holds nothing but what is listed above,
and an errors file is replaced only with --overwrite or by the run that is resumed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from attentext.errors import AttentextError, DataError, short_list, shown
from attentext.files import (
    TMP_SUFFIX,
    LockHeld,
    exclusive_lock,
    foreign_entries,
    interrupts_held,
    new_file_mode,
    read_bytes_capped,
    remove_stale_temporaries,
    temporary_beside,
    write_json,
)
from attentext.rundir import (
    LOG_FILE,
    MARKER,
    METRICS_FILE,
    ONNX_DIR,
    ONNX_FP32_FILE,
    ONNX_INFO_FILE,
    ONNX_INT8_FILE,
    read_marker,
)
from attentext.scoring.sinks import assemble, json_line, part_suffix
from attentext.scoring.sources import NOT_UTF8

PARTS_SUFFIX = ".parts"
ERRORS_SUFFIX = ".errors.jsonl"
MANIFEST_FILE = "manifest.json"
MANIFEST_FORMAT = 1
MANIFEST_KEYS = frozenset({"format", "output", "run", "input", "options"})
MANIFEST_MAX_BYTES = 1 << 20  # ours is a few hundred bytes; a bigger one is not ours
FULL_HASH_BYTES = 4 << 30  # inputs up to this size are hashed whole (about 1 s per GB)
EDGE_BYTES = 4 << 20  # larger ones: size, mtime and the first and last 4 MiB

# options a work folder's manifest may lack, at the value the version that wrote it read with:
# an interrupted run of UTF-8 input resumes after `--encoding` was added
OPTIONS_BEFORE = {"encoding": "utf-8"}

# Tests set this to stop the process at a stage ("read", "scored", "written",
# "errors-committed", "committed", "errors-assembled", "assembled"), as a crash would there.
fault_hook: Callable[[str, int], None] | None = None


def at_stage(stage: str, chunk: int = -1) -> None:
    if fault_hook is not None:
        fault_hook(stage, chunk)


def parts_dir(output: Path) -> Path:
    return output.with_name(output.name + PARTS_SUFFIX)


def errors_path(output: Path) -> Path:
    return output.with_name(output.name + ERRORS_SUFFIX)


@contextmanager
def holding(output: Path) -> Iterator[None]:
    """Hold `output` for this process; a second run writing it is refused in one line."""
    try:
        with exclusive_lock(output.with_name(f".{output.name}.lock"), f"predict {output}"):
            yield
    except LockHeld as held:
        raise AttentextError(
            f"{output}: another attentext process is writing it ({held.holder}); wait for it "
            "to finish or choose another --output"
        ) from None


def _digest(path: Path, start: int = 0, length: float = float("inf")) -> str:
    """blake2b of `length` bytes of a file from `start` (to its end by default)."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as handle:
        handle.seek(start)
        while length > 0 and (block := handle.read(int(min(1 << 20, length)))):
            digest.update(block)
            length -= len(block)
    return digest.hexdigest()


def input_identity(path: Path) -> dict[str, Any]:
    """What identifies the input's contents: its size and digest (whole up to 4 GiB; beyond,
    its mtime and first and last 4 MiB)."""
    size = path.stat().st_size
    if size <= FULL_HASH_BYTES:
        return {"size": size, "blake2b": _digest(path)}
    return {
        "size": size,
        "mtime_ns": path.stat().st_mtime_ns,
        "head": _digest(path, 0, EDGE_BYTES),
        "tail": _digest(path, size - EDGE_BYTES),
    }


def run_identity(run_dir: Path, backend: str) -> str:
    """A digest of the files that make the run's predictions: the marker and its files (not
    metrics or logs), and the ONNX files where an ONNX backend reads them."""
    marker = read_marker(run_dir)
    names = sorted(set(marker.get("files", [])) - {METRICS_FILE, LOG_FILE}) + [MARKER]
    if backend.startswith("onnx"):
        model = ONNX_INT8_FILE if backend == "onnx-int8" else ONNX_FP32_FILE
        names += [f"{ONNX_DIR}/{ONNX_INFO_FILE}", f"{ONNX_DIR}/{model}"]
    digest = hashlib.blake2b(digest_size=16)
    for name in names:
        path = run_dir / name
        if path.is_file():
            digest.update(f"{name}\0{_digest(path)}\0".encode())
    return digest.hexdigest()


def _changed(found: dict[str, Any], wanted: dict[str, Any]) -> str | None:
    """What differs between the manifest found and this run's, as a clause (None: nothing)."""
    if found.get("format") != wanted["format"] or found.get("output") != wanted["output"]:
        return "it was written by another attentext version or for another output format"
    if found.get("run") != wanted["run"]:
        return "the model changed (its run directory's files differ)"
    if found.get("input") != wanted["input"]:
        before, now = found.get("input", {}).get("size"), wanted["input"]["size"]
        sizes = f" ({before:,} bytes then, {now:,} now)" if before != now else ""
        return f"the input file changed{sizes}"
    found_options = {**OPTIONS_BEFORE, **found.get("options", {})}
    options = [
        f"--{name.replace('_', '-')}"
        for name, value in wanted["options"].items()
        if found_options.get(name) != value
    ]
    return f"options changed ({', '.join(options)})" if options else None


class WorkDir:
    """`OUT.parts/`: the committed chunks of one output, and how to commit and join them."""

    def __init__(self, path: Path, fmt: str) -> None:
        self.path = path
        self.fmt = fmt
        self.committed = {
            int(p.name.split("-")[1].split(".")[0]) for p in path.glob(f"part-*{part_suffix(fmt)}")
        }

    def part(self, index: int) -> Path:
        return self.path / f"part-{index:08d}{part_suffix(self.fmt)}"

    def errors_part(self, index: int) -> Path:
        return self.path / f"errors-{index:08d}.jsonl"

    def commit(self, index: int, write: Callable[[Path], None], errors: list[dict]) -> None:
        """Write chunk `index`'s part (`write(path)`) and its errors; the part's rename, last,
        commits it."""
        part, errors_file = self.part(index), self.errors_part(index)
        data_tmp, errors_tmp = temporary_beside(part), temporary_beside(errors_file)
        try:
            write(data_tmp)
            lines = "".join(json_line(e) + "\n" for e in errors)
            errors_tmp.write_text(lines, encoding="utf-8")
            at_stage("written", index)
            os.replace(errors_tmp, errors_file)
            at_stage("errors-committed", index)
            os.replace(data_tmp, part)
        finally:
            data_tmp.unlink(missing_ok=True)
            errors_tmp.unlink(missing_ok=True)
        self.committed.add(index)
        at_stage("committed", index)

    def finish(self, output: Path, chunks: int) -> tuple[int, int]:
        """Join the errors parts into OUT.errors.jsonl and the parts into OUT (each by one
        rename), remove the work folder; the number of rows not classified, and of those
        not valid UTF-8 (a file in another encoding: the command says so)."""
        if sorted(self.committed) != list(range(chunks)):
            missing = sorted(set(range(chunks)) - self.committed)[:3]
            raise AttentextError(f"{self.path}: chunks {missing} are not committed (a bug)")
        # both joined before either is renamed in, the two renames with Ctrl-C held: renamed
        # one after the other, a Ctrl-C while OUT was joined (minutes for a big output) left
        # a new OUT.errors.jsonl beside an earlier OUT (--overwrite), read as one result
        errors_tmp, tmp = temporary_beside(errors_path(output)), temporary_beside(output)
        try:
            bad, not_utf8 = self._join_errors(chunks, errors_tmp)
            at_stage("errors-assembled")
            assemble(self.fmt, [self.part(i) for i in range(chunks)], tmp)
            os.chmod(tmp, new_file_mode())
            with interrupts_held():
                os.replace(errors_tmp, errors_path(output))
                os.replace(tmp, output)
        finally:
            errors_tmp.unlink(missing_ok=True)
            tmp.unlink(missing_ok=True)
        at_stage("assembled")
        shutil.rmtree(self.path, ignore_errors=True)
        return bad, not_utf8

    def _join_errors(self, chunks: int, target: Path) -> tuple[int, int]:
        """The errors parts joined into `target`; the rows not classified, and of those not
        valid UTF-8."""
        bad = not_utf8 = 0
        with open(target, "wb") as out:
            for index in range(chunks):
                data = self.errors_part(index).read_bytes()
                bad += data.count(b"\n")
                not_utf8 += data.count(f'{NOT_UTF8}"'.encode())  # a reason ends so
                out.write(data)
        os.chmod(target, new_file_mode())
        return bad, not_utf8

    def discard(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def _clean(output: Path, work: Path) -> None:
    """Remove what a killed run left half-written: temporaries of parts, of OUT and its errors."""
    for target in (output, errors_path(output)):
        remove_stale_temporaries(target)
    if work.is_dir():
        for leftover in work.glob(f".*{TMP_SUFFIX}"):
            with suppress(OSError):
                leftover.unlink()


def _own_names(fmt: str) -> re.Pattern[str]:
    """The names a work folder of format `fmt` holds: the manifest, the parts and errors parts,
    and the temporaries each is written to first (`files.temporary_beside`)."""
    own = (
        rf"{re.escape(MANIFEST_FILE)}|part-\d{{8,}}{re.escape(part_suffix(fmt))}"
        r"|errors-\d{8,}\.jsonl"
    )
    return re.compile(rf"(?:{own})|\.(?:{own})\.\w+{re.escape(TMP_SUFFIX)}")


def _own_manifest(work: Path) -> dict[str, Any] | None:
    """The manifest of the work folder `work` if attentext wrote it (a JSON object with the
    keys `open_work` writes), else None."""
    try:
        found = json.loads(read_bytes_capped(work / MANIFEST_FILE, MANIFEST_MAX_BYTES))
    except (OSError, ValueError, RecursionError):
        return None
    return found if isinstance(found, dict) and found.keys() >= MANIFEST_KEYS else None


def _check_own_work_folder(work: Path, fmt: str) -> None:
    """Refuse, in one line, an `OUT.parts` that attentext did not make: it would be removed or
    resumed, and a folder of the user's by that name (found by an audit: `predict --output
    out.csv` deleted an `out.csv.parts/` of notes) must be left as it is, whatever the options.
    Empty, or holding only a manifest of ours, parts, errors parts and temporaries, it is ours."""
    own = _own_names(fmt)
    others = foreign_entries(
        work,
        lambda entry: (
            bool(own.fullmatch(entry.name)) and entry.is_file() and not entry.is_symlink()
        ),
    )
    if others is None:
        raise DataError(
            f"{work}: is not a folder attentext made (predict works in <output>.parts); "
            "move it or choose another --output"
        )
    if others:
        names = [shown(name, 40) for name in others]
        raise DataError(
            f"{work}: holds files predict never writes ({short_list(names)}), so it is not an "
            "interrupted run to clear; move it or choose another --output"
        )
    if (work / MANIFEST_FILE).exists() and _own_manifest(work) is None:
        raise DataError(
            f"{work}: its {MANIFEST_FILE} is not one predict writes, so it is not an "
            "interrupted run to clear; move it or choose another --output"
        )


def _check_errors_file(output: Path, overwrite: bool) -> None:
    """Refuse, in one line, to replace an `OUT.errors.jsonl` unasked: a new run (not a resumed
    one) did not write the one there, which may be the user's own file (found by an audit:
    `predict --output out.csv` emptied an `out.csv.errors.jsonl` of theirs)."""
    errors = errors_path(output)
    if errors.is_dir() and not errors.is_symlink():
        raise DataError(
            f"{errors}: is a folder; predict writes the rows not classified there: move it or "
            "choose another --output"
        )
    if (errors.exists() or errors.is_symlink()) and not overwrite:
        raise DataError(
            f"{errors}: exists; add --overwrite to replace it (once the new one is complete), "
            "or choose another --output"
        )


def open_work(
    output: Path, manifest: dict[str, Any], resume: bool, overwrite: bool, fmt: str
) -> WorkDir:
    """The work folder for `output`: the interrupted run's (with `resume`, if its manifest
    matches), else a new one. Refuses, in one line, a folder by that name that is not
    attentext's, and to replace a finished output or errors file without `overwrite` or an
    interrupted run without `resume` or `overwrite`."""
    work = parts_dir(output)
    _check_own_work_folder(work, fmt)
    _clean(output, work)
    # a work folder without a committed chunk holds nothing to keep (a run that failed to load
    # its model, say): it is started over, whatever the options
    interrupted = (work / MANIFEST_FILE).is_file() and bool(WorkDir(work, fmt).committed)
    if interrupted and resume:
        found = _read_manifest(work)
        if (change := _changed(found, manifest)) is not None:
            raise DataError(
                f"{work}: cannot resume: {change}; to start over, run the same command without "
                "--resume and with --overwrite"
            )
        return WorkDir(work, fmt)
    if interrupted and not overwrite:
        count = len(WorkDir(work, fmt).committed)
        raise DataError(
            f"{work}: an interrupted run left {count} committed chunk(s) here; add --resume to "
            "continue it, or --overwrite to start over"
        )
    if output.exists() and not overwrite:
        raise DataError(
            f"{output}: exists; add --overwrite to replace it (once the new one is complete)"
        )
    _check_errors_file(output, overwrite)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    write_json(work / MANIFEST_FILE, manifest)
    return WorkDir(work, fmt)


def _read_manifest(work: Path) -> dict[str, Any]:
    found = _own_manifest(work)
    if found is None:
        raise DataError(
            f"{work / MANIFEST_FILE}: unreadable; start over without --resume (with --overwrite)"
        )
    return found
