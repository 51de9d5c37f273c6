"""Explanations as pictures: a PNG per text (attention heatmap and word-importance bars) and one
self-contained HTML page (inline CSS, no scripts, no external resources)."""

from __future__ import annotations

import html
import textwrap
import warnings
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from attentext.figures import figure_text
from attentext.interpret.explanation import Explanation
from attentext.rendering import printable, shortened

MAX_PLOT_TOKENS = 64  # heatmap and bar chart show the first 64 words, so labels stay readable
PNG_DPI = 100
# how explain knows its own files again in a folder (`explain.written_by_explain`)
HTML_TITLE = "attentext explanations"
PNG_SOFTWARE = "attentext explain"
TRANSFORMER_FIGSIZE = (10.0, 12.0)  # inches: heatmap above, importance bars below
RNN_FIGSIZE = (10.0, 4.0)  # inches: importance bars only
WINDOWS_FIGSIZE = (10.0, 7.0)  # inches: window weights above, importance bars below
HEADING_LABEL_CHARS = 120  # a label in an HTML heading: longer ones cut, whole in the tooltip
# the most probable labels a text's table on the page shows (with every label it was given);
# a row counts the rest: 2,000 labels made 2,000 rows a text, 1 MB a text for long label names
PAGE_LABELS = 20


def _tick_label(token: str, width: int = 18) -> str:
    """A token as a safe axis label: shortened, and `$` escaped so matplotlib does no mathtext."""
    return figure_text(token, width)


def _title(explanation: Explanation) -> str:
    p = explanation.probabilities[explanation.label]
    preview = " ".join(explanation.text.split())
    preview = preview if len(preview) <= 160 else preview[:157] + "..."
    shown = (
        f"{explanation.label} ({p:.3f})" if explanation.labels is None else explanation.summary()
    )
    head = f"{shown} - {explanation.method}"
    return (
        _tick_label(head, 200)
        + "\n"
        + "\n".join(_tick_label(line, 200) for line in textwrap.wrap(preview, 100))
    )


def render_png(explanation: Explanation, path: str | Path) -> Path:
    """One PNG: the word x word attention heatmap (transformers) and the word-importance bars.

    The figure size is fixed (TRANSFORMER_FIGSIZE or RNN_FIGSIZE at PNG_DPI) and only the first
    MAX_PLOT_TOKENS words are drawn.
    """
    path = Path(path)
    n = min(len(explanation.tokens), MAX_PLOT_TOKENS)
    labels = [_tick_label(t) for t in explanation.tokens[:n]]
    fontsize = 9 if n <= 24 else 7 if n <= 40 else 5.5
    with_matrix = explanation.attention is not None
    windows = explanation.windows() or []
    with_windows = not with_matrix and len(windows) > 1
    size = WINDOWS_FIGSIZE if with_windows else RNN_FIGSIZE
    figure = Figure(
        figsize=TRANSFORMER_FIGSIZE if with_matrix else size, dpi=PNG_DPI, layout="constrained"
    )
    figure.suptitle(_title(explanation), fontsize=9)
    if with_matrix:
        heat_ax, bar_ax = figure.subplots(2, 1, height_ratios=[3, 1])
    elif with_windows:
        window_ax, bar_ax = figure.subplots(2, 1)
        _plot_windows(window_ax, windows)
    else:
        bar_ax = figure.subplots(1, 1)
    shown = "" if n == len(explanation.tokens) else f" (first {n} of {len(explanation.tokens)})"
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing")  # e.g. CJK in DejaVu Sans
        if with_matrix:
            if n:
                # Colours span the matrix's own range (the colorbar gives the values): small
                # models attend almost uniformly, and a 0..max scale would show one flat colour.
                image = heat_ax.imshow(explanation.attention[:n, :n], cmap="viridis", aspect="auto")
                heat_ax.set_xticks(range(n), labels, rotation=90, fontsize=fontsize)
                heat_ax.set_yticks(range(n), labels, fontsize=fontsize)
                figure.colorbar(image, ax=heat_ax, shrink=0.8, label="attention")
            heat_ax.set_xlabel("attended word (key)")
            heat_ax.set_ylabel("attending word (query)")
            heat_ax.set_title(f"attention, {explanation.attention_source}{shown}", fontsize=9)
        if n:
            bar_ax.bar(range(n), explanation.importances[:n], color="tab:orange")
            uniform = 1.0 / len(explanation.tokens)
            bar_ax.axhline(uniform, color="gray", linestyle="--", linewidth=0.8)
            bar_ax.text(
                n - 0.5, uniform, " uniform", color="gray", fontsize=7, va="bottom", ha="right"
            )
            bar_ax.set_xticks(range(n), labels, rotation=90, fontsize=fontsize)
            bar_ax.set_xlim(-0.5, n - 0.5)
        else:
            bar_ax.text(0.5, 0.5, "no tokens", ha="center", va="center")
            bar_ax.set_xticks([])
        bar_ax.set_ylabel("importance")
        bar_ax.set_title(f"word importance{shown}", fontsize=9)
        figure.savefig(path, format="png", dpi=PNG_DPI, metadata={"Software": PNG_SOFTWARE})
    return path


