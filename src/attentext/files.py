"""Files written whole or not at all, and read with limits.

Every file attentext writes (run directories, caches, exports, reports) is written to a temporary
file in the same folder and renamed over its target: a crash leaves the old file or the new one,
never half of one. Temporaries are named `.<target name>.<random>.tmp`, so that a later write of
the same target can find and remove those a killed process left (`remove_stale_temporaries`).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

TMP_SUFFIX = ".tmp"


def temporary_beside(target: Path) -> Path:
    """A new empty file in `target`'s folder, named after it: where `target` is written first."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=TMP_SUFFIX)
    os.close(fd)
    return Path(tmp)


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces `target` in one rename.

    On any failure the temporary is removed and `target` is left as it was.
    """
    target = Path(target)
    tmp = temporary_beside(target)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(target: Path, write: Callable[[Path], Any]) -> None:
    """`write(tmp_path)`, then rename the result over `target`."""
    with atomic_path(target) as tmp:
        write(tmp)


def write_text(target: Path, text: str) -> None:
    """Write UTF-8 text atomically."""
    write_atomic(target, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(target: Path, payload: Any) -> None:
    """Write JSON atomically (indented, one trailing newline)."""
    write_text(target, json.dumps(payload, indent=2) + "\n")


def remove_stale_temporaries(target: Path, max_age_s: float = 0.0) -> list[Path]:
    """Remove the temporaries of `target` that an interrupted write left (older than max_age_s).

    A process killed between creating its temporary and renaming it leaves the file behind
    (110 MB for an exported MiniLM); the next write of the same target cleans them.
    """
    removed = []
    now = time.time()
    for path in Path(target).parent.glob(f".{Path(target).name}.*{TMP_SUFFIX}"):
        try:
            if now - path.stat().st_mtime >= max_age_s:
                path.unlink()
                removed.append(path)
        except OSError:
            continue
    return removed
