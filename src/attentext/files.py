"""Files written whole or not at all, read with limits, and held by one process at a time.

Every file attentext writes (run directories, caches, exports, reports) is written to a temporary
file in the same folder and renamed over its target: a crash leaves the old file or the new one,
never half of one. Temporaries are named `.<target name>.<random>.tmp`, so that a later write of
the same target can find and remove those a killed process left (`remove_stale_temporaries`).
Files that others may have made (run directories) are read as plain files only, up to a cap.
A finished folder replaces an old one in one atomic exchange where the system can. A path that
one process writes (a run being trained, an export) is held with an advisory lock.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import functools
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import stat
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path, PurePath
from typing import Any, TypeVar

from attentext.errors import AttentextError, AttentextWarning, shown

TMP_SUFFIX = ".tmp"
# a path argument of any kind `user_path` takes: it comes back of the same kind
PathArgument = TypeVar("PathArgument")


def user_path(path: PathArgument) -> PathArgument:
    """`path`, as a Python caller gave it, with a leading `~` read as the home folder, as a
    shell reads it: no shell expands `~` in a Python string, and `evaluate(..., output="~/r")`
    wrote into a folder named `~` in the working folder. Each public function passes its paths
    through here first. A str stays a str (a hub dataset's name is one) and a Path a Path;
    anything else (a `TextDataset`, None) is returned as it is; `~user` of no such user is left
    as written (then "not found"), where `Path.expanduser` raised a RuntimeError."""
    if isinstance(path, str):
        return os.path.expanduser(path)
    if isinstance(path, PurePath):
        return type(path)(os.path.expanduser(path))
    return path


def path_parameter(
    value: object, parameter: str, what: str = "a path (a str or a Path)", optional: bool = False
) -> Any:
    """`user_path(value)` for a public function's path `parameter` (None too where `optional`);
    anything else a one-line `TypeError` naming the parameter and what it got: pathlib's
    "expected str, bytes or os.PathLike object, not NoneType" named neither (`load(None)`,
    `evaluate(..., output=123)`), and `load_recipe(None)` looked up a recipe named 'None'."""
    if value is None and optional:
        return None
    if isinstance(value, str | os.PathLike) and isinstance(os.fspath(value), str):
        return user_path(value)
    raise TypeError(f"{parameter} must be {what}, not {shown(value)}")


def cache_root() -> Path:
    """attentext's cache folder (features, teacher logits, precision probes): $ATTENTEXT_CACHE,
    else ~/.cache/attentext. Read at each call, so that setting the variable after `import
    attentext` (a notebook, a test running commands in its own process) counts."""
    configured = os.environ.get("ATTENTEXT_CACHE")
    if configured:  # `~/cache` as an env file or a service sets it, unexpanded: a folder `~` in
        folder = Path(os.path.expanduser(configured))  # the working folder held the cache
        in_the_way = _file_in_the_way(folder)
        return folder if in_the_way is None else _cache_beside_a_file(configured, in_the_way)
    try:
        return Path.home() / ".cache" / "attentext"
    except (RuntimeError, KeyError):  # no HOME, and a user id without a passwd entry
        return _homeless_cache()


def _file_in_the_way(folder: Path) -> Path | None:
    """`folder`, or the folder above it nearest to it that exists, where that is not a folder
    (a file, a broken link): no folder can be made there; None where one can be."""
    for path in (folder, *folder.parents):
        if os.path.lexists(path):
            return None if path.is_dir() else path
    return None


def _temporary_cache() -> Path:
    """The cache folder of this user in the temporary folder (as matplotlib's fallback)."""
    return Path(tempfile.gettempdir()) / f"attentext-cache-{os.getuid()}"


@functools.cache
def _cache_beside_a_file(configured: str, in_the_way: Path) -> Path:
    """Where the cache goes when $ATTENTEXT_CACHE names a file (or a folder inside one), said
    once: each cache store warned on its own line that it could not write (three for `train
    encoder-frozen`), and the precision probe ran again at every command without a word. A
    warning, not an error: the cache only saves time, as where it cannot be written (a full
    disk, a read-only folder), and `serve` or `load` must not fail over it."""
    folder = _temporary_cache()
    itself = in_the_way == Path(os.path.expanduser(configured))
    what = "names a file" if itself else f"is inside the file {in_the_way}"
    warnings.warn(
        f"ATTENTEXT_CACHE={configured} {what}, not a folder, so the cache is in {folder}; set "
        "ATTENTEXT_CACHE to a folder (or unset it for ~/.cache/attentext)",
        AttentextWarning,
        stacklevel=3,
    )
    return folder


@functools.cache
def _homeless_cache() -> Path:
    """Where the cache goes without a home folder (a container run as an arbitrary user id with
    HOME unset: `Path.home()` raised, a traceback once training had begun), said once."""
    folder = _temporary_cache()
    warnings.warn(
        f"no home folder (HOME is unset and user id {os.getuid()} has none), so the cache is "
        f"in {folder}; set ATTENTEXT_CACHE to a folder to keep it",
        AttentextWarning,
        stacklevel=3,
    )
    return folder


def new_file_mode() -> int:
    """The mode `open()` gives a new file: 0o666 less the umask. Read from /proc where it can
    be: `os.umask` reads the mask only by setting it, and a thread creating a file meanwhile
    would get the mask set (0) instead of the user's."""
    with suppress(OSError, StopIteration, ValueError):
        status = Path("/proc/self/status").read_text(encoding="ascii", errors="replace")
        line = next(line for line in status.splitlines() if line.startswith("Umask:"))
        return 0o666 & ~int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


# the characters of a temporary's random part (tempfile's own): `.<target>.<8 of them>.tmp`
TMP_NAME_CHARACTERS = "abcdefghijklmnopqrstuvwxyz0123456789_"


def temporary_beside(target: Path) -> Path:
    """A new empty file in `target`'s folder, named after it: where `target` is written first.

    It has the permissions `open()` gives a new file (0o666 less the umask, or the folder's
    default ACL): `tempfile.mkstemp` made it 0o600, so every file of a run (weights, recipe,
    marker) and every report or export was readable by its owner alone whatever the umask, and
    a run trained by one user could not be loaded by another (a group's shared folder, a server
    under its own user id). `atomic_path` gives it the mode of the file it replaces.
    """
    target = Path(target)
    for _ in range(100):
        part = "".join(secrets.choice(TMP_NAME_CHARACTERS) for _ in range(8))
        tmp = target.parent / f".{target.name}.{part}{TMP_SUFFIX}"
        try:  # the kernel applies the umask (and a default ACL) to 0o666, as for `open(.., "w")`
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666))
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(errno.EEXIST, "no unused temporary name", str(target))


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces `target` in one rename.

    On any failure the temporary is removed and `target` is left as it was.
    """
    target = Path(target)
    tmp = temporary_beside(target)
    try:
        yield tmp
        with suppress(OSError):  # a file written before keeps its mode (a chmod 640 stays 640)
            os.chmod(tmp, stat.S_IMODE(os.stat(target).st_mode))
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(target: Path, write: Callable[[Path], Any]) -> None:
    """`write(tmp_path)`, then rename the result over `target`."""
    with atomic_path(target) as tmp:
        write(tmp)


def write_text(target: Path, text: str) -> None:
    """Write UTF-8 text atomically."""
    write_atomic(target, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(target: Path, payload: Any) -> None:
    """Write JSON atomically (indented, one trailing newline)."""
    write_text(target, json.dumps(payload, indent=2) + "\n")


def remove_stale_temporaries(target: Path, max_age_s: float = 0.0) -> list[Path]:
    """Remove the temporaries of `target` that an interrupted write left (older than max_age_s).

    A process killed between creating its temporary and renaming it leaves the file behind
    (110 MB for an exported MiniLM); the next write of the same target cleans them.
    """
    return _removed_if_older(
        Path(target).parent.glob(f".{Path(target).name}.*{TMP_SUFFIX}"), max_age_s
    )


def remove_stale_temporaries_in(folder: Path, max_age_s: float) -> list[Path]:
    """Remove every temporary in `folder` older than max_age_s, whatever file it was to become
    (a cache's entries: a writer killed mid-write left one, which writing another entry would
    never clean); a younger one may be another process's write in progress."""
    return _removed_if_older(Path(folder).glob(f".*{TMP_SUFFIX}"), max_age_s)


