"""Components whose values are files: images, files, galleries.

A file reaches a job in one of three ways: uploaded first over HTTP (the demo's upload
route) and named by the signed path it returned, `{"path": ...}` (the page and Gradio's
clients do this, so large files never ride inside a websocket frame); as a part of the HTTP
API's multipart body; or, for a small image, as a data URL. Either way it is checked before
the job is admitted and kept once in Django's storage: an upload stays where it is, anything
else is written to `inputs/`. Outputs are written to `results/` and given back as signed,
expiring links.
"""

import base64
import binascii
import io
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, ClassVar

import puremagic
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image as PILImage
from PIL import UnidentifiedImageError

from ..files import UPLOADS, result_link, signed_name
from .base import Component

# Files whose content has no signature to sniff; they must at least be text.
TEXT_SUFFIXES = (".txt", ".csv", ".tsv", ".json", ".md", ".jsonl", ".xml", ".yaml", ".yml")
SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def safe_file_name(name: str, default: str = "file") -> str:
    """A file's own name, reduced to characters that are safe in a path and a URL."""
    base = SAFE_NAME.sub("_", PurePath(name.replace("\\", "/")).name).strip("._")
    return base[:100] or default


@dataclass(frozen=True)
class Received:
    """A file a visitor sent: its bytes, the name it had, and the upload it came from."""

    data: bytes
    name: str
    upload: str | None = None


class FileComponent(Component):
    """What file components share: reading what was sent, storing it once, writing results."""

    holds_files: ClassVar[bool] = True
    heavy_check: ClassVar[bool] = True
    noun: ClassVar[str] = "file"

    def max_bytes(self) -> int:
        return settings.LINEUP_MAX_FILE_BYTES

    def receive(self, raw: Any) -> Received:
        """The file a value names: uploaded bytes, or an upload's signed path."""
        limit = self.max_bytes()
        if isinstance(raw, bytes):
            received = Received(raw, "")
        elif isinstance(raw, dict) and isinstance(raw.get("path"), str):
            name = signed_name(raw["path"])
            if name is None or not name.startswith(UPLOADS) or not default_storage.exists(name):
                raise self._refuse(
                    "upload the file to the demo's upload route first, and send the path it "
                    "returned (the path may have expired)."
                )
            if default_storage.size(name) > limit:
                raise self._refuse(
                    f"the {self.noun} is larger than {limit} bytes", "input_too_large"
                )
            with default_storage.open(name, "rb") as handle:
                data = handle.read()
            original = raw.get("orig_name") if isinstance(raw.get("orig_name"), str) else name
            received = Received(data, original, upload=name)
        else:
            received = self.receive_other(raw)
        if len(received.data) > limit:
            raise self._refuse(f"the {self.noun} is larger than {limit} bytes", "input_too_large")
        if not received.data:
            raise self._refuse(f"the {self.noun} is empty")
        return received

    def example_file_name(self) -> str:
        """A name for the file in the API's examples."""
        return f"your-{self.noun}{getattr(self, 'example_suffix', '')}"

    def receive_other(self, raw: Any) -> Received:
        raise self._refuse('expected a file: {"path": <the path the upload route returned>}')

    def keep(self, received: Received, suffix: str) -> str:
        """Where the checked file is kept for its job: the upload itself, or a new input."""
        if received.upload:
            return received.upload
        return default_storage.save(
            f"inputs/{secrets.token_urlsafe(16)}{suffix}", ContentFile(received.data)
        )

    def discard(self, stored: dict[str, Any]) -> None:
        if stored["file"].startswith("inputs/"):  # an upload may be named again
            default_storage.delete(stored["file"])

    def json_schema(self) -> dict[str, Any]:
        return {
            "type": ["object", "null"],
            "properties": {"path": {"type": "string"}, "orig_name": {"type": "string"}},
            "required": ["path"],
            "description": "A file uploaded to the demo's upload route, named by the path it "
            "returned; or null, with the file sent as the multipart part input_<n>.",
        }


def save_result(data: bytes, name: str) -> dict[str, Any]:
    """Keep a produced file in `results/` and describe it for the browser."""
    stored = default_storage.save(
        f"results/{secrets.token_urlsafe(24)}/{safe_file_name(name)}", ContentFile(data)
    )
    return {"url": result_link(stored), "name": PurePath(stored).name, "size": len(data)}


def as_pil_image(value: Any) -> PILImage.Image:
    if isinstance(value, PILImage.Image):
        return value
    return PILImage.fromarray(value)


def save_image(value: Any) -> dict[str, Any]:
    image = as_pil_image(value)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    saved = save_result(buffer.getvalue(), "image.png")
    return {"url": saved["url"], "width": image.width, "height": image.height}


