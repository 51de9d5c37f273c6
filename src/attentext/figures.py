"""Text in matplotlib figures (the confusion matrix, the per-label chart, compare's plots,
explain's PNGs): a user's string drawn as written, whatever it holds.

Imports matplotlib: only the modules that draw import it.
"""

from __future__ import annotations

from functools import lru_cache

from matplotlib import font_manager
from matplotlib.ft2font import FT2Font

from attentext.rendering import printable, shortened


@lru_cache(maxsize=1)
def _drawable() -> frozenset[int]:
    """The characters the figures' font has a glyph for (DejaVu Sans unless the user's
    matplotlibrc names another)."""
    path = font_manager.findfont(font_manager.FontProperties())
    return frozenset(FT2Font(path).get_charmap())


def figure_text(value: object, width: int = 40) -> str:
    """`value` as text in a figure (a tick label, a title, a point's name): one line, at most
    `width` characters (`rendering.shortened`: start and end kept, so that long labels that
    differ at the end stay apart), each `$` escaped (matplotlib reads the text between two as
    mathtext: `$x^2$` drew as x², `$\\frac{$` raised a ParseException), and each character the
    font cannot draw written as its escape (Chinese labels were empty boxes, every one alike,
    with a warning per character)."""
    drawable = _drawable()
    text = "".join(
        ch if ord(ch) in drawable or ch == " " else ascii(ch)[1:-1] for ch in printable(value)
    )
    return shortened(text, width).replace("$", r"\$")
