"""How many processes train together: torchrun and accelerate set WORLD_SIZE; 1 alone.

Each process reads a batch of `training.batch_size` texts a step, so an epoch is
n_train / (batch_size x world_size) optimizer steps: the data-aware epochs and the Trainer's
step count both divide by it.
"""

from __future__ import annotations

import os
import sys

from attentext.errors import AttentextError, shown

# what torchrun sets for each process, with the least each may be; transformers reads
# LOCAL_RANK when it makes its TrainingArguments
LAUNCH_VARIABLES = {"WORLD_SIZE": 1, "RANK": 0, "LOCAL_RANK": 0}


def world_size() -> int:
    """The number of processes training together (WORLD_SIZE; 1 where unset)."""
    return launch_number("WORLD_SIZE", 1)


def rank() -> int:
    """This process's rank among them (RANK; 0 where unset); every launch variable checked."""
    for name, least in LAUNCH_VARIABLES.items():
        launch_number(name, least)
    return launch_number("RANK", 0)


def launch_number(name: str, default: int) -> int:
    """The whole number in the environment variable `name` (`default` where unset); one line
    where it is not one, or below its least: `RANK= attentext train` (a variable left empty by a
    script) was a ValueError traceback from int()."""
    value = os.environ.get(name)
    if value is None:
        return default
    least = LAUNCH_VARIABLES[name]
    try:
        number = int(value.strip())
    except ValueError:
        number = least - 1
    if number < least:
        raise AttentextError(
            f"{name}='{shown(value)}' in the environment is not a whole number of {least} or more; "
            f"torchrun sets it for each process it starts: unset it (unset {name}) to run in "
            "one process"
        )
    return number


_fork_guarded = False


def one_torch_thread_after_fork() -> None:
    """In a child forked from this process, torch computes on one thread (registered once, by
    the code that first runs a torch model here: inference and training).

    torch's OpenMP runtime (GNU libgomp) keeps no state across fork: a child of a process that
    ran a torch model on more than one thread waits for ever on the parent's worker threads,
    which the child does not have, at its first multi-threaded op. `Pool(...).map(clf.predict,
    chunks)` with Linux's default start method hung without a word. torch's own DataLoader
    workers set one thread for the same reason; N forked workers share the cores anyway.
    """
    global _fork_guarded
    if not _fork_guarded and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_one_torch_thread)
        _fork_guarded = True


def _one_torch_thread() -> None:
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() > 1:
        torch.set_num_threads(1)
