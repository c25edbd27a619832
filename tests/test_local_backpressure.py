"""The local provider's inbox is bounded, pushes back on fast senders and joins linearly.

Issue 14.2: audio sent faster than real time piled up in an unbounded inbox, and joining
it with repeated ``bytes + bytes`` on the event loop froze every session of the process
(16,000 chunks took 34 s).
"""

from __future__ import annotations

import itertools

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from beluga_voice.agents import RuleAgent
from beluga_voice.providers.config import S2SConfig
from beluga_voice.providers.errors import ErrorCode, S2SError
from beluga_voice.providers.events import ResponseStarted, SessionEvent, Transcript
from beluga_voice.providers.local import LocalS2SProvider
from beluga_voice.providers.local_session import INBOX_LIMIT, LocalSession, _coalesce
from beluga_voice.providers.types import AudioInput
from beluga_voice.stt import PocketSphinxSTT
from beluga_voice.testing.loop_gaps import LoopGapMeter
from beluga_voice.tts import EspeakTTS

pytestmark = pytest.mark.anyio

_RATE = 16000
_CHUNK = _RATE // 50 * 2  # 20 ms
_STT = PocketSphinxSTT(phrases=RuleAgent().phrases())
_WORDS = EspeakTTS("en-us", sample_rate=_RATE).synthesize("hello")


def _provider() -> LocalS2SProvider:
    return LocalS2SProvider(S2SConfig(reasoning_mode="external"), stt=_STT)


def _speech_and_silence(seconds: float) -> bytes:
    """Mostly silence with an utterance every 5 s: what a caller sounds like."""
    one = bytes(_RATE) + _WORDS  # 0.5 s of silence, then the word
    one += bytes(_RATE * 10 - len(one))  # padded to 5 s
    whole = one * int(seconds // 5 + 1)
    return whole[: int(seconds * _RATE) * 2]


async def _drained(session: LocalSession, events: list[SessionEvent]) -> None:
    """Read events until the marker text sent after the audio starts a reply: every
    command before it has been handled by then."""
    async for event in session:
        events.append(event)
        if isinstance(event, ResponseStarted):
            return


async def test_a_sender_100x_faster_than_real_time_waits_and_stalls_nobody() -> None:
    """Fails on the old code: the inbox grew to every chunk sent, and joining it blocked
    the event loop (the ticker's longest gap was 0.6 s; now about 20 ms)."""
    audio = _speech_and_silence(120.0)  # 12,000 chunks of 10 ms, as fast as they are taken
    events: list[SessionEvent] = []
    peak = 0
    stop = anyio.Event()
    async with _provider().stream() as session:
        assert isinstance(session, LocalSession)
        meter = LoopGapMeter(0.005, probe=lambda: session.queued)  # another session's work

        async def blast() -> None:
            nonlocal peak
            for i in range(0, len(audio), _CHUNK // 2):
                await session.send_audio(audio[i : i + _CHUNK // 2])
                peak = max(peak, session.queued)
            await session.send_text("hello")  # the marker

        async with anyio.create_task_group() as tg:
            tg.start_soon(meter.run, stop)
            tg.start_soon(blast)
            with anyio.fail_after(60):
                await _drained(session, events)
            stop.set()
        assert session.recognizer.position_ms == pytest.approx(120_000.0)  # nothing lost
    assert meter.longest < 0.25, f"event loop stalled for {meter.longest:.3f} s"
    assert 0 < max(peak, meter.peak) <= INBOX_LIMIT
    heard = [e.text for e in events if isinstance(e, Transcript) and e.final and e.role == "user"]
    assert len(heard) == 24  # every utterance recognised


async def test_an_unread_session_holds_at_most_its_bound_and_loses_nothing() -> None:
    audio = _speech_and_silence(40.0)  # more than the bound holds
    sent = 0
    events: list[SessionEvent] = []
    async with _provider().stream() as session:
        assert isinstance(session, LocalSession)

        async def send() -> None:
            nonlocal sent
            for i in range(0, len(audio), _CHUNK):
                await session.send_audio(audio[i : i + _CHUNK])
                sent += 1
            await session.send_text("hello")

        async with anyio.create_task_group() as tg:
            tg.start_soon(send)
            await anyio.wait_all_tasks_blocked()
            assert session.queued == INBOX_LIMIT  # full, and the sender waits on it
            assert sent < len(audio) // _CHUNK
            with anyio.fail_after(20):
                await _drained(session, events)  # reading lets the sender finish
        assert sent == len(audio) // _CHUNK
        assert session.recognizer.position_ms == pytest.approx(40000.0)


async def test_one_long_send_is_split_so_the_bound_holds_in_audio_too() -> None:
    async with _provider().stream() as session:
        assert isinstance(session, LocalSession)
        async with anyio.create_task_group() as tg:
            tg.start_soon(session.send_audio, bytes(_RATE * 2 * 40))  # 40 s in one call
            await anyio.wait_all_tasks_blocked()
            assert session.queued == INBOX_LIMIT  # 100 ms pieces: 32 s held at most
            tg.cancel_scope.cancel()


async def test_a_sender_waiting_on_a_full_inbox_gets_a_clear_error_on_close() -> None:
    failures: list[ErrorCode] = []
    async with _provider().stream() as session:

        async def send() -> None:
            try:
                while True:
                    await session.send_audio(bytes(_CHUNK))
            except S2SError as exc:
                failures.append(exc.code)

        async with anyio.create_task_group() as tg:
            tg.start_soon(send)
            await anyio.wait_all_tasks_blocked()
            await session.close()
    assert failures == [ErrorCode.STREAM_CLOSED]


async def test_process_sends_an_utterance_longer_than_the_bound_while_it_reads() -> None:
    """process() used to send everything before reading: with a bounded inbox, more than
    2.56 s of 20 ms chunks would wait forever."""
    speech = bytes(_RATE * 2 * 4) + _WORDS + bytes(_RATE * 2)  # 5+ s: ~270 chunks
    provider = LocalS2SProvider(stt=_STT)
    with anyio.fail_after(30):
        out = await provider.process(AudioInput(speech))
    assert out.data
    assert out.transcript  # the rules agent answered the greeting


_commands = st.lists(
    st.one_of(
        st.binary(max_size=64).map(lambda b: ("audio", b)),
        st.sampled_from([("end_turn", None), ("text", "hi"), ("speak", "yo")]),
    ),
    max_size=60,
)


@given(_commands, st.integers(min_value=1, max_value=200))
def test_coalesce_keeps_order_and_content_and_caps_each_feed(
    commands: list[tuple[str, object]], cap: int
) -> None:
    out = _coalesce(commands, cap)
    # the other commands keep their place, and the audio between them is intact
    assert [c for c in out if c[0] != "audio"] == [c for c in commands if c[0] != "audio"]

    def segments(cmds: list[tuple[str, object]]) -> list[bytes]:
        runs, cur = [], b""
        for kind, value in cmds:
            if kind == "audio":
                assert isinstance(value, bytes)
                cur += value
            else:
                runs.append(cur)
                cur = b""
        return [*runs, cur]

    assert segments(out) == segments(commands)
    sizes = {len(v) for k, v in commands if k == "audio" and isinstance(v, bytes)}
    for kind, value in out:
        if kind == "audio":
            assert isinstance(value, bytes)
            assert len(value) <= max([cap, *sizes])  # one command alone may exceed the cap
    # consecutive joined pieces are split only where the cap required it
    for a, b in itertools.pairwise(out):
        if a[0] == b[0] == "audio":
            assert isinstance(a[1], bytes) and isinstance(b[1], bytes)
            assert len(a[1]) + len(b[1]) > cap
