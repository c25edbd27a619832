"""``serve`` on every core: N worker processes on one port, drained on SIGTERM.

Why processes: one Python process runs one event loop on one core; a voice server is
CPU-bound per session, so a machine's cores are used by running one process per core.
The workers share the listening port through SO_REUSEPORT (the kernel spreads new
connections over them), so no process sits in the data path and a session lives wholly in
one worker.  The parent only starts the workers, forwards SIGTERM/SIGINT to them and waits.

A worker that gets SIGTERM (or SIGINT) drains: ``/readyz`` answers 503 and new sessions
are closed with 1013 at once, live sessions go on until they end or the drain deadline
passes (then they are closed with 1001), and the process exits.

The event loop is uvloop's when it is installed (the ``uvloop`` extra) and ``--loop`` is
``auto`` or ``uvloop``; asyncio's otherwise.
"""

from __future__ import annotations

import importlib.util
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio

from ..providers.config import S2SConfig
from .common import build_cascade, build_provider, console, err_console, setup_logging

__all__ = ["WorkerSpec", "default_workers", "run_async", "run_worker", "run_workers"]

T = TypeVar("T")

#: Seconds the parent waits for a worker beyond its drain deadline before killing it.
KILL_GRACE = 5.0


def default_workers() -> int:
    """One worker per core this process may run on."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def uvloop_available() -> bool:
    return importlib.util.find_spec("uvloop") is not None


def run_async(main: Callable[[], Awaitable[T]], loop: str = "auto") -> T:
    """Run ``main`` on uvloop (``auto`` when installed, or ``uvloop``) or asyncio's loop."""
    if loop not in ("auto", "uvloop", "asyncio"):
        raise ValueError(f"unknown event loop {loop!r}: auto, uvloop or asyncio")
    if loop == "uvloop" and not uvloop_available():
        raise ValueError(
            "--loop uvloop: uvloop is not installed (pip install 'beluga-voice[uvloop]')"
        )
    use_uvloop = loop == "uvloop" or (loop == "auto" and uvloop_available())
    return anyio.run(main, backend_options={"use_uvloop": use_uvloop})


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """Everything a worker process needs to build its server (picklable: sent to spawns)."""

    cfg: S2SConfig
    host: str
    port: int
    token: str | None
    max_sessions: int
    drain_timeout: float
    reuse_port: bool
    loop: str = "auto"
    engine: str = "auto"
    """The WebSocket engine (:attr:`~beluga_voice.transports.websocket.ServerConfig.engine`)."""
    log_json: bool = False
    verbose: bool = False
    protocol: str = "beluga"
    """The wire format: ``beluga`` (the default serializer) or a carrier of
    :data:`~beluga_voice.transports.telephony.CARRIERS`."""
    transport: str = "auto"
    """``webrtc``, ``websocket``, ``both`` or ``auto`` (both when aiortc is installed)."""
    ice_servers: tuple[str, ...] = ()
    turn_username: str | None = field(default=None, repr=False)
    turn_credential: str | None = field(default=None, repr=False)
    stt: str | None = None
    tts: str | None = None
    """With ``stt``: each session is an STT -> agent -> TTS cascade instead of ``cfg``'s
    provider."""


def webrtc_config(spec: WorkerSpec) -> Any:
    """The WebRTC settings ``spec`` asks for, or None for WebSocket only; ValueError with a
    fix when they cannot be had (an unknown transport, aiortc missing, a bad ICE URL)."""
    if spec.transport not in ("auto", "both", "webrtc", "websocket"):
        raise ValueError(f"unknown transport {spec.transport!r}: webrtc, websocket, both, auto")
    has_aiortc = importlib.util.find_spec("aiortc") is not None
    if spec.protocol != "beluga":  # a carrier's media stream: WebSocket only
        if spec.transport in ("webrtc", "both"):
            raise ValueError(f"--protocol {spec.protocol} runs over WebSocket only")
        return None
    if spec.transport == "websocket" or (spec.transport == "auto" and not has_aiortc):
        return None
    if not has_aiortc:
        raise ValueError(
            f"--transport {spec.transport} needs aiortc: pip install 'beluga-voice[webrtc]'"
        )
    from ..transports.webrtc import IceServer, WebRTCConfig

    servers = [
        IceServer(url, spec.turn_username, spec.turn_credential)
        if url.startswith("turn")
        else IceServer(url)
        for url in spec.ice_servers
    ]
    return WebRTCConfig(ice_servers=servers, websocket=spec.transport != "webrtc")


