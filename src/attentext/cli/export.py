"""`attentext export`: write a run directory's model as ONNX (and int8 ONNX) for ONNX Runtime."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from attentext.cli.common import quiet_libraries
from attentext.errors import AttentextError, did_you_mean, shown
from attentext.outputs import check_export_folder

FORMATS = ("onnx",)
CHECK_TEXTS = 1024  # texts of --data the int8 check reads at most, by default


def _int8_only(data: Path | None, check_texts: int, force_int8: bool) -> str | None:
    """The first option given that only the int8 export reads: without --int8 it was ignored
    without a word (a docs audit found `--data` so)."""
    given = {
        "--data": data is not None,
        "--check-texts": check_texts != CHECK_TEXTS,
        "--force-int8": force_int8,
    }
    return next((name for name, used in given.items() if used), None)


def _size(path: Path) -> str:
    size = path.stat().st_size
    return f"{size / 2**20:.1f} MiB" if size >= 2**20 else f"{size / 2**10:.1f} KiB"


def export_command(
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
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            "-d",
            help="Texts that check int8 against fp32 (a data folder, data file or one text per "
            "line; up to --check-texts of them). Without it, random token sequences.",
        ),
    ] = None,
    check_texts: Annotated[
        int, typer.Option(help="Most texts of --data used for the int8 check.")
    ] = CHECK_TEXTS,
    force_int8: Annotated[
        bool,
        typer.Option(
            help="Accept the int8 model even if its labels agree with fp32 on fewer than 99 % "
            "of the check texts (else --backend onnx-int8 refuses it)."
        ),
    ] = False,
) -> None:
    """Export a run's model to ONNX, checked against PyTorch, for `--backend onnx` / `onnx-int8`."""
    if format not in FORMATS:
        raise AttentextError(
            f"unknown export format '{shown(format)}'{did_you_mean(shown(format), FORMATS)}"
        )
    if output is not None:
        check_export_folder(output)
    quiet_libraries()
    from attentext.data.texts import sample_texts
    from attentext.export.onnx import export_onnx
    from attentext.rundir import ONNX_INFO_FILE

    if check_texts < 1:
        raise AttentextError(f"--check-texts must be at least 1, got {check_texts}")
    if not int8 and (given := _int8_only(data, check_texts, force_int8)):
        raise AttentextError(f"{given} checks the int8 model against fp32; add --int8")
    texts = sample_texts(data, check_texts) if data is not None and int8 else None
    folder = export_onnx(
        run_dir, output=output, int8=int8, check_texts=texts, force_int8=force_int8
    )
    info = json.loads((folder / ONNX_INFO_FILE).read_text(encoding="utf-8"))
    for name in info["files"]:
        typer.echo(f"wrote {folder / name} ({_size(folder / name)})")
    typer.echo(
        f"ONNX opset {info['opset']}; max |ONNX - PyTorch| logit difference "
        f"{info['parity_max_abs_diff']:.2g} on a check batch (tolerance "
        f"{info['parity_tolerance']['atol']:g} + {info['parity_tolerance']['rtol']:g} * |logit|)"
    )
    report = info.get("int8")
    if report:
        settings = ", ".join(f"{k}={v}" for k, v in report["settings"].items())
        typer.echo(
            f"int8 ({settings}): labels agree with fp32 on {100 * report['label_agreement']:.2f} % "
            f"of {report['check']}"
        )
        if not report["accepted"]:
            typer.echo(
                f"warning: under the {100 * report['min_agreement']:.0f} % required, so "
                "--backend onnx-int8 will refuse this int8 model; --force-int8 accepts it",
                err=True,
            )
