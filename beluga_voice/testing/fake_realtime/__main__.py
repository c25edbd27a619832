"""``python -m beluga_voice.testing.fake_realtime``: serve a fake until interrupted."""

from __future__ import annotations

import argparse
import contextlib

import anyio

from .server import FakeRealtimeServer


async def _serve(flavour: str, port: int, pace: float) -> None:
    async with FakeRealtimeServer(flavour, port=port, pace=pace) as fake:  # type: ignore[arg-type]
        print(f"fake {flavour} realtime server on {fake.url}?model=...", flush=True)
        await anyio.sleep_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--flavour", choices=("openai", "grok"), default="openai")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--pace", type=float, default=1.0, help="1.0 = real-time replies")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        anyio.run(_serve, args.flavour, args.port, args.pace)


if __name__ == "__main__":
    main()
