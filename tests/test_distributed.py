"""`torchrun --nproc_per_node 2 -m attentext train ...` (gloo on CPU) gives a normal run directory.

Marked slow (two processes, ~30 s); CI runs it after the default suite.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_torchrun_two_processes_writes_one_complete_run(ag_news_dir, tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists():
        torchrun = shutil.which("torchrun")
    assert torchrun, "torchrun comes with torch; it should be next to the Python interpreter"
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [
            str(torchrun),
            "--nproc_per_node",
            "2",
            "-m",
            "attentext",
            "train",
            "seed-transformer",
            "--data",
            str(ag_news_dir),
            "--output",
            str(out),
            "--epochs",
            "2",
            "--precision",
            "fp32",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert not (tmp_path / "ddp.partial").exists()
    marker = json.loads((out / "attentext.json").read_text())
    assert "model.safetensors" in marker["files"]
    metrics = json.loads((out / "metrics.json").read_text())
    # 190 training rows, batch 128 per process, 2 processes: one step per epoch, 2 epochs.
    assert metrics["global_steps"] == 2
    assert metrics["test"]["n_examples"] == 80

    import attentext

    predictions = attentext.load(out, precision="fp32").predict(
        ["Stocks fell sharply on Wall Street"]
    )
    assert predictions[0] in {"World", "Sports", "Business", "Sci/Tech"}
