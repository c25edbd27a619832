"""A fake Gemini Live (BidiGenerateContent) server for offline tests and development.

It is written from the protocol notes and the official SDK's schemas, not from beluga's
client, so that it cannot share the client's mistakes.  It listens on 127.0.0.1 (port 0)
and behaves like the real service where tests need it to:

* setup then ``setupComplete``; ``x-goog-api-key`` (or a Vertex bearer token) checked;
* every client message validated against ``google.genai.types.LiveClientMessage`` and
  every message it sends against ``LiveServerMessage``; problems land in ``violations``;
* turns found by an energy VAD (automatic activity detection) or by
  ``activityStart``/``activityEnd`` (manual), or by a text turn; each turn is answered with
  the next :class:`ScriptedTurn`: input transcription, audio chunks with output
  transcription, ``generationComplete``, ``turnComplete``, usage;
* barge-in: user speech (or ``activityStart``) during a reply sends ``interrupted``;
* tool calls before a reply, and ``toolCallCancellation`` when the user barges in on one;
* ``sessionResumptionUpdate`` handles that snapshot what the server consumed, ``goAway``
  followed by a close, and resumption from a handle (what arrived after the handle is
  forgotten, as on a real server, so a client must replay it);
* faults (:class:`Faults`): handshake rejection, error closes, stalls, malformed frames.
"""

from .schema import ClientMessageError, check_client_message, check_server_message
from .script import FakeSessionState, Faults, ScriptedTurn
from .server import FakeGeminiServer

__all__ = [
    "ClientMessageError",
    "FakeGeminiServer",
    "FakeSessionState",
    "Faults",
    "ScriptedTurn",
    "check_client_message",
    "check_server_message",
]
