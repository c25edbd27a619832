"""Make the bundled example conversation with the project's own voice.

Writes ``beluga_voice/data/example_conversation.wav`` (16 kHz mono PCM16: the user's side
of a short conversation, with pauses between turns) and its reference text,
``example_conversation.txt`` (one prompt per line), used by ``beluga-voice run`` and by
``benchmarks/offline_voice.py`` to measure the recogniser's word error rate.

The user's voice is an espeak-ng variant different from the bot's default voice, so the
two are easy to tell apart when the conversation is played back.

    python scripts/make_example.py
"""

from __future__ import annotations

from pathlib import Path

from beluga_voice.audio import write_wav_pcm16
from beluga_voice.tts import EspeakTTS

PROMPTS = (
    "hello",
    "what time is it",
    "what is twelve times three",
    "what is the date today",
    "goodbye",
)
RATE = 16000
LEAD_SECONDS = 0.5
PAUSE_SECONDS = 1.5
USER_VOICE = "en-us+f2"

DATA = Path(__file__).resolve().parent.parent / "beluga_voice" / "data"


def main() -> None:
    voice = EspeakTTS(USER_VOICE, rate=150, sample_rate=RATE)
    pause = b"\0\0" * int(RATE * PAUSE_SECONDS)
    pcm = b"\0\0" * int(RATE * LEAD_SECONDS)
    for prompt in PROMPTS:
        pcm += voice.synthesize(prompt) + pause
    DATA.mkdir(parents=True, exist_ok=True)
    write_wav_pcm16(DATA / "example_conversation.wav", pcm, RATE)
    (DATA / "example_conversation.txt").write_text("\n".join(PROMPTS) + "\n", encoding="utf-8")
    print(f"wrote {len(pcm) / (2 * RATE):.1f} s, {len(pcm) // 1024} KiB of audio to {DATA}")


if __name__ == "__main__":
    main()
