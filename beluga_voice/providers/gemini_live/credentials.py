"""Where a connection's credential comes from: an API key, or a Vertex AI access token
that google-auth keeps fresh.

Vertex AI takes an OAuth access token, which lives about an hour.  A session outlives
that (every goAway is a new handshake with a new token), so the token comes from
google-auth credentials (a service account file, application default credentials, or a
``Credentials`` object the application hands over) and is refreshed before each
connection that would otherwise start within :data:`REFRESH_MARGIN_S` of its expiry.
Refreshing is blocking HTTP, so it runs in a worker thread, one refresh at a time, under
the connection's deadline.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any, Protocol

import anyio
import anyio.to_thread

from ...secrets import redact
from ..errors import ErrorCode, S2SError

if TYPE_CHECKING:
    from .settings import GeminiSettings

__all__ = ["REFRESH_MARGIN_S", "SCOPES", "GoogleCredentials", "TokenSource"]

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
REFRESH_MARGIN_S = 300.0
"""Refresh a token this long before it expires (google-auth's own margin is similar)."""


class GoogleCredentials(Protocol):
    """What is used of ``google.auth.credentials.Credentials``."""

    token: str | None
    expiry: datetime.datetime | None

    def refresh(self, request: Any) -> None: ...


class TokenSource:
    """The secret for the next handshake (see the module docstring).

    ``static`` is an API key or a fixed token (``config.api_key``), sent as is.
    Otherwise ``credentials`` are used, or, when ``None``, loaded on first use from
    ``settings.credentials_file`` or the application default credentials.
    """

    def __init__(
        self,
        settings: GeminiSettings,
        *,
        static: str | None = None,
        credentials: GoogleCredentials | None = None,
    ) -> None:
        self.settings = settings
        self.static = static
        self.credentials = credentials
        self.refreshes = 0
        self._lock: anyio.Lock | None = None  # made in the event loop that uses it

    async def token(self, timeout: float) -> str:
        """A credential valid for at least :data:`REFRESH_MARGIN_S` more seconds."""
        if self.static is not None:
            return self.static
        if self._lock is None:
            self._lock = anyio.Lock()
        try:
            return await self._fresh(timeout, self._lock)
        except TimeoutError:
            raise S2SError(
                "connect", ErrorCode.TIMEOUT, f"gemini: no access token within {timeout:g} s"
            ) from None

    async def _fresh(self, timeout: float, lock: anyio.Lock) -> str:
        async with lock:
            with anyio.fail_after(timeout):
                try:
                    if self.credentials is None:
                        self.credentials = await anyio.to_thread.run_sync(
                            _load, self.settings, abandon_on_cancel=True
                        )
                    creds = self.credentials
                    if _stale(creds):
                        await anyio.to_thread.run_sync(_refresh, creds, abandon_on_cancel=True)
                        self.refreshes += 1
                except (S2SError, TimeoutError):
                    raise
                except Exception as exc:
                    raise _google_auth_error(exc) from None
            if not creds.token:
                raise S2SError(
                    "connect", ErrorCode.AUTHENTICATION_ERROR, "gemini: credentials gave no token"
                )
            return creds.token


def _stale(creds: GoogleCredentials) -> bool:
    if not creds.token:
        return True
    if creds.expiry is None:
        return False  # a token without an expiry (as google-auth marks some)
    # google-auth keeps expiry as a naive UTC datetime.
    expiry = creds.expiry.replace(tzinfo=creds.expiry.tzinfo or datetime.UTC)
    left = (expiry - datetime.datetime.now(datetime.UTC)).total_seconds()
    return left < REFRESH_MARGIN_S


def _load(settings: GeminiSettings) -> GoogleCredentials:
    """Service account file, else application default credentials (blocking I/O)."""
    if settings.credentials_file:
        from google.oauth2 import service_account

        creds: GoogleCredentials = service_account.Credentials.from_service_account_file(
            settings.credentials_file, scopes=SCOPES
        )
        return creds
    import google.auth

    found, _project = google.auth.default(scopes=SCOPES)
    return found


def _refresh(creds: GoogleCredentials) -> None:
    from google.auth.transport.requests import Request

    creds.refresh(Request())


def _google_auth_error(exc: Exception) -> S2SError:
    """google-auth's failures as S2SErrors: no credentials found, a refused refresh, or
    no route to the token endpoint."""
    from google.auth import exceptions

    text = redact(str(exc))[:300]
    if isinstance(exc, exceptions.DefaultCredentialsError):
        return S2SError(
            "connect",
            ErrorCode.INVALID_CONFIG,
            "gemini: no Vertex AI credentials: set credentials_file, GOOGLE_APPLICATION_"
            f"CREDENTIALS or run gcloud auth application-default login ({text})",
        )
    if isinstance(exc, exceptions.TransportError):
        return S2SError("connect", ErrorCode.NETWORK_ERROR, f"gemini: token refresh: {text}")
    if isinstance(exc, exceptions.RefreshError | exceptions.GoogleAuthError | OSError | ValueError):
        return S2SError(
            "connect",
            ErrorCode.AUTHENTICATION_ERROR,
            f"gemini: the Vertex AI credentials were refused: {text}",
        )
    return S2SError("connect", ErrorCode.AUTHENTICATION_ERROR, f"gemini: credentials: {text}")
