"""The bundled demo, run many times: how many runs heard every turn right, and latency.

``beluga-voice run`` with no arguments must answer every bundled turn on every run; this
runs the command ``--runs`` times in fresh processes (as a user would) and prints, per
run, the turns heard right and the reply latency from the end of the user's speech.

    python benchmarks/demo_turns.py [--runs 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

from beluga_voice.cli.common import example_prompts


def one_run(output: str) -> tuple[int, list[float]]:
    """(turns heard right, latencies in ms) of one ``beluga-voice run``."""
    env = {**os.environ, "COLUMNS": "300"}
    cmd = [sys.executable, "-m", "beluga_voice.cli", "run", "--no-progress", "-o", output]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120).stdout
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in out.splitlines()]
    rows = [row for row in rows if len(row) >= 5 and row[0].isdigit()]
    right = sum(row[1] == row[2] for row in rows)
    latencies = [float(row[-1].removesuffix(" ms")) for row in rows if row[-1] != "-"]
    return right, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    turns = len(example_prompts())
    perfect = 0
    all_ms: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(1, args.runs + 1):
            right, ms = one_run(os.path.join(tmp, "reply.wav"))
            perfect += right == turns
            all_ms += ms
            print(f"run {n:>2}: {right}/{turns} turns right, latency {ms} ms", flush=True)
    print(
        f"{perfect}/{args.runs} runs with every turn right; reply after speech end: median "
        f"{statistics.median(all_ms):.0f} ms, max {max(all_ms):.0f} ms"
    )


if __name__ == "__main__":
    main()
