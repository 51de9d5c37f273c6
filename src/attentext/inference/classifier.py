"""The `Classifier` protocol and `load`, which opens any attentext run directory as one.

Evaluation, comparison, explanation and serving take a `Classifier` and never ask which engine
or model family is behind it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from attentext.decisions import threshold_vector
from attentext.errors import AttentextError, PrecisionError, check_device_name, shown
from attentext.files import path_parameter
from attentext.inference.ensemble import EnsembleClassifier
from attentext.models.registry import family_of_run
from attentext.recipes import PRECISIONS
from attentext.rundir import ENSEMBLE_KIND, open_run, read_whole

BACKENDS = ("torch", "onnx", "onnx-int8")


class Classifier(Protocol):
    """What every loaded model offers: its label names and class probabilities of texts."""

    labels: list[str]

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """Class probabilities, (len(texts), len(labels)), float64 from every backend."""
        ...

    def predict(self, texts: list[str]) -> list[str]: ...


MAX_THREADS = 1024  # far over any machine's cores; ONNX Runtime's pool fails (bad_alloc) at 1e9


def check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise AttentextError(f"unknown backend '{backend}'; choose one of {', '.join(BACKENDS)}")


def check_load_options(precision: str, threads: int | None) -> None:
    """Refuse a precision or thread count `load` cannot use, in one line, before anything loads.

    Unchecked, `precision="FP32"` was a bare ValueError (and ignored by the ONNX and TF-IDF
    engines), and `threads=2.5` or `10**9` reached ONNX Runtime, whose failure was reported as
    a damaged model ("cannot load the ONNX model (std::bad_alloc)"); `threads=-1` was taken.
    """
    if not isinstance(precision, str):
        raise TypeError(f"precision must be a string ({', '.join(PRECISIONS)}), not {precision!r}")
    if precision not in PRECISIONS:
        raise PrecisionError(
            f"unknown precision '{shown(precision)}'; choose one of {', '.join(PRECISIONS)}"
        )
    if threads is None:
        return
    if type(threads) is not int:  # not a bool, not 2.5, not "2"
        raise TypeError(f"threads must be a whole number or None, not {threads!r}")
    if not 0 <= threads <= MAX_THREADS:
        raise AttentextError(
            f"threads must be between 1 and {MAX_THREADS:,} (0 or None: the engine's default), "
            f"got {threads}"
        )


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
    run_dir = path_parameter(run_dir, "run_dir")  # None was pathlib's TypeError, unnamed
    return _loaded(run_dir, precision, device, backend, threads, whole=True)


def load_to_recalibrate(
    run_dir: str | Path, backend: str = "torch", calibrated: bool = True
) -> Classifier:
    """`load` for the commands that write a run's calibration anew (`recalibrate`, its label
    prior): a run whose metrics.json and calibration.json disagree, which `load` refuses
    (`Run.check_calibration_whole`), is what they mend. `calibrated=False`: the model without
    its calibration.json (one that cannot be read, which a refit replaces whole)."""
    return _loaded(run_dir, "auto", None, backend, None, whole=False, calibrated=calibrated)


def _loaded(
    run_dir: str | Path,
    precision: str,
    device: str | None,
    backend: str,
    threads: int | None,
    whole: bool,
    calibrated: bool = True,
) -> Classifier:
    check_backend(backend)
    check_load_options(precision, threads)
    check_device_name(device)
    classifier = read_whole(
        run_dir,
        lambda: _load_once(run_dir, precision, device, backend, threads, whole, calibrated),
    )
    classifier.run_dir = Path(run_dir).expanduser()  # what its repr names
    return classifier


def _load_once(
    run_dir: str | Path,
    precision: str,
    device: str | None,
    backend: str,
    threads: int | None,
    whole: bool = True,
    calibrated: bool = True,
) -> Classifier:
    """One reading of the run directory's files, in the order `load` needs them.

    The files are read by path, one after another: a run replaced meanwhile (`train
    --overwrite` publishes by exchanging folders) would give the old run's marker and
    weights with the new one's calibration and tokenizer, so `load` checks that the folder
    stayed the same one and reads it again where it did not (`rundir.read_whole`).
    """
    run = open_run(run_dir)
    if not calibrated:
        run.forget_calibration()
    if whole:  # its calibration as metrics.json records it (`whole`: not about to be rewritten)
        run.check_calibration_whole()
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
