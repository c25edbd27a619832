"""``beluga-voice serve --workers N``: real processes on loopback, one port, drained on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from beluga_voice.cli import workers
from beluga_voice.transports.websocket import ServerConfig

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_serve(port: int, *extra: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    command = ["serve", "--provider", "mock", "--port", str(port), "--loop", "asyncio"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "beluga_voice.cli", *command, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    return proc


def wait_serving(proc: subprocess.Popen[str], workers: int) -> None:
    """Read the workers' start lines (each prints one once its socket listens)."""
    assert proc.stdout is not None
    seen = 0
    while seen < workers:
        line = proc.stdout.readline()
        assert line, f"serve exited early: {proc.stderr.read() if proc.stderr else ''}"
        seen += "serving mock on" in line


def wait_line(proc: subprocess.Popen[str], text: str) -> None:
    assert proc.stdout is not None
    while text not in (line := proc.stdout.readline()):
        assert line, "serve exited early"


def http_get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


@pytest.fixture
def stop_all() -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait(timeout=10)


def test_two_workers_share_one_port_and_both_take_connections(
    stop_all: list[subprocess.Popen[str]],
) -> None:
    port = free_port()
    proc = start_serve(port, "--workers", "2")
    stop_all.append(proc)
    wait_serving(proc, 2)
    pids = set()
    for _ in range(200):  # the kernel spreads connections by their source port
        status, body = http_get(port, "/healthz")
        assert status == 200
        pids.add(body.strip())
        if len(pids) == 2:
            break
    assert len(pids) == 2, pids
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0


async def _open_session(url: str) -> object:
    ws = await connect(url, open_timeout=10)
    greeting = json.loads(await ws.recv())
    assert greeting["type"] == "session.started"
    return ws


@pytest.mark.anyio
async def test_sigterm_drains_new_sessions_get_1013_live_ones_finish(
    stop_all: list[subprocess.Popen[str]],
) -> None:
    port = free_port()
    proc = start_serve(port, "--workers", "1", "--drain-timeout", "20")
    stop_all.append(proc)
    await anyio.to_thread.run_sync(wait_serving, proc, 1)
    url = f"ws://127.0.0.1:{port}/"
    assert (await anyio.to_thread.run_sync(http_get, port, "/readyz"))[0] == 200
    with anyio.fail_after(30):
        async with await connect(url, open_timeout=10) as live:
            assert json.loads(await live.recv())["type"] == "session.started"
            proc.send_signal(signal.SIGTERM)
            # the worker says when it has the signal; from then on it refuses new sessions
            await anyio.to_thread.run_sync(wait_line, proc, "draining 1 sessions")
            assert await anyio.to_thread.run_sync(http_get, port, "/readyz") == (503, "draining\n")
            async with connect(url, open_timeout=10) as late:
                with pytest.raises(ConnectionClosed) as refused:
                    await late.recv()
                assert refused.value.rcvd is not None and refused.value.rcvd.code == 1013
            # the live session still works and ends on its own terms
            await live.send(json.dumps({"type": "end"}))
            with pytest.raises(ConnectionClosed) as ended:
                while True:
                    await live.recv()
            assert ended.value.rcvd is not None and ended.value.rcvd.code == 1000
        assert await anyio.to_thread.run_sync(lambda: proc.wait(timeout=20)) == 0
    assert proc.stdout is not None and "drained (clean)" in proc.stdout.read()


@pytest.mark.anyio
async def test_drain_deadline_closes_sessions_that_do_not_end(
    stop_all: list[subprocess.Popen[str]],
) -> None:
    port = free_port()
    proc = start_serve(port, "--workers", "1", "--drain-timeout", "0.5")
    stop_all.append(proc)
    await anyio.to_thread.run_sync(wait_serving, proc, 1)
    with anyio.fail_after(30):
        async with await connect(f"ws://127.0.0.1:{port}/", open_timeout=10) as live:
            await live.recv()
            proc.send_signal(signal.SIGTERM)
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await live.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
        assert await anyio.to_thread.run_sync(lambda: proc.wait(timeout=20)) == 0
    assert proc.stdout is not None and "drained (deadline)" in proc.stdout.read()


def test_per_worker_session_limit_reports_full_on_readyz(
    stop_all: list[subprocess.Popen[str]],
) -> None:
    port = free_port()
    proc = start_serve(port, "--workers", "1", "--max-sessions", "1")
    stop_all.append(proc)
    wait_serving(proc, 1)

    async def check() -> None:
        with anyio.fail_after(30):
            async with await connect(f"ws://127.0.0.1:{port}/", open_timeout=10) as first:
                await first.recv()
                assert await anyio.to_thread.run_sync(http_get, port, "/readyz") == (503, "full\n")
                async with connect(f"ws://127.0.0.1:{port}/", open_timeout=10) as second:
                    with pytest.raises(ConnectionClosed) as refused:
                        await second.recv()
                    assert refused.value.rcvd is not None and refused.value.rcvd.code == 1013

    anyio.run(check)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0


def test_several_workers_need_a_fixed_port() -> None:
    proc = start_serve(0, "--workers", "2")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "needs a fixed --port" in err


def test_port_0_without_workers_runs_one(stop_all: list[subprocess.Popen[str]]) -> None:
    proc = start_serve(0)  # the default (one per core) cannot share a port nobody chose
    stop_all.append(proc)
    wait_serving(proc, 1)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0 and "serving mock on" not in out  # no second worker


def test_a_clear_error_where_so_reuseport_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(socket, "SO_REUSEPORT", raising=False)
    with pytest.raises(ValueError, match="SO_REUSEPORT is not available"):
        ServerConfig(reuse_port=True)
    ServerConfig(reuse_port=False)  # one worker needs no SO_REUSEPORT


def test_uvloop_is_used_when_installed_and_asyncio_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import asyncio

    async def loop_kind() -> str:
        return type(asyncio.get_running_loop()).__module__

    if workers.uvloop_available():
        assert workers.run_async(loop_kind).startswith("uvloop")
    assert workers.run_async(loop_kind, "asyncio").startswith("asyncio")
    monkeypatch.setattr(workers, "uvloop_available", lambda: False)
    assert workers.run_async(loop_kind).startswith("asyncio")  # the clean fall-back
    with pytest.raises(ValueError, match="uvloop is not installed"):
        workers.run_async(loop_kind, "uvloop")
