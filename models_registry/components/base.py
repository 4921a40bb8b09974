"""What every component is: how a value is checked, stored, loaded and given back."""

from dataclasses import dataclass
from typing import Any, ClassVar


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
    output_ok: ClassVar[bool] = True
    # Whether its values are files, uploaded first and named by the path clients were given.
    holds_files: ClassVar[bool] = False
    # Whether checking a value is work for a thread (decoding a file, reading a large table).
    heavy_check: ClassVar[bool] = False

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
