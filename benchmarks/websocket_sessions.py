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

``--compare`` runs the same load (``--sessions`` clients, ``--seconds`` each) against each
server of :mod:`_ws_servers` in turn (the ``websockets`` floor, the ``picows`` floor, ours
on each engine, Pipecat, and ours with a realistic pipeline) and reports server CPU per
session-second (process CPU time over sessions x seconds), split into user and kernel
microseconds per echoed frame, added latency and frames lost, then the ratios: over
``--runs`` runs, their ranges and the median run's.

    .venv/bin/python benchmarks/websocket_sessions.py
    .venv/bin/python benchmarks/websocket_sessions.py --steps 100,300,500 --seconds 10
    .venv/bin/python benchmarks/websocket_sessions.py --compare --sessions 50 --seconds 10
    .venv/bin/python benchmarks/websocket_sessions.py --compare --runs 3
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


# -- load generator ------------------------------------------------------------------------


async def one_session(
    url: str, frames: int, start: float, offset: float, out: dict[str, Any], greeting: bool
) -> None:
    await anyio.sleep_until(start)  # connections ramp up instead of arriving all at once
    sent = [0.0] * frames
    latencies: list[float] = []
    order_ok = True
    last = -1
    async with connect(url, compression=None, max_size=None, open_timeout=30) as ws:
        if greeting:
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
            if not greeting:
                # A server that does not end sessions on a message (Pipecat's transport):
                # let the paced tail arrive, then hang up ourselves.
                await asyncio.sleep(0.5)
                await ws.close()
    warm = int(1000 / FRAME_MS)  # skip each session's first second (start-up)
    out["echoed"] += len(latencies)
    out["latencies"].extend(latencies[warm:])
    out["lost"] += frames - len(latencies)
    out["reordered"] += 0 if order_ok else 1


async def step(
    urls: list[str], sessions: int, seconds: float, greeting: bool = True
) -> dict[str, Any]:
    out: dict[str, Any] = {"latencies": [], "lost": 0, "reordered": 0, "echoed": 0}
    frames = int(seconds * 1000 / FRAME_MS)
    with anyio.fail_after(seconds + 60):
        async with anyio.create_task_group() as tg:
            now = anyio.current_time()
            for k in range(sessions):
                # connect over one second, and spread frame phases over one frame period,
                # as independent callers would
                start = now + k / sessions
                url = urls[k % len(urls)]
                tg.start_soon(
                    one_session, url, frames, start, 1.0 + (k % 20) * 0.001, out, greeting
                )
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


def cpu_times(pid: int) -> tuple[float, float]:
    """User and system CPU time of a process (Linux /proc), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, in seconds."""
    return sum(cpu_times(pid))


def start_server(kind: str, sessions: int) -> tuple[subprocess.Popen[str], list[str]]:
    here = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.getcwd(), here, *sys.path]))
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", kind, "--sessions", str(sessions)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert server.stdout is not None
    line = server.stdout.readline()
    if not line:
        server.wait(timeout=10)
        raise SystemExit(f"the {kind} server did not start")
    ports = json.loads(line)["ports"]
    return server, [f"ws://127.0.0.1:{p}/" for p in ports]


def measure(kind: str, sessions: int, seconds: float) -> dict[str, Any]:
    """One server, one load: CPU per session-second over the whole run (ramp-up included)."""
    server, urls = start_server(kind, sessions)
    try:
        (user0, sys0), wall = cpu_times(server.pid), time.time()
        r = anyio.run(step, urls, sessions, seconds, kind != "pipecat")
        r["wall"] = time.time() - wall
        user1, sys1 = cpu_times(server.pid)
        r["cpu"] = (user1 - user0) + (sys1 - sys0)
        r["cpu_per_session_s"] = r["cpu"] / (sessions * seconds)
        frames = sessions * seconds * 1000 / FRAME_MS  # frames sent (each echoed once)
        r["user_us"] = (user1 - user0) / frames * 1e6
        r["sys_us"] = (sys1 - sys0) / frames * 1e6
        return r
    finally:
        server.terminate()
        server.wait(timeout=30)


