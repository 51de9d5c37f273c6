"""The `attentext` command line: one Typer app, its commands registered here and nowhere else.

User mistakes raise `AttentextError`; `main` shows them as one line on stderr and exits 2.
"""

from __future__ import annotations

import _thread
import errno
import functools
import io
import os
import platform
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

import typer

import attentext
from attentext.cli.auto import auto_command
from attentext.cli.card import card_command
from attentext.cli.common import err
from attentext.cli.compare import compare_command
from attentext.cli.distill import distill_command
from attentext.cli.ensemble import ensemble_command
from attentext.cli.evaluate import evaluate_command
from attentext.cli.explain import explain_command
from attentext.cli.export import export_command
from attentext.cli.predict import predict_command
from attentext.cli.recalibrate import recalibrate_command
from attentext.cli.serve import serve_command
from attentext.cli.summary import recipes_command, summary_command
from attentext.cli.train import train_command
from attentext.cli.tune import tune_command
from attentext.errors import AttentextError, AttentextNote, AttentextWarning, shown
from attentext.files import STAGING_PREFIX, cache_root

RESUMABLE = ("train", "distill")  # commands whose Ctrl-C leaves checkpoints to --resume from
# commands that read no model and train none, so never use the cache (`cache_said_first`)
CACHE_FREE = ("recipes", "card")


class CommandInterrupted(Exception):
    """Ctrl-C (a KeyboardInterrupt) in the command named, carried past Typer to `main`: Typer
    0.29 answers a KeyboardInterrupt with exit status 130 and not a word, so the line saying
    how to go on (`--resume`) was never shown."""

    def __init__(self, command: str) -> None:
        super().__init__(command)
        self.command = command


def carrying_interrupt(name: str, command: Callable[..., Any]) -> Callable[..., Any]:
    """`command` with a KeyboardInterrupt raised as `CommandInterrupted(name)`, the cache's
    setting checked first (`cache_said_first`); the same signature and help, which Typer reads
    through `functools.wraps`."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        cache_said_first(name)
        try:
            return command(*args, **kwargs)
        except KeyboardInterrupt as interrupt:
            raise CommandInterrupted(name) from interrupt

    return run


def cache_said_first(command: str) -> None:
    """Where the cache folder's setting cannot be used (ATTENTEXT_CACHE naming a file, no home
    folder), its one warning at the command's start, before any work: it came at the cache's
    first use, after an encoder had loaded or between training's lines, and never where the
    command ran without the cache that time (a TF-IDF run), so a setting wrong for the next
    command went unsaid (`files.cache_root` says it once a process)."""
    if command not in CACHE_FREE:
        cache_root()


def interrupted_line(command: str | None) -> str:
    """What `main` says of a Ctrl-C: for a training command, that --resume goes on from its last
    checkpoint; for any other, only that it was interrupted (predict --output and tune say
    what they kept themselves)."""
    if command in RESUMABLE:
        return (
            f"interrupted; the same {command} command with --resume continues it from its last "
            "checkpoint (or run it again without --resume if it saved none)"
        )
    return "interrupted"


app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    help="Attention-based text classification: train (or distill, tune, auto), evaluate, "
    "calibrate, predict, explain, compare, serve and export.",
)
for name, command in (
    ("train", train_command),
    ("evaluate", evaluate_command),
    ("recalibrate", recalibrate_command),
    ("predict", predict_command),
    ("compare", compare_command),
    ("summary", summary_command),
    ("recipes", recipes_command),
    ("explain", explain_command),
    ("serve", serve_command),
    ("export", export_command),
    ("distill", distill_command),
    ("ensemble", ensemble_command),
    ("card", card_command),
    ("tune", tune_command),
    ("auto", auto_command),
):
    app.command(name)(carrying_interrupt(name, command))

VERSIONED = ("torch", "transformers", "tokenizers", "onnxruntime")  # what a bug report needs


def version_line() -> str:
    """attentext's version and those of the libraries its results depend on, read from the
    installed packages' metadata (importing torch for `--version` would take seconds)."""
    parts = []
    for package in VERSIONED:
        try:
            parts.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{package} not installed")
    python = f"Python {platform.python_version()}"
    return f"attentext {attentext.__version__} ({', '.join(parts)}, {python})"


def _show_version(value: bool) -> None:
    """`--version`: the line, then exit before any command is looked for."""
    if value:
        print(version_line())
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(
        False, "--version", is_eager=True, callback=_show_version, help="Show versions and exit."
    ),
) -> None:
    """Options of `attentext` itself, before any command (the app's help is Typer's `help=`)."""


