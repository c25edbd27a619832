"""The frame pipeline engine: processors over anyio memory streams, composition, runner."""

from .compose import Branch, Parallel, Pipeline
from .inbox import Inbox
from .observer import FrameObserver, QueueObserver
from .processor import FrameProcessor, Node
from .task import PipelineTask

__all__ = [
    "Branch",
    "FrameObserver",
    "FrameProcessor",
    "Inbox",
    "Node",
    "Parallel",
    "Pipeline",
    "PipelineTask",
    "QueueObserver",
]
