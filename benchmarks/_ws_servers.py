"""The echo servers ``websocket_sessions.py`` measures, each run in its own process.

All speak the same client protocol: binary messages are 20 ms PCM16 frames at 16 kHz whose
first four bytes are a sequence number, echoed back; a text message ends the session.

* ``floor``: a bare ``websockets`` echo (no pipeline, no pacing), the library's cost floor.
* ``floor_picows``: a bare ``picows`` echo (a callback that sends the payload back): the
  floor of the engine ``serve`` runs on, framing in C.
* ``beluga``: our ``serve`` pipeline ``[ws input, Echo, ws output]`` (output paced), on its
  default engine; ``beluga_websockets``: the same on the ``websockets`` engine.
* ``realistic``: ``[ws input, VAD (WebRTC), S2S (mock provider, 16 -> 24 kHz resampled), ws
  output]``; the mock answers no silence, so nothing is echoed: only its CPU counts.
* ``pipecat``: Pipecat's WebSocket server transport around an equivalent echo processor.
  That transport serves one client per instance, so the process runs one transport (and
  pipeline) per session, each on its own port, all started before the clients connect.

Each prints one JSON line once listening: ``{"ports": [...]}`` (one port, or one a session).
"""

from __future__ import annotations

import json
import os
import socket
import sys
from typing import Any, Literal

RATE = 16000


def _ready(ports: list[int]) -> None:
    print(json.dumps({"ports": ports}), flush=True)


def serve_floor() -> None:
    import anyio
    from websockets.asyncio.server import serve as ws_serve

    from beluga_voice.cli.workers import run_async

    async def echo(ws: Any) -> None:
        await ws.send(json.dumps({"type": "session.started"}))
        async for message in ws:
            if isinstance(message, bytes):
                await ws.send(message)
            else:
                break

    async def main() -> None:
        async with ws_serve(echo, "127.0.0.1", 0, compression=None) as server:
            _ready([next(iter(server.sockets)).getsockname()[1]])
            await anyio.sleep_forever()

    run_async(main, os.environ.get("BENCH_LOOP", "auto"))  # the same loop as ours


def serve_floor_picows() -> None:
    import anyio
    from picows import WSListener, WSMsgType, ws_create_server

    from beluga_voice.cli.workers import run_async

    class Echo(WSListener):
        def on_ws_connected(self, transport: Any) -> None:
            transport.send(WSMsgType.TEXT, b'{"type": "session.started"}')

        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            kind = frame.msg_type
            if kind is WSMsgType.BINARY:
                transport.send(WSMsgType.BINARY, frame.get_payload_as_memoryview())
            elif kind is WSMsgType.TEXT or kind is WSMsgType.CLOSE:
                transport.send_close()
                transport.disconnect()

    async def main() -> None:
        server = await ws_create_server(lambda _request: Echo(), "127.0.0.1", 0)  # as serve's
        _ready([server.sockets[0].getsockname()[1]])
        await anyio.sleep_forever()

    run_async(main, os.environ.get("BENCH_LOOP", "auto"))


