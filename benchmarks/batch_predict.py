"""Benchmark: `attentext predict RUN --input FILE --output OUT` on a corpus built from AG News.

The corpus is a Parquet file of `--rows` rows (`id`, `text`), AG News' train and test texts
repeated in order. For each model, on its own first rows:

- in-process: `predict_proba` over the same texts, already in memory, 50,000 at a time (the
  model loaded before the clock starts): the speed a batch job cannot beat;
- the command: `attentext predict ... --output scored.parquet` as a child process, once on the
  model's rows and once on one chunk of them. The difference of the two wall times is the
  time the rows past the first chunk took (start-up, model load and the input's digest cancel
  out): texts/s of the command, and its ratio to in-process. Peak RSS is the child's
  `ru_maxrss` (`os.wait4`); its growth over the one-chunk run is what the file's size costs,
  the model being loaded in both;
- on the largest file, a run killed with SIGKILL at a random moment (seeded), then `--resume`:
  the output and its errors file must be byte-identical to the uninterrupted run's;
- `--workers 2` against one process, and Ray Data with 2 actors (`attentext.integrations.ray`;
  skipped without Ray), on the seed transformer's rows.

    python benchmarks/batch_predict.py --seed-run runs/lb/seed-transformer \
        --tfidf-run runs/lb/tfidf-logreg --minilm-run runs/lb/encoder-finetune

Targets (issue #20): RSS growth under 200 MB on 1,000,000 rows; the command at >= 90 % of
in-process texts/s; resume identical; --workers 2 and Ray within 10 % of one process on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pyarrow as pa
import pyarrow.parquet as pq
from common import machine, markdown_table, publish

from attentext.data.readers import read_texts

SECTION = "batch_predict"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "ATTENTEXT_PRECISION": "fp32"}
IN_PROCESS_SLICE = 50_000


def ag_news_texts(data: Path) -> list[str]:
    return [t for split in ("train", "test") for t in read_texts(data / f"{split}.csv").texts]


def write_corpus(texts: list[str], rows: int, path: Path) -> Path:
    """`rows` rows of (id, text), the texts repeated in order, written 100,000 rows at a time."""
    schema = pa.schema([("id", pa.int64()), ("text", pa.string())])
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, rows, 100_000):
            ids = list(range(start, min(rows, start + 100_000)))
            body = [texts[i % len(texts)] for i in ids]
            writer.write_table(pa.table({"id": ids, "text": body}, schema=schema))
    return path


def head_of(corpus: Path, rows: int, path: Path) -> Path:
    """The first `rows` rows of the corpus as a file of their own."""
    table = pq.ParquetFile(corpus).iter_batches(batch_size=rows, columns=["id", "text"])
    pq.write_table(pa.Table.from_batches([next(table)]), path)
    return path


IN_PROCESS_SCRIPT = """
import json, sys, time
import pyarrow.parquet as pq
from attentext.inference.classifier import load
run, backend, source, step = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
texts = pq.read_table(source, columns=["text"]).column("text").to_pylist()
classifier = load(run, backend=backend, precision="fp32")
classifier.predict_proba(texts[:64])  # warm: first-call allocations, ONNX Runtime's plan
start = time.perf_counter()
for i in range(0, len(texts), step):
    classifier.predict_proba(texts[i : i + step])
