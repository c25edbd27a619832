"""What the carriers' media-stream protocols share: JSON events, G.711 payloads, marks.

Twilio, Telnyx and Plivo stream a call the same way: the carrier opens a WebSocket to us
and sends JSON text messages, one ``event`` each; caller audio comes as base64 G.711 at
8 kHz in ``media`` events; we answer with base64 audio of our own, a *mark* after each
chunk (the carrier sends the mark back once the audio before it has played) and a *clear*
on barge-in (the carrier drops what it has buffered).  They differ in field names, which
:class:`CarrierSerializer` subclasses spell out.

Played position: the output half paces audio itself, but the carrier buffers some and
the network delays the rest, so our pacing over-counts what the caller heard.  The marks
count it exactly: each mark is named after the samples sent up to it, and on a barge-in
the last mark the carrier echoed before we cleared is what was heard
(:class:`PlaybackMarks`).  That figure reaches the provider through the interrupted
``BotStoppedSpeakingFrame``, which truncates the model's memory of the reply.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any, ClassVar, Final

from ...audio import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from ...frames import (
    AudioEncoding,
    BotStartedSpeakingFrame,
    ErrorFrame,
    Frame,
    InputAudioFrame,
    InputDTMFFrame,
    InterruptionFrame,
)
from ..websocket.protocol import EndRequest, Message, ProtocolError, Serializer

__all__ = ["DTMF_DIGITS", "CarrierSerializer", "PlaybackMarks"]

DTMF_DIGITS: Final = frozenset("0123456789*#ABCD")
_MAX_PAYLOAD_CHARS: Final = 64_000  # about 5 s of 8 kHz G.711 in base64; carriers send 20 ms
_MAX_ID_CHARS: Final = 256
_CODECS: Final[dict[AudioEncoding, tuple[Callable[[bytes], bytes], Callable[[bytes], bytes]]]] = {
    "pcmu": (ulaw_decode, ulaw_encode),
    "pcma": (alaw_decode, alaw_encode),
}

Parsed = list[Frame | EndRequest]


class PlaybackMarks:
    """Which part of the current reply the carrier says it has played.

    Each mark is named ``"<reply>:<samples sent up to it>"``.  An echoed mark of the
    current reply moves the played position forward; on a barge-in (:meth:`clear`) the
    position is frozen, because Twilio and Telnyx answer a ``clear`` by echoing every
    mark still queued, and those marks were dropped, not played.
    """

    def __init__(self, sample_rate: int = 8000) -> None:
        self.sample_rate = sample_rate
        self.reply = 0
        self.sent_samples = 0
        self.played_samples = 0
        self.heard_samples: int | None = None
        """Played position when the reply was cleared (None: not cleared)."""

    def begin(self) -> None:
        """A new reply starts playing: nothing of it sent or played yet."""
        self.reply += 1
        self.sent_samples = self.played_samples = 0
        self.heard_samples = None

    def sent(self, samples: int) -> str:
        """Count ``samples`` sent; the name of the mark that follows them."""
        self.sent_samples += samples
        return f"{self.reply}:{self.sent_samples}"

    def echoed(self, name: str) -> None:
        """The carrier played everything up to the mark ``name`` (or dropped it on clear)."""
        reply, _, samples = name.partition(":")
        if (
            self.heard_samples is not None
            or reply != str(self.reply)
            or not (samples.isdecimal() and len(samples) < 16)
        ):
            return  # a mark of an earlier reply, returned by a clear, or not ours
        self.played_samples = max(self.played_samples, min(int(samples), self.sent_samples))

    def clear(self) -> None:
        if self.heard_samples is None:
            self.heard_samples = self.played_samples

    @property
    def heard_seconds(self) -> float | None:
        if self.heard_samples is None:
            return None
        return self.heard_samples / self.sample_rate


def parse_event(message: Message, key: str = "event") -> tuple[str, dict[str, Any]]:
    """The event name and body of one carrier message; :class:`ProtocolError` if not one."""
    if isinstance(message, bytes):
        raise ProtocolError("invalid_event", "the carrier protocol sends text messages only")
    try:
        event = json.loads(message)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError("invalid_json", f"text message is not JSON: {exc}") from None
    if not isinstance(event, dict) or not isinstance(event.get(key), str):
        raise ProtocolError("invalid_event", f"a carrier message is an object with {key!r}")
    return event[key], event


def section(event: dict[str, Any], name: str) -> dict[str, Any]:
    """``event[name]``, which must be an object; :class:`ProtocolError` otherwise."""
    value = event.get(name)
    if not isinstance(value, dict):
        raise ProtocolError("invalid_event", f"a {name!r} event needs a {name!r} object")
    return value


def ident(value: Any, what: str) -> str:
    """A non-empty identifier of bounded length (a stream or call id)."""
    if not isinstance(value, str) or not value or len(value) > _MAX_ID_CHARS:
        raise ProtocolError("invalid_event", f"{what} must be a non-empty string")
    return value


def dumps(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"))


class CarrierSerializer(Serializer):
    """Base of the telephony serializers: 8 kHz G.711 in base64 JSON, marks and clear.

    Subclasses parse their carrier's events in :meth:`on_event` and spell the messages we
    send in :meth:`media_message`, :meth:`mark_message` and :meth:`clear_message`.
    ``codec`` is the G.711 law of the stream: ``pcmu`` (mu-law, every carrier's default)
    or ``pcma`` (A-law), possibly changed by the carrier's ``start`` event.

    ``passthrough=True`` keeps the carrier's bytes as they are: caller audio becomes
    G.711 frames (``encoding=codec``) and bot audio is expected in G.711 too, for a
    pipeline started with ``audio_encoding=codec`` whose S2S provider takes that codec
    natively (no decode, resample or encode anywhere; see docs/transports.md).  The
    stream must then be in ``codec``: a ``start`` announcing the other law is refused.
    """

    carrier: ClassVar[str] = ""
    input_sample_rate = 8000
    output_sample_rate = 8000

    def __init__(self, *, codec: AudioEncoding = "pcmu", passthrough: bool = False) -> None:
        if codec not in _CODECS:
            raise ValueError(f"unknown codec {codec!r}: pcmu or pcma")
        self.codec: AudioEncoding = codec
        self.passthrough = passthrough
        self.audio_encoding = codec if passthrough else "pcm16"
        self.stream_id: str | None = None
        self.call_id: str | None = None
        self.custom_parameters: dict[str, Any] = {}
        self.marks = PlaybackMarks(self.output_sample_rate)
        self._pending_mark: str | None = None
        self._unplayed = False

    # -- carrier to us --------------------------------------------------------------------

    def deserialize(self, message: Message) -> Parsed:
        kind, event = parse_event(message)
        return self.on_event(kind, event)

    def on_event(self, kind: str, event: dict[str, Any]) -> Parsed:
        """One event: caller audio and keypresses look alike everywhere; the rest is the
        carrier's own (:meth:`carrier_event`)."""
        if kind == "media":
            media = section(event, "media")
            if media.get("track", "inbound") not in ("inbound", "inbound_track"):
                return []  # the bot's own audio, when a stream carries both tracks
            return self.audio(media)
        if kind == "dtmf":
            return self.dtmf(event.get("dtmf"))
        return self.carrier_event(kind, event)

    def carrier_event(self, kind: str, event: dict[str, Any]) -> Parsed:
        raise NotImplementedError

    def started(
        self, stream_id: Any, call_id: Any, parameters: Any, fmt: Any, keys: tuple[str, str]
    ) -> Parsed:
        """The ``start`` event: the stream to address, the call, the media format (its
        ``encoding`` and sample-rate fields are named ``keys``)."""
        self.stream_id = ident(stream_id, "the stream id")
        self.call_id = call_id if isinstance(call_id, str) else None
        self.custom_parameters = parameters if isinstance(parameters, dict) else {}
        if isinstance(fmt, dict):
            self.set_codec(fmt.get(keys[0], self.codec))  # absent: as configured
            self.check_rate(fmt.get(keys[1]))
        return []

    def set_codec(self, name: Any) -> None:
        """Take the stream's codec from a ``start`` event (a carrier's own spelling)."""
        codec: dict[str, AudioEncoding] = {
            "pcmu": "pcmu",
            "audio/x-mulaw": "pcmu",
            "pcma": "pcma",
            "audio/x-alaw": "pcma",
        }
        found = codec.get(name.lower()) if isinstance(name, str) else None
        if found is None or (self.passthrough and found != self.codec):
            raise ProtocolError(
                "unsupported_audio",
                f"{self.carrier} stream encoding {str(name)[:40]!r} is not G.711 "
                "(configure the stream for PCMU or PCMA at 8 kHz)",
                close_code=1003,
            )
        self.codec = found

    def check_rate(self, rate: Any) -> None:
        """The stream must run at 8 kHz (the rate the pipeline was started with)."""
        try:
            ok = rate is None or int(rate) == self.input_sample_rate
        except (TypeError, ValueError, OverflowError):  # JSON allows Infinity
            ok = False
        if not ok:
            raise ProtocolError(
                "unsupported_audio",
                f"{self.carrier} stream sample rate {str(rate)[:12]} is not 8000",
                close_code=1003,
            )

    def audio(self, media: dict[str, Any]) -> Parsed:
        """The caller's audio in one ``media`` object (``payload``: base64 G.711)."""
        payload = media.get("payload")
        if not isinstance(payload, str) or len(payload) > _MAX_PAYLOAD_CHARS:
            raise ProtocolError("invalid_audio", "'media.payload' must be base64 (at most 64 kB)")
        try:
            raw = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise ProtocolError("invalid_audio", "'media.payload' is not valid base64") from None
        if not raw:
            return []
        rate = self.input_sample_rate
        if self.passthrough:
            return [InputAudioFrame(raw, rate, 1, encoding=self.codec)]
        return [InputAudioFrame(_CODECS[self.codec][0](raw), rate, 1)]

    def dtmf(self, body: Any) -> Parsed:
        """A keypress (``body["digit"]``, ``body["duration"]`` in ms when given)."""
        digit = body.get("digit") if isinstance(body, dict) else None
        if not isinstance(digit, str) or digit not in DTMF_DIGITS:
            raise ProtocolError("invalid_event", "'dtmf' needs a 'digit' (0-9, *, #, A-D)")
        duration = body.get("duration")
        try:
            ms = float(duration) if duration is not None else None
        except (TypeError, ValueError, OverflowError):
            ms = None
        return [InputDTMFFrame(digit, ms if ms is None or ms >= 0 else None)]

    def mark_echoed(self, body: Any) -> Parsed:
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str):
            raise ProtocolError("invalid_event", "a mark needs a 'name'")
        self.marks.echoed(name)
        return []

    def carrier_error(self, detail: str) -> Parsed:
        """The carrier reported a problem with the stream: the app hears of it."""
        return [ErrorFrame(f"{self.carrier}: {detail[:300]}", code="carrier_error")]

    # -- us to the carrier ----------------------------------------------------------------

    def serialize_audio(self, chunk: bytes) -> Message | None:
        if self.stream_id is None:
            return None  # nothing to address it to before the carrier said "start"
        encoded = chunk if self.passthrough else _CODECS[self.codec][1](chunk)
        self._pending_mark = self.marks.sent(len(encoded))
        self._unplayed = True
        return self.media_message(base64.b64encode(encoded).decode("ascii"))

    def audio_mark(self) -> Message | None:
        name, self._pending_mark = self._pending_mark, None
        return None if name is None or self.stream_id is None else self.mark_message(name)

    def played_seconds(self) -> float | None:
        return self.marks.heard_seconds

    def serialize(self, frame: Frame) -> Message | None:
        if isinstance(frame, BotStartedSpeakingFrame):
            self.marks.begin()
        elif isinstance(frame, InterruptionFrame) and self._unplayed:
            # Only when audio went out since the last clear: the carrier may still be
            # playing the end of a reply our pacing counts as done, never anything else.
            self._unplayed = False
            self.marks.clear()
            return self.clear_message()
        return None

    def media_message(self, payload: str) -> Message:
        raise NotImplementedError

    def mark_message(self, name: str) -> Message:
        raise NotImplementedError

    def clear_message(self) -> Message:
        raise NotImplementedError
