"""A fake Amazon Bedrock runtime for the ``amazon_nova`` provider (HTTP/2, SigV4, events)."""

from .script import Injection, OpenFailure, Script, StreamRecord
from .server import FakeBedrock
from .wire import FakeCredentials

__all__ = ["FakeBedrock", "FakeCredentials", "Injection", "OpenFailure", "Script", "StreamRecord"]
