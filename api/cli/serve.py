"""`kogi serve`: run the HTTP API with uvicorn (in embedded mode with the chain stack).

Everything that can stop a start is checked before anything is started, and every failure is one
line on stderr (`kogi: error: …`) with exit 1, never a traceback:

1. `--port` is a TCP port; the KOGI_ settings are valid.
2. One server per chain state file (when this server starts anvil): an flock on
   `<KOGI_CHAIN_STATE_FILE>.lock`, held while it runs (api/instance_lock.py). A second
   `kogi serve` on the same state names the running one instead of starting a second anvil.
3. The API port is bound now (the socket is handed to uvicorn), and the chain port must be free.
4. The application's start-up (migrations, anvil, contracts, the mirror check, the indexer: the
   FastAPI lifespan) runs here before uvicorn serves, so its errors (a busy port, a corrupt chain
   state, a ledger that mirrors a lost chain) are reported as one line. uvicorn then serves on the
   bound socket; on Ctrl-C / SIGTERM it shuts down gracefully and the lifespan's shutdown (indexer,
   then a last state save and anvil) runs before the command exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import signal
import socket
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import typer

from api.cli.errors import fail

if TYPE_CHECKING:
    import uvicorn
    from fastapi import FastAPI

    from api.instance_lock import InstanceLock
    from api.settings import ApiSettings

log = logging.getLogger("kogi.api")
MAX_PORT = 65535
BACKLOG = 2048


class _StartupFailed(Exception):
    pass


class _ShutdownFailed(Exception):
    pass


def one_line(exc: BaseException) -> str:
    """An exception as one readable line: its message, else its type (first line only)."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    if not first:
        return type(exc).__name__
    if type(exc) is RuntimeError or type(exc).__module__.startswith(("api.", "contracts.")):
        return first  # Kogi's own messages are written for the user
    return f"{type(exc).__name__}: {first}"


def load_settings() -> ApiSettings:
    """ApiSettings(), or the CLI's one error line naming the bad KOGI_ variable."""
    from pydantic import ValidationError

    from api.settings import ApiSettings

    try:
        return ApiSettings()
    except ValidationError as exc:
        problems = "; ".join(
            f"KOGI_{'_'.join(str(part) for part in error['loc']).upper()}: {error['msg']}" for error in exc.errors()
        )
        fail(f"invalid settings: {problems}")


def anvil_started_here(settings: ApiSettings) -> bool:
    """This process starts (and owns) the embedded anvil: embedded mode with no external KOGI_RPC_URL."""
    return bool(settings.embedded_chain) and settings.rpc_url is None


def bind_api_socket(host: str, port: int) -> socket.socket:
    """The listening socket uvicorn will serve on, or the CLI's one error line (naming the holder)."""
    from contracts.anvil import port_holder

    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        fail(f"cannot serve the API on {host}:{port}: {exc.strerror}")
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(BACKLOG)  # listening at once: no second server can bind it while this one starts
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            holder = port_holder(port)
            who = ""
            if holder is not None:
                name = " ".join(holder.argv[:4]) if holder.argv else "?"
                who = f" by pid {holder.pid} ({name})"
            fail(
                f"cannot serve the API on {host}:{port}: the port is already in use{who}; stop that process or "
                f"choose another --port"
            )
        fail(f"cannot serve the API on {host}:{port}: {exc.strerror or exc}")
    return sock


def check_chain_port(settings: ApiSettings) -> None:
    """The embedded anvil's port is a TCP port and free, or the CLI's one error line naming its holder."""
    from api.embedded_chain import busy_port_message
    from contracts.anvil import PortBusy, port_holder, port_open

    port = settings.chain_port
    if not 1 <= port <= MAX_PORT:
        fail(f"KOGI_CHAIN_PORT={port} is not a TCP port (1-{MAX_PORT})")
    if port_open(port):
        fail(busy_port_message(PortBusy(port, port_holder(port)), settings.chain_state_file))


