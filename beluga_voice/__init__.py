"""beluga-voice: real-time voice conversations with AI.

The names most programs need are here; everything else lives in the subpackages
(``beluga_voice.frames``, ``.pipeline``, ``.processors``, ``.transports``, ``.providers``).
"""

from .pipeline import Branch, FrameProcessor, Parallel, Pipeline, PipelineTask
from .providers import S2SConfig, S2SError, default_config, list_providers, new_provider
from .session import SessionState, VoiceSession

__version__ = "0.1.0"

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
