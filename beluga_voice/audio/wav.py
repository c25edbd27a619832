"""WAV files: read and write, any rate, 8/16/24/32-bit integer or 32/64-bit float.

The stdlib ``wave`` module only handles integer PCM (and WAVE_FORMAT_EXTENSIBLE only from
3.12), so this is a small RIFF reader of our own.  It reads the ``fmt `` and ``data``
chunks, skips any other chunk (LIST, fact, cue ...), and gives a clear ValueError for
anything it cannot trust: a truncated header, an unknown encoding, a data chunk that
claims more bytes than the file has.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import BinaryIO, Final, Literal

import numpy as np
import numpy.typing as npt

from .pcm import check_rate, float_to_pcm16, pcm16_to_float

__all__ = ["WavFormat", "read_wav", "read_wav_pcm16", "write_wav", "write_wav_pcm16"]

_PCM: Final = 0x0001
_FLOAT: Final = 0x0003
_EXTENSIBLE: Final = 0xFFFE
_GUID_TAIL: Final = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
_INT_BITS: Final = (8, 16, 24, 32)
_FLOAT_BITS: Final = (32, 64)

Source = str | os.PathLike[str] | bytes | BinaryIO


@dataclass(frozen=True, slots=True)
class WavFormat:
    """What a WAV file holds: rate, channel count, bits per sample and encoding."""

    sample_rate: int
    channels: int
    bits: int
    encoding: Literal["int", "float"] = "int"


def _read_all(source: Source) -> bytes:
    if isinstance(source, bytes):
        return source
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as f:
            return f.read()
    return source.read()


def _parse_fmt(body: bytes) -> WavFormat:
    if len(body) < 16:
        raise ValueError(f"WAV fmt chunk is {len(body)} bytes, expected at least 16")
    tag, channels, rate, _byte_rate, block_align, bits = struct.unpack_from("<HHIIHH", body)
    if tag == _EXTENSIBLE:
        if len(body) < 40:
            raise ValueError("WAV extensible fmt chunk is truncated")
        sub = body[24:40]
        if sub[2:] != _GUID_TAIL:
            raise ValueError("WAV extensible sub-format is not PCM or IEEE float")
        tag = struct.unpack_from("<H", sub)[0]
    if tag == _PCM:
        encoding: Literal["int", "float"] = "int"
        if bits not in _INT_BITS:
            raise ValueError(f"unsupported integer WAV sample size: {bits} bits")
    elif tag == _FLOAT:
        encoding = "float"
        if bits not in _FLOAT_BITS:
            raise ValueError(f"unsupported float WAV sample size: {bits} bits")
    else:
        raise ValueError(f"unsupported WAV encoding tag 0x{tag:04x} (only PCM and IEEE float)")
    if channels < 1:
        raise ValueError("WAV file declares zero channels")
    if block_align != channels * bits // 8:
        raise ValueError(
            f"WAV block align {block_align} does not match {channels} x {bits}-bit samples"
        )
    check_rate(rate, "WAV sample rate")
    return WavFormat(rate, channels, bits, encoding)


def _decode(raw: bytes, fmt: WavFormat) -> npt.NDArray[np.float32]:
    width = fmt.bits // 8
    usable = len(raw) - len(raw) % (width * fmt.channels)
    raw = raw[:usable]
    if fmt.encoding == "float":
        x = np.frombuffer(raw, dtype="<f4" if width == 4 else "<f8").astype(np.float32)
        if x.size and not np.isfinite(x).all():
            raise ValueError("float WAV data contains NaN or infinite samples")
    elif width == 1:
        x = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 2:
        x = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    elif width == 3:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = np.where(v & 0x800000, v - (1 << 24), v)
        x = (v / float(1 << 23)).astype(np.float32)
    else:
        x = (np.frombuffer(raw, dtype="<i4") / float(1 << 31)).astype(np.float32)
    return x.reshape(-1, fmt.channels)


def read_wav(source: Source) -> tuple[npt.NDArray[np.float32], WavFormat]:
    """Read a WAV file (path, bytes or binary file object).

    Returns float32 samples shaped ``(frames, channels)`` in [-1, 1] and the format.  A
    final partial sample frame (a file cut mid-write) is dropped.
    """
    data = _read_all(source)
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a WAV file: missing RIFF/WAVE header")
    pos = 12
    fmt: WavFormat | None = None
    while pos + 8 <= len(data):
        cid, size = struct.unpack_from("<4sI", data, pos)
        pos += 8
        if cid == b"fmt ":
            fmt = _parse_fmt(data[pos : pos + size])
        elif cid == b"data":
            if fmt is None:
                raise ValueError("WAV data chunk comes before the fmt chunk")
            if size > len(data) - pos:
                # streaming writers leave 0 or 0xFFFFFFFF; anything else is truncation
                if size not in (0, 0xFFFFFFFF):
                    raise ValueError(
                        f"WAV data chunk claims {size} bytes but only {len(data) - pos} remain"
                    )
                size = len(data) - pos
            elif size == 0 and len(data) > pos:
                size = len(data) - pos
            return _decode(data[pos : pos + size], fmt), fmt
        pos += size + (size & 1)  # chunks are word aligned
    if fmt is None:
        raise ValueError("WAV file has no fmt chunk")
    raise ValueError("WAV file has no data chunk")


def read_wav_pcm16(source: Source) -> tuple[bytes, int, int]:
    """Read a WAV file as PCM16 bytes: returns ``(pcm, sample_rate, channels)``."""
    samples, fmt = read_wav(source)
    return float_to_pcm16(samples.reshape(-1)), fmt.sample_rate, fmt.channels


def _encode(x: npt.NDArray[np.float64], bits: int, encoding: str) -> bytes:
    if encoding == "float":
        return x.astype("<f4" if bits == 32 else "<f8").tobytes()
    if bits == 8:
        return (np.clip(np.rint(x * 128.0), -128, 127) + 128).astype(np.uint8).tobytes()
    if bits == 16:
        return np.clip(np.rint(x * 32768.0), -32768, 32767).astype("<i2").tobytes()
    full = float(1 << (bits - 1))
    v = np.clip(np.rint(x * full), -full, full - 1).astype(np.int64)
    if bits == 32:
        return v.astype("<i4").tobytes()
    b = (v & 0xFFFFFF).astype("<u4").view(np.uint8).reshape(-1, 4)[:, :3]
    return b.tobytes()


def write_wav(
    dest: str | os.PathLike[str] | BinaryIO | None,
    samples: npt.ArrayLike,
    sample_rate: int,
    *,
    bits: int = 16,
    encoding: Literal["int", "float"] = "int",
) -> bytes:
    """Write float samples (``(frames, channels)`` or 1-D mono, in [-1, 1]) as a WAV file.

    ``dest`` may be a path, a binary file object, or None to only get the bytes; the file
    bytes are returned in every case.  Integer output is clipped; NaN / inf raise.
    """
    rate = check_rate(sample_rate)
    allowed = _FLOAT_BITS if encoding == "float" else _INT_BITS
    if encoding not in ("int", "float") or bits not in allowed:
        raise ValueError(f"cannot write {bits}-bit {encoding} WAV (allowed: {allowed})")
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[1] < 1:
        raise ValueError(f"samples must be 1-D or (frames, channels), got shape {x.shape}")
    if x.size and not np.isfinite(x).all():
        raise ValueError("samples contain NaN or infinite values")
    channels = x.shape[1]
    payload = _encode(x.reshape(-1), bits, encoding)
    tag = _FLOAT if encoding == "float" else _PCM
    align = channels * bits // 8
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(payload)) + payload + b"\x00" * (len(payload) & 1)
    out = b"RIFF" + struct.pack("<I", len(body)) + body
    if isinstance(dest, (str, os.PathLike)):
        with open(dest, "wb") as f:
            f.write(out)
    elif dest is not None:
        dest.write(out)
    return out


def write_wav_pcm16(
    dest: str | os.PathLike[str] | BinaryIO | None, pcm: bytes, sample_rate: int, channels: int = 1
) -> bytes:
    """Write PCM16 bytes as a 16-bit WAV file (exactly: the float scale is 1/32768)."""
    samples = pcm16_to_float(pcm, channels).reshape(-1, channels)
    return write_wav(dest, samples, sample_rate, bits=16)
