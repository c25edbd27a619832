"""API keys of the cloud voices: from the argument or the environment, registered for
redaction at once, and a clear ``authentication_error`` when there is none."""

from __future__ import annotations

import os

from pydantic import SecretStr

from ..errors import ErrorCode, S2SError
from ..secrets import register_secret

__all__ = ["resolve_key"]


def resolve_key(service: str, api_key: str | SecretStr | None, env: str) -> SecretStr:
    value = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
    value = value or os.environ.get(env, "")
    if not value:
        raise S2SError(
            service, ErrorCode.AUTHENTICATION_ERROR, f"{service}: no API key (set {env})"
        )
    register_secret(value)
    return SecretStr(value)
