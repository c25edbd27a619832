"""``beluga-voice`` and ``python -m beluga_voice``: the command line, answering SIGTERM from
its first moment.

Importing the command line takes about a third of a second (typer, rich, the commands).
A SIGTERM in that window used to get Python's default action: the process died with
status 143 and no word, which process managers log as a crash.  This entry point answers
it before importing anything heavy, as the commands do once they run (see
:func:`beluga_voice.cli.common.stops_on_sigterm`): "stopped (SIGTERM)" and status 0.
"""

from __future__ import annotations

import signal

__all__ = ["main"]


def _stopped(signum: int, frame: object) -> None:
    print("stopped (SIGTERM)", flush=True)
    raise SystemExit(0)


def main() -> None:
    """Run the ``beluga-voice`` command line."""
    # Left in place afterwards: each command installs its own handler while it runs and
    # gives this one back when it returns.
    signal.signal(signal.SIGTERM, _stopped)
    from .cli import app

    app(prog_name="beluga-voice")


if __name__ == "__main__":
    main()
