"""The agent processor: the insertion point for external reasoning.

One meaning wherever it stands: it answers each final user ``TranscriptionFrame`` with
``agent.respond(text, context)``, and sends the answer *towards the voice* as the bot's
reply: ``TextFrame`` pieces between a ``ResponseStartFrame`` and a ``ResponseEndFrame``,
streamed, so the first sentence is spoken while the agent is still writing the rest, then
the whole reply as an assistant ``TranscriptionFrame`` (as S2S providers report theirs),
for displays and logs.  Its answer is never the user's words.

Where the voice is, ``voice`` says:

* ``"downstream"`` (the default): a TTS processor after it (the cascade: STT, agent,
  TTS), or an S2S processor after it used as the voice; the S2S processor voices text
  inside a reply and never sends it as user text;
* ``"upstream"``: an S2S processor *before* it, whose user transcripts it answers (the
  provider's own reasoning off, ``reasoning_mode="external"``); the reply travels back
  up to the S2S processor, which voices it.

It keeps the conversation history in ``context``: the agent sees the history *before* the
current utterance, then the user's turn and the assistant's reply (as far as it got) are
appended.  An ``InterruptionFrame`` cancels the reply in flight; a newer utterance
replaces an older reply.  An assistant ``TranscriptionFrame`` coming back upstream (the
TTS processor's account of what was heard before a barge-in) truncates the last reply in
the history to those words.  An agent that fails (a network error, a bug) ends its reply
there: the failure goes upstream as an ``ErrorFrame`` with the exception's code (every
``S2SError`` has one, anything else is ``internal_error``), the reply is closed with a
``ResponseEndFrame`` as usual, and the next utterance is answered as if nothing had
happened.  Anything with a ``respond`` async generator is an agent; to put
entirely custom logic here, subclass :class:`~beluga_voice.pipeline.FrameProcessor`
instead and handle ``TranscriptionFrame`` the same way.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Literal

import anyio

from ..agents.base import Agent
from ..conversation import ConversationContext, Turn, new_conversation_context
from ..frames import (
    BotStoppedSpeakingFrame,
    Direction,
    Frame,
    InterruptionFrame,
    ResponseEndFrame,
    ResponseStartFrame,
    TextFrame,
    TranscriptionFrame,
)
from ..pipeline.processor import FrameProcessor

__all__ = ["AgentProcessor"]

log = logging.getLogger("beluga_voice.agent")
_DOWN = Direction.DOWNSTREAM

WRAP_UP_TIMEOUT = 1.0
"""Seconds a reply's wrap-up may take once the reply is cancelled: closing the agent's
generator and sending the closing frames are shielded from the cancellation (they must
happen), but a generator that never closes or a jammed pipeline must not hang the stop."""


def _wrap_up() -> anyio.CancelScope:
    return anyio.CancelScope(shield=True, deadline=anyio.current_time() + WRAP_UP_TIMEOUT)


class AgentProcessor(FrameProcessor):
    """See the module docstring.  ``pass_transcripts`` forwards the user's transcripts
    downstream too (for displays and recorders)."""

    def __init__(
        self,
        agent: Agent,
        *,
        context: ConversationContext | None = None,
        pass_transcripts: bool = True,
        voice: Literal["downstream", "upstream"] = "downstream",
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        if voice not in ("downstream", "upstream"):
            raise ValueError(f"voice must be 'downstream' or 'upstream', not {voice!r}")
        self.agent = agent
        self.voice = voice
        self._out = _DOWN if voice == "downstream" else Direction.UPSTREAM
        self.context = context or new_conversation_context()
        self.pass_transcripts = pass_transcripts
        self.replies = 0
        self._scope: anyio.CancelScope | None = None
        self._done: anyio.Event | None = None
        self._current: Turn | None = None
        self._generation = 0

    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        if (
            direction is _DOWN
            and isinstance(frame, TranscriptionFrame)
            and frame.role == "user"
            and frame.final
            and frame.text.strip()
        ):
            if self.pass_transcripts:
                await self.push_frame(frame, direction)
            await self._cancel_reply()
            history = list(self.context.history)
            self.context.add_turn("user", frame.text)
            self._done = anyio.Event()
            self.create_task(
                self._reply, frame.text, history, self._generation, self._done,
                name=f"{self.name}.reply",
            )  # fmt: skip
            return
        if isinstance(frame, InterruptionFrame):
            await self._cancel_reply()
        elif isinstance(frame, BotStoppedSpeakingFrame) and frame.interrupted:
            self._mark_interrupted(frame.played_ms)
        elif (
            direction is not _DOWN
            and isinstance(frame, TranscriptionFrame)
            and frame.role == "assistant"
        ):
            self._truncate(frame.text)  # what the TTS says was heard of the reply
            return
        await self.push_frame(frame, direction)

    async def on_stop(self) -> None:
        """Let the reply in flight finish (the pipeline's stop deadline bounds this); on a
        cancel, cancel it."""
        if self.cancelled:
            await self._cancel_reply()
        elif self._done is not None:
            await self._done.wait()

    async def _cancel_reply(self) -> None:
        self._generation += 1  # a reply task not yet started will see it and not start
        if self._scope is not None:
            self._scope.cancel()
            if self._done is not None:
                await self._done.wait()

    async def _reply(
        self, text: str, history: list[Turn], generation: int, done: anyio.Event
    ) -> None:
        if generation != self._generation:
            done.set()
            return
        self.replies += 1
        view = replace(self.context, history=history)
        pieces: list[str] = []
        interrupted = False
        try:
            with anyio.CancelScope() as scope:
                self._scope = scope
                await self.push_frame(ResponseStartFrame(), self._out)
                gen = self.agent.respond(text, view)
                try:
                    async for piece in gen:
                        if piece:
                            pieces.append(piece)
                            await self.push_frame(TextFrame(piece), self._out)
                finally:
                    aclose = getattr(gen, "aclose", None)
                    if aclose is not None:
                        with _wrap_up():
                            await aclose()
            interrupted = scope.cancelled_caught
        except Exception as exc:  # this reply is lost; the next utterance gets a new one
            await self.push_exception(exc, "answering")
        finally:
            self._scope = None
            reply = "".join(pieces).strip()
            if reply:
                self._current = self.context.add_turn("assistant", reply)
                if interrupted:
                    self._current.metadata["interrupted"] = True
            with _wrap_up():
                if reply:  # the whole reply as a transcript, as S2S providers report it
                    await self.push_frame(TranscriptionFrame(reply, role="assistant"), self._out)
                await self.push_frame(ResponseEndFrame(interrupted=interrupted), self._out)
            done.set()

    def _mark_interrupted(self, played_ms: float) -> None:
        """The user cut the spoken reply: note where."""
        if self._current is not None:
            self._current.metadata["interrupted"] = True
            self._current.metadata["played_ms"] = played_ms

    def _truncate(self, heard: str) -> None:
        """Keep in the history only what the user heard of the last reply."""
        if self._current is not None and heard != self._current.text:
            self._current.metadata["full_text"] = self._current.text
            self._current.text = heard
