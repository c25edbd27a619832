"""``Caller``: a scripted user who talks to a voice agent, for tests.

The caller speaks lines (synthesised with the embedded espeak-ng voice, or given as
audio), listens to the replies on a virtual loudspeaker, and can talk over a reply
after some milliseconds of it (barge-in), stay silent, or hang up::

    async with Caller(new_provider("local")) as caller:
        turn = await caller.say("what is two plus three")
        assert turn.reply.mentions("5")
        await caller.say("help", barge_in_after_ms=400)   # the next line talks over it
        cut = await caller.say("what time is it")
        assert caller.turns[-2].interrupted

The target is a provider (run in ``[S2SProcessor(provider)]`` at the provider's own
rates), a :class:`~beluga_voice.pipeline.PipelineTask`, a
:class:`~beluga_voice.session.VoiceSession`, or the ``ws://`` URL of a running server.
Time passes in ticks of ``tick_ms`` on the caller's clock (:mod:`.clock`): every tick
sends one chunk of microphone audio (speech, or silence as a real microphone would)
and plays one tick of reply audio.
"""

from __future__ import annotations

from collections import deque
from contextlib import AsyncExitStack
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import anyio

from ...pipeline import PipelineTask
from ...providers.base import S2SProvider
from .clock import Clock, RealClock, VirtualClock
from .targets import Heard, PipelineTarget, Target, WebSocketTarget, start_frame_for
from .turns import Reply, Turn
from .voice import CallerVoice

__all__ = ["Caller", "CallerError"]

ClockName = Literal["virtual", "real"]
_MAX_PENDING = 100_000


class CallerError(AssertionError):
    """The conversation could not go on: the agent failed, or the caller misused."""


