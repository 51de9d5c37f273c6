"""Benchmark: few labels. encoder-fewshot beside tfidf-logreg, encoder-frozen and the setfit library.

For each number of examples per class (`--shots`) and each seed, every method trains on the same
N-per-class sample of the training split (attentext's `data.shots` draw: the validation split
carved with the seed, then N per class drawn with the seed) and is measured on the whole test
split. Reported per method: mean and standard deviation of test accuracy over the seeds, mean
macro-F1 and training seconds, and the machine's load when each run started (the figures are
from a shared 2-core machine: the load says how much of it a run had).

The setfit library (1.2.0, never a dependency of attentext) runs in its own virtual environment
on the same samples, started as a subprocess (`benchmarks/fewshot_setfit.py`), pointed at the
packaged all-MiniLM-L6-v2 folder (its hub copy is not reachable offline):

    python3.11 -m venv /work/venvs/setfit
    /work/venvs/setfit/bin/pip install torch==2.13.0 setfit==1.2.0

    python benchmarks/fewshot.py --data ../shared/datasets/ag_news --shots 8 --seeds 3 \
        --setfit-python /work/venvs/setfit/bin/python \
        --unlabeled ../shared/datasets/ag_news_unlabeled/unlabeled.txt --self-train-seeds 1

Results are written after every run (a long benchmark stopped early keeps what it measured).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from common import RESULTS, machine, markdown_table, publish, save_results

import attentext
from attentext.data.dataset import load_text_dataset
from attentext.data.shots import sample_shots
from attentext.encoders import DEFAULT_ENCODER, resolve_encoder
from attentext.recipes import DataSpec

SECTION = "fewshot"
SECTIONS = [SECTION, "fewshot_emotion", "fewshot_customer_reviews"]  # other data sets' tables
FINETUNED = "encoder-fewshot + self-training + fine-tuning"  # every weight on the pseudo-labels
# Published (Tunstall et al. 2022, table 2/3; AG News test accuracy): not measured here
PUBLISHED = [
    {"shots": 8, "method": "SetFit, MiniLM-L6 (published)", "accuracy": 0.831, "std": 0.023},
    {"shots": 8, "method": "SetFit, MPNet (published)", "accuracy": 0.829},
    {"shots": 8, "method": "linear probe, MPNet (published)", "accuracy": 0.743},
    {"shots": 64, "method": "SetFit, MPNet (published)", "accuracy": 0.880},
    {"shots": 64, "method": "linear probe, MPNet (published)", "accuracy": 0.844},
]


def sample_of(data: str, shots: int, seed: int) -> Any:
    """The N-per-class sample a run with `data.shots=shots` and `training.seed=seed` trains on."""
    full = load_text_dataset(data, val_fraction=DataSpec().val_fraction, seed=seed)
    return sample_shots(full, shots, seed)


def attentext_run(
    recipe: str, data: str, shots: int, seed: int, out: Path, sets: list[str]
) -> dict[str, Any]:
    """One attentext run on the sample; its test accuracy, macro-F1 and training seconds."""
    load = os.getloadavg()[0]
    result = attentext.train(
        recipe,
        data,
        out,
        overwrite=True,
        shots=shots,
        overrides=[f"training.seed={seed}", *sets],
    )
    metrics = result.metrics
    return {
        "test_accuracy": metrics["test"]["accuracy"],
        "macro_f1": metrics["test"]["macro_f1"],
        "train_seconds": metrics["train_seconds"],
        "n_train": metrics["n_train"],
        "precision": metrics.get("precision"),
        "load_at_start": round(load, 2),
        "self_training": metrics.get("fewshot", {}).get("self_training"),
    }


def setfit_run(
    python: str, sample: Any, seed: int, pair_iterations: int, encoder: str
) -> dict[str, Any]:
    """The setfit library on the same sample and encoder folder, in its own environment (one
    JSON line back)."""
    train, test = sample["train"], sample["test"]
    job = {
        "train_texts": list(train["text"]),
        "train_labels": [int(x) for x in train["label"]],
        "test_texts": list(test["text"]),
        "test_labels": [int(x) for x in test["label"]],
        "seed": seed,
        "batch_size": 16,
        "pair_iterations": pair_iterations,
    }
    load = os.getloadavg()[0]
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(job, handle)
    script = Path(__file__).with_name("fewshot_setfit.py")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    try:
        with tempfile.TemporaryDirectory() as folder:  # whatever setfit writes, it writes there
            done = subprocess.run(
                [python, str(script.resolve()), handle.name, encoder],
                capture_output=True,
                text=True,
                env=env,
                cwd=folder,
            )
    finally:
        os.unlink(handle.name)
    if done.returncode:
        raise RuntimeError(f"setfit run failed:\n{done.stderr[-3000:]}")
    row = json.loads(done.stdout.strip().splitlines()[-1])
    return {**row, "n_train": len(train), "load_at_start": round(load, 2)}


def summary(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and standard deviation per (shots, method) over the seeds measured."""
    rows = []
    for key in dict.fromkeys((r["shots"], r["method"]) for r in runs):
        group = [r for r in runs if (r["shots"], r["method"]) == key]
        accuracies = [r["test_accuracy"] for r in group]
        rows.append(
            {
                "shots": key[0],
                "method": key[1],
                "accuracy": round(statistics.mean(accuracies), 4),
                "std": round(statistics.stdev(accuracies), 4) if len(group) > 1 else None,
                "seeds": ",".join(str(r["seed"]) for r in group),
                "train_seconds": round(statistics.mean(r["train_seconds"] for r in group), 2),
                "load": round(statistics.mean(r["load_at_start"] for r in group), 1),
            }
        )
    return rows


