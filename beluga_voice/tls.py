"""TLS contexts: the only place beluga builds one, so that every one of them is strict.

Each context requires TLS 1.2 or newer and verifies the peer: a client context checks
the server's certificate chain and host name (against the system's trust store, plus
``cafile`` for a private CA).  Python's defaults are close to this already; writing it
down here means a change of default, or a context built by hand elsewhere, cannot quietly
weaken a connection.  ``tests/test_tls.py`` checks every builder and that no other module
creates a context.
"""

from __future__ import annotations

import ssl

__all__ = ["MINIMUM_VERSION", "client_context", "server_context"]

MINIMUM_VERSION = ssl.TLSVersion.TLSv1_2


def client_context(cafile: str | None = None) -> ssl.SSLContext:
    """A client context that verifies the server (``cafile``: extra trusted CAs, PEM)."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
    ctx.minimum_version = MINIMUM_VERSION
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def server_context() -> ssl.SSLContext:
    """A server context (load a certificate into it) that speaks TLS 1.2 or newer."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = MINIMUM_VERSION
    return ctx