print(json.dumps({"seconds": time.perf_counter() - start, "texts": len(texts)}))
"""


def in_process(run: Path, backend: str, source: Path) -> dict[str, Any]:
    """texts/s of predict_proba over the file's texts, in memory, the model already loaded, in
    a fresh process (as the command runs in one)."""
    script = [sys.executable, "-c", IN_PROCESS_SCRIPT, run, backend, source, IN_PROCESS_SLICE]
    result = subprocess.run(list(map(str, script)), env=ENV, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"in-process {run} failed:\n{result.stderr[-2000:]}")
    found = json.loads(result.stdout.strip().splitlines()[-1])
    seconds = found["seconds"]
    return {
        "in_process_s": round(seconds, 2),
        "in_process_texts_s": round(found["texts"] / seconds, 1),
    }


def command(run: Path, backend: str, source: Path, output: Path, *extra: str) -> subprocess.Popen:
    args = [sys.executable, "-m", "attentext", "predict", str(run), "-i", str(source)]
    args += ["-o", str(output), "--backend", backend, "--id-column", "id", *extra]
    return subprocess.Popen(
        args, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@dataclass
class Measured:
    seconds: float
    max_rss_mb: int  # the child's ru_maxrss: its high-water mark, model loading included
    first_chunk_rss_mb: int | None  # RSS when the first chunk was committed (model loaded)
    later_peak_rss_mb: int | None  # the highest RSS sampled after that
    stdout: str


def timed(process: subprocess.Popen, parts: Path | None = None) -> Measured:
    """Wait for a child, sampling its RSS every 50 ms (from the commit of its first chunk, the
    first part in `parts`, on); a failure stops the benchmark."""
    start = time.perf_counter()
    watch = psutil.Process(process.pid)
    first = later = None
    while not (waited := os.wait4(process.pid, os.WNOHANG))[0]:
        with suppress(psutil.Error):
            rss = watch.memory_info().rss >> 20
            if first is None and parts is not None and any(parts.glob("part-*")):
                first = later = rss
            elif first is not None:
                later = max(later, rss)
        time.sleep(0.05)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(waited[1])
    stdout, stderr = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"{process.args} failed:\n{stderr[-2000:]}")
    return Measured(seconds, waited[2].ru_maxrss >> 10, first, later, stdout)


def run_command(run: Path, backend: str, source: Path, out: Path, *extra: str) -> Measured:
    for stale in (out, Path(f"{out}.errors.jsonl")):
        stale.unlink(missing_ok=True)
    return timed(command(run, backend, source, out, *extra), Path(f"{out}.parts"))


def bench_model(
    name: str, run: Path, backend: str, source: Path, rows: int, chunk: int, work: Path
) -> dict[str, Any]:
    """In-process speed; the command's texts/s past its first chunk and its RSS growth after
    its first chunk was committed."""
    one = head_of(source, chunk, work / f"{name}-one.parquet")
    size = ("--chunk-rows", str(chunk))
    small = run_command(run, backend, one, work / f"{name}-one.out.parquet", *size)
    big = run_command(run, backend, source, work / f"{name}.out.parquet", *size)
    row = {"model": name, "backend": backend, "rows": rows, **in_process(run, backend, source)}
    texts_s = (rows - chunk) / (big.seconds - small.seconds)
    row.update(
        command_s=round(big.seconds, 2),
        one_chunk_s=round(small.seconds, 2),
        command_texts_s=round(texts_s, 1),
        vs_in_process=round(texts_s / row["in_process_texts_s"], 3),
        rss_first_chunk_mb=big.first_chunk_rss_mb,
        rss_later_peak_mb=big.later_peak_rss_mb,
        rss_growth_mb=(big.later_peak_rss_mb or 0) - (big.first_chunk_rss_mb or 0),
        max_rss_mb=big.max_rss_mb,
        max_rss_one_chunk_mb=small.max_rss_mb,
    )
    print(json.dumps(row), flush=True)
    return row


def bench_resume(
    run: Path, source: Path, whole: Path, seconds: float, chunk: int, seed: int, work: Path
) -> dict[str, Any]:
    """Kill -9 at a random moment of a run as long as `whole`'s, --resume, compare the bytes."""
    out = work / "killed.out.parquet"
    at = random.Random(seed).uniform(0.2, 0.8) * seconds
    size = ("--chunk-rows", str(chunk))  # as the uninterrupted run's
    process = command(run, "torch", source, out, *size)
    time.sleep(at)
    process.kill()
    process.wait()
    parts = len(list(Path(f"{out}.parts").glob("part-*")))
    resumed = timed(command(run, "torch", source, out, *size, "--resume"))
    same = out.read_bytes() == whole.read_bytes() and (
        Path(f"{out}.errors.jsonl").read_bytes() == Path(f"{whole}.errors.jsonl").read_bytes()
    )
    result = {
        "killed_after_s": round(at, 1),
        "chunks_committed_at_kill": parts,
        "resume_s": round(resumed.seconds, 1),
        "resume_said": resumed.stdout.strip(),
        "identical_to_uninterrupted": same,
        "seed": seed,
    }
    print(json.dumps(result), flush=True)
    return result


