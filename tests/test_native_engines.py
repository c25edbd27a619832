"""Native engines are owned by one thread at a time, and closing waits for the call in flight.

Issue 14.1: the local provider closed its pocketsphinx decoder in one worker thread while
a feed ran in another, a segfault that took the whole process down.  These tests hold
:class:`~beluga_voice.audio.engine_owner.EngineOwner` to its promises, then the users of
native engines to using it.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import anyio
import pytest

from beluga_voice.audio.engine_owner import EngineClosedError, EngineOwner
from beluga_voice.providers.events import SessionClosed
from beluga_voice.providers.local import LocalS2SProvider
from beluga_voice.stt.base import STTEngine, STTResult, STTStream
from beluga_voice.tts import EspeakTTS

pytestmark = [pytest.mark.anyio, pytest.mark.engine]

_SPEECH = EspeakTTS("en-us", sample_rate=16000).synthesize("what is two plus two")
_ROOT = Path(__file__).resolve().parents[1]


class Occupancy:
    """Counts the threads inside an engine; remembers the most there ever were."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.inside = 0
        self.most = 0
        self.calls = 0

    def enter(self) -> None:
        with self._lock:
            self.inside += 1
            self.calls += 1
            self.most = max(self.most, self.inside)

    def leave(self) -> None:
        with self._lock:
            self.inside -= 1

    def work(self, hold: threading.Event | None = None) -> int:
        self.enter()
        try:
            if hold is not None:
                assert hold.wait(5), "the test never released the call"
            return threading.get_ident()
        finally:
            self.leave()


# -- EngineOwner ---------------------------------------------------------------------------


async def test_calls_from_many_tasks_never_overlap() -> None:
    occ = Occupancy()
    owner = EngineOwner("test engine")
    async with anyio.create_task_group() as tg:
        for _ in range(40):
            tg.start_soon(owner.run, occ.work)
    assert occ.calls == 40
    assert occ.most == 1


