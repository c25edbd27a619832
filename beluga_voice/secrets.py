"""Secret redaction: scrub anything that looks like a credential out of text.

Every message, log line, repr and error that could carry a key goes through :func:`redact`
first; a configured key is remembered with :func:`register_secret` and removed verbatim.
Transports, providers, agents and observability all use it, so it lives on the ground floor.
"""

from __future__ import annotations

import re

__all__ = ["is_secret_name", "redact", "register_secret"]

# Things that look like credentials: provider API keys, AWS access keys, bearer tokens,
# and explicit key=value pairs.  Redaction hides secrets, not words: ``name: value`` (prose
# as much as a header) hides only a value that looks like a credential (8+ characters with
# a digit or one of ``+/=``), so "api_key: openai_realtime needs a key" keeps the provider's
# name; ``name=value`` hides any value but a placeholder (``None``, ``null``).  Registered
# secrets are removed verbatim wherever they are.
_NAME = r"(?:api[_-]?key|(?<![A-Za-z])key|secret|token|password|authorization|signature)"
_VALUE = r"[^\s&,;()\[\]{}\"']"
_CREDENTIAL = rf"(?={_VALUE}*[\d+/=]){_VALUE}{{8,}}"
_SECRET_PATTERNS = [
    re.compile(r"\b(?:sk|xai|pk|rk)-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"\bAIza[0-9A-Za-z_\-]{20,}"),
    re.compile(r"\bya29\.[0-9A-Za-z_\-.]{8,}"),  # Google OAuth access tokens
    re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{12,}"),
    # An HTTP scheme is written "Bearer": anything after it is a token.  Lower-case "bearer"
    # is as likely prose ("the bearer authentication failed"): a credential-looking value only.
    re.compile(rf"(\b(?:Bearer|BEARER)\s+){_VALUE}{{8,}}"),
    re.compile(rf"(\bbearer\s+){_CREDENTIAL}"),
    re.compile(rf"({_NAME}\s*=\s*)(?!(?:None|null|\*\*\*)(?!{_VALUE})){_VALUE}+", re.IGNORECASE),
    re.compile(rf"({_NAME}\s*:\s*){_CREDENTIAL}", re.IGNORECASE),
]
_extra_secrets: list[str] = []
"""Registered secrets of 8+ characters, longest first: one that contains another is
removed whole, not left with the other's ``***`` in its middle."""
_short_secrets: dict[str, re.Pattern[str]] = {}
_SECRET_NAME_PARTS = frozenset({"key", "apikey", "secret", "token", "password", "passphrase"})


def is_secret_name(name: str) -> bool:
    """Whether a setting called ``name`` holds a credential (``aws_secret_access_key``,
    ``session_token``, ``api-key``), judged by its words: ``max_tokens`` is not one."""
    return any(part in _SECRET_NAME_PARTS for part in re.split(r"[_\-.\s]+", name.lower()))


def register_secret(value: str | None) -> None:
    """Remember a secret so that :func:`redact` removes it wherever it appears.

    Any length is remembered: a configured token is a secret however short.  One of fewer
    than eight characters is removed only where it stands alone (not inside a longer word
    or number), so that scrubbing it cannot mangle ordinary text.
    """
    if not value or not value.strip():
        return
    if len(value) >= 8:
        if value not in _extra_secrets:
            _extra_secrets.append(value)
            _extra_secrets.sort(key=len, reverse=True)
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
