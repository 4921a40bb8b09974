"""Input and output components: what a demo takes and gives, and how each value travels.

A value crosses three places: the browser (JSON over the websocket or the HTTP API), the
job record in Redis (JSON, with files kept in Django's storage and referenced by name), and
the inference function (Python values: str, float, bool, PIL images, dicts).

- `clean(raw)` checks a visitor's value before admission and returns what the job stores.
- `load(stored)` turns the stored value into what the function receives (on the worker).
- `dump(value)` turns a function's output into JSON for the browser (on the worker).
"""

import base64
import binascii
import io
import json
import secrets
from dataclasses import dataclass
from typing import Any, ClassVar

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image as PILImage
from PIL import UnidentifiedImageError

from .files import result_link


class InvalidInput(ValueError):
    """A visitor's value that a component refuses; the message is shown to the visitor."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Component:
    label: str
    kind: ClassVar[str] = ""
    input_ok: ClassVar[bool] = True

    def describe(self) -> dict[str, Any]:
        """The component as the page and the API schema see it."""
        options = {k: v for k, v in self.__dict__.items() if k != "label"}
        return {"kind": self.kind, "label": self.label, **options}

    def clean(self, raw: Any) -> Any:
        return raw

    def example_value(self) -> Any:
        """A value this input accepts, for the API's examples."""
        return None

    def json_schema(self) -> dict[str, Any]:
        """The JSON Schema of the values this input accepts, for the API's schema."""
        return {}

    def load(self, stored: Any) -> Any:
        return stored

    def dump(self, value: Any) -> Any:
        return value

    def discard(self, stored: Any) -> None:
        """Forget a cleaned value whose job was never admitted."""

    def _refuse(self, message: str, code: str = "invalid_input") -> InvalidInput:
        return InvalidInput(code, f"{self.label}: {message}")


@dataclass(frozen=True)
class Text(Component):
    lines: int = 1
    placeholder: str = ""
    max_length: int | None = None
    kind: ClassVar[str] = "text"

    def example_value(self) -> str:
        return self.placeholder or "hello"

    def json_schema(self) -> dict[str, Any]:
        return {"type": "string", "maxLength": self.max_length or settings.LINEUP_MAX_TEXT_LENGTH}

    def clean(self, raw: Any) -> str:
        if not isinstance(raw, str):
            raise self._refuse("expected text")
        limit = self.max_length or settings.LINEUP_MAX_TEXT_LENGTH
        if len(raw) > limit:
            raise self._refuse(f"at most {limit} characters", "input_too_large")
        return raw

    def dump(self, value: Any) -> str:
        return str(value)


@dataclass(frozen=True)
class Number(Component):
    minimum: float | None = None
    maximum: float | None = None
    integer: bool = False
    kind: ClassVar[str] = "number"

    def example_value(self) -> float:
        return getattr(self, "default", None) or self.minimum or 0

    def json_schema(self) -> dict[str, Any]:
        bounds = {"minimum": self.minimum, "maximum": self.maximum}
        return {
            "type": "integer" if self.integer else "number",
            **{name: value for name, value in bounds.items() if value is not None},
        }

    def clean(self, raw: Any) -> float | int:
        if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
            raise self._refuse("expected a number")
        try:
            value = float(raw)
        except ValueError:
            raise self._refuse("expected a number") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise self._refuse("expected a finite number")
        if self.minimum is not None and value < self.minimum:
            raise self._refuse(f"must be at least {self.minimum:g}")
        if self.maximum is not None and value > self.maximum:
            raise self._refuse(f"must be at most {self.maximum:g}")
        if self.integer:
            if value != int(value):
                raise self._refuse("expected a whole number")
            return int(value)
        return value


@dataclass(frozen=True)
class Slider(Number):
    minimum: float = 0
    maximum: float = 100
    step: float = 1
    default: float | None = None
    kind: ClassVar[str] = "slider"


@dataclass(frozen=True)
class Checkbox(Component):
    default: bool = False
    kind: ClassVar[str] = "checkbox"

    def example_value(self) -> bool:
        return self.default

    def json_schema(self) -> dict[str, Any]:
        return {"type": "boolean"}

    def clean(self, raw: Any) -> bool:
        if not isinstance(raw, bool):
            raise self._refuse("expected true or false")
        return raw


