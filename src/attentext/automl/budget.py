"""Durations as users write them (`90s`, `10m`, `1h`, `1h30m`) and as attentext prints them.

Light on purpose: the CLI parses `--budget` and `--timeout` before importing anything heavy, so a
typo is answered at once; `auto` and `tune` read the same strings from Python (`seconds_given`).
"""

from __future__ import annotations

import math
import re
from numbers import Real

from attentext.errors import AttentextError, shown

UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smh])")


class BudgetError(AttentextError):
    """A time budget that cannot be read, or that is too small for the work asked."""


def parse_duration(text: str, option: str = "--budget", bare_seconds: bool = False) -> float:
    """Seconds in `text`: numbers with units s, m, h (`90s`, `10m`, `1.5h`, `1h30m`); a bare
    number is seconds only where `bare_seconds` says so (a bare `10` budget is ambiguous)."""
    value = text.strip().lower().replace(" ", "")
    if bare_seconds and _is_number(value):
        seconds = float(value)
    else:
        parts = _PART.findall(value)
        if not parts or "".join(n + u for n, u in parts) != value:
            raise BudgetError(
                f"{option} {shown(text)}: expected a duration such as 90s, 10m or 1h"
                + (" (or seconds)" if bare_seconds else "")
                + _unit_left_out(value)
            )
        seconds = sum(float(number) * UNITS[unit] for number, unit in parts)
    if not math.isfinite(seconds):  # `--timeout nan`, `inf`, `1e999`: float() takes them
        raise BudgetError(f"{option} {shown(text)}: give a finite duration, such as 90s, 10m or 1h")
    if seconds <= 0:
        raise BudgetError(f"{option} {shown(text)}: a duration must be more than 0 seconds")
    return seconds


def _unit_left_out(value: str) -> str:
    """'; did you mean 1h30m?' for `1h30` (`2m30`: 2m30s), as a clock is read: the number after
    the last unit counts in the next smaller one. Else nothing."""
    if not re.fullmatch(r"(?:\d+(?:\.\d+)?[smh])+\d+(?:\.\d+)?", value):
        return ""
    smaller = {"h": "m", "m": "s"}.get(re.findall(r"[smh]", value)[-1])
    return f"; did you mean {value}{smaller}?" if smaller else ""


def seconds_given(value: object, name: str, bare_seconds: bool = False) -> float:
    """Seconds in a duration passed from Python: a number of seconds, or a string read as the CLI
    reads it (`parse_duration`), so `auto(..., "15m")` is `attentext auto ... --budget 15m`.
    Another type is a TypeError, a bad value a BudgetError, each one line naming `name`."""
    if isinstance(value, str):
        return parse_duration(value, name, bare_seconds)
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(
            f"{name} must be a number of seconds or a duration such as 90s, 10m or 1h, "
            f"not {type(value).__name__}"
        )
    if not math.isfinite(value) or value <= 0:
        raise BudgetError(f"{name} {float(value):g}: give a finite number of seconds, more than 0")
    return float(value)


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def format_duration(seconds: float) -> str:
    """`42 s`, `4 min 10 s`, `1 h 05 min`: what a progress line shows."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    if seconds < 3600:
        minutes, rest = divmod(round(seconds), 60)
        return f"{minutes} min {rest:02d} s"
    hours, rest = divmod(round(seconds), 3600)
    return f"{hours} h {rest // 60:02d} min"


def compact_duration(seconds: float) -> str:
    """A duration as a user would type it back: `1s`, `90s`, `10m`, `1h30m`, `2.5s`."""
    if seconds < 60 or seconds % 60:
        return f"{seconds:g}s"
    minutes = round(seconds / 60)
    hours, minutes = divmod(minutes, 60)
    return (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