def _plot_windows(axes: Any, windows: list[dict[str, Any]]) -> None:
    """Each window's weight in the decision, in reading order."""
    axes.bar(range(len(windows)), [w["weight"] for w in windows], color="tab:blue")
    axes.axhline(1.0 / len(windows), color="gray", linestyle="--", linewidth=0.8)
    axes.set_xlabel("window (in reading order)")
    axes.set_ylabel("weight")
    axes.set_title(f"which of the {len(windows)} windows decided", fontsize=9)


def _window_strip(explanation: Explanation) -> str:
    """A strip of the windows a long text was read as, darker where the window weighed more."""
    windows = explanation.windows() or []
    if len(windows) < 2:
        return ""
    top = max(w["weight"] for w in windows) or 1.0
    cells = "".join(
        f'<span class="win" style="background: rgba(74, 123, 208, {w["weight"] / top:.3f})" '
        f'title="characters {w["start"]}-{w["end"]}: weight {w["weight"]:.4f}"></span>'
        for w in windows
    )
    return (
        f'<p class="method">Read as {len(windows)} windows (darker: more weight in the '
        f'decision)</p><div class="windows">{cells}</div>'
    )


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 60em; padding: 0 1em; color: #222; }
section { border: 1px solid #ddd; border-radius: 6px; padding: 1em; margin-bottom: 1.5em; }
h2 { font-size: 1.1em; margin: 0 0 0.5em 0; overflow-wrap: anywhere; }
.method { color: #666; font-size: 0.85em; }
.text { line-height: 2; white-space: pre-wrap; overflow-wrap: anywhere; max-height: 24em;
        overflow-y: auto; border-top: 1px solid #eee; padding-top: 0.5em; }
.tok { border-radius: 3px; padding: 0.1em 0.05em; }
.cut { color: #aaa; }
table.probs { border-collapse: collapse; margin: 0.5em 0; }
table.probs td { padding: 0.1em 0.5em; font-size: 0.9em; }
.name { max-width: 24em; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.bar { background: #eee; width: 16em; height: 0.9em; }
.bar div { background: #4a7bd0; height: 100%; }
.best td { font-weight: bold; }
.windows { display: flex; gap: 1px; margin: 0.3em 0 0.8em 0; }
.win { flex: 1; min-width: 2px; height: 1.2em; border: 1px solid #ccd; }
"""


def _highlight(explanation: Explanation) -> str:
    """The text with each word's background proportional to its importance (max = opaque)."""
    top = float(explanation.importances.max()) if len(explanation.importances) else 0.0

    def span(token: str, importance: float) -> str:
        alpha = importance / top if top > 0 else 0.0
        return (
            f'<span class="tok" style="background: rgba(255, 140, 0, {alpha:.3f})" '
            f'title="{importance:.4f}">{html.escape(token)}</span>'
        )

    if not explanation.tokens:
        return f'<span class="cut">{html.escape(explanation.text) or "(empty text)"}</span>'
    if explanation.offsets is None:
        return " ".join(
            span(t, float(w))
            for t, w in zip(explanation.tokens, explanation.importances, strict=True)
        )
    parts, cursor = [], 0
    text = explanation.text
    for (start, end), importance in zip(explanation.offsets, explanation.importances, strict=True):
        if start < cursor:  # head+tail truncation jumps over the middle: mark the gap
            continue
        parts.append(html.escape(text[cursor:start]))
        parts.append(span(text[start:end], float(importance)))
        cursor = end
    if cursor < len(text):
        rest = text[cursor:]
        css = (
            ' class="cut" title="not read by the model (truncated)"'
            if explanation.truncated
            else ""
        )
        parts.append(f"<span{css}>{html.escape(rest)}</span>")
    return "".join(parts)


def _probability_table(explanation: Explanation) -> str:
    """A bar per label, most probable first: the PAGE_LABELS most probable and every label the
    text was given, then one row counting the others and their highest probability."""
    given = [explanation.label] if explanation.labels is None else explanation.labels
    ranked = sorted(explanation.probabilities.items(), key=lambda item: -item[1])
    kept = [(n, p) for i, (n, p) in enumerate(ranked) if i < PAGE_LABELS or n in given]
    rows = []
    for name, p in kept:
        best = ' class="best"' if name in given else ""
        shown = html.escape(printable(name))  # cut by the page's CSS, whole in its tooltip
        rows.append(
            f'<tr{best}><td><div class="name" title="{shown}">{shown}</div></td>'
            f'<td><div class="bar"><div style="width: {100 * p:.1f}%"></div></div></td>'
            f"<td>{p:.3f}</td></tr>"
        )
    if len(kept) < len(ranked):
        highest = max(p for i, (n, p) in enumerate(ranked) if i >= PAGE_LABELS and n not in given)
        rows.append(
            f'<tr class="rest"><td colspan="3">{len(ranked) - len(kept):,} more labels, '
            f"each at most {highest:.3f}</td></tr>"
        )
    return '<table class="probs">' + "".join(rows) + "</table>"


def _heading(explanation: Explanation) -> str:
    """The prediction, each label shown escaped and cut to HEADING_LABEL_CHARS (a 10,000-character
    label filled a screen), whole in the heading's tooltip."""
    whole = explanation.summary(printable)
    short = explanation.summary(lambda label: shortened(label, HEADING_LABEL_CHARS))
    if explanation.labels is None:  # `Sports (0.912)`
        p = explanation.probabilities[explanation.label]
        whole = f"{printable(explanation.label)} ({p:.3f})"
        short = f"{shortened(explanation.label, HEADING_LABEL_CHARS)} ({p:.3f})"
    return f'<span title="{html.escape(whole)}">{html.escape(short)}</span>'


def render_html(explanations: list[Explanation]) -> str:
    """One self-contained page (inline CSS, no scripts, no external resources) for all texts."""
    sections = []
    for i, explanation in enumerate(explanations):
        sections.append(
            f'<section id="text-{i}">'
            f"<h2>Text {i}: {_heading(explanation)}</h2>"
            f"{_probability_table(explanation)}"
            f'<p class="method">Importance: {html.escape(explanation.method)}'
            f"{' (text truncated)' if explanation.truncated else ''}</p>"
            f"{_window_strip(explanation)}"
            f'<div class="text">{_highlight(explanation)}</div>'
            "</section>"
        )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{HTML_TITLE}</title><style>{_CSS}</style></head><body>"
        "<h1>attentext explanations</h1>" + "".join(sections) + "</body></html>\n"
    )
