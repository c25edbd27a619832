"""``OpenAIRealtimeServer``: the OpenAI Realtime protocol, server side, over WebSockets.

The I/O shell around :class:`~.core.RealtimeServerCore`.  It listens like the project's
:class:`~beluga_voice.transports.websocket.WebSocketServer` (same
:class:`~beluga_voice.transports.websocket.ServerConfig`: bearer token, allowed origins,
message size, session limit, idle timeout, TLS) and answers at ``/v1/realtime``, so the
official SDK connects with ``AsyncOpenAI(websocket_base_url="ws://host:port/v1")``::

    backend = ProviderBackend("local")
    async with OpenAIRealtimeServer(backend, ServerConfig(port=8000, token="...")) as server:
        await server.serve_forever()

Per connection, two tasks feed the core: one reads client messages, one iterates the
backend session.  Each core step and the sending of the events it produced happen under
one lock, so events reach the client in exactly the order the core made them; the
backend actions of a step run after it, in the task that caused them.  A slow client
holds the backend reader back (no unbounded queue); a client that does not read for
``send_timeout`` seconds is disconnected.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

import anyio
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from ...conversation import new_conversation_context
from ...providers.base import StreamingSession
from ...providers.errors import S2SError
from ...providers.events import SessionClosed
from ...secrets import redact
from ..websocket.engines import ServerSocket
from ..websocket.handshake import Responder
from ..websocket.server import ServerConfig, WebSocketServer
from .actions import (
    Action,
    CloseConnection,
    EndTurn,
    Interrupt,
    OpenBackend,
    SendAudio,
    SendText,
    SendToolResult,
    Speak,
)
from .backend import Backend, ProviderBackend
from .core import RealtimeServerCore

__all__ = ["CLOSE_IDLE", "CLOSE_POLICY", "INSECURE_KEY_PREFIX", "OpenAIRealtimeServer"]

log = logging.getLogger("beluga_voice.transports.openai_realtime_server")

PATH: Final = "/v1/realtime"
INSECURE_KEY_PREFIX: Final = "openai-insecure-api-key."
"""Browsers cannot set headers on a WebSocket: they pass the key as a subprotocol."""
CLOSE_IDLE: Final = 4408
CLOSE_POLICY: Final = 1008


class OpenAIRealtimeServer(WebSocketServer):
    """See the module docstring.  ``backend`` defaults to the offline ``local`` provider."""

    subprotocols = ("realtime",)

    def __init__(
        self,
        backend: Backend | None = None,
        config: ServerConfig | None = None,
        *,
        voice: str = "marin",
        send_timeout: float = 30.0,
        open_timeout: float = 30.0,
    ) -> None:
        super().__init__(_no_pipeline, config or ServerConfig(max_message_bytes=1 << 20))
        self.backend: Backend = backend or ProviderBackend("local")
        self.voice = voice
        self.send_timeout = send_timeout
        self.open_timeout = open_timeout

    async def __aenter__(self) -> OpenAIRealtimeServer:
        await self.start()
        return self

    @property
    def base_url(self) -> str:
        """``ws://host:port/v1``: the SDK's ``websocket_base_url``."""
        return self.url.rstrip("/") + "/v1"

    def _process_request(self, connection: Responder, request: Request) -> Response | None:
        if urlsplit(request.path).path.rstrip("/") != PATH:
            return connection.respond(HTTPStatus.NOT_FOUND, f"the realtime endpoint is {PATH}\n")
        return self._authorize(connection, request)

    def _offered_token(self, request: Request) -> str | None:
        token = super()._offered_token(request)
        if token is not None:
            return token
        for header in request.headers.get_all("Sec-WebSocket-Protocol"):
            for proto in header.split(","):
                proto = proto.strip()
                if proto.startswith(INSECURE_KEY_PREFIX):
                    return proto[len(INSECURE_KEY_PREFIX) :]
        return None

    async def _run_session(self, ws: ServerSocket, session_id: str) -> None:
        request = ws.request
        query = parse_qs(urlsplit(request.path).query) if request is not None else {}
        model = (query.get("model") or ["gpt-realtime"])[0]
        core = RealtimeServerCore(
            model=model, voice=self.voice, context=new_conversation_context(session_id)
        )
        await _Connection(self, ws, core, session_id).run()


def _no_pipeline(transport: Any) -> Any:  # pragma: no cover - never called
    raise RuntimeError("the OpenAI-compatible server runs no pipeline factory")


