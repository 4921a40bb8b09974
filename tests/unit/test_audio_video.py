"""Sound and video inputs: decoded in a probe process before their job is admitted, within
their limits; and what functions give back, written as files."""

import io
import zlib

import av
import numpy
import pytest
from django.core.files.storage import default_storage
from PIL import Image as PILImage

from models_registry.components import Audio, InvalidInput, Video
from models_registry.components.audio_video import wav_bytes

RATE = 16000


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def tone(seconds: float, channels: int = 1):
    samples = 0.3 * numpy.sin(2 * numpy.pi * 440 * numpy.arange(int(seconds * RATE)) / RATE)
    return numpy.repeat(samples[:, None], channels, axis=1).astype(numpy.float32)


def encoded(seconds: float, container: str, codec: str) -> bytes:
    """A tone in another format (as a browser's recorder or a phone would send it)."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container) as out:
        stream = out.add_stream(codec, rate=48000, layout="mono")
        samples = numpy.repeat(tone(seconds), 3, axis=0)  # 48 kHz
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="flt", layout="mono")
        frame.rate = 48000
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buffer.getvalue()


def video(seconds: int, size=(32, 24), container="webm", codec="libvpx") -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container) as out:
        stream = out.add_stream(codec, rate=10)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        for n in range(seconds * 10):
            picture = PILImage.new("RGB", size, (n * 5 % 255, 80, 120))
            for packet in stream.encode(av.VideoFrame.from_image(picture)):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buffer.getvalue()


def refused(component, raw) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        component.clean(raw)
    return caught.value


def test_audio_in_each_format_is_decoded_and_described(media_root):
    for data, rate in (
        (wav_bytes(RATE, tone(1.5)), RATE),
        (encoded(1.5, "webm", "libopus"), 48000),
        (encoded(1.5, "ogg", "libopus"), 48000),
        (encoded(1.5, "flac", "flac"), 48000),
        (encoded(1.5, "mp3", "libmp3lame"), 48000),
    ):
        stored = Audio("Voice").clean(data)
        assert abs(stored["duration"] - 1.5) < 0.1 and stored["sample_rate"] == rate
        loaded_rate, samples = Audio("Voice").load(stored)
        assert loaded_rate == rate and samples.dtype == numpy.float32
        assert abs(len(samples) / rate - 1.5) < 0.1 and 0.2 < abs(samples).max() <= 1


@pytest.mark.parametrize(
    "data, message",
    [
        (b"RIFF\x00\x00\x00\x00WAVEfmt " + b"\x00" * 40, "not audio that can be read"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "files are not accepted"),
        (zlib.compress(b"\x00" * 1_000_000), "not audio that can be read"),
        (b"", "empty"),
    ],
)
def test_audio_that_does_not_decode_is_refused_and_not_kept(data, message, media_root):
    assert message in refused(Audio("Voice"), data).message
    assert not any(path.is_file() for path in media_root.rglob("*"))


def test_audio_limits(settings):
    settings.LINEUP_MAX_AUDIO_SECONDS = 1
    assert refused(Audio("Voice"), wav_bytes(RATE, tone(1.5))).code == "input_too_large"
    settings.LINEUP_MAX_FILE_BYTES = 1000
    assert refused(Audio("Voice"), wav_bytes(RATE, tone(0.5))).code == "input_too_large"


def test_a_video_is_not_a_sound_and_a_sound_is_not_a_video():
    assert (
        "has no sound" in refused(Audio("Voice"), video(1, container="mp4", codec="mpeg4")).message
    )
    assert "not accepted" in refused(Video("Clip"), wav_bytes(RATE, tone(1))).message


def test_video_is_probed_for_length_and_size(settings):
    stored = Video("Clip").clean(video(2))
    assert (stored["width"], stored["height"]) == (32, 24) and abs(stored["duration"] - 2) < 0.2
    assert default_storage.exists(stored["file"])
    settings.LINEUP_MAX_VIDEO_SECONDS = 1
    assert refused(Video("Clip"), video(2)).code == "input_too_large"
    settings.LINEUP_MAX_VIDEO_SECONDS = 60
    settings.LINEUP_MAX_IMAGE_PIXELS = 100
    assert refused(Video("Clip"), video(1)).code == "input_too_large"
    assert "not video" in refused(Video("Clip"), video(1)[:200]).message


def test_sound_and_video_outputs_are_written_as_files(tmp_path):
    sound = Audio("Out").dump((RATE, tone(0.5, channels=2)))
    assert sound["name"] == "sound.wav" and sound["duration"] == 0.5 and "sig=" in sound["url"]
    clip = tmp_path / "clip.webm"
    clip.write_bytes(video(1))
    shown = Video("Out").dump(str(clip))
    assert shown["name"] == "clip.webm" and shown["poster"].startswith("/media/results/")
