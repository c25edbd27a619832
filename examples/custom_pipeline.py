"""Compose your own pipeline with resilience as processors.

    user audio -> Fallback[ S2S(flaky cloud) , S2S(local) ]   (the conversation)
               -> NoteTaker (your reasoning processor)        (see the marked spot)
               -> Retry[ TTS ]                                 (speaks the notes)

        NoteTaker --SpeakFrame, upstream--> the S2S provider   (speaks a follow-up)

* ``Fallback`` of two S2S processors: the "cloud" (a scripted stand-in so that this runs
  offline: the mock provider dropping its connection after 60 ms of its reply) fails, and
  the offline ``local`` provider answers the same turn again, in full (the user heard
  only 60 ms of the cut reply, under ``replay_cut_reply_under``).
* ``Retry`` around a TTS whose engine fails its first sentence: the note is spoken
  anyway, after a retry the TTS never knows about.
* ``NoteTaker`` stands where an external reasoning processor goes: it receives the final
  user transcriptions, pushes a note downstream that the TTS speaks, and pushes a
  follow-up question *upstream* that the conversation's own provider speaks (the S2S
  processor voices what reaches it from after it, sentence by sentence; through the
  ``Fallback``, whichever provider is active).

    python examples/custom_pipeline.py
"""

from __future__ import annotations

import anyio

from beluga_voice.frames import (
    Direction,
    ErrorFrame,
    Frame,
    InputAudioFrame,
    OutputAudioFrame,
    ProviderSwitchedFrame,
    ResponseEndFrame,
    ResponseStartFrame,
    SpeakFrame,
    StartFrame,
    TextFrame,
    TranscriptionFrame,
)
from beluga_voice.pipeline import FrameProcessor, PipelineTask
from beluga_voice.processors import Fallback, Retry, S2SProcessor, TTSProcessor
from beluga_voice.providers import S2SConfig
from beluga_voice.providers.local import LocalS2SProvider
from beluga_voice.providers.mock import AdvancedMockS2SProvider
from beluga_voice.tts import EspeakTTS

USER_VOICE = EspeakTTS("en-us+f2", rate=150, sample_rate=16000)


class FlakyVoice(EspeakTTS):
    """espeak-ng, failing its first sentence the way a remote TTS drops a request."""

    def __init__(self) -> None:
        super().__init__(sample_rate=24000)
        self.calls = 0

    def synthesize(self, text: str) -> bytes:
        self.calls += 1
        if self.calls == 1:
            raise ConnectionError("TTS service unavailable")
        return super().synthesize(text)


class NoteTaker(FrameProcessor):
    """A user's reasoning processor: it reads what the user said and answers on two voices.

    >>> EXTERNAL REASONING GOES HERE <<<  A note goes downstream, framed as a reply, to the
    TTS after it; once the provider has answered, a follow-up goes *upstream* as a
    SpeakFrame, and the provider says it (TextFrame pieces pushed upstream would be spoken
    sentence by sentence as they stream).
    """

    def __init__(self, *, name: str | None = None) -> None:
        super().__init__(name=name)
        self.asked = False

    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        await self.push_frame(frame, direction)
        if direction is not Direction.DOWNSTREAM or not isinstance(frame, TranscriptionFrame):
            return
        if frame.final and frame.role == "user":
            await self.push_frame(ResponseStartFrame())
            await self.push_frame(TextFrame(f"Noted: {frame.text}."))
            await self.push_frame(ResponseEndFrame())
        elif frame.final and frame.role == "assistant" and not self.asked:
            self.asked = True  # the provider answered: it asks the follow-up itself
            await self.push_frame(SpeakFrame("Anything else?"), Direction.UPSTREAM)


async def main() -> None:
    config = S2SConfig(provider="mock", max_retries=0, enable_metrics=False)
    cloud = AdvancedMockS2SProvider(
        "flaky-cloud",
        config=config,
        transcripts=["(the cloud's answer, never finished)"],
        disconnect_after_chunks=3,
    )
    conversation = Fallback(
        [S2SProcessor(cloud), S2SProcessor(LocalS2SProvider())],
        max_retries=0,
        failure_threshold=1,
    )
    voice = FlakyVoice()
    speaker = Retry(TTSProcessor(voice, name="tts"), retry_delay=0.1)

    notes_spoken = anyio.Event()
    follow_up_said = anyio.Event()
    tts_audio = 0

    async def on_output(frame: Frame) -> None:
        nonlocal tts_audio
        if isinstance(frame, ProviderSwitchedFrame):
            print(f"switched: {frame.from_provider} -> {frame.to_provider} ({frame.reason})")
        elif isinstance(frame, TranscriptionFrame) and frame.final:
            print(f"{frame.role:>9}: {frame.text}")
            if frame.role == "assistant" and "anything else" in frame.text.lower():
                follow_up_said.set()
        elif isinstance(frame, OutputAudioFrame):
            tts_audio += len(frame.audio)
        elif isinstance(frame, ResponseEndFrame) and voice.calls > 1:
            notes_spoken.set()

    async def on_error(frame: ErrorFrame) -> None:
        print(f"error: {frame.code}: {frame.message}")

    task = PipelineTask(
        [conversation, NoteTaker(name="notes"), speaker],
        start_frame=StartFrame(input_sample_rate=16000, output_sample_rate=24000),
        on_output=on_output,
        on_error=on_error,
    )
    speech = b"\0\0" * 8000 + USER_VOICE.synthesize("what is twelve times three")
    speech += b"\0\0" * 16000
    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(task.run)
            for i in range(0, len(speech), 640):
                await task.queue_frame(InputAudioFrame(speech[i : i + 640], 16000))
            await notes_spoken.wait()
            await follow_up_said.wait()
            await task.stop_when_done()
    print(f"the TTS was called {voice.calls} times; {tts_audio / 48000:.1f} s of audio out")
    print(f"errors the app saw: {len(task.errors)}")


if __name__ == "__main__":
    anyio.run(main)