def serve_beluga(realistic: bool, engine: Literal["auto", "picows", "websockets"] = "auto") -> None:
    from beluga_voice.cli.workers import run_async
    from beluga_voice.frames import Direction, Frame, InputAudioFrame, OutputAudioFrame
    from beluga_voice.pipeline import FrameProcessor
    from beluga_voice.transports.websocket import ServerConfig, WebSocketServer

    class Echo(FrameProcessor):
        async def process_frame(self, frame: Frame, direction: Direction) -> None:
            if isinstance(frame, InputAudioFrame):
                frame = OutputAudioFrame(frame.audio, frame.sample_rate, frame.channels)
            await self.push_frame(frame, direction)

    def build(t: Any) -> list[Any]:
        if not realistic:
            return [t.input(), Echo(), t.output()]
        from beluga_voice.audio.vad.analyzers import WebRTCAnalyzer
        from beluga_voice.processors import S2SProcessor, VADProcessor
        from beluga_voice.providers.mock import AdvancedMockS2SProvider

        return [
            t.input(),
            VADProcessor(WebRTCAnalyzer(RATE)),
            S2SProcessor(AdvancedMockS2SProvider()),
            t.output(),
        ]

    cfg = ServerConfig(
        input_sample_rate=RATE,
        output_sample_rate=RATE,
        max_sessions=100_000,
        idle_timeout=None,
        realtime=os.environ.get("BENCH_REALTIME", "1") == "1",
        engine=engine,
    )

    async def main() -> None:
        async with WebSocketServer(build, cfg) as server:
            _ready([server.port])
            await server.serve_forever()

    run_async(main, os.environ.get("BENCH_LOOP", "auto"))


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def serve_pipecat(sessions: int) -> None:
    """One Pipecat transport + pipeline per session (its server transport is single-client),
    configured lean: no RTVI, no turn tracking, no metrics, no idle timeout, logs at WARNING,
    20 ms output chunks at 16 kHz (as ours)."""
    import asyncio

    from loguru import logger
    from pipecat.frames.frames import (
        Frame as PFrame,
    )
    from pipecat.frames.frames import (
        InputAudioRawFrame,
        OutputAudioRawFrame,
    )
    from pipecat.pipeline.pipeline import Pipeline
    from pipecat.pipeline.task import PipelineParams, PipelineTask
    from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
    from pipecat.serializers.base_serializer import FrameSerializer
    from pipecat.transports.websocket.server import (
        WebsocketServerParams,
        WebsocketServerTransport,
    )
    from pipecat.workers.runner import WorkerRunner

    logger.remove()
    logger.add(sys.stderr, level="WARNING")

    class RawPCM(FrameSerializer):
        """Binary message <-> raw 16 kHz mono PCM16 audio frame; text is ignored."""

        async def serialize(self, frame: PFrame) -> str | bytes | None:
            return frame.audio if isinstance(frame, OutputAudioRawFrame) else None

        async def deserialize(self, data: str | bytes) -> PFrame | None:
            if isinstance(data, bytes):
                return InputAudioRawFrame(audio=data, sample_rate=RATE, num_channels=1)
            return None

    class Echo(FrameProcessor):
        async def process_frame(self, frame: PFrame, direction: FrameDirection) -> None:
            await super().process_frame(frame, direction)
            if isinstance(frame, InputAudioRawFrame):
                out = OutputAudioRawFrame(frame.audio, frame.sample_rate, frame.num_channels)
                await self.push_frame(out, direction)
            else:
                await self.push_frame(frame, direction)

    async def main() -> None:
        ports = _free_ports(sessions)
        ready = 0
        all_ready = asyncio.Event()
        tasks = []
        for port in ports:
            params = WebsocketServerParams(
                audio_in_enabled=True,
                audio_out_enabled=True,
                audio_in_sample_rate=RATE,
                audio_out_sample_rate=RATE,
                audio_out_10ms_chunks=2,
                audio_out_auto_silence=False,  # no filler frames: only the echo goes out
                audio_out_end_silence_secs=0,
                serializer=RawPCM(),
            )
            transport = WebsocketServerTransport(params, host="127.0.0.1", port=port)

            @transport.event_handler("on_websocket_ready")
            async def on_ready(_t: Any) -> None:
                nonlocal ready
                ready += 1
                if ready == sessions:
                    all_ready.set()

            pipeline = Pipeline([transport.input(), Echo(), transport.output()])
            tasks.append(
                PipelineTask(
                    pipeline,
                    params=PipelineParams(audio_in_sample_rate=RATE, audio_out_sample_rate=RATE),
                    enable_rtvi=False,
                    enable_turn_tracking=False,
                    idle_timeout_secs=None,
                )
            )
        runner = WorkerRunner(handle_sigint=False)
        await runner.add_workers(*tasks)
        run = asyncio.create_task(runner.run(auto_end=False))
        await asyncio.wait_for(all_ready.wait(), 120)
        _ready(ports)
        await run

    asyncio.run(main())


def serve(kind: str, sessions: int) -> None:
    if kind == "floor":
        serve_floor()
    elif kind == "floor_picows":
        serve_floor_picows()
    elif kind in ("beluga", "realistic"):
        serve_beluga(kind == "realistic")
    elif kind == "beluga_websockets":
        serve_beluga(False, engine="websockets")
    elif kind == "pipecat":
        serve_pipecat(sessions)
    else:
        raise SystemExit(f"unknown server {kind!r}")