def _removed_if_older(paths: Iterable[Path], max_age_s: float) -> list[Path]:
    removed = []
    now = time.time()
    for path in paths:
        try:
            if now - path.stat().st_mtime >= max_age_s:
                path.unlink()
                removed.append(path)
        except OSError:
            continue
    return removed


# ---------------------------------------------------------------------------------------------
# Replacing a command's set of files in a folder: all of them or none
# ---------------------------------------------------------------------------------------------

STAGING_PREFIX = ".attentext-staging."
# between a staging folder's process id and its host: `<prefix><pid>@<host>.<random>`
HOST_MARK = "@"


@contextmanager
def interrupts_held() -> Iterator[None]:
    """Run the block with Ctrl-C (SIGINT) and SIGTERM held until it ends, then act on them: a
    few renames that must all happen are not cut in the middle (the CLI raises a SIGTERM as a
    Ctrl-C, `cli.app.terminate_as_interrupt`; one with its default action still ends the
    process, after the block). Only the main thread can hold signals; elsewhere (where Python
    delivers no KeyboardInterrupt) the block simply runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    held = (signal.SIGINT, signal.SIGTERM)
    previous = {
        sig: signal.signal(sig, lambda signum, frame: caught.append(signum)) for sig in held
    }
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    for sig in dict.fromkeys(caught):
        if callable(previous[sig]):
            previous[sig](sig, None)
        elif previous[sig] == signal.SIG_DFL:
            os.kill(os.getpid(), sig)


@contextmanager
def files_replaced_together(folder: Path, is_own: Callable[[str], bool]) -> Iterator[Path]:
    """Yield a hidden staging folder inside `folder` to write a command's files in; when the
    block ends normally, the files an earlier call left in `folder` (plain files or links
    whose names `is_own` accepts) give way to the staged ones in one pass of renames, with
    Ctrl-C held until it ends. A block that fails (a full disk, Ctrl-C, an error) leaves
    `folder` as it was, and a folder made for it is removed again: writing a report file by
    file over an old one left half of each after a Ctrl-C. A kill -9 can still fall between
    two renames (microseconds); the staging folder it leaves is removed by the next call."""
    folder = Path(folder)
    with folders_made(folder):
        remove_abandoned_staging(folder)
        staging = staging_folder(folder)
        try:
            yield staging
            with interrupts_held():
                _move_in(staging, folder, is_own)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


@contextmanager
def folders_made(folder: Path) -> Iterator[None]:
    """Make `folder` and its missing parents; where the block fails, remove again those it made
    that are still empty, deepest first: a refused or interrupted command left `-o new/sub/out`'s
    folders behind (only the last one was removed)."""
    folder = Path(folder)
    made = [path for path in (folder, *folder.parents) if not os.path.lexists(path)]
    folder.mkdir(parents=True, exist_ok=True)
    try:
        yield
    except BaseException:
        for path in made:
            with suppress(OSError):
                path.rmdir()
        raise


def _move_in(staging: Path, folder: Path, is_own: Callable[[str], bool]) -> None:
    """Remove `folder`'s own files that `staging` has no new one of, then rename each staged
    file over its name (a link of that name is replaced, never written through); a folder of
    such a name is refused before anything is renamed."""
    new = {entry.name for entry in staging.iterdir()}
    for name in new:  # checked before any rename: a folder of that name would stop them halfway
        if (folder / name).is_dir() and not (folder / name).is_symlink():
            # an IsADirectoryError was a traceback (`explain -o D --overwrite`, D/explanation.html
            # a folder); nothing is renamed yet, so the earlier files stay whole
            raise AttentextError(
                f"{folder / shown(name)}: a folder, where this command writes a file of that "
                "name; move it out of the way (or rename it) and run again"
            )
    for entry in folder.iterdir():
        old = entry.name not in new and is_own(entry.name)
        if old and (entry.is_symlink() or entry.is_file()):
            entry.unlink()
    for name in sorted(new):
        os.replace(staging / name, folder / name)


def is_staging(entry: Path) -> bool:
    """A staging folder of `files_replaced_together` (its own, or one a killed call left)."""
    return entry.name.startswith(STAGING_PREFIX) and entry.is_dir() and not entry.is_symlink()


# the staging folders this process made (its threads' included): one named for this process's
# id that is not among them was left by an earlier process of the same id (`abandoned_staging`)
_MADE_HERE: set[str] = set()


def staging_folder(folder: Path) -> Path:
    """A new hidden folder in `folder`, named for this process, whose files no reader of
    `folder` counts (`is_staging`); one a killed process left is removed by
    `remove_abandoned_staging`."""
    owner = f"{os.getpid()}{HOST_MARK}{this_host()}"
    made = Path(tempfile.mkdtemp(dir=folder, prefix=f"{STAGING_PREFIX}{owner}."))
    _MADE_HERE.add(os.path.abspath(made))
    return made


@functools.cache
def this_host() -> str:
    """This machine's name as a staging folder holds it (letters, digits, `.`, `-`, `_`)."""
    name = socket.gethostname()
    name = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in name)
    return name[:64] or "unknown"


