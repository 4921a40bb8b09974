"""Components with structure: rendered text (Markdown, HTML), conversations, tables."""

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import nh3
from django.conf import settings
from markdown_it import MarkdownIt

from .base import Component

# Tags and attributes an output may keep besides nh3's safe defaults: none of them runs code.
EXTRA_TAGS = {"details", "summary", "figure", "figcaption", "mark", "input"}
EXTRA_ATTRIBUTES = {"input": {"type", "checked", "disabled"}, "*": {"title", "lang", "dir"}}
URL_SCHEMES = {"http", "https", "mailto"}
_markdown = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def safe_html(html: str) -> str:
    """HTML with everything that could run removed (scripts, event handlers, `javascript:`
    links, styles, frames), by nh3 (the ammonia sanitizer); links open without an opener."""
    attributes = {tag: set(names) for tag, names in nh3.ALLOWED_ATTRIBUTES.items()}
    for tag, names in EXTRA_ATTRIBUTES.items():
        attributes[tag] = attributes.get(tag, set()) | names
    return nh3.clean(
        html,
        tags=nh3.ALLOWED_TAGS | EXTRA_TAGS,
        attributes=attributes,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    )


@dataclass(frozen=True)
class Markdown(Component):
    """Markdown, rendered to safe HTML on the worker: `{"markdown": ..., "html": ...}`."""

    kind: ClassVar[str] = "markdown"
    input_ok: ClassVar[bool] = False

    def dump(self, value: Any) -> dict[str, str]:
        text = str(value)
        return {"markdown": text, "html": safe_html(_markdown.render(text))}


@dataclass(frozen=True)
class HTML(Component):
    """HTML, sanitized on the worker: `{"html": ...}`."""

    kind: ClassVar[str] = "html"
    input_ok: ClassVar[bool] = False

    def dump(self, value: Any) -> dict[str, str]:
        return {"html": safe_html(str(value))}


CHAT_ROLES = ("user", "assistant")


@dataclass(frozen=True)
class Chatbot(Component):
    """A conversation: a list of `{"role": "user" | "assistant", "content": text}`.

    As an input it is the conversation so far, kept by the page and sent with each message;
    as an output it is the conversation with the reply added. A generator that yields the
    conversation with the reply growing streams it to the page as it is written."""

    kind: ClassVar[str] = "chatbot"
    heavy_check: ClassVar[bool] = True

    def example_value(self) -> list:
        return []

    def json_schema(self) -> dict[str, Any]:
        return {
            "type": "array",
            "maxItems": settings.LINEUP_MAX_CHAT_MESSAGES,
            "items": {
                "type": "object",
                "properties": {
                    "role": {"enum": list(CHAT_ROLES)},
                    "content": {"type": "string"},
                },
                "required": ["role", "content"],
            },
        }

    def clean(self, raw: Any) -> list[dict[str, str]]:
        if not isinstance(raw, list):
            raise self._refuse('expected a conversation: a list of {"role", "content"}')
        if len(raw) > settings.LINEUP_MAX_CHAT_MESSAGES:
            raise self._refuse(
                f"at most {settings.LINEUP_MAX_CHAT_MESSAGES} messages", "input_too_large"
            )
        messages = []
        for n, message in enumerate(raw, 1):
            if not isinstance(message, dict) or message.get("role") not in CHAT_ROLES:
                raise self._refuse(f'message {n}: expected {{"role": "user" or "assistant", ...}}')
            if not isinstance(message.get("content"), str):
                raise self._refuse(f"message {n}: its content must be text")
            messages.append({"role": message["role"], "content": message["content"]})
        if sum(len(m["content"]) for m in messages) > settings.LINEUP_MAX_CHAT_CHARACTERS:
            raise self._refuse(
                f"at most {settings.LINEUP_MAX_CHAT_CHARACTERS} characters in all",
                "input_too_large",
            )
        return messages

    def dump(self, value: Any) -> list[dict[str, str]]:
        return [
            {"role": str(message["role"]), "content": str(message["content"])} for message in value
        ]


DATATYPES = ("any", "str", "number", "bool")


