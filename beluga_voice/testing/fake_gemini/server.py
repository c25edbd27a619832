"""The fake BidiGenerateContent server: handshake, message dispatch, resumption, sending.

What it answers once a turn is detected (scripted replies, barge-in, mid-reply faults)
lives in :mod:`.replies`.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from typing import Any

import anyio
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from ...audio.turns import EnergyTurnDetector, TurnEvent
from ...providers.websocket import redacting_logger
from .replies import Conn, ReplyMixin
from .schema import (
    ClientMessageError,
    check_client_message,
    check_server_message,
    decode_audio,
)
from .script import LIVE_MODELS, FakeSessionState, Faults, ScriptedTurn

# The fake logs handshakes at debug level like any websockets server: keys scrubbed.
_log = redacting_logger("beluga_voice.testing.fake_gemini")

__all__ = ["FakeGeminiServer"]

GEMINI_PATH = "/ws/google.ai.generativelanguage.{v}.GenerativeService.BidiGenerateContent"
VERTEX_PATH = "/ws/google.cloud.aiplatform.{v}.LlmBidiService/BidiGenerateContent"
_VERSIONS = ("v1alpha", "v1beta", "v1", "v1beta1")
_PATHS = {p.format(v=v) for p in (GEMINI_PATH, VERTEX_PATH) for v in _VERSIONS}


class FakeGeminiServer(ReplyMixin):
    """See the module docstring.  Use as ``async with FakeGeminiServer(...) as server``."""

    def __init__(
        self,
        turns: Sequence[ScriptedTurn] = (),
        *,
        api_key: str | Collection[str] = "test-key",
        chunk_ms: int = 40,
        pace: float = 0.0,
        silence_ms: float = 300.0,
        speech_rms: float = 500.0,
        resumption_every: int = 5,
        go_away_after_audio: int | Sequence[int | None] | None = None,
        go_away_grace_s: float = 5.0,
        handle_after_setup: bool = False,
        binary_frames: bool = False,
        faults: Faults | None = None,
        ssl_context: Any = None,
        models: dict[str, tuple[str, bool, bool]] | None = None,
    ) -> None:
        self.turns = list(turns) or [ScriptedTurn()]
        self.api_key = api_key
        self._keys = {api_key} if isinstance(api_key, str) else set(api_key)
        self.chunk_ms = chunk_ms
        self.pace = pace
        self.silence_ms = silence_ms
        self.speech_rms = speech_rms
        self.resumption_every = resumption_every
        # An int: goAway on the first connection after that many audio messages; a
        # sequence: one entry per connection, in order (None: no goAway on that one).
        self.go_away_after_audio: list[int | None] = (
            [go_away_after_audio]
            if go_away_after_audio is None or isinstance(go_away_after_audio, int)
            else list(go_away_after_audio)
        )
        self.go_away_grace_s = go_away_grace_s
        self.handle_after_setup = handle_after_setup
        """Send a handle right after ``setupComplete``: it holds the resumed state only, so
        it arrives before the server has read anything the client replays."""
        self.binary_frames = binary_frames
        self.faults = faults or Faults()
        self.ssl_context = ssl_context
        self.models = LIVE_MODELS if models is None else models
        # Records.
        self.violations: list[str] = []
        self.received: list[tuple[int, dict[str, Any]]] = []
        self.sent: list[tuple[int, dict[str, Any]]] = []
        self.setups: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.texts: list[str] = []
        self.tool_responses: list[dict[str, Any]] = []
        self.states: list[FakeSessionState] = []
        self.interruptions = 0
        self.resumed_from: list[tuple[str, int]] = []
        """``(handle, audio bytes the handle covered)`` for every resumption."""
        self.audio_in: list[tuple[int, bytes]] = []
        """Every audio chunk received, with its connection number: every byte counted,
        including what a resumption later rolls back."""
        self._handles: dict[str, tuple[FakeSessionState, int, int]] = {}
        self._connections = 0
        self._server: Server | None = None
        self.port = 0

    # -- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> FakeGeminiServer:
        self._server = await serve(
            self._handler,
            "127.0.0.1",
            0,
            process_request=self._process_request,
            ssl=self.ssl_context,
            max_size=None,
            compression=None,
            logger=_log,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        with anyio.move_on_after(5):
            await self._server.wait_closed()

    @property
    def url(self) -> str:
        """``ws(s)://127.0.0.1:PORT``: the base URL for beluga's ``base_url`` setting."""
        return f"{'wss' if self.ssl_context else 'ws'}://127.0.0.1:{self.port}"

    @property
    def http_base_url(self) -> str:
        """``http(s)://...``: what ``google-genai``'s ``HttpOptions.base_url`` takes."""
        return f"{'https' if self.ssl_context else 'http'}://127.0.0.1:{self.port}"

    def _violation(self, conn: int, text: str) -> None:
        self.violations.append(f"connection {conn}: {text}")

    # -- handshake ------------------------------------------------------------------------

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        headers = {k.lower(): v for k, v in request.headers.raw_items()}
        self.headers.append(headers)
        if self.faults.reject_status is not None:
            return connection.respond(self.faults.reject_status, "rejected by the fake\n")
        path = request.path.split("?")[0]
        if path not in _PATHS:
            return connection.respond(404, "no such method\n")
        # The credential is checked at the handshake, as the service does: the Developer
        # API answers a missing or wrong key with 403, Vertex AI a bad token with 401.
        if "aiplatform" in path:
            token = headers.get("authorization", "").removeprefix("Bearer ")
            if token not in self._keys:
                return _google_error(connection, 401, "UNAUTHENTICATED", _BAD_TOKEN)
        elif headers.get("x-goog-api-key") not in self._keys:
            return _google_error(connection, 403, "PERMISSION_DENIED", _BAD_KEY)
        return None

    # -- one connection -------------------------------------------------------------------

    async def _handler(self, ws: ServerConnection) -> None:
        self._connections += 1
        conn = Conn(ws, self._connections)
        try:
            async with anyio.create_task_group() as tg:
                async for raw in ws:
                    if not await self._on_message(conn, raw, tg):
                        break
                tg.cancel_scope.cancel()
        except* ConnectionClosed:
            pass  # the client went away: nothing left to do for this connection

    async def _close(self, conn: Conn, code: int, reason: str) -> bool:
        await conn.ws.close(code, reason)
        return False

    async def _on_message(self, conn: Conn, raw: str | bytes, tg: anyio.abc.TaskGroup) -> bool:
        conn.index += 1
        try:
            kind, body = check_client_message(raw)
        except ClientMessageError as exc:
            self._violation(conn.number, str(exc))
            return await self._close(conn, 1007, f"Invalid JSON payload received. {exc}"[:120])
        self.received.append((conn.number, {kind: body}))
        if conn.setup is None:
            if kind != "setup":
                self._violation(conn.number, f"first message was {kind}, not setup")
                return await self._close(conn, 1007, "Invalid argument: setup must come first")
            return await self._on_setup(conn, body, tg)
        if kind == "setup":
            self._violation(conn.number, "a second setup")
            return await self._close(conn, 1007, "Invalid argument: setup sent twice")
        if kind == "realtimeInput":
            await self._on_realtime(conn, body, tg)
        elif kind == "clientContent":
            texts = [
                p.get("text", "") for t in body.get("turns") or [] for p in t.get("parts") or []
            ]
            self.texts.append("".join(texts))
            if body.get("turnComplete"):
                await self._barge_in(conn)
                self._start_turn(conn, tg)
        elif kind == "toolResponse":
            await self._on_tool_response(conn, body, tg)
        await self._maybe_resumption_update(conn)
        return True

    async def _on_setup(self, conn: Conn, setup: dict[str, Any], tg: anyio.abc.TaskGroup) -> bool:
        conn.setup = setup
        self.setups.append(setup)
        refusal = self._refusal(setup)
        if refusal is not None:
            return await self._close(conn, *refusal)
        if self.faults.close_on_setup and conn.number == 1:
            return await self._close(conn, *self.faults.close_on_setup)
        handle = (setup.get("sessionResumption") or {}).get("handle")
        if handle:
            if handle not in self._handles:
                return await self._close(conn, 1008, "Invalid session resumption handle")
            state, audio_len, turns = self._handles[handle]
            self.resumed_from.append((handle, audio_len))
            del state.audio[audio_len:]  # what came after the handle is not in it
            state.turns = turns
            conn.state = state
        else:
            self.states.append(conn.state)
        conn.state.connections += 1
        if not conn.manual:
            conn.vad = EnergyTurnDetector(
                16000, threshold_rms=self.speech_rms, silence_ms=self.silence_ms
            )
        if self.faults.stall_before_setup_complete and conn.number == 1:
            return True
        await self._send(conn, {"setupComplete": {}})
        if self.handle_after_setup:
            await self._maybe_resumption_update(conn, force=True)
        return True

    def _refusal(self, setup: dict[str, Any]) -> tuple[int, str] | None:
        """Why the service would refuse this setup, as its close frame, if it would."""
        model = str(setup.get("model", ""))
        features = self.models.get(model.rsplit("/", 1)[-1])
        if features is None:
            return 1008, (
                f"{model} is not found for API version v1beta, or is not supported for "
                "bidiGenerateContent. Call ListModels to see the list of available models "
                "and their supported methods."
            )[:123]
        proactive, affective, non_blocking = features
        generation = setup.get("generationConfig") or {}
        asked = (setup.get("proactivity") or {}).get("proactiveAudio")
        tools = [d for t in setup.get("tools") or [] for d in t.get("functionDeclarations") or []]
        if (
            (generation.get("enableAffectiveDialog") and not affective)
            or (asked is True and proactive == "no")
            or (asked is False and proactive == "always")
            or (not non_blocking and any(d.get("behavior") == "NON_BLOCKING" for d in tools))
        ):
            return 1007, "Request contains an invalid argument."
        return None

    async def _on_realtime(self, conn: Conn, body: dict[str, Any], tg: anyio.abc.TaskGroup) -> None:
        if "audio" in body:
            pcm, rate = decode_audio(body)
            conn.state.audio += pcm
            conn.audio_messages += 1
            self.audio_in.append((conn.number, pcm))
            if conn.vad is not None:
                if conn.vad.sample_rate != rate:
                    conn.vad = EnergyTurnDetector(
                        rate, threshold_rms=self.speech_rms, silence_ms=self.silence_ms
                    )
                for event in conn.vad.feed(pcm):
                    if event is TurnEvent.SPEECH_STARTED:
                        await self._barge_in(conn)
                    else:
                        self._start_turn(conn, tg)
            plan = self.go_away_after_audio
            if conn.number <= len(plan) and conn.audio_messages == plan[conn.number - 1]:
                await self._go_away(conn, tg)
        elif "activityStart" in body or "activityEnd" in body:
            if not conn.manual:
                self._violation(conn.number, "activity signal with automatic detection on")
                return
            if "activityStart" in body:
                if conn.in_activity:
                    self._violation(conn.number, "activityStart twice")
                conn.in_activity = True
                await self._barge_in(conn)
            else:
                if not conn.in_activity:
                    self._violation(conn.number, "activityEnd without activityStart")
                conn.in_activity = False
                self._start_turn(conn, tg)
        elif body.get("audioStreamEnd"):
            if conn.vad is not None and conn.vad.speaking:
                conn.vad.speaking = False
                self._start_turn(conn, tg)
        elif "text" in body:
            self.texts.append(body["text"])
            await self._barge_in(conn)
            self._start_turn(conn, tg)

    async def _on_tool_response(
        self, conn: Conn, body: dict[str, Any], tg: anyio.abc.TaskGroup
    ) -> None:
        for response in body.get("functionResponses") or []:
            self.tool_responses.append(response)
            if response.get("id") == conn.waiting_tool and conn.pending_turn is not None:
                conn.waiting_tool = None
                turn, conn.pending_turn = conn.pending_turn, None
                self._spawn_reply(conn, tg, turn, False)

    # -- resumption and goAway ------------------------------------------------------------

    async def _maybe_resumption_update(self, conn: Conn, force: bool = False) -> None:
        setup = conn.setup or {}
        if "sessionResumption" not in setup:
            return
        if not force and (conn.replying is not None or conn.index % self.resumption_every):
            return
        handle = f"handle-{len(self._handles) + 1}"
        self._handles[handle] = (conn.state, len(conn.state.audio), conn.state.turns)
        update: dict[str, Any] = {"newHandle": handle, "resumable": True}
        if conn.transparent:
            update["lastConsumedClientMessageIndex"] = str(conn.index)
        await self._send(conn, {"sessionResumptionUpdate": update})

    async def _go_away(self, conn: Conn, tg: anyio.abc.TaskGroup) -> None:
        conn.went_away = True
        await self._maybe_resumption_update(conn, force=True)
        await self._send(conn, {"goAway": {"timeLeft": f"{self.go_away_grace_s:g}s"}})

        async def close_later() -> None:
            await anyio.sleep(self.go_away_grace_s)  # the service's deadline, simulated
            with anyio.move_on_after(2):
                await conn.ws.close(1000, "session moved")

        tg.start_soon(close_later)

    # -- sending --------------------------------------------------------------------------

    async def _send(self, conn: Conn, message: dict[str, Any]) -> None:
        text = json.dumps(message)
        problem = check_server_message(text)
        if problem is not None:
            self._violation(conn.number, f"fake sent an invalid server message: {problem}")
        self.sent.append((conn.number, message))
        async with conn.send_lock:
            await conn.ws.send(text.encode() if self.binary_frames else text)


_BAD_KEY = "API key not valid. Please pass a valid API key."
_BAD_TOKEN = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
    "cookie or other valid authentication credential."
)


def _google_error(connection: ServerConnection, status: int, kind: str, message: str) -> Response:
    """A handshake refusal with Google's JSON error body (``{"error": {...}}``)."""
    body = {"error": {"code": status, "message": message, "status": kind}}
    response = connection.respond(status, json.dumps(body))
    response.headers["Content-Type"] = "application/json; charset=UTF-8"
    return response
