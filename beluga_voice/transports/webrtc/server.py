"""A server whose sessions are WebRTC calls (and, optionally, WebSocket sessions too).

Signalling rides on the server's WebSocket, at the path ``/webrtc``, rather than on an
HTTP ``POST /offer``: the WebSocket engines parse GET requests only, and a WebSocket
already gives the offer the same port, token check (``?access_token=``), ``Origin`` check,
TLS, session limit and drain as every other session, with no second HTTP stack in front.
The socket also stays open for the call as its lifeline, so a hang-up is noticed at once
instead of after ICE consent expires (30 s).  The exchange (JSON text messages)::

    server -> {"type": "webrtc.config", "ice_servers": [{"urls": [...], ...}]}
    client -> {"type": "webrtc.offer", "sdp": "..."}     (ICE gathering complete)
    server -> {"type": "webrtc.answer", "sdp": "..."}

The client opens a data channel before its offer; once it is open and the connection is
up, the session starts: ``session.started`` and every later event travel over the data
channel in the WebSocket protocol's JSON.  Each step has a deadline
(:attr:`WebRTCConfig.connect_timeout` for the whole negotiation); a failed negotiation is
answered with an ``error`` event on the socket and a close, and the peer connection is
closed on every exit path.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

import anyio
from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamTrack
from pydantic import SecretStr
from websockets.exceptions import ConnectionClosed

from ...secrets import redact, register_secret
from ..websocket.engines import ServerSocket
from ..websocket.protocol import CLOSE_POLICY
from ..websocket.server import (
    PipelineFactory,
    ServerConfig,
    SessionRefused,
    WebSocketServer,
)
from ..websocket.transport import WebSocketTransport
from .tracks import OPUS_RATE, BotAudioTrack
from .transport import WebRTCTransport

__all__ = ["SIGNALLING_PATH", "IceServer", "WebRTCConfig", "WebRTCServer"]

log = logging.getLogger("beluga_voice.transports.webrtc")

SIGNALLING_PATH: Final = "/webrtc"
CLOSE_FAILED: Final = 1011
MAX_SDP_CHARS: Final = 64_000


@dataclass(slots=True)
class IceServer:
    """One STUN or TURN server, given to the browser and used by the server's own agent.

    ``credential`` (TURN) is a secret: it is redacted from logs, and reaches only clients
    that passed the token check (it is sent on the signalling socket, not in the page).
    """

    urls: str | Sequence[str]
    username: str | None = None
    credential: SecretStr | str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.credential, str):
            self.credential = SecretStr(self.credential)
        if self.credential is not None:
            register_secret(self.credential.get_secret_value())
        urls = [self.urls] if isinstance(self.urls, str) else list(self.urls)
        for url in urls:
            if url.split(":", 1)[0] not in ("stun", "stuns", "turn", "turns"):
                raise ValueError(f"not a STUN or TURN URL: {url!r}")
        self.urls = urls

    def _secret(self) -> str | None:
        return (
            self.credential.get_secret_value() if isinstance(self.credential, SecretStr) else None
        )

    def to_json(self) -> dict[str, Any]:
        """The browser's ``RTCIceServer`` dictionary."""
        out: dict[str, Any] = {"urls": list(self.urls)}
        if self.username is not None:
            out["username"] = self.username
        if self.credential is not None:
            out["credential"] = self._secret()
        return out

    def to_aiortc(self) -> RTCIceServer:
        return RTCIceServer(urls=list(self.urls), username=self.username, credential=self._secret())


@dataclass(slots=True)
class WebRTCConfig:
    """WebRTC settings of a :class:`WebRTCServer` (the rest is its :class:`ServerConfig`)."""

    ice_servers: Sequence[IceServer] = ()
    """STUN/TURN servers; none (the default) means host candidates only: fine on a LAN or
    loopback, not across NATs.  Never a public default: no traffic the operator did not
    ask for."""
    connect_timeout: float = 15.0
    """Seconds from the socket's opening to a connected call (offer, ICE, DTLS, data
    channel); past it the attempt is refused (``webrtc_timeout``)."""
    websocket: bool = True
    """Also host plain WebSocket sessions (any other path) on the same port."""
    max_queue_s: float = 1.0
    """Bot audio held in the outgoing track at most (the output half keeps ``lead_ms``)."""


