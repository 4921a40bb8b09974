"""Sound and moving pictures: the Audio and Video components.

In, a file is uploaded (or sent as a multipart part), kept once, and probed in a child
process (probe.py) before its job is admitted: it must decode, and stay within the duration
and size limits. Out, a function's sound is written as WAV and its video kept as it wrote
it, with a poster picture; both come back as signed links.
"""

import io
import os
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, ClassVar

from django.conf import settings
from django.core.files.storage import default_storage

from .media import FileComponent, safe_file_name, save_image, save_result
from .probe import ProbeRefused, probe

AUDIO_SUFFIXES = (".wav", ".mp3", ".ogg", ".oga", ".opus", ".flac", ".webm", ".m4a", ".mp4")
VIDEO_SUFFIXES = (".mp4", ".webm", ".mov", ".mkv", ".m4v", ".avi")


class Recording(FileComponent):
    """What Audio and Video share: a file kept, then probed, then described."""

    suffixes: ClassVar[tuple[str, ...]] = ()

    def clean(self, raw: Any) -> dict[str, Any]:
        if self.kind == "video" and isinstance(raw, dict) and isinstance(raw.get("video"), dict):
            raw = raw["video"]  # Gradio's clients send a video as {"video": FileData}
        received = self.receive(raw)
        suffix = PurePath(safe_file_name(received.name)).suffix.lower()
        if suffix and suffix not in self.suffixes:
            raise self._refuse(f"{suffix} files are not accepted")
        stored = {"file": self.keep(received, suffix)}
        try:
            found = self.probe(default_storage.path(stored["file"]))
        except ProbeRefused as refused:
            self.discard(stored)
            raise self._refuse(
                str(refused), "input_too_large" if refused.too_large else "invalid_input"
            ) from None
        return stored | {key: value for key, value in found.__dict__.items() if value}

    def probe(self, path: str):
        raise NotImplementedError


@dataclass(frozen=True)
class Audio(Recording):
    """Sound. In: an upload or a recording from the page's microphone (WAV, MP3, OGG, FLAC,
    WebM); the function gets `(sample_rate, samples)`, float32 from -1 to 1, one column per
    channel (`type="numpy"`), or the file's path (`type="filepath"`). Out: the same pair, or
    a path; written as WAV."""

    type: str = "numpy"
    kind: ClassVar[str] = "audio"
    noun: ClassVar[str] = "sound"
    example_suffix: ClassVar[str] = ".wav"
    suffixes: ClassVar[tuple[str, ...]] = AUDIO_SUFFIXES

    def probe(self, path: str):
        return probe("audio", path, settings.LINEUP_MAX_AUDIO_SECONDS)

    def load(self, stored: dict[str, Any]) -> Any:
        path = default_storage.path(stored["file"])
        return path if self.type == "filepath" else read_audio(path)

    def dump(self, value: Any) -> dict[str, Any]:
        if isinstance(value, (str, os.PathLike)):
            rate, samples = read_audio(os.fspath(value))
        else:
            rate, samples = value
        saved = save_result(wav_bytes(int(rate), samples), "sound.wav")
        return saved | {"duration": round(len(samples) / rate, 3), "sample_rate": int(rate)}


@dataclass(frozen=True)
class Video(Recording):
    """Moving pictures. In: an upload (MP4, WebM, MOV, MKV); the function gets its path.
    Out: a path to a video the function wrote, shown in a player with its first picture as
    poster."""

    kind: ClassVar[str] = "video"
    noun: ClassVar[str] = "video"
    example_suffix: ClassVar[str] = ".mp4"
    suffixes: ClassVar[tuple[str, ...]] = VIDEO_SUFFIXES

    def probe(self, path: str):
        return probe(
            "video", path, settings.LINEUP_MAX_VIDEO_SECONDS, settings.LINEUP_MAX_IMAGE_PIXELS
        )

    def load(self, stored: dict[str, Any]) -> str:
        return default_storage.path(stored["file"])

    def dump(self, value: Any) -> dict[str, Any]:
        path = os.fspath(value)
        with open(path, "rb") as handle:
            saved = save_result(handle.read(), PurePath(path).name)
        poster = first_picture(path)
        return saved | {"poster": save_image(poster)["url"] if poster else None}


def read_audio(path: str):
    """A sound file as (sample rate, float32 samples with one column per channel)."""
    import av
    import numpy

    with av.open(path) as container:
        stream = container.streams.audio[0]
        layout = "mono" if stream.channels == 1 else "stereo"
        resampler = av.AudioResampler(format="flt", layout=layout, rate=stream.rate)
        chunks = [
            resampled.to_ndarray().reshape(-1, 1 if layout == "mono" else 2)
            for frame in container.decode(stream)
            for resampled in resampler.resample(frame)
        ]
    samples = numpy.concatenate(chunks) if chunks else numpy.zeros((0, 1), numpy.float32)
    return stream.rate, samples


def wav_bytes(rate: int, samples) -> bytes:
    """Samples (float from -1 to 1, or int16; a column per channel) as a 16-bit WAV file."""
    import av
    import numpy

    samples = numpy.asarray(samples)
    if samples.ndim == 1:
        samples = samples[:, None]
    if samples.dtype.kind == "f":
        samples = (numpy.clip(samples, -1, 1) * 32767).astype(numpy.int16)
    samples = samples.astype(numpy.int16)
    layout = "mono" if samples.shape[1] == 1 else "stereo"
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="wav") as container:
        stream = container.add_stream("pcm_s16le", rate=rate, layout=layout)
        frame = av.AudioFrame.from_ndarray(
            numpy.ascontiguousarray(samples[:, :2]).reshape(1, -1), format="s16", layout=layout
        )
        frame.rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


def first_picture(path: str):
    """The first picture of a video, as a PIL image; None if it has none."""
    import av

    with av.open(path) as container:
        for frame in container.decode(video=0):
            return frame.to_image()
    return None