def _usage_error(error: typer.TyperException) -> None:
    """A usage error as one line, not Typer's boxed panel (bare `attentext` shows the help)."""
    if type(error).__name__ == "NoArgsIsHelpError":
        return
    ctx = getattr(error, "ctx", None)
    message = " ".join(error.format_message().split()).rstrip(".")
    command = f"{ctx.command_path} --help" if ctx is not None else "attentext --help"
    err.print(f"error: {message}; see `{command}`", markup=False, highlight=False, soft_wrap=True)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    """attentext's own warnings as one line `warning: ...` (`note: ...` for what a run decided
    for the user); others as Python shows them."""
    if issubclass(category, AttentextWarning):
        kind = "note" if issubclass(category, AttentextNote) else "warning"
        err.print(f"{kind}: {message}", markup=False, highlight=False, soft_wrap=True)
    else:
        _python_showwarning(message, category, filename, lineno, file, line)


_python_showwarning = warnings.showwarning


FULL_DISK = (errno.ENOSPC, errno.EDQUOT)


def disk_full_line(error: OSError) -> str:
    """A full disk (or quota) met while a command wrote its files, in one line: it was a
    traceback from evaluate, compare, explain, export, recalibrate, ensemble, tune and auto
    (train and predict said it already). Each keeps what an earlier call wrote whole, so the
    same command once there is space is the fix. The file is named as the user knows it:
    without the staging folder it was written in first (`files.files_replaced_together`)."""
    reason = error.strerror or type(error).__name__
    again = "free space and run the command again"
    if not error.filename:
        return f"could not write ({reason}); {again}"
    parts = Path(os.fsdecode(error.filename)).parts
    named = Path(*[part for part in parts if not part.startswith(STAGING_PREFIX)])
    return f"{shown(str(named), 200)}: could not write it ({reason}); {again}"


NOT_PERMITTED = (errno.EROFS, errno.EACCES, errno.EPERM)


def not_permitted_line(error: OSError) -> str:
    """A file or folder the command may not touch, in one line: a run on a read-only mount (a
    container's `:ro` volume, a snapshot) or another user's folder given to recalibrate, `card
    --write`, or as train's --output was an OSError traceback from the lock or staging folder
    made there first. Says whether it could not write the folder or read the file, and what to
    do; the path as the user knows it (without a staging folder or a lock's dot-name)."""
    reason = error.strerror or type(error).__name__
    if not error.filename:
        return f"not permitted ({reason}); run the command where you may write"
    parts = Path(os.fsdecode(error.filename)).parts
    path = Path(*[part for part in parts if not part.startswith(STAGING_PREFIX)])
    if path.is_file() and not os.access(path, os.R_OK):
        return f"{shown(str(path), 200)}: cannot read it ({reason}); ask its owner for access"
    staged = parts[-1].startswith(STAGING_PREFIX)  # made inside the folder it names
    folder = path if staged or path.is_dir() else path.parent
    return (
        f"{shown(str(folder), 200)}: cannot write in it ({reason}); write to a folder you can "
        "(a run the command changes: copy it there with cp -r and give the copy), or make it "
        "writable"
    )


