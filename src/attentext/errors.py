"""The errors a user can cause.

Each carries a one-line message that names the problem and, where it can, what to do. The CLI and
the server catch `AttentextError` once and show that line; anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

import difflib
import inspect
import os
import re
from collections.abc import Callable, Iterable
from numbers import Integral

from attentext.rendering import printable


class AttentextError(Exception):
    """Base class of every user-facing attentext error."""


class DataError(AttentextError):
    """A data file or dataset is missing, malformed or inconsistent."""


class EncodingError(DataError):
    """A file is not in the encoding it is read in (a cp1252 file read as UTF-8): a command
    that can read other encodings adds how (`predict --encoding`)."""


class RecipeError(AttentextError):
    """A recipe or a `--set` override is invalid."""


class RunDirError(AttentextError):
    """A run directory is missing, incomplete or not an attentext run."""


class CalibrationError(RunDirError):
    """A run's calibration.json that cannot be read (half-written, edited by hand): its model is
    intact, and a refit of the calibration (`recalibrate --data`) writes a new one in its place.
    `reason` says what is wrong with it, without the advice."""

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason


class PrecisionError(AttentextError, ValueError):
    """A precision or device this machine cannot run (fp16 or cuda without a GPU, fp64)."""


class ModelSourceError(AttentextError):
    """A pretrained checkpoint cannot be found or fetched."""


class AttentextWarning(UserWarning):
    """Something the user should know that does not stop the work (the CLI shows one line)."""


class AttentextNote(AttentextWarning):
    """What a run decided for the user (data-aware defaults): shown as one line `note: ...`."""


def did_you_mean(value: str, choices: list[str] | tuple[str, ...], limit: int = 12) -> str:
    """'; did you mean 'x'?' for a close choice, else ' (known: a, b, ...)', kept short.

    Messages that list known values must stay one readable line: past `limit` choices the list
    ends with '... (N in all)'.
    """
    # compared without case: `C` was not suggested for `c`, nor `tfidf-logreg` for `TFIDF-LOGREG`
    folded = {str(c).casefold(): str(c) for c in reversed(list(choices))}
    close = difflib.get_close_matches(str(value).casefold(), list(folded), n=1)
    if close:
        return f"; did you mean '{folded[close[0]]}'?"
    return f" (known: {short_list(choices, limit)})"


def short_list(items: list[str] | tuple[str, ...], limit: int = 12, width: int = 40) -> str:
    """'a, b, c' for a few items; the first `limit` (each cut to `width` chars) and a count else.

    Each item is shown with its control characters escaped: a label holding a line break made
    a message of two lines."""
    escaped = [printable(item) for item in items]
    shown = [item if len(item) <= width else item[: width - 1] + "…" for item in escaped]
    if len(shown) <= limit:
        return ", ".join(shown)
    return ", ".join(shown[:limit]) + f", ... ({len(shown)} in all)"


def shown(value: object, width: int = 60) -> str:
    """A user's value as a message may show it: control characters escaped, cut to `width`,
    containers described.

    Messages are one line: a 700 KB value parsed from a file, a label holding a line break, or a
    mapping, is never formatted into one whole.
    """
    if isinstance(value, dict):
        return f"a mapping of {len(value)} key(s)"
    if isinstance(value, list | tuple | set):
        return f"a list of {len(value)} item(s)"
    head = (value if isinstance(value, str) else repr(value))[: width + 1]
    text = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in head)  # one line
    return text if len(text) <= width else text[: width - 1] + "…"


def listed(value: object, parameter: str, items: str) -> list:
    """`value`, a Python argument that takes a list (of run directories, of recipe names), as
    a list; a single string or path, or a value that is no collection, a one-line `TypeError`.
    A single string was read character by character: `compare("runs/a", data)` said "/: given
    twice", `distill(..., ensemble="runs/b")` "is inside the teacher run /", `auto(...,
    recipes="tfidf-logreg")` "--recipe t"."""
    if isinstance(value, str | bytes | os.PathLike):
        raise TypeError(
            f"{parameter} must be a list of {items}, got a single one; write [{shown(os.fsdecode(value))!r}]"
        )
    if isinstance(value, dict) or not isinstance(value, Iterable):
        raise TypeError(f"{parameter} must be a list of {items}, got {type(value).__name__}")
    return list(value)


def whole_number(value: object, parameter: str) -> int:
    """`value`, a Python argument that counts or indexes (rounds, trials, a sample's size, a
    layer), as an int; a float, a string or a bool, a one-line `TypeError` before any use: they
    were tracebacks from inside (`rounds=2.5`: "'float' object cannot be interpreted as an
    integer", `layer="0"`: "'<=' not supported", `head=1.0` an IndexError, `limit=10.5`
    scikit-learn's ValueError) or taken (`trials=1.5`)."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{parameter} must be a whole number, not {shown(repr(value))}")
    return int(value)


def check_keywords(called: str, given: Iterable[str], *taking: Callable[..., object]) -> None:
    """Keyword arguments `called` (the public function a user called) takes through `**options`
    and hands on: one that none of `taking` takes by keyword a one-line `TypeError` naming
    `called` and the closest keyword. Python named the function inside instead:
    `train(..., epoch=2)` was "resolve_recipe() got an unexpected keyword argument 'epoch'"."""
    names = [
        name
        for function in taking
        for name, parameter in inspect.signature(function).parameters.items()
        if parameter.kind is parameter.KEYWORD_ONLY
    ]
    for key in given:
        if key not in names:
            raise TypeError(
                f"{called}() got an unexpected keyword argument '{shown(key)}'"
                f"{did_you_mean(key, names)}"
            )


def yes_or_no(value: object, parameter: str) -> bool:
    """`value`, a Python flag (overwrite, resume), as a bool; anything else a one-line
    `TypeError` before any use. Read by its truth, a string from a config or argparse
    (`overwrite="False"`, `resume="no"`) was True: a finished run replaced without a word."""
    if not isinstance(value, bool):
        raise TypeError(f"{parameter} must be True or False, not {shown(repr(value))}")
    return value


DEVICE_NAME = re.compile(r"(cpu|cuda|mps)(:\d+)?")  # the device types attentext runs models on


def unknown_device(device: object) -> PrecisionError:
    """The one line for a device no engine of attentext runs on."""
    return PrecisionError(
        f"unknown device '{shown(str(device))}'; use cpu, cuda, cuda:N or mps (or None: the GPU "
        "if there is one)"
    )


def check_device_name(device: object) -> None:
    """Refuse a device name no engine runs, in one line, without importing torch: `load` checks
    it for every run (a TF-IDF run or an ONNX backend, CPU engines that `device` does not move,
    took `device="gpu"` without a word, where a PyTorch run refused it). Whether this machine
    has the device is the PyTorch backend's check (`precision.inference_device`)."""
    if device is None or hasattr(device, "type"):  # None, or a torch.device
        return
    if not isinstance(device, str):
        raise TypeError(f"device must be a string such as 'cpu' or 'cuda:0', not {device!r}")
    if not DEVICE_NAME.fullmatch(device):
        raise unknown_device(device)
