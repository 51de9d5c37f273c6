"""benchmarks/suite.py's record of which machine measured which rows."""

import importlib.util
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _suite():
    sys.path.insert(0, str(BENCHMARKS))  # suite.py imports its sibling `common`
    try:
        spec = importlib.util.spec_from_file_location("suite_benchmark", BENCHMARKS / "suite.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCHMARKS))


def _machine(flags: str) -> dict:
    return {"cpu": "AMD EPYC", "cpu_capabilities": flags, "cores": 2, "torch_threads": 2}


def test_two_cpus_of_one_name_are_two_machines_and_old_rows_keep_theirs():
    suite = _suite()
    zen5, avx2 = _machine("AVX512|avx2 avx512f avx512_bf16"), _machine("AVX2|avx2")
    payload = {
        "machine": avx2,
        # rows saved before machine_key name their machine by the CPU's name alone
        "machines": {"AMD EPYC": zen5, suite.machine_key(avx2): avx2},
        "rows": [
            {"recipe": "tfidf-logreg", "cpu": "AMD EPYC"},
            {"recipe": "seed-transformer", "cpu": suite.machine_key(avx2)},
        ],
    }

    line = suite._machines(payload)

    assert suite.machine_key(zen5) != suite.machine_key(avx2)
    assert (
        "AMD EPYC (AVX512|avx2 avx512f avx512_bf16), 2 cores, 2 torch thread(s) per run: "
        "tfidf-logreg" in line
    )
    assert "AMD EPYC (AVX2|avx2), 2 cores, 2 torch thread(s) per run: seed-transformer" in line
