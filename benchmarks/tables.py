"""Rewrite the tables in benchmarks/README.md from the JSON in benchmarks/results/, running nothing.

Each benchmark module names its README section(s) (`SECTION`, or `SECTIONS` for several) and
turns a results payload into the section's text with `render(payload)`. The payload is
`results/<section>.json`, or what the module's `payload_for(section)` gathers (serve_load merges
one file per backend). A section without results, without `render`, or without its
`<!-- name:start -->` / `<!-- name:end -->` markers in the README is skipped with a message.

    python benchmarks/tables.py                 # rewrite every section that has results
    python benchmarks/tables.py --check         # show what would change; write nothing
    python benchmarks/tables.py --only growth,memory
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import json
import re
import sys
import traceback
from typing import Any

from common import README, RESULTS, replace_section

# In the order of the README and of `make bench`.
MODULES = [
    "startup",
    "seed_transformer",
    "seed_keras",
    "breakdown",
    "encoders",
    "serve_load",
    "export_parity",
    "memory",
    "growth",
    "distributed",
    "distill",
    "student_ensembles",
    "calibration_bound",
    "multilabel",
    "batch_predict",
    "long_documents",
    "train_scale",
    "gpu_check",
    "fewshot",
    "fewshot_selftraining",
    "fewshot_tfidf_member",
    "suite",
    "stability",
]


def current_section(name: str) -> str | None:
    """The README text between the section's markers, or None when the markers are missing."""
    text = README.read_text() if README.exists() else ""
    match = re.search(
        re.escape(f"<!-- {name}:start -->") + "\n?(.*?)\n?" + re.escape(f"<!-- {name}:end -->"),
        text,
        flags=re.S,
    )
    return match.group(1) if match else None


def payload_of(module: Any, section: str) -> dict[str, Any] | None:
    if hasattr(module, "payload_for"):
        return module.payload_for(section)
    path = RESULTS / f"{section}.json"
    return json.loads(path.read_text()) if path.exists() else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated section names")
    parser.add_argument("--check", action="store_true", help="print the diffs; write nothing")
    args = parser.parse_args()
    only = {name.strip() for name in args.only.split(",") if name.strip()}
    changed = failed = 0
    for module_name in MODULES:
        try:
            module = importlib.import_module(module_name)
        except Exception as error:  # one broken module must not stop the others
            print(f"{module_name}: skipped, import failed ({type(error).__name__}: {error})")
            failed += 1
            continue
        sections = getattr(module, "SECTIONS", None) or (
            [module.SECTION] if hasattr(module, "SECTION") else [module_name]
        )
        for section in sections:
            if only and section not in only:
                continue
            if not hasattr(module, "render"):
                print(f"{section}: skipped, {module_name}.py has no render(payload)")
                continue
            payload = payload_of(module, section)
            if payload is None:
                print(f"{section}: skipped, no results (run benchmarks/{module_name}.py)")
                continue
            current = current_section(section)
            if current is None:
                print(f"{section}: skipped, no <!-- {section}:start/end --> markers in README.md")
                continue
            try:
                text = render_section(module, payload)
            except Exception:
                print(f"{section}: skipped, render failed:\n{traceback.format_exc()}")
                failed += 1
                continue
            if text == current:
                print(f"{section}: unchanged")
                continue
            changed += 1
            if args.check:
                print(f"{section}: would change:")
                diff = difflib.unified_diff(
                    current.splitlines(), text.splitlines(), "README.md", "rendered", lineterm=""
                )
                print("\n".join(diff))
            else:
                replace_section(section, text)
                print(f"{section}: rewritten")
    if args.check and changed:
        print(f"{changed} section(s) differ from their results")
    sys.exit(1 if failed or (args.check and changed) else 0)


def render_section(module: Any, payload: dict[str, Any]) -> str:
    return module.render(payload).strip("\n")


if __name__ == "__main__":
    main()
