"""One owner per native engine: its calls never overlap, and closing waits for them.

Native engines (a pocketsphinx decoder, the espeak-ng library, a TEN VAD or WebRTC VAD
instance, a soxr stream) are not thread-safe.  Two threads inside one of them at once is
not a Python exception but memory corruption: a decoder freed by ``close`` in one worker
thread while ``feed`` still runs in another is a segfault that takes down every session
of the process.  The async code around them makes this easy to get wrong, because
``anyio.to_thread.run_sync`` runs each call in *some* worker thread and two tasks (a pull
loop feeding audio, a ``close()`` from another task) can each have a call in flight.

:class:`EngineOwner` is the one place that rule is kept.  Every call on an engine goes
through its owner, which

* runs one call at a time: :meth:`call` (from a thread) holds a lock for the call;
  :meth:`run` (from async code) queues fairly on an async lock first, so that waiting
  costs no worker thread and stays cancellable, then runs the call in a worker thread;
* closes once and safely: :meth:`aclose` / :meth:`close` refuse new calls at once, wait
  for the call in flight (a native call cannot be interrupted; a cancelled caller keeps
  waiting for its thread, which is anyio's default), then run the engine's ``close``;
* refuses use after close with :class:`EngineClosedError`, a clear error instead of a
  crash.

The owner guards *everything* that shares one native handle: an
:class:`~beluga_voice.stt.utterance.UtteranceRecognizer` and the STT stream inside it are
both called through the same owner.  Engines only ever called from the event loop's own
thread (a VAD analyser in ``VADProcessor``, a resampler in ``ResampleProcessor``) are
already owned by one thread and need no owner, as long as each call is short.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

import anyio

__all__ = ["EngineClosedError", "EngineOwner", "release_native_memory"]

P = ParamSpec("P")
R = TypeVar("R")


class EngineClosedError(RuntimeError):
    """The engine was closed; it takes no further calls."""


class EngineOwner:
    """Serialises every call on one native engine; see the module docstring.

    ``name`` appears in errors; ``close`` releases the engine (it runs once, in a worker
    thread for :meth:`aclose`, after the call in flight).  The async lock belongs to the
    event loop that first uses it: an owner serves one event loop (a session, a
    pipeline); an engine shared by several loops uses :meth:`call` / :meth:`hold` only.
    """

    def __init__(self, name: str, close: Callable[[], object] | None = None) -> None:
        self.name = name
        self._closer = close
        self._lock = threading.Lock()
        self._queue = anyio.Lock()
        self._closing = False
        self._closed = False

    @property
    def closed(self) -> bool:
        """True once closing began: no new call will start."""
        return self._closing

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Own the engine for a block of synchronous code (blocks while another has it)."""
        with self._lock:
            if self._closing:
                raise EngineClosedError(f"{self.name} is closed")
            yield

    def call(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run ``fn`` as the engine's only user (blocking; call it from a worker thread)."""
        with self.hold():
            return fn(*args, **kwargs)

    async def run(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run ``fn`` in a worker thread as the engine's only user.

        Callers queue in order; a caller cancelled while queued leaves at once, one
        cancelled while its call runs waits for the call to return (a native call cannot
        be stopped half-way)."""
        if self._closing:
            raise EngineClosedError(f"{self.name} is closed")
        async with self._queue:
            return await anyio.to_thread.run_sync(lambda: self.call(fn, *args, **kwargs))

    def close(self) -> None:
        """Refuse new calls, wait for the one in flight, release the engine.  Idempotent;
        a second caller returns once the first has finished closing."""
        self._closing = True
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._closer is not None:
                self._closer()

    async def aclose(self) -> None:
        """:meth:`close` from async code, in a worker thread and shielded from
        cancellation (an engine half-closed would leak)."""
        self._closing = True  # queued callers see it as soon as they get their turn
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self.close)

    def __repr__(self) -> str:
        state = "closed" if self._closing else "open"
        return f"<EngineOwner {self.name!r} {state}>"


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    trim = getattr(ctypes.CDLL(name), "malloc_trim", None)  # glibc only
    return trim


def release_native_memory() -> None:
    """Give memory a native engine freed back to the system (glibc's ``malloc_trim``).

    Why: an engine allocated in worker threads (a recogniser's model, per session) is
    freed into glibc's per-thread arenas, which keep it.  A server that opened and closed
    100 sessions held 200 MB more than before, with no object left alive.  Call it from a
    worker thread after closing an engine; elsewhere than glibc it does nothing.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
