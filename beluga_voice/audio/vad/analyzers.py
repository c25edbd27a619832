"""Voice activity analysers: one fixed-size frame in, speech confidence 0..1 out.

An analyser knows nothing of time or state machines; :class:`~.state.VoiceActivityTracker`
turns its per-frame confidence into speaking / not speaking with hysteresis.  Three ship
here, and :class:`~.silero.SileroVADAnalyzer` (Silero VAD on onnxruntime) in its own module:

* :class:`EnergyAnalyzer` (the default): numpy only, any rate.  Level above an adaptive
  noise floor.  Fast and predictable; it cannot tell speech from other loud sounds.
* :class:`WebRTCAnalyzer`: the WebRTC GMM detector (``webrtcvad-wheels``); 0 or 1 only.
* :class:`TenVADAnalyzer`: TEN VAD, a small neural model shipped inside the ``ten-vad``
  wheel; 16 kHz.  Its native library needs LLVM's libc++ from the system.

The last two (and Silero) are the optional extra ``beluga-voice[vad]`` and are imported only when
constructed, with an ImportError naming the extra if missing.
"""

from __future__ import annotations

import ctypes
import functools
import importlib
import math
from collections import deque
from pathlib import Path
from types import ModuleType
from typing import Any, Final, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from ..pcm import check_rate

__all__ = [
    "TEN_LIBCXX_FIX",
    "Analyzer",
    "EnergyAnalyzer",
    "TenVADAnalyzer",
    "WebRTCAnalyzer",
    "analyze_frames",
    "as_pcm16_frame",
]

FrameInput = bytes | bytearray | memoryview | npt.NDArray[Any]


@runtime_checkable
class Analyzer(Protocol):
    """What the VAD needs from an analyser.

    ``sample_rate`` and ``frame_samples`` are fixed for the analyser's life: the caller
    resamples and re-chunks to them.  ``analyze`` takes exactly ``frame_samples`` mono
    samples, as PCM16 bytes, an int16 array, or a float array in [-1, 1], and returns the
    confidence that the frame is speech.  ``reset`` forgets any history (a new stream).
    """

    sample_rate: int
    frame_samples: int

    def analyze(self, frame: FrameInput) -> float: ...

    def reset(self) -> None: ...


def analyze_frames(analyzer: Analyzer, frames: npt.NDArray[np.int16]) -> list[float]:
    """Confidences for consecutive frames (rows of ``frames``), in order.

    Uses the analyser's vectorised ``analyze_many`` when it has one (the energy analyser
    does: one numpy pass per chunk instead of one per 10 ms frame).
    """
    many = getattr(analyzer, "analyze_many", None)
    if many is not None:
        return list(many(frames))
    return [analyzer.analyze(row) for row in frames]


def as_pcm16_frame(frame: FrameInput, frame_samples: int) -> npt.NDArray[np.int16]:
    """Validate an analyser input and return it as a contiguous int16 array.

    Raises ValueError for a wrong length, an odd byte count, or NaN / inf in float input.
    """
    if isinstance(frame, (bytes, bytearray, memoryview)):
        if len(frame) % 2:
            raise ValueError(f"PCM16 frame has an odd byte count ({len(frame)})")
        samples = np.frombuffer(frame, dtype="<i2")
    else:
        arr = np.asarray(frame)
        if arr.ndim != 1:
            raise ValueError(f"VAD frame must be 1-D mono, got shape {arr.shape}")
        if arr.dtype.kind == "f":
            if not np.isfinite(arr).all():
                raise ValueError("float VAD frame contains NaN or infinite samples")
            samples = np.clip(np.rint(arr * 32768.0), -32768, 32767).astype(np.int16)
        elif arr.dtype == np.int16:
            samples = np.ascontiguousarray(arr)
        else:
            raise ValueError(f"VAD frame must be PCM16 or float, got dtype {arr.dtype}")
    if samples.size != frame_samples:
        raise ValueError(
            f"VAD frame has {samples.size} samples, the analyser needs {frame_samples}"
        )
    return samples


def _frame_samples(rate: int, frame_ms: float) -> int:
    n = rate * frame_ms / 1000.0
    if n < 1 or n != int(n):
        raise ValueError(f"{frame_ms} ms at {rate} Hz is not a whole number of samples")
    return int(n)