COLUMNS = [
    ("shots", "shots/class"),
    ("method", "method"),
    ("accuracy", "test acc (mean)"),
    ("std", "std"),
    ("seeds", "seeds"),
    ("train_seconds", "train s (mean)"),
    ("load", "load (1 min)"),
]


def encoder_name(encoder: str | None) -> str:
    """How a table names the encoder a pass ran on (results written before the option: MiniLM)."""
    if encoder in (None, DEFAULT_ENCODER):
        return "the packaged all-MiniLM-L6-v2"
    return f"`{encoder}`"


def render(payload: dict[str, Any]) -> str:
    m = payload["machine"]
    published = PUBLISHED if Path(payload["data"]).name == "ag_news" else []
    rows = payload["summary"] + [
        {**row, "seeds": "paper", "train_seconds": None, "load": None}
        for row in published
        if row["shots"] in payload["shots"]
    ]
    rows.sort(key=lambda row: row["shots"])
    iterations = (
        "pair iterations as each pass below says"
        if payload.get("passes")
        else f"{payload['pair_iterations']} pair iterations"
    )
    return (
        f"{m['cpu']} ({m.get('cpu_capabilities', '')}), {m['cores']} cores, torch threads "
        f"{m['torch_threads']}; `{payload['data']}`, test split {payload['n_test']:,} texts; "
        f"{iterations} (encoder-fewshot and setfit alike); "
        f"encoder: {encoder_name(payload.get('encoder'))}; "
        f"setfit: {payload.get('setfit_versions') or 'not run'}.\n\n"
        + markdown_table(rows, COLUMNS)
        + "".join(
            f"\n\n`results/{p.get('results') or SECTION}.json` (started "
            f"{p['started']}, {p['machine']['cpu']}, torch threads {p['machine']['torch_threads']}): "
            f"shots {', '.join(map(str, p.get('shots') or payload['shots']))}, "
            f"{p.get('pair_iterations') or payload['pair_iterations']} pair iterations; "
            f"encoder: {encoder_name(p.get('encoder'))}; "
            f"encoder-fewshot settings {', '.join(p.get('fewshot_set') or []) or 'as the recipe was'}."
            for p in payload.get("passes", [])
        )
    )


def measure(args: argparse.Namespace, payload: dict[str, Any], shots: int, seed: int) -> None:
    """Every method on one sample; each run appended to the payload and saved at once."""
    encoder = [f"model.encoder={args.encoder}"] if args.encoder else []
    sets = [f"fewshot.pair_iterations={args.pair_iterations}", *encoder, *args.fewshot_set]
    methods: list[tuple[str, str, list[str]]] = [
        ("tfidf-logreg", "tfidf-logreg", []),
        ("encoder-frozen", "encoder-frozen", encoder),
        ("encoder-fewshot", "encoder-fewshot", sets),
    ]
    if args.unlabeled and seed in payload["self_train_seeds"]:
        self_training = [*sets, f"fewshot.unlabeled={args.unlabeled}"]
        methods += [
            ("encoder-fewshot + self-training", "encoder-fewshot", self_training),
            # the pass's one epoch first, so that a --fewshot-set of it wins
            (
                FINETUNED,
                "encoder-fewshot",
                ["fewshot.self_training_finetune_epochs=1", *self_training],
            ),
        ]
    for method, recipe, extra in methods:
        if method not in args.methods:
            continue
        out = args.output / f"{method.replace(' + ', '-')}-{shots}shot-seed{seed}"
        row = attentext_run(recipe, args.data, shots, seed, out, extra)
        record(payload, {"shots": shots, "seed": seed, "method": method, **row})
    if args.setfit_python and "setfit" in args.methods:
        row = setfit_run(
            args.setfit_python,
            sample_of(args.data, shots, seed),
            seed,
            args.pair_iterations,
            resolve_encoder(args.encoder or DEFAULT_ENCODER),
        )
        payload["setfit_versions"] = (
            f"setfit {row['setfit']}, transformers {row['transformers']}, torch {row['torch']}"
        )
        record(payload, {"shots": shots, "seed": seed, "method": "setfit library", **row})


def record(payload: dict[str, Any], row: dict[str, Any]) -> None:
    print(json.dumps(row), flush=True)
    payload["runs"].append(row)
    payload["summary"] = summary(payload["runs"])
    save_results(payload["results"], payload)