def staging_owner(entry: Path) -> tuple[int, str | None] | None:
    """The process id and host a staging folder's name holds (None for a host where it was
    made before names held one), or None where its name holds no process id."""
    owner = entry.name[len(STAGING_PREFIX) :].rsplit(".", 1)[0]  # mkdtemp's part has no dot
    pid, mark, host = owner.partition(HOST_MARK)
    if not pid.isdigit():
        return None
    return int(pid), host if mark else None


def foreign_staging(folder: Path) -> list[tuple[Path, int, str]]:
    """The staging folders in `folder` made on another machine sharing it (NFS): each with its
    process id and host. This machine cannot tell whether that process still runs."""
    found = []
    for entry in sorted(Path(folder).glob(f"{STAGING_PREFIX}*")):
        owner = staging_owner(entry)
        if is_staging(entry) and owner and owner[1] is not None and owner[1] != this_host():
            found.append((entry, owner[0], owner[1]))
    return found


def remove_abandoned_staging(folder: Path) -> None:
    """Remove the staging folders in `folder` whose process no longer runs (killed by -9)."""
    for entry in abandoned_staging(folder):
        shutil.rmtree(entry, ignore_errors=True)


def abandoned_staging(folder: Path) -> list[Path]:
    """The staging folders in `folder` whose process no longer runs (killed by -9 or SIGTERM),
    or whose process id another process has since been given: in a container each command
    runs as the same pid (1, or 7 under tini), so the folder a SIGTERM left (`docker stop`)
    was taken for the next command's own and kept for ever (an audit). A folder made on another
    machine (its name holds the host, `foreign_staging`) is never one: this machine's process
    table says nothing of that process, and a live recalibrate there looked killed, its kept
    files put back under it (an audit). One named before names held a host is judged here."""
    found = []
    for entry in sorted(Path(folder).glob(f"{STAGING_PREFIX}*")):
        owner = staging_owner(entry)
        if not is_staging(entry) or owner is None or owner[1] not in (None, this_host()):
            continue
        if _left_by(entry, owner[0]):
            found.append(entry)
    return found