def bench_workers(
    name: str, run: Path, source: Path, rows: int, work: Path
) -> list[dict[str, Any]]:
    """The command end to end (start-up and model loads included) with 1 and 2 processes, on
    chunks of a tenth of the rows (so that both workers have several)."""
    found = []
    for workers in (1, 2):
        out = work / f"w{workers}.out.parquet"
        extra = ("--workers", str(workers), "--chunk-rows", str(max(1, rows // 10)))
        seconds = run_command(run, "torch", source, out, *extra).seconds
        row = {"model": name, "rows": rows, "how": f"--workers {workers}"}
        found.append({**row, "seconds": round(seconds, 2), "texts_s": round(rows / seconds, 1)})
        print(json.dumps(found[-1]), flush=True)
    return found


RAY_SCRIPT = """
import sys, time, json, ray
from attentext.integrations.ray import Predictor
run, source, out = sys.argv[1:4]
ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
ray.data.DataContext.get_current().enable_progress_bars = False
start = time.perf_counter()
(ray.data.read_parquet(source).repartition(8)
   .map_batches(Predictor, fn_constructor_kwargs={"run_dir": run, "id_column": "id"},
                concurrency=2, num_cpus=0.5, batch_size=1000)
   .write_parquet(out))
print(json.dumps({"seconds": time.perf_counter() - start}))
"""


def bench_ray(name: str, run: Path, source: Path, rows: int, work: Path) -> dict[str, Any] | None:
    """Ray Data, 2 actors on 2 CPUs (ray.init's start not counted; actors' model loads are)."""
    try:
        import ray  # noqa: F401
    except ImportError:
        return None
    script = [sys.executable, "-c", RAY_SCRIPT, str(run), str(source), str(work / "ray-out")]
    result = subprocess.run(script, env=ENV, capture_output=True, text=True, timeout=1200)
    if result.returncode != 0:
        raise SystemExit(f"ray failed:\n{result.stderr[-2000:]}")
    seconds = json.loads(result.stdout.strip().splitlines()[-1])["seconds"]
    print(json.dumps({"ray_s": seconds}), flush=True)
    return {
        "model": name,
        "rows": rows,
        "how": "Ray Data, 2 actors",
        "seconds": round(seconds, 2),
        "texts_s": round(rows / seconds, 1),
    }


COLUMNS = [
    ("model", "model"),
    ("backend", "backend"),
    ("rows", "rows"),
    ("in_process_texts_s", "in-process texts/s"),
    ("command_texts_s", "command texts/s"),
    ("vs_in_process", "x in-process"),
    ("one_chunk_s", "one-chunk run s"),
    ("rss_first_chunk_mb", "RSS at 1st chunk MB"),
    ("rss_later_peak_mb", "RSS peak after MB"),
    ("rss_growth_mb", "RSS growth MB"),
    ("max_rss_mb", "max RSS MB"),
]
PROCESS_COLUMNS = [
    ("model", "model"),
    ("rows", "rows"),
    ("how", "how"),
    ("seconds", "s"),
    ("texts_s", "texts/s"),
]


def render(payload: dict[str, Any]) -> str:
    m, resume = payload["machine"], payload["resume"]
    lines = [
        f"{m['cpu']} ({m.get('cpu_capabilities', '')}), {m['cores']} cores, load "
        f"{m['load_average_1min']} at the start, {payload['load_average_end']} at the end; "
        f"fp32; chunks of {payload['chunk_rows']:,} rows; Parquet in and out. Rows past the first "
        "chunk per second of the command, against `predict_proba` in one process on the same "
        "texts. RSS growth: the highest RSS sampled (every 50 ms) after the first chunk was "
        "committed, minus the RSS then (the model loaded); max RSS: the kernel's high-water mark "
        "of the whole run (loading included).",
        "",
        markdown_table(payload["results"], COLUMNS),
        "",
        f"kill -9 after {resume['killed_after_s']} s ({resume['chunks_committed_at_kill']} chunks "
        f"committed), then `--resume` ({resume['resume_s']} s): output identical to the "
        f"uninterrupted run: **{resume['identical_to_uninterrupted']}**.",
    ]
    if payload["processes"]:
        lines += ["", markdown_table(payload["processes"], PROCESS_COLUMNS)]
    lines += [f"\n{note}" for note in payload.get("notes", [])]
    return "\n".join(lines)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets/ag_news"))
    parser.add_argument("--tfidf-run", type=Path, required=True)
    parser.add_argument("--seed-run", type=Path, help="seed-transformer (and the process rows)")
    parser.add_argument("--minilm-run", type=Path, help="encoder-finetune, exported with --int8")
    parser.add_argument("--rows", type=int, default=1_000_000, help="the corpus (tfidf-logreg)")
    parser.add_argument("--seed-rows", type=int, default=20_000)
    parser.add_argument("--minilm-rows", type=int, default=2_000)
    parser.add_argument("--chunk-rows", type=int, default=5_000)
    parser.add_argument("--minilm-backend", default="onnx-int8")
    parser.add_argument("--seed", type=int, default=0, help="of the moment of the kill")
    parser.add_argument("--no-publish", action="store_true", help="print only (a trial run)")
    return parser.parse_args()


def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Every measurement, in order; the payload's results."""
    corpus = write_corpus(ag_news_texts(args.data), args.rows, work / "corpus.parquet")
    tfidf = ("tfidf-logreg", args.tfidf_run, "torch", corpus, args.rows, args.chunk_rows)
    results = [bench_model(*tfidf, work)]
    whole = work / "tfidf-logreg.out.parquet"
    seconds = results[0]["command_s"]
    resume = bench_resume(args.tfidf_run, corpus, whole, seconds, args.chunk_rows, args.seed, work)
    processes: list[dict[str, Any]] = []
    if args.seed_run is not None:
        seed_file = head_of(corpus, args.seed_rows, work / "seed.parquet")
        seed = ("seed-transformer", args.seed_run, seed_file, args.seed_rows)
        results.append(bench_model(seed[0], seed[1], "torch", *seed[2:], args.chunk_rows, work))
        processes = bench_workers(*seed, work)
        if (ray_row := bench_ray(*seed, work)) is not None:
            processes.append(ray_row)
    if args.minilm_run is not None:
        minilm_file = head_of(corpus, args.minilm_rows, work / "minilm.parquet")
        chunk = min(args.chunk_rows, args.minilm_rows // 4)
        minilm = (args.minilm_run, args.minilm_backend, minilm_file, args.minilm_rows, chunk)
        results.append(bench_model("encoder-finetune (MiniLM)", *minilm, work))
    return {"results": results, "resume": resume, "processes": processes}


def main() -> None:
    args = arguments()
    facts = machine()
    with tempfile.TemporaryDirectory(prefix="batch-predict-") as folder:
        measured = measure(args, Path(folder))
    payload = {
        "benchmark": SECTION,
        "machine": facts,
        "load_average_end": round(os.getloadavg()[0], 2),
        "chunk_rows": args.chunk_rows,
        **measured,
    }
    if args.no_publish:
        print(render(payload))
    else:
        publish(SECTION, payload, render)


if __name__ == "__main__":
    main()
