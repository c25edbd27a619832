"""The browser client served by the servers at ``/`` and ``/client``.

The page (``static/``, shipped as package data) talks to a server over WebRTC (the
default where the server offers it: Opus, the browser's echo cancellation, jitter
buffers) or over the WebSocket protocol (PCM16, resampled in an AudioWorklet with a
windowed-sinc filter).  It shows the microphone level, who is speaking, interim and final
transcripts and the measured reply latency of each turn, and reconnects when a
connection drops.  It holds no secret: it asks the user for the token.

:func:`client_asset` maps a request path to the file to answer with; the server tells the
page which transports it offers by filling them into ``index.html``.
"""

from __future__ import annotations

import functools
import html
from collections.abc import Sequence
from importlib.resources import files
from typing import Final

__all__ = ["ASSETS", "client_asset"]

ASSETS: Final = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/client": ("index.html", "text/html; charset=utf-8"),
    "/favicon.ico": ("favicon.svg", "image/svg+xml"),
    "/static/favicon.svg": ("favicon.svg", "image/svg+xml"),
    "/static/client.js": ("client.js", "text/javascript; charset=utf-8"),
    "/static/worklets.js": ("worklets.js", "text/javascript; charset=utf-8"),
    "/static/style.css": ("style.css", "text/css; charset=utf-8"),
}
"""Request path -> (file in ``static/``, content type)."""


@functools.cache
def _read(name: str) -> bytes:
    return (files(__package__) / "static" / name).read_bytes()


@functools.cache
def _page(transports: tuple[str, ...]) -> bytes:
    value = html.escape(" ".join(transports), quote=True)
    return _read("index.html").replace(b"{{TRANSPORTS}}", value.encode())


def client_asset(path: str, transports: Sequence[str]) -> tuple[str, bytes] | None:
    """``(content type, body)`` for ``path``, or None when it is not part of the page.

    ``transports`` are those the server offers, preferred first (``webrtc``,
    ``websocket``); the page picks the first unless the user chooses another.
    """
    entry = ASSETS.get(path)
    if entry is None:
        return None
    name, content_type = entry
    body = _page(tuple(transports)) if name == "index.html" else _read(name)
    return content_type, body
