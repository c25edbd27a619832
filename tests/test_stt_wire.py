"""The STT shell's sans-I/O pieces: the replay buffer of unanswered utterances."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from beluga_voice.stt.wire_core import Unanswered

_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(1, 400)),
        st.tuples(st.just("finalize"), st.just(0)),
        st.tuples(st.just("reset"), st.just(0)),
        st.tuples(st.just("answered"), st.just(0)),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(_OPS, st.integers(1, 1000))
def test_the_replay_buffer_stays_bounded_and_counts_what_it_holds(
    ops: list[tuple[str, int]], limit: int
) -> None:
    buffer = Unanswered(limit)
    finalized = 0
    for op, size in ops:
        if op == "add":
            buffer.add(bytes(size))
        elif op == "finalize":
            buffer.close_open()
            finalized += 1
        elif op == "reset":
            buffer.drop_open()
        elif finalized:
            buffer.answered()
            finalized -= 1
        held = sum(len(c) for u in buffer.utterances for c in u.chunks)
        assert buffer.size == held <= limit
        assert buffer.waiting == finalized  # one utterance per unanswered finalize, in order


def test_audio_dropped_past_the_bound_marks_the_utterance_unreplayable() -> None:
    buffer = Unanswered(100)
    buffer.add(bytes(80))
    buffer.close_open()
    assert not buffer.lost
    buffer.add(bytes(80))  # the first utterance's audio goes to make room
    assert buffer.lost and buffer.size == 80
    buffer.answered()  # the utterance that lost audio was answered: nothing is lost now
    assert not buffer.lost and buffer.waiting == 0
