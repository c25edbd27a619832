"""Amazon Nova Sonic / Nova 2 Sonic on Bedrock (``InvokeModelWithBidirectionalStream``).

Modules, from the wire up: :mod:`.eventstream` (binary framing), :mod:`.signing` (SigV4 of
the request and of every event), :mod:`.transport` (HTTP/2 on ``h2``), :mod:`.protocol` (the
sans-I/O event core), :mod:`.session` (the I/O shell with stream continuation) and
:mod:`.provider` (the registered provider).
"""

from .provider import AmazonNovaSonicProvider
from .session import NovaSession
from .settings import NovaSettings, NovaTool
from .signing import CredentialProvider

__all__ = [
    "AmazonNovaSonicProvider",
    "CredentialProvider",
    "NovaSession",
    "NovaSettings",
    "NovaTool",
]
