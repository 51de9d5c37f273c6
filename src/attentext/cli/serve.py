"""`attentext serve`: run the HTTP service (predict, explain, a try-it page) over run directories."""

from __future__ import annotations

import errno
import logging
import math
import os
import re
import signal
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from attentext.cli.common import BackendOption, quiet_libraries
from attentext.errors import AttentextError

if TYPE_CHECKING:
    import uvicorn

    from attentext.serving.settings import ServerSettings

# The options of `serve` that are fields of ServerSettings: a bad value is named as typed.
OPTION_NAMES = {
    "request_timeout_s": "--request-timeout",
    "header_timeout_s": "--header-timeout",
    "keep_alive_timeout_s": "--keep-alive-timeout",
    "max_connections": "--max-connections",
    "max_batch_size": "--max-batch-size",
    "max_wait_ms": "--max-wait-ms",
    "max_chars": "--max-chars",
    "cors_allow_origins": "--cors-allow-origin",
}


# TCP ports; 0 asks the system for any free port (the startup line names the one it got).
PORTS = range(0, 65536)


def address(host: str, port: int) -> str:
    """`host:port` as a URL writes it: an IPv6 address in brackets. "http://::1:8000/" (what the
    startup line said for --host ::1) is no URL: curl and browsers refuse it."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def check_port_free(host: str, port: int) -> None:
    """Bind `host:port` once and release it, so a busy port is a one-line error, not a traceback.

    The range is checked first: getaddrinfo answers a port outside it with a service error
    that would read as a bad host, and bind with an OverflowError (a traceback after
    "serving on").
    """
    if port not in PORTS:
        raise AttentextError(
            f"--port {port}: choose a port from 1 to 65535 (0 takes any free port)"
        )
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise AttentextError(f"cannot resolve host '{host}' ({error.strerror})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        # As uvicorn sets it: a port left in TIME_WAIT by a previous server counts as free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise AttentextError(f"port {port} is already in use; pass --port") from None
            if error.errno in (errno.EACCES, errno.EPERM):
                raise AttentextError(
                    f"no permission to listen on port {port}; pass --port with a port above 1023"
                ) from None
            raise AttentextError(
                f"cannot listen on {address(host, port)} ({error.strerror})"
            ) from None


def serve_command(
    run_dirs: Annotated[
        list[Path],
        typer.Argument(
            help="Run directories to serve, each under its folder name; the first is the default."
        ),
    ],
    host: Annotated[
        str, typer.Option(help="Address to listen on (0.0.0.0 to accept other machines).")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(help="TCP port to listen on (0: any free port, named in the log).")
    ] = 8000,
    max_batch_size: Annotated[
        int, typer.Option(help="Most texts the micro-batcher runs through a model at once.")
    ] = 32,
    max_wait_ms: Annotated[
        float,
        typer.Option(
            help="Longest a request waits for others to share its batch, in milliseconds."
        ),
    ] = 5.0,
    max_chars: Annotated[
        int,
        typer.Option(
            help="Characters per text; a longer text is cut to it (or refused with --strict)."
        ),
    ] = 10_000,
    strict: Annotated[
        bool,
        typer.Option(
            help="Refuse texts over the character limit (422) instead of truncating them."
        ),
    ] = False,
    request_timeout: Annotated[
        float,
        typer.Option(
            help="Seconds a request may take before the client gets a 504 (the work is dropped)."
        ),
    ] = 30.0,
    header_timeout: Annotated[
        float,
        typer.Option(
            help="Seconds a connection may take to send a complete request line and headers "
            "(from opening, or from its previous response); then it gets a 408 or is closed."
        ),
    ] = 10.0,
    keep_alive_timeout: Annotated[
        float, typer.Option(help="Seconds an idle keep-alive connection stays open.")
    ] = 5.0,
    max_connections: Annotated[
        int,
        typer.Option(
            help="Open connections at most; past it a new one closes the connection that has "
            "waited longest for a request (lowered to fit the file limit, ulimit -n)."
        ),
    ] = 1000,
    torch_threads: Annotated[
        int,
        typer.Option(
            help="CPU threads of each model call. 1 leaves the other cores to HTTP and JSON; "
            "0 keeps torch's default (all cores). ONNX Runtime gets the same number."
        ),
    ] = 1,
    cors_allow_origin: Annotated[
        list[str] | None,
        typer.Option(
            help="Let web pages of this origin (scheme://host[:port], e.g. "
            "https://app.example.com) call the server from a browser: CORS headers and preflight "
            "OPTIONS answered. Repeat it for several origins; * allows any. Off by default: "
            "only the server's own pages."
        ),
    ] = None,
    backend: BackendOption = "torch",
) -> None:
    """Serve run directories over HTTP: /v1/predict, /v1/explain, /v1/models, a try-it page, and
    the Hugging Face, TEI and v2 (KServe/Triton) protocols.

    To serve a run replaced on disk (train --overwrite, recalibrate) without a restart, send the
    server SIGHUP (kill -HUP PID): each run directory is loaded again in the background while the
    models loaded before go on answering, then swapped in with its metrics; requests in flight
    are answered by the old model or the new one. A run that fails to load (half-written,
    deleted, damaged) keeps its old model served and is named in the log, as is a run whose
    labels changed.
    """
    settings = _settings(
        max_batch_size=max_batch_size,
        max_wait_ms=max_wait_ms,
        max_chars=max_chars,
        strict=strict,
        request_timeout_s=request_timeout,
        header_timeout_s=header_timeout,
        keep_alive_timeout_s=keep_alive_timeout,
        max_connections=max_connections,
        cors_allow_origins=tuple(cors_allow_origin or ()),
    )
    _check_options(run_dirs, backend, torch_threads)
    check_port_free(host, port)
    _log_to_console()
    # The file limit fitted (or refused) here, before the runs load and "serving on" is said:
    # under `ulimit -Hn 64` the refusal came after the load and after that line.
    connection_options = _connection_options(settings)
    if torch_threads:
        # Micro-batches are small: a second intra-op thread gains little on them and takes the
        # core the event loop needs (on a busy 2-core machine it made batches many times slower).
        import torch

        torch.set_num_threads(torch_threads)
    quiet_libraries()
    # the micro-batcher tokenizes while the event loop and the model share the cores: the
    # server's figures (benchmarks/serve_load.py) are measured with the tokenizer's threads off
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from attentext.inference.classifier import load
    from attentext.serving import create_app

    loader = partial(load, backend=backend, threads=torch_threads or None)
    app = create_app(run_dirs, loader=loader, settings=settings)
    with _reloads_on_hangup(app.state.service.request_reload):
        _run(app, host, port, settings, connection_options)


def _settings(**values: Any) -> ServerSettings:
    """The server's settings from the options; a bad one is a one-line error naming its option."""
    from attentext.serving.settings import ServerSettings

    try:
        return ServerSettings(**values)
    except AttentextError as error:
        message = str(error)
        for field, option in OPTION_NAMES.items():  # every field the message names
            message = re.sub(rf"\b{field}\b", option, message)
        raise AttentextError(message) from None