def optional_module(module: str, analyser: str) -> ModuleType:
    """Import an optional dependency of ``analyser``, or say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"{analyser} needs the optional package {module!r}: "
            "install it with pip install 'beluga-voice[vad]'"
        ) from exc


class EnergyAnalyzer:
    """Frame level above an adaptive noise floor, mapped to 0..1.

    The noise floor is the quietest frame of the last ``floor_window_secs`` (a minimum
    statistic: speech always has quiet moments between syllables, steady noise has none
    quieter than itself), never below ``initial_floor_dbfs``.  So a fan or a hiss stops
    counting as speech within one window, while a talker never becomes their own floor.
    Confidence is 0 below ``min_snr_db`` over the floor and 1 at ``min_snr_db +
    ramp_db``, linear between; frames quieter than ``silence_dbfs`` are always 0.
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        *,
        frame_ms: float = 10.0,
        min_snr_db: float = 3.0,
        ramp_db: float = 6.0,
        floor_window_secs: float = 1.5,
        silence_dbfs: float = -60.0,
        initial_floor_dbfs: float = -75.0,
    ) -> None:
        self.sample_rate = check_rate(sample_rate)
        self.frame_samples = _frame_samples(self.sample_rate, frame_ms)
        if ramp_db <= 0:
            raise ValueError(f"ramp_db must be positive, got {ramp_db}")
        self.min_snr_db = min_snr_db
        self.ramp_db = ramp_db
        self.silence_dbfs = silence_dbfs
        self.initial_floor_dbfs = initial_floor_dbfs
        self._window = max(1, round(floor_window_secs * 1000.0 / frame_ms))
        self._frames = 0
        self._minima: deque[tuple[int, float]] = deque()  # (frame index, dB), increasing dB
        self.floor_dbfs = initial_floor_dbfs

    def analyze(self, frame: FrameInput) -> float:
        x = as_pcm16_frame(frame, self.frame_samples).astype(np.float32)
        return self._confidence(float(np.dot(x, x)) / x.size)

    def analyze_many(self, frames: npt.NDArray[np.int16]) -> list[float]:
        """``analyze`` for each row of a ``(n, frame_samples)`` int16 array, vectorised."""
        if frames.ndim != 2 or frames.shape[1] != self.frame_samples:
            raise ValueError(f"expected (n, {self.frame_samples}) frames, got shape {frames.shape}")
        x = frames.astype(np.float32)
        energies = np.einsum("ij,ij->i", x, x) / self.frame_samples
        return self.confidences_from_energies(energies.tolist())

    def confidences_from_energies(self, energies: list[float]) -> list[float]:
        """Confidences for consecutive frames given their mean squares (PCM16 units).

        :class:`~.stream.VADStream` computes these energies for the volume anyway; passing
        them in saves a second pass over the samples per chunk.
        """
        confidence = self._confidence
        return [confidence(e) for e in energies]

    def _confidence(self, energy: float) -> float:
        db = 10.0 * math.log10(energy / 1073741824.0) if energy > 0 else -120.0  # 32768**2
        floor = self.floor_dbfs
        self._track_floor(db)
        if db < self.silence_dbfs:
            return 0.0
        conf = (db - floor - self.min_snr_db) / self.ramp_db
        return 0.0 if conf <= 0.0 else 1.0 if conf >= 1.0 else conf

    def _track_floor(self, db: float) -> None:
        """Sliding-window minimum in O(1) amortised (a monotonic queue)."""
        minima = self._minima
        i = self._frames
        self._frames = i + 1
        while minima and minima[-1][1] >= db:
            minima.pop()
        minima.append((i, db))
        if minima[0][0] <= i - self._window:
            minima.popleft()
        self.floor_dbfs = max(minima[0][1], self.initial_floor_dbfs)

    def reset(self) -> None:
        self.floor_dbfs = self.initial_floor_dbfs
        self._frames = 0
        self._minima.clear()


class WebRTCAnalyzer:
    """The WebRTC VAD: confidence 1.0 for speech, 0.0 otherwise.

    ``mode`` 0 (least aggressive, most speech kept) to 3 (most aggressive filtering of
    non-speech).  Rates 8, 16, 32 or 48 kHz; frames of 10, 20 or 30 ms.
    """

    RATES: Final = (8000, 16000, 32000, 48000)

    def __init__(self, sample_rate: int = 16000, *, frame_ms: int = 10, mode: int = 2) -> None:
        if sample_rate not in self.RATES:
            raise ValueError(f"WebRTC VAD supports {self.RATES} Hz, not {sample_rate!r}")
        if frame_ms not in (10, 20, 30):
            raise ValueError(f"WebRTC VAD frames are 10, 20 or 30 ms, not {frame_ms!r}")
        if mode not in (0, 1, 2, 3):
            raise ValueError(f"WebRTC VAD mode must be 0-3, got {mode!r}")
        self._mod = optional_module("webrtcvad", "WebRTCAnalyzer")
        self.sample_rate = sample_rate
        self.frame_samples = sample_rate * frame_ms // 1000
        self.mode = mode
        self._vad = self._mod.Vad(mode)

    def analyze(self, frame: FrameInput) -> float:
        pcm = as_pcm16_frame(frame, self.frame_samples).tobytes()
        return 1.0 if self._vad.is_speech(pcm, self.sample_rate) else 0.0

    def reset(self) -> None:
        self._vad = self._mod.Vad(self.mode)


