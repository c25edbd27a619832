"""The ``beluga-voice`` command line: run a conversation from a WAV file, serve, list.

    beluga-voice run                      # the bundled example, offline, to reply.wav
    beluga-voice run talk.wav -o out.wav --provider openai_realtime --config voice.toml
    beluga-voice serve --port 8765        # WebSocket server, one pipeline per connection
    beluga-voice serve --protocol twilio  # phone calls through a carrier's media stream
    beluga-voice console -p local         # talk through the microphone and speaker
    beluga-voice providers                # what is installed and what each one needs

Errors are printed as one clear line and a non-zero exit status, never a traceback (unless
``--debug``); secrets never reach the output (every error is redacted).

The package splits by meaning: :mod:`.common` (app, options, logging, failure),
:mod:`.conversation` (the ``run`` machinery) and :mod:`.commands` (the commands, which
register on the app when imported).  The ``beluga-voice`` script runs
:func:`beluga_voice.__main__.main`, which answers SIGTERM before importing this package.
"""

from __future__ import annotations

from . import commands as _commands  # noqa: F401  (registers the commands on ``app``)
from . import console as _console  # noqa: F401  (registers ``console``)
from . import scenario as _scenario  # noqa: F401  (registers ``test``)
from .common import app, console, err_console, example_path
from .conversation import Turn

__all__ = ["Turn", "app", "console", "err_console", "example_path", "main"]


def main() -> None:  # pragma: no cover - the console-script shim
    app()