def terminate_as_interrupt() -> Any:
    """Answer SIGTERM (a scheduler's stop, `kill`, `docker stop`, a laptop's shutdown) as
    Ctrl-C, exit status 130: the command keeps what it finished and says how to go on (tune
    keeps its best trial and names --resume, train and distill name --resume). SIGTERM ended
    the process at once before, without a word: a tune's best trial was left in trials/ with
    no best.yaml. A forked worker (a data loader's, predict's) that inherited this handler
    ends as it did, by SIGTERM's default action. An interrupt that lands in a finalizer, where
    Python can only report it, is raised again after it (`_interrupts_raised_again`). Returns
    the handler it replaced (None off the main thread, where no handler can be set, and where
    SIGTERM is ignored)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    if signal.getsignal(signal.SIGTERM) == signal.SIG_IGN:  # the caller chose so (as Python
        return None  # leaves an ignored SIGINT ignored)
    main_pid = os.getpid()

    def stop(signum: int, frame: Any) -> None:
        if os.getpid() != main_pid:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    sys.unraisablehook = _interrupts_raised_again(sys.unraisablehook, main_pid)
    return previous


# an interrupt lost in a finalizer is raised again this long after (the finalizer's own
# reporting takes microseconds; another interrupt landing in a finalizer is raised again too)
INTERRUPT_AGAIN_S = 0.05


def _interrupts_raised_again(report: Callable[[Any], None], main_pid: int) -> Callable[[Any], None]:
    """`sys.unraisablehook` that raises a lost interrupt again. Python runs a signal's handler
    wherever the main thread is; where that is a `__del__` or a weakref callback (a library's
    cleanup), the KeyboardInterrupt raised there can only be reported ("Exception ignored in
    ...") and the command went on: a SIGTERM or a Ctrl-C lost. It is raised again in the main
    thread once that cleanup has returned (SIGTERM's handler, through `_thread.interrupt_main`
    from a timer: called from the hook itself, the handler ran inside the hook, and its
    KeyboardInterrupt was reported in turn); anything else is reported as before."""

    def hook(unraisable: Any) -> None:
        kind = unraisable.exc_type
        if (
            isinstance(kind, type)
            and issubclass(kind, KeyboardInterrupt)
            and os.getpid() == main_pid
            and threading.current_thread() is threading.main_thread()
        ):
            again = threading.Timer(INTERRUPT_AGAIN_S, _thread.interrupt_main, (signal.SIGTERM,))
            again.daemon = True
            again.start()
            return
        report(unraisable)

    return hook


def escaping_what_cannot_print() -> list[tuple[io.TextIOWrapper, str]]:
    """Standard output (and error) made to print a character their encoding lacks as an escape
    (`\\u6771`, as `rendering.printable` shows control characters) rather than fail: under
    PYTHONIOENCODING=ascii or latin-1, or a pipe or terminal declared in such an encoding, a
    label such as `東京` or an emoji was a UnicodeEncodeError traceback from the first line
    that held one (predict, evaluate's table, explain, summary). JSON lines are ASCII already.
    Returns each stream changed with its handler before, for `main` to put back."""
    changed = []
    for stream in (sys.stdout, sys.stderr):
        # surrogateescape: Python's choice in the C locale (LC_ALL=C with PYTHONUTF8=0)
        if isinstance(stream, io.TextIOWrapper) and stream.errors in ("strict", "surrogateescape"):
            changed.append((stream, stream.errors))
            stream.reconfigure(errors="backslashreplace")
    return changed


def check_working_folder() -> None:
    """Refuse to start in a working folder deleted under the shell (`cd` into a temporary
    folder, removed by a cleanup): torch's MKL died loading in one ("Intel oneMKL FATAL ERROR:
    Cannot load libtorch_cpu.so", exit 2), absolute paths or not, and a relative path named
    nothing. Said in one line, before anything loads."""
    try:
        os.getcwd()
    except FileNotFoundError:
        err.print(
            "error: the working folder no longer exists (it was deleted after the shell entered "
            "it); cd to a folder that exists and run the command again",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(2)


@contextmanager
def _bars_ended_on_error() -> Iterator[None]:
    """Progress bars still open when a command fails (the Trainer's, stopped mid-run, is never
    closed) closed where they stopped, each ending its line: the command's one-line error then
    starts a line of its own, not the end of a bar's (in a log, no draw or clear comes between:
    `bars.ProgressBar`). tqdm is not imported for it: no bar was drawn without it."""
    try:
        yield
    except BaseException:
        drawn = getattr(sys.modules.get("tqdm.std"), "tqdm", None)
        for bar in list(getattr(drawn, "_instances", ())):
            bar.close()
        raise


def main() -> None:
    """Entry point: run the app; show user errors as one line, without a traceback."""
    check_working_folder()
    warnings.showwarning = _show_warning
    unraisable_hook = sys.unraisablehook
    previous = terminate_as_interrupt()
    escaped = escaping_what_cannot_print()
    try:
        with _bars_ended_on_error():
            code = app(standalone_mode=False)
    except AttentextError as error:
        err.print(f"error: {error}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(2)
    except typer.TyperException as error:
        _usage_error(error)
        sys.exit(error.exit_code)
    except typer.Abort:
        sys.exit(1)
    except (KeyboardInterrupt, CommandInterrupted) as interrupt:
        command = interrupt.command if isinstance(interrupt, CommandInterrupted) else None
        cause = interrupt.__cause__ if command else interrupt
        said = str(cause) if isinstance(cause, KeyboardInterrupt) else ""  # what auto kept
        err.print(said or interrupted_line(command), markup=False, highlight=False, soft_wrap=True)
        sys.exit(130)
    except OSError as error:
        if error.errno not in (*FULL_DISK, *NOT_PERMITTED):
            raise
        line = disk_full_line(error) if error.errno in FULL_DISK else not_permitted_line(error)
        err.print(f"error: {line}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(2)
    finally:
        if previous is not None:  # main called in a process that goes on (tests, a notebook)
            signal.signal(signal.SIGTERM, previous)
            sys.unraisablehook = unraisable_hook
        for stream, errors in escaped:
            stream.reconfigure(errors=errors)
    if isinstance(code, int) and code:  # typer.Exit(code) in non-standalone mode
        sys.exit(code)