def _left_by(entry: Path, pid: int) -> bool:
    """Whether staging folder `entry`, named for process `pid`, was left by a process that is
    gone: none of that id runs, this process has that id but did not make it, or the process
    of that id started after the folder was last written (Linux's /proc says when)."""
    if pid == os.getpid():
        return os.path.abspath(entry) not in _MADE_HERE
    if not _running(pid):
        return True
    started = _process_start(pid)
    try:
        return started is not None and started > entry.stat().st_mtime + 1  # btime: seconds
    except OSError:
        return False


def _process_start(pid: int) -> float | None:
    """When process `pid` started, in seconds since the epoch, from Linux's /proc; None where
    that cannot be read (another system, a hidden /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(
            line for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime")
        )
        return int(boot.split()[1]) + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def _running(pid: int) -> bool:
    """Whether a process `pid` exists (on this machine)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ---------------------------------------------------------------------------------------------
# Reading files others may have made: plain files only, and never more than a cap
# ---------------------------------------------------------------------------------------------


class UnsafeFileError(OSError):
    """A file that is a link, a device, a FIFO, or bigger than its cap: not read."""


def check_plain_file(path: Path) -> os.stat_result:
    """The file's stat, if it is a regular file and not a symbolic link; else UnsafeFileError."""
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        raise UnsafeFileError(f"{path.name} is a symbolic link")
    if not stat.S_ISREG(info.st_mode):
        raise UnsafeFileError(f"{path.name} is not a regular file")
    return info


