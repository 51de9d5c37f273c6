"""`attentext explain`: the model's attention over each text, as PNG heatmaps and an HTML page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from attentext.cli.common import argument_texts, out, quiet_libraries
from attentext.outputs import check_output_folder
from attentext.rendering import shortened

LINE_NAME_CHARS = 80  # a label or word on explain's line: longer ones cut
MethodOption = Annotated[
    str,
    typer.Option(
        help="attention: what the model attended to (n-grams for tfidf-logreg); occlusion: how "
        "far the label's log-odds fall with each word left out (any run, ensembles too; one "
        "prediction per word).",
    ),
]

OutputOption = Annotated[
    Path,
    typer.Option(
        "--output",
        "-o",
        help="Folder for explanation-N.png (N from 0) and explanation.html. The explanation "
        "files an earlier explain wrote there are replaced, so that the folder shows "
        "this call's texts only; other files are left as they are.",
    ),
]
OverwriteOption = Annotated[
    bool,
    typer.Option(
        "--overwrite",
        help="Replace an explanation.html or explanation-N.png in --output that explain did "
        "not write (without it, such a file is refused: it is yours).",
    ),
]


def explain_command(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    texts: Annotated[list[str], typer.Argument(help="Texts to explain.")],
    output: OutputOption = Path("explanations"),
    overwrite: OverwriteOption = False,
    format: Annotated[
        str,
        typer.Option(
            "--format", "-f", help="png (heatmap + bars per text), html (one page) or both."
        ),
    ] = "both",
    layer: Annotated[
        int, typer.Option(help="Attention layer shown in the heatmap (0 = first, -1 = last).")
    ] = -1,
    head: Annotated[
        int | None,
        typer.Option(help="Attention head shown in the heatmap (default: the mean over heads)."),
    ] = None,
    method: MethodOption = "attention",
) -> None:
    """Show which words each prediction attended to: importance per word, attention heatmaps."""
    check_output_folder(output)
    quiet_libraries()
    from attentext.interpret.explain import HTML_FILE, explain

    explanations = explain(
        run_dir,
        argument_texts(texts),
        output,
        fmt=format,
        layer=layer,
        head=head,
        method=method,
        overwrite=overwrite,
    )
    written = []
    if format in ("png", "both"):
        written.append(f"{len(explanations)} PNG file(s) explanation-<i>.png")
    if format in ("html", "both"):
        written.append(HTML_FILE)
    out.print(
        f"Wrote {' and '.join(written)} to {output}", markup=False, highlight=False, soft_wrap=True
    )
    for i, explanation in enumerate(explanations):
        top = ", ".join(
            f"{_short(token)} {weight:.2f}" for token, weight in explanation.top_tokens(5)
        )
        out.print(
            f"[{i}] {explanation.summary(_short)}\ttop: {top or '(no tokens)'}"
            f"{_windows(explanation)}{_cut(explanation)}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )


def _cut(explanation: Any) -> str:
    """Where the model read only the start of a long text: how much, as the HTML page marks the
    rest "not read by the model". The line told nothing of it (10,000 words, 256 read)."""
    if not explanation.truncated:
        return ""
    read = max((end for _, end in explanation.offsets or []), default=0)
    return f"\t(cut: the model read the first {read:,} of its {len(explanation.text):,} characters)"


def _short(name: str) -> str:
    """A label or word on explain's one line per text: escaped (`printable`), a long one cut to
    LINE_NAME_CHARS, its start and end kept (a 10,000-character label was a 10,000-character
    line)."""
    return shortened(name, LINE_NAME_CHARS)


def _windows(explanation: Any) -> str:
    """For a text read in several windows: how many, and the one that weighed most."""
    windows = explanation.windows() or []
    if len(windows) < 2:
        return ""
    best = max(range(len(windows)), key=lambda k: windows[k]["weight"])
    chosen = windows[best]
    return (
        f"\t{len(windows)} windows, heaviest #{best} (characters {chosen['start']}-"
        f"{chosen['end']}, weight {chosen['weight']:.2f})"
    )
