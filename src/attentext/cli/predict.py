"""`attentext predict`: labels and probabilities of texts, from arguments or a file."""

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
            "--input", "-i", help="File of texts: one per line, or a data file with a text column."
        ),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    top_k: Annotated[int, typer.Option(help="Labels shown per text.")] = 1,
    backend: BackendOption = "torch",
) -> None:
    """Classify texts: the label name and its probability for each."""
    quiet_libraries()
    from attentext.data.texts import load_texts
    from attentext.inference.classifier import load
    from attentext.inference.ranking import top_labels

    items = list(texts or [])
    if input_file is not None:
        items += load_texts(input_file)
    if not items:
        raise AttentextError("no texts to classify; pass TEXT arguments or --input FILE")
    if top_k < 1:
        raise AttentextError(f"--top-k must be at least 1, got {top_k}")
    classifier = load(run_dir, backend=backend)
    for text, row in zip(items, classifier.predict_proba(items), strict=True):
        ranked = [
            {"label": label, "score": score}
            for label, score in top_labels(row, classifier.labels, top_k)
        ]
        if json_output:
            line = {"text": text, "label": ranked[0]["label"], "score": ranked[0]["score"]}
            print(json.dumps({**line, "top_k": ranked}))
        else:
            shown = ", ".join(f"{r['label']} {r['score']:.3f}" for r in ranked)
            preview = text if len(text) <= 60 else text[:57] + "..."
            out.print(f"{shown}\t{preview}", markup=False, highlight=False)