def _check_options(run_dirs: list[Path], backend: str, torch_threads: int) -> None:
    """Cheap checks first: a typo fails before anything loads or binds."""
    from attentext.inference.classifier import MAX_THREADS, check_backend
    from attentext.inference.onnx_backend import onnx_file
    from attentext.rundir import TRANSFORMERS_KIND, open_run

    check_backend(backend)
    for run_dir in run_dirs:
        run = open_run(run_dir)
        if backend != "torch" and run.kind == TRANSFORMERS_KIND:
            onnx_file(run_dir, int8=backend == "onnx-int8")
    # Checked before torch.set_num_threads: 2**31 was its "Overflow when unpacking long"
    # traceback, and 5,000 was taken by torch before `load` refused it as `threads`.
    if not 0 <= torch_threads <= MAX_THREADS:
        raise AttentextError(
            f"--torch-threads must be from 1 to {MAX_THREADS:,} (0: torch's default), "
            f"got {torch_threads}"
        )


def _log_to_console() -> None:
    """The server's own messages (startup, drained queues, unexpected errors) beside uvicorn's."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
    logger = logging.getLogger("attentext.serving")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def _connection_options(settings: ServerSettings) -> dict[str, Any]:
    """uvicorn's connection options for `settings` (`serving.connections.uvicorn_options`): the
    soft file limit raised, the connection cap fitted to it, or a file limit too low for any
    connection refused in one line."""
    from attentext.serving.connections import uvicorn_options

    return uvicorn_options(settings)


def _run(
    app: object, host: str, port: int, settings: ServerSettings, options: dict[str, Any]
) -> None:
    """Run uvicorn until Ctrl+C or SIGTERM, then drain.

    On a stop signal uvicorn stops accepting, finishes open requests, then the app's shutdown
    drains the micro-batchers. Every open request ends within the time limit (200 or 504), so
    the grace period only has to outlast it. Connections get the limits of
    `serving.connections` (`options`: header timeout, connection cap, JSON errors), and the log
    lines a client can cause are rate-limited (`serving.logs`).
    """
    import uvicorn

    from attentext.serving.announce import AnnouncingServer
    from attentext.serving.logs import limit_server_logs

    grace = math.ceil(settings.request_timeout_s) + 5
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        timeout_graceful_shutdown=grace,
        **options,
    )
    limit_server_logs()  # after uvicorn.Config, which configures logging
    server = AnnouncingServer(config, partial(_say_serving, host))
    with _stops_cleanly(server):
        server.run()
    if not server.started:
        raise AttentextError(
            f"the server on {address(host, port)} did not start; see the log above"
        )


def _say_serving(host: str, port: int) -> None:
    """The startup line, once the server listens on `port` (the one the system gave for
    --port 0)."""
    typer.echo(f"attentext: serving on http://{address(host, port)}/ (API schema at /docs)")


@contextmanager
def _reloads_on_hangup(reload: Callable[[], None]) -> Iterator[None]:
    """SIGHUP reloads the served runs from disk, as it makes nginx and gunicorn read their
    configuration again (uvicorn handles only the stop signals). `reload` only schedules the
    work on the event loop: the handler returns at once. No SIGHUP on Windows: nothing to do."""
    hangup = getattr(signal, "SIGHUP", None)
    if hangup is None:
        yield
        return
    previous = signal.signal(hangup, lambda signum, frame: reload())
    try:
        yield
    finally:
        signal.signal(hangup, previous)


@contextmanager
def _stops_cleanly(server: uvicorn.Server) -> Iterator[None]:
    """Make a SIGTERM or Ctrl+C that uvicorn handled (drained, then stopped) an exit status 0.

    uvicorn restores the handlers it found and re-raises the signal once it has shut down, which
    would kill the process with SIGTERM (or raise KeyboardInterrupt) after a clean drain. The
    handlers it finds here only ask it to stop: that re-raise then does nothing, and a signal that
    comes before uvicorn has installed its own handlers still stops the server.
    """

    def stop(signum, frame) -> None:
        server.should_exit = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
