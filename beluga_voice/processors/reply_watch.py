"""What a graceful end of an S2S session waits for: the answer to the last thing said.

When the input of a pipeline ends (a file read to its end, a client that said goodbye)
the provider may still owe a reply: the user's last turn was heard but not yet answered,
or the answer is still coming.  Closing the session at once would cut it, and a file
conversation would end with an empty answer.  :class:`ReplyWatch` follows the session's
turn-taking from its events and tells when nothing more is owed:

* a reply is being produced (``ResponseStarted`` without ``ResponseDone`` yet);
* a reply is owed (the user's turn ended: speech stopped, a text, an explicit end of turn);
* the user is speaking (``SpeechStarted`` without ``SpeechStopped`` yet);
* audio was sent that the provider has not reacted to yet (anything but digital silence):
  a server-side voice detector may still be listening to it, so the watch waits for a short
  quiet window (``settle``).

A busy session that goes quiet for ``patience`` seconds is given up on (the caller logs it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
import numpy as np

from ..audio.g711 import g711_decode

__all__ = ["ReplyWatch"]

_QUIET = 64
"""Peak sample (about -54 dBFS) under which sent audio counts as silence."""


class ReplyWatch:
    """Turn-taking state of one session; see the module docstring."""

    def __init__(self) -> None:
        self.replying = False
        self.owed = False
        self.user_speaking = False
        self.unheard_audio = False
        self._changed = anyio.Event()

    @property
    def busy(self) -> bool:
        return self.replying or self.owed or self.user_speaking

    # -- what happened ----------------------------------------------------------------------

    def audio_sent(self, pcm: bytes, encoding: str = "pcm16") -> None:
        # Per audio frame, and only until some sound was sent: no wake-up, one vectorised
        # peak.  Near-silence (a file's padding, a resampler's ringing, a muted caller)
        # holds no turn to wait for.  G.711 passed through to the provider is looked at
        # decoded (here only: what the provider gets is untouched).
        if not self.unheard_audio and encoding != "pcm16":
            pcm = g711_decode(pcm, encoding)
        if not self.unheard_audio and len(pcm) > 1:
            samples = np.frombuffer(pcm, dtype="<i2", count=len(pcm) // 2)
            if samples.max() > _QUIET or samples.min() < -_QUIET:
                self.unheard_audio = True

    def turn_ended(self) -> None:
        self.owed = True
        self.unheard_audio = False
        self._changed.set()

    def speech_started(self) -> None:
        self.user_speaking = True
        self._changed.set()

    def speech_stopped(self) -> None:
        self.user_speaking = False
        self.turn_ended()

    def reply_started(self) -> None:
        # A reply is the provider's reaction to what it was sent so far (some providers,
        # Gemini among them, report no speech events at all).
        self.replying = True
        self.owed = self.unheard_audio = False
        self._changed.set()

    def reply_done(self) -> None:
        self.replying = self.owed = False
        self._changed.set()

    def activity(self) -> None:
        """Any other sign of life (reply audio, a transcript): the session is not stuck."""
        self._changed.set()

    # -- waiting ----------------------------------------------------------------------------

    async def settled(
        self,
        *,
        settle: float,
        patience: float,
        on_user_speaking: Callable[[], Awaitable[None]] | None = None,
    ) -> bool:
        """Return True once nothing is owed; False if a busy session went quiet for
        ``patience`` seconds (the reply it owed did not come).  ``on_user_speaking`` is
        awaited once if the user is (or turns out to be) mid-utterance: the input ended, so
        whoever waits must tell the provider the turn is over."""
        while self.busy or self.unheard_audio:
            if self.user_speaking and on_user_speaking is not None:
                await on_user_speaking()
                on_user_speaking = None
                continue  # what it caused is looked at afresh
            busy = self.busy
            self._changed = anyio.Event()
            with anyio.move_on_after(patience if busy else settle):
                await self._changed.wait()
                continue
            if busy:
                return False
            self.unheard_audio = False  # heard and found nothing to answer
        return True
