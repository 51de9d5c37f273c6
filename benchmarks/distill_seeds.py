"""Benchmark summary: distilled students over seeds, from `distill.py`'s saved results.

One `distill.py` call trains one student recipe from scratch and distilled, at one seed; between
seeds the same student moves by up to a point on AG News (the noisy copies, the initialisation
and the epoch early stopping keeps all change with `training.seed`), so settings are compared by
their mean over seeds, never one run. Each `--case LABEL=SECTION,SECTION,...` names the results
of one setting at several seeds (results/<SECTION>.json, each from `distill.py ... --section
SECTION --set training.seed=S`); the table gives, per case, each seed's test accuracy of the
scratch and the distilled run, their mean and standard deviation, and the distilled runs' mean
calibrated ECE, texts/s and size.

    python benchmarks/distill_seeds.py --section distill_blocks \\
        --case "1 block, words=s52_seed_b1,s52_seed_b1_s1,s52_seed_b1_s2" \\
        --case "2 blocks, words=s52_seed_b2,s52_seed_b2_s1,s52_seed_b2_s2"
"""

from __future__ import annotations

import argparse
import json
import statistics
from typing import Any

from common import RESULTS, markdown_table, publish


def student_rows(section: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(the saved payload, its scratch row, its last distilled row) of one `distill.py` result."""
    payload = json.loads((RESULTS / f"{section}.json").read_text(encoding="utf-8"))
    scratch = next(r for r in payload["results"] if r["run"].endswith("(scratch)"))
    student = scratch["run"].removesuffix(" (scratch)")
    distilled = [r for r in payload["results"] if r["run"].startswith(f"{student} (distilled")]
    if not distilled:
        raise SystemExit(f"{section}: no distilled run of {student}")
    return payload, scratch, distilled[-1]


def seed_of(payload: dict[str, Any]) -> int:
    """The training seed the run was made with: its `--set training.seed=S`, else the recipe's 42."""
    sets = dict(s.split("=", 1) for s in payload.get("student_sets", []))
    return int(sets.get("training.seed", 42))


def spread(values: list[float]) -> str:
    """Mean ± standard deviation; one value alone has no spread to state."""
    mean = statistics.fmean(values)
    return f"{mean:.4f} ± {statistics.stdev(values):.4f}" if len(values) > 1 else f"{mean:.4f}"


def teacher_of(payload: dict[str, Any]) -> str:
    """The run that taught, and its test accuracy, as a table cell."""
    row = next(r for r in payload["results"] if r["run"] == "teacher")
    return f"`{payload['teacher']}` ({row['test_accuracy']:.4f})"


def case_row(label: str, sections: list[str]) -> dict[str, Any]:
    found = [student_rows(s) for s in sections]
    seeds = [seed_of(payload) for payload, _, _ in found]
    scratch = [row["test_accuracy"] for _, row, _ in found]
    distilled = [row["test_accuracy"] for _, _, row in found]
    return {
        "case": label,
        "teacher": " / ".join(dict.fromkeys(teacher_of(payload) for payload, _, _ in found)),
        "seeds": ", ".join(map(str, seeds)),
        "scratch": " / ".join(f"{a:.4f}" for a in scratch),
        "scratch_mean": spread(scratch),
        "distilled": " / ".join(f"{a:.4f}" for a in distilled),
        "distilled_mean": spread(distilled),
        "ece": round(statistics.fmean(row["ece_after"] for _, _, row in found), 4),
        "texts_per_s": float(round(statistics.fmean(r["texts_per_second"] for _, _, r in found))),
        "size_mb": found[0][2]["size_mb"],
        "sections": sections,
    }


COLUMNS = [
    ("case", "student"),
    ("seeds", "seeds"),
    ("scratch", "scratch, each seed"),
    ("scratch_mean", "scratch mean ± sd"),
    ("distilled", "distilled, each seed"),
    ("distilled_mean", "distilled mean ± sd"),
    ("ece", "ECE calibrated (mean)"),
    ("texts_per_s", "texts/s (mean)"),
    ("size_mb", "MB"),
]


def render(payload: dict[str, Any]) -> str:
    """The table; where the rows had different teachers, a column names each row's (payloads
    made before that column existed had one teacher, named above the table)."""
    m = payload["machine"]
    rows = payload["results"]
    teachers = {row.get("teacher") for row in rows}
    columns = COLUMNS[:1] + [("teacher", "teacher (test acc)")] + COLUMNS[1:]
    said = (
        f"teacher `{payload['teacher']}`"
        if len(teachers) == 1
        else "each row's teacher named in it"
    )
    return (
        f"{m['cpu']} ({m.get('cpu_capabilities', '')}), {m['cores']} cores; {said}; each row's "
        "runs from `distill.py` (results/<section>.json: "
        f"{'; '.join(', '.join(r['sections']) for r in rows)}).\n\n"
        + markdown_table(rows, COLUMNS if len(teachers) == 1 else columns)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--case", action="append", required=True, help="LABEL=SECTION,SECTION,... (one per seed)"
    )
    parser.add_argument("--section", default="distill_seeds", help="results and README section")
    args = parser.parse_args()
    rows = []
    for case in args.case:
        label, _, sections = case.partition("=")
        rows.append(case_row(label, sections.split(",")))
    first, _, _ = student_rows(rows[0]["sections"][0])  # the machine and teacher of them all
    payload = {
        "benchmark": args.section,
        "machine": first["machine"],
        "teacher": first["teacher"],
        "results": rows,
    }
    publish(args.section, payload, render)


if __name__ == "__main__":
    main()