def foreign_entries(work: Path, is_own: Callable[[Path], bool]) -> list[str] | None:
    """The names in the work folder `work` that its command never writes (`is_own` says which
    it does), sorted; None when `work` is a link or a file, which no command makes. An empty
    list: nothing foreign (or no such folder). A command clears or resumes its work folder
    only when this is empty, so a user's folder that happens to have the name is left whole."""
    if not (work.exists() or work.is_symlink()):
        return []
    if work.is_symlink() or not work.is_dir():
        return None
    return sorted(entry.name for entry in work.iterdir() if not is_own(entry))


def file_digest(path: Path) -> str:
    """A SHA-256 of the file's bytes (32 hex digits), read a block at a time: what a run
    records of its training file, to know it again wherever it is copied or however named."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 24), b""):
            digest.update(block)
    return digest.hexdigest()[:32]


def read_bytes_capped(path: Path, max_bytes: int) -> bytes:
    """The bytes of a regular file (no symlink, FIFO or device), refusing more than `max_bytes`.

    The file is opened without following links and without blocking, then checked again on the
    open descriptor, so a file swapped for a FIFO or a link between check and open is refused
    too.
    """
    check_plain_file(path)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, flags)
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeFileError(f"{path.name} is not a regular file")
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UnsafeFileError(f"{path.name} is over {max_bytes:,} bytes")
    return data


# ---------------------------------------------------------------------------------------------
# Replacing a folder in one step, and holding a path for one process
# ---------------------------------------------------------------------------------------------

_RENAME_EXCHANGE = 2  # linux/fs.h


def _renameat2() -> Any:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        function = libc.renameat2
    except (OSError, AttributeError):
        return None
    function.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    return function


def exchange(first: Path, second: Path) -> bool:
    """Swap two paths in one atomic step (Linux `renameat2(RENAME_EXCHANGE)`); False where the
    system or the file system cannot, so that the caller falls back to two renames."""
    function = _renameat2()
    if function is None:
        return False
    at_cwd = -100  # AT_FDCWD
    if function(at_cwd, os.fsencode(first), at_cwd, os.fsencode(second), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EXDEV):
        return False
    raise OSError(code, os.strerror(code), str(first))


class LockHeld(Exception):
    """Another process holds the lock; `holder` says who (pid, host, since when, what)."""

    def __init__(self, holder: str) -> None:
        super().__init__(holder)
        self.holder = holder


def _holder_note(fd: int, wait: float = 2.0) -> str:
    """What the holder of a lock wrote of itself. It writes its note just after taking the lock:
    a reader that comes between the two (a loaded machine can pause the holder there) finds the
    file empty, so it reads again for up to `wait` seconds before saying "unknown"."""
    deadline = time.monotonic() + wait
    while True:
        note = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
        if note or time.monotonic() > deadline:
            return note or "unknown"
        time.sleep(0.02)


@contextmanager
def waiting_lock(lock_path: Path, timeout_s: float = 10.0) -> Iterator[None]:
    """Hold `lock_path` (an advisory `flock`, released by the kernel even on kill -9) while the
    block runs, waiting up to `timeout_s` for another holder (then TimeoutError): for a
    read-modify-write of a small shared file, such as the precision probes' cache, that two
    processes doing it at once would each write whole, the last dropping the other's entry.
    The lock file stays (removing it under waiters would let two hold it at once)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(errno.ETIMEDOUT, "held too long", str(lock_path)) from None
                time.sleep(0.01)
        yield
    finally:
        os.close(fd)  # releases the lock


@contextmanager
def exclusive_lock(lock_path: Path, purpose: str) -> Iterator[None]:
    """Hold `lock_path` for this process while the block runs; `LockHeld` if another has it.

    An advisory `flock` on a small file that names its holder: the kernel releases it when the
    process ends, kill -9 included, so a crashed holder never blocks the next run. The file is
    removed on release, under the lock; a process that locked a file just removed retries on the
    new one (the inode check), so two holders can never coexist.
    """
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder_note(fd)
            os.close(fd)
            raise LockHeld(holder) from None
        try:
            same = os.fstat(fd).st_ino == os.stat(lock_path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the holder removed this file as we took it: lock the new one
    try:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        note = f"pid {os.getpid()} on {socket.gethostname()} since {stamp} ({purpose})"
        os.ftruncate(fd, 0)
        os.pwrite(fd, note.encode("utf-8"), 0)
        yield
    finally:
        with suppress(OSError):
            os.unlink(lock_path)
        os.close(fd)