TEN_LIBCXX_FIX: Final = (
    "TEN VAD's native library could not be loaded: it links against LLVM's libc++, "
    "which this system lacks; on Debian or Ubuntu: apt-get install libc++1 libc++abi1"
)


@functools.cache
def _check_ten_library(mod: ModuleType) -> None:
    """Load the ``ten-vad`` wheel's native library once, before ``TenVad`` does.

    Why: where libc++ is missing, ``TenVad()`` fails half-built and its ``__del__`` then
    raises ``AttributeError`` (no ``vad_library``), which is what users see, printed as
    an ignored exception or turned into an error by pytest.  Loading the library first
    never builds that half object, so the one error is ours, naming the fix.  Only a
    success is cached (``functools.cache`` does not keep exceptions).
    """
    if mod.__file__ is None:
        return
    for lib in sorted((Path(mod.__file__).parent / "lib").glob("*/*/libten_vad.so")):
        if "Linux" not in lib.parts:
            continue
        try:
            ctypes.CDLL(str(lib))
        except OSError as exc:
            raise ImportError(f"{TEN_LIBCXX_FIX} ({exc})") from exc


class TenVADAnalyzer:
    """TEN VAD (neural, by Agora), run from the library inside the ``ten-vad`` wheel.

    16 kHz only; ``hop_size`` 160 (10 ms) or 256 (16 ms) samples.  Returns the model's
    speech probability.  Nearly all the time is the library's own call (~130-150 us per
    16 ms frame on one core, about 110x real time); this wrapper adds ~1 us.

    ``gate_dbfs`` (off by default) skips the network on frames quieter than that level
    and returns 0.0 for them.  Set it no higher than the tracker's ``min_volume`` level
    (``VADParams.min_volume`` 0.2 is -48 dBFS): such frames can never count as speech,
    so the decisions on them do not change.  What does change is the model's context:
    it is recurrent, so on the first frame above the gate the last ``_REPLAY`` gated
    frames are run first to refresh it before the speech onset is judged.  The gate
    only saves time where the input really falls that quiet (a headset, a muted or
    echo-cancelled microphone, telephony with silence suppression); on audio whose noise
    floor is above the gate it costs one energy sum per frame and saves nothing.
    """

    _REPLAY: Final = 4
    """Gated frames replayed into the model when the level comes back (64 ms at 256)."""

    def __init__(
        self, sample_rate: int = 16000, *, hop_size: int = 256, gate_dbfs: float | None = None
    ) -> None:
        if sample_rate != 16000:
            raise ValueError(f"TEN VAD runs at 16000 Hz only, not {sample_rate!r}")
        if hop_size not in (160, 256):
            raise ValueError(f"TEN VAD hop_size must be 160 or 256, got {hop_size!r}")
        if gate_dbfs is not None and not -120.0 <= gate_dbfs <= 0.0:
            raise ValueError(f"gate_dbfs must be in -120..0 dBFS, got {gate_dbfs!r}")
        self._mod = optional_module("ten_vad", "TenVADAnalyzer")
        self.sample_rate = sample_rate
        self.frame_samples = hop_size
        self.gate_dbfs = gate_dbfs
        # the gate compares the frame's sum of squares, so no log and no division per frame
        self._gate_sum = (
            None if gate_dbfs is None else hop_size * 1073741824.0 * 10.0 ** (gate_dbfs / 10.0)
        )
        self._gated: deque[npt.NDArray[np.int16]] = deque(maxlen=self._REPLAY)
        self.network_frames = 0
        """Frames the network actually ran on (replays included), for measuring the gate."""
        self._vad = self._create()

    def _create(self) -> Any:
        _check_ten_library(self._mod)
        try:
            return self._mod.TenVad(self.frame_samples, 0.5)
        except (OSError, AttributeError) as exc:
            # OSError: the library did not load.  AttributeError: what TenVad raises
            # instead when its library handle was never set (its __del__ on a half-built
            # object, or a call on it); both mean the native library is unusable.
            raise ImportError(f"{TEN_LIBCXX_FIX} ({type(exc).__name__}: {exc})") from exc

    def analyze(self, frame: FrameInput) -> float:
        samples = as_pcm16_frame(frame, self.frame_samples)
        if self._gate_sum is not None:
            x = samples.astype(np.float32)
            if float(np.dot(x, x)) < self._gate_sum:
                self._gated.append(samples.copy())
                return 0.0
            while self._gated:
                self._run(self._gated.popleft())
        return self._run(samples)

    def _run(self, samples: npt.NDArray[np.int16]) -> float:
        self.network_frames += 1
        prob, _flag = self._vad.process(samples)
        return min(1.0, max(0.0, float(prob)))

    def reset(self) -> None:
        self._gated.clear()
        self._vad = self._create()
