"""benchmarks/README.md's published tables: each section between one pair of markers.

`benchmarks/common.py:replace_section` rewrites every `<!-- name:start -->...<!-- name:end -->`
block with the newest table; a section pasted twice (a table moved by copying instead of
cutting) would then show the same figures in two places of the text, one of them out of context.
"""

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "benchmarks" / "README.md"
MARKER = re.compile(r"<!-- ([\w.-]+):(start|end) -->")


def test_every_section_has_one_start_and_one_end_in_order():
    markers = MARKER.findall(README.read_text())
    counts = Counter(markers)
    repeated = sorted(f"{name}:{side}" for (name, side), n in counts.items() if n > 1)
    assert not repeated, f"sections published more than once: {repeated}"
    open_section = None
    for name, side in markers:
        if side == "start":
            assert open_section is None, f"{name} starts inside {open_section}"
            open_section = name
        else:
            assert open_section == name, f"{name} ends where {open_section} is open"
            open_section = None
    assert open_section is None, f"{open_section} never ends"


def test_every_published_table_is_what_its_results_render():
    # a renderer changed after its results were saved (the multilabel table gained five
    # calibration columns) left `make bench`'s last step rewriting tables the README did not have
    script = README.parent / "tables.py"
    result = subprocess.run(
        [sys.executable, str(script), "--check"], capture_output=True, text=True, timeout=300
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
