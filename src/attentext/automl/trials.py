"""The record of a search: one `TrialRecord` per trial, a progress line as each ends, and the
table of all of them (trials.md for people, trials.json for scripts) in the output folder."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from attentext.automl.budget import format_duration
from attentext.automl.spaces import shown_values
from attentext.files import write_json, write_text
from attentext.rendering import markdown_text

TRIALS_MD = "trials.md"
TRIALS_JSON = "trials.json"  # written at the start and after each trial: the folder's record
COMPLETE, PRUNED, FAILED = "complete", "pruned", "failed"


@dataclass
class TrialRecord:
    """One trial: its settings, how it ended, its validation metric (the last one reported,
    for a pruned trial), its seconds and epochs, a note (where it was pruned, why it failed,
    that the timeout cut it), and the metric of each evaluation in order (`intermediate`: what
    the pruner compares later trials with, told to the study again by `tune --resume`; a
    trials.json written before it was recorded reads as none)."""

    number: int
    values: dict[str, Any]
    state: str
    metric: float | None
    seconds: float
    epochs: float | None = None
    note: str = ""
    best: bool = False
    intermediate: list[float] = field(default_factory=list)


def progress_line(record: TrialRecord, total: int, metric: str) -> str:
    """One line as a trial ends, e.g.
    `trial 3/8  learning_rate=0.003 dropout=0.27  validation accuracy 0.6812  4.1 s  pruned (at
    epoch 2)`."""
    value = "-" if record.metric is None else f"{record.metric:.4f}"
    state = "" if record.state == COMPLETE else f"  {record.state}"
    note = f" ({record.note})" if record.note else ""
    return (
        f"trial {record.number}/{total}  {shown_values(record.values)}  validation {metric} "
        f"{value}  {format_duration(record.seconds)}{state}{note}"
    )


def trials_markdown(records: list[TrialRecord], metric: str, title: str) -> str:
    """A table, one row per trial in order, the best one in bold. What the user named (the
    recipe, the data, a searched value, a note quoting either) is escaped for Markdown: a
    value `a|b` split its row, a `<script>` was raw HTML (round 6)."""
    names = list(dict.fromkeys(path for record in records for path in record.values))
    header = ["trial", *names, f"validation {metric}", "epochs", "seconds", "state", "note"]
    header = [markdown_text(name) for name in header]
    lines = [
        f"# {markdown_text(title)}",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for record in records:
        cells = [
            str(record.number),
            *(_cell(record.values.get(name)) for name in names),
            "-" if record.metric is None else f"{record.metric:.4f}",
            "-" if record.epochs is None else f"{record.epochs:g}",
            f"{record.seconds:.1f}",
            record.state,
            markdown_text(record.note),
        ]
        if record.best:
            cells = [f"**{cell}**" if cell else cell for cell in cells]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:.4g}" if isinstance(value, float) else markdown_text(value)


def write_trials(
    folder: Path, records: list[TrialRecord], metric: str, facts: dict[str, Any]
) -> None:
    """trials.md and trials.json in `folder` (each written whole: a reader never sees half)."""
    title = f"Trials of {facts.get('recipe', 'a recipe')} on {facts.get('data', 'the data')}"
    write_text(folder / TRIALS_MD, trials_markdown(records, metric, title))
    write_json(folder / TRIALS_JSON, {**facts, "trials": [asdict(r) for r in records]})