def acquire_instance_lock(
    settings: ApiSettings,
    command: str,
    *,
    elsewhere: str = ", or give this one its own KOGI_CHAIN_STATE_FILE, KOGI_CHAIN_PORT and --port",
    **info: Any,
) -> InstanceLock | None:
    """The state file's lock (None when no anvil is started here), or the CLI's one error line
    (`elsewhere`: the advice after "stop it first")."""
    from api.instance_lock import InstanceRunning, acquire

    state = settings.chain_state_file
    if not anvil_started_here(settings) or state is None:
        return None
    try:
        return acquire(state, command=command, **info)
    except InstanceRunning as exc:
        fail(
            f"{exc} is running with the chain state file {state}: stop it first (Ctrl-C in its terminal"
            + (f", or `kill {exc.holder['pid']}`" if exc.holder.get("pid") else "")
            + ")"
            + elsewhere
        )
    except OSError as exc:
        fail(f"cannot lock {state} ({exc.strerror or exc})")


def _uvicorn_server() -> type[uvicorn.Server]:
    """uvicorn's Server with the signal handling `run_app` needs (imported late: `kogi --help` stays fast)."""
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            """uvicorn's, except that the signal is not raised again after the graceful shutdown:
            the application's shutdown (indexer, anvil) runs after `serve` here, then exit 0."""
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            original = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in original.items():
                    signal.signal(sig, handler)

    return Server


async def _lifespan_and_serve(app: FastAPI, server: uvicorn.Server, sock: socket.socket, url: str) -> None:
    """The application's start-up first (its failure is _StartupFailed, before anything is served), then
    uvicorn on the bound socket, then the application's shutdown (_ShutdownFailed)."""
    uvicorn_log = logging.getLogger("uvicorn.error")
    lifespan = app.router.lifespan_context(app)
    try:
        await lifespan.__aenter__()
    except Exception as exc:
        raise _StartupFailed(exc) from exc
    uvicorn_log.info("Application startup complete.")
    with server.capture_signals():  # from here on Ctrl-C / SIGTERM mean: shut down gracefully
        try:
            if not server.should_exit:
                uvicorn_log.info("Kogi API on %s (docs at %s/docs; Ctrl-C to stop)", url, url)
                await server.serve(sockets=[sock])
        finally:
            uvicorn_log.info("Waiting for application shutdown.")
            try:
                await lifespan.__aexit__(None, None, None)
            except Exception as exc:
                raise _ShutdownFailed(exc) from exc
            uvicorn_log.info("Application shutdown complete.")


def run_app(app: FastAPI, sock: socket.socket, host: str, port: int) -> None:
    """Serve `app` on `sock` until Ctrl-C / SIGTERM; start-up and shut-down failures are one line."""
    import uvicorn

    config = uvicorn.Config(app, host=host, port=port, lifespan="off")
    server = _uvicorn_server()(config)
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
    try:
        with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
            runner.run(_lifespan_and_serve(app, server, sock, url))
    except _StartupFailed as exc:
        log.debug("start-up failed", exc_info=exc.__cause__)
        fail(one_line(exc.__cause__ or exc))
    except _ShutdownFailed as exc:
        log.debug("shut-down failed", exc_info=exc.__cause__)
        fail(f"shut-down failed: {one_line(exc.__cause__ or exc)}")
    except KeyboardInterrupt:
        fail("interrupted during start-up", 130)


def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    port: int = typer.Option(8000, help="TCP port (1-65535)."),
) -> None:
    """Serve the API; in embedded mode (KOGI_EMBEDDED_CHAIN, the default) also anvil on KOGI_CHAIN_PORT,
    the core contracts and the indexer, started and stopped with the API. Refuses to start (one line,
    exit 1) when another server runs on the same chain state file or a port is taken."""
    if not 1 <= port <= MAX_PORT:
        fail(f"--port {port} is not a TCP port (1-{MAX_PORT})")
    settings = load_settings()
    api_url = f"http://{host}:{port}"
    lock = acquire_instance_lock(settings, "kogi serve", api_url=api_url, chain_port=settings.chain_port)
    try:
        sock = bind_api_socket(host, port)
        try:
            if anvil_started_here(settings):
                check_chain_port(settings)
            from api.app import create_app

            try:
                application = create_app(settings)
            except RuntimeError as exc:
                fail(one_line(exc))
            run_app(application, sock, host, port)
        finally:
            sock.close()
    finally:
        if lock is not None:
            lock.release()