def _json_cell(value: Any) -> Any:
    """A table cell as JSON carries it: numbers finite or empty, NumPy scalars unwrapped."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()  # a NumPy scalar
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return str(value)


@dataclass(frozen=True)
class Dataframe(Component):
    """A table: `{"headers": [...], "data": [[...], ...]}`, one list per row.

    `headers` fixes the columns of an input (empty: any columns); `datatype` is the type of
    every column, or one per column: "str", "number", "bool", or "any" (text, numbers and
    true/false as they come). The function gets a pandas
    DataFrame (`type="pandas"`) or the value as it is (`type="rows"`), and may return either,
    or a list of rows."""

    headers: tuple[str, ...] = ()
    datatype: str | tuple[str, ...] = "any"
    type: str = "pandas"
    kind: ClassVar[str] = "dataframe"
    heavy_check: ClassVar[bool] = True

    def __post_init__(self) -> None:
        types = (self.datatype,) if isinstance(self.datatype, str) else self.datatype
        if any(t not in DATATYPES for t in types) or self.type not in ("pandas", "rows"):
            raise ValueError(f"{self.label}: datatype is one of {DATATYPES}; type pandas or rows")

    def example_value(self) -> dict[str, list]:
        headers = list(self.headers) or ["a", "b"]
        samples = {"any": "x", "str": "x", "number": 1, "bool": True}
        return {
            "headers": headers,
            "data": [[samples[self._type_of(i)] for i in range(len(headers))]],
        }

    def json_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {
                "headers": {"type": "array", "items": {"type": "string"}},
                "data": {
                    "type": "array",
                    "maxItems": settings.LINEUP_MAX_TABLE_ROWS,
                    "items": {"type": "array"},
                },
            },
            "required": ["headers", "data"],
        }

    def _type_of(self, column: int) -> str:
        if isinstance(self.datatype, str):
            return self.datatype
        return self.datatype[column] if column < len(self.datatype) else "any"

    def clean(self, raw: Any) -> dict[str, list]:
        if not isinstance(raw, dict) or not isinstance(raw.get("data"), list):
            raise self._refuse('expected a table: {"headers": [...], "data": [[...], ...]}')
        headers, rows = raw.get("headers", list(self.headers)), raw["data"]
        if not isinstance(headers, list) or not all(isinstance(h, str) for h in headers):
            raise self._refuse("the headers must be a list of names")
        if self.headers and headers != list(self.headers):
            raise self._refuse(f"the columns must be {', '.join(self.headers)}")
        if len(rows) > settings.LINEUP_MAX_TABLE_ROWS:
            raise self._refuse(f"at most {settings.LINEUP_MAX_TABLE_ROWS} rows", "input_too_large")
        if len(rows) * max(len(headers), 1) > settings.LINEUP_MAX_TABLE_CELLS:
            raise self._refuse(
                f"at most {settings.LINEUP_MAX_TABLE_CELLS} cells", "input_too_large"
            )
        cleaned = []
        for n, row in enumerate(rows, 1):
            if not isinstance(row, list) or len(row) != len(headers):
                raise self._refuse(f"row {n} must have {len(headers)} cells")
            cleaned.append([self._cell(n, i, cell) for i, cell in enumerate(row)])
        return {"headers": headers, "data": cleaned}

    def _cell(self, row: int, column: int, cell: Any) -> Any:
        datatype = self._type_of(column)
        where = f"row {row}, column {column + 1}"
        if cell is None or cell == "":
            return None
        if datatype == "number":
            if isinstance(cell, bool):
                raise self._refuse(f"{where}: expected a number")
            try:
                value = float(cell)
            except (TypeError, ValueError):
                raise self._refuse(f"{where}: expected a number") from None
            if not math.isfinite(value):
                raise self._refuse(f"{where}: expected a finite number")
            return int(value) if value.is_integer() and abs(value) < 2**53 else value
        if datatype == "bool":
            if isinstance(cell, bool):
                return cell
            if isinstance(cell, str) and cell.lower() in ("true", "false"):
                return cell.lower() == "true"
            raise self._refuse(f"{where}: expected true or false")
        if not isinstance(cell, (str, int, float)):
            raise self._refuse(f"{where}: expected text, a number or true/false")
        if datatype == "any" and not isinstance(cell, str):
            return cell
        text = str(cell)
        if len(text) > settings.LINEUP_MAX_TEXT_LENGTH:
            raise self._refuse(
                f"{where}: at most {settings.LINEUP_MAX_TEXT_LENGTH} characters",
                "input_too_large",
            )
        return text

    def load(self, stored: dict[str, list]) -> Any:
        if self.type == "rows":
            return stored
        import pandas  # only where a function asks for a DataFrame

        return pandas.DataFrame(stored["data"], columns=stored["headers"])

    def dump(self, value: Any) -> dict[str, list]:
        if hasattr(value, "columns") and hasattr(value, "itertuples"):  # a pandas DataFrame
            headers = [str(name) for name in value.columns]
            rows = [list(row) for row in value.itertuples(index=False, name=None)]
        elif isinstance(value, dict):
            headers, rows = [str(h) for h in value["headers"]], value["data"]
        else:
            rows = [list(row) for row in value]
            headers = list(self.headers) or [str(n + 1) for n in range(len(rows[0]) if rows else 0)]
        return {"headers": headers, "data": [[_json_cell(cell) for cell in row] for row in rows]}
