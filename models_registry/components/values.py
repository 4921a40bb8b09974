"""Components whose values are plain JSON: text, numbers, choices, colours, labels."""

import json
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from django.conf import settings

from .base import Component


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


@dataclass(frozen=True)
class Radio(Dropdown):
    """One of a few choices, all shown at once."""

    kind: ClassVar[str] = "radio"


@dataclass(frozen=True)
class CheckboxGroup(Component):
    """Any of a few choices: a list of the chosen ones, in the order of the choices."""

    choices: tuple[str, ...] = ()
    default: tuple[str, ...] = ()
    kind: ClassVar[str] = "checkbox_group"

    def example_value(self) -> list[str]:
        return list(self.default or self.choices[:1])

    def json_schema(self) -> dict[str, Any]:
        return {"type": "array", "items": {"enum": list(self.choices)}, "uniqueItems": True}

    def clean(self, raw: Any) -> list[str]:
        if not isinstance(raw, list):
            raise self._refuse("expected a list of choices")
        unknown = [value for value in raw if value not in self.choices]
        if unknown:
            raise self._refuse(f"choose among {', '.join(self.choices)}")
        return [choice for choice in self.choices if choice in raw]


HEX_COLOUR = re.compile(r"#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})")


@dataclass(frozen=True)
class ColorPicker(Component):
    """A colour as `#rrggbb` (`#rgb` is accepted and written out in full)."""

    default: str = "#000000"
    kind: ClassVar[str] = "color"

    def example_value(self) -> str:
        return self.default

    def json_schema(self) -> dict[str, Any]:
        return {"type": "string", "pattern": "^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$"}

    def clean(self, raw: Any) -> str:
        if not isinstance(raw, str) or not HEX_COLOUR.fullmatch(raw):
            raise self._refuse("expected a colour as #rrggbb")
        digits = raw[1:].lower()
        return "#" + (digits if len(digits) == 6 else "".join(d * 2 for d in digits))

    def dump(self, value: Any) -> str:
        return self.clean(value)