@dataclass(frozen=True)
class Dropdown(Component):
    choices: tuple[str, ...] = ()
    default: str | None = None
    kind: ClassVar[str] = "dropdown"

    def example_value(self) -> str:
        return self.default or self.choices[0]

    def json_schema(self) -> dict[str, Any]:
        return {"type": "string", "enum": list(self.choices)}

    def clean(self, raw: Any) -> str:
        if raw not in self.choices:
            raise self._refuse(f"choose one of {', '.join(self.choices)}")
        return raw


@dataclass(frozen=True)
class Image(Component):
    """An image. In: a data URL (PNG, JPEG, GIF, WebP, BMP). Out: a URL to a stored PNG."""

    formats: tuple[str, ...] = ("PNG", "JPEG", "GIF", "WEBP", "BMP")
    kind: ClassVar[str] = "image"

    def json_schema(self) -> dict[str, Any]:
        return {
            "type": ["string", "null"],
            "description": "A data URL (data:image/png;base64,...); or null, with the file "
            "sent as the multipart part input_<n>.",
        }

    def clean(self, raw: Any) -> dict[str, str]:
        """A data URL (JSON), or the bytes of an uploaded file (the HTTP API's multipart)."""
        max_bytes = settings.LINEUP_MAX_IMAGE_BYTES
        data = raw if isinstance(raw, bytes) else self._decode_data_url(raw, max_bytes)
        if len(data) > max_bytes:
            raise self._refuse(f"the image is larger than {max_bytes} bytes", "input_too_large")
        try:
            with PILImage.open(io.BytesIO(data)) as image:
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
        name = default_storage.save(
            f"inputs/{secrets.token_urlsafe(16)}.{image_format.lower()}", ContentFile(data)
        )
        return {"file": name}

    def _decode_data_url(self, raw: Any, max_bytes: int) -> bytes:
        if not isinstance(raw, str) or not raw.startswith("data:image/") or "," not in raw:
            raise self._refuse("expected an image as a data URL (data:image/...;base64,...)")
        header, _, payload = raw.partition(",")
        if not header.endswith(";base64"):
            raise self._refuse("the image must be base64-encoded")
        if len(payload) > max_bytes * 4 // 3 + 4:
            raise self._refuse(f"the image is larger than {max_bytes} bytes", "input_too_large")
        try:
            return base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise self._refuse("the image data is not valid base64") from None

    def discard(self, stored: dict[str, str]) -> None:
        default_storage.delete(stored["file"])

    def load(self, stored: dict[str, str]) -> PILImage.Image:
        with default_storage.open(stored["file"], "rb") as handle:
            image = PILImage.open(handle)
            image.load()
        return image

    def dump(self, value: Any) -> dict[str, str]:
        if not isinstance(value, PILImage.Image):
            value = PILImage.fromarray(value)
        buffer = io.BytesIO()
        value.save(buffer, format="PNG")
        name = default_storage.save(
            f"results/{secrets.token_urlsafe(24)}.png", ContentFile(buffer.getvalue())
        )
        return {"url": result_link(name), "width": value.width, "height": value.height}


@dataclass(frozen=True)
class Label(Component):
    """A class label, with confidences when the function returns a {label: score} dict."""

    top: int = 5
    kind: ClassVar[str] = "label"
    input_ok: ClassVar[bool] = False

    def dump(self, value: Any) -> dict[str, Any]:
        if isinstance(value, dict):
            ranked = sorted(value.items(), key=lambda item: item[1], reverse=True)[: self.top]
            return {
                "label": ranked[0][0] if ranked else None,
                "confidences": [{"label": str(k), "confidence": float(v)} for k, v in ranked],
            }
        return {"label": str(value), "confidences": []}


@dataclass(frozen=True)
class JSON(Component):
    kind: ClassVar[str] = "json"

    def clean(self, raw: Any) -> Any:
        try:
            json.dumps(raw)
        except (TypeError, ValueError):
            raise self._refuse("expected a JSON value") from None
        return raw


COMPONENT_KINDS: dict[str, type[Component]] = {
    cls.kind: cls for cls in (Text, Number, Slider, Checkbox, Dropdown, Image, Label, JSON)
}
