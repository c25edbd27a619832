"""``python -m beluga_voice.cli``: the same command line as the ``beluga-voice`` script."""

from . import app

app()
