"""Provider errors: :class:`S2SError` and its codes, as provider code has always named them.

The types live on the ground floor, in :mod:`beluga_voice.errors`, so that rooms below
the providers (agents, STT, TTS, observability) can raise them too; this module is the
same objects under the providers' roof, not a copy.
"""

from __future__ import annotations

from .._moved import moved_names
from ..errors import (
    RETRYABLE_CODES,
    ErrorCode,
    S2SError,
    code_from_http_status,
    code_from_ws_close,
)

__all__ = [
    "RETRYABLE_CODES",
    "ErrorCode",
    "S2SError",
    "code_from_http_status",
    "code_from_ws_close",
]

# Moved to beluga_voice.secrets; the old names work for one release.
__getattr__ = moved_names(
    __name__,
    "beluga_voice.secrets",
    ["redact", "register_secret", "_SECRET_PATTERNS", "_extra_secrets", "_short_secrets"],
)
