"""beluga-voice: real-time voice conversations with AI.

The names most programs need are here; everything else lives in the subpackages
(``beluga_voice.frames``, ``.pipeline``, ``.processors``, ``.transports``, ``.providers``).
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .pipeline import Branch, FrameProcessor, Parallel, Pipeline, PipelineTask
    from .providers import S2SConfig, S2SError, default_config, list_providers, new_provider
    from .session import SessionState, VoiceSession

__version__ = "0.1.0"

# A library logs; the application decides where logs go.  Without a handler of its own,
# Python's last-resort handler printed every warning as a bare, unredacted line on stderr
# (a provider switch showed up in examples' output); now nothing is printed unless the
# application configures logging (logging.basicConfig, configure_logging, the CLI).
logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "Branch",
    "FrameProcessor",
    "Parallel",
    "Pipeline",
    "PipelineTask",
    "S2SConfig",
    "S2SError",
    "SessionState",
    "VoiceSession",
    "__version__",
    "default_config",
    "list_providers",
    "new_provider",
]

# Imported on first use (PEP 562), so that ``import beluga_voice.pipeline`` or
# ``beluga_voice.frames`` does not pay for the providers and their HTTP clients.
_WHERE = {
    "Branch": ".pipeline",
    "FrameProcessor": ".pipeline",
    "Parallel": ".pipeline",
    "Pipeline": ".pipeline",
    "PipelineTask": ".pipeline",
    "S2SConfig": ".providers",
    "S2SError": ".providers",
    "default_config": ".providers",
    "list_providers": ".providers",
    "new_provider": ".providers",
    "SessionState": ".session",
    "VoiceSession": ".session",
}


def __getattr__(name: str) -> Any:
    try:
        module = _WHERE[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
