"""`attentext predict`: labels and probabilities of texts, from arguments or a file.

One output per text, in order. A blank line (or an empty text) of `--input` is not classified: it
gets an explicit empty result (JSON `"label": null, "score": null, "top_k": []`; in plain text
`-<TAB>(row N is empty: not classified)`), so that outputs line up with the input's lines. A text
given as an argument is always classified, even empty: the user asked for it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from attentext.cli.common import BackendOption, out, quiet_libraries
from attentext.errors import AttentextError


def predict_command(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    texts: Annotated[list[str] | None, typer.Argument(help="Texts to classify.")] = None,
    input_file: Annotated[
        Path | None,
        typer.Option(
            "--input",
            "-i",
            help="File of texts: one per line (\\n, \\r\\n or \\r line ends), or a data file with "
            "a text column. A blank line gets an empty, unclassified result.",
        ),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    top_k: Annotated[int, typer.Option(help="Labels shown per text.")] = 1,
    backend: BackendOption = "torch",
) -> None:
    """Classify texts: the label name and its probability for each."""
    quiet_libraries()
    from attentext.data.texts import read_input
    from attentext.inference.classifier import load
    from attentext.inference.ranking import top_labels

    items = list(texts or [])
    skipped: dict[int, int] = {}  # index in items -> row of --input, for texts not classified
    if input_file is not None:
        raw = read_input(input_file)
        skipped = {
            len(items) + i: row
            for i, (text, row) in enumerate(zip(raw.texts, raw.rows, strict=True))
            if not text.strip()
        }
        items += raw.texts
    if not items:
        raise AttentextError("no texts to classify; pass TEXT arguments or --input FILE")
    if top_k < 1:
        raise AttentextError(f"--top-k must be at least 1, got {top_k}")
    classifier = load(run_dir, backend=backend)
    wanted = [text for i, text in enumerate(items) if i not in skipped]
    rows = iter(classifier.predict_proba(wanted))
    for i, text in enumerate(items):
        if i in skipped:
            _show_empty(text, skipped[i], json_output)
            continue
        ranked = [
            {"label": label, "score": score}
            for label, score in top_labels(next(rows), classifier.labels, top_k)
        ]
        _show(text, ranked, json_output)


def _show(text: str, ranked: list[dict], json_output: bool) -> None:
    if json_output:
        line = {"text": text, "label": ranked[0]["label"], "score": ranked[0]["score"]}
        print(json.dumps({**line, "top_k": ranked}))
    else:
        shown = ", ".join(f"{r['label']} {r['score']:.3f}" for r in ranked)
        preview = text if len(text) <= 60 else text[:57] + "..."
        out.print(f"{shown}\t{preview}", markup=False, highlight=False)


def _show_empty(text: str, row: int, json_output: bool) -> None:
    """An empty line or row of --input: an explicit result in its place, not a classification."""
    if json_output:
        print(json.dumps({"text": text, "label": None, "score": None, "top_k": []}))
    else:
        out.print(f"-\t(row {row} is empty: not classified)", markup=False, highlight=False)
