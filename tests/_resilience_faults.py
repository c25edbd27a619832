"""Fault injection helpers for the retry / fallback / observability tests.

:class:`DroppingMock` is the mock provider plus the failure the mock cannot do by itself:
a connection that dies while the *user* is speaking.  After ``drop_after_audio`` chunks
(counted over the provider's life) the live session goes dead like a lost TCP connection:
further audio vanishes without an error, and the next read reports a network error.
Each session records the audio it really accepted in ``heard``.
"""

from __future__ import annotations

from collections.abc import Iterable

from beluga_voice.conversation import ConversationContext
from beluga_voice.providers.errors import ErrorCode, S2SError
from beluga_voice.providers.events import SessionClosed, SessionEvent
from beluga_voice.providers.mock import AdvancedMockS2SProvider, MockSession
from beluga_voice.testing.speech import tone

RATE = 16000
CHUNK = RATE // 50 * 2  # 20 ms of PCM16 mono


class DroppingSession(MockSession):
    def __init__(self, provider: DroppingMock, ctx: ConversationContext) -> None:
        super().__init__(provider, ctx)
        self.dm = provider
        self.heard: list[bytes] = []
        self.dead = False

    async def send_audio(self, audio: bytes) -> None:
        if self.dead:
            return  # lost on the wire
        dm = self.dm
        dm.audio_seen += 1
        if dm.drop_after_audio is not None and dm.audio_seen > dm.drop_after_audio:
            dm.drop_after_audio = None
            self.dead = True
            self._inbox_send.send_nowait(("interrupt", None))  # wake a blocked reader
            return
        self.heard.append(audio)
        await super().send_audio(audio)

    async def _receive(self) -> Iterable[SessionEvent]:
        events = [] if self.dead else await super()._receive()
        if self.dead:
            err = S2SError("receive", ErrorCode.NETWORK_ERROR, "connection reset")
            return [SessionClosed(reason="dropped", error=err)]
        return events


class DroppingMock(AdvancedMockS2SProvider):
    def __init__(self, *args: object, drop_after_audio: int | None = None, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.drop_after_audio = drop_after_audio
        self.audio_seen = 0

    async def _open_session(self, ctx: ConversationContext) -> DroppingSession:
        await super()._open_session(ctx)  # failure knobs, counting and delay
        self.sessions.pop()
        session = DroppingSession(self, ctx)
        self.sessions.append(session)
        return session


def utterance(start_index: int, speech_s: float = 0.3, quiet_s: float = 0.4) -> list[bytes]:
    """A user turn in 20 ms chunks, each made unique by its last sample (the index)."""
    pcm = tone(speech_s, RATE, level=0.3) + bytes(int(quiet_s * RATE) * 2)
    chunks = []
    for n, i in enumerate(range(0, len(pcm) - CHUNK + 1, CHUNK)):
        idx = start_index + n
        chunks.append(pcm[i : i + CHUNK - 2] + (idx % 30000).to_bytes(2, "little"))
    return chunks


def delivered(captured: list[bytes], *providers: AdvancedMockS2SProvider) -> int:
    """How many captured chunks reached at least one provider session."""
    seen: set[bytes] = set()
    for p in providers:
        if isinstance(p, DroppingMock):  # only what a live session really accepted
            for s in p.sessions:
                seen.update(getattr(s, "heard", ()))
        else:
            seen.update(p.received_audio)
    return sum(1 for c in captured if c in seen)


class DeadProvider(AdvancedMockS2SProvider):
    """Refuses every connection (counting the attempts) until ``alive`` is set."""

    def __init__(self, *args: object, code: ErrorCode = ErrorCode.NETWORK_ERROR, **kw: object):
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.code = code
        self.alive = False
        self.attempts = 0

    async def _open_session(self, ctx: ConversationContext) -> MockSession:
        self.attempts += 1
        if not self.alive:
            raise S2SError("connect", self.code, f"{self.name}: refused")
        return await super()._open_session(ctx)  # type: ignore[return-value]
