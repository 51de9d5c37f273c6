"""The `Classifier` protocol and `load`, which opens any attentext run directory as one.

Evaluation, comparison, explanation and serving take a `Classifier` and never ask which engine
or model family is behind it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from attentext.decisions import threshold_vector
from attentext.errors import AttentextError
from attentext.inference.ensemble import EnsembleClassifier
from attentext.models.registry import family_of_run
from attentext.rundir import ENSEMBLE_KIND, open_run

BACKENDS = ("torch", "onnx", "onnx-int8")


class Classifier(Protocol):
    """What every loaded model offers: its label names and class probabilities of texts."""

    labels: list[str]

    def predict_proba(self, texts: list[str]) -> np.ndarray: ...

    def predict(self, texts: list[str]) -> list[str]: ...


def check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise AttentextError(f"unknown backend '{backend}'; choose one of {', '.join(BACKENDS)}")


def load(
    run_dir: str | Path,
    precision: str = "auto",
    device: str | None = None,
    backend: str = "torch",
    threads: int | None = None,
) -> Classifier:
    """Load any attentext run directory as a `Classifier`.

    `backend`: "torch" (PyTorch; `device` None means the GPU if there is one), "onnx" or
    "onnx-int8" (ONNX Runtime on the CPU, on the files `attentext export RUN_DIR --format onnx
    [--int8]` wrote; precision and device do not apply; `threads` is ONNX Runtime's thread
    count, None its default). A TF-IDF run has its own engine and loads the same with every
    backend.
    """
    check_backend(backend)
    run = open_run(run_dir)
    if run.kind == ENSEMBLE_KIND:
        ensemble = EnsembleClassifier.from_run(
            run, lambda member: load(member, precision, device, backend, threads)
        )
        ensemble.temperature, ensemble.confidence_map = run.temperature, run.confidence_map
        ensemble.label_bias = run.label_bias_for(ensemble.labels)
        return ensemble
    family = family_of_run(run.kind)
    if family is not None:
        classifier = family.code().load_classifier(run.path)
        classifier.temperature = run.temperature
        classifier.confidence_map = run.confidence_map
        classifier.label_bias = run.label_bias_for(classifier.labels)
        if classifier.multi_label:
            classifier.thresholds = threshold_vector(run.thresholds, classifier.labels)
            classifier.label_temperatures = run.label_temperatures_for(classifier.labels)
        return classifier
    # Each engine is imported only when asked for: ONNX Runtime users never import torch's
    # models, and PyTorch users never import ONNX Runtime.
    if backend == "torch":
        from attentext.inference.torch_backend import TransformersClassifier

        return TransformersClassifier.from_run(run, precision=precision, device=device)
    from attentext.inference.onnx_backend import OnnxClassifier

    return OnnxClassifier.from_run(run, int8=backend == "onnx-int8", threads=threads)
