"""Several providers, one conversation: fall back when the preferred one fails.

A "cloud" provider that drops the connection in the middle of its first reply (a
scripted stand-in: the mock provider with an injected disconnect, since this example
must run offline) is wrapped with the offline ``local`` provider as its fallback.  The
conversation moves to the local provider mid-session, the user's turn is replayed to it
(``replay_started_turns``: the cloud's reply was cut after a few chunks), and the user
still gets an answer.  With real keys the first provider would be
``new_provider("openai_realtime")`` or ``new_provider("gemini")``.

    python examples/multi_provider.py
"""

from __future__ import annotations

import anyio

from beluga_voice.providers import events
from beluga_voice.providers.fallback import FallbackProvider, FallbackSettings
from beluga_voice.providers.local import LocalS2SProvider
from beluga_voice.providers.mock import AdvancedMockS2SProvider
from beluga_voice.providers.registry import list_providers
from beluga_voice.tts import EspeakTTS

USER_VOICE = EspeakTTS("en-us+f2", rate=150, sample_rate=16000)


async def main() -> None:
    print("installed providers:", ", ".join(list_providers()))
    flaky_cloud = AdvancedMockS2SProvider(
        "flaky-cloud",
        transcripts=["(the cloud's answer, never finished)"],
        disconnect_after_chunks=3,
    )
    local = LocalS2SProvider()
    provider = FallbackProvider(
        [flaky_cloud, local],
        settings=FallbackSettings(failure_threshold=1, replay_started_turns=True),
    )

    speech = b"\0\0" * 8000 + USER_VOICE.synthesize("what is twelve times three")
    speech += b"\0\0" * 16000
    async with provider.stream() as session:
        for i in range(0, len(speech), 640):
            await session.send_audio(speech[i : i + 640])
        with anyio.fail_after(15):
            async for event in session:
                if isinstance(event, events.ProviderSwitched):
                    print(
                        f"switched: {event.from_provider} -> {event.to_provider} ({event.reason})"
                    )
                elif isinstance(event, events.Transcript) and event.final:
                    print(f"{event.role:>9}: {event.text}")
                elif isinstance(event, events.ResponseDone) and event.status == "completed":
                    break
    print(f"the cloud provider was tried {flaky_cloud.calls} time(s); local answered")


if __name__ == "__main__":
    anyio.run(main)
