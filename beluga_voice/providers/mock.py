"""A scriptable in-process S2S provider for tests and offline experiments.

:class:`AdvancedMockS2SProvider` behaves like a real server-VAD provider: it listens to the
audio it receives with an energy detector, answers each finished user turn with scripted
audio (streamed in chunks at a chosen pace), reports the user's speech so that a barge-in
cuts its reply, and can be told to fail in every way a real provider fails: on the Nth
connection, mid-stream, by disconnecting, by stalling, or by answering slowly.

Everything a session receives is recorded on it (``received_audio``, ``received_text``,
``spoken_text``, ``tool_results``, ``interrupts``), and the provider's attributes of the same
names join the records of its recent sessions, so tests can assert that nothing was lost.
Both are bounded, so that a long-running ``serve -p mock`` does not keep every byte: the
provider keeps its last ``keep_sessions`` sessions, and a session the last
``record_limit_bytes`` of its audio (older audio is dropped and counted in
``dropped_audio_bytes``) and the last ``record_limit_items`` of each other record.  A
session that closes lets go of what it no longer needs (queued commands, the rest of a
reply) and keeps only its records.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import anyio
from pydantic import BaseModel, ConfigDict, Field

from ..audio.turns import tone
from ..conversation import ConversationContext
from .base import StreamingS2SProvider, StreamingSession
from .config import S2SConfig
from .errors import ErrorCode, S2SError
from .mock_session import INBOX_LIMIT, INBOX_LIMIT_BYTES, MockSession
from .registry import register_provider
from .types import AudioOutput, ProviderCapabilities

__all__ = [
    "INBOX_LIMIT",
    "INBOX_LIMIT_BYTES",
    "AdvancedMockS2SProvider",
    "MockSession",
    "MockSettings",
]


class MockSettings(BaseModel):
    """``provider_specific`` keys of the ``mock`` provider."""

    model_config = ConfigDict(extra="forbid")

    reply_seconds: float = 0.5
    reply_text: str = "This is the mock provider."
    chunk_ms: int = 20
    pace: float = 0.0
    silence_ms: int = 300
    keep_sessions: int = Field(default=4, ge=0)
    """Recent sessions whose records a server keeps (a server is not a test)."""
    record_limit_bytes: int = Field(default=1 << 20, ge=0)
    """User audio each kept session records (1 MiB: about 30 s at 16 kHz)."""


class AdvancedMockS2SProvider(StreamingS2SProvider):
    """See the module docstring.  All knobs are keyword arguments.

    ``pace`` is the playback speed of replies: 0 streams as fast as possible, 1.0 at real
    time.  ``turn_detection="server"`` ends a user turn after ``silence_ms`` of quiet
    following speech; ``"client"`` waits for :meth:`StreamingSession.end_turn`.
    ``tool_calls`` maps a turn number (1-based) to a ``(name, arguments_json)`` the mock
    asks for before replying; the reply follows the tool result.
    ``keep_sessions``, ``record_limit_bytes`` and ``record_limit_items`` bound the records
    (see the module docstring); ``serve -p mock`` keeps less than a test does.
    """

    settings_model = MockSettings
    requires_api_key = False

    def __init__(
        self,
        name: str = "mock",
        *,
        config: S2SConfig | None = None,
        audio_outputs: Sequence[AudioOutput | bytes] = (),
        transcripts: Sequence[str] = (),
        user_transcripts: Sequence[str] = (),
        delay: float = 0.0,
        error: S2SError | None = None,
        fail_on_call: int | None = None,
        fail_after_chunks: int | None = None,
        disconnect_after_chunks: int | None = None,
        stall_after_chunks: int | None = None,
        chunk_ms: int = 20,
        pace: float = 0.0,
        turn_detection: str = "server",
        silence_ms: int = 300,
        speech_rms: float = 500.0,
        min_speech_ms: float = 40.0,
        tool_calls: dict[int, tuple[str, str]] | None = None,
        capabilities: ProviderCapabilities | None = None,
        keep_sessions: int = 16,
        record_limit_bytes: int = 8 << 20,
        record_limit_items: int = 1000,
    ) -> None:
        super().__init__(config or S2SConfig(provider="mock"))
        self.name = name
        self.audio_outputs = [
            o if isinstance(o, AudioOutput) else AudioOutput(data=o) for o in audio_outputs
        ] or [AudioOutput(data=tone())]
        self.transcripts = list(transcripts)
        self.user_transcripts = list(user_transcripts)
        self.delay = delay
        self.error = error
        self.fail_on_call = fail_on_call
        self.fail_after_chunks = fail_after_chunks
        self.disconnect_after_chunks = disconnect_after_chunks
        self.stall_after_chunks = stall_after_chunks
        self.chunk_ms = chunk_ms
        self.pace = pace
        self.turn_detection = turn_detection
        self.silence_ms = silence_ms
        self.speech_rms = speech_rms
        self.min_speech_ms = min_speech_ms
        self.tool_calls = dict(tool_calls or {})
        self.capabilities = capabilities or ProviderCapabilities(
            server_vad=turn_detection == "server",
            barge_in_truncation=True,
            tools=True,
            text_input=True,
            speak_text=True,
            transcripts=True,
            input_sample_rates=(16000, 24000),
            output_sample_rate=self.audio_outputs[0].format.sample_rate,
        )
        self.calls = 0
        self.turns = 0
        self.record_limit_bytes = record_limit_bytes
        self.record_limit_items = record_limit_items
        self.sessions: deque[MockSession] = deque(maxlen=keep_sessions)
        """The most recent sessions, with their records (older ones are forgotten)."""

    @classmethod
    def from_config(
        cls, config: S2SConfig, settings: MockSettings | None
    ) -> AdvancedMockS2SProvider:
        s = settings or MockSettings()
        return cls(
            config=config,
            audio_outputs=[tone(s.reply_seconds)],
            transcripts=[s.reply_text],
            chunk_ms=s.chunk_ms,
            pace=s.pace,
            silence_ms=s.silence_ms,
            keep_sessions=s.keep_sessions,
            record_limit_bytes=s.record_limit_bytes,
        )

    # -- records of the recent sessions, joined in session order ---------------------------

    @property
    def received_audio(self) -> list[bytes]:
        return [chunk for s in self.sessions for chunk in s.received_audio]

    @property
    def received_text(self) -> list[str]:
        return [text for s in self.sessions for text in s.received_text]

    @property
    def spoken_text(self) -> list[str]:
        return [text for s in self.sessions for text in s.spoken_text]

    @property
    def tool_results(self) -> list[tuple[str, str]]:
        return [result for s in self.sessions for result in s.tool_results]

    @property
    def interrupts(self) -> list[float | None]:
        return [played for s in self.sessions for played in s.interrupts]

    @property
    def received_bytes(self) -> int:
        return sum(s.received_bytes for s in self.sessions)

    async def _open_session(self, ctx: ConversationContext) -> StreamingSession:
        self.calls += 1
        if self.fail_on_call is not None and self.calls == self.fail_on_call:
            raise self.error or S2SError(
                "connect", ErrorCode.NETWORK_ERROR, f"{self.name}: injected"
            )
        if self.delay:
            await anyio.sleep(self.delay)
        session = MockSession(self, ctx)
        self.sessions.append(session)
        return session


register_provider(
    "mock",
    AdvancedMockS2SProvider.from_config,
    settings=MockSettings,
    requires_api_key=False,
    description="Scriptable in-process provider for tests",
    credentials="none",
)