def renamed(runs: list[dict[str, Any]], relabels: list[str]) -> None:
    """Rename methods of `runs` in place by OLD=NEW pairs (a recipe changed since they ran)."""
    names = dict(pair.split("=", 1) for pair in relabels)
    for run in runs:
        run["method"] = names.get(run["method"], run["method"])


def merged(
    name: str, into: str, relabel: list[str], merge_relabel: list[str], methods: list[str]
) -> dict[str, Any]:
    """results/INTO.json with the runs of results/NAME.json added (each pass's machine and
    settings kept under `passes`; only those of `methods` where given: a method the table
    already has for the same seeds is not added twice), methods renamed by `relabel` (its own
    runs) and `merge_relabel` (the added ones)."""
    first = json.loads((RESULTS / f"{into}.json").read_text())
    second = json.loads((RESULTS / f"{name}.json").read_text())
    if methods:
        second["runs"] = [run for run in second["runs"] if run["method"] in methods]
    renamed(first["runs"], relabel)
    renamed(second["runs"], merge_relabel)
    first["runs"] += second["runs"]
    first["summary"] = summary(first["runs"])
    keys = (
        "machine",
        "started",
        "self_train_seeds",
        "fewshot_set",
        "encoder",
        "shots",
        "pair_iterations",
    )
    first["passes"] = [
        *first.get(
            "passes", [{"results": first.get("results"), **{k: first.get(k) for k in keys}}]
        ),
        {"results": name, **{k: second.get(k) for k in keys}},
    ]
    first["shots"] = sorted(set(first["shots"]) | set(second["shots"]))
    return first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/datasets/ag_news")
    parser.add_argument("--shots", default="8,64", help="examples per class, comma-separated")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument(
        "--first-seed", type=int, default=0, help="seeds FIRST to FIRST+SEEDS-1 (a pass continued)"
    )
    parser.add_argument("--pair-iterations", type=int, default=20)
    parser.add_argument("--setfit-python", default="", help="the Python of a setfit venv")
    parser.add_argument(
        "--encoder",
        default="",
        help="an encoder folder or hub name for encoder-frozen, encoder-fewshot and setfit alike "
        "(model.encoder; the packaged MiniLM when not given)",
    )
    parser.add_argument("--unlabeled", default="", help="texts for the self-training variant")
    parser.add_argument("--self-train-seeds", type=int, default=1)
    parser.add_argument(
        "--methods",
        default="tfidf-logreg,encoder-frozen,encoder-fewshot,encoder-fewshot + self-training,setfit",
    )
    parser.add_argument("--output", type=Path, default=Path("runs/fewshot"))
    parser.add_argument(
        "--fewshot-set",
        action="append",
        default=[],
        help="KEY=VALUE for the encoder-fewshot runs (a setting measured before it is the default)",
    )
    parser.add_argument(
        "--results",
        default=SECTION,
        help="results/NAME.json to write; only the default name rewrites the README table, "
        "unless --publish",
    )
    parser.add_argument(
        "--publish",
        action="store_true",
        help="rewrite the README section named after --results (another dataset's table)",
    )
    parser.add_argument(
        "--merge",
        default="",
        help="measure nothing: add the runs of results/NAME.json to results/fewshot.json (or "
        "--merge-into's), publish",
    )
    parser.add_argument(
        "--merge-into",
        default=SECTION,
        help="with --merge: the results (and README section) the runs are added to",
    )
    parser.add_argument(
        "--relabel",
        action="append",
        default=[],
        help="OLD=NEW, with --merge: rename a method of results/fewshot.json's own runs (a "
        "recipe changed since they ran)",
    )
    parser.add_argument(
        "--merge-relabel",
        action="append",
        default=[],
        help="OLD=NEW, with --merge: rename a method of the runs added",
    )
    parser.add_argument(
        "--merge-method",
        action="append",
        default=[],
        help="with --merge: add only the runs of this method (repeatable)",
    )
    args = parser.parse_args()
    if args.merge:
        found = merged(
            args.merge, args.merge_into, args.relabel, args.merge_relabel, args.merge_method
        )
        publish(args.merge_into, found, render)
        return
    args.methods = args.methods.split(",")
    shots = [int(n) for n in args.shots.split(",")]
    payload: dict[str, Any] = {
        "benchmark": SECTION,
        "machine": machine(),
        "data": args.data,
        "n_test": len(load_text_dataset(args.data, val_fraction=0.0)["test"]),
        "shots": shots,
        "pair_iterations": args.pair_iterations,
        "self_train_seeds": list(range(args.first_seed, args.first_seed + args.self_train_seeds)),
        "fewshot_set": args.fewshot_set,
        "encoder": args.encoder or DEFAULT_ENCODER,
        "results": args.results,
        "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "runs": [],
        "summary": [],
    }
    for n in shots:  # the cheapest first: every seed of 8 shots before any of 64
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            measure(args, payload, n, seed)
    if args.results == SECTION or args.publish:
        publish(args.results, payload, render)


if __name__ == "__main__":
    main()
