"""A small ctypes binding to espeak-ng, as shipped in the ``espeakng-loader`` wheel.

espeak-ng is a formant synthesiser: robotic, but tiny, instant and entirely offline,
which makes it the embedded voice of beluga-voice and the speech source of the VAD test
corpus.  The wheel carries ``libespeak-ng`` and its data directory; this module loads them
and drives the library in its synchronous mode, where ``espeak_Synth`` calls back with
PCM16 chunks and returns once the text is spoken.

The C library keeps global state (one current voice, one set of parameters, one
callback), so every call goes through one process-wide
:class:`~beluga_voice.audio.engine_owner.EngineOwner` (one thread in the library at a
time) and each call sets the voice and parameters it needs.  Synthesis is CPU-bound and quick (a sentence takes a few
milliseconds); async callers should run it in a worker thread
(``anyio.to_thread.run_sync``).

Usage::

    synth = EspeakSynth(voice="en-us", rate=175, pitch=50)
    pcm, sample_rate = synth.synthesize("Hello there.")   # PCM16 mono, 22050 Hz
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Final

from ..audio.engine_owner import EngineOwner

__all__ = ["EspeakError", "EspeakSynth", "VoiceInfo", "list_voices"]

_AUDIO_OUTPUT_SYNCHRONOUS: Final = 2
_INITIALIZE_DONT_EXIT: Final = 0x8000
_POS_CHARACTER: Final = 1
_CHARS_UTF8: Final = 1
_RATE: Final = 1
_VOLUME: Final = 2
_PITCH: Final = 3
_RANGE: Final = 4
_MAX_TEXT_CHARS: Final = 100_000
_SEED: Final = 0x5EED

_Callback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class EspeakError(RuntimeError):
    """espeak-ng could not be loaded, or refused a voice or a text."""


class _VoiceStruct(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_char_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


@dataclass(frozen=True, slots=True)
class VoiceInfo:
    """One installed voice: ``name`` is what :class:`EspeakSynth` accepts."""

    name: str
    language: str
    identifier: str


class _Engine:
    """The loaded library; one per process, created on first use."""

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError as exc:  # pragma: no cover - a core dependency
            raise EspeakError("espeak-ng needs the 'espeakng-loader' package") from exc
        try:
            lib = ctypes.CDLL(espeakng_loader.get_library_path())
            data_path = espeakng_loader.get_data_path()
        except (OSError, RuntimeError) as exc:
            raise EspeakError(f"cannot load espeak-ng: {exc}") from exc
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_Callback]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetVoiceByProperties.argtypes = [ctypes.POINTER(_VoiceStruct)]
        lib.espeak_SetVoiceByProperties.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        lib.espeak_ng_SetRandSeed.restype = None
        lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_VoiceStruct))
        rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(), _INITIALIZE_DONT_EXIT
        )
        if rate <= 0:
            raise EspeakError(f"espeak_Initialize failed (returned {rate})")
        self.lib = lib
        self.sample_rate: int = rate
        self.chunks: list[bytes] = []
        # keep a reference: the C side holds only the raw pointer
        self.callback = _Callback(self._on_audio)
        lib.espeak_SetSynthCallback(self.callback)

    def _on_audio(self, wav: ctypes._Pointer[ctypes.c_short], n: int, _events: int) -> int:
        if n > 0 and wav:
            self.chunks.append(ctypes.string_at(wav, n * 2))
        return 0  # 0 = go on

    def _by_language(self, language: str) -> bool:
        """Select a voice by language code (``en-gb``) when no voice file has that name."""
        if "+" in language:
            return False
        spec = _VoiceStruct(name=None, languages=language.encode(), identifier=None)
        return bool(self.lib.espeak_SetVoiceByProperties(ctypes.byref(spec)) == 0)

    def synthesize(self, text: str, voice: str, params: dict[int, int]) -> bytes:
        lib = self.lib
        if lib.espeak_SetVoiceByName(voice.encode()) != 0 and not self._by_language(voice):
            raise EspeakError(f"espeak-ng has no voice {voice!r} (see list_voices())")
        for key, value in params.items():
            lib.espeak_SetParameter(key, value, 0)
        raw = text.encode("utf-8") + b"\0"
        # the noise in fricatives comes from a PRNG: seed it for repeatable noise.  (Timing
        # still varies by a few samples between calls: the library keeps prosody state.)
        lib.espeak_ng_SetRandSeed(_SEED)
        self.chunks = []
        status = lib.espeak_Synth(raw, len(raw), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        if status != 0:
            raise EspeakError(f"espeak_Synth failed with status {status}")
        out = b"".join(self.chunks)
        self.chunks = []
        return out


_owner = EngineOwner("espeak-ng")
"""Never closed: the library lives as long as the process."""
_engine: _Engine | None = None


def _get_engine() -> _Engine:
    global _engine
    if _engine is None:
        _engine = _Engine()
    return _engine


def list_voices() -> list[VoiceInfo]:
    """The voices installed with the wheel (language codes such as ``en-us``, ``de``)."""
    with _owner.hold():
        lib = _get_engine().lib
        arr = lib.espeak_ListVoices(None)
        voices: list[VoiceInfo] = []
        i = 0
        while arr[i]:
            v = arr[i].contents
            lang = (v.languages or b"\x00")[1:].split(b"\x00", 1)[0]
            voices.append(
                VoiceInfo(
                    name=(v.name or b"").decode(errors="replace"),
                    language=lang.decode(errors="replace"),
                    identifier=(v.identifier or b"").decode(errors="replace"),
                )
            )
            i += 1
    return voices


class EspeakSynth:
    """Text to PCM16 mono with espeak-ng; see the module docstring.

    ``voice`` is a voice or language name (``en-us``, ``en-gb``, ``de``, ``en-us+f3`` for
    a variant); ``rate`` is words per minute (80-450), ``pitch`` and ``pitch_range``
    0-100, ``volume`` 0-200 (100 is normal).  Options are checked here, so a bad value is
    a ValueError at construction rather than a failure mid-conversation.
    """

    def __init__(
        self,
        voice: str = "en-us",
        *,
        rate: int = 175,
        pitch: int = 50,
        pitch_range: int = 50,
        volume: int = 100,
    ) -> None:
        if not voice or "\0" in voice:
            raise ValueError(f"invalid espeak voice name {voice!r}")
        for name, value, lo, hi in (
            ("rate", rate, 80, 450),
            ("pitch", pitch, 0, 100),
            ("pitch_range", pitch_range, 0, 100),
            ("volume", volume, 0, 200),
        ):
            if not isinstance(value, int) or not lo <= value <= hi:
                raise ValueError(f"espeak {name} must be an integer in {lo}-{hi}, got {value!r}")
        self.voice = voice
        self._params = {_RATE: rate, _PITCH: pitch, _RANGE: pitch_range, _VOLUME: volume}

    @property
    def sample_rate(self) -> int:
        """Output sample rate (22050 Hz for the shipped voices)."""
        with _owner.hold():
            return _get_engine().sample_rate

    def synthesize(self, text: str) -> tuple[bytes, int]:
        """Speak ``text``; return ``(pcm16_mono_bytes, sample_rate)``.

        Empty or blank text gives empty audio.  Thread-safe; blocks for the synthesis.
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be str, got {type(text).__name__}")
        if "\0" in text:
            raise ValueError("text contains a NUL character")
        if len(text) > _MAX_TEXT_CHARS:
            raise ValueError(f"text is {len(text)} characters; split it below {_MAX_TEXT_CHARS}")
        with _owner.hold():
            engine = _get_engine()
            if not text.strip():
                return b"", engine.sample_rate
            return engine.synthesize(text, self.voice, self._params), engine.sample_rate

    def __repr__(self) -> str:
        return f"EspeakSynth(voice={self.voice!r})"
