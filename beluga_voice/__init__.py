"""beluga-voice: real-time voice conversations with AI."""

__version__ = "0.1.0"
