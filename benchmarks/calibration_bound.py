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

A second table (`--sizes`) asks how many held-out texts each needs: for each size n, n test
texts drawn at random (`--draws` times) fit the temperature, or the temperature and the map, and
the other test texts score it; the mean test ECE over the draws.

    python benchmarks/calibration_bound.py runs/teacher runs/distill/* --data ../shared/datasets/ag_news
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
from common import machine, markdown_table, publish

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
from attentext.recipes import load_recipe
from attentext.rundir import open_run
from attentext.training.run import recipe_dataset

SECTIONS = ["calibration_bound", "calibration_sizes"]
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
]


def split_logits(run: Path, data: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The run's raw logits and the gold labels on its validation and test splits (validation
    carved as the run carved it: its recipe's fraction and seed)."""
    dataset = recipe_dataset(load_recipe(run / "recipe.yaml"), data)
    classifier = attentext.load(run)
    return {
        split: (
            raw_logits(classifier, list(dataset[split]["text"])),
            np.asarray(dataset[split]["label"]),
        )
        for split in ("validation", "test")
    }


def two_fold(x: np.ndarray, y: np.ndarray, seed: int = 0) -> dict[str, Any]:
    """Test ECE and NLL with a temperature fitted on the other half: each half scored with the
    temperature fitted on the other, ECE and NLL of the pooled halves (the same halves and the
    same pooling as calibrate_isotonic's out-of-fold figures, so the columns compare)."""
    order = np.random.default_rng(seed).permutation(len(y))
    halves = (order[: len(y) // 2], order[len(y) // 2 :])
    temperatures, pooled = [], np.zeros(np.shape(x), dtype=np.float64)
    for fit, score in (halves, halves[::-1]):
        t = fit_temperature(x[fit], y[fit])
        temperatures.append(round(t, 3))
        pooled[score] = np.exp(log_softmax(x[score], t))
    measured = compare_probabilities(np.exp(log_softmax(x)), pooled, y)
    return {
        "half_temperatures": " / ".join(f"{t:.3f}" for t in temperatures),
        "ece_recalibrated": measured["ece_after"],
        "nll_recalibrated": measured["nll_after"],
    }


def isotonic(logits: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, Any]:
    """Test ECE with the temperature and map fitted on validation, and recalibrated two-fold on
    test (calibrate_isotonic's out-of-fold figures)."""
    (vx, vy), (x, y) = logits["validation"], logits["test"]
    from_validation = calibrate_isotonic(vy, vx, "validation")
    mapping = ConfidenceMap.from_dict(from_validation.confidence_map)
    mapped = mapping.apply(np.exp(log_softmax(x, from_validation.temperature)))
    recalibrated = calibrate_isotonic(y, x, "test")
    return {
        "ece_isotonic_validation": expected_calibration_error(mapped, y)[0],
        "ece_isotonic_recalibrated": recalibrated.ece_after,
        "nll_isotonic_recalibrated": recalibrated.nll_after,
    }


def by_size(
    name: str, x: np.ndarray, y: np.ndarray, sizes: list[int], draws: int
) -> dict[str, Any]:
    """Mean test ECE over `draws` random draws of n fitting texts, each scored on the rest: with
    the temperature alone (`T n=`) and with the temperature and the map (`map n=`)."""
    rng = np.random.default_rng(0)
    row: dict[str, Any] = {"run": name}
    for n in sizes:
        temperature, mapped = [], []
        for _ in range(draws):
            order = rng.permutation(len(y))
            fit, score = order[:n], order[n:]
            t = fit_temperature(x[fit], y[fit])
            temperature.append(measure_calibration(x[score], y[score], t)["ece_after"])
            iso = calibrate_isotonic(y[fit], x[fit], "draw")
            probabilities = np.exp(log_softmax(x[score], iso.temperature))
            probabilities = ConfidenceMap.from_dict(iso.confidence_map).apply(probabilities)
            mapped.append(expected_calibration_error(probabilities, y[score])[0])
        row[f"T n={n}"], row[f"map n={n}"] = float(np.mean(temperature)), float(np.mean(mapped))
    return row


def row_of(run: Path, name: str, data: str, sizes: list[int], draws: int) -> tuple[dict, dict]:
    """The run's row of each table."""
    logits = split_logits(run, data)
    x, y = logits["test"]
    temperature = open_run(run).temperature
    fitted = measure_calibration(x, y, temperature)
    best = measure_calibration(x, y, fit_temperature(x, y))
    vx, vy = logits["validation"]
    return {
        "run": name,
        "validation_accuracy": float((vx.argmax(1) == vy).mean()),
        "test_accuracy": float((x.argmax(1) == y).mean()),
        "temperature": temperature,
        "ece": fitted["ece_after"],
        "nll": fitted["nll_after"],
        **two_fold(x, y),
        "ece_at_test_temperature": best["ece_after"],
        **isotonic(logits),
    }, by_size(name, x, y, sizes, draws)


def render(payload: dict[str, Any]) -> str:
    m = payload["machine"]
    head = f"{m['cpu']} ({m.get('cpu_capabilities', '')}), {m['cores']} cores; {payload['data']}"
    if "sizes" not in payload:
        return head + ".\n\n" + markdown_table(payload["results"], COLUMNS)
    columns = [("run", "run")]
    for n in payload["sizes"]:
        columns += [(f"T n={n}", f"T, {n:,} texts"), (f"map n={n}", f"T + map, {n:,} texts")]
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
    args = parser.parse_args()
    sizes = [int(n) for n in args.sizes.split(",")]
    rows, size_rows = [], []
    names = [run.name for run in args.runs]
    for run in args.runs:  # a folder name two runs share is told apart by its parent's
        name = run.name if names.count(run.name) == 1 else f"{run.parent.name}/{run.name}"
        row, size_row = row_of(run, name, args.data, sizes, args.draws)
        rows.append(row)
        size_rows.append(size_row)
        print(row, size_row, flush=True)
    common = {"machine": machine(), "data": args.data}
    publish(SECTIONS[0], {**common, "results": rows}, render)
    sized = {**common, "sizes": sizes, "draws": args.draws, "results": size_rows}
    publish(SECTIONS[1], sized, render)


if __name__ == "__main__":
    main()
