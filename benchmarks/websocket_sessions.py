"""How many real-time WebSocket sessions one server process sustains.

Each session is a client streaming 20 ms PCM16 frames at 16 kHz in real time (absolute
deadlines) to an echo pipeline ``[ws input, Echo, ws output]`` whose output half paces the
echo back in 20 ms chunks, as it would to a browser.  Every frame carries its sequence
number, so the client measures the added latency of each echoed frame (send to receive,
loopback) and counts frames lost or reordered.

The server runs in its own process (the figure is per server process); the clients run
in this process.  Steps of increasing session counts run for a fixed time each; a step
passes when p99 latency is under the limit (20 ms by default) and nothing was lost.
Loopback only; bounded in count (``--steps``) and time (``--seconds`` per step).

    .venv/bin/python benchmarks/websocket_sessions.py
    .venv/bin/python benchmarks/websocket_sessions.py --steps 100,300,500 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from typing import Any

import anyio
import numpy as np
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

FRAME_MS = 20
RATE = 16000
FRAME_BYTES = RATE * FRAME_MS // 1000 * 2


# -- server process ------------------------------------------------------------------------


def serve_raw() -> None:
    """Baseline: a bare websockets echo (no pipeline, no pacing), same client protocol."""
    from websockets.asyncio.server import serve as ws_serve

    async def echo(ws: Any) -> None:
        await ws.send(json.dumps({"type": "session.started"}))
        async for message in ws:
            if isinstance(message, bytes):
                await ws.send(message)
            else:
                break

    async def main() -> None:
        async with ws_serve(echo, "127.0.0.1", 0, compression=None) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            print(json.dumps({"port": port}), flush=True)
            await anyio.sleep_forever()

    anyio.run(main)


def serve() -> None:
    from beluga_voice.frames import Direction, Frame, InputAudioFrame, OutputAudioFrame
    from beluga_voice.pipeline import FrameProcessor
    from beluga_voice.transports.websocket import ServerConfig, WebSocketServer

    class Echo(FrameProcessor):
        async def process_frame(self, frame: Frame, direction: Direction) -> None:
            if isinstance(frame, InputAudioFrame):
                frame = OutputAudioFrame(frame.audio, frame.sample_rate, frame.channels)
            await self.push_frame(frame, direction)

    cfg = ServerConfig(
        input_sample_rate=RATE,
        output_sample_rate=RATE,
        max_sessions=100_000,
        idle_timeout=None,
        realtime=os.environ.get("BENCH_REALTIME", "1") == "1",
    )

    async def main() -> None:
        server = WebSocketServer(lambda t: [t.input(), Echo(), t.output()], cfg)
        async with server:
            print(json.dumps({"port": server.port}), flush=True)
            await anyio.sleep_forever()

    anyio.run(main)


# -- load generator ------------------------------------------------------------------------


async def one_session(
    url: str, frames: int, start: float, offset: float, out: dict[str, Any]
) -> None:
    await anyio.sleep_until(start)  # connections ramp up instead of arriving all at once
    sent = [0.0] * frames
    latencies: list[float] = []
    order_ok = True
    last = -1
    async with connect(url, compression=None, max_size=None, open_timeout=30) as ws:
        await ws.recv()  # session.started

        async def receive() -> None:
            nonlocal order_ok, last
            try:
                async for message in ws:
                    if isinstance(message, bytes) and len(message) >= 4:
                        seq = int.from_bytes(message[:4], "little")
                        latencies.append(time.perf_counter() - sent[seq])
                        order_ok &= seq == last + 1
                        last = seq
            except ConnectionClosed:
                pass

        async with anyio.create_task_group() as tg:
            tg.start_soon(receive)
            # The clients share the machine with the server: asyncio's own sleep and clock
            # here, not anyio's (which look the backend up on every call), keep their
            # share small.  Same absolute deadlines.
            loop = asyncio.get_running_loop()
            t0 = loop.time() + offset
            silence = bytes(FRAME_BYTES - 4)
            send = ws.send
            for i in range(frames):
                delay = t0 + i * FRAME_MS / 1000 - loop.time()
                await asyncio.sleep(delay if delay > 0 else 0)
                sent[i] = time.perf_counter()
                await send(i.to_bytes(4, "little") + silence)
            await ws.send('{"type": "end"}')
    warm = int(1000 / FRAME_MS)  # skip each session's first second (start-up)
    out["echoed"] += len(latencies)
    out["latencies"].extend(latencies[warm:])
    out["lost"] += frames - len(latencies)
    out["reordered"] += 0 if order_ok else 1


async def step(url: str, sessions: int, seconds: float) -> dict[str, Any]:
    out: dict[str, Any] = {"latencies": [], "lost": 0, "reordered": 0, "echoed": 0}
    frames = int(seconds * 1000 / FRAME_MS)
    with anyio.fail_after(seconds + 60):
        async with anyio.create_task_group() as tg:
            now = anyio.current_time()
            for k in range(sessions):
                # connect over one second, and spread frame phases over one frame period,
                # as independent callers would
                start = now + k / sessions
                tg.start_soon(one_session, url, frames, start, 1.0 + (k % 20) * 0.001, out)
    lat = np.array(out["latencies"]) * 1000
    return {
        "sessions": sessions,
        "frames": int(lat.size),
        "p50_ms": float(np.percentile(lat, 50)) if lat.size else float("nan"),
        "p99_ms": float(np.percentile(lat, 99)) if lat.size else float("nan"),
        "max_ms": float(lat.max()) if lat.size else float("nan"),
        "lost": out["lost"],
        "echoed": out["echoed"],
        "reordered_sessions": out["reordered"],
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", default="50,100,200,300,400,500")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--max-p99-ms", type=float, default=20.0)
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="measure a bare websockets echo server instead (the cost floor of the library)",
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve-raw", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
        return
    if args.serve_raw:
        serve_raw()
        return
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.getcwd(), *sys.path]))
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve-raw" if args.baseline else "--serve"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert server.stdout is not None
        port = json.loads(server.stdout.readline())["port"]
        url = f"ws://127.0.0.1:{port}/"
        print(f"echo server pid {server.pid} on {url}; {args.seconds:g} s per step, 20 ms frames")
        print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
        print(
            f"{'sessions':>8} {'frames':>8} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} "
            f"{'lost':>4} {'server CPU':>10} {'client CPU':>10}"
        )
        best = 0
        costs = []
        for n in (int(s) for s in args.steps.split(",")):
            server_cpu, client_cpu, wall = cpu_seconds(server.pid), time.process_time(), time.time()
            r = anyio.run(step, url, n, args.seconds)
            wall = time.time() - wall
            server_cpu = (cpu_seconds(server.pid) - server_cpu) / wall
            client_cpu = (time.process_time() - client_cpu) / wall
            ok = r["p99_ms"] < args.max_p99_ms and not r["lost"] and not r["reordered_sessions"]
            costs.append(server_cpu * wall / max(1, r["echoed"]))
            print(
                f"{n:>8} {r['frames']:>8} {r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f} "
                f"{r['max_ms']:>7.2f} {r['lost']:>4} {server_cpu:>10.0%} {client_cpu:>10.0%} "
                f"{'ok' if ok else 'FAIL'}",
                flush=True,
            )
            if not ok:
                break
            best = n
        print(f"sustained: {best} concurrent real-time sessions with p99 < {args.max_p99_ms:g} ms")
        # What the server's own CPU time says, independent of how busy the machine was:
        per_frame = min(costs)
        print(
            f"server CPU per echoed 20 ms frame (in + out): {per_frame * 1e6:.0f} us; "
            f"CPU-bound ceiling of one fully available core: ~{1 / (per_frame * 50):.0f} sessions"
        )
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