class WebRTCServer(WebSocketServer):
    """A :class:`WebSocketServer` whose ``/webrtc`` connections negotiate a WebRTC call.

    The pipeline factory receives a :class:`~.transport.WebRTCTransport` (a
    :class:`WebSocketTransport`, so one factory serves both kinds of session).  Token,
    origins, ``max_sessions`` and drain are the server's, shared by both kinds.
    """

    def __init__(
        self,
        factory: PipelineFactory,
        config: ServerConfig | None = None,
        webrtc: WebRTCConfig | None = None,
        **options: Any,
    ) -> None:
        super().__init__(factory, config, **options)
        self.webrtc = webrtc or WebRTCConfig()
        self.client_transports = ("webrtc", "websocket") if self.webrtc.websocket else ("webrtc",)

    @contextlib.asynccontextmanager
    async def open_transport(
        self, ws: ServerSocket, session_id: str
    ) -> AsyncIterator[WebSocketTransport]:
        path = urlsplit(ws.request.path).path if ws.request is not None else "/"
        if path != SIGNALLING_PATH:
            if not self.webrtc.websocket:
                raise SessionRefused(CLOSE_POLICY, f"WebRTC only: connect to {SIGNALLING_PATH}")
            async with super().open_transport(ws, session_id) as transport:
                yield transport
            return
        pc = RTCPeerConnection(
            RTCConfiguration(iceServers=[s.to_aiortc() for s in self.webrtc.ice_servers])
        )
        track = BotAudioTrack(OPUS_RATE, max_queue_s=self.webrtc.max_queue_s)
        try:
            channel, audio_in = await self._negotiate(ws, pc, track, session_id)
            transport = WebRTCTransport(
                ws, channel, audio_in, track, session_id=session_id, **self.transport_options()
            )

            @pc.on("connectionstatechange")
            def _on_state() -> None:
                if pc.connectionState in ("failed", "closed"):
                    transport._close_with("disconnected")

            yield transport
        finally:
            track.stop()
            with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                await pc.close()

    async def _negotiate(
        self, ws: ServerSocket, pc: RTCPeerConnection, track: BotAudioTrack, session_id: str
    ) -> tuple[RTCDataChannel, MediaStreamTrack]:
        """Offer in, answer out, until the call is up; :class:`SessionRefused` otherwise."""
        ready = anyio.Event()
        got: dict[str, Any] = {}

        def check() -> None:
            state = pc.connectionState
            if state in ("failed", "closed") or ("channel" in got and state == "connected"):
                ready.set()

        @pc.on("datachannel")
        def _on_channel(channel: RTCDataChannel) -> None:
            got.setdefault("channel", channel)
            check()

        @pc.on("track")
        def _on_track(remote: MediaStreamTrack) -> None:
            if remote.kind == "audio":
                got.setdefault("audio", remote)
            check()

        pc.on("connectionstatechange", check)
        timeout = self.webrtc.connect_timeout
        try:
            with anyio.fail_after(timeout):
                await ws.send(
                    json.dumps(
                        {
                            "type": "webrtc.config",
                            "ice_servers": [s.to_json() for s in self.webrtc.ice_servers],
                        }
                    )
                )
                offer = _parse_offer(await ws.recv())
                try:
                    await pc.setRemoteDescription(offer)
                except Exception as exc:  # aiortc's SDP parser raises ValueError, Assertion...
                    why = redact(str(exc))[:200] or type(exc).__name__
                    raise _Refused("invalid_offer", f"cannot use the offer: {why}") from None
                if not got.get("audio"):
                    raise _Refused("invalid_offer", "the offer has no audio track")
                pc.addTrack(track)
                await pc.setLocalDescription(await pc.createAnswer())
                answer = pc.localDescription
                await ws.send(json.dumps({"type": "webrtc.answer", "sdp": answer.sdp}))
                await ready.wait()
        except TimeoutError:
            await _refuse(ws, "webrtc_timeout", f"the call was not connected in {timeout:g} s")
            raise SessionRefused(CLOSE_FAILED, "WebRTC connect timeout") from None
        except _Refused as exc:
            await _refuse(ws, exc.code, exc.message)
            raise SessionRefused(CLOSE_POLICY, exc.message) from None
        except ConnectionClosed:
            raise SessionRefused(1000, "hung up while connecting") from None
        channel = got.get("channel")
        if pc.connectionState != "connected" or channel is None:
            await _refuse(ws, "webrtc_failed", "the call could not be connected (ICE/DTLS)")
            raise SessionRefused(CLOSE_FAILED, "WebRTC connection failed")
        if channel.readyState != "open":
            opened = anyio.Event()
            channel.on("open", opened.set)
            with anyio.move_on_after(timeout):
                await opened.wait()
            if channel.readyState != "open":
                await _refuse(ws, "webrtc_failed", "the data channel did not open")
                raise SessionRefused(CLOSE_FAILED, "data channel did not open")
        log.info("session %s: WebRTC connected", session_id)
        return channel, got["audio"]


class _Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _parse_offer(message: str | bytes) -> RTCSessionDescription:
    if not isinstance(message, str):
        raise _Refused("invalid_offer", "the offer must be a JSON text message")
    try:
        event = json.loads(message)
    except ValueError:
        raise _Refused("invalid_offer", "the offer is not JSON") from None
    if not isinstance(event, dict) or event.get("type") != "webrtc.offer":
        raise _Refused("invalid_offer", "expected a 'webrtc.offer' event")
    sdp = event.get("sdp")
    if not isinstance(sdp, str) or not sdp or len(sdp) > MAX_SDP_CHARS:
        raise _Refused("invalid_offer", f"'sdp' must be a string of 1 to {MAX_SDP_CHARS} chars")
    return RTCSessionDescription(sdp=sdp, type="offer")


async def _refuse(ws: ServerSocket, code: str, message: str) -> None:
    with contextlib.suppress(ConnectionClosed):
        await ws.send(
            json.dumps({"type": "error", "code": code, "message": message, "fatal": True})
        )
