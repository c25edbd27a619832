"""Secret redaction: scrub anything that looks like a credential out of text.

Every message, log line, repr and error that could carry a key goes through :func:`redact`
first; a configured key is remembered with :func:`register_secret` and removed verbatim.
Transports, providers, agents and observability all use it, so it lives on the ground floor.
"""

from __future__ import annotations

import re

__all__ = ["redact", "register_secret"]

# Things that look like credentials: provider API keys, AWS access keys, bearer tokens,
# and explicit key=value pairs.  ``name: value`` (prose as much as a header) hides only a
# value that looks like a credential (8+ characters with a digit): "api_key: openai_realtime
# needs a key" names a provider, and registered secrets are removed verbatim anyway.
_SECRET_PATTERNS = [
    re.compile(r"\b(?:sk|xai|pk|rk)-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"\bAIza[0-9A-Za-z_\-]{20,}"),
    re.compile(r"\bya29\.[0-9A-Za-z_\-.]{8,}"),  # Google OAuth access tokens
    re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{12,}"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-]{8,}"),
    re.compile(
        r"(?i)((?:api[_-]?key|secret|token|password|authorization|signature)\s*=\s*)[^\s&,;]+"
    ),
    re.compile(
        r"(?i)((?:api[_-]?key|secret|token|password|authorization|signature)\s*:\s*)"
        r"(?=[^\s&,;]*\d)[^\s&,;]{8,}"
    ),
]
_extra_secrets: set[str] = set()
_short_secrets: dict[str, re.Pattern[str]] = {}


def register_secret(value: str | None) -> None:
    """Remember a secret so that :func:`redact` removes it wherever it appears.

    Any length is remembered: a configured token is a secret however short.  One of fewer
    than eight characters is removed only where it stands alone (not inside a longer word
    or number), so that scrubbing it cannot mangle ordinary text.
    """
    if not value or not value.strip():
        return
    if len(value) >= 8:
        _extra_secrets.add(value)
    elif value not in _short_secrets:
        _short_secrets[value] = re.compile(rf"(?<![\w]){re.escape(value)}(?![\w])")


def redact(text: str) -> str:
    """Return ``text`` with anything that looks like a credential replaced by ``***``."""
    for secret in _extra_secrets:
        if secret in text:
            text = text.replace(secret, "***")
    for secret, alone in _short_secrets.items():
        if secret in text:
            text = alone.sub("***", text)
    for pattern in _SECRET_PATTERNS:
        if pattern.groups:
            text = pattern.sub(lambda m: (m.group(1) if m.lastindex else "") + "***", text)
        else:
            text = pattern.sub("***", text)
    return text