def _ratio(cost: dict[str, float], over: str, under: str) -> float | None:
    if over in cost and under in cost and cost[under] > 0:
        return cost[over] / cost[under]
    return None


RATIOS = {
    # name: (numerator, denominator, format of the line)
    "floor": ("beluga", "floor", "overhead over the websockets floor: {:.2f}x"),
    "pipecat": ("pipecat", "beluga", "pipecat uses {:.1f}x the server CPU per session"),
    "picows": (
        "beluga",
        "floor_picows",
        "overhead over the picows floor (its own engine): {:.2f}x",
    ),
    "engine": ("beluga_websockets", "beluga", "ours on websockets uses {:.2f}x ours on picows"),
}


def compare_once(sessions: int, seconds: float, kinds: list[str]) -> dict[str, float]:
    print(
        f"{'server':<18} {'CPU ms/session-s':>16} {'user us/frame':>13} {'sys us/frame':>12} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'lost':>6} {'server CPU':>10}"
    )
    cost: dict[str, float] = {}
    for kind in kinds:
        r = measure(kind, sessions, seconds)
        cost[kind] = r["cpu_per_session_s"]
        lost = "n/a" if kind == "realistic" else str(r["lost"])  # the mock answers no silence
        lat = kind != "realistic"
        print(
            f"{kind:<18} {cost[kind] * 1000:>16.3f} {r['user_us']:>13.1f} {r['sys_us']:>12.1f} "
            f"{r['p50_ms'] if lat else float('nan'):>7.2f} "
            f"{r['p99_ms'] if lat else float('nan'):>7.2f} {lost:>6} "
            f"{r['cpu'] / r['wall']:>10.0%}",
            flush=True,
        )
    return cost


def compare(sessions: int, seconds: float, kinds: list[str], runs: int) -> None:
    """Every server under the same load, ``runs`` times over; ratios per run, then the
    median run's ratios as the two lines the issue asks for (ranges above them)."""
    print(f"{sessions} sessions x {seconds:g} s, 20 ms PCM16 frames at 16 kHz, echoed paced")
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    ratios: dict[str, list[float]] = {name: [] for name in RATIOS}
    for run in range(runs):
        if runs > 1:
            print(f"-- run {run + 1} of {runs}")
        cost = compare_once(sessions, seconds, kinds)
        for name, (over, under, _) in RATIOS.items():
            value = _ratio(cost, over, under)
            if value is not None:
                ratios[name].append(value)
    if runs > 1:
        for name, values in ratios.items():
            if values:
                line = RATIOS[name][2].format(float(np.median(values)))
                print(f"range over {runs} runs: {min(values):.2f}-{max(values):.2f} ({line})")
    # The two lines the issue asks for, last: the median over the runs.
    for name in ("picows", "engine", "floor", "pipecat"):
        if ratios[name]:
            print(RATIOS[name][2].format(float(np.median(ratios[name]))))


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
    parser.add_argument("--compare", action="store_true", help="floor, ours, pipecat side by side")
    parser.add_argument("--sessions", type=int, default=50, help="clients for --compare")
    parser.add_argument(
        "--servers", default="floor,floor_picows,beluga,beluga_websockets,pipecat,realistic"
    )
    parser.add_argument("--runs", type=int, default=1, help="repeat --compare, report ranges")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        from _ws_servers import serve

        serve(args.serve, args.sessions)
        return
    if args.compare:
        compare(args.sessions, args.seconds, args.servers.split(","), args.runs)
        return
    steps = [int(s) for s in args.steps.split(",")]
    server, urls = start_server("floor" if args.baseline else "beluga", max(steps))
    try:
        print(
            f"echo server pid {server.pid} on {urls[0]}; {args.seconds:g} s per step, 20 ms frames"
        )
        print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
        print(
            f"{'sessions':>8} {'frames':>8} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} "
            f"{'lost':>4} {'server CPU':>10} {'client CPU':>10}"
        )
        best = 0
        costs = []
        for n in steps:
            server_cpu, client_cpu, wall = cpu_seconds(server.pid), time.process_time(), time.time()
            r = anyio.run(step, urls, n, args.seconds)
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