@dataclass(frozen=True)
class Image(FileComponent):
    """An image. In: an upload, a multipart part or a data URL (PNG, JPEG, GIF, WebP, BMP).
    Out: a link to a stored PNG."""

    formats: tuple[str, ...] = ("PNG", "JPEG", "GIF", "WEBP", "BMP")
    kind: ClassVar[str] = "image"
    noun: ClassVar[str] = "image"
    example_suffix: ClassVar[str] = ".png"

    def max_bytes(self) -> int:
        return settings.LINEUP_MAX_IMAGE_BYTES

    def json_schema(self) -> dict[str, Any]:
        schema = super().json_schema()
        return {
            "anyOf": [
                {"type": "string", "description": "A data URL (data:image/png;base64,...)."},
                {key: value for key, value in schema.items() if key != "description"},
            ],
            "description": "A data URL; a file uploaded to the demo's upload route, named by "
            "its path; or null, with the file sent as the multipart part input_<n>.",
        }

    def receive_other(self, raw: Any):
        if not isinstance(raw, str) or not raw.startswith("data:image/") or "," not in raw:
            raise self._refuse("expected an image as a data URL (data:image/...;base64,...)")
        header, _, payload = raw.partition(",")
        if not header.endswith(";base64"):
            raise self._refuse("the image must be base64-encoded")
        limit = self.max_bytes()
        if len(payload) > limit * 4 // 3 + 4:
            raise self._refuse(f"the image is larger than {limit} bytes", "input_too_large")
        try:
            return Received(base64.b64decode(payload, validate=True), "")
        except (binascii.Error, ValueError):
            raise self._refuse("the image data is not valid base64") from None

    def clean(self, raw: Any) -> dict[str, str]:
        received = self.receive(raw)
        try:
            with PILImage.open(io.BytesIO(received.data)) as image:
                image_format = image.format
                width, height = image.size
                image.verify()
        except (
            UnidentifiedImageError,
            OSError,
            SyntaxError,
            ValueError,
            PILImage.DecompressionBombError,
        ):
            raise self._refuse("the file is not an image that can be read") from None
        if image_format not in self.formats:
            raise self._refuse(f"{image_format} images are not accepted")
        if width * height > settings.LINEUP_MAX_IMAGE_PIXELS:
            raise self._refuse(
                f"the image has more than {settings.LINEUP_MAX_IMAGE_PIXELS} pixels",
                "input_too_large",
            )
        return {"file": self.keep(received, f".{image_format.lower()}")}

    def load(self, stored: dict[str, str]) -> PILImage.Image:
        with default_storage.open(stored["file"], "rb") as handle:
            image = PILImage.open(handle)
            image.load()
        return image

    def dump(self, value: Any) -> dict[str, Any]:
        return save_image(value)


@dataclass(frozen=True)
class File(FileComponent):
    """Any file. In: an upload (or a multipart part), optionally limited to some types by its
    name and its sniffed content; the function gets its path. Out: a path the function wrote,
    or `(name, bytes)`, given back as a download."""

    types: tuple[str, ...] = ()  # allowed suffixes, such as ".csv"; empty: any
    kind: ClassVar[str] = "file"

    @property
    def example_suffix(self) -> str:
        return self.types[0] if self.types else ".txt"

    def clean(self, raw: Any) -> dict[str, Any]:
        received = self.receive(raw)
        name = safe_file_name(received.name)
        suffix = PurePath(name).suffix.lower()
        if self.types:
            allowed = [t.lower() for t in self.types]
            if suffix not in allowed:
                raise self._refuse(f"only {', '.join(allowed)} files are accepted")
            self._check_content(received.data, suffix)
        return {"file": self.keep(received, suffix), "name": name, "size": len(received.data)}

    def _check_content(self, data: bytes, suffix: str) -> None:
        """The content must be what the name says: a file whose signature is known must
        match its suffix; a text type must be text."""
        try:
            found = {match.extension.lower() for match in puremagic.magic_string(data)}
        except puremagic.PureError:
            found = set()
        if suffix in TEXT_SUFFIXES:
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                raise self._refuse(f"the file is not {suffix} text (it is not UTF-8)") from None
        elif found and suffix not in found:
            raise self._refuse(f"the file's content is not {suffix}")

    def load(self, stored: dict[str, Any]) -> str:
        return default_storage.path(stored["file"])

    def dump(self, value: Any) -> dict[str, Any]:
        if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], bytes):
            name, data = value
            return save_result(data, str(name))
        if isinstance(value, (str, os.PathLike)):
            with open(value, "rb") as handle:
                return save_result(handle.read(), os.fspath(value))
        raise TypeError("a File output is a path, or a (name, bytes) pair")


@dataclass(frozen=True)
class Gallery(Component):
    """Images shown as a grid, each with an optional caption. The function returns a list of
    images, or of (image, caption) pairs."""

    columns: int = 3
    kind: ClassVar[str] = "gallery"
    input_ok: ClassVar[bool] = False

    def dump(self, value: Any) -> list[dict[str, Any]]:
        shown = []
        for item in value:
            image, caption = item if isinstance(item, tuple) else (item, None)
            shown.append(
                {**save_image(image), "caption": None if caption is None else str(caption)}
            )
        return shown
