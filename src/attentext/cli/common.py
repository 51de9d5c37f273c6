"""What the commands share: the consoles, common options, quieting libraries, report tables.

Command modules import their heavy libraries inside the command, so `attentext --help` and a
mistyped option answer at once.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from attentext.errors import AttentextError
from attentext.rendering import CLASS_NOUNS, LABEL_NOUNS, interval_text, printable, shown_classes


class TerminalConsole(Console):
    """The commands' console: what it prints is text, never rich markup (a label or a run folder
    named `[/bold]` was a MarkupError traceback, one named `[red]` vanished), and a string's
    control characters show escaped (`\\x1b`, `\\u202e`): a label holding `\\x1b[2J` cleared the
    terminal. Tabs and line breaks of a line's own layout stay; table cells take `cell`."""

    def print(self, *objects: Any, **options: Any) -> None:
        shown = (printable(o, keep="\t\n") if isinstance(o, str) else o for o in objects)
        super().print(*shown, **options)


out = TerminalConsole(markup=False)
err = TerminalConsole(stderr=True, markup=False)


def argument_texts(texts: list[str]) -> list[str]:
    """Texts given as arguments, as the terminal sent them. Where the locale's encoding is not
    UTF-8 (LC_ALL=C with PYTHONUTF8=0: ASCII), Python reads argv's bytes
    over 0x7f as lone surrogates (U+DC80-U+DCFF, its `surrogateescape`): `predict RUN '東京'`
    was refused as "not valid Unicode: ... an unpaired surrogate (U+DCE6)", blaming the text.
    Those bytes are read again as UTF-8 where they are that; bytes that are not UTF-8 either
    (Latin-1 typed on a terminal set so) are one line naming the byte and what to do, where
    they were "an unpaired surrogate" of the text."""
    return [_as_sent(text, number) for number, text in enumerate(texts, start=1)]


def _as_sent(text: str, number: int) -> str:
    if not any("\udc80" <= character <= "\udcff" for character in text):
        return text
    try:
        sent = os.fsencode(text)
    except UnicodeError:  # a real character beside the surrogates: not argv's bytes
        return text
    try:
        return sent.decode("utf-8")
    except UnicodeDecodeError as error:
        byte = sent[error.start]
        raise AttentextError(
            f"text {number}: byte 0x{byte:02X} is neither UTF-8 nor {sys.getfilesystemencoding()} "
            "(the locale's encoding): the terminal sends another encoding, Latin-1 perhaps; set "
            "a UTF-8 locale (export LC_ALL=C.UTF-8), or save the texts in a file and give "
            "--input FILE --encoding latin-1"
        ) from None


def cell(value: Any) -> str:
    """A user's string (a label, a run folder, a path) as one table cell or title: one line,
    every control character escaped, so that a label holding a line break is not two rows."""
    return printable(value)


def bold(value: Any) -> Text:
    """`value` in bold, as text (the console reads no markup)."""
    return Text(printable(value), style="bold")


DataOption = Annotated[
    str,
    typer.Option("--data", "-d", help="Folder (train/test files), data file, or HF dataset name."),
]
LabelPriorOption = Annotated[
    str | None,
    typer.Option(
        help="train or balanced: the label shares the probabilities assume; balanced divides the "
        "training split's out (for texts where every label is as likely)."
    ),
]
EpochsOption = Annotated[
    float | None,
    typer.Option(
        help="Training epochs (default: the recipe's; `auto` in seed-transformer, attention-rnn "
        "and encoder-finetune: epochs making about training.auto_steps steps on this data)."
    ),
]
MaxStepsOption = Annotated[
    int | None,
    typer.Option(
        help="Train this many optimizer steps (overrides --epochs; early stopping may end the run "
        "sooner)."
    ),
]
BackendOption = Annotated[
    str,
    typer.Option(
        help="Inference engine: torch, onnx or onnx-int8 (ONNX Runtime on the files "
        "`attentext export RUN_DIR --format onnx [--int8]` wrote)."
    ),
]


# Read by the libraries when they are imported: their warnings and bars ("Loading weights",
# "Map") stay off the user's terminal; the Trainer's and attentext's own progress bars stay.
# The Rust tokenizer keeps its threads (TOKENIZERS_PARALLELISM unset): with them off, tokenizing
# was about half of a seed transformer's `predict` time on 2 cores, and the command ran at 0.76x
# the in-process speed measured with them on (benchmarks/batch_predict.py). attentext forks no
# process after tokenizing (its workers are spawned), so the library's fork warning stays away.
QUIET_ENVIRONMENT = {
    "TRANSFORMERS_VERBOSITY": "error",
    "DATASETS_VERBOSITY": "error",
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
}


def quiet_libraries() -> None:
    """Keep transformers/datasets chatter out of the user's terminal, without importing them.

    Libraries imported later read the environment; ones already imported (a command run in-process
    by a test or a notebook) are told directly. huggingface_hub imported alone (by datasets, as
    `serve` checks its runs) had read no environment yet, and transformers imported after it
    takes its bars from it: "Loading weights" was drawn in `serve`'s log.
    """
    for name, value in QUIET_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    if "huggingface_hub.utils" in sys.modules:  # its bars read the environment when imported
        sys.modules["huggingface_hub.utils"].disable_progress_bars()
    if "transformers" in sys.modules:
        transformers = sys.modules["transformers"]
        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
    if "datasets" in sys.modules:
        datasets = sys.modules["datasets"]
        datasets.logging.set_verbosity_error()
        datasets.disable_progress_bars()


def per_class_table(report: dict[str, Any], title: str) -> tuple[Table, str]:
    """Precision, recall, F1 and support per class, and what it says of the classes it leaves
    out (`rendering.shown_classes`: the classes of most texts, past TABLE_CLASSES)."""
    several = report.get("problem_type") == "multi_label"
    rows, rest = shown_classes(report["per_class"], nouns=LABEL_NOUNS if several else CLASS_NOUNS)
    table = Table(title=cell(title))
    for column in ("class", "precision", "recall", "f1", "support"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for name, row in rows:
        table.add_row(
            cell(name),
            f"{row['precision']:.3f}",
            f"{row['recall']:.3f}",
            f"{row['f1']:.3f}",
            str(row["support"]),
        )
    return table, rest


def show_report(report: dict[str, Any], title: str) -> None:
    """The headline figures and the per-class table; a multi-label run's headline names its own
    (subset accuracy, micro-, macro- and samples-F1, Hamming loss), as its metrics.json does."""
    if report.get("problem_type") == "multi_label":
        headline = Text.assemble(
            bold(title),
            ": micro-F1 ",
            bold(f"{report['micro_f1']:.4f}"),
            f", macro-F1 {report['macro_f1']:.4f}, samples-F1 {report['samples_f1']:.4f}, "
            f"subset accuracy {report['accuracy']:.4f}, Hamming loss "
            f"{report['hamming_loss']:.4f}, {report['n_examples']} examples",
        )
    else:
        headline = Text.assemble(
            bold(title),
            ": accuracy ",
            bold(f"{report['accuracy']:.4f}"),
            interval_text(report.get("accuracy_interval")),
            f", macro-F1 {report['macro_f1']:.4f}, {report['n_examples']} examples",
        )
    out.print(headline)
    table, rest = per_class_table(report, title)
    out.print(table)
    if rest:
        out.print(f"Shown: {rest}.")