def run_worker(spec: WorkerSpec) -> None:
    """One server process: serve until SIGTERM/SIGINT, then drain and return."""
    from ..processors.s2s import S2SProcessor
    from ..transports.telephony import CARRIERS
    from ..transports.websocket import DefaultSerializer, ServerConfig, WebSocketServer
    from ..transports.websocket.config import resolve_engine

    setup_logging(spec.log_json, spec.verbose)
    prov = None if spec.stt is not None else build_provider(spec.cfg)
    serving = prov.name if prov is not None else f"{spec.stt} + {spec.tts}"
    server_config = ServerConfig(
        host=spec.host,
        port=spec.port,
        token=spec.token,
        output_sample_rate=spec.cfg.sample_rate,
        max_sessions=spec.max_sessions,
        reuse_port=spec.reuse_port,
        engine=spec.engine,  # type: ignore[arg-type]  # checked by ServerConfig
        # The browser client speaks the project's protocol, not a carrier's.
        serve_client_page=spec.protocol == "beluga",
    )

    def build(transport: Any) -> list[Any]:
        if prov is None:  # a cascade: its own STT, agent and TTS for each session
            middle = build_cascade(spec.cfg, spec.stt, spec.tts)
        else:
            middle = [S2SProcessor(prov)]
        return [transport.input(), *middle, transport.output()]

    def new_server() -> WebSocketServer:
        serializer = CARRIERS.get(spec.protocol, DefaultSerializer)
        webrtc = webrtc_config(spec)
        if webrtc is None:
            return WebSocketServer(build, server_config, serializer_factory=serializer)
        from ..transports.webrtc import WebRTCServer

        return WebRTCServer(build, server_config, webrtc, serializer_factory=serializer)

    async def main() -> None:
        # The signal receiver is opened before the port, so a SIGTERM that arrives while
        # starting still drains; it stays open while draining, so a second signal does not
        # kill the process mid-drain.
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async with new_server() as server:
                via = f" for {spec.protocol} calls" if spec.protocol in CARRIERS else ""
                engine = resolve_engine(server_config.engine)
                console.print(
                    f"worker {os.getpid()} serving {serving}{via} on {server.url} ({engine})",
                    highlight=False,
                )
                if server_config.serve_client_page:
                    transports = " + ".join(server.client_transports)
                    page = server.url.replace("ws", "http", 1)
                    console.print(f"browser client ({transports}): {page}", highlight=False)
                sys.stdout.flush()
                async for _ in signals:
                    break
                server.draining = True  # before the line below: it means "refusing now"
                console.print(
                    f"worker {os.getpid()} draining {server.active_sessions} sessions",
                    highlight=False,
                )
                sys.stdout.flush()
                clean = await server.drain(spec.drain_timeout)
                console.print(
                    f"worker {os.getpid()} drained ({'clean' if clean else 'deadline'})",
                    highlight=False,
                )

    run_async(main, spec.loop)


def _worker_entry(spec: WorkerSpec) -> None:
    try:
        run_worker(spec)
    except OSError as exc:
        err_console.print(f"error: worker {os.getpid()} cannot serve: {exc}", highlight=False)
        sys.exit(1)


def run_workers(spec: WorkerSpec, workers: int) -> int:
    """Start ``workers`` processes and wait for them; SIGTERM/SIGINT are forwarded (as
    SIGTERM, which drains).  Returns the exit code: 0 when every worker ended cleanly."""
    ctx = multiprocessing.get_context("spawn")  # no inherited loop, threads or native state
    procs = [
        ctx.Process(target=_worker_entry, args=(spec,), name=f"worker-{i}") for i in range(workers)
    ]
    stopping = False

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for p in procs:
            if p.pid is not None and p.exitcode is None:
                os.kill(p.pid, signal.SIGTERM)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        for p in procs:
            p.start()
        failed = False
        stop_at: float | None = None
        while any(p.exitcode is None for p in procs):
            for p in procs:
                p.join(timeout=0.1)
                if p.exitcode not in (None, 0) and not stopping:
                    # one worker could not start or died: bring the others down too
                    failed = True
                    forward(signal.SIGTERM, None)
            if stopping and stop_at is None:
                stop_at = time.monotonic() + spec.drain_timeout + KILL_GRACE
            if stop_at is not None and time.monotonic() > stop_at:
                for p in procs:  # a worker stuck past its drain deadline
                    if p.exitcode is None:
                        p.kill()
                        p.join()
        return 1 if failed or any(p.exitcode for p in procs) else 0
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
