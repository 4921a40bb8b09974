"""Probing a visitor's audio or video file, in a process of its own.

A file is decoded by FFmpeg (through PyAV) before its job is admitted. FFmpeg is large C
code fed untrusted bytes, so the probe runs in a short-lived child process with a memory and
CPU limit and a timeout: a file that crashes or hangs the decoder costs that child, never the
web process or another visitor.

    python -m models_registry.components.probe <audio|video> <path> <max seconds>

prints one JSON object: what was found, or {"error": ...}.
"""

import json
import resource
import subprocess
import sys
from dataclasses import dataclass

# Limits of a probe: seconds of wall time, and its memory and CPU time.
PROBE_TIMEOUT_SECONDS = 30
PROBE_MEMORY_BYTES = 2 * 1024**3
PROBE_CPU_SECONDS = 20
# Containers a visitor may send, by FFmpeg's names.
AUDIO_FORMATS = ("wav", "mp3", "ogg", "flac", "matroska", "webm", "mov", "mp4", "m4a")
VIDEO_FORMATS = ("matroska", "webm", "mov", "mp4", "avi")


class ProbeRefused(Exception):
    """The file is not what it should be; the message says why, for the visitor."""

    def __init__(self, message: str, too_large: bool = False):
        super().__init__(message)
        self.too_large = too_large


@dataclass(frozen=True)
class Found:
    duration: float
    sample_rate: int = 0
    channels: int = 0
    width: int = 0
    height: int = 0


def _stream(container, kind: str, formats: tuple[str, ...], missing: str):
    """The container's first stream of `kind`, once its format is one of `formats`."""
    if not any(name in formats for name in container.format.name.split(",")):
        raise ProbeRefused(f"{container.format.long_name} files are not accepted")
    stream = next((s for s in container.streams if s.type == kind), None)
    if stream is None:
        raise ProbeRefused(missing)
    return stream


def probe_audio(path: str, max_seconds: float) -> Found:
    """Decode the whole sound, stopping as soon as it runs past `max_seconds`."""
    import av

    with av.open(path) as container:
        stream = _stream(container, "audio", AUDIO_FORMATS, "the file has no sound")
        samples, rate = 0, stream.rate
        for frame in container.decode(stream):
            samples += frame.samples
            if samples > max_seconds * rate:
                raise ProbeRefused(f"the sound is longer than {max_seconds:g} s", too_large=True)
        if samples == 0:
            raise ProbeRefused("the file has no sound")
        return Found(duration=samples / rate, sample_rate=rate, channels=stream.channels)


def probe_video(path: str, max_seconds: float, max_pixels: int) -> Found:
    """Read the video's length and size, and decode its first picture."""
    import av

    with av.open(path) as container:
        stream = _stream(container, "video", VIDEO_FORMATS, "the file has no pictures")
        width, height = stream.codec_context.width, stream.codec_context.height
        if width * height > max_pixels:
            raise ProbeRefused(f"the video has more than {max_pixels} pixels", too_large=True)
        if container.duration is not None:
            duration = container.duration / av.time_base
        elif stream.duration is not None:
            duration = float(stream.duration * stream.time_base)
        else:
            raise ProbeRefused("the video does not say how long it is")
        if duration > max_seconds:
            raise ProbeRefused(f"the video is longer than {max_seconds:g} s", too_large=True)
        if next(container.decode(stream), None) is None:
            raise ProbeRefused("the video has no picture that can be read")
        return Found(duration=duration, width=width, height=height)


def _limit_this_process() -> None:
    """The probe's own limits, set before it touches the file."""
    resource.setrlimit(resource.RLIMIT_AS, (PROBE_MEMORY_BYTES, PROBE_MEMORY_BYTES))
    resource.setrlimit(resource.RLIMIT_CPU, (PROBE_CPU_SECONDS, PROBE_CPU_SECONDS))


def probe(kind: str, path: str, max_seconds: float, max_pixels: int = 0) -> Found:
    """Probe the file in a child process; ProbeRefused when it is not a readable `kind`."""
    command = [sys.executable, "-m", __name__, kind, path, str(max_seconds), str(max_pixels)]
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired:
        raise ProbeRefused(f"the {kind} took too long to read") from None
    try:
        answer = json.loads(done.stdout)
    except ValueError:
        raise ProbeRefused(f"the file is not {kind} that can be read") from None
    if "error" in answer:
        raise ProbeRefused(answer["error"], too_large=answer.get("too_large", False))
    return Found(**answer)


def main(kind: str, path: str, max_seconds: str, max_pixels: str) -> None:
    import av

    try:
        if kind == "audio":
            found = probe_audio(path, float(max_seconds))
        else:
            found = probe_video(path, float(max_seconds), int(max_pixels))
        print(json.dumps(found.__dict__))
    except ProbeRefused as refused:
        print(json.dumps({"error": str(refused), "too_large": refused.too_large}))
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError, IndexError):
        print(json.dumps({"error": f"the file is not {kind} that can be read"}))


if __name__ == "__main__":
    _limit_this_process()
    main(*sys.argv[1:])
