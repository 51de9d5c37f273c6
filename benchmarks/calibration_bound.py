"""Benchmark: the temperature a run fits on validation against one fitted where it is scored.

Every run fits its temperature on the validation split (carved from train when the data set has
none) and is scored on test. When validation and test differ (AG News: validation accuracy runs
about a point above test's), the temperature fitted on validation leaves the model a little sure
of itself on test. For each run: accuracy on both splits; the test ECE and NLL with the
temperature the run saved; with the temperature `attentext recalibrate` fits on held-out texts of
the scoring distribution, measured two-fold (fitted on one half of test, scored on the other,
and the other way round: no text scores the temperature it helped fit; the ECE of the
pooled halves); and with the temperature
fitted on the whole test split itself, a bound on what temperature scaling can reach on the model
(a diagnostic, never saved). Then the same with `recalibrate --method isotonic` (the temperature,
then a monotone map of the top label's probability): fitted on validation and scored on test, and
two-fold on test (each half scored by a map fitted on the other, the ECE of the pooled halves).

`--reference RUN` adds what `attentext recalibrate --reference RUN --texts FILE` does with no
labels at all: the temperature, and the temperature and the map, fitted to the reference run's
probabilities of one half of the test texts (their labels unused) and scored on the other half
against the gold labels, two-fold as above. `--label-prior balanced` measures every run, the
reference too, with the balanced prior's bias (from its own training split, as
benchmarks/label_prior.py does) after its temperature, fitted beside it.

A second table (`--sizes`) asks how many held-out texts each needs: for each size n, n test
texts drawn at random (`--draws` times) fit the temperature, or the temperature and the map, and
the other test texts score it; the mean test ECE over the draws.

    python benchmarks/calibration_bound.py runs/teacher runs/distill/* --data ../shared/datasets/ag_news
    python benchmarks/calibration_bound.py runs/students/* --reference runs/teacher \
        --label-prior balanced --section calibration_reference
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
from common import machine, machine_line, markdown_table, publish

import attentext
from attentext.confidence import ConfidenceMap
from attentext.evaluation.calibration import (
    calibrate_isotonic,
    compare_probabilities,
    fit_temperature,
    log_softmax,
    measure_calibration,
)
from attentext.evaluation.evaluate import raw_logits
from attentext.evaluation.metrics import expected_calibration_error
from attentext.label_prior import label_bias, shifted_logits
from attentext.recipes import load_recipe
from attentext.rundir import open_run
from attentext.training.run import recipe_dataset

SECTIONS = ["calibration_bound", "calibration_sizes"]
Logits = dict[str, tuple[np.ndarray, np.ndarray]]  # split -> (raw logits, gold label ids)
COLUMNS = [
    ("run", "run"),
    ("validation_accuracy", "validation acc"),
    ("test_accuracy", "test acc"),
    ("temperature", "T (validation)"),
    ("ece", "test ECE"),
    ("half_temperatures", "T (test halves)"),
    ("ece_recalibrated", "test ECE recalibrated (2-fold, pooled)"),
    ("ece_at_test_temperature", "test ECE at test's own T"),
    ("nll", "test NLL"),
    ("nll_recalibrated", "test NLL recalibrated (2-fold, pooled)"),
    ("ece_isotonic_validation", "test ECE, T + map from validation"),
    ("ece_isotonic_recalibrated", "test ECE, T + map recalibrated (2-fold)"),
    ("nll_isotonic_recalibrated", "test NLL, T + map recalibrated (2-fold)"),
    ("reference_temperatures", "T (to the reference, test halves)"),
    ("ece_reference", "test ECE, T to the reference (2-fold)"),
    ("ece_isotonic_reference", "test ECE, T + map to the reference (2-fold)"),
]


def split_logits(run: Path, data: str, label_prior: str) -> tuple[Logits, list[float] | None]:
    """The run's raw logits and the gold labels on its validation and test splits (validation
    carved as the run carved it: its recipe's fraction and seed), and the bias of `label_prior`
    from its training split (None for "train")."""
    dataset = recipe_dataset(load_recipe(run / "recipe.yaml"), data)
    classifier = attentext.load(run)
    counts = np.bincount(dataset.labels("train"), minlength=len(classifier.labels))
    logits = {
        split: (
            raw_logits(classifier, list(dataset[split]["text"])),
            np.asarray(dataset[split]["label"]),
        )
        for split in ("validation", "test")
    }
    return logits, label_bias(counts, label_prior)


def probabilities(x: np.ndarray, temperature: float, bias: list[float] | None) -> np.ndarray:
    return np.exp(log_softmax(shifted_logits(x, temperature, bias)))


def halves_of(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two halves of the rows, shuffled with `seed`: calibrate_isotonic's own out-of-fold halves,
    so that the two-fold columns compare."""
    order = np.random.default_rng(seed).permutation(n)
    return order[: n // 2], order[n // 2 :]


def two_fold(x: np.ndarray, y: np.ndarray, bias: list[float] | None, targets=None) -> dict:
    """Test ECE and NLL with a temperature fitted on the other half: each half scored with the
    temperature fitted on the other, ECE and NLL of the pooled halves against the gold labels
    `y`. The temperature is fitted to `targets` (a reference's probabilities) where given, to
    `y` otherwise."""
    targets = y if targets is None else targets
    temperatures, pooled = [], np.zeros(np.shape(x), dtype=np.float64)
    halves = halves_of(len(y))
    for fit, score in (halves, halves[::-1]):
        t = fit_temperature(x[fit], targets[fit], bias=bias)
        temperatures.append(round(t, 3))
        pooled[score] = probabilities(x[score], t, bias)
    measured = compare_probabilities(np.exp(log_softmax(x)), pooled, y)
    return {
        "half_temperatures": " / ".join(f"{t:.3f}" for t in temperatures),
        "ece_recalibrated": measured["ece_after"],
        "nll_recalibrated": measured["nll_after"],
    }


def isotonic_two_fold(x: np.ndarray, targets: np.ndarray, y: np.ndarray, bias) -> float:
    """Test ECE against the gold labels `y` of each half scored by a temperature and map fitted
    to `targets` (a reference's probabilities) on the other half."""
    pooled = np.zeros(np.shape(x), dtype=np.float64)
    halves = halves_of(len(y))
    for fit, score in (halves, halves[::-1]):
        c = calibrate_isotonic(targets[fit], x[fit], "half", bias)
        mapping = ConfidenceMap.from_dict(c.confidence_map)
        pooled[score] = mapping.apply(probabilities(x[score], c.temperature, bias))
    return expected_calibration_error(pooled, y)[0]


def isotonic(logits: Logits, bias: list[float] | None) -> dict[str, Any]:
    """Test ECE with the temperature and map fitted on validation, and recalibrated two-fold on
    test (calibrate_isotonic's out-of-fold figures)."""
    (vx, vy), (x, y) = logits["validation"], logits["test"]
    from_validation = calibrate_isotonic(vy, vx, "validation", bias)
    mapping = ConfidenceMap.from_dict(from_validation.confidence_map)
    mapped = mapping.apply(probabilities(x, from_validation.temperature, bias))
    recalibrated = calibrate_isotonic(y, x, "test", bias)
    return {
        "ece_isotonic_validation": expected_calibration_error(mapped, y)[0],
        "ece_isotonic_recalibrated": recalibrated.ece_after,
        "nll_isotonic_recalibrated": recalibrated.nll_after,
    }


def to_reference(x: np.ndarray, y: np.ndarray, bias, reference: np.ndarray) -> dict[str, Any]:
    """The temperature, and the temperature and map, fitted to the reference's probabilities of
    one half of the test texts and scored on the other half's gold labels (two-fold)."""
    fitted = two_fold(x, y, bias, targets=reference)
    return {
        "reference_temperatures": fitted["half_temperatures"],
        "ece_reference": fitted["ece_recalibrated"],
        "ece_isotonic_reference": isotonic_two_fold(x, reference, y, bias),
    }


def by_size(
    name: str, x: np.ndarray, y: np.ndarray, bias, sizes: list[int], draws: int, reference=None
) -> dict[str, Any]:
    """Mean test ECE over `draws` random draws of n fitting texts, each scored on the rest: with
    the temperature alone (`T n=`) and with the temperature and the map (`map n=`), fitted to
    the gold labels, and (`ref T n=`, `ref map n=`) to the reference's probabilities."""
    rng = np.random.default_rng(0)
    row: dict[str, Any] = {"run": name}
    fits = [("", y)] + ([] if reference is None else [("ref ", reference)])
    for n in sizes:
        scores: dict[str, list[float]] = {}
        for _ in range(draws):
            order = rng.permutation(len(y))
            fit, score = order[:n], order[n:]
            for prefix, targets in fits:
                t = fit_temperature(x[fit], targets[fit], bias=bias)
                ece = measure_calibration(x[score], y[score], t, bias)["ece_after"]
                scores.setdefault(f"{prefix}T n={n}", []).append(ece)
                iso = calibrate_isotonic(targets[fit], x[fit], "draw", bias)
                scored = probabilities(x[score], iso.temperature, bias)
                scored = ConfidenceMap.from_dict(iso.confidence_map).apply(scored)
                ece = expected_calibration_error(scored, y[score])[0]
                scores.setdefault(f"{prefix}map n={n}", []).append(ece)
        row.update({key: float(np.mean(values)) for key, values in scores.items()})
    return row


def reference_probabilities(reference: Path, data: str, label_prior: str) -> np.ndarray:
    """The reference run's calibrated probabilities of the test texts: its temperature, and the
    bias of `label_prior` from its own training split (not a confidence map it may have)."""
    logits, bias = split_logits(reference, data, label_prior)
    return probabilities(logits["test"][0], open_run(reference).temperature, bias)


def row_of(
    run: Path, name: str, args: argparse.Namespace, sizes: list[int], reference
) -> tuple[dict, dict]:
    """The run's row of each table."""
    logits, bias = split_logits(run, args.data, args.label_prior)
    x, y = logits["test"]
    temperature = open_run(run).temperature
    fitted = measure_calibration(x, y, temperature, bias)
    best = measure_calibration(x, y, fit_temperature(x, y, bias=bias), bias)
    vx, vy = logits["validation"]
    row = {
        "run": name,
        "validation_accuracy": float((probabilities(vx, temperature, bias).argmax(1) == vy).mean()),
        "test_accuracy": float((probabilities(x, temperature, bias).argmax(1) == y).mean()),
        "temperature": temperature,
        "ece": fitted["ece_after"],
        "nll": fitted["nll_after"],
        **two_fold(x, y, bias),
        "ece_at_test_temperature": best["ece_after"],
        **isotonic(logits, bias),
    }
    if reference is not None:
        row.update(to_reference(x, y, bias, reference))
    return row, by_size(name, x, y, bias, sizes, args.draws, reference)


def render(payload: dict[str, Any]) -> str:
    head = f"{machine_line(payload['machine'])}; {payload['data']}"
    if payload.get("label_prior", "train") != "train":
        head += f"; every run with the {payload['label_prior']} label prior"
    if payload.get("reference"):
        head += f"; reference `{payload['reference']}`"
    if "sizes" not in payload:
        columns = [c for c in COLUMNS if any(c[0] in row for row in payload["results"])]
        return head + ".\n\n" + markdown_table(payload["results"], columns)
    columns = [("run", "run")]
    for n in payload["sizes"]:
        columns += [(f"T n={n}", f"T, {n:,} texts"), (f"map n={n}", f"T + map, {n:,} texts")]
        if payload.get("reference"):
            columns += [
                (f"ref T n={n}", f"T to the reference, {n:,} texts"),
                (f"ref map n={n}", f"T + map to the reference, {n:,} texts"),
            ]
    return (
        f"{head}; mean test ECE over {payload['draws']} draws of the fitting texts from test, "
        "each scored on the rest.\n\n" + markdown_table(payload["results"], columns)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--data", default="../shared/datasets/ag_news")
    parser.add_argument("--sizes", default="300,500,1000,2000", help="fitting texts per draw")
    parser.add_argument("--draws", type=int, default=8)
    parser.add_argument("--reference", type=Path, help="a run to fit to, labels unused")
    parser.add_argument("--label-prior", default="train", choices=["train", "balanced"])
    parser.add_argument("--section", default=SECTIONS[0], help="the first table's section")
    args = parser.parse_args()
    sizes = [int(n) for n in args.sizes.split(",") if n]
    reference = None
    if args.reference is not None:
        reference = reference_probabilities(args.reference, args.data, args.label_prior)
    rows, size_rows = [], []
    names = [run.name for run in args.runs]
    for run in args.runs:  # a folder name two runs share is told apart by its parent's
        name = run.name if names.count(run.name) == 1 else f"{run.parent.name}/{run.name}"
        row, size_row = row_of(run, name, args, sizes, reference)
        rows.append(row)
        size_rows.append(size_row)
        print(row, size_row, flush=True)
    common = {
        "machine": machine(),
        "data": args.data,
        "label_prior": args.label_prior,
        "reference": str(args.reference or ""),
    }
    publish(args.section, {**common, "results": rows}, render)
    if sizes:
        sized = {**common, "sizes": sizes, "draws": args.draws, "results": size_rows}
        section = SECTIONS[1] if args.section == SECTIONS[0] else f"{args.section}_sizes"
        publish(section, sized, render)


if __name__ == "__main__":
    main()