class Caller:
    """See the module docstring.

    Synthesised lines are kept for the life of the process, and with ``speech_cache``
    (a directory) on disk too: espeak-ng does not give the same samples twice, and a
    replay needs the caller to say exactly what it said when the recording was made.
    ``pause_ms`` is the silence after each line before the caller tells the agent its
    turn ended (agents with a voice detector end the turn on the silence itself);
    ``reply_timeout_ms`` how long, on the caller's clock, a line waits for an answer to
    start, and ``max_turn_ms`` for it to end.
    """

    def __init__(
        self,
        target: Any,
        *,
        clock: ClockName | Clock = "virtual",
        voice: str = "en-us+f2",
        speech_rate: int = 150,
        tick_ms: int = 20,
        pause_ms: int = 700,
        reply_timeout_ms: float = 15_000,
        max_turn_ms: float = 120_000,
        token: str | None = None,
        speech_cache: Path | str | None = None,
    ) -> None:
        self.target = _target_for(target, token)
        if isinstance(clock, str):
            if clock == "virtual" and self.target.realtime_only:
                raise CallerError(
                    "a server over WebSocket runs on its own wall clock: use clock='real'"
                )
            clock = VirtualClock() if clock == "virtual" else RealClock()
        self.clock: Clock = clock
        self.voice = CallerVoice(voice, speech_rate, speech_cache)
        self.tick_ms, self.pause_ms, self.reply_timeout_ms = tick_ms, pause_ms, reply_timeout_ms
        self.max_turn_ms = max_turn_ms
        self.turns: list[Turn] = []
        self.greeting: Turn | None = None
        """Replies that came before the caller said anything."""
        self.errors: list[Heard] = []
        self.ended = False
        self._pending: deque[Heard] = deque()
        self._overflow = False
        self._reply: Reply | None = None
        """The reply being received (started, not done)."""
        self._speaker: deque[tuple[Reply, int]] = deque()
        """Reply audio waiting to be played: (reply, bytes)."""
        self._stack: AsyncExitStack | None = None
        self._hung_up = False

    # -- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        stack = AsyncExitStack()
        try:
            tg = await stack.enter_async_context(anyio.create_task_group())
            stack.push_async_callback(self.hang_up)
            await self.target.open(stack, tg, self._heard)
        except BaseException:
            await stack.aclose()
            raise
        if isinstance(self.clock, RealClock):
            self.clock = RealClock()  # the origin is now, not when the caller was built
        self._stack = stack
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()

    async def hang_up(self) -> None:
        """End the call: stop talking, stop listening, close the target."""
        if self._hung_up:
            return
        self._hung_up = True
        await self.target.hang_up()

    # -- the script -------------------------------------------------------------------------

    async def say(
        self,
        text: str,
        *,
        audio: bytes | Path | str | None = None,
        barge_in_after_ms: float | None = None,
    ) -> Turn:
        """Speak ``text`` (or ``audio``: PCM16 at the target's rate, or a WAV path), then
        wait for the reply to be played to the end.

        With ``barge_in_after_ms``, return as soon as that much of the reply was played:
        the next line then talks over the rest of it (a barge-in), and this turn's
        ``interrupted`` tells whether the agent stopped.
        """
        pcm = await self.voice.speak(text, self.target.input_rate, audio)
        turn = Turn(text=text, started_ms=self.clock.now(), barge_in_after_ms=barge_in_after_ms)
        self.turns.append(turn)
        step = self._step_bytes()
        for i in range(0, len(pcm), step):
            await self._tick(pcm[i : i + step].ljust(step, b"\0"))
        turn.end_of_speech_ms = self.clock.now()
        turn.speech_ms = 1000.0 * len(pcm) / (2 * self.target.input_rate)
        told_end = False
        while not self.ended:
            since = self.clock.now() - turn.end_of_speech_ms
            if not told_end and since >= self.pause_ms:
                await self.target.end_turn()
                told_end = True
            if self._turn_settled(turn):
                break
            if since >= (self.max_turn_ms if turn.replies else self.reply_timeout_ms):
                turn.timed_out = True  # no answer; or one that never ends
                break
            await self._tick(bytes(step))
        return turn

    async def silence(self, ms: float) -> None:
        """Stay silent for ``ms`` (the microphone keeps sending silence; replies play)."""
        step = self._step_bytes()
        end = self.clock.now() + ms
        while self.clock.now() < end and not self.ended:
            await self._tick(bytes(step))

    async def wait_for_reply(self) -> Reply:
        """Listen until a reply (a greeting, say) has started and been played out."""
        step = self._step_bytes()
        start = self.clock.now()
        while not self.ended and self.clock.now() - start < self.reply_timeout_ms:
            reply = (self.turns[-1].replies if self.turns else []) or (
                self.greeting.replies if self.greeting else []
            )
            if reply and reply[-1].done and not self._speaker:
                return reply[-1]
            await self._tick(bytes(step))
        raise CallerError(f"no reply within {self.reply_timeout_ms:.0f} ms")

    # -- internals ----------------------------------------------------------------------------

    def _step_bytes(self) -> int:
        return self.target.input_rate * self.tick_ms // 1000 * 2

    def _turn_settled(self, turn: Turn) -> bool:
        if not turn.replies:
            return False
        reply = turn.replies[0]
        if turn.barge_in_after_ms is not None and reply.played_ms >= turn.barge_in_after_ms:
            return True
        return all(r.done for r in turn.replies) and not self._speaker

    async def _tick(self, chunk: bytes) -> None:
        if self._stack is None:
            raise CallerError("use the caller as 'async with Caller(...) as caller:'")
        if self._hung_up:
            raise CallerError("the caller has hung up")
        await self.target.send_audio(chunk)
        await self.clock.advance(self.tick_ms)
        if isinstance(self.target, PipelineTarget):
            self.target.poll()
        await self._handle_pending()
        self._play(self.tick_ms)

    def _heard(self, item: Heard) -> None:
        """The target's callback: queue for the caller's task, stamped on arrival."""
        if len(self._pending) >= _MAX_PENDING:
            self._overflow = True  # reported by the caller's task, at once
            return
        item.at_ms = self.clock.now()
        self._pending.append(item)

    def _turn_of(self, reply: Reply) -> Turn | None:
        for turn in (*reversed(self.turns), self.greeting):
            if turn is not None and reply in turn.replies:
                return turn
        return None

    def _open_reply(self, rate: int = 0) -> Reply:
        reply = Reply(sample_rate=rate or 24000, started_ms=self.clock.now())
        owner = self.turns[-1] if self.turns else None
        if owner is None:
            self.greeting = self.greeting or Turn(text="")
            owner = self.greeting
        owner.replies.append(reply)
        self._reply = reply
        return reply

    async def _handle_pending(self) -> None:
        if self._overflow:
            raise CallerError(f"the caller fell {_MAX_PENDING} events behind the agent")
        while self._pending:
            item = self._pending.popleft()
            if item.kind == "audio":
                reply = self._reply or self._open_reply(item.sample_rate)
                if not reply.audio:
                    reply.sample_rate = item.sample_rate
                    turn = self._turn_of(reply)
                    base = turn.end_of_speech_ms if turn is not None else 0.0
                    reply.first_audio_ms = max(0.0, item.at_ms - base)
                reply.audio += item.audio
                self._speaker.append((reply, len(item.audio)))
            elif item.kind == "started":
                if self._reply is None or self._reply.audio:
                    self._open_reply()
            elif item.kind == "done":
                if self._reply is not None:
                    self._reply.done = True
                    self._reply.interrupted |= item.interrupted
                    self._reply = None
            elif item.kind == "interrupted":
                await self._interrupted()
            elif item.kind == "transcript":
                self._transcript(item)
            elif item.kind == "error":
                self.errors.append(item)
                if item.fatal:
                    raise CallerError(f"the agent failed ({item.code}): {item.text}")
            elif item.kind == "ended":
                self.ended = True

    def _transcript(self, item: Heard) -> None:
        if item.role == "user":
            if item.final and item.text.strip() and self.turns:
                self.turns[-1].transcripts.append(item.text.strip())
            return
        reply = self._reply or self._last_reply()
        if reply is None:
            reply = self._open_reply()
        (reply.finals if item.final else reply.interims).append(item.text)

    def _last_reply(self) -> Reply | None:
        for turn in (*reversed(self.turns), self.greeting):
            if turn is not None and turn.replies:
                return turn.replies[-1]
        return None

    async def _interrupted(self) -> None:
        """The agent flushed its playback (a barge-in): stop the loudspeaker."""
        playing = self._speaker[0][0] if self._speaker else self._reply
        if playing is None:
            return  # nothing was playing: a barge-in notice with no reply to cut
        self._speaker.clear()
        playing.interrupted = True
        if self._reply is playing:
            self._reply.done = True
            self._reply = None
        await self.target.stopped_playing(playing.played_ms)

    def _play(self, ms: float) -> None:
        while ms > 0 and self._speaker:
            reply, left = self._speaker[0]
            per_ms = 2 * reply.sample_rate / 1000.0
            take = min(left, int(ms * per_ms) // 2 * 2 or 2)
            reply.played_ms += take / per_ms
            ms -= take / per_ms
            if take >= left:
                self._speaker.popleft()
            else:
                self._speaker[0] = (reply, left - take)


def _target_for(target: Any, token: str | None) -> Target:
    from ...session import VoiceSession

    if isinstance(target, Target):
        return target
    if isinstance(target, str) and target.startswith(("ws://", "wss://")):
        return WebSocketTarget(target, token=token)
    if isinstance(target, VoiceSession):
        return PipelineTarget(session=target)
    if isinstance(target, PipelineTask):
        return PipelineTarget(task=target)
    if isinstance(target, S2SProvider):
        from ...processors.s2s import S2SProcessor

        return PipelineTarget(
            task=PipelineTask([S2SProcessor(target)], start_frame=start_frame_for(target))
        )
    raise CallerError(
        f"cannot call {type(target).__name__}: give a provider, a PipelineTask, "
        "a VoiceSession or a ws:// URL"
    )
