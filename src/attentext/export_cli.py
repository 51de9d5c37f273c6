"""`attentext export`: write a run directory's model as ONNX (and int8 ONNX) for ONNX Runtime."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from attentext.errors import AttentextError

FORMATS = ("onnx",)


def _size(path: Path) -> str:
    size = path.stat().st_size
    return f"{size / 2**20:.1f} MiB" if size >= 2**20 else f"{size / 2**10:.1f} KiB"


def export(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (a neural model; not TF-IDF).")],
    format: Annotated[
        str, typer.Option("--format", "-f", help="Export format; onnx is the one there is.")
    ] = "onnx",
    int8: Annotated[
        bool,
        typer.Option(
            "--int8",
            help="Also write model.int8.onnx: int8 weights (dynamic quantization), ~4x smaller.",
        ),
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Folder to write to (default RUN_DIR/onnx, where --backend onnx looks).",
        ),
    ] = None,
) -> None:
    """Export a run's model to ONNX, checked against PyTorch, for `--backend onnx` / `onnx-int8`."""
    if format not in FORMATS:
        raise AttentextError(
            f"unknown export format '{format}'; choose one of {', '.join(FORMATS)}"
        )
    from attentext.cli import _quiet_libraries

    _quiet_libraries()
    from attentext.export import INFO_FILE, export_onnx

    folder = export_onnx(run_dir, output=output, int8=int8)
    info = json.loads((folder / INFO_FILE).read_text(encoding="utf-8"))
    for name in info["files"]:
        typer.echo(f"wrote {folder / name} ({_size(folder / name)})")
    typer.echo(
        f"ONNX opset {info['opset']}; max |ONNX - PyTorch| logit difference "
        f"{info['parity_max_abs_diff']:.2g} on a check batch (tolerance "
        f"{info['parity_tolerance']['atol']:g} + {info['parity_tolerance']['rtol']:g} * |logit|)"
    )
