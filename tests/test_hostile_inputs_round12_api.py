"""Hostile inputs, round 12: the Python API as a data scientist uses it in a notebook or a script.

R12-A1  a model used, then `multiprocessing` with fork: the child's predict hung for ever
"""

from __future__ import annotations

import multiprocessing as mp
from typing import Any

import pytest
import torch

import attentext

TEXTS = [
    "Oil prices jump as OPEC cuts output",
    "The Yankees beat the Red Sox in extra innings",
    "New chip doubles battery life of phones",
    "Talks on the ceasefire resume in Cairo",
]


# R12-A1 ------------------------------------------------------------------------------------------

_FORKED: dict[str, Any] = {}  # the classifier a forked child inherits


def _predict_in_child(text: str) -> str:
    return _FORKED["classifier"].predict([text])[0]


@pytest.mark.skipif("fork" not in mp.get_all_start_methods(), reason="no fork on this system")
def test_r12_a1_a_model_used_before_a_fork_predicts_in_the_forked_child(run_dir):
    """A notebook loads a model, tries it, then maps predict over a fork Pool (Linux's default):
    the child waited for ever on the OpenMP threads of the parent's first predict."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # as on any machine of 2 cores or more (CI's workers run on one)
    try:
        classifier = attentext.load(run_dir)
        expected = classifier.predict(TEXTS[:2])  # torch's thread pool now started here
        _FORKED["classifier"] = classifier
        pool = mp.get_context("fork").Pool(1)
        try:
            answered = pool.map_async(_predict_in_child, TEXTS[:2]).get(timeout=60)
        except mp.TimeoutError:
            pytest.fail("the forked child's predict hung")
        finally:
            pool.terminate()
            pool.join()
        assert answered == expected
        assert torch.get_num_threads() == 2  # the parent's own setting is left alone
    finally:
        _FORKED.clear()
        torch.set_num_threads(threads)
