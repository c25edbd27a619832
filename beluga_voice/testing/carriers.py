"""Simulated phone carriers: a caller on Twilio, Telnyx or Plivo, against our server.

A :class:`SimulatedCall` does what the carrier does when a call reaches a media stream:
it opens a WebSocket to the server, announces the call in the carrier's own message
shapes, streams the caller's G.711 audio in 20 ms ``media`` messages at real-time pace,
and plays what the server sends back through a phone-side playout buffer: audio becomes
audible ``playout_delay`` seconds after it arrived (the carrier's jitter buffer and the
network), marks are echoed when the audio before them has played, and a clear drops what
is buffered (Twilio and Telnyx then return the queued marks; Plivo answers
``clearedAudio`` and returns none).

The message shapes follow each carrier's documents:

* Twilio "Media Streams - WebSocket Messages":
  https://www.twilio.com/docs/voice/media-streams/websocket-messages
* Telnyx "Media Streaming" and "Stream call media over WebSocket":
  https://developers.telnyx.com/docs/voice/programmable-voice/media-streaming and
  https://developers.telnyx.com/api-reference/websockets/stream-call-media-over-websocket
* Plivo "Stream Event Protocol" and the ``<Stream>`` element:
  https://www.plivo.com/docs/voice/audio-streaming/audio-streaming and
  https://www.plivo.com/docs/voice/xml/audiostream
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
from collections import deque
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final

import anyio
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

__all__ = ["CARRIER_NAMES", "SimulatedCall"]

CARRIER_NAMES: Final = ("twilio", "telnyx", "plivo")
_CHUNK: Final = 160  # 20 ms of 8 kHz G.711
_SILENCE: Final = {"pcmu": b"\xff", "pcma": b"\xd5"}


@dataclass
class _Playout:
    """What the phone has buffered for the caller: audio chunks and marks, in order."""

    items: deque[tuple[float, bytes | str]] = field(default_factory=deque)
    """``(arrival time, audio or mark name)``."""


class SimulatedCall:
    """One call through a simulated carrier (use ``async with SimulatedCall(url, ...)``).

    ``carrier``: ``twilio``, ``telnyx`` or ``plivo``.  ``codec``: the G.711 law the stream
    is set up with (``pcmu``; Telnyx also ``pcma``).  What the test can read afterwards:
    :attr:`received` (every audio byte the server sent), :attr:`played` (what the caller
    heard), :attr:`echoed` (mark names echoed as played, in order), :attr:`returned`
    (marks returned by a clear, not played), :attr:`echoed_before_clear` (the echoed marks
    when the first clear arrived), :attr:`clears` and :attr:`sent_kinds` (every event
    the server sent).
    """

    def __init__(
        self,
        url: str,
        carrier: str = "twilio",
        *,
        codec: str = "pcmu",
        playout_delay: float = 0.2,
        stream_id: str = "MZ00000000000000000000000000000001",
        call_id: str = "CA00000000000000000000000000000001",
        parameters: dict[str, str] | None = None,
    ) -> None:
        if carrier not in CARRIER_NAMES:
            raise ValueError(f"unknown carrier {carrier!r}: one of {CARRIER_NAMES}")
        self.url = url
        self.carrier = carrier
        self.codec = codec
        self.playout_delay = playout_delay
        self.stream_id = stream_id
        self.call_id = call_id
        self.parameters = parameters or {}
        self.received = bytearray()
        self.played = bytearray()
        self.echoed: list[str] = []
        self.returned: list[str] = []
        self.echoed_before_clear: list[str] | None = None
        self.clears = 0
        self.sent_kinds: list[str] = []
        self.errors: list[str] = []
        self._ws: ClientConnection | None = None
        self._playout = _Playout()
        self._seq = 0
        self._chunk = 0
        self._changed = anyio.Event()
        self._tg: Any = None

    # -- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> SimulatedCall:
        self._ws = await connect(self.url)
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        if self.carrier != "plivo":  # Plivo starts with "start"
            await self._send(self._connected())
        await self._send(self._start())
        self._tg.start_soon(self._receive)
        self._tg.start_soon(self._play)
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            await self.hang_up()
        finally:
            self._tg.cancel_scope.cancel()
            await self._tg.__aexit__(et, e, tb)

    async def hang_up(self) -> None:
        """End the call the carrier's way: ``stop`` (Twilio, Telnyx), then the socket closes."""
        if self._ws is None:
            return
        ws, self._ws = self._ws, None
        if self.carrier != "plivo":
            stop = {"accountSid": "AC0", "callSid": self.call_id}
            if self.carrier == "telnyx":
                stop = {"user_id": "u0", "call_control_id": self.call_id}
            with contextlib.suppress(ConnectionClosed):  # the server may have gone first
                await ws.send(json.dumps(self._envelope("stop", {"stop": stop})))
        await ws.close()

    # -- the caller -----------------------------------------------------------------------

    async def say(self, audio: bytes) -> None:
        """Stream G.711 ``audio`` in 20 ms ``media`` messages at real-time pace."""
        start = time.monotonic()
        for n, i in enumerate(range(0, len(audio), _CHUNK)):
            await anyio.sleep(max(0.0, start + n * 0.02 - time.monotonic()))
            await self._send(self._media(audio[i : i + _CHUNK]))

    async def pause(self, seconds: float) -> None:
        """The caller says nothing for ``seconds`` (the line still carries silence)."""
        await self.say(_SILENCE[self.codec] * round(8000 * seconds))

    async def press(self, digit: str, duration_ms: int = 100) -> None:
        """A keypad press, as the carrier reports it."""
        body: dict[str, Any] = {"digit": digit}
        if self.carrier == "twilio":
            body["track"] = "inbound_track"
        elif self.carrier == "plivo":
            body["track"] = "inbound"
        else:
            body["duration"] = duration_ms
        await self._send(self._envelope("dtmf", {"dtmf": body}))

    async def wait_until(self, played_seconds: float | None = None, *, clears: int = 0) -> None:
        """Wait until the caller heard ``played_seconds`` of audio, or ``clears`` clears came."""
        while not (
            (played_seconds is not None and len(self.played) >= 8000 * played_seconds)
            or (clears and self.clears >= clears)
        ):
            self._changed = anyio.Event()
            await self._changed.wait()

    # -- the carrier's side -----------------------------------------------------------------

    async def _receive(self) -> None:
        assert self._ws is not None
        try:
            async for message in self._ws:
                self._on_message(message)
        except ConnectionClosed:
            pass

    def _on_message(self, message: str | bytes) -> None:
        event = json.loads(message)
        kind = event["event"]
        self.sent_kinds.append(kind)
        now = time.monotonic()
        if kind in ("media", "playAudio"):
            audio = base64.b64decode(event["media"]["payload"], validate=True)
            self.received += audio
            self._playout.items.append((now, audio))
        elif kind in ("mark", "checkpoint"):
            name = event["name"] if kind == "checkpoint" else event["mark"]["name"]
            self._playout.items.append((now, name))
        elif kind in ("clear", "clearAudio"):
            self._clear()
        else:
            self.errors.append(f"unexpected event {kind!r}")
        self._check_addressing(event, kind)
        self._changed.set()

    def _check_addressing(self, event: dict[str, Any], kind: str) -> None:
        """Each carrier's rule for addressing the stream in what we are sent."""
        if self.carrier == "twilio" and event.get("streamSid") != self.stream_id:
            self.errors.append(f"{kind} without the streamSid")
        if (
            self.carrier == "plivo"
            and kind != "playAudio"
            and event.get("streamId") != self.stream_id
        ):
            self.errors.append(f"{kind} without the streamId")
        if self.carrier == "plivo" and kind == "playAudio":
            media = event["media"]
            if (media.get("contentType"), media.get("sampleRate")) != ("audio/x-mulaw", 8000):
                self.errors.append(
                    f"playAudio of {media.get('contentType')} {media.get('sampleRate')}"
                )

    def _clear(self) -> None:
        self.clears += 1
        if self.echoed_before_clear is None:
            self.echoed_before_clear = list(self.echoed)
        marks = [item for _, item in self._playout.items if isinstance(item, str)]
        self._playout.items.clear()
        if self.carrier == "plivo":
            self._later(self._envelope("clearedAudio", {}))
            return
        for name in marks:  # Twilio and Telnyx return the marks a clear dropped
            self.returned.append(name)
            self._later(self._envelope("mark", {"mark": {"name": name}}))

    async def _play(self) -> None:
        """The phone's playout: 20 ms at a time, ``playout_delay`` after arrival."""
        tick = time.monotonic()
        while True:
            tick += 0.02
            await anyio.sleep(max(0.0, tick - time.monotonic()))
            self._echo_due_marks()
            items = self._playout.items
            if (
                items
                and isinstance(items[0][1], bytes)
                and items[0][0] + self.playout_delay <= tick
            ):
                arrived, audio = items.popleft()
                assert isinstance(audio, bytes)
                self.played += audio[:_CHUNK]
                if len(audio) > _CHUNK:
                    items.appendleft((arrived, audio[_CHUNK:]))
                self._changed.set()
            self._echo_due_marks()

    def _echo_due_marks(self) -> None:
        items = self._playout.items
        while items and isinstance(items[0][1], str):
            name = items.popleft()[1]
            assert isinstance(name, str)
            self.echoed.append(name)
            if self.carrier == "plivo":
                self._later(self._envelope("playedStream", {"name": name}))
            else:
                self._later(self._envelope("mark", {"mark": {"name": name}}))

    def _later(self, event: dict[str, Any]) -> None:
        self._tg.start_soon(self._send, event)

    async def _send(self, event: dict[str, Any]) -> None:
        if self._ws is None:
            return
        with contextlib.suppress(ConnectionClosed):  # the server ended the call
            await self._ws.send(json.dumps(event))

    # -- message shapes -------------------------------------------------------------------

    def _envelope(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        self._seq += 1
        if self.carrier == "twilio":
            return {
                "event": kind,
                "sequenceNumber": str(self._seq),
                "streamSid": self.stream_id,
                **body,
            }
        if self.carrier == "telnyx":
            return {
                "event": kind,
                "sequence_number": str(self._seq),
                "stream_id": self.stream_id,
                **body,
            }
        return {"event": kind, "sequenceNumber": self._seq, "streamId": self.stream_id, **body}

    def _connected(self) -> dict[str, Any]:
        if self.carrier == "twilio":
            return {"event": "connected", "protocol": "Call", "version": "1.0.0"}
        return {"event": "connected", "version": "1.0.0"}

    def _start(self) -> dict[str, Any]:
        if self.carrier == "twilio":
            start: dict[str, Any] = {
                "streamSid": self.stream_id,
                "accountSid": "AC0",
                "callSid": self.call_id,
                "tracks": ["inbound"],
                "customParameters": self.parameters,
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            }
            return self._envelope("start", {"start": start})
        if self.carrier == "telnyx":
            start = {
                "user_id": "u0",
                "call_control_id": self.call_id,
                "call_session_id": "s0",
                "from": "+13125550100",
                "to": "+13125550101",
                "custom_parameters": self.parameters,
                "media_format": {
                    "encoding": self.codec.upper(),
                    "sample_rate": 8000,
                    "channels": 1,
                },
            }
            return self._envelope("start", {"start": start})
        start = {
            "callId": self.call_id,
            "streamId": self.stream_id,
            "accountId": "MA0",
            "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000},
        }
        headers = ",".join(f"{k}={v}" for k, v in self.parameters.items())
        return self._envelope("start", {"start": start, "extra_headers": headers})

    def _media(self, chunk: bytes) -> dict[str, Any]:
        self._chunk += 1
        media: dict[str, Any] = {
            "track": "inbound",
            "chunk": str(self._chunk),
            "timestamp": str(20 * (self._chunk - 1)),
            "payload": base64.b64encode(chunk).decode("ascii"),
        }
        return self._envelope("media", {"media": media})
