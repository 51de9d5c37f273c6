"""Progress bars that stay readable in a log: tqdm's own on a terminal; where stderr is a file or
a pipe, a bar drawn once it has run LOG_INTERVAL seconds, then at most every LOG_INTERVAL
seconds, and in its final state.

tqdm draws a bar up to ten times a second, each draw a carriage return: a terminal shows the
last, a log keeps them all (a 30-step training wrote 123 lines, evaluations in between). Turning
bars off there would also leave a long evaluate or predict without a sign of progress in its
log. Work shorter than LOG_INTERVAL draws nothing there: its result lines say it is done, and a
command that fails at once keeps its one-line error alone. Lines printed beside the bars
(`ProgressBar.write`: the Trainer's logs) go straight to their file, as there is no bar line to
clear first and draw again after. `TQDM_MININTERVAL` in the environment keeps its say.
"""

from __future__ import annotations

import os
import sys
from typing import Any, TextIO

from tqdm.auto import tqdm

LOG_INTERVAL = 30.0  # seconds between a bar's draws in a log


def in_log(file: TextIO | None = None) -> bool:
    """Whether a bar written to `file` (stderr where None) lands in a log: not a terminal, nor
    a notebook's output (which draws carriage returns in place)."""
    stream = sys.stderr if file is None else file
    if type(stream).__module__.startswith("ipykernel"):
        return False
    try:
        return not stream.isatty()
    except (AttributeError, ValueError, OSError):  # no stream (pythonw), or a closed one
        return True


class ProgressBar(tqdm):
    """tqdm (`tqdm.auto`'s: a widget in a notebook), drawn sparsely where it lands in a log;
    options given explicitly win."""

    def __init__(self, *args: Any, **options: Any) -> None:
        self.in_log = in_log(options.get("file")) and "TQDM_MININTERVAL" not in os.environ
        if self.in_log:
            sparse = {"mininterval": LOG_INTERVAL, "maxinterval": LOG_INTERVAL}
            options = sparse | {"delay": LOG_INTERVAL} | options
        super().__init__(*args, **options)

    @classmethod
    def write(cls, s: str, file: TextIO | None = None, end: str = "\n", nolock: bool = False):
        """A line printed beside the bars (stdout where `file` is None); where every bar lands
        in a log, written as it is, without clearing each bar first and drawing it again after
        (two more draws in the log a line)."""
        bars = list(getattr(cls, "_instances", ()))
        if not bars or not all(getattr(bar, "in_log", False) for bar in bars):
            return super().write(s, file=file, end=end, nolock=nolock)
        stream = sys.stdout if file is None else file
        stream.write(s)
        stream.write(end)
        return None
