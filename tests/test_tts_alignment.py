"""The timeline of a reply's text on its audio: what a listener heard when a barge-in cut
the reply, whatever the size of the pieces the service aligned (characters, words,
sentences)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from beluga_voice.tts.alignment import Timeline

WORDS = st.lists(st.text(alphabet="abcxyz", min_size=1, max_size=6), min_size=1, max_size=12)


def _timeline(words: list[str], unit: str, ms: float = 10.0) -> Timeline:
    """``words`` spoken at ``ms`` per character, aligned by character, word or sentence."""
    text = " ".join(words) + " "
    timeline = Timeline()
    if unit == "chars":
        for i, ch in enumerate(text):
            timeline.add(ch, i * ms, (i + 1) * ms)
    elif unit == "words":
        pos = 0
        for word in words:
            timeline.add(word + " ", pos * ms, (pos + len(word)) * ms)
            pos += len(word) + 1
    else:
        timeline.add(text, 0.0, len(text) * ms)
    timeline.complete = True
    return timeline


@given(WORDS, st.sampled_from(["chars", "words", "sentence"]), st.floats(0, 2000))
def test_heard_is_a_prefix_of_whole_words(words: list[str], unit: str, played: float) -> None:
    timeline = _timeline(words, unit)
    heard = timeline.heard(played)
    said = heard.removesuffix("...").split()
    assert said == words[: len(said)]  # whole words, in order, none invented
    if played >= 10.0 * len(" ".join(words) + " "):
        assert heard == " ".join(words)  # all of it played: no ellipsis


@given(
    WORDS, st.sampled_from(["chars", "words", "sentence"]), st.floats(0, 1000), st.floats(0, 1000)
)
def test_more_played_never_means_less_heard(
    words: list[str], unit: str, a: float, b: float
) -> None:
    timeline = _timeline(words, unit)
    early, late = sorted((a, b))
    assert len(timeline.heard(early).removesuffix("...").split()) <= len(
        timeline.heard(late).removesuffix("...").split()
    )


def test_a_cut_inside_a_word_does_not_count_that_word() -> None:
    timeline = _timeline(["hello", "there", "friend"], "chars")
    assert timeline.heard(85.0) == "hello..."  # "hello th" played: "there" was not heard
    assert timeline.heard(115.0) == "hello there..."
    assert timeline.heard(0.0) == ""


def test_audio_offsets_accumulate() -> None:
    timeline = Timeline()
    assert timeline.add_audio(4800, 24000) == 0.0
    assert timeline.add_audio(4800, 24000) == 100.0
    assert timeline.audio_ms == 200.0


def test_a_reply_cut_before_all_its_alignment_arrived_is_marked_cut() -> None:
    timeline = Timeline()
    timeline.add("Hello ", 0.0, 50.0)
    assert timeline.heard(500.0) == "Hello..."  # more was coming when the reply stopped
    timeline.complete = True
    assert timeline.heard(500.0) == "Hello"