class _Connection:
    """One client connection: the two reader tasks, the lock and the backend session."""

    def __init__(
        self, server: OpenAIRealtimeServer, ws: ServerSocket, core: RealtimeServerCore, sid: str
    ) -> None:
        self.server = server
        self.cfg: ServerConfig = server.config
        self.ws = ws
        self.core = core
        self.sid = sid
        self.lock = anyio.Lock()
        self.session: StreamingSession | None = None
        self.session_scope: anyio.CancelScope | None = None
        self.tg: anyio.abc.TaskGroup | None = None

    async def run(self) -> None:
        try:
            async with anyio.create_task_group() as tg:
                self.tg = tg
                await self.step(self.core.start)
                await self.read_client()
                tg.cancel_scope.cancel()
        except* ConnectionClosed:
            pass  # the client went away: nothing left to tell it
        except* TimeoutError:
            # Only a send waits with a deadline here: the client stopped reading.
            log.warning(
                "session %s: client not reading for %gs; closing",
                self.sid,
                self.server.send_timeout,
            )
            self.ws.transport.abort()
        finally:
            with anyio.CancelScope(shield=True):
                await self.close_backend()
        with contextlib.suppress(ConnectionClosed):
            await self.ws.close(1000, "session ended")

    # -- the core, one step at a time ---------------------------------------------------------

    async def step(self, fn: Callable[..., None], *args: Any) -> None:
        """Run one core step, send its events in order, then carry out its actions."""
        async with self.lock:
            fn(*args)
            events, actions = self.core.take()
            for event in events:
                with anyio.fail_after(self.server.send_timeout):
                    await self.ws.send(json.dumps(event))
        for action in actions:
            await self.perform(action)

    async def perform(self, action: Action) -> None:
        if isinstance(action, OpenBackend):
            await self.open_backend()
            return
        if isinstance(action, CloseConnection):
            await self.ws.close(action.code, action.reason)
            return
        session = self.session
        if session is None or session.closed:
            return  # the core already told the client the backend is gone
        try:
            if isinstance(action, SendAudio):
                await session.send_audio(action.pcm)
            elif isinstance(action, SendText):
                await session.send_text(action.text)
            elif isinstance(action, SendToolResult):
                await session.send_tool_result(action.call_id, action.output)
            elif isinstance(action, EndTurn):
                await session.end_turn()
            elif isinstance(action, Interrupt):
                await session.interrupt(action.played_ms)
            elif isinstance(action, Speak):
                await session.speak(action.text)
        except S2SError as exc:
            await self.step(self._refused, exc)

    def _refused(self, exc: S2SError) -> None:
        self.core.error(redact(str(exc)), exc.code.value, kind="server_error")
        if self.core.response is not None:
            self.core.finish_response(
                "failed", error={"type": "server_error", "code": exc.code.value}
            )

    # -- client side ----------------------------------------------------------------------------

    async def read_client(self) -> None:
        idle = self.cfg.idle_timeout
        while True:
            frame: str | bytes | None = None
            with anyio.move_on_after(idle if idle is not None else float("inf")):
                try:
                    frame = await self.ws.recv()
                except ConnectionClosed:
                    return
            if frame is None:
                await self.ws.close(CLOSE_IDLE, "idle timeout")
                return
            await self.step(self.core.receive, frame)
            if self.core.protocol_errors > self.cfg.max_protocol_errors:
                await self.ws.close(CLOSE_POLICY, "too many invalid events")
                return

    # -- backend side ---------------------------------------------------------------------------

    async def open_backend(self) -> None:
        await self.close_backend()
        try:
            with anyio.fail_after(self.server.open_timeout):
                opened = await self.server.backend.open(
                    self.core.backend_settings(), self.core.context
                )
        except S2SError as exc:
            await self.step(self.core.backend_failed, redact(str(exc)), exc.code.value)
            return
        except TimeoutError:
            await self.step(self.core.backend_failed, "timed out", "timeout")
            return
        self.session = opened.session
        scope = self.session_scope = anyio.CancelScope()
        assert self.tg is not None
        self.tg.start_soon(self.read_backend, opened.session, scope)
        await self.step(self._opened, opened.input_rate, opened.tools)

    def _opened(self, rate: int, tools: bool) -> None:
        self.core.backend_opened(rate, tools=tools)

    async def read_backend(self, session: StreamingSession, scope: anyio.CancelScope) -> None:
        with scope:
            async for event in session:
                await self.step(self.core.on_backend, event)
                if isinstance(event, SessionClosed):
                    return

    async def close_backend(self) -> None:
        session, self.session = self.session, None
        if self.session_scope is not None:
            self.session_scope.cancel()
            self.session_scope = None
        if session is not None:
            with anyio.move_on_after(self.cfg.stop_timeout):
                await session.close()