async def test_sync_callers_in_many_threads_never_overlap() -> None:
    occ = Occupancy()
    owner = EngineOwner("test engine")

    def hammer() -> None:
        for _ in range(50):
            owner.call(occ.work)

    threads = [threading.Thread(target=hammer) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert occ.calls == 300
    assert occ.most == 1


async def test_close_waits_for_the_call_in_flight_and_refuses_the_queue() -> None:
    occ = Occupancy()
    release, entered = threading.Event(), threading.Event()
    seen_inside: list[int] = []
    owner = EngineOwner("test engine", close=lambda: seen_inside.append(occ.inside))
    refused: list[type[BaseException]] = []

    def first() -> int:
        entered.set()
        return occ.work(release)

    async def queued() -> None:
        try:
            await owner.run(occ.work)
        except EngineClosedError as exc:
            refused.append(type(exc))

    async with anyio.create_task_group() as tg:
        tg.start_soon(owner.run, first)
        assert await anyio.to_thread.run_sync(entered.wait, 5)
        tg.start_soon(queued)  # waits behind the call in flight
        tg.start_soon(owner.aclose)
        await anyio.wait_all_tasks_blocked()
        assert owner.closed  # new calls are refused from the moment close is asked
        assert seen_inside == []  # ... but the engine is not released under the call
        release.set()
    assert seen_inside == [0]  # released once, with nobody inside
    assert refused == [EngineClosedError]
    assert occ.calls == 1
    with pytest.raises(EngineClosedError, match="test engine is closed"):
        await owner.run(occ.work)
    with pytest.raises(EngineClosedError):
        owner.call(occ.work)


async def test_close_is_idempotent_and_concurrent_closes_release_once() -> None:
    closes: list[int] = []
    owner = EngineOwner("test engine", close=lambda: closes.append(1))
    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(owner.aclose)
    owner.close()
    await owner.aclose()
    assert closes == [1]
    assert "closed" in repr(owner)


async def test_a_cancelled_caller_waits_for_its_native_call_to_return() -> None:
    occ = Occupancy()
    release, entered = threading.Event(), threading.Event()
    owner = EngineOwner("test engine")

    def slow() -> int:
        entered.set()
        return occ.work(release)

    async with anyio.create_task_group() as tg:

        async def caller() -> None:
            await owner.run(slow)

        tg.start_soon(caller)
        assert await anyio.to_thread.run_sync(entered.wait, 5)
        tg.cancel_scope.cancel()
        release.set()
    assert occ.inside == 0  # the task group ended only after the call returned
    await owner.aclose()


# -- the local provider --------------------------------------------------------------------


class WatchedStream(STTStream):
    """An STT stream that records misuse instead of crashing as a native one would."""

    sample_rate = 16000

    def __init__(self) -> None:
        self.occ = Occupancy()
        self.entered = threading.Event()
        self.release = threading.Event()
        self.close_called = threading.Event()
        self.closed_inside: int | None = None
        self.used_after_close = False

    def feed(self, pcm: bytes) -> STTResult | None:
        self.used_after_close |= self.close_called.is_set()
        self.entered.set()
        self.occ.work(self.release)
        return None

    def finish(self) -> STTResult:
        self.used_after_close |= self.close_called.is_set()
        return STTResult("", final=True)

    def close(self) -> None:
        self.closed_inside = self.occ.inside
        self.close_called.set()


class WatchedEngine(STTEngine):
    name = "watched"

    def __init__(self) -> None:
        self.streams: list[WatchedStream] = []

    def open_stream(self) -> WatchedStream:
        self.streams.append(WatchedStream())
        return self.streams[-1]


async def test_local_session_closed_mid_feed_waits_for_the_feed() -> None:
    """Fails on the old code: close ran the stream's close in a second worker thread
    while the feed was still inside the decoder (with pocketsphinx, a segfault)."""
    engine = WatchedEngine()
    provider = LocalS2SProvider(stt=engine)
    session = await provider.start_streaming()
    stream = engine.streams[0]
    events: list[object] = []

    async def read() -> None:
        async for event in session:
            events.append(event)

    async with anyio.create_task_group() as tg:
        tg.start_soon(read)
        for i in range(0, len(_SPEECH), 640):
            await session.send_audio(_SPEECH[i : i + 640])
            if stream.entered.is_set():
                break
            await anyio.lowlevel.checkpoint()
        assert await anyio.to_thread.run_sync(stream.entered.wait, 5), "speech never reached STT"
        tg.start_soon(session.close)
        # the old code closed the stream at once, under the feed
        assert not await anyio.to_thread.run_sync(stream.close_called.wait, 0.3)
        stream.release.set()
    assert stream.closed_inside == 0
    assert stream.occ.most == 1
    assert not stream.used_after_close
    assert any(isinstance(e, SessionClosed) for e in events)  # the session ended cleanly


class BlockingSoundDevice:
    """A sounddevice whose microphone read blocks until released, watching its closes."""

    def __init__(self) -> None:
        self.occ = Occupancy()
        self.entered = threading.Event()
        self.release = threading.Event()
        self.closed_inside: list[int] = []
        self.close_called = threading.Event()
        fake = self

        class RawInputStream:
            def __init__(self, **kwargs: object) -> None:
                pass

            def start(self) -> None:
                pass

            def stop(self) -> None:
                pass

            def close(self) -> None:
                fake.closed_inside.append(fake.occ.inside)
                fake.close_called.set()

            def read(self, frames: int) -> tuple[bytes, bool]:
                fake.entered.set()
                fake.occ.work(fake.release)
                return bytes(2 * frames), False

        self.RawInputStream = RawInputStream

    def query_devices(self, device: object = None, kind: str | None = None) -> dict[str, object]:
        return {"name": "fake card", "max_input_channels": 1, "max_output_channels": 1}


async def test_microphone_closes_after_the_read_in_flight_when_cancelled() -> None:
    """Fails on the old code: a cancelled read abandoned its worker thread inside
    PortAudio's read and closed the stream under it at once."""
    from beluga_voice.transports import LocalAudioTransport

    fake = BlockingSoundDevice()
    mic = LocalAudioTransport(backend=fake, use_output=False).input()
    async with anyio.create_task_group() as tg:
        tg.start_soon(mic.read)
        assert await anyio.to_thread.run_sync(fake.entered.wait, 5)
        tg.cancel_scope.cancel()  # a stop deadline, say
        with anyio.CancelScope(shield=True):
            # the old code closed at once; now the close waits for the read to return
            closed_early = await anyio.to_thread.run_sync(fake.close_called.wait, 0.3)
            fake.release.set()
    assert not closed_early
    assert fake.closed_inside == [0]


_CHURN = textwrap.dedent(
    """
    import faulthandler, anyio
    faulthandler.enable()
    from beluga_voice.providers.events import SpeechStarted
    from beluga_voice.providers.local import LocalS2SProvider
    from beluga_voice.tts import EspeakTTS

    SPEECH = EspeakTTS("en-us", sample_rate=16000).synthesize(
        "what is two plus two and what time is it in london")

    async def one(provider, extra):
        session = await provider.start_streaming()
        started = anyio.Event()

        async def read():
            async for event in session:
                if isinstance(event, SpeechStarted):
                    started.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(read)
            i = 0
            while not started.is_set() and i < len(SPEECH):
                await session.send_audio(SPEECH[i : i + 640])
                await anyio.lowlevel.checkpoint()
                i += 640
            for j in range(i, min(len(SPEECH), i + 640 * 30), 640):  # a burst: a long feed
                await session.send_audio(SPEECH[j : j + 640])
            for _ in range(extra):
                await anyio.lowlevel.checkpoint()
            await session.close()  # the user hangs up mid-sentence

    async def main():
        provider = LocalS2SProvider()
        for k in range(40):
            await one(provider, k % 4)
        print("survived")

    anyio.run(main)
    """
)


def test_real_recogniser_survives_sessions_closed_mid_sentence() -> None:
    """Fails on the old code with SIGSEGV (4 runs of 4): 40 sessions with the real
    pocketsphinx decoder, each closed while a burst of speech is being recognised."""
    proc = subprocess.run(
        [sys.executable, "-c", _CHURN],
        cwd=_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "survived"
